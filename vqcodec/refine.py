"""Encoding with effort: latents moved along the decoder's gradient before codes are chosen.

The encoder maps every image to latents in one pass, trained to do well on
average; for a given image and quality, other latents would decode closer to
it (the amortization gap of Cremer et al. 2018, which Yang et al. 2020 close
per image for scalar-quantized codecs). Each step here decodes the current
codes, takes the gradient of the squared pixel error with respect to the
latents (straight through the quantizer, as training does), moves the latents
a step against it, and lets rate control (``vqcodec/rate.py``) choose codes for
them again, so bits stay weighed as at effort 0. The decoder and the file
format do not change: a file coded with effort decodes like any other.

Steps also buy bits: moved latents leave their cheap codes. So each step's
file is scored by its squared error plus its bits at the quality's rate weight,
carried into pixel units (:func:`rate.bit_weight`), and the best-scoring file is
kept: more steps never make a file worse by that score. Measured on 4 of the
held-out training photos (docs/training.md), 1 / 2 / 4 / 8 steps take 2.4 /
3.7 / 5.1 / 5.6% fewer bits for the same PSNR; 4 steps on all 8 of them 4.5%,
on Kodak 4.4%.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import tiling
from .correction import Correction
from .metrics import squared_error
from .rate import bit_weight
from .weights import CodecModel

#: Latent units moved per unit of gradient (squared error in [0, 1] pixel units, summed):
#: 1.7 times this gains more in one step and less from three (docs/training.md).
STEP = 0.055


def refine(latents: np.ndarray, rgb: np.ndarray, model: CodecModel, quality: int, steps: int,
           code: Callable[[np.ndarray], tuple[bytes, np.ndarray, Correction]],
           mask: np.ndarray | None = None) -> tuple[bytes, np.ndarray, Correction, np.ndarray | None]:
    """The best of ``steps + 1`` files of ``rgb`` (H, W, 3 uint8): ``code(latents)`` gives a file,
    its indices (M, h, w) and colour correction for latents (D, h, w), first of ``latents``, then of latents moved
    step by step against the gradient of the decoded image's squared error, counted where
    ``mask`` (H, W) is true (the visible pixels of an image with alpha) or everywhere. Returns
    the file, its indices, its correction and, when the last step's file is best, the decoder's image of it
    (the gradient graph's images of earlier steps may differ from it by a level); ``quality`` is
    the files' level (its rate weight and the values its codes decode to)."""
    weight = 8 * bit_weight(model.lambdas[quality])  # per byte, in squared 8-bit levels
    values, table_set = model.decoded_codes(quality), model.table_set(quality)
    best: tuple[float, bytes, np.ndarray, Correction, np.ndarray | None] | None = None
    for step in range(steps + 1):
        data, indices, fix = code(latents)
        if step < steps:  # the gradient is the decoder's alone: the correction only shifts what it aims at
            pixels, grad = tiling.gradient(model.transforms, model.cfg, values, indices, rgb, mask, table_set=table_set)
            pixels = tiling.corrected(pixels, fix)
        else:
            pixels = tiling.synthesise(model.transforms, model.cfg, values, indices, rgb.shape[1], rgb.shape[0],
                                       table_set=table_set, correction=fix)
        cost = squared_error(pixels, rgb, mask) + weight * len(data)
        if best is None or cost < best[0]:
            best = (cost, data, indices, fix, None if step < steps else pixels)
        if step < steps:
            latents = latents - np.float32(STEP) * grad
    return best[1:]
