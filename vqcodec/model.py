"""The VQ-VAE: analysis transform, residual vector quantizer, synthesis transform.

The transforms are built for a CPU budget: the image enters by space-to-depth
(``PixelUnshuffle``) and leaves by depth-to-space (``PixelShuffle``), so no
convolution runs at full resolution, and the nonlinearities are the simplified
GDN of Johnston et al. (2019), which does in one layer what several ReLU layers
do for image statistics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from .quantizer import ResidualVQ, RVQOutput


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a model; stored as JSON beside the weights."""

    channels: int = 128  # width of the transforms
    latent_dim: int = 32  # dimension of each latent / code vector
    stages: int = 8  # residual VQ stages = quality levels
    codebook_size: int = 256  # codes per stage
    res_blocks: int = 1  # residual blocks at the latent resolution, per transform

    #: Each latent vector covers a DOWNSAMPLE x DOWNSAMPLE block of pixels.
    downsample: int = 8

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


class SimpleGDN(nn.Module):
    """Simplified (inverse) GDN: ``x / (beta + gamma |x|)`` or ``x * (...)``."""

    def __init__(self, channels: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels).view(channels, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        norm = nn.functional.conv2d(x.abs(), self.gamma.abs(), self.beta.abs() + 1e-4)
        return x * norm if self.inverse else x / norm


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class Encoder(nn.Module):
    """Image (B, 3, H, W) in [0, 1] -> latents (B, D, H/8, W/8)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.channels
        half = c // 2  # layers at H/2 dominate the cost: keep them narrow
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2),  # (12, H/2)
            _conv(12, half),
            SimpleGDN(half),
            _conv(half, c, stride=2),  # H/4
            SimpleGDN(c),
            _conv(c, c, stride=2),  # H/8
            SimpleGDN(c),
            *[ResBlock(c) for _ in range(cfg.res_blocks)],
            _conv(c, cfg.latent_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x - 0.5)


class Decoder(nn.Module):
    """Latents (B, D, H/8, W/8) -> image (B, 3, H, W), unclamped."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.channels
        half = c // 2
        self.net = nn.Sequential(
            _conv(cfg.latent_dim, c),
            *[ResBlock(c) for _ in range(cfg.res_blocks)],
            SimpleGDN(c, inverse=True),
            _conv(c, 4 * c),
            nn.PixelShuffle(2),  # H/4
            SimpleGDN(c, inverse=True),
            _conv(c, 4 * half),
            nn.PixelShuffle(2),  # H/2
            SimpleGDN(half, inverse=True),
            _conv(half, 12),
            nn.PixelShuffle(2),  # H
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z) + 0.5


class VQVAE(nn.Module):
    """Encoder, residual VQ and decoder; ``forward`` is the training pass."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.downsample != 8:
            raise ValueError("only 8x downsampling is implemented")
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = ResidualVQ(cfg.stages, cfg.codebook_size, cfg.latent_dim)
        self.decoder = Decoder(cfg)

    def forward(
        self, x: Tensor, num_stages: Tensor | int | None = None, quantize: bool = True
    ) -> tuple[Tensor, RVQOutput | None]:
        z_e = self.encoder(x)
        if not quantize:  # autoencoder warm-up: no bottleneck yet
            return self.decoder(z_e), None
        out = self.quantizer(z_e, num_stages)
        return self.decoder(out.quantized), out

    @torch.no_grad()
    def encode_indices(self, x: Tensor, num_stages: int) -> Tensor:
        """Indices (B, num_stages, H/8, W/8) for images whose sides are multiples of 8."""
        return self.quantizer.encode(self.encoder(x), num_stages)

    @torch.no_grad()
    def decode_indices(self, indices: Tensor) -> Tensor:
        """Reconstruction in [0, 1] (unclamped) from code indices."""
        return self.decoder(self.quantizer.decode(indices))
