"""Exact tiles (vqcodec/exact.py): which tiles qualify, the payload's round trip, what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec import exact, palette
from vqcodec.errors import CorruptError

TILE = exact.TILE


def _drawn(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Flat rectangles of a few colours: every tile a candidate."""
    rng = np.random.default_rng(seed)
    rgb = np.full((height, width, 3), 240, np.uint8)
    for _ in range(6):
        y, x = rng.integers(0, height), rng.integers(0, width)
        rgb[y:y + rng.integers(3, 40), x:x + rng.integers(3, 60)] = rng.integers(0, 256, 3)
    return rgb


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 150), st.integers(1, 200), st.integers(0, 2**31), st.integers(1, 6))
def test_the_tiles_decode_to_their_pixels_and_nothing_else(height, width, seed, tolerance):
    rgb = _drawn(height, width, seed)
    rows, cols = exact.grid_shape(width, height)
    tiles = np.random.default_rng(seed).random((rows, cols)) < 0.6
    tiles.flat[seed % tiles.size] = True
    payload = exact.encode(rgb, tiles)
    mask, pixels = exact.decode(payload, width, height)
    assert np.array_equal(mask, exact.pixels_of(tiles, width, height))
    assert np.array_equal(pixels[mask], rgb[mask]) and not pixels[~mask].any()


def test_drawn_tiles_are_candidates_and_noisy_or_unseen_ones_are_not():
    rgb = _drawn(2 * TILE, 3 * TILE)
    rng = np.random.default_rng(1)
    rgb[:TILE, TILE:2 * TILE] = rng.integers(100, 104, (TILE, TILE, 3))  # 64 colours of noise: a photo's sky
    hidden = np.zeros(rgb.shape[:2], bool)
    hidden[TILE:, 2 * TILE:] = True  # never seen
    assert exact.candidates(rgb, hidden).tolist() == [[True, False, True], [True, True, False]]
    assert exact.candidates(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)) is None


def test_ramps_the_smoothing_map_serves_are_no_candidates_but_flat_tiles_stay():
    """A ramp repeats its neighbours (a candidate) but costs less filtered (vqcodec/smooth.py):
    among the tiles smoothing may serve, only those of at most SMOOTH_COLOURS colours stay."""
    y, x = np.mgrid[0:TILE, 0:2 * TILE]
    rgb = np.stack([40 + x // 3, 60 + y // 3, 100 + (x + y) // 4], -1).astype(np.uint8)  # repeats, many colours
    rgb[:, TILE:] = (200, 200, 200)  # flat
    assert exact.candidates(rgb).tolist() == [[True, True]]
    assert exact.candidates(rgb, smooth=np.array([[True, True]])).tolist() == [[False, True]]


def test_candidates_stop_at_the_colours_a_palette_holds():
    """Tiles of 256 colours each, all different: only 16 fit in one palette section."""
    values = np.arange(32 * 256, dtype=np.int32).reshape(32, 16, 16).repeat(4, axis=1).repeat(4, axis=2)
    rgb = np.stack([values >> 8, values & 255, np.zeros_like(values)], axis=-1).astype(np.uint8)
    rgb = rgb.reshape(4, 8, TILE, TILE, 3).transpose(0, 2, 1, 3, 4).reshape(4 * TILE, 8 * TILE, 3)
    tiles = exact.candidates(rgb)
    assert tiles.sum() == palette.MAX_COLOURS // 256


@pytest.mark.parametrize("tolerance", [4, 16, 32])
def test_merged_colours_are_fewer_and_within_the_tolerance(tolerance):
    rng = np.random.default_rng(2)
    rgb = (np.linspace(0, 255, 200)[None, :, None] + rng.integers(-3, 4, (50, 200, 3))).clip(0, 255).astype(np.uint8)
    mask = np.zeros(rgb.shape[:2], bool)
    mask[:, :150] = True
    out = exact.merged(rgb, mask, exact.merge_table(rgb, mask, tolerance))
    colours = lambda a: len(np.unique(a.reshape(-1, 3), axis=0))  # noqa: E731
    assert colours(out[mask]) < colours(rgb[mask])
    assert np.abs(out.astype(int) - rgb).max() <= tolerance
    assert np.array_equal(out[~mask], rgb[~mask])
    seen, to = exact.merge_table(rgb, mask, 0)
    assert np.array_equal(seen, to)


def _stream(rows: list[list[int]]) -> bytes:
    """A payload whose tile map is ``rows``, then a palette's colours (but no pixel's index)."""
    from vqcodec.entropy import TERMINATOR, encode_tile_map, queue, uniform_byte

    encoder = queue.RangeEncoder()
    encode_tile_map(encoder, np.array(rows), 2)
    encoder.encode(np.array([0, 0, 9, 9, 9], np.int32), uniform_byte)  # P - 1 = 0, colour (9, 9, 9)
    encoder.encode(TERMINATOR, uniform_byte)
    return encoder.get_compressed().astype("<u4").tobytes()


def test_a_map_of_no_tile_is_corrupt():
    with pytest.raises(CorruptError, match="no tile"):
        exact.decode(_stream([[0, 0], [0, 0]]), 2 * TILE, 2 * TILE)


def test_a_word_more_or_an_image_too_long_is_corrupt():
    rgb = _drawn(100, 130)
    payload = exact.encode(rgb, np.ones(exact.grid_shape(130, 100), bool))
    with pytest.raises(CorruptError):
        exact.decode(payload + bytes(4), 130, 100)
    with pytest.raises(CorruptError, match="cannot hold exact tiles"):
        exact.decode(payload, 40_000, 1)


def test_a_colour_that_fills_an_area_is_never_merged():
    """A panel a few levels off the background keeps its colour at any tolerance (merged in some
    tiles and not in others, it would show the tiles), while a scattered shade near it merges."""
    rgb = np.full((64, 128, 3), 40, np.uint8)
    rgb[:, 64:] = 46  # a panel, 6 levels lighter
    rgb[::7, ::5] = 43  # scattered anti-aliasing shades
    mask = np.ones(rgb.shape[:2], bool)
    out = exact.merged(rgb, mask, exact.merge_table(rgb, mask, 16))
    assert (out[1:, 65:][rgb[1:, 65:] == 46] == 46).all()
    assert not (out == 43).any()
