"""Training data: a folder of photos held in memory, sampled as random crops.

Photos are decoded once into uint8 arrays (the 425-photo training set is about
0.5 GB decoded); a crop is then a slice, so batches cost microseconds and both
cores stay on the network rather than on JPEG/WebP decoding.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import TrainingDataError
from .synthetic import synthetic_crop

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}


def list_images(directory: str | os.PathLike) -> list[Path]:
    """Image files directly in ``directory``, sorted by name."""
    return sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def split_holdout(paths: list[Path], count: int) -> tuple[list[Path], list[Path]]:
    """Deterministically hold ``count`` photos aside for validation (by name hash), but
    never more than a fifth of them: a small folder still trains on the rest."""
    ranked = sorted(paths, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    held = set(ranked[:min(count, len(paths) // 5)])
    return [p for p in paths if p not in held], [p for p in paths if p in held]


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


class CropSampler:
    """Random ``crop`` x ``crop`` patches with random flips, as float tensors in [0, 1]; a
    share ``synthetic`` of them drawn instead as text or gradients (:mod:`synthetic`)."""

    def __init__(self, images: list[np.ndarray], crop: int, seed: int, synthetic: float = 0.0) -> None:
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        if not self.images:
            raise TrainingDataError(f"none of the {len(images)} training photos is at least {crop}x{crop} pixels "
                                    "(add larger photos or lower --crop)")
        self.crop = crop
        self.synthetic = synthetic
        self.rng = np.random.default_rng(seed)
        areas = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        self.weights = areas / areas.sum()  # sample pixels uniformly, not images

    def batch(self, size: int) -> torch.Tensor:
        c = self.crop
        out = np.empty((size, c, c, 3), dtype=np.uint8)
        for i, k in enumerate(self.rng.choice(len(self.images), size=size, p=self.weights)):
            if self.synthetic and self.rng.random() < self.synthetic:  # no draw at 0: older runs resume exactly
                out[i] = synthetic_crop(self.rng, c)
                continue
            im = self.images[k]
            y = self.rng.integers(0, im.shape[0] - c + 1)
            x = self.rng.integers(0, im.shape[1] - c + 1)
            patch = im[y : y + c, x : x + c]
            if self.rng.random() < 0.5:
                patch = patch[:, ::-1]
            if self.rng.random() < 0.5:
                patch = patch[::-1]
            out[i] = patch
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
