"""Shared fixtures: a tiny model (fast, real network and real coder) and test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vqcodec.training.model import VQVAE, ModelConfig
from vqcodec.training.train import measure_prior, sort_codebooks
from vqcodec.weights import load_model, save_model

TINY = ModelConfig(channels=16, latent_dim=8, codebook_size=32)


def smooth_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB test image: smooth gradients plus a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([128 + 100 * np.sin(x / 23 + k) * np.cos(y / 17 - k) for k in range(3)], -1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def make_tiny_model(directory: Path, seed: int = 0) -> Path:
    """Save a randomly initialised tiny model whose prior and rate control are measured on a test image."""
    torch.manual_seed(seed)
    net = VQVAE(TINY).eval()
    net.quantizer.codebooks.data.mul_(3.0)  # spread the codes over the latent range
    sort_codebooks(net)
    save_model(directory, net, *measure_prior(net, [smooth_image(64, 64, seed)], lam_high=0.3, lam_low=3e-4,
                                              levels=101, sets=3))
    return directory


def photo_folder(directory: Path, count: int) -> Path:
    """A folder ``directory / "photos"`` of ``count`` small photo-like PNGs, to train on."""
    folder = directory / "photos"
    folder.mkdir()
    for seed in range(count):
        Image.fromarray(smooth_image(64, 48, seed)).save(folder / f"{seed}.png")
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    return load_model(tiny_model_dir)


@pytest.fixture()
def photo_path(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(smooth_image(61, 45)).save(path)
    return path


def ramp(width: int = 192, height: int = 128) -> np.ndarray:
    """A smooth linear ramp in each channel: what a smoothing map (vqcodec/smooth.py) is for."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([40 + x * 150 // width, 60 + y * 150 // height, 200 - x * 75 // width], -1).astype(np.uint8)


def ramp_and_drawing() -> np.ndarray:
    """192 x 128: a ramp, and on the right flat rectangles over it (exact tiles) beside noise: a
    file of codes with both exact tiles and a smoothing map."""
    rgb = ramp()
    rgb[:, 128:] = half_drawn()[:, :64]
    rgb[:64, 128:] = 250
    rgb[10:50, 140:180] = (200, 30, 30)
    return rgb


def half_drawn(seed: int = 0) -> np.ndarray:
    """128 x 128: noise on the left (too many colours for a palette file), flat rectangles on
    the right (two exact tiles): what a file with exact tiles is made of."""
    rng = np.random.default_rng(seed)
    rgb = np.full((128, 128, 3), 250, np.uint8)
    rgb[:, :64] = rng.integers(0, 256, (128, 64, 3))
    rgb[10:50, 70:120] = (200, 30, 30)
    rgb[80:100, 66:110] = (30, 30, 200)
    return rgb


def many_coloured_tiles() -> np.ndarray:
    """512 x 256: 32 tiles of 256 colours each, all different, 8192 in all (twice what a palette
    holds), as a screenshot's anti-aliased text tiles have hundreds each."""
    values = np.arange(32 * 256, dtype=np.int32).reshape(32, 16, 16).repeat(4, axis=1).repeat(4, axis=2)
    rgb = np.stack([values >> 8, values & 255, np.zeros_like(values)], axis=-1).astype(np.uint8)
    return rgb.reshape(4, 8, 64, 64, 3).transpose(0, 2, 1, 3, 4).reshape(256, 512, 3)
