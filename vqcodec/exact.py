"""Exact tiles: the parts of an image drawn in few colours, coded losslessly beside the codes.

A drawn application window is mostly flat panels, rules and anti-aliased text, with a photo or a
chart inset. The learned transform blurs the text and leaves a haze along panel edges (29.3 dB
at 0.674 bpp on the benchmark's first drawn window, where WebP gives 34.7 dB at 0.599), while the
palette coder (:mod:`palette`) codes such parts exactly in fewer bits; but the inset has too many
colours for a palette file. So a file of codes may also carry **exact tiles**: tiles of TILE x TILE
pixels of at most MAX_TILE_COLOURS colours each, coded by the palette coder with every other
pixel skipped, which replace what the codes decode there. The encoder codes the rest from an
image whose exact tiles are filled smoothly (as under alpha 0), so the codes spend little there.

The payload (docs/format.md, "Exact tiles") is one range-coder stream: the tile map, one bit per
tile row by row under adaptive counts, then a palette section as the palette payload's over the
pixels of the exact tiles alone, then the terminator.
"""

from __future__ import annotations

import numpy as np

from . import palette
from .entropy import TERMINATOR, Reader, coder_errors, decode_tile_map, encode_tile_map, finish, queue, uniform_byte
from .errors import CorruptError

#: Side of a tile in pixels: the colour correction's cell, 8 x 8 latents.
TILE = 64
#: The most colours a tile may have to be a candidate (a tile of anti-aliased text on one
#: background has a few dozen, where the slices of an anti-aliased pie chart meet 384; a photo's,
#: thousands, and the rules below keep out those with fewer).
MAX_TILE_COLOURS = 1024
#: The least share of a tile's pixels that must equal a neighbour coded before them (left,
#: upper, upper-left or upper-right) for it to be a candidate: on the drawn kinds of
#: benchmarks/kinds.py 95% of tiles of few colours reach 0.77, on Kodak 5% reach 0.74 (a
#: photo's flat-looking tile is noise, costly to code exactly).
MIN_MATCHING = 0.75
#: ... or the least share of its pixels its two commonest colours must cover (dense anti-aliased
#: text on a background: 0.56-0.72 on the drawn kinds' tiles that miss MIN_MATCHING, where
#: photos' tiles of few colours reach 0.43 at their 95th percentile on Kodak).
MIN_TWO_COLOURS = 0.5
#: A tile the smoothing map may serve (smooth.candidates) with more colours than this is no
#: candidate: a ramp repeats its neighbours but is cheaper filtered than exact, and as a candidate
#: it made the encoder code the image twice (a 2400 x 1600 ramp: 14 of its 23 s, for a file
#: without exact tiles).
SMOOTH_COLOURS = 16
#: Pixels inside areas of one colour (:func:`merge_table`) that make it a colour never merged.
FLAT_PIXELS = 64
#: The least share of an image's tiles that are candidates for the encoder to code the rest from
#: the image with them filled (a second run of the encoder and the decoder, about doubling the
#: time); below it the tiles go beside the image's own codes. The fill's gain grows with the
#: share: on kodim20 (a white sky, 10% of tiles) it saved 1% of the bytes at quality 55 and
#: turned the file from plain codes to codes and tiles, at 1.8x the time. A photo's one or two
#: flat tiles (30 of 100 training photos have some, 2.9% of their tiles) are not worth that.
FILL_SHARE = 0.1
#: The merging tolerances (levels) an encoder tries for each tile's colours (:func:`merge_table`):
#: exact, then coarser, which the rate weight of a low quality prefers.
TOLERANCES = (0, 4, 8, 16, 32, 48, 64, 96)


class TooManyColours(ValueError):
    """Tiles whose colours do not fit a palette: an encoder merges them more (:func:`fits`)."""


def grid_shape(width: int, height: int) -> tuple[int, int]:
    """Rows and columns of tiles over an image (partial tiles at the right and bottom count)."""
    return -(-height // TILE), -(-width // TILE)


def pixels_of(tiles: np.ndarray, width: int, height: int) -> np.ndarray:
    """The (H, W) mask of the pixels in the tiles marked in ``tiles`` (rows, columns)."""
    return tiles.repeat(TILE, axis=0).repeat(TILE, axis=1)[:height, :width]


def tile_sums(values: np.ndarray) -> np.ndarray:
    """The sum of ``values`` (H, W) over each tile (rows, columns), a row of tiles at a time (a
    padded copy of a 52-megapixel image of floats would be 0.4 GB)."""
    height, width = values.shape
    cols = grid_shape(width, height)[1]
    sums = []
    for top in range(0, height, TILE):
        band = np.zeros((TILE, cols * TILE), values.dtype)
        band[:min(TILE, height - top), :width] = values[top:top + TILE]
        sums.append(band.reshape(TILE, cols, TILE).sum(axis=(0, 2)))
    return np.stack(sums)


def _matching(band: np.ndarray, above: np.ndarray | None) -> np.ndarray:
    """Which pixels of ``band`` (rows of packed colours) equal their left, upper, upper-left or
    upper-right neighbour (``above``: the row over the band, or None at the top)."""
    top = np.full(band.shape[1], -1, np.int32) if above is None else above
    p = np.pad(np.vstack([top, band]), ((0, 0), (1, 1)), constant_values=-1)
    c = p[1:, 1:-1]
    return (c == p[1:, :-2]) | (c == p[:-1, 1:-1]) | (c == p[:-1, :-2]) | (c == p[:-1, 2:])


def candidates(rgb: np.ndarray, hidden: np.ndarray | None = None, smooth: np.ndarray | None = None) -> np.ndarray | None:
    """The tiles (rows, columns, bool) an encoder may code exactly: those with a pixel seen (not
    ``hidden``) and at most MAX_TILE_COLOURS colours, whose seen pixels mostly (MIN_MATCHING)
    repeat a neighbour or are mostly (MIN_TWO_COLOURS) of two colours, as drawn things are and
    photos are not; of the tiles in ``smooth``, only those of at most SMOOTH_COLOURS colours.
    All of them if their colours together (black for hidden pixels, as coded) fit a palette
    (palette.MAX_COLOURS), exactly or merged at the coarsest tolerance (:func:`fits`: the encoder
    then codes them merged, at the tolerances that fit); else the fewest-coloured first while
    their colours fit exactly. A screenshot's anti-aliased text tiles have hundreds of colours
    each: dropped for the palette's sake, they went to the codes, which blur text (real
    screenshots at levels 30-80: 1.3-2.2 dB worse at the same bytes, docs/training.md). None if
    there is none or the image's shape cannot hold a palette section."""
    height, width = rgb.shape[:2]
    if not palette.codable(width, height):
        return None
    rows, cols = grid_shape(width, height)
    starts = np.arange(0, width, TILE)
    found = []  # (colours, row, column, the colours) of each tile that qualifies, a row of tiles at a time
    above = None
    for r in range(rows):
        unseen = np.zeros((min(TILE, height - r * TILE), width), bool) if hidden is None else hidden[r * TILE:(r + 1) * TILE]
        band = palette.packed(rgb[r * TILE:(r + 1) * TILE])
        matching = _matching(band, above) & ~unseen
        above = band[-1]
        seen = np.add.reduceat((~unseen).sum(axis=0), starts)
        shares = np.add.reduceat(matching.sum(axis=0), starts) / np.maximum(seen, 1)
        band = np.pad(np.where(unseen, -1, band), ((0, TILE - band.shape[0]), (0, cols * TILE - width)),
                      constant_values=-1)  # -1: hidden or outside, not a colour of the tile
        per_tile = np.sort(band.reshape(TILE, cols, TILE).transpose(1, 0, 2).reshape(cols, -1), axis=1)
        for c in np.flatnonzero(seen > 0):
            colours, runs = np.unique(per_tile[c], return_counts=True)  # sorted: -1 first
            if colours[0] == -1:
                colours, runs = colours[1:], runs[1:]
                if unseen[:, c * TILE:(c + 1) * TILE].any():
                    colours = np.union1d(colours, [0])  # hidden pixels are coded black
            if colours.size > (SMOOTH_COLOURS if smooth is not None and smooth[r, c] else MAX_TILE_COLOURS):
                continue
            if shares[c] >= MIN_MATCHING or np.sort(runs)[-2:].sum() >= MIN_TWO_COLOURS * seen[c]:
                found.append((colours.size, r, int(c), colours.astype(np.int32)))
    tiles = np.zeros((rows, cols), bool)
    if not found:
        return None
    for _, r, c, _ in found:
        tiles[r, c] = True
    if np.unique(np.concatenate([colours for *_, colours in found])).size <= palette.MAX_COLOURS:
        return tiles
    shown = rgb if hidden is None else np.where(hidden[..., None], 0, rgb).astype(np.uint8)
    if fits(merge_table(shown, pixels_of(tiles, width, height), TOLERANCES[-1])):
        return tiles
    tiles = _fewest_first([colours for *_, colours in found], np.array([(r, c) for _, r, c, _ in found]), tiles.shape)
    return tiles if tiles.any() else None


def fits(table: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether tiles merged as ``table`` (:func:`merge_table`) say have few enough colours for a palette."""
    return np.unique(table[1]).size <= palette.MAX_COLOURS


def tile_colours(rgb: np.ndarray, tiles: np.ndarray) -> list[np.ndarray]:
    """The packed colours of each tile in ``tiles`` (in ``np.argwhere`` order), ascending."""
    return [np.unique(palette.packed(rgb[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE])) for r, c in np.argwhere(tiles)]


def _merged_colours(colours: np.ndarray, table: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """A tile's colours (packed, of the table's) as ``table`` merges them."""
    seen, to = table
    return np.unique(to[np.searchsorted(seen, colours)])


def fitting(colours: list[np.ndarray], tiles: np.ndarray, table: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The tiles (rows, columns) that may be merged as ``table`` says: all if so merged their colours
    (``colours``, :func:`tile_colours`) fit a palette, else the fewest-coloured first while they fit."""
    if fits(table):
        return tiles
    return _fewest_first([_merged_colours(c, table) for c in colours], np.argwhere(tiles), tiles.shape)


def _fewest_first(colours: list[np.ndarray], at: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The tiles (``shape``, bool) at positions ``at`` (N, 2) of ``colours`` (N sets of packed
    colours) taken fewest colours first (ties in the given order) while their colours together fit
    a palette."""
    out = np.zeros(shape, bool)
    kept = np.empty(0, np.int64)
    for i in sorted(range(len(colours)), key=lambda i: colours[i].size):
        union = np.union1d(kept, colours[i])
        if union.size <= palette.MAX_COLOURS:
            kept, out[tuple(at[i])] = union, True
    return out


def fit_choices(colours: list[np.ndarray], tiles: np.ndarray, choice: np.ndarray, scores: list[np.ndarray],
                tables: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each tile's merge (``choice``: an index into ``tables``, -1 where no tile) made coarser where
    the tiles' colours together (``colours``, :func:`tile_colours`) would not fit a palette: one tile
    at a time, the one whose next table raises its ``scores`` (rows, columns; one array per table)
    least, until they fit. The last table fits alone, so all tiles at it fit: a screenshot keeps
    its text tiles and, at a high level, as many exact tiles as the palette holds."""
    levels = choice[tiles].copy()
    rise = np.stack(scores)[:, tiles]
    with np.errstate(invalid="ignore"):  # inf - inf: a move from one table a tile cannot take to another
        rise = np.vstack([np.diff(rise, axis=0), np.full((1, rise.shape[1]), np.inf)])
    rise = np.nan_to_num(rise, nan=np.inf)
    used: dict[int, int] = {}

    def count(i: int, change: int) -> None:
        for v in _merged_colours(colours[i], tables[levels[i]]).tolist():
            used[v] = used.get(v, 0) + change
            if not used[v]:
                del used[v]

    for i in range(levels.size):
        count(i, 1)
    tile = np.arange(levels.size)
    while len(used) > palette.MAX_COLOURS:
        i = int(np.argmin(rise[levels, tile]))  # the last table's row is infinite: no move past it
        count(i, -1)
        levels[i] += 1
        count(i, 1)
    out = choice.copy()
    out[tiles] = levels
    return out


def merge_table(rgb: np.ndarray, mask: np.ndarray, tolerance: int) -> tuple[np.ndarray, np.ndarray]:
    """The colours of the pixels in ``mask`` merged, as a table: the colours present (packed
    24-bit, ascending) and what each becomes. Most frequent first, each colour is kept unless one
    already kept lies within ``tolerance`` levels in every channel, and then becomes the nearest
    such one. A colour that fills areas (FLAT_PIXELS pixels whose left, upper and upper-left
    neighbours share it) is always kept: moved, a panel would show the tiles that merged it apart
    from those that did not. Fewer colours and more repeats make exact tiles cheaper: at a low
    quality the encoder codes its tiles merged (no error above ``tolerance``)."""
    seen, counts = np.unique(palette.packed(rgb[mask]), return_counts=True)
    if tolerance == 0:
        return seen, seen
    flat = np.zeros(seen.size, np.int64)
    for top in range(0, mask.shape[0], TILE):  # a row of tiles at a time, with the row above it
        lo = max(top - 1, 0)
        v = palette.packed(rgb[lo:top + TILE])
        inside = mask[lo:top + TILE].copy()
        inside[1:, 1:] &= (v[1:, 1:] == v[1:, :-1]) & (v[1:, 1:] == v[:-1, 1:]) & (v[1:, 1:] == v[:-1, :-1])
        inside[0, :] = inside[:, 0] = False  # the row above is the band before's (or the image's first)
        np.add.at(flat, np.searchsorted(seen, v[inside]), 1)
    colours = palette.unpacked(seen).astype(np.int32)
    kept = np.empty((0, 3), np.int32)
    to = np.empty(seen.size, np.int64)
    for i in np.argsort(-counts, kind="stable"):
        c = colours[i]
        near = np.abs(kept - c).max(axis=1) <= tolerance
        if near.any() and flat[i] < FLAT_PIXELS:  # the nearest of those within the tolerance
            to[i] = np.where(near, ((kept - c) ** 2).sum(axis=1), np.iinfo(np.int64).max).argmin()
        else:
            to[i] = kept.shape[0]
            kept = np.vstack([kept, c])
    return seen, palette.packed(kept[to])


def merged(rgb: np.ndarray, where: np.ndarray, table: tuple[np.ndarray, np.ndarray],
           out: np.ndarray | None = None) -> np.ndarray:
    """``rgb`` with the pixels in ``where`` (all of them in the table's colours) replaced as
    :func:`merge_table`'s ``table`` says, into ``out`` (a new copy when None; ``rgb`` itself may
    be it), a row of tiles at a time."""
    seen, to = table
    out = rgb.copy() if out is None else out
    for top in range(0, rgb.shape[0], TILE):
        rows = slice(top, top + TILE)
        inside = where[rows]
        out[rows][inside] = palette.unpacked(to[np.searchsorted(seen, palette.packed(rgb[rows][inside]))])
    return out


def encode(rgb: np.ndarray, tiles: np.ndarray, bits: np.ndarray | None = None,
           table: tuple[np.ndarray, np.ndarray] | None = None) -> bytes:
    """The exact tiles' payload of ``rgb`` (H, W, 3) for ``tiles`` (as :func:`candidates` gives),
    the tiles' colours merged as ``table`` (:func:`merge_table`) says if given (no merged copy of
    the image is made); ``bits`` (rows, columns, zeros) gets each tile's information content
    (palette.encode_into)."""
    height, width = rgb.shape[:2]
    if tiles.shape != grid_shape(width, height) or not tiles.any() or not palette.codable(width, height):
        raise ValueError("not tiles the exact tiles' payload codes")
    encoder = queue.RangeEncoder()
    encode_tile_map(encoder, tiles, 2)
    mask = pixels_of(tiles, width, height)

    def band(top: int) -> np.ndarray:  # a row of tiles' packed colours where the mask is, as coded
        rows = slice(top, top + TILE)
        values = palette.packed(rgb[rows][mask[rows]])
        return values if table is None else table[1][np.searchsorted(table[0], values)]

    seen = np.unique(np.concatenate([band(top) for top in range(0, height, TILE)]))
    if seen.size > palette.MAX_COLOURS:
        raise TooManyColours(f"the tiles have {seen.size} colours, more than a palette holds")
    grid, inner = palette.index_grid(height, width, seen.size)
    for top in range(0, height, TILE):  # a row of tiles at a time: int64 indices of a large image are GBs
        rows = slice(top, top + TILE)
        inner[rows][mask[rows]] = np.searchsorted(seen, band(top))
    palette.encode_into(encoder, palette.unpacked(seen), grid, mask, bits, TILE)
    encoder.encode(TERMINATOR, uniform_byte)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode(payload: bytes, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The mask (H, W) of the exact pixels and the (H, W, 3) uint8 image holding them (black
    elsewhere); a payload that disagrees with the image raises CorruptError."""
    if not palette.codable(width, height):
        raise CorruptError(f"a {width}x{height} image cannot hold exact tiles")
    rows, cols = grid_shape(width, height)
    with coder_errors():
        decoder = Reader(payload)
        tiles = decode_tile_map(decoder, rows, cols, 2).astype(bool)
        if not tiles.any():
            raise CorruptError("exact tiles' payload marks no tile")
        mask = pixels_of(tiles, width, height)
        colours, indices = palette.decode_from(decoder, width, height, mask)
        finish(decoder, "exact tiles' payload")
    return mask, np.where(mask[..., None], colours[np.minimum(indices, colours.shape[0] - 1)], 0).astype(np.uint8)
