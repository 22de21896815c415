"""Metrics against independent computations and known answers."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.metrics import bd_rate, ms_ssim, ms_ssim_db, psnr, quality_at_rate

from .conftest import smooth_image


def test_psnr_by_hand():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 12  # MSE = 144 / 12
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 12))
    assert psnr(a, a) == float("inf")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([None, 1, 3]), st.integers(0, 2**31))
def test_weighted_psnr_counts_each_pixel_by_its_weight(h, w, channels, seed):
    """Weight 0 pixels do not count; a constant weight is the plain PSNR; by hand otherwise."""
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels is None else (h, w, channels)
    a, b = (rng.integers(0, 256, shape, np.uint8) for _ in range(2))
    weight = rng.integers(0, 256, (h, w), np.uint8)
    err = np.square(a.astype(np.float64) - b).reshape(h, w, -1)
    by_hand = (err * weight[..., None]).sum() / (weight.sum() * err.shape[2]) if weight.sum() else 0.0
    expected = math.inf if by_hand == 0 else 10 * math.log10(255**2 / by_hand)
    assert psnr(a, b, weight) == pytest.approx(expected, rel=1e-9)
    assert psnr(a, b, np.full((h, w), 7, np.uint8)) == pytest.approx(psnr(a, b), rel=1e-9)
    hidden = b.copy()
    hidden[weight == 0] = 255 - hidden[weight == 0]  # what is not seen does not change the figure
    assert psnr(a, hidden, weight) == pytest.approx(psnr(a, b, weight), rel=1e-9)


def test_ms_ssim_matches_pytorch_msssim():
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    rng = np.random.default_rng(0)
    a = smooth_image(200, 177)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    to_t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].double()  # noqa: E731
    ref = pytorch_msssim.ms_ssim(to_t(a), to_t(b), data_range=255, size_average=True).item()
    assert ms_ssim(a, b) == pytest.approx(ref, abs=1e-6)
    assert ms_ssim(a, a) == pytest.approx(1.0)


def test_ms_ssim_needs_large_enough_images():
    with pytest.raises(ValueError):
        ms_ssim(np.zeros((100, 300, 3), np.uint8), np.zeros((100, 300, 3), np.uint8))


def test_ms_ssim_db():
    assert ms_ssim_db(0.99) == pytest.approx(20.0)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.3, 3.0), st.integers(4, 8))
def test_bd_rate_of_a_curve_shifted_in_rate(factor, points):
    rate = np.geomspace(0.1, 1.0, points)
    quality = 20 + 8 * np.log2(rate * 10) + 0.5 * np.sin(rate)  # any monotone curve
    assert bd_rate(rate, quality, rate * factor, quality) == pytest.approx((factor - 1) * 100, abs=1e-6)


def test_bd_rate_needs_overlap():
    with pytest.raises(ValueError):
        bd_rate([1, 2, 3, 4], [20, 21, 22, 23], [1, 2, 3, 4], [30, 31, 32, 33])


def test_quality_at_rate_interpolates_in_log_rate():
    assert quality_at_rate([0.1, 0.4], [20.0, 30.0], 0.2) == pytest.approx(25.0)
    assert quality_at_rate([0.1, 0.4], [20.0, 30.0], 0.5) is None
