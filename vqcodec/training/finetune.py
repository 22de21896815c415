"""Fine-tuning on the codes files really hold.

Training chooses codes with a context-free estimate of their cost; files are
coded with the exported prior's context tables, at 101 quality levels. So once
a model is exported, it is tuned on exactly those codes. By default only the
decoder moves: the encoder, the codebooks and the prior stay fixed (every image
keeps the codes it had, and the prior stays exact), and the decoder learns the
codes' real statistics, decoding them as files do, to the reconstruction values
of each image's quality (:mod:`centroids`), which the round keeps. CompressAI's published figures put the gain of
training on hard quantization near 5% of rate. With ``encoder=True`` the
encoder moves too (straight-through gradients and the commitment loss toward
the codes rate control picks under the file prior), so it learns latents that
are cheap under the contexts files use. With ``codebooks=True`` the codebooks
move as well: each code to the running mean of the latents rate control gives
it (EMA codebooks, van den Oord et al. 2017's appendix; the centroid step of
entropy-constrained VQ under the prices files pay, where training's were
context-free). A gradient step at fine-tuning's rate moves a code about its
learning rate per step, a few thousandths over a round, where the outer codes
sit 0.01-0.1 apart; the mean gets there whatever the spacing. Indices keep their meaning (1-D
codebooks stay sorted), so the prior's tables still index the same codes, but
after either its counts go stale, and so do the reconstruction values (such a
round learns on the codebooks and exports without them): re-measure the prior
(``remeasure_prior``, which measures the values too) before shipping.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import correction
from .data import CropSampler
from .model import VQVAE
from ..rate import bit_weight, choose_codes, from_codes, per_codebook
from ..runtime import TorchTransforms
from ..weights import CodecModel, save_model

#: Peak learning rate of a round: small, since the model starts trained.
FINETUNE_LR = 5e-5
#: Peak learning rate of layers a round adds (``grow``): training's, since they start untrained.
FRESH_LR = 3e-4
#: Decay of the running means the codebooks follow, per step (a memory of about 100 batches).
CODEBOOK_DECAY = 0.99
#: How many latents' weight (per batch) a code's current value keeps against its running mean:
#: a code rate control seldom picks moves slowly instead of jumping to its last few latents.
CODEBOOK_PRIOR = 1.0


def grow(model: CodecModel, decoder: int = 0, encoder: int = 0, modulate: bool = False) -> list[torch.nn.Parameter]:
    """Give ``model``'s decoder ``decoder`` and its encoder ``encoder`` more residual blocks at
    H/8, each starting as the identity (its last convolution zero), and with ``modulate`` its
    decoder a modulation by the rate (``model.RateModulation``, one per table set of its prior,
    starting as the identity), so the grown model codes exactly as before; returns the new
    parameters (fresh layers want a larger learning rate than the rest). ``model.fingerprint``
    names the old model until the grown one is exported."""
    old = model.net
    if modulate and old.cfg.rate_sets:
        raise ValueError("this decoder is modulated by the rate already")
    cfg = replace(old.cfg, decoder_blocks=old.cfg.decoder_blocks + decoder,
                  encoder_blocks=old.cfg.encoder_blocks + encoder,
                  rate_sets=model.prior.num_sets if modulate else old.cfg.rate_sets)
    net = VQVAE(cfg).to(model.device)
    missing, unexpected = net.load_state_dict(old.state_dict(), strict=False)
    if unexpected or any(not k.startswith(("decoder.extra.", "encoder.extra.", "decoder.modulation.")) for k in missing):
        raise ValueError(f"cannot grow this model: {missing} {unexpected}")
    fresh = [*list(net.decoder.extra or [])[old.cfg.decoder_blocks:],
             *list(net.encoder.extra or [])[old.cfg.encoder_blocks:]]
    for block in fresh:
        torch.nn.init.zeros_(block.body[-1].weight)
        torch.nn.init.zeros_(block.body[-1].bias)
    model.cfg, model.transforms = cfg, TorchTransforms(net.eval(), model.device)
    added = set(missing)
    return [p for k, p in net.named_parameters() if k in added]


def narrow(model: CodecModel, quarter: int, half: int, images: list[np.ndarray], seed: int = 0,
           crops: int = 32, crop: int = 128) -> None:
    """Give ``model``'s decoder ``quarter`` channels at H/4 and ``half`` at H/2 (nearly three
    quarters of its multiply-accumulates sit in the two convolutions that feed those stages):
    each stage keeps the channels that carry the most into the convolution reading it (their mean
    power on ``crops`` crops of ``crop`` x ``crop`` pixels of ``images``, coded at random
    qualities as files are, times the squared weights that read them); the rest of the network
    is unchanged. The narrowed decoder decodes worse until fine-tuned: 128/64 -> 96/48 (38.3 ->
    26.6 kMAC a pixel) lost 0.5-6.4 dB before and was within 0.01 dB of the shipped decoder after
    2000 steps (docs/training.md). ``model.fingerprint`` names the old model until the narrowed
    one is exported."""
    old = model.net
    was = old.cfg.decoder_widths
    if not (0 < quarter <= was[0] and 0 < half <= was[1]):
        raise ValueError(f"cannot narrow a decoder of {was[0]}/{was[1]} channels to {quarter}/{half}")
    dec, last = old.decoder, old.cfg.decoder_blocks + old.cfg.res_blocks
    layers = dec.layers()  # ... then the convolution to H/4's channels, depth-to-space, GDN, and so on
    up4, gdn4, up2, gdn2, out = (layers[last + i] for i in (2, 4, 5, 7, 8))
    rng = np.random.default_rng(seed)
    sampler = CropSampler(images, crop, seed)
    power4, power2 = torch.zeros(was[0]), torch.zeros(was[1])
    with torch.no_grad():
        for _ in range(max(1, crops // 8)):
            x = sampler.batch(8).to(model.device)
            qualities = rng.integers(0, model.num_qualities, x.shape[0])
            z = _decoded(model, _codes(model, old.encoder(x), qualities), qualities).float()
            sets = torch.from_numpy(model.prior.table_of_quality[qualities]).to(x.device)
            for i, layer in enumerate(layers[:last + 8]):
                z = dec.modulate(i, layer(z), sets)
                if layer is gdn4:
                    power4 += (z ** 2).mean((0, 2, 3)).cpu()
                elif layer is gdn2:
                    power2 += (z ** 2).mean((0, 2, 3)).cpu()
    keep4 = torch.sort(torch.argsort(power4 * (up2.weight.detach().cpu() ** 2).sum((0, 2, 3)), descending=True)[:quarter]).values
    keep2 = torch.sort(torch.argsort(power2 * (out.weight.detach().cpu() ** 2).sum((0, 2, 3)), descending=True)[:half]).values

    def shuffled(keep: torch.Tensor) -> torch.Tensor:  # depth-to-space makes channel k of 4k .. 4k + 3
        return (4 * keep[:, None] + torch.arange(4)[None]).reshape(-1)

    names = {id(module): name for name, module in old.named_modules()}
    state = old.state_dict()
    for module, rows, cols in ((up4, shuffled(keep4), None), (up2, shuffled(keep2), keep4), (out, None, keep2)):
        for kind in ("weight", "bias"):
            key, value = f"{names[id(module)]}.{kind}", getattr(module, kind).detach()
            value = value if rows is None else value[rows.to(value.device)]
            state[key] = value if cols is None or kind == "bias" else value[:, cols.to(value.device)]
    for module, keep in ((gdn4, keep4), (gdn2, keep2)):
        keep = keep.to(module.beta.device)
        state[f"{names[id(module)]}.beta"] = module.beta.detach()[keep]
        state[f"{names[id(module)]}.gamma"] = module.gamma.detach()[keep][:, keep]
    for index, keep in ((last + 2, keep4), (last + 5, keep2)):
        if dec.modulation_at(index) is not None:
            prefix = f"decoder.modulation.{dec.modulated[index]}"
            for kind in ("scale", "shift"):
                state[f"{prefix}.{kind}"] = state[f"{prefix}.{kind}"][:, shuffled(keep).to(state[f"{prefix}.{kind}"].device)]
    net = VQVAE(replace(old.cfg, up_channels=(quarter, half))).to(model.device)
    net.load_state_dict(state)
    model.cfg, model.transforms = net.cfg, TorchTransforms(net.eval(), model.device)


class _CodebookMeans:
    """Running sums and counts of the latents given to each code; the codebooks follow their means."""

    def __init__(self, codebooks: torch.Tensor) -> None:
        self.codebooks = codebooks  # (M, K, d), updated in place
        m, k, d = codebooks.shape
        self.count = torch.zeros(m * k, device=codebooks.device)
        self.total = torch.zeros(m * k, d, device=codebooks.device)

    @torch.no_grad()
    def update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        """Fold in latents ``z`` (B, D, h, w) coded as ``indices`` (B, M, h, w) and move the codes."""
        m, k, d = self.codebooks.shape
        flat = (indices + k * torch.arange(m, device=z.device)[None, :, None, None]).permute(1, 0, 2, 3).reshape(-1)
        vals = z.reshape(z.shape[0], m, d, *z.shape[2:]).permute(1, 0, 3, 4, 2).reshape(-1, d)
        self.count.mul_(CODEBOOK_DECAY).add_(torch.bincount(flat, minlength=m * k).float(), alpha=1 - CODEBOOK_DECAY)
        self.total.mul_(CODEBOOK_DECAY).add_(torch.zeros_like(self.total).index_add_(0, flat, vals),
                                             alpha=1 - CODEBOOK_DECAY)
        flat_cb = self.codebooks.view(m * k, d)
        flat_cb.copy_((self.total + CODEBOOK_PRIOR * flat_cb) / (self.count + CODEBOOK_PRIOR)[:, None])
        if d == 1:  # rate control's search needs index order = value order: keep the statistics with their codes
            order = self.codebooks[:, :, 0].argsort(1)
            self.codebooks.copy_(self.codebooks.gather(1, order[:, :, None]))
            base = (order + k * torch.arange(m, device=order.device)[:, None]).reshape(-1)
            self.count.copy_(self.count[base])
            self.total.copy_(self.total[base])


def _codes(model: CodecModel, z: torch.Tensor, qualities: np.ndarray) -> torch.Tensor:
    """Indices (B, M, h, w) of latents (B, D, h, w), each image at its own quality, as the encoder picks them
    (with the codebooks as they are now: they may be moving)."""
    codebooks = model.net.quantizer.codebooks.detach().cpu().double().numpy()
    out = []
    for zb, q in zip(z.cpu().numpy(), qualities, strict=True):
        out.append(choose_codes(per_codebook(zb, model.cfg.sub_dim), codebooks, model.prior, int(q), model.lambdas[int(q)]))
    return torch.from_numpy(np.stack(out).astype(np.int64)).to(z.device)


def _decoded(model: CodecModel, chosen: torch.Tensor, qualities: np.ndarray) -> torch.Tensor:
    """The latents (B, D, h, w) files decode indices (B, M, h, w) to, each image at its own quality."""
    out = [from_codes(i, model.decoded_codes(int(q))) for i, q in zip(chosen.cpu().numpy(), qualities, strict=True)]
    return torch.from_numpy(np.stack(out)).to(chosen.device)


def _corrections(model: CodecModel, z: torch.Tensor, chosen: torch.Tensor, qualities: np.ndarray,
                 size: tuple[int, int]) -> torch.Tensor:
    """The colour correction (B, 3, H, W), in [0, 1] units, the encoder would code for each image of a
    batch (latents ``z``, indices ``chosen``), estimated through the decoder's linear path as it is now."""
    means = correction.block_means(model.net.decoder.block.weight.detach().cpu().double().numpy()[:, :, 0, 0])
    height, width = size
    out = []
    for zb, ib, q in zip(z.cpu().double().numpy(), chosen.cpu().numpy(), qualities, strict=True):
        fix = correction.choose(ib, model.decoded_codes(int(q)), zb, means, width, height,
                                bit_weight(model.lambdas[int(q)]))
        out.append(correction.offsets(fix, slice(0, height), slice(0, width), width, height) / np.float32(255.0)
                   if fix.active else np.zeros((correction.CHANNELS, height, width), np.float32))
    return torch.from_numpy(np.stack(out)).to(z.device)


def finetune(model: CodecModel, images: list[np.ndarray], out_dir: str | os.PathLike, steps: int,
             extra: dict, batch_size: int = 16, crop: int = 128, lr: float = FINETUNE_LR, seed: int = 0,
             encoder: bool = False, codebooks: bool = False, grow_decoder: int = 0, grow_encoder: int = 0,
             modulate: bool = False, synthetic: float = 0.0, correct: bool = False,
             beta: float = 0.25, save_minutes: float = 5.0, narrow_to: tuple[int, int] | None = None,
             log: Callable[[str], None] = print) -> bytes:
    """Tune ``model``'s decoder (and with ``encoder`` its encoder, with ``codebooks`` its
    codebooks) for ``steps`` steps on crops of ``images`` (a share ``synthetic`` of them text
    or gradients instead), after growing the decoder by ``grow_decoder`` blocks and the encoder
    by ``grow_encoder`` (which then learns: it needs ``encoder``) and with ``modulate`` giving the
    decoder a modulation by the rate, and with ``correct`` the colour correction files would carry
    added to the decoder's output before the loss (so the decoder learns what the correction
    leaves), and with ``narrow_to`` its decoder first narrowed (:func:`narrow`), exporting the
    model (same prior and rate control) to ``out_dir`` every few minutes and at the end."""
    if grow_encoder and not encoder:
        raise ValueError("an encoder grows only when it learns (encoder=True)")
    if correct and model.net.decoder.block is None:
        raise ValueError("the colour correction needs a decoder with the linear block path")
    if narrow_to is not None:
        narrow(model, *narrow_to, images, seed, crop=crop)
    fresh = grow(model, grow_decoder, grow_encoder, modulate) if grow_decoder or grow_encoder or modulate else []
    net = model.net
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    sampler = CropSampler(images, crop, seed, synthetic)
    tuned = [net.decoder, net.encoder] if encoder else [net.decoder]
    params = [p for part in tuned for p in part.parameters()]
    if codebooks and not encoder:
        raise ValueError("codebooks move only with the encoder (a decoder-only round keeps every code)")
    means = _CodebookMeans(net.quantizer.codebooks.data) if codebooks else None
    new = {id(p) for p in fresh}
    groups = [{"params": [p for p in params if id(p) not in new], "lr": lr, "peak": lr}]
    if fresh:
        groups.append({"params": fresh, "lr": FRESH_LR, "peak": FRESH_LR})
    opt = torch.optim.Adam(groups)
    net.eval()  # the quantizer (and without ``encoder`` the encoder) stays as exported
    for part in tuned:
        part.train()
    seconds, last_save = 0.0, time.monotonic()

    earlier = extra.get("decoder_finetune", [])  # a model fine-tuned before keeps its record of each round
    earlier = [earlier] if isinstance(earlier, dict) else list(earlier)

    def export(step: int) -> bytes:
        info = {**extra, "decoder_finetune": [*earlier, {"steps": step, "cpu_minutes": round(seconds / 60, 1),
                                                          "batch_size": batch_size, "crop": crop, "lr": lr,
                                                          "seed": seed, "encoder": encoder,
                                                          "codebooks": codebooks, "grown_blocks": grow_decoder,
                                                          **({"modulated": True} if modulate else {}),
                                                          **({"narrowed_to": list(narrow_to)} if narrow_to else {}),
                                                          **({"grown_encoder_blocks": grow_encoder} if grow_encoder else {}),
                                                          **({"synthetic": synthetic} if synthetic else {}),
                                                          **({"corrected": True} if correct else {})}]}
        net.eval()
        fp = save_model(out_dir, net, model.prior, model.lambdas, None if encoder else model.reconstruction, extra=info)
        for part in tuned:
            part.train()
        return fp

    bar = tqdm(range(steps), desc="finetune", dynamic_ncols=True)
    for step in bar:
        t0 = time.monotonic()
        x = sampler.batch(batch_size).to(model.device)
        with torch.set_grad_enabled(encoder):
            z = net.encoder(x)
        qualities = rng.integers(0, model.num_qualities, x.shape[0])
        chosen = _codes(model, z.detach(), qualities)
        if means is not None:
            means.update(z.detach(), chosen)  # then the decoder sees the codes as they now are
        with torch.no_grad():
            codes = net.quantizer.lookup(chosen) if encoder else _decoded(model, chosen, qualities)
        for group in opt.param_groups:  # cosine decay to 10%
            group["lr"] = group["peak"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        table_sets = torch.from_numpy(model.prior.table_of_quality[qualities]).to(x.device)
        x_hat = net.decoder(z + (codes - z).detach(), table_sets)
        if correct:
            x_hat = x_hat + _corrections(model, z.detach(), chosen, qualities, x.shape[2:])
        mse = F.mse_loss(x_hat, x)  # straight through to the encoder
        loss = mse + beta * F.mse_loss(z, codes) if encoder else mse  # commitment: toward the codes files hold
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        seconds += time.monotonic() - t0
        bar.set_postfix(psnr=f"{10 * math.log10(1 / max(mse.item(), 1e-10)):.2f}")
        if time.monotonic() - last_save > 60 * save_minutes:
            export(step + 1)
            last_save = time.monotonic()
    bar.close()
    fp = export(steps)
    what = "encoder and decoder (re-measure the prior next)" if encoder else "decoder"
    log(f"exported model {fp.hex()} with a fine-tuned {what} to {Path(out_dir)}")
    return fp
