"""Exact tiles (vqcodec/exact.py): which tiles qualify, the payload's round trip, what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec import exact, palette
from vqcodec.errors import CorruptError

from .conftest import many_coloured_tiles

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


def test_tiles_of_more_colours_than_a_palette_stay_candidates_where_merging_fits_them():
    """A screenshot's anti-aliased text tiles have hundreds of colours each: all stay candidates
    (the encoder merges them to fit), not only the 16 whose exact colours fit."""
    rgb = many_coloured_tiles()
    tiles = exact.candidates(rgb)
    assert tiles.all()
    mask = exact.pixels_of(tiles, rgb.shape[1], rgb.shape[0])
    assert not exact.fits(exact.merge_table(rgb, mask, 0)) and exact.fits(exact.merge_table(rgb, mask, 96))


def test_candidates_stop_at_the_colours_a_palette_holds_where_no_merge_fits():
    """Squares of one colour each fill areas, so no tolerance merges them (a panel keeps its
    colour): 272 tiles of 16 such colours, and only the 256 that fit one palette are candidates."""
    rows, cols = 16, 17
    v = np.arange(rows * cols * 16, dtype=np.int64).reshape(rows, cols, 4, 4).transpose(0, 2, 1, 3).reshape(4 * rows, 4 * cols)
    v = (3 * v + 1).repeat(16, 0).repeat(16, 1)
    rgb = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], -1).astype(np.uint8)
    assert exact.candidates(rgb).sum() == palette.MAX_COLOURS // 16


def test_a_table_too_coloured_for_every_tile_fits_the_fewest_coloured_first():
    rgb = many_coloured_tiles()
    rgb[:TILE, :TILE] = 7  # one tile of one colour
    tiles = np.ones(exact.grid_shape(rgb.shape[1], rgb.shape[0]), bool)
    table = exact.merge_table(rgb, exact.pixels_of(tiles, rgb.shape[1], rgb.shape[0]), 0)
    fitting = exact.fitting(exact.tile_colours(rgb, tiles), tiles, table)
    assert fitting[0, 0] and fitting.sum() == 1 + (palette.MAX_COLOURS - 1) // 256
    assert exact.fitting([], tiles, exact.merge_table(rgb, exact.pixels_of(tiles, rgb.shape[1], rgb.shape[0]), 96)) is tiles


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31))
def test_choices_of_too_many_colours_are_merged_more_where_that_costs_least(seed):
    rgb = many_coloured_tiles()
    tiles = np.ones(exact.grid_shape(rgb.shape[1], rgb.shape[0]), bool)
    mask = exact.pixels_of(tiles, rgb.shape[1], rgb.shape[0])
    tables = [exact.merge_table(rgb, mask, 0), exact.merge_table(rgb, mask, 96)]
    rise = np.random.default_rng(seed).random(tiles.shape)
    scores = [np.zeros(tiles.shape), rise]
    colours = exact.tile_colours(rgb, tiles)
    choice = exact.fit_choices(colours, tiles, np.zeros(tiles.shape, np.int64), scores, tables)
    moved = choice == 1
    merged = np.zeros_like(rgb)
    for k, table in enumerate(tables):
        exact.merged(rgb, exact.pixels_of(choice == k, rgb.shape[1], rgb.shape[0]), table, out=merged)
    assert len(np.unique(palette.packed(merged))) <= palette.MAX_COLOURS  # it fits ...
    assert 0 < moved.sum() < tiles.size and rise[moved].max() <= rise[~moved].min()  # ... moving the cheapest
    assert exact.encode(merged, tiles)  # and codes


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
