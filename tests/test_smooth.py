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
    """The filter written as docs/format.md says, pixel by pixel: the image extended
    point-symmetrically row-wise then column-wise, weighted by the three-fold box, one division."""
    r = smooth.RADII[strength - 1]
    height, width = rgb.shape[:2]
    reach = 3 * r

    def ext(n: int, i: int) -> tuple[int, int]:
        if i < 0:
            return 0, min(-i, n - 1)
        if i >= n:
            return n - 1, max(2 * (n - 1) - i, 0)
        return i, i

    extended = np.zeros((height + 2 * reach, width + 2 * reach, 3), np.int64)
    for y in range(-reach, height + reach):
        ey, my = ext(height, y)
        row = 2 * rgb[ey].astype(np.int64) - rgb[my]
        for x in range(-reach, width + reach):
            ex, mx = ext(width, x)
            extended[y + reach, x + reach] = 2 * row[ex] - row[mx]
    box = np.ones(2 * r + 1, np.int64)
    k = np.convolve(np.convolve(box, box), box)
    out = np.zeros((height, width, 3), np.int64)
    for y in range(height):
        for x in range(width):
            out[y, x] = np.einsum("i,j,ijc->c", k, k, extended[y:y + 2 * reach + 1, x:x + 2 * reach + 1])
    divisor = (2 * r + 1) ** 6
    return np.clip((out + divisor // 2) // divisor, 0, 255).astype(np.uint8)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 11), st.integers(1, 11), st.integers(1, 2), st.integers(0, 2**32 - 1))
def test_the_filter_is_the_specs_integer_sum_whatever_the_shape(width, height, strength, seed):
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)
    assert np.array_equal(smooth.filtered(rgb, strength, 0, height, 0, width), _by_the_spec(rgb, strength))


def test_the_widest_filter_sums_exactly_at_its_extremes():
    """Black and white pixels extended to -255 and 510: the largest sums the float products carry."""
    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[::2, ::2] = 255
    rgb[0] = 255
    assert np.array_equal(smooth.filtered(rgb, 6, 0, 5, 0, 6), _by_the_spec(rgb, 6))


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


def test_apply_filters_only_the_tiles_of_a_strength_and_reads_the_image_as_given():
    rgb = smooth_image(3 * TILE, 2 * TILE, 1)
    strengths = np.array([[0, 2, 0], [5, 0, 0]])
    out = smooth.apply(rgb, strengths)
    assert np.array_equal(out[:TILE, :TILE], rgb[:TILE, :TILE]) and np.array_equal(out[TILE:, TILE:], rgb[TILE:, TILE:])
    assert np.array_equal(out[:TILE, TILE:2 * TILE], smooth.filtered(rgb, 2, 0, TILE, 0, 3 * TILE)[:, TILE:2 * TILE])
    assert np.array_equal(out[TILE:, :TILE], smooth.filtered(rgb, 5, TILE, 2 * TILE, 0, TILE))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_the_map_round_trips_skipping_exact_tiles(rows, cols, seed):
    rng = np.random.default_rng(seed)
    exact = rng.random((rows, cols)) < 0.3
    strengths = np.where(exact, 0, rng.integers(0, smooth.SYMBOLS, (rows, cols)))
    if exact.all() or not strengths.any():
        return
    payload = smooth.encode(strengths, exact)
    assert np.array_equal(smooth.decode(payload, cols * TILE - 5, rows * TILE - 3, exact), strengths)


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
