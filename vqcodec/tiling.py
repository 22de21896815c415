"""The transforms run over large images in overlapping tiles, so memory stays bounded.

Both transforms are fully convolutional with a finite reach: a latent depends
on pixels at most about 5 latents (40 pixels) away, a pixel on latents at most
about 5 latents away. So a tile of ``tile x tile`` latents is computed from a
window reaching ``margin`` latents further on every side (cut at the image's
edges, where the untiled transform pads too), and only the tile itself is kept.
The result equals the untiled one up to float rounding, with no seams, and the
latents are entropy-coded as one map, so a tiled file is no larger than an
untiled one. Peak memory depends on the tile, not the image: an image that fits
in one tile (any Kodak photo) runs exactly as it would untiled. The last window of a
tiled image gives the runtime's working memory back (a tile's activations, half a GB):
what follows the transform (the residual, the next level) does not share the peak with it.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from . import correction as corr
from .config import ModelConfig
from .correction import Correction
from .rate import from_codes
from .progress import tick
from .runtime import Transforms

#: Latents per tile side (1024 pixels).
TILE = 128
#: Latents of context on each side of a tile; the transforms reach about 5.
MARGIN = 8
#: Latents per tile side for :func:`gradient`, whose graph holds every layer's activations
#: for its backward pass: a 2048-pixel image peaks at 2.8 GB with 128-latent tiles, at
#: 0.95 GB with 64 (and takes 10% longer).
GRADIENT_TILE = 64


def windows(h: int, w: int, tile: int, margin: int) -> Iterator[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """For each tile of an h x w latent grid: the window's rows and columns, and
    the tile's (in latents, of the whole grid)."""
    for r0 in range(0, h, tile):
        for c0 in range(0, w, tile):
            r1, c1 = min(r0 + tile, h), min(c0 + tile, w)
            window = slice(max(0, r0 - margin), min(h, r1 + margin)), slice(max(0, c0 - margin), min(w, c1 + margin))
            yield window, (slice(r0, r1), slice(c0, c1))


def _last_of_several(n: int, tiles: list) -> bool:
    """Whether window ``n`` is the last of a tiled image's (more than one): its run gives the
    runtime's working memory back; a one-window image keeps it for its next run."""
    return 0 < n == len(tiles) - 1


def _inner(part: slice, window: slice, scale: int = 1) -> slice:
    """Where ``part`` lies inside ``window``, in units ``scale`` times finer."""
    return slice((part.start - window.start) * scale, (part.stop - window.start) * scale)


def _pixels(rgb: np.ndarray, rows: slice, cols: slice, f: int) -> np.ndarray:
    """Pixels of a latent window, the image's last row and column replicated
    where the window runs past them (sides rounded up to multiples of ``f``)."""
    y0, y1, x0, x1 = rows.start * f, rows.stop * f, cols.start * f, cols.stop * f
    part = rgb[y0:y1, x0:x1]
    return np.pad(part, ((0, y1 - y0 - part.shape[0]), (0, x1 - x0 - part.shape[1]), (0, 0)), mode="edge")


def analyse(transforms: Transforms, cfg: ModelConfig, rgb: np.ndarray, tile: int = TILE,
            margin: int = MARGIN) -> np.ndarray:
    """Latents (D, h, w, float32) of an RGB uint8 image (H, W, 3)."""
    f = cfg.downsample
    h, w = -(-rgb.shape[0] // f), -(-rgb.shape[1] // f)
    latents = np.empty((cfg.latent_dim, h, w), np.float32)
    tiles = list(windows(h, w, tile, margin))
    for n, ((rows, cols), (tr, tc)) in enumerate(tiles):
        x = _pixels(rgb, rows, cols, f).transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)
        z = transforms.encode(x, release=_last_of_several(n, tiles))[0]
        latents[:, tr, tc] = z[:, _inner(tr, rows), _inner(tc, cols)]
        tick("encoding", n + 1, len(tiles))
    return latents


def _place(out: np.ndarray, y: np.ndarray, rows: slice, cols: slice, tr: slice, tc: slice, f: int,
           correction: Correction = corr.NONE) -> None:
    """Write a window's decoded pixels ``y`` (3, H, W), about [0, 1], of tile (tr, tc) into ``out`` as
    uint8, the colour correction added."""
    height, width = out.shape[:2]
    y = y[:, _inner(tr, rows, f), _inner(tc, cols, f)]
    y0, x0 = tr.start * f, tc.start * f
    y = y[:, : height - y0, : width - x0]
    y *= np.float32(255.0)  # in place, in the decoder's own output: each copy of a tile is 9 MB
    if correction.active:
        y += corr.offsets(correction, slice(y0, y0 + y.shape[1]), slice(x0, x0 + y.shape[2]), width, height)
    np.clip(np.round(y, out=y), 0, 255, out=y)
    out[y0:y0 + y.shape[1], x0:x0 + y.shape[2]] = y.transpose(1, 2, 0)  # cast to uint8 as it is written


def corrected(pixels: np.ndarray, correction: Correction, rows: int = 256) -> np.ndarray:
    """Decoded pixels (H, W, 3 uint8) with the colour correction added (a new array; the same one
    when there is none), a band of rows at a time."""
    if not correction.active:
        return pixels
    height, width = pixels.shape[:2]
    out = np.empty_like(pixels)
    for y0 in range(0, height, rows):
        band = pixels[y0:y0 + rows].astype(np.float32).transpose(2, 0, 1)
        band += corr.offsets(correction, slice(y0, y0 + band.shape[1]), slice(0, width), width, height)
        out[y0:y0 + rows] = np.clip(np.round(band), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return out


def synthesise(transforms: Transforms, cfg: ModelConfig, codebooks: np.ndarray, indices: np.ndarray, width: int,
               height: int, tile: int = TILE, margin: int = MARGIN, table_set: int = 0,
               correction: Correction = corr.NONE) -> np.ndarray:
    """RGB uint8 pixels (height, width, 3) from code indices (M, h, w) into ``codebooks`` (M, K, d)
    (the values they decode to), coded at a level of ``table_set``, with a file's colour correction."""
    out = np.empty((height, width, 3), np.uint8)
    tiles = list(windows(*indices.shape[1:], tile, margin))
    for n, ((rows, cols), (tr, tc)) in enumerate(tiles):
        latents = from_codes(indices[:, rows, cols], codebooks)
        y = transforms.decode(latents[None], table_set, release=_last_of_several(n, tiles))[0]
        _place(out, y, rows, cols, tr, tc, cfg.downsample, correction)
        tick("decoding", n + 1, len(tiles))
    return out


def gradient(transforms: Transforms, cfg: ModelConfig, codebooks: np.ndarray, indices: np.ndarray, rgb: np.ndarray,
             mask: np.ndarray | None = None, tile: int = GRADIENT_TILE,
             margin: int = MARGIN, table_set: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The image :func:`synthesise` makes of code indices (M, h, w) (within a grey level: another
    graph computes it), and the gradient (D, h, w)
    of its squared error against ``rgb`` (H, W, 3), in [0, 1] units summed over the pixels
    (those where ``mask`` (H, W) is true, if given), with respect to the latents the codes
    stand for.

    Each window counts only the pixels of its own tile that lie in the image, so the
    windows' gradients add up to the whole image's."""
    f = cfg.downsample
    height, width = rgb.shape[:2]
    out = np.empty_like(rgb)
    grad = np.zeros((cfg.latent_dim, *indices.shape[1:]), np.float32)
    tiles = list(windows(*indices.shape[1:], tile, margin))
    for n, ((rows, cols), (tr, tc)) in enumerate(tiles):
        latents = from_codes(indices[:, rows, cols], codebooks)
        target = _pixels(rgb, rows, cols, f).transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)
        weight = np.zeros((1, 1, *target.shape[2:]), np.float32)
        r0, c0 = (tr.start - rows.start) * f, (tc.start - cols.start) * f
        y0, y1, x0, x1 = tr.start * f, min(tr.stop * f, height), tc.start * f, min(tc.stop * f, width)
        weight[..., r0:r0 + y1 - y0, c0:c0 + x1 - x0] = 1 if mask is None else mask[y0:y1, x0:x1]
        pixels, g = transforms.gradient(latents[None], target, weight, table_set, release=_last_of_several(n, tiles))
        grad[:, rows, cols] += g[0]
        _place(out, pixels[0], rows, cols, tr, tc, f)
    return out, grad
