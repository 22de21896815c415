"""Synthetic training crops: text and smooth gradients, which photo sets lack.

The training photos hold almost no rendered text and few flat gradients, and
it shows: on a text page and on a two-colour gradient the codec trails JPEG by
several dB at the same size (``benchmarks/cases.py``). Training may mix in
crops of random text (random characters, sizes, colours and line spacing, in
Pillow's built-in font) and of smooth linear or radial gradients between two
random colours with slight noise. Everything is drawn from the caller's random
generator, so a run that mixes them in stays exactly resumable.
"""

from __future__ import annotations

from functools import lru_cache
from string import ascii_letters, digits, punctuation

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_CHARS = np.array(list(ascii_letters + digits + punctuation + " " * 12))


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Background and text colours: mostly dark on light, as documents and screens are."""
    light, dark = rng.integers(200, 256, 3), rng.integers(0, 70, 3)
    if rng.random() < 0.25:
        light, dark = dark, light
    if rng.random() < 0.3:  # coloured text or background
        dark = rng.integers(0, 256, 3)
        if np.abs(dark.astype(int) - light).sum() < 150:
            dark = 255 - light
    return tuple(int(v) for v in light), tuple(int(v) for v in dark)


def text_crop(rng: np.random.Generator, size: int) -> np.ndarray:
    """A ``size`` x ``size`` RGB crop of random lines of text."""
    background, ink = _colours(rng)
    im = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(im)
    points = int(rng.integers(8, 33))
    font = _font(points)
    y = int(rng.integers(-(points // 3), points // 2 + 1))  # the first line shows in the crop
    while y < size:
        line = "".join(rng.choice(_CHARS[:-12], 2)) + "".join(rng.choice(_CHARS, max(6, int(size / points * 2.5))))
        draw.text((int(rng.integers(-(points // 2), 8)), y), line, fill=ink, font=font)
        y += int(points * rng.uniform(1.1, 1.8))
    return np.asarray(im)


def gradient_crop(rng: np.random.Generator, size: int) -> np.ndarray:
    """A ``size`` x ``size`` RGB crop blending two random colours, linearly or radially, with
    slight noise (sigma up to 2 grey levels)."""
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    y, x = np.mgrid[0:size, 0:size] / size
    if rng.random() < 0.7:
        angle = rng.uniform(0, 2 * np.pi)
        t = np.cos(angle) * x + np.sin(angle) * y
    else:
        cy, cx = rng.uniform(-0.5, 1.5, 2)
        t = np.hypot(y - cy, x - cx)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6) * rng.uniform(0.2, 1.0)  # a part of the ramp, not always all
    noise = rng.normal(0, rng.uniform(0, 2), (size, size, 3))
    return np.clip(np.rint(a * (1 - t[..., None]) + b * t[..., None] + noise), 0, 255).astype(np.uint8)


def synthetic_crop(rng: np.random.Generator, size: int) -> np.ndarray:
    """Text or a gradient, one as likely as the other."""
    return text_crop(rng, size) if rng.random() < 0.5 else gradient_crop(rng, size)
