"""The colour correction: a coarse map of per-channel offsets added to the decoded image.

At low rates rate control takes, over a smooth region, the cheap code its
neighbours predict at every position, and each position's error has the same
sign: the region's mean colour comes back a few levels off (kodim02's red door
7 levels too green at quality 10), blotches spanning many blocks. Measured on
smooth Kodak photos at quality 10, 83-87% of the flat blocks' squared error is
their mean colour, two thirds of it shared over 32 x 32 pixels
(docs/training.md). Codes that followed the region's mean exactly would cost
bits at every position; a region's mean costs a few bits once.

So a file may carry, after its codes, a grid of integers ``k[c][i][j]`` every
:data:`STRIDE` pixels per colour channel, times a step of :data:`STEPS`; the
decoder adds their bilinear interpolation to its output before rounding. The
encoder estimates the decoded error without decoding: a latent's error moves
its 8 x 8 block's mean colour through the decoder's linear path (the block
transform) by ``block_means @ error``, which measures most of what the full
decoder does (on Kodak, qualities 0-50: -2.8% BD-rate against -3.2% fitted to
the decoded error, which would cost the encoder a decode). It fits the grid to
that estimate by least squares and keeps the step (or none) that buys the most
error per bit at the quality's rate weight.

The integers are coded under one of :data:`SPREADS` two-sided geometric tables,
chosen per file: integer counts computed with integer arithmetic, so the
decoder needs no table from the model and no float chooses a probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Pixels between the grid's points (each point sits at the centre of its STRIDE x STRIDE cell).
STRIDE = 64
#: Step of the integers in 8-bit levels, by the file's step index; index 0: no correction.
STEPS = (0, 1, 2, 3, 4, 6, 8, 12)
#: Integers run from -LIMIT to LIMIT.
LIMIT = 31
#: Geometric tables: an integer ``v`` counts ``floor(2^16 * (a/16)^|v|)`` (at least 1), ``a`` = 1 .. 15.
SPREADS = 16
#: Channels corrected (RGB).
CHANNELS = 3


@dataclass(frozen=True)
class Correction:
    """A file's correction: step index (0: none), table ``spread`` (1 .. 15) and integers (3, gh, gw)."""

    step: int
    spread: int
    values: np.ndarray

    @property
    def active(self) -> bool:
        return self.step != 0


NONE = Correction(0, 0, np.zeros((CHANNELS, 0, 0), np.int64))


def grid_shape(width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of the grid of an image: one point per started STRIDE x STRIDE cell."""
    return -(-height // STRIDE), -(-width // STRIDE)


@lru_cache(maxsize=SPREADS)
def counts(spread: int) -> np.ndarray:
    """Integer counts of -LIMIT .. LIMIT under table ``spread`` (exact integer arithmetic)."""
    if not 1 <= spread < SPREADS:
        raise ValueError(f"spread {spread} outside 1 .. {SPREADS - 1}")
    half = [max(1, (1 << 16) * spread ** v // SPREADS ** v) for v in range(LIMIT + 1)]
    return np.array(half[:0:-1] + half, np.int64)


@lru_cache(maxsize=SPREADS)
def _bits(spread: int) -> np.ndarray:
    n = counts(spread)
    return -np.log2(n / n.sum())


#: Bits of the step symbol and, with a correction, of the table's (both uniform).
_HEADER_BITS = (np.log2(len(STEPS)), np.log2(len(STEPS)) + np.log2(SPREADS))


def _value_bits(values: np.ndarray, spreads: range = range(1, SPREADS)) -> tuple[int, float]:
    """The table (of ``spreads``) that codes ``values`` in the fewest bits, and those bits."""
    hist = np.bincount(np.abs(values).ravel(), minlength=LIMIT + 1)  # tables are symmetric
    costs = [float((hist * _bits(a)[LIMIT:]).sum()) for a in spreads]
    best = int(np.argmin(costs))
    return spreads[best], costs[best]


def bits(correction: Correction) -> float:
    """The ideal code length of a correction in the stream, in bits."""
    if not correction.active:
        return float(_HEADER_BITS[0])
    return float(_HEADER_BITS[1] + _value_bits(correction.values, range(correction.spread, correction.spread + 1))[1])


def interpolation(start: int, stop: int, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For pixels start .. stop-1 along one axis: the grid points either side (``lo``, ``hi``) and
    the weight ``frac`` of ``hi``: linear between the two points whose cells' centres surround the
    pixel, the nearest point alone beyond the first and last centre. Two taps a pixel, so no
    array grows with the grid (an image a pixel tall and 10^8 wide has 10^6 points)."""
    return _taps(np.arange(start, stop, dtype=np.float64) + 0.5, points)


def _taps(at: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`interpolation`'s taps at pixel coordinates ``at`` (a pixel's centre is its index + 0.5)."""
    pos = np.clip(at / STRIDE - 0.5, 0, points - 1)
    lo = np.floor(pos).astype(np.int64)
    return lo, np.minimum(lo + 1, points - 1), pos - lo


def _along(frac: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """``frac`` shaped to broadcast along ``axis`` of an ``ndim``-dimensional array."""
    shape = [1] * ndim
    shape[axis] = frac.size
    return frac.reshape(shape)


def _expand(grid: np.ndarray, axis: int, taps: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """``grid`` interpolated along ``axis`` at the positions of ``taps``."""
    lo, hi, frac = taps
    out = np.take(grid, lo, axis)
    step = np.take(grid, hi, axis)
    step -= out  # in place: two arrays of the result's size, not five (a tile's are 9 MB each)
    step *= _along(frac.astype(grid.dtype, copy=False), grid.ndim, axis)
    out += step
    return out


def _gather(values: np.ndarray, axis: int, taps: tuple[np.ndarray, np.ndarray, np.ndarray], points: int) -> np.ndarray:
    """The transpose of :func:`_expand`: each position's ``values`` spread back onto its two points
    (taps ascend, so each point's share is a run of positions: one reduceat per side)."""
    lo, hi, frac = taps
    frac = _along(frac, values.ndim, axis)
    out_shape = list(values.shape)
    out_shape[axis] = points
    out = np.zeros(out_shape)
    for at, part in ((lo, values * (1 - frac)), (hi, values * frac)):
        starts = np.flatnonzero(np.r_[True, at[1:] != at[:-1]])
        index = [slice(None)] * values.ndim
        index[axis] = at[starts]
        out[tuple(index)] += np.add.reduceat(part, starts, axis)
    return out


def offsets(correction: Correction, rows: slice, cols: slice, width: int, height: int) -> np.ndarray:
    """The correction (3, rows, cols) in 8-bit levels over a window of the image's pixels."""
    gh, gw = grid_shape(width, height)
    ty, tx = interpolation(rows.start, rows.stop, gh), interpolation(cols.start, cols.stop, gw)
    i0, j0 = int(ty[0][0]), int(tx[0][0])  # the window's points only
    part = STEPS[correction.step] * correction.values[:, i0:int(ty[1][-1]) + 1, j0:int(tx[1][-1]) + 1]
    part = _expand(part.astype(np.float64), 1, (ty[0] - i0, ty[1] - i0, ty[2])).astype(np.float32)
    return _expand(part, 2, (tx[0] - j0, tx[1] - j0, tx[2]))  # the window's size: float32


#: Sweeps of the least-squares fit (diagonally preconditioned; five reach within 1% of the exact
#: solution's error on Kodak's grids, and each costs a few passes over the latent map).
FIT_SWEEPS = 8


def block_means(block_weight: np.ndarray) -> np.ndarray:
    """(3, D): how a latent's change moves its 8 x 8 block's mean colour, in 8-bit levels, through
    the decoder's linear path, from its weight (3 * 64, D) (channel ``c * 64 + i * 8 + j``)."""
    d = block_weight.shape[1]
    return 255.0 * block_weight.reshape(CHANNELS, -1, d).mean(1)


def colour_error(indices: np.ndarray, values: np.ndarray, latents: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The estimated error (3, h, w) of each 8 x 8 block's mean colour, in 8-bit levels, when code
    indices (M, h, w) decode to ``values`` (M, K, d) instead of ``latents`` (D, h, w), given
    :func:`block_means`: one latent channel at a time, so a 50-megapixel photo's latents are not
    copied (they take 300 MB)."""
    m_count, h, w = indices.shape
    d = values.shape[2]
    out = np.zeros((CHANNELS, h, w))
    for m in range(m_count):
        decoded = values[m][indices[m]]  # (h, w, d)
        for i in range(d):
            c = m * d + i
            out += means[:, c, None, None] * (decoded[..., i] - latents[c])
    return out


def fit(error: np.ndarray, width: int, height: int, bit_weight: float) -> Correction:
    """The correction for blocks whose mean colours are off by ``error`` (3, h, w) (from
    :func:`colour_error`), where a bit weighs ``bit_weight`` squared 8-bit levels: the step (or
    none) that scores best by estimated squared error plus weighed bits."""
    h, w = error.shape[1:]
    gh, gw = grid_shape(width, height)
    target = -error  # to be undone; a block's centre stands for its 64 pixels
    base = float((target ** 2).sum())
    if 64.0 * base <= bit_weight * _HEADER_BITS[1]:  # even undoing all of it would not pay
        return NONE
    # taps at the blocks' centres (between their pixels 3 and 4)
    ty, tx = (_taps(8 * np.arange(n, dtype=np.float64) + 4, g) for n, g in ((h, gh), (w, gw)))

    def expand(g: np.ndarray) -> np.ndarray:
        return _expand(_expand(g, 1, ty), 2, tx)

    def gather(t: np.ndarray) -> np.ndarray:
        return _gather(_gather(t, 1, ty, gh), 2, tx, gw)

    scale = gather(expand(np.ones((1, gh, gw))))  # a diagonal preconditioner (A^T A 1)
    scale[scale == 0] = 1
    grid = np.zeros((CHANNELS, gh, gw))
    for _ in range(FIT_SWEEPS):
        grid += gather(target - expand(grid)) / scale
    best, best_cost = NONE, bit_weight * bits(NONE)
    for step in range(1, len(STEPS)):
        k = np.clip(np.rint(grid / STEPS[step]), -LIMIT, LIMIT).astype(np.int64)
        if not k.any():
            continue
        left = target - STEPS[step] * expand(k.astype(np.float64))
        gain = 64.0 * (base - float((left ** 2).sum()))
        spread, value_bits = _value_bits(k)
        cost = -gain + bit_weight * (_HEADER_BITS[1] + value_bits)
        if cost < best_cost:
            best, best_cost = Correction(step, spread, k), cost
    return best


def choose(indices: np.ndarray, values: np.ndarray, latents: np.ndarray, means: np.ndarray, width: int,
           height: int, bit_weight: float) -> Correction:
    """The correction the encoder codes for a (width x height) image whose latents (D, h, w) took
    code indices (M, h, w) decoding to ``values``: :func:`fit` of :func:`colour_error`. Files and
    correction-aware fine-tuning both call this, so training sees what files carry."""
    return fit(colour_error(indices, values, latents, means), width, height, bit_weight)
