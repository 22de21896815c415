"""Smoothed tiles: where an image is a smooth ramp, the codes' mottle filtered away.

The codes cannot draw a smooth gradient smoothly: their image of a ramp wanders a few levels
either side of it in patches a few latents wide (38.4 dB on the benchmark's first gradient at
quality 10, where WebP at the same size gives about 45), and more bits only shrink the patches.
A wide low-pass filter leaves a ramp as it is and takes the patches away: applied to those
tiles alone, the same file decodes to 45.5 dB. So a file of codes may carry a **smoothing map**
(format 15, docs/format.md "Smoothed tiles"): each 64 x 64 tile's strength, 0 (as decoded) or
1 .. 6, and the decoder replaces the pixels of each tile of strength s by the image as decoded
(exact tiles included) filtered by a box of radius ``RADII[s - 1]`` three times over. The filter
is integer arithmetic throughout, one division at the end, and it extends the image past its
edges point-symmetrically about each end's value on a least-squares line through the samples
nearest it, which leaves a linear ramp unchanged up to the image's border and does not copy the
edge pixels' own error into the border tiles (reflected about the edge pixel itself, the border
tiles kept 61-84% of the error on three gradients at quality 10, and the line took them from
46.4 to 52.0 dB, 46.4 to 47.9 and 46.8 to 49.9 dB). On photos the encoder finds next to nothing
to gain (0.01 dB on Kodak at quality 10), so it looks only at images that are mostly smooth
(:func:`candidates`).

The payload is one range-coder stream: the map, coded as exact tiles' map is but with seven
symbols and skipping exact tiles, then the terminator.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from .entropy import TERMINATOR, Reader, coder_errors, decode_tile_map, encode_tile_map, finish, queue, uniform_byte
from .errors import CorruptError
from .exact import TILE, grid_shape, tile_sums

#: Each strength's box radius (strength s >= 1 filters by RADII[s - 1]): on the benchmark's
#: gradients at quality 0 most tiles take 32 or 64, at quality 80 4 to 16.
RADII = (2, 4, 8, 16, 32, 64)
#: Box passes: three make the filter a near-Gaussian of deviation about 1.0 * radius.
PASSES = 3
#: The symbols of the map: strength 0 .. len(RADII).
SYMBOLS = len(RADII) + 1
#: A tile is a candidate when its mean squared error per channel against the image's 16 x 16
#: box means, bilinearly interpolated, is below this: every tile of the benchmark's gradients
#: (noise of deviation 1.5 levels included) and 1.5% of Kodak's tiles, skies.
CANDIDATE_ERROR = 4.0
#: The least share of an image's tiles that are candidates for the encoder to decode the image
#: to choose strengths (a decoder pass it would not make otherwise); when it has decoded anyway
#: (for exact tiles, or refining at an effort) any candidate is tried. Kodak: one image of 24 has 10%.
SHARE = 0.1
#: Output columns filtered at a time: bounds the memory of a wide image's band.
_COLUMNS = 2048


def allowed(width: int, height: int) -> bool:
    """Whether an image of this shape may carry a smoothing map: at least a tile each way. A band
    of tiles reads 2 * PASSES * radius rows beyond its own, so a 1-pixel-high strip would cost
    385 times its pixels (58 s of CPU per megapixel, measured) where a square costs 7."""
    return min(width, height) >= TILE


def candidates(rgb: np.ndarray) -> np.ndarray:
    """The tiles (rows, columns, bool) smooth enough for the encoder to try filtering (as the
    image is, not as decoded: the gate costs 13 ms on a Kodak image, not a decoder pass); a row
    of tiles at a time, so a large image holds one more uint8 copy of itself and no more."""
    height, width = rgb.shape[:2]
    image = Image.fromarray(rgb)
    small = image.resize((max(1, width // 16), max(1, height // 16)), Image.Resampling.BOX)
    near = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR))
    count = tile_sums(np.ones((TILE, width)))[0]
    found = np.zeros(grid_shape(width, height), bool)
    for r in range(found.shape[0]):
        rows = slice(r * TILE, (r + 1) * TILE)
        error = ((near[rows].astype(np.int32) - rgb[rows]) ** 2).mean(axis=2)
        found[r] = tile_sums(error)[0] / (count * error.shape[0] / TILE) < CANDIDATE_ERROR
    return found


def _mirror(i: np.ndarray, n: int) -> np.ndarray:
    """Positions on an axis of n samples: inside as they are, outside reflected about the end
    sample (and no further than the other end)."""
    return np.where(i < 0, np.minimum(-i, n - 1), np.where(i >= n, np.maximum(2 * (n - 1) - i, 0), i))


def _extension(values_at, n: int, lo: int, hi: int, span: int, top: int) -> np.ndarray:
    """Positions lo .. hi - 1 of an axis of n samples (``values_at(indices)``: those samples,
    float64, the axis first), extended past each end point-symmetrically about the end's value
    on the least-squares line through the ``span`` samples nearest it, rounded half up and
    clamped to 0 .. ``top``: a ramp continues as a ramp, and the end's own error is averaged
    with its neighbours' (about the end sample itself, the filter would copy it into the tile)."""
    i = np.arange(lo, hi)
    out = values_at(_mirror(i, n))
    span = min(span, n)
    j = np.arange(span)
    weights = (4 * span - 2 - 6 * j).astype(np.float64)  # the line's value at j = 0, times span (span + 1)
    scale = span * (span + 1)
    for outside, nearest in ((i < 0, j), (i >= n, n - 1 - j)):
        if outside.any():
            line = np.tensordot(weights, values_at(nearest), axes=(0, 0)).astype(np.int64)
            end = np.clip((2 * line + scale) // (2 * scale), 0, top)
            out[outside] = 2 * end - out[outside]
    return out


@lru_cache(maxsize=32)
def _kernel(radius: int, n: int) -> np.ndarray:
    """(n, n + 2 * PASSES * radius) float64: row i holds the PASSES-fold box's integer weights
    from column i on, so that ``K @ window`` filters n outputs along a window's first axis."""
    box = np.ones(2 * radius + 1)
    weights = box
    for _ in range(PASSES - 1):
        weights = np.convolve(weights, box)
    matrix = np.zeros((n, n + weights.size - 1))
    for i in range(n):
        matrix[i, i:i + weights.size] = weights
    return matrix


def filtered(rgb: np.ndarray, strength: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """The image filtered at ``strength`` over rows y0 .. y1 - 1 and columns x0 .. x1 - 1 (uint8):
    down the columns of the image extended past its top and bottom, then along the rows of that
    extended past their ends, each a sum weighted by the three-fold box; divided once, rounded
    half up, clamped to 0 .. 255 (docs/format.md, "Smoothed tiles").

    The sums are float64 matrix products, exact: every term and partial sum is an integer of
    magnitude at most 765 * (2 * 64 + 1) ** 6 < 2 ** 52."""
    height, width = rgb.shape[:2]
    r = RADII[strength - 1]
    reach, span, box = PASSES * r, 2 * r + 1, (2 * r + 1) ** PASSES
    chunks = -(-(x1 - x0) // TILE)
    lo, hi = x0 - reach, x0 + chunks * TILE + reach
    needed = [_mirror(np.arange(lo, hi), width)]
    if lo < 0 or hi > width:  # the ends' lines need the columns nearest each end
        needed += [np.arange(min(span, width)), width - 1 - np.arange(min(span, width))]
    cols = np.unique(np.concatenate(needed))
    down = _extension(lambda rows: rgb[np.ix_(rows, cols)].astype(np.float64), height, y0 - reach, y1 + reach, span, 255)
    across = (_kernel(r, y1 - y0) @ down.reshape(down.shape[0], -1)).reshape(y1 - y0, cols.size, 3)
    along = _extension(lambda at: across[:, np.searchsorted(cols, at)].transpose(1, 0, 2), width, lo, hi, span,
                       255 * box)  # (columns, rows, 3)
    strips = sliding_window_view(along.transpose(1, 2, 0), TILE + 2 * reach, axis=2)[:, :, ::TILE]
    total = (strips @ _kernel(r, TILE).T).reshape(y1 - y0, 3, -1).transpose(0, 2, 1)[:, :x1 - x0]
    divisor = box * box
    return np.clip((total.astype(np.int64) + divisor // 2) // divisor, 0, 255).astype(np.uint8)


def _bands(rgb: np.ndarray, needs: dict[int, np.ndarray]):
    """For each row of tiles: its first and last pixel row and, for each strength s in ``needs``
    (s -> tiles, bool), a band of the image filtered at s over the tiles of that row that need it
    (anything elsewhere): a tile row at a time, so memory stays a few bands."""
    height, width = rgb.shape[:2]
    for r in range(-(-height // TILE)):
        y0, y1 = r * TILE, min(height, (r + 1) * TILE)
        bands = {}
        for s, tiles in needs.items():
            cols = np.flatnonzero(tiles[r])
            if cols.size:
                band = bands[s] = np.zeros((y1 - y0, width, 3), np.uint8)
                for x0 in range(cols[0] * TILE, min(width, (cols[-1] + 1) * TILE), _COLUMNS):
                    x1 = min(width, (cols[-1] + 1) * TILE, x0 + _COLUMNS)
                    band[:, x0:x1] = filtered(rgb, s, y0, y1, x0, x1)
        yield r, y0, y1, bands


def _weights(n: int, tiles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For positions 0 .. n - 1 of an axis: the two tiles whose centres (64 k + 32) are nearest on
    either side (clamped to the tiles there are) and the second's weight of 64, the first's 64 minus it."""
    offset = np.arange(n) - TILE // 2
    first = np.floor_divide(offset, TILE)
    return np.clip(first, 0, tiles - 1), np.clip(first + 1, 0, tiles - 1), offset - TILE * first


def apply(rgb: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """``rgb`` (H, W, 3 uint8) with each pixel of a tile of strength s > 0 replaced by the blend of
    the image filtered at the strengths of the four tiles whose centres surround it, bilinear
    weights out of 64 x 64 (strength 0: the pixel as given). Blending, neighbouring tiles of
    different strengths meet without a seam (one showed as a step of a level or two across a
    smooth ramp). Every filter reads ``rgb`` as given."""
    height, width = rgb.shape[:2]
    rows, cols = strengths.shape
    out = rgb.copy()
    smoothed = strengths > 0
    around = np.pad(strengths, 1, mode="edge")
    needs: dict[int, np.ndarray] = {}
    for dy in range(3):
        for dx in range(3):
            near = around[dy:dy + rows, dx:dx + cols]
            for s in np.unique(near[smoothed]).tolist():
                if s:
                    needs[s] = needs.get(s, np.zeros((rows, cols), bool)) | (smoothed & (near == s))
    left, right, wx = _weights(width, cols)
    top, bottom, wy = _weights(height, rows)
    for r, y0, y1, bands in _bands(rgb, needs):
        if not smoothed[r].any():
            continue
        stack = np.zeros((SYMBOLS, y1 - y0, width, 3), np.uint8)
        stack[0] = rgb[y0:y1]
        for s, band in bands.items():
            stack[s] = band
        total = np.zeros((y1 - y0, width, 3), np.int64)
        for tile_rows, row_weight in ((top[y0:y1], TILE - wy[y0:y1]), (bottom[y0:y1], wy[y0:y1])):
            for tile_cols, col_weight in ((left, TILE - wx), (right, wx)):
                which = strengths[tile_rows[:, None], tile_cols[None, :]]
                value = np.take_along_axis(stack, which[None, :, :, None], axis=0)[0]
                total += (row_weight[:, None] * col_weight[None, :])[..., None] * value
        blended = ((total + TILE * TILE // 2) // (TILE * TILE)).astype(np.uint8)
        mask = np.repeat(smoothed[r], TILE)[:width]
        out[y0:y1, mask] = blended[:, mask]
    return out


def errors(decoded: np.ndarray, original: np.ndarray, tiles: np.ndarray,
           visible: np.ndarray | None = None) -> np.ndarray:
    """Squared error (where ``visible``) of each tile at each strength, the tile filtered alone
    (no blend): (SYMBOLS, rows, columns), strength 0 everywhere, the others only in ``tiles``
    (inf elsewhere). A row of tiles at a time."""

    def squared(rgb: np.ndarray, y0: int, y1: int) -> np.ndarray:
        error = ((rgb.astype(np.int32) - original[y0:y1]) ** 2).sum(axis=2).astype(np.float64)
        return tile_sums(error if visible is None else error * visible[y0:y1])[0]

    out = np.full((SYMBOLS, *tiles.shape), np.inf)
    for r, y0, y1, bands in _bands(decoded, {s: tiles for s in range(1, SYMBOLS)}):
        out[0, r] = squared(decoded[y0:y1], y0, y1)
        for s, band in bands.items():
            out[s, r, tiles[r]] = squared(band, y0, y1)[tiles[r]]
    return out


def choose(error: np.ndarray, per_bit: float, exact: np.ndarray | None = None) -> np.ndarray:
    """Each tile's strength for the least squared error plus ``per_bit`` times its bits in the
    map, counted from the symbols' frequencies in the choice before (the map's coder adapts to
    much that): first a map of zeros, then two rounds. Exact tiles get 0."""
    rows, cols = error.shape[1:]
    coded = np.ones((rows, cols), bool) if exact is None else ~exact
    choice = np.zeros((rows, cols), np.int64)
    for _ in range(2):
        above = np.vstack([np.zeros((1, cols), np.int64), choice[:-1]])
        counts = np.ones((SYMBOLS, SYMBOLS))
        np.add.at(counts, (above[coded], choice[coded]), 1)
        bits = -np.log2(counts / counts.sum(axis=1, keepdims=True))  # [above, symbol]
        cost = error + per_bit * bits[above].transpose(2, 0, 1)
        choice = np.where(coded, cost.argmin(axis=0), 0)
    return choice


def encode(strengths: np.ndarray, exact: np.ndarray | None = None) -> bytes:
    """The smoothing payload of a map of strengths (rows, columns), ``exact`` the file's exact
    tiles (skipped; their strength must be 0)."""
    if not strengths.any() or (exact is not None and strengths[exact].any()):
        raise ValueError("not a map the smoothing payload codes")
    encoder = queue.RangeEncoder()
    encode_tile_map(encoder, strengths, SYMBOLS, None if exact is None else ~exact)
    encoder.encode(TERMINATOR, uniform_byte)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode(payload: bytes, width: int, height: int, exact: np.ndarray | None = None) -> np.ndarray:
    """The map of strengths (rows, columns) of a smoothing payload; one that disagrees with the
    image raises CorruptError."""
    if not allowed(width, height):
        raise CorruptError(f"a {width}x{height} image cannot carry a smoothing map (less than {TILE} pixels across)")
    rows, cols = grid_shape(width, height)
    coded = np.ones((rows, cols), bool) if exact is None else ~exact
    if not coded.any():
        raise CorruptError("a smoothing map with every tile exact")
    with coder_errors():
        decoder = Reader(payload)
        strengths = decode_tile_map(decoder, rows, cols, SYMBOLS, coded)
        if not strengths.any():
            raise CorruptError("smoothing payload smooths no tile")
        finish(decoder, "smoothing payload")
    return strengths
