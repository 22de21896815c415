"""Doubling a trained model's codebook resolution: finer codes at the top of the scale.

At the finest quality the nearest of 256 codes a coordinate stops about 2 dB
below what the transforms reach unquantized (docs/training.md), while at middle
rates rate control already picks codes several steps from the nearest: the
codebooks are too coarse only where files are large. Each sorted 1-D codebook
gains the midpoint of every pair of neighbouring codes (and one code half a
step beyond its last), so every old code keeps its value, every old file's
choices remain available, and the decoder sees only latents between those it
was trained on. The prior's contexts measure distances in units of 256 codes
(``prior.context_unit``), so a doubled codebook's contexts mean what they did.
A codebook round (``--finetune-network --move-codebooks``) then spreads the new
codes where latents fall.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .model import VQVAE


@torch.no_grad()
def densify(net: VQVAE) -> VQVAE:
    """A copy of ``net`` (1-D codebooks, sorted) with twice as many codes per codebook."""
    cfg, q = net.cfg, net.quantizer
    if cfg.sub_dim != 1:
        raise ValueError("only 1-D codebooks can be densified")
    if cfg.codebook_size < 2:
        raise ValueError("a codebook needs two codes to be densified")
    codes = q.codebooks.data[:, :, 0]  # (M, K), sorted
    if bool((codes[:, 1:] < codes[:, :-1]).any()):
        raise ValueError("the codebooks are not sorted")
    beyond = codes[:, -1:] + (codes[:, -1:] - codes[:, -2:-1]) / 2
    between = torch.cat([(codes[:, :-1] + codes[:, 1:]) / 2, beyond], 1)
    finer = torch.stack([codes, between], 2).reshape(codes.shape[0], -1)  # old code 2i, midpoint 2i + 1

    dense = VQVAE(replace(cfg, codebook_size=2 * cfg.codebook_size)).to(codes.device)
    state = {name: value for name, value in net.state_dict().items() if name != "quantizer.codebooks"}
    state["quantizer.codebooks"] = finer[:, :, None].contiguous()
    dense.load_state_dict(state)
    dense.quantizer.usage.copy_(q.usage.repeat_interleave(2, dim=1) / 2)
    return dense.eval()
