"""Vector quantizers: one codebook stage, and a residual stack of them.

Gradient routing follows van den Oord et al. (2017): the codebook loss
``||sg[r] - e||^2`` moves only the codebook, the commitment loss
``beta * ||r - sg[e]||^2`` moves only the encoder, and the straight-through
estimator hands the decoder's gradient to the encoder untouched. In the residual
stack each stage quantizes ``r_k = z_e - sg[sum_{j<k} e_j]``, so no stage's loss
leaks into another stage's codebook.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def nearest_code(vectors: Tensor, codebook: Tensor) -> Tensor:
    """Index of the L2-nearest codebook row for each row of ``vectors`` (N, D)."""
    # ||v - e||^2 = ||v||^2 - 2 v.e + ||e||^2; ||v||^2 is constant per row.
    scores = codebook.pow(2).sum(1)[None, :] - 2.0 * vectors @ codebook.t()
    return scores.argmin(dim=1)


class VectorQuantizer(nn.Module):
    """One codebook of ``size`` vectors of dimension ``dim``."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.codebook = nn.Parameter(torch.randn(size, dim) * 0.1)
        # Exponential moving average of how often each code is picked; it
        # drives dead-code restarts and is not part of the shipped weights.
        self.register_buffer("usage", torch.ones(size) / size, persistent=False)

    @property
    def size(self) -> int:
        return self.codebook.shape[0]

    def encode(self, vectors: Tensor) -> Tensor:
        return nearest_code(vectors, self.codebook)

    def lookup(self, indices: Tensor) -> Tensor:
        return F.embedding(indices, self.codebook)

    @torch.no_grad()
    def track_usage(self, indices: Tensor, decay: float = 0.99) -> None:
        counts = torch.bincount(indices, minlength=self.size).float()
        self.usage.mul_(decay).add_(counts / counts.sum().clamp(min=1), alpha=1 - decay)

    @torch.no_grad()
    def restart_dead(self, candidates: Tensor, threshold: float) -> int:
        """Move codes used less than ``threshold`` (share of picks) onto
        randomly chosen current inputs, so rate is not wasted on dead codes."""
        dead = (self.usage < threshold).nonzero().flatten()
        if dead.numel() == 0 or candidates.shape[0] == 0:
            return 0
        pick = torch.randint(0, candidates.shape[0], (dead.numel(),), device=candidates.device)
        self.codebook.data[dead] = candidates[pick].to(self.codebook.dtype)
        self.usage[dead] = 1.0 / self.size
        return int(dead.numel())


@dataclass
class RVQOutput:
    """What a forward pass of the residual quantizer yields."""

    quantized: Tensor  # (B, D, H, W), straight-through: gradient flows to z_e
    indices: Tensor  # (B, S, H, W) int64, every stage's code
    codebook_loss: Tensor  # scalar, moves only the codebooks
    commitment_loss: Tensor  # scalar, moves only the encoder (not yet beta-weighted)


class ResidualVQ(nn.Module):
    """A stack of ``stages`` quantizers, each coding what the previous left.

    Quality level ``q`` uses the first ``q`` stages, so one model yields
    ``stages`` bit rates; training with a random stage count per image
    (quantizer dropout) teaches the decoder every one of them.
    """

    def __init__(self, stages: int, size: int, dim: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(VectorQuantizer(size, dim) for _ in range(stages))

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def forward(self, z_e: Tensor, num_stages: Tensor | int | None = None) -> RVQOutput:
        """Quantize ``z_e`` (B, D, H, W); ``num_stages`` for all, per image (B,)
        or per position (B, H, W), as the encoder's adaptive depth chooses it."""
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        partial = torch.zeros_like(flat)  # sum of chosen codes so far, detached
        cumulative = []
        indices = []
        codebook_loss = flat.new_zeros(())
        commitment_loss = flat.new_zeros(())
        for vq in self.stages:
            residual = flat - partial  # partial is detached: encoder-only gradient
            idx = vq.encode(residual.detach())
            code = vq.lookup(idx)
            codebook_loss = codebook_loss + F.mse_loss(code, residual.detach())
            commitment_loss = commitment_loss + F.mse_loss(residual, code.detach())
            partial = partial + code.detach()
            cumulative.append(partial)
            indices.append(idx)
            if self.training:
                vq.track_usage(idx)
        if num_stages is None:
            chosen = cumulative[-1]
        else:
            n = torch.as_tensor(num_stages, device=flat.device)
            n = n.view(-1, 1, 1) if n.dim() == 1 else n
            per_pos = n.expand(b, h, w).reshape(-1)  # stage count for each row of flat
            stacked = torch.stack(cumulative)  # (S, N, D)
            chosen = stacked.gather(0, (per_pos - 1).view(1, -1, 1).expand(1, -1, d))[0]
        quantized = flat + (chosen - flat).detach()  # straight-through estimator
        quantized = quantized.view(b, h, w, d).permute(0, 3, 1, 2)
        idx_all = torch.stack(indices, 1).view(b, h, w, -1).permute(0, 3, 1, 2)
        return RVQOutput(quantized, idx_all, codebook_loss, commitment_loss)

    @torch.no_grad()
    def encode(self, z_e: Tensor, num_stages: int) -> Tensor:
        """Code indices (B, num_stages, H, W) of ``z_e`` under the first stages."""
        return self.encode_with_errors(z_e, num_stages)[0]

    @torch.no_grad()
    def encode_with_errors(self, z_e: Tensor, num_stages: int) -> tuple[Tensor, Tensor]:
        """Indices (B, S, H, W) and, for rate control, the squared error
        (B, S, H, W) left at each position after each of the first S stages."""
        b, d, h, w = z_e.shape
        residual = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        out, errors = [], []
        for vq in self.stages[:num_stages]:
            idx = vq.encode(residual)
            residual = residual - vq.lookup(idx)
            out.append(idx)
            errors.append(residual.pow(2).sum(1))
        shape = (b, h, w, num_stages)
        return (torch.stack(out, 1).view(shape).permute(0, 3, 1, 2),
                torch.stack(errors, 1).view(shape).permute(0, 3, 1, 2))

    @torch.no_grad()
    def decode(self, indices: Tensor, depths: Tensor | None = None) -> Tensor:
        """Latent (B, D, H, W) from indices (B, S, H, W): at each position the sum
        of its first ``depths`` (B, H, W) codes, or of all S without depths."""
        total = None
        for s in range(indices.shape[1]):
            code = self.stages[s].lookup(indices[:, s])  # (B, H, W, D)
            if depths is not None:
                code = code * (depths > s)[..., None]
            total = code if total is None else total + code
        assert total is not None
        return total.permute(0, 3, 1, 2)


def kmeans(vectors: Tensor, k: int, iters: int = 20, generator: torch.Generator | None = None) -> Tensor:
    """k-means centres of ``vectors`` (N, D), started from distinct random samples."""
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


@torch.no_grad()
def init_from_latents(rvq: ResidualVQ, z_e: Tensor, iters: int = 20, seed: int = 0) -> None:
    """Initialise every stage by k-means on what the stages before it leave."""
    g = torch.Generator().manual_seed(seed)
    residual = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1]).float().cpu()
    for vq in rvq.stages:
        centres = kmeans(residual, vq.size, iters, g)
        vq.codebook.data.copy_(centres.to(vq.codebook.device, vq.codebook.dtype))
        residual = residual - centres[nearest_code(residual, centres)]


@torch.no_grad()
def restart_dead_codes(rvq: ResidualVQ, z_e: Tensor, threshold: float) -> list[int]:
    """Restart each stage's rarely used codes on that stage's current residuals."""
    residual = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
    restarted = []
    for vq in rvq.stages:
        restarted.append(vq.restart_dead(residual, threshold))
        residual = residual - vq.lookup(vq.encode(residual))
    return restarted
