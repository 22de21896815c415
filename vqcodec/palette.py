"""Lossless coding of images of few colours: text, screenshots, diagrams, icons.

A learned transform spends its bits on what photos hold; a page of anti-aliased text has a few
hundred colours, sharp edges, and long flat runs that a context model codes in a fraction of
the bits (the benchmark's text page: 77 KB exact, where the VQ codes give 37 dB in 208 KB). So an
image of at most MAX_COLOURS colours is also coded here, exactly, and the encoder keeps
whichever file is smaller (``codec.py``); docs/format.md's "Palette payload" is the spec.

Each pixel's palette index is coded in wavefront order (pixel (y, x) in step ``x + 2y``, so its
left, upper-left, upper and upper-right neighbours are known and a step's pixels are decoded at
once) as one of five symbols: equal to the left (0), upper (1), upper-left (2) or upper-right (3)
neighbour, the first in that order that matches, or an escape (4) followed by the index itself.
The match symbol codes under a context of the neighbours' equalities, the escape's index under
the left neighbour's colour; both tables are integer counts that adapt as the image is coded,
from the same starting counts on both sides, so decoding is exact on any machine.
"""

from __future__ import annotations

import numpy as np

from .entropy import TERMINATOR, Reader, categorical_family, coder_errors, finish, queue, uniform_byte
from .errors import CorruptError
from .prior import distinct

#: The most colours an image coded here may have: a screenshot's anti-aliased text on coloured
#: backgrounds takes a thousand or two.
MAX_COLOURS = 4096
#: An escaped index is coded as its high part (index >> LOW_BITS) under the left neighbour's
#: index, then its low part under the high one and, if the left neighbour's index has the same
#: high part, that neighbour's low part: tables of (P + 1) x P / 256 and P / 256 x 257 x 256
#: counts, not (P + 1) x P (for P <= 256, the index under the left neighbour's).
LOW_BITS = 8
_LOW_MASK = (1 << LOW_BITS) - 1
_LOW_CONTEXTS = (1 << LOW_BITS) + 1
#: Match symbols: equal to the left, upper, upper-left or upper-right neighbour, or an escape.
ESCAPE = 4
SYMBOLS = 5
#: Contexts of the match symbol: six equalities among the four neighbours, and whether the pixel
#: two to the left equals the left one and the pixel two above the upper one.
CONTEXTS = 256
#: Images whose wavefront has more steps than this and than a 32nd of their pixels are not
#: coded here (a step costs the same fixed work whatever its length: a 1-pixel-wide strip would
#: take a step per pixel).
FREE_STEPS = 4096
#: ... and never more than this: each step costs a decoder 30-95 us of fixed work (a valid
#: 116-byte file of 5,422,938 x 33 pixels took 163 s; a 1 MB file of 131,000 x 33 of escapes,
#: 12 s), so a palette file decodes within about 3 s. Squares up to 10,900 pixels across fit;
#: images of width + 2 * height over 32,768 go through the codes instead.
MAX_STEPS = 1 << 15


def steps_of(width: int, height: int) -> int:
    """How many wavefront steps an image of ``width`` x ``height`` takes."""
    return width + 2 * (height - 1)


def codable(width: int, height: int) -> bool:
    """Whether an image of this shape may be coded here (its steps are few for its pixels)."""
    return steps_of(width, height) <= min(MAX_STEPS, max(FREE_STEPS, width * height // 32))


def packed(rgb: np.ndarray) -> np.ndarray:
    """Colours (..., 3) uint8 as 24-bit numbers ``R << 16 | G << 8 | B`` (int32)."""
    v = rgb[..., 0].astype(np.int32) << 16  # channel by channel: no int32 copy of all three
    v |= rgb[..., 1].astype(np.int32) << 8
    v |= rgb[..., 2]
    return v


def unpacked(values: np.ndarray) -> np.ndarray:
    """Inverse of :func:`packed`: 24-bit numbers as colours (..., 3) uint8."""
    return np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=-1).astype(np.uint8)


def palette_of(rgb: np.ndarray, hidden: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The colours (P, 3) uint8 of an (H, W, 3) image, ascending as 24-bit numbers, and each
    pixel's index (H, W) into them, pixels where ``hidden`` (H, W) is true taken as black; None
    if it has more than MAX_COLOURS colours. Rows are read 65536 pixels at a time: a photo is
    known as one after its first rows, and a large one never has a packed copy made."""
    h, w, _ = rgb.shape
    rows = max(1, 65536 // w)

    def band(y: int) -> np.ndarray:
        part = packed(rgb[y:y + rows])
        return part if hidden is None else np.where(hidden[y:y + rows], 0, part)

    seen = np.empty(0, np.int32)
    for y in range(0, h, rows):
        seen = distinct(np.concatenate([seen, band(y).ravel()]))
        if seen.size > MAX_COLOURS:
            return None
    indices = np.concatenate([np.searchsorted(seen, band(y)).astype(np.int16) for y in range(0, h, rows)])
    return unpacked(seen), indices


def _probabilities(rows: np.ndarray) -> np.ndarray:
    """Float rows of probabilities from integer counts: exact on every machine."""
    rows = rows.astype(np.float64)
    return rows / rows.sum(axis=1, keepdims=True)


def _code(coder, symbols: np.ndarray, probabilities: np.ndarray, bits: np.ndarray | None) -> None:
    """Encode ``symbols`` under their rows of ``probabilities``, adding their information content
    to ``bits`` (if given)."""
    coder.encode(symbols.astype(np.int32), categorical_family, probabilities)
    if bits is not None:
        bits -= np.log2(probabilities[np.arange(symbols.size), symbols])


class _Tables:
    """The adaptive counts both sides keep: match symbols per context; an escaped index's high
    part per left neighbour (its index, or P outside the image), its low part per high part and
    left neighbour's low part (LOW_BITS and more when the high parts differ)."""

    def __init__(self, colours: int) -> None:
        self.colours = colours
        self.highs = ((colours - 1) >> LOW_BITS) + 1
        self.match = np.ones((CONTEXTS, SYMBOLS), np.int64)
        self.high = np.ones((colours + 1, self.highs), np.int64)
        self.low = np.ones((self.highs * _LOW_CONTEXTS, 1 << LOW_BITS), np.int64)

    def match_probabilities(self, ctx: np.ndarray) -> np.ndarray:
        return _probabilities(self.match[ctx])

    def code_escapes(self, coder, left: np.ndarray, which: np.ndarray | None,
                     bits: np.ndarray | None = None) -> np.ndarray:
        """Encode the escaped indices ``which`` (given) or decode them (None) under their left
        neighbours ``left``; a part with one possible value takes no bits. ``bits``: an array
        (one per escape) the encoder adds each escape's information content to."""
        if self.highs == 1:
            high = np.zeros(left.size, np.int64)
        elif which is None:
            high = coder.decode(categorical_family, _probabilities(self.high[left])).astype(np.int64)
        else:
            high = which >> LOW_BITS
            _code(coder, high, _probabilities(self.high[left]), bits)
        same = (left >> LOW_BITS == high) & (left < self.colours)
        ctx = high * _LOW_CONTEXTS + np.where(same, left & _LOW_MASK, _LOW_CONTEXTS - 1)
        if self.colours == 1:
            low = np.zeros(left.size, np.int64)
        elif which is None:
            low = coder.decode(categorical_family, _probabilities(self.low[ctx])).astype(np.int64)
        else:
            low = which & _LOW_MASK
            _code(coder, low, _probabilities(self.low[ctx]), bits)
        np.add.at(self.high, (left, high), 1)
        np.add.at(self.low, (ctx, low), 1)
        return high << LOW_BITS | low

    def update(self, ctx: np.ndarray, symbols: np.ndarray) -> None:
        self.match += np.bincount(ctx * SYMBOLS + symbols, minlength=CONTEXTS * SYMBOLS).reshape(CONTEXTS, SYMBOLS)


def _wavefronts(width: int, height: int):
    """Each step's pixels as a slice of the padded map (2 rows above, 2 columns either side)."""
    stride = width + 4
    for t in range(steps_of(width, height)):
        y_lo, y_hi = max(0, -(-(t - width + 1) // 2)), min(height - 1, t // 2)
        first = (y_lo + 2) * stride + (t - 2 * y_lo) + 2
        yield slice(first, first + (y_hi - y_lo) * (stride - 2) + 1, stride - 2), stride


def _neighbours(near, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The match context of some pixels and their four candidate neighbours (4, n), ``near(offset)``
    giving each pixel's neighbour at that offset in the flat padded grid."""
    left, up, up_left, up_right = near(-1), near(-stride), near(-stride - 1), near(-stride + 1)
    ctx = ((left == up).astype(np.int64) | (left == up_left) << 1 | (left == up_right) << 2 | (up == up_left) << 3
           | (up == up_right) << 4 | (up_left == up_right) << 5 | (near(-2) == left) << 6 | (near(-2 * stride) == up) << 7)
    return ctx, np.stack([left, up, up_left, up_right])


def _context(flat: np.ndarray, at: slice, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_neighbours` of a step's pixels (a slice of the flat padded grid)."""
    return _neighbours(lambda offset: flat[at.start + offset:at.stop + offset:at.step], stride)


def _padded(height: int, width: int, outside: int) -> np.ndarray:
    return np.full((height + 2, width + 4), outside, np.int16)


def index_grid(height: int, width: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid :func:`encode_into` reads (2 rows above, 2 columns either side, all ``count``, the
    palette's size, which stands for outside and for pixels not coded) and its (H, W) view for the
    caller to write each coded pixel's index into: no second full-size copy of the indices."""
    grid = _padded(height, width, count)
    return grid, grid[2:, 2:-2]


def encode(colours: np.ndarray, indices: np.ndarray) -> bytes:
    """The payload of an image given as :func:`palette_of`'s colours and indices, as 32-bit words."""
    height, width = indices.shape
    if not codable(width, height):
        raise ValueError("not an image the palette payload codes")
    encoder = queue.RangeEncoder()
    grid, inner = index_grid(height, width, colours.shape[0])
    inner[:] = indices
    encode_into(encoder, colours, grid)
    encoder.encode(TERMINATOR, uniform_byte)
    return encoder.get_compressed().astype("<u4").tobytes()


def encode_into(encoder, colours: np.ndarray, grid: np.ndarray, coded: np.ndarray | None = None,
                bits: np.ndarray | None = None, block: int = 1) -> None:
    """Code the palette and the indices of the pixels where ``coded`` (H, W, bool; all when None)
    is true into ``encoder``: the part of a palette payload before its terminator, which the exact
    tiles of a file of codes (:mod:`exact`) share. ``grid`` is :func:`index_grid`'s, each coded
    pixel's index written in; pixels not coded are neighbours of index P.
    ``bits`` (floats, zeros, one per ``block`` x ``block`` pixels: (H, W) by default): each coded
    pixel's information content is added to its block's, what an encoder weighs one part of the
    image by (the palette's own bytes are not counted)."""
    height, width = grid.shape[0] - 2, grid.shape[1] - 4
    count = colours.shape[0]
    if not 1 <= count <= MAX_COLOURS:
        raise ValueError("not a palette the payload codes")
    flat = grid.ravel()
    tables = _Tables(count)
    encoder.encode(np.array([(count - 1) >> 8, (count - 1) & 255], np.int32), uniform_byte)
    encoder.encode(colours.astype(np.int32).ravel(), uniform_byte)
    # the encoder knows every index: each coded pixel's context, symbol and left neighbour at once,
    # for the coded pixels alone (a 52-megapixel image with a few exact tiles held GBs of them)
    stride = width + 4
    y, x = np.divmod(np.arange(height * width) if coded is None else np.flatnonzero(coded), width)
    where, step = (y + 2) * stride + x + 2, x + 2 * y
    del y, x
    order = np.argsort(step, kind="stable")  # by wavefront step, ascending y within one (raster order kept)
    where, step = where[order], step[order]
    del order
    contexts, near = _neighbours(lambda offset: flat[where + offset], stride)
    matches = flat[where] == near
    symbols = np.where(matches.any(axis=0), matches.argmax(axis=0), ESCAPE)
    del near, matches
    starts = np.flatnonzero(np.diff(step, prepend=-1))
    cost = None if bits is None else np.zeros(where.size)
    for lo, hi in zip(starts.tolist(), starts[1:].tolist() + [where.size]):
        ctx, symbol = contexts[lo:hi], symbols[lo:hi]
        step_bits = None if bits is None else np.zeros(hi - lo)
        _code(encoder, symbol, tables.match_probabilities(ctx), step_bits)
        escaped = symbol == ESCAPE
        if escaped.any():
            at = where[lo:hi][escaped]
            escape_bits = None if bits is None else np.zeros(at.size)
            tables.code_escapes(encoder, flat[at - 1].astype(np.int64), flat[at].astype(np.int64), escape_bits)
            if bits is not None:
                step_bits[escaped] += escape_bits
        tables.update(ctx, symbol)
        if bits is not None:
            cost[lo:hi] = step_bits
    if bits is not None:
        at = (where // stride - 2) // block * bits.shape[1] + (where % stride - 2) // block
        bits += np.bincount(at, weights=cost, minlength=bits.size).reshape(bits.shape)


def _chosen(coded: np.ndarray | None) -> np.ndarray | None:
    """``coded`` laid out as the padded grid, flat (None: every pixel)."""
    if coded is None:
        return None
    grid = np.zeros((coded.shape[0] + 2, coded.shape[1] + 4), bool)
    grid[2:, 2:-2] = coded
    return grid.ravel()


def _step(flat: np.ndarray, chosen: np.ndarray | None, at: slice, stride: int):
    """A step's coded pixels: their contexts, four neighbours (4, n) and indices (None if no
    pixel of the step is coded)."""
    ctx, near = _context(flat, at, stride)
    values = flat[at]
    if chosen is not None:
        keep = chosen[at]
        if not keep.any():
            return None, None, None
        ctx, near, values = ctx[keep], near[:, keep], values[keep]
    return ctx, near, values


def decode(payload: bytes, width: int, height: int) -> np.ndarray:
    """The (H, W, 3) uint8 pixels of a palette payload; a payload that disagrees with the
    image it claims raises CorruptError."""
    if len(payload) % 4:
        raise CorruptError("payload length is not a whole number of 32-bit words")
    if not codable(width, height):
        raise CorruptError(f"a {width}x{height} image cannot hold a palette payload")
    with coder_errors():
        decoder = Reader(payload)
        colours, indices = decode_from(decoder, width, height)
        finish(decoder, "palette payload")
    return colours[indices]


def decode_from(decoder: Reader, width: int, height: int, coded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_into`: the colours (P, 3) and each pixel's index (H, W), P where
    not coded. Call inside :func:`coder_errors`."""
    high, low = decoder.decode(uniform_byte, 2).tolist()
    count = (high << 8 | low) + 1
    if count > MAX_COLOURS:
        raise CorruptError(f"palette of {count} colours (at most {MAX_COLOURS})")
    colours = decoder.decode(uniform_byte, 3 * count).astype(np.uint8).reshape(count, 3)
    grid = _padded(height, width, count)
    flat, chosen = grid.ravel(), _chosen(coded)
    tables = _Tables(count)
    for at, stride in _wavefronts(width, height):
        ctx, near, _ = _step(flat, chosen, at, stride)
        if ctx is None:
            continue
        symbols = decoder.decode(categorical_family, tables.match_probabilities(ctx)).astype(np.int64)
        escaped = symbols == ESCAPE
        values = near[np.minimum(symbols, ESCAPE - 1), np.arange(symbols.size)]
        if escaped.any():
            values[escaped] = tables.code_escapes(decoder, near[0][escaped].astype(np.int64), None)
        if (values >= count).any():  # a match with a neighbour outside the image, or an index past the palette
            raise CorruptError("palette payload names a colour it does not have")
        if chosen is None:
            flat[at] = values
        else:
            step = flat[at]
            step[chosen[at]] = values
            flat[at] = step
        tables.update(ctx, symbols)
    return colours, grid[2:, 2:-2]
