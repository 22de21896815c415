"""Smoothed tiles (vqcodec/smooth.py): the filter as docs/format.md specifies it, the map's
coding, and what the encoder chooses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec import smooth
from vqcodec.errors import CorruptError
from vqcodec.exact import TILE

from .conftest import ramp, smooth_image


def _by_the_spec(rgb: np.ndarray, strength: int) -> np.ndarray:
    """The filter written as docs/format.md says, sample by sample, in Python integers: down each
    column of the image extended past its top and bottom, then along each row of that extended
    past its ends, each extension reflected about the end's value on the least-squares line."""
    r = smooth.RADII[strength - 1]
    reach, span, box = 3 * r, 2 * r + 1, (2 * r + 1) ** 3
    ones = np.ones(2 * r + 1, np.int64)
    k = np.convolve(np.convolve(ones, ones), ones).tolist()

    def extended(values: list[int], top: int) -> list[int]:
        n, length = len(values), min(span, len(values))

        def end(samples: list[int]) -> int:
            line = sum((4 * length - 2 - 6 * j) * samples[j] for j in range(length))
            scale = length * (length + 1)
            return min(max((2 * line + scale) // (2 * scale), 0), top)

        first, last = end(values), end(values[::-1])
        out = []
        for i in range(-reach, n + reach):
            if i < 0:
                out.append(2 * first - values[min(-i, n - 1)])
            elif i >= n:
                out.append(2 * last - values[max(2 * (n - 1) - i, 0)])
            else:
                out.append(values[i])
        return out

    def filtered(values: list[int], top: int) -> list[int]:
        e = extended(values, top)
        return [sum(k[a] * e[y + a] for a in range(6 * r + 1)) for y in range(len(values))]

    height, width = rgb.shape[:2]
    out = np.zeros((height, width, 3), np.uint8)
    for c in range(3):
        columns = [filtered([int(v) for v in rgb[:, x, c]], 255) for x in range(width)]
        for y in range(height):
            row = filtered([columns[x][y] for x in range(width)], 255 * box)
            for x in range(width):
                out[y, x, c] = min(max((row[x] + box * box // 2) // (box * box), 0), 255)
    return out


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 11), st.integers(1, 11), st.integers(1, 2), st.integers(0, 2**32 - 1))
def test_the_filter_is_the_specs_integer_sum_whatever_the_shape(width, height, strength, seed):
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)
    assert np.array_equal(smooth.filtered(rgb, strength, 0, height, 0, width), _by_the_spec(rgb, strength))


@pytest.mark.parametrize("shape", [(5, 6), (3, 140), (140, 2)])
def test_the_widest_filter_sums_exactly_at_its_extremes(shape):
    """Black and white stripes whose ends' lines leave 0 .. 255 (clamped) and whose extensions
    reach -255 and 510: the largest sums the float products carry."""
    height, width = shape
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[::2, ::2] = 255
    rgb[0] = 255
    rgb[:, :3, 1] = 255
    assert np.array_equal(smooth.filtered(rgb, 6, 0, height, 0, width), _by_the_spec(rgb, 6))


def test_a_region_is_the_whole_images_filter_there():
    rgb = smooth_image(150, 90, 3)
    whole = smooth.filtered(rgb, 3, 0, 90, 0, 150)
    assert np.array_equal(smooth.filtered(rgb, 3, 64, 90, 64, 128), whole[64:90, 64:128])


@pytest.mark.parametrize("strength", range(1, smooth.SYMBOLS))
def test_a_linear_ramp_stays_a_ramp_up_to_the_border(strength):
    """The point-symmetric extension: a ramp's filter is the ramp (rounding aside) at the edges too."""
    rgb = ramp(600, 400)
    out = smooth.filtered(rgb, strength, 0, 400, 0, 600)
    assert np.abs(out.astype(int) - rgb).max() <= 1


def _blended_by_the_spec(rgb: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """docs/format.md's blend, pixel by pixel: in a smoothed tile, the four tiles whose centres
    (64 k + 32) surround the pixel, clamped to the image's tiles, weighted bilinearly out of 64 x 64."""
    height, width = rgb.shape[:2]
    rows, cols = strengths.shape
    by = {0: rgb.astype(np.int64)}
    by.update({s: smooth.filtered(rgb, s, 0, height, 0, width).astype(np.int64) for s in range(1, smooth.SYMBOLS)})
    out = rgb.copy()

    def near(p: int, n: int) -> list[tuple[int, int]]:
        k, w = (p - TILE // 2) // TILE, (p - TILE // 2) % TILE
        return [(min(max(k, 0), n - 1), TILE - w), (min(max(k + 1, 0), n - 1), w)]

    for y in range(height):
        for x in range(width):
            if strengths[y // TILE, x // TILE]:
                total = sum(wr * wc * by[int(strengths[r, c])][y, x] for r, wr in near(y, rows) for c, wc in near(x, cols))
                out[y, x] = (total + TILE * TILE // 2) // (TILE * TILE)
    return out


def test_apply_blends_the_filters_of_the_surrounding_tiles_in_smoothed_tiles_alone():
    rgb = smooth_image(3 * TILE, 2 * TILE - 9, 1)
    strengths = np.array([[0, 2, 6], [5, 0, 1]])
    out = smooth.apply(rgb, strengths)
    assert np.array_equal(out, _blended_by_the_spec(rgb, strengths))
    assert np.array_equal(out[:TILE, :TILE], rgb[:TILE, :TILE]) and np.array_equal(out[TILE:, TILE:2 * TILE], rgb[TILE:, TILE:2 * TILE])
    same = smooth.apply(rgb, np.full((2, 3), 4))  # one strength everywhere: the filter itself
    assert np.array_equal(same, smooth.filtered(rgb, 4, 0, 2 * TILE - 9, 0, 3 * TILE))


def test_tiles_of_different_strengths_meet_without_a_seam():
    """The step across the boundary between a lightly and a heavily smoothed tile of a mottled
    ramp is no larger than the steps inside them (unblended, it was a level or two more)."""
    rng = np.random.default_rng(3)
    mottled = np.clip(ramp(2 * TILE, TILE).astype(int) + np.kron(rng.integers(-3, 4, (8, 16, 1)), np.ones((8, 8, 1), int)),
                      0, 255).astype(np.uint8)
    out = smooth.apply(mottled, np.array([[2, 6]])).astype(int)
    steps = np.abs(np.diff(out, axis=1)).max(axis=(0, 2))
    assert steps[TILE - 1] <= max(steps[TILE - 8:TILE - 1].max(), steps[TILE:TILE + 7].max())


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_the_map_round_trips_skipping_exact_tiles(rows, cols, seed):
    rng = np.random.default_rng(seed)
    exact = rng.random((rows, cols)) < 0.3
    strengths = np.where(exact, 0, rng.integers(0, smooth.SYMBOLS, (rows, cols)))
    if exact.all() or not strengths.any():
        return
    payload = smooth.encode(strengths, exact)
    assert np.array_equal(smooth.decode(payload, cols * TILE, rows * TILE - 3 * (rows > 1), exact), strengths)


def test_maps_no_encoder_writes_are_corrupt():
    with pytest.raises(ValueError):
        smooth.encode(np.zeros((2, 2), np.int64))  # nothing to smooth: no map
    with pytest.raises(ValueError):
        smooth.encode(np.array([[1, 0]]), np.array([[True, False]]))  # an exact tile smoothed
    from vqcodec.entropy import TERMINATOR, encode_tile_map, queue, uniform_byte

    encoder = queue.RangeEncoder()
    encode_tile_map(encoder, np.zeros((2, 2), np.int64), smooth.SYMBOLS)
    encoder.encode(TERMINATOR, uniform_byte)
    with pytest.raises(CorruptError, match="smooths no tile"):
        smooth.decode(encoder.get_compressed().astype("<u4").tobytes(), 2 * TILE, 2 * TILE)
    payload = smooth.encode(np.array([[0, 3], [1, 0]]))
    with pytest.raises(CorruptError, match="every tile exact"):
        smooth.decode(payload, 2 * TILE, 2 * TILE, np.ones((2, 2), bool))
    with pytest.raises(CorruptError):
        smooth.decode(payload + bytes(4), 2 * TILE, 2 * TILE)
    for width, height in ((1, 200_000), (200_000, 1), (30_000, TILE - 1)):  # thin: refused before any work
        with pytest.raises(CorruptError, match="cannot carry a smoothing map"):
            smooth.decode(payload, width, height)


def test_ramps_are_candidates_and_noise_is_not():
    rgb = ramp(4 * TILE, 2 * TILE)
    rgb[:, 2 * TILE:] = np.random.default_rng(0).integers(0, 256, (2 * TILE, 2 * TILE, 3))
    found = smooth.candidates(rgb)
    assert found[:, 0].all() and not found[:, 2:].any()  # (the tile beside the noise sees its edge)


def test_the_encoder_smooths_where_it_pays_for_its_bits():
    """A mottled ramp: filtered where the error falls by more than the map's bits cost, never where
    a filter adds error, and nowhere when bits cost more than any error saved."""
    rng = np.random.default_rng(2)
    truth = ramp(4 * TILE, 2 * TILE)
    mottle = np.kron(rng.integers(-4, 5, (16, 32, 1)), np.ones((8, 8, 1), np.int64))
    decoded = np.clip(truth + mottle, 0, 255).astype(np.uint8)
    decoded[:, 3 * TILE:] = truth[:, 3 * TILE:]  # decoded exactly there: nothing to gain
    error = smooth.errors(decoded, truth, np.ones((2, 4), bool))
    choice = smooth.choose(error, per_bit=1.0)
    assert (choice[:, :3] > 0).all() and (choice[:, 3] == 0).all()
    assert not smooth.choose(error, per_bit=1e9).any()
    assert (smooth.choose(error, 1.0, np.array([[True] * 4, [False] * 4]))[0] == 0).all()
