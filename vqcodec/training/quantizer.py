"""The vector quantizer: a product of small codebooks, with entropy-constrained code choice.

The latent vector at each position (``D`` dimensions) is cut into ``M = D / d``
sub-vectors of ``d`` dimensions; sub-vector ``m`` is replaced by a row of its
own codebook ``m`` of ``K`` codes. Small sub-vectors are what let one codebook
serve every rate: measured on 64 block-PCA coefficients (docs/training.md), a
product of 1-D codebooks of 256 codes chosen by entropy-constrained VQ spans
0.1 to 4 bpp and beats residual VQ over groups of 4 or 8 dimensions by about
1 dB at every rate, because a sub-vector whose code is cheap to predict costs
almost nothing.

Code choice (ECVQ, Chou, Lookabaugh and Gray 1989): each sub-vector takes the
code minimising ``||z - e||^2 + lam * bits(e)``; ``lam = 0`` is the L2-nearest
code. The quality level is ``lam``. Training draws a ``lam`` per image, so the
decoder learns every rate and the encoder learns latents that survive coarse
choices; ``bits`` there comes from the codebooks' usage, at coding time from the
prior (``vqcodec/rate.py``).

Gradient routing follows van den Oord et al. (2017): the codebook loss
``||sg[z] - e||^2`` moves only the codebooks, the commitment loss
``||z - sg[e]||^2`` (weighted by beta in training) moves only the encoder, and
the straight-through estimator hands the decoder's gradient to the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import distributed


def nearest_code(vectors: Tensor, codebook: Tensor) -> Tensor:
    """Index of the L2-nearest codebook row for each row of ``vectors`` (N, d)."""
    # ||v - e||^2 = ||v||^2 - 2 v.e + ||e||^2; ||v||^2 is constant per row.
    scores = codebook.pow(2).sum(1)[None, :] - 2.0 * vectors @ codebook.t()
    return scores.argmin(dim=1)


def kmeans(vectors: Tensor, k: int, iters: int = 20, generator: torch.Generator | None = None) -> Tensor:
    """k-means centres of ``vectors`` (N, d), started from distinct random samples."""
    n = vectors.shape[0]
    centres = vectors[torch.randperm(n, generator=generator)[:k]].clone()
    if centres.shape[0] < k:  # fewer vectors than codes: repeat with jitter
        extra = centres[torch.randint(0, centres.shape[0], (k - centres.shape[0],), generator=generator)]
        centres = torch.cat([centres, extra + 1e-3 * torch.randn(extra.shape, generator=generator)])
    for _ in range(iters):
        assign = nearest_code(vectors, centres)
        sums = torch.zeros_like(centres).index_add_(0, assign, vectors)
        counts = torch.bincount(assign, minlength=k).to(vectors.dtype)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return centres


@dataclass
class VQOutput:
    """What a forward pass of the quantizer yields."""

    quantized: Tensor  # (B, D, H, W), straight-through: gradient flows to z_e
    indices: Tensor  # (B, M, H, W) int64, each sub-vector's code
    bits: Tensor  # (B, M, H, W) each code's cost under the usage estimate, for logging
    codebook_loss: Tensor  # scalar, moves only the codebooks
    commitment_loss: Tensor  # scalar, moves only the encoder (not yet beta-weighted)


class ProductVQ(nn.Module):
    """``M`` codebooks of ``size`` codes of ``sub_dim`` dimensions, one per sub-vector."""

    def __init__(self, dim: int, sub_dim: int, size: int) -> None:
        super().__init__()
        if dim % sub_dim:
            raise ValueError(f"latent dimension {dim} is not a multiple of the sub-vector size {sub_dim}")
        self.sub_dim = sub_dim
        self.codebooks = nn.Parameter(torch.randn(dim // sub_dim, size, sub_dim) * 0.1)
        # Exponential moving average of how often each code is picked: the
        # training-time estimate of a code's cost; not part of the shipped weights.
        self.register_buffer("usage", torch.ones(dim // sub_dim, size) / size, persistent=False)

    @property
    def num_codebooks(self) -> int:
        return self.codebooks.shape[0]

    @property
    def size(self) -> int:
        return self.codebooks.shape[1]

    def split(self, z: Tensor) -> Tensor:
        """(B, D, H, W) -> (B, H*W, M, d) sub-vectors, positions in raster order."""
        b, _, h, w = z.shape
        return z.permute(0, 2, 3, 1).reshape(b, h * w, self.num_codebooks, self.sub_dim)

    def merge(self, v: Tensor, h: int, w: int) -> Tensor:
        """Inverse of :meth:`split`."""
        return v.reshape(v.shape[0], h, w, -1).permute(0, 3, 1, 2)

    def usage_bits(self) -> Tensor:
        """Each code's cost in bits (M, K) under the usage estimate."""
        return -torch.log2(self.usage.clamp(min=1e-6) / self.usage.sum(1, keepdim=True))

    @torch.no_grad()
    def assign(self, v: Tensor, lam: Tensor | float = 0.0) -> Tensor:
        """Codes (B, P, M) of sub-vectors ``v`` (B, P, M, d) minimising squared distance +
        ``lam`` * usage bits, with ``lam`` per image (B,) or one value (0: the nearest codes)."""
        b = v.shape[0]
        lam = torch.as_tensor(lam, dtype=v.dtype, device=v.device).expand(b)
        cb = self.codebooks.detach()
        base = cb.pow(2).sum(-1)  # (M, K); ||v||^2 is the same for every code
        bits = self.usage_bits() if bool((lam != 0).any()) else None
        cbt = cb.transpose(1, 2)  # (M, d, K)
        out = torch.empty(v.shape[:3], dtype=torch.long, device=v.device)
        for i in range(b):  # one fused multiply-add per image keeps the (M, P, K) costs small
            offset = base if bits is None or lam[i] == 0 else base + lam[i] * bits
            cost = torch.baddbmm(offset[:, None, :], v[i].transpose(0, 1), cbt, alpha=-2.0)
            out[i] = cost.argmin(-1).t()
        return out

    def lookup(self, indices: Tensor) -> Tensor:
        """Latents (B, D, H, W) from code indices (B, M, H, W)."""
        b, m, h, w = indices.shape
        flat = indices.permute(0, 2, 3, 1).reshape(b, h * w, m)
        codes = self.codebooks[torch.arange(m, device=indices.device), flat]  # (B, P, M, d)
        return self.merge(codes, h, w)

    def forward(self, z_e: Tensor, lam: Tensor | float = 0.0) -> VQOutput:
        """Quantize ``z_e`` (B, D, H, W) with ``lam`` per image (B,) or one value for all."""
        _, _, h, w = z_e.shape
        v = self.split(z_e)
        idx = self.assign(v.detach(), lam)
        m = torch.arange(self.num_codebooks, device=z_e.device)
        codes = self.codebooks[m, idx]  # (B, P, M, d), carries the codebook gradient
        codebook_loss = F.mse_loss(codes, v.detach())
        commitment_loss = F.mse_loss(v, codes.detach())
        bits = self.usage_bits().detach()[m, idx]
        if self.training:
            self.track_usage(idx.reshape(-1, idx.shape[-1]))
        quantized = v + (codes - v).detach()  # straight-through estimator
        return VQOutput(self.merge(quantized, h, w), self.merge(idx, h, w), self.merge(bits, h, w),
                        codebook_loss, commitment_loss)

    @torch.no_grad()
    def track_usage(self, idx: Tensor, decay: float = 0.99) -> None:
        counts = torch.zeros_like(self.usage).scatter_add_(
            1, idx.t(), torch.ones(idx.t().shape, dtype=self.usage.dtype, device=idx.device))
        counts = distributed.sum_(counts)  # under DDP: every process's codes, so all keep one estimate
        self.usage.mul_(decay).add_(counts / (idx.shape[0] * distributed.world_size()), alpha=1 - decay)

    @torch.no_grad()
    def init_from_latents(self, z_e: Tensor, iters: int = 20, seed: int = 0) -> None:
        """Each codebook by k-means on its sub-vectors of ``z_e`` (B, D, H, W)."""
        g = torch.Generator().manual_seed(seed)
        v = self.split(z_e).flatten(0, 1).float().cpu()
        for m in range(self.num_codebooks):
            centres = kmeans(v[:, m], self.size, iters, g)
            if self.sub_dim == 1:  # 1-D codebooks are kept sorted, so index order is value order
                centres = centres.sort(0).values
            self.codebooks.data[m] = centres.to(self.codebooks.device, self.codebooks.dtype)
        self.usage.fill_(1.0 / self.size)
