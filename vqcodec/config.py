"""A model's shape, readable without torch (the coder needs it; training builds from it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a model; stored as JSON beside the weights."""

    channels: int = 128  # width of the transforms
    latent_dim: int = 64  # dimension of each latent vector
    sub_dim: int = 1  # dimension of each sub-vector with its own codebook
    codebook_size: int = 256  # codes per codebook
    res_blocks: int = 1  # residual blocks at the latent resolution, per transform
    decoder_blocks: int = 0  # further residual blocks at the latent resolution, in the decoder only
    encoder_blocks: int = 0  # further residual blocks at the latent resolution, in the encoder only
    block_transform: bool = True  # linear 8x8 block path beside the nonlinear one
    rate_sets: int = 0  # table sets the decoder's feature maps are scaled and shifted for (0: one decoder for all)

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
