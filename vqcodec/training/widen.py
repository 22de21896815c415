"""Widening a trained model's latent: more coefficients per 8x8 block, a higher ceiling.

Without quantization the shipped transforms reach 40.6 dB on Kodak, where a
block PCA keeping 96 of 192 coefficients reaches 50 dB: the 64-channel latent,
not the codes, caps quality at high rates and on text. A model is widened
without losing its training: every layer keeps its weights, and the new
channels start as a linear block path, like a fresh model's first 64: the
decoder's block synthesis gains the principal components of what the model
fails to reconstruct (its residual's 8x8 blocks), and the encoder's block
analysis gains the linear map of the pixels that best predicts the residual's
coefficients on them (least squares). The nonlinear layers' new weights start
at zero. So the widened model decodes its old channels as before and adds, in
the new ones, the part of the residual a linear path can carry. Each new
channel gets a 1-D codebook by k-means of its latents, sorted as the others.
Fine-tuning rounds then teach the nonlinear paths to use the new channels.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from .model import VQVAE
from .quantizer import kmeans


def _blocks(images: Tensor) -> Tensor:
    """The 8x8 blocks (N, 192) of images (B, 3, H, W), in the order the block paths use."""
    return nn.functional.pixel_unshuffle(images, 8).permute(0, 2, 3, 1).reshape(-1, 3 * 64).double()


@torch.no_grad()
def widen(net: VQVAE, latent_dim: int, crops: Tensor, seed: int = 0) -> VQVAE:
    """A copy of ``net`` (with a block transform) whose latent has ``latent_dim`` channels,
    its new channels set up from the residual of ``net`` on ``crops`` (B, 3, H, W) in [0, 1]."""
    cfg = net.cfg
    old, new = cfg.latent_dim, latent_dim - cfg.latent_dim
    if new <= 0:
        raise ValueError(f"a model of {old} latent channels cannot be widened to {latent_dim}")
    if net.encoder.block is None:
        raise ValueError("only a model with a block transform can be widened")
    if latent_dim % cfg.sub_dim:
        raise ValueError(f"{latent_dim} channels is not a multiple of the sub-vector size {cfg.sub_dim}")
    net.eval()
    residual = _blocks(crops - net.decoder(net.encoder(crops)))
    _, vectors = torch.linalg.eigh(torch.cov(residual.t()))  # ascending eigenvalues
    synthesis = vectors[:, -new:].flip(1)  # (192, new): the residual's principal components
    pixels = _blocks(crops - 0.5)
    pixels = torch.cat([pixels, torch.ones(len(pixels), 1, dtype=pixels.dtype)], 1)
    analysis = torch.linalg.lstsq(pixels, residual @ synthesis).solution  # (193, new), last row the bias

    wide = VQVAE(replace(cfg, latent_dim=latent_dim)).to(crops.device)
    state = wide.state_dict()
    for name, value in net.state_dict().items():  # old weights in place, new slices zero
        target = state[name]
        if target.shape != value.shape:
            target.zero_()
        target[tuple(slice(0, s) for s in value.shape)] = value
    wide.load_state_dict(state)
    wide.encoder.block.weight[old:, :, 0, 0] = analysis[:-1].t().float()
    wide.encoder.block.bias[old:] = analysis[-1].float()
    wide.decoder.block.weight[:, old:, 0, 0] = synthesis.float()

    q, first = wide.quantizer, old // cfg.sub_dim
    vectors = q.split(wide.encoder(crops)).flatten(0, 1)[:, first:].float().cpu()  # (N, new codebooks, d)
    gen = torch.Generator().manual_seed(seed)
    for m in range(vectors.shape[1]):
        book = kmeans(vectors[:, m], q.size, generator=gen)
        if cfg.sub_dim == 1:  # 1-D codebooks are kept sorted (rate control and the contexts rely on it)
            book = book.sort(0).values
        q.codebooks.data[first + m] = book.to(q.codebooks.device, q.codebooks.dtype)
    return wide.eval()
