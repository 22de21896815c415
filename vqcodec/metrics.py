"""Quality and rate-distortion measures: PSNR, MS-SSIM, Bjontegaard delta rate.

Conventions are those of the learned-compression literature: metrics on 8-bit
RGB, computed per image and then averaged.
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # MS-SSIM runs on torch, imported when it is asked for: coding needs no torch
    import torch

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli & Bovik (2003)


def squared_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None, rows: int = 256) -> float:
    """Sum of squared differences of uint8 images (H, W, 3) where ``mask`` (H, W) is true, in
    8-bit levels, a band of rows at a time: float copies of a 50-megapixel image would take GBs."""
    total = 0
    for y in range(0, a.shape[0], rows):
        d = a[y:y + rows].astype(np.int32) - b[y:y + rows]
        if mask is not None:
            d *= mask[y:y + rows, :, None]
        total += int(np.einsum("ijk,ijk->", d, d, dtype=np.int64))
    return float(total)


def psnr(a: np.ndarray, b: np.ndarray, weight: np.ndarray | None = None) -> float:
    """PSNR in dB between two uint8 images (H, W) or (H, W, C) (inf if identical); with ``weight``
    (H, W, e.g. an alpha plane), each pixel's error counts in proportion to it, so a fully
    transparent pixel not at all (the error of what is seen). Summed a band of rows at a time,
    so a 50-megapixel image needs no float copy of itself."""
    if a.shape != b.shape or (weight is not None and weight.shape != a.shape[:2]):
        raise ValueError(f"psnr of shapes {a.shape}, {b.shape} and weight {None if weight is None else weight.shape}")
    rows = max(1, (1 << 20) // max(1, a[:1].size))
    total, count = 0.0, 0.0
    for y in range(0, a.shape[0], rows):
        err = np.square(a[y:y + rows].astype(np.float64) - b[y:y + rows])
        if err.ndim == 3:
            err = err.sum(axis=2)
        w = None if weight is None else weight[y:y + rows].astype(np.float64)
        total += float(err.sum() if w is None else (err * w).sum())
        count += err.size if w is None else float(w.sum())
    channels = a.shape[2] if a.ndim == 3 else 1
    mse = total / (count * channels) if count else 0.0
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    import torch

    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float):
    """Mean SSIM and contrast-structure per channel, valid (unpadded) Gaussian filtering."""
    import torch.nn.functional as F

    c = x.shape[1]
    wx = window.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    wy = window.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, wx, groups=c), wy, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs
    return ssim.mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Multi-scale SSIM (5 scales) of two uint8 images, averaged over channels.

    Needs both sides above 160 pixels, as the 11-tap window must fit the
    coarsest scale. Needs torch.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.array(a, dtype=np.float64))
    y = torch.from_numpy(np.array(b, dtype=np.float64))
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    x, y = x.permute(2, 0, 1)[None], y.permute(2, 0, 1)[None]
    if min(x.shape[-2:]) <= 160:
        raise ValueError("MS-SSIM needs both image sides above 160 pixels")
    window = _gaussian_window()
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64)
    factors = []
    for level in range(len(weights)):
        ssim, cs = _ssim_and_cs(x, y, window, 255.0)
        if level < len(weights) - 1:
            factors.append(torch.relu(cs))
            # odd sides: zero-pad both ends, as pytorch_msssim (used by CompressAI) does
            pad = (x.shape[-2] % 2, x.shape[-1] % 2)
            x = F.avg_pool2d(x, 2, padding=pad)
            y = F.avg_pool2d(y, 2, padding=pad)
    factors.append(torch.relu(ssim))
    values = torch.stack(factors, 0)  # (levels, B, C)
    return float(torch.prod(values ** weights.view(-1, 1, 1), dim=0).mean())


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on a dB scale, -10 log10(1 - MS-SSIM), as RD plots report it."""
    return float("inf") if value >= 1 else -10 * math.log10(1 - value)


def bd_rate(anchor_rate, anchor_quality, test_rate, test_quality) -> float:
    """Bjontegaard delta rate in percent of ``test`` against ``anchor``.

    Fits log-rate as a cubic (or lower with fewer points) polynomial of quality
    for each curve and averages their difference over the overlapping quality
    range. Negative means the test codec needs fewer bits for the same quality.
    """
    ra, qa = np.log(np.asarray(anchor_rate, float)), np.asarray(anchor_quality, float)
    rt, qt = np.log(np.asarray(test_rate, float)), np.asarray(test_quality, float)
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if hi <= lo:
        raise ValueError("the two curves do not overlap in quality")
    pa = np.polyint(np.polyfit(qa, ra, min(3, len(qa) - 1)))
    pt = np.polyint(np.polyfit(qt, rt, min(3, len(qt) - 1)))
    avg = (np.polyval(pt, hi) - np.polyval(pt, lo) - np.polyval(pa, hi) + np.polyval(pa, lo)) / (hi - lo)
    return float((math.exp(avg) - 1) * 100)


def quality_at_rate(rates, qualities, target: float) -> float | None:
    """Quality at ``target`` rate by interpolation in log-rate; None outside the curve."""
    r = np.log(np.asarray(rates, float))
    q = np.asarray(qualities, float)
    order = np.argsort(r)
    r, q = r[order], q[order]
    t = math.log(target)
    if t < r[0] or t > r[-1]:
        return None
    return float(np.interp(t, r, q))
