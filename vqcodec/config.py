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
    #: The decoder's channels at H/4 and at H/2 (None: ``channels`` and half of it), narrowed by
    #: ``training.finetune.narrow`` for a cheaper decoder.
    up_channels: tuple[int, int] | None = None

    #: Each latent vector covers a DOWNSAMPLE x DOWNSAMPLE block of pixels.
    downsample: int = 8

    def to_dict(self) -> dict:
        """The config as stored; a default ``up_channels`` is left out, so every model written
        before it existed keeps its config (and its fingerprint)."""
        data = asdict(self)
        if data["up_channels"] is None:
            del data["up_channels"]
        else:
            data["up_channels"] = list(data["up_channels"])
        return data

    @property
    def decoder_widths(self) -> tuple[int, int]:
        """The decoder's channels at H/4 and H/2."""
        return self.up_channels or (self.channels, self.channels // 2)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        if data.get("up_channels") is not None:
            data = {**data, "up_channels": tuple(int(v) for v in data["up_channels"])}
        return cls(**data)
