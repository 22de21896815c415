"""The VQ-VAE: analysis transform, product vector quantizer, synthesis transform.

The transforms are built for a CPU budget: the image enters by space-to-depth
(``PixelUnshuffle``) and leaves by depth-to-space (``PixelShuffle``), so no
convolution runs at full resolution, and the nonlinearities are the simplified
GDN of Johnston et al. (2019), which does in one layer what several ReLU layers
do for image statistics.

Beside the nonlinear path runs a linear block transform (``block_transform``):
a 1x1 convolution on the 8x8 space-to-depth blocks, which training initialises
to the principal components of training blocks. That linear path alone gives
32.9 dB on Kodak with 32 components, where the first nonlinear model, trained
for an hour from random weights, reached 28.8 dB; the nonlinear path, which
starts at zero, then only has to learn what a linear transform cannot do.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from .quantizer import ProductVQ, VQOutput

__all__ = ["VQVAE", "ModelConfig"]


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
        # Depth a trained model grows (``finetune.grow``) before its last convolution: the
        # decoder is held to the decode time, the encoder only to the encode time, and a
        # stronger analysis closes part of the gap to latents fitted per image (effort).
        self.extra = nn.Sequential(*[ResBlock(c) for _ in range(cfg.encoder_blocks)]) if cfg.encoder_blocks else None
        self.block = nn.Conv2d(3 * 64, cfg.latent_dim, 1) if cfg.block_transform else None

    def forward(self, x: Tensor) -> Tensor:
        x = x - 0.5
        if self.extra is None:
            z = self.net(x)
        else:
            z = self.net[-1](self.extra(self.net[:-1](x)))
        if self.block is not None:
            z = z + self.block(nn.functional.pixel_unshuffle(x, 8))
        return z


class RateModulation(nn.Module):
    """Per-channel scale and shift of a feature map, one pair per table set of the prior.

    One decoder serves 101 quality levels, yet a code means more at a low rate (rate
    control gave it latents from a wider range) than at a high one. Fine-tuned on one
    rate alone, the shipped decoder gained 0.13 dB there (docs/training.md); these
    pairs let it learn what each rate's codes need for 2 x 1024 numbers a table set,
    chosen by the file's quality, at no measurable decode time. They start at the
    identity (scale 1, shift 0), so a model given them decodes as before."""

    def __init__(self, sets: int, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(sets, channels))  # the scale is 1 + this
        self.shift = nn.Parameter(torch.zeros(sets, channels))

    def gain(self, table_set: Tensor) -> Tensor:
        """The scale (B, C, 1, 1) of each image's table set (B,) (or one for all, (1,)): also the
        derivative of the output with respect to the input."""
        return (1 + self.scale[table_set])[:, :, None, None]

    def forward(self, x: Tensor, table_set: Tensor) -> Tensor:
        """``x`` (B, C, H, W) modulated for each image's table set."""
        return x * self.gain(table_set) + self.shift[table_set][:, :, None, None]


class Decoder(nn.Module):
    """Latents (B, D, H/8, W/8) -> image (B, 3, H, W), unclamped; with ``cfg.rate_sets``,
    also given each image's table set."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.channels
        quarter, half = cfg.decoder_widths  # channels at H/4 and H/2
        self.net = nn.Sequential(
            _conv(cfg.latent_dim, c),
            *[ResBlock(c) for _ in range(cfg.res_blocks)],
            SimpleGDN(c, inverse=True),
            _conv(c, 4 * quarter),
            nn.PixelShuffle(2),  # H/4
            SimpleGDN(quarter, inverse=True),
            _conv(quarter, 4 * half),
            nn.PixelShuffle(2),  # H/2
            SimpleGDN(half, inverse=True),
            _conv(half, 12),
            nn.PixelShuffle(2),  # H
        )
        # Blocks at H/8 are the cheapest depth a decoder can add (a quarter of a block
        # at H/4 per pixel) and widen its view of the codes, to smooth what coarse codes
        # leave. Kept apart from ``net`` so a trained model grows them (``finetune.grow``)
        # without renaming its layers.
        self.extra = nn.Sequential(*[ResBlock(c) for _ in range(cfg.decoder_blocks)]) if cfg.decoder_blocks else None
        self.block = nn.Conv2d(cfg.latent_dim, 3 * 64, 1) if cfg.block_transform else None
        # modulated: the outputs of the first convolution, of the last residual block and of
        # the two upsampling convolutions (before depth-to-space), as positions in ``layers``
        last_block = cfg.decoder_blocks + cfg.res_blocks
        points = {0: c, **({last_block: c} if last_block else {}), last_block + 2: 4 * quarter, last_block + 5: 4 * half}
        self.modulated = {index: k for k, index in enumerate(points)}
        self.modulation = (nn.ModuleList([RateModulation(cfg.rate_sets, w) for w in points.values()])
                           if cfg.rate_sets else None)

    def layers(self) -> list[nn.Module]:
        """The nonlinear path's layers in order (the first convolution, the grown blocks, the rest)."""
        return [self.net[0], *(self.extra or []), *self.net[1:]]

    def modulation_at(self, index: int) -> RateModulation | None:
        """The modulation of ``layers()[index]``'s output, if the decoder has one there."""
        if self.modulation is None or index not in self.modulated:
            return None
        return self.modulation[self.modulated[index]]

    def modulate(self, index: int, x: Tensor, table_set: Tensor | None) -> Tensor:
        """``x``, the output of ``layers()[index]``, modulated for ``table_set`` where the decoder does so."""
        modulation = self.modulation_at(index)
        if modulation is None:
            return x
        if table_set is None:
            raise ValueError("this decoder is modulated by the rate: give each image's table set")
        return modulation(x, table_set)

    def forward(self, z: Tensor, table_set: Tensor | None = None) -> Tensor:
        x = z
        for i, layer in enumerate(self.layers()):
            x = self.modulate(i, layer(x), table_set)
        if self.block is not None:
            x = x + nn.functional.pixel_shuffle(self.block(z), 8)
        return x + 0.5


class VQVAE(nn.Module):
    """Encoder, product VQ and decoder; ``forward`` is the training pass."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.downsample != 8:
            raise ValueError("only 8x downsampling is implemented")
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = ProductVQ(cfg.latent_dim, cfg.sub_dim, cfg.codebook_size)
        self.decoder = Decoder(cfg)

    def forward(self, x: Tensor, lam: Tensor | float = 0.0, quantize: bool = True) -> tuple[Tensor, VQOutput | None]:
        """Reconstruction and quantizer output, codes chosen with ``lam`` per image (B,) or for all."""
        z_e = self.encoder(x)
        if not quantize:  # autoencoder warm-up: no bottleneck yet
            return self.decoder(z_e), None
        out = self.quantizer(z_e, lam)
        return self.decoder(out.quantized), out

    @torch.no_grad()
    def init_block_transform(self, images: Tensor) -> None:
        """Set the linear block path to the principal components of the 8x8
        blocks of ``images`` (B, 3, H, W) and silence the nonlinear path's
        last layers, so the untrained model is exactly that block PCA."""
        if self.encoder.block is None:
            raise ValueError("this model has no block transform")
        blocks = nn.functional.pixel_unshuffle(images.double() - 0.5, 8)
        blocks = blocks.permute(0, 2, 3, 1).reshape(-1, 3 * 64)
        mean = blocks.mean(0)
        cov = torch.cov((blocks - mean).t())
        _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
        basis = vectors[:, -self.cfg.latent_dim:].flip(1).float()  # (192, D)
        enc, dec = self.encoder.block, self.decoder.block
        enc.weight.copy_(basis.t()[:, :, None, None])
        enc.bias.copy_(-(basis.t() @ mean.float()))
        dec.weight.copy_(basis[:, :, None, None])
        dec.bias.copy_(mean.float())
        for last in (self.encoder.net[-1], self.decoder.net[-2]):
            last.weight.zero_()
            last.bias.zero_()

    @torch.no_grad()
    def decode_indices(self, indices: Tensor) -> Tensor:
        """Reconstruction in [0, 1] (unclamped) from code indices (B, M, H/8, W/8)."""
        return self.decoder(self.quantizer.lookup(indices))


class DecoderGradient(nn.Module):
    """``(latents, target, weight[, table_set]) -> (pixels, gradient)``: the decoder's output
    clamped to [0, 1] and the gradient, with respect to the latents, of ``sum(weight * (pixels -
    target)^2)``.

    The backward pass is written out layer by layer (transposed convolutions, the
    derivatives of GDN and leaky ReLU) rather than left to autograd, so it exports to
    ONNX like any forward graph and the encoder can follow the decoder's gradient
    without torch (``vqcodec/refine.py``). ``weight`` (1, 1, H, W) selects the pixels a
    tile owns, so tiles' gradients add up to the whole image's."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.decoder = decoder
        self.layers = decoder.layers()

    def forward(self, z: Tensor, target: Tensor, weight: Tensor, table_set: Tensor | None = None) -> tuple[Tensor, Tensor]:
        inputs, h = [], z
        for i, layer in enumerate(self.layers):
            inputs.append(h)
            h = self.decoder.modulate(i, layer(h), table_set)
        if self.decoder.block is not None:
            h = h + nn.functional.pixel_shuffle(self.decoder.block(z), 8)
        y = h + 0.5  # as Decoder.forward adds, so the pixels are the decoder's to the bit
        pixels = y.clamp(0.0, 1.0)
        g = 2.0 * weight * (pixels - target) * ((y >= 0.0) & (y <= 1.0)).to(y.dtype)
        grad = 0.0
        if self.decoder.block is not None:
            grad = nn.functional.conv_transpose2d(nn.functional.pixel_unshuffle(g, 8), self.decoder.block.weight)
        for i in reversed(range(len(self.layers))):
            modulation = self.decoder.modulation_at(i)
            if modulation is not None:  # y = x * gain + shift
                g = g * modulation.gain(table_set)
            g = _backward(self.layers[i], inputs[i], g)
        return pixels, grad + g


def _conv_backward(conv: nn.Conv2d, g: Tensor) -> Tensor:
    return nn.functional.conv_transpose2d(g, conv.weight, stride=conv.stride, padding=conv.padding)


def _backward(layer: nn.Module, x: Tensor, g: Tensor) -> Tensor:
    """The gradient with respect to ``layer``'s input ``x`` of a loss whose gradient
    with respect to its output is ``g``, for the layers a decoder is made of."""
    if isinstance(layer, nn.Conv2d):
        return _conv_backward(layer, g)
    if isinstance(layer, nn.PixelShuffle):
        return nn.functional.pixel_unshuffle(g, layer.upscale_factor)
    if isinstance(layer, SimpleGDN) and layer.inverse:  # y = x * n(|x|), n a 1x1 convolution
        gamma = layer.gamma.abs()
        norm = nn.functional.conv2d(x.abs(), gamma, layer.beta.abs() + 1e-4)
        return g * norm + torch.sign(x) * nn.functional.conv_transpose2d(g * x, gamma)
    if isinstance(layer, ResBlock):
        first, act, second = layer.body
        slope = torch.where(first(x) > 0, 1.0, act.negative_slope)
        return g + _conv_backward(first, _conv_backward(second, g) * slope)
    raise TypeError(f"no backward pass for {type(layer).__name__}")
