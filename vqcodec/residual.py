"""The residual layer: what the codes miss, coded as a classical codec codes its coefficients.

Above about 1.4 bits per pixel on gray photos and 2 on colour ones, the top table sets' codes buy
detail dearly: a plain 8 x 8 DCT of the decoded image's error, one uniform step for every
coefficient, codes the same detail in fewer bits (+3.2 dB at 2.5 bpp on gray held-out photos,
+1.3 dB at 3 bpp on Kodak; docs/training.md, "A residual layer in the DCT domain"). So a file of
codes may carry a **residual** (format 16, docs/format.md "Residual"): the levels of the residual's
DCT coefficients, which the decoder turns back into pixels in integer arithmetic and adds to the
image it decoded, last of all.

The coefficients are coded band by band (the coefficients with ``u + v = b``, the last band taking
the rest), a row of blocks of a band at a time (a stripe of rows on narrow images), the row's
symbols grouped by context (a fixed model per group costs far less than a model per coefficient),
under counts that adapt after each row, per context of what the decoder has when it decodes the
band: the band, how many of the block's coefficients in lower bands are not zero, and how many of
its four neighbours' are. Each band's counts start from the band below's, scaled down, so a band
learns the image's step and texture from the one before (3.9% fewer bits than starting each band
afresh at step 14 on held-out photos, and below the per-coefficient adaptive estimate the layer
was measured by). Colour is turned by an orthonormal transform first (a sum and two
differences), so the squared error of the coefficients is the image's.

What the encoder quantizes how is its own choice; :func:`quantize` rounds with a dead zone, then
chooses each level again by its error and its bits under the image's own statistics (1.2-1.6%
fewer bytes at the residual's levels on held-out photos, docs/training.md).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

import constriction
import numpy as np
from PIL import Image

from .entropy import TERMINATOR, Reader, coder_errors, finish, queue, uniform_byte
from .errors import CorruptError
from .exact import TILE

#: Side of a block.
BLOCK = 8
#: Bands of coefficients: ``min(u + v, BANDS - 1)``.
BANDS = 10
#: Levels run from -LIMIT to LIMIT; the encoder clips to them.
LIMIT = 60
SYMBOLS = 2 * LIMIT + 1
#: The step is stored in eighths of a level (1 .. 255).
STEP_UNIT = 8
#: Contexts per band: own lower-band nonzeros 0 .. OWN - 1 (capped), neighbours' in AROUND + 1 buckets.
OWN = 6
AROUND = np.array([1, 3, 7, 15])
CONTEXTS = OWN * (AROUND.size + 1)
#: What one coded symbol adds to its count, and the total a band's counts are scaled to when the
#: next band starts from them.
INCREMENT = 32
INHERIT = 1024
#: Counts adapt after each stripe of ``ceil(STRIPE_BLOCKS / columns)`` block rows: a row on wide
#: images, enough rows for this many blocks on narrow ones (a 128-pixel-wide strip half a million
#: long would otherwise take 65,536 rounds of the coder per band and plane).
STRIPE_BLOCKS = 64
#: The first band's counts: ``max(1, floor(256 * 3^|k| / 20^|k|))`` for level k (256, 38, 5, then 1).
FIRST = np.array([max(1, 256 * 3 ** abs(k) // 20 ** abs(k)) for k in range(-LIMIT, LIMIT + 1)], np.int64)
#: round(4096 * C[u][x]) of the orthonormal 8-point DCT-II (row u, column x).
DCT = np.array([
    [1448, 1448, 1448, 1448, 1448, 1448, 1448, 1448],
    [2009, 1703, 1138, 400, -400, -1138, -1703, -2009],
    [1892, 784, -784, -1892, -1892, -784, 784, 1892],
    [1703, -400, -2009, -1138, 1138, 2009, 400, -1703],
    [1448, -1448, -1448, 1448, 1448, -1448, -1448, 1448],
    [1138, -2009, 400, 1703, -1703, -400, 2009, -1138],
    [784, -1892, 1892, -784, -784, 1892, -1892, 784],
    [400, -1138, 1703, -2009, 2009, -1703, 1138, -400]], np.int64)
#: round(4096 * K) of the orthonormal colour transform K (rows: planes from R, G, B); the decoder
#: turns planes back to R, G, B by its transpose. One plane (gray): 4096.
COLOUR = np.array([[2365, 2365, 2365], [2896, 0, -2896], [1672, -3344, 1672]], np.int64)
GRAY = np.array([[4096]], np.int64)
#: The same transforms in floating point, for the encoder.
_DCT = np.sqrt(np.where(np.arange(BLOCK)[:, None] == 0, 1 / BLOCK, 2 / BLOCK)) * np.cos(
    np.pi * (2 * np.arange(BLOCK)[None, :] + 1) * np.arange(BLOCK)[:, None] / (2 * BLOCK))
_COLOUR = COLOUR / np.linalg.norm(COLOUR, axis=1, keepdims=True)
_U, _V = np.divmod(np.arange(BLOCK * BLOCK), BLOCK)
#: Each coefficient's band (coefficient i = 8 u + v: u the vertical frequency).
BAND = np.minimum(_U + _V, BANDS - 1)
#: The encoder's plan (:func:`plan`): from level START (by planes) up, codes at level BASE and a
#: residual whose step falls geometrically from FIRST_STEP to LAST_STEP at level 100 (eighths of a
#: level). Measured on held-out photos (docs/training.md): above about 1.3 bpp on gray and 2 bpp on
#: colour a low level's codes and a residual beat the top levels' codes, by 1.7 dB at 2.1 and
#: 2.9 bpp, and the base level hardly matters (levels 30 to 50 within 0.1 dB).
BASE = 40
START = {1: 65, 3: 74}
FIRST_STEP = {1: 104, 3: 128}
LAST_STEP = 24
#: The finest step an encoder's search for a residual within the codes' bytes tries: one level,
#: whose orthonormal coefficients' error (1/12 of a squared level) is under the 8-bit pixels' own
#: rounding; a finer one costs bits for nothing and clips sooner at +-LIMIT.
FINEST_STEP = 8
#: Blocks the decoder transforms at a time, in whole block rows (its arrays hold 8 bytes a
#: coefficient, several copies: 64 rows of a 8448-pixel-wide image took 0.68 GB, 8192 blocks take
#: 80 MB; a Kodak photo's 6144 blocks go at once) ...
_BAND_BLOCKS = 8192
#: ... and the encoder quantizes at a time (each coefficient's float64 choices take several copies).
_QUANTIZE_BLOCKS = 8192


def _band_rows(cols: int, blocks: int) -> int:
    """Block rows of ``cols`` blocks in a band of about ``blocks`` blocks (at least one row)."""
    return max(1, blocks // cols)
#: The encoder's rate-distortion quantization (:func:`quantize`): a bit weighs this many squared steps.
RATE_WEIGHT = float(np.log(2) / 6)


def block_grid(width: int, height: int) -> tuple[int, int]:
    """Rows and columns of blocks over an image (partial blocks at the right and bottom count)."""
    return -(-height // BLOCK), -(-width // BLOCK)


def coded_blocks(width: int, height: int, exact: np.ndarray | None) -> np.ndarray:
    """Which blocks carry coefficients: all but those of exact tiles (``exact``: the tile map)."""
    rows, cols = block_grid(width, height)
    if exact is None:
        return np.ones((rows, cols), bool)
    per = TILE // BLOCK
    return ~np.repeat(np.repeat(exact, per, 0), per, 1)[:rows, :cols]


def mixing(planes: int) -> np.ndarray:
    """The integer transform from planes back to the image's channels (planes x channels)."""
    return COLOUR if planes == 3 else GRAY


def _coefficients(target: np.ndarray, shown: np.ndarray, step: int, hidden: np.ndarray | None) -> Iterator[tuple[int, np.ndarray]]:
    """The DCT coefficients of ``target - shown`` in units of the step, (planes, n, columns, 64)
    float64, for n block rows from ``top`` at a time (``(top, coefficients)``): colour turned,
    zero where ``hidden``, blocks padded by repeating the last row and column."""
    height, width, channels = target.shape
    rows, cols = block_grid(width, height)
    turn = _COLOUR if channels == 3 else np.ones((1, 1))
    delta = step / STEP_UNIT
    band = _band_rows(cols, _QUANTIZE_BLOCKS)
    for top in range(0, rows, band):
        span = slice(top * BLOCK, (top + band) * BLOCK)
        part = target[span].astype(np.float64) - shown[span]
        if hidden is not None:
            part[hidden[span]] = 0
        n = -(-part.shape[0] // BLOCK)
        part = np.pad(part, ((0, n * BLOCK - part.shape[0]), (0, cols * BLOCK - width), (0, 0)), mode="edge")
        planes = np.moveaxis(part @ turn.T, -1, 0).reshape(channels, n, BLOCK, cols, BLOCK).transpose(0, 1, 3, 2, 4)
        yield top, (_DCT @ planes @ _DCT.T).reshape(channels, n, cols, BLOCK * BLOCK) / delta


def _bands(levels: np.ndarray, p: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Plane ``p``'s bands in coding order: each band's number, its coefficients' positions in a
    block and each block's context (rows, columns), from the nonzeros of the lower bands as
    ``levels`` holds them when the next band is asked for (a decoder writes each band in first)."""
    lower = np.zeros(levels.shape[1:3], np.int64)
    for b in range(BANDS):
        positions = np.flatnonzero(BAND == b)
        yield b, positions, _contexts(lower)
        lower += (levels[p][..., positions] != 0).sum(axis=-1)


def _block_contexts(levels: np.ndarray) -> np.ndarray:
    """The context (planes, rows, columns, BANDS; uint8) each block codes each band under, as
    :func:`_run` finds it from ``levels``."""
    planes, rows, cols, _ = levels.shape
    out = np.empty((planes, rows, cols, BANDS), np.uint8)
    for p in range(planes):
        for b, _, context in _bands(levels, p):
            out[p, ..., b] = context
    return out


def quantize(target: np.ndarray, shown: np.ndarray, step: int, hidden: np.ndarray | None = None,
             coded: np.ndarray | None = None, offset: float = 0.4, rate_weight: float | None = RATE_WEIGHT) -> np.ndarray:
    """The levels (planes, rows, columns, 64; int8) of ``target - shown`` (H, W, channels; uint8),
    zero where ``hidden`` and in blocks outside ``coded`` (rows, columns), at ``step`` eighths of a
    level: colour turned, each 8 x 8 block's orthonormal DCT, each coefficient ``c`` (in units of
    the step) first ``sign(c) floor(|c| + offset)`` clipped to +-LIMIT (offset 0.5 rounds; below
    it, a dead zone). With ``rate_weight`` k, then chosen again, as a classical encoder's
    rate-distortion quantization does, among ``round(|c|)``, one less and 0 (the sign of c) to
    minimise ``(|c| - l)^2 + k bits(l)``, the bits under what the first levels of this image
    measure for each band and context of the coder (:func:`_run`). k = ln 2 / 6 is the high-rate
    slope of a uniform quantizer's distortion against its rate (D = step^2 / 12 falls by a factor
    4 for each bit more, so dD/dR = -2 ln 2 D), and measured best of 0.08 / 0.115 / 0.16
    (docs/training.md). A band of block rows at a time, the coefficients computed again for the
    second pass rather than kept: a 50-megapixel image's in float64 would take 1.2 GB."""
    height, width, channels = target.shape
    rows, cols = block_grid(width, height)
    levels = np.empty((channels, rows, cols, BLOCK * BLOCK), np.int8)
    for top, coef in _coefficients(target, shown, step, hidden):
        q = np.sign(coef) * np.floor(np.abs(coef) + offset)
        levels[:, top:top + coef.shape[1]] = np.clip(q, -LIMIT, LIMIT)
    if coded is not None:
        levels[:, ~coded] = 0
    if rate_weight is None or not levels.any():
        return levels
    contexts = _block_contexts(levels)
    seen = np.full((BANDS * CONTEXTS, SYMBOLS), 0.5)
    band = _band_rows(cols, _QUANTIZE_BLOCKS)
    for top in range(0, rows, band):  # (band, context, symbol) of every level, a band of block rows at a time
        span = slice(top, top + band)
        key = (BAND * CONTEXTS + contexts[:, span][..., BAND]) * SYMBOLS + levels[:, span] + LIMIT
        seen += np.bincount(key.ravel(), minlength=seen.size).reshape(seen.shape)
    cost = (rate_weight * -np.log2(seen / seen.sum(axis=1, keepdims=True))).ravel()
    for top, coef in _coefficients(target, shown, step, hidden):
        n = coef.shape[1]
        flat = coef.ravel()
        near = np.minimum(np.floor(np.abs(flat) + 0.5), LIMIT)
        at = np.flatnonzero(near)  # a coefficient that rounds to 0 stays 0
        size, sign, near = np.abs(flat[at]), np.where(flat[at] < 0, -1, 1), near[at]
        block, i = np.divmod(at, BLOCK * BLOCK)
        row = (BAND[i] * CONTEXTS + contexts[:, top:top + n].reshape(-1, BANDS)[block, BAND[i]]) * SYMBOLS + LIMIT
        options = np.stack([near, near - 1, np.zeros_like(near)])  # a tie keeps the larger level
        score = (size - options) ** 2 + cost.take(row + (sign * options).astype(np.int64))
        chosen = np.zeros(flat.size, np.int8)
        chosen[at] = sign * options[score.argmin(axis=0), np.arange(at.size)]
        levels[:, top:top + n] = chosen.reshape(coef.shape)
    if coded is not None:
        levels[:, ~coded] = 0
    return levels


def _band(levels: np.ndarray, step: int, top: int, n: int) -> np.ndarray:
    """The integer residual (8 n, 8 columns, channels; int32) of block rows top .. top + n - 1
    (fewer at the bottom): exact integer arithmetic (docs/format.md, "Residual")."""
    planes, _, cols, _ = levels.shape
    part = levels[:, top:top + n].astype(np.float64) * step
    n = part.shape[1]
    basis = DCT.astype(np.float64)
    # Integers below 2^42 throughout: float64 products and sums are exact in any order.
    pixels = basis.T @ part.reshape(planes, n, cols, BLOCK, BLOCK) @ basis  # 2^27 per level
    fine = np.floor((pixels + 2.0 ** 14) / 2.0 ** 15).astype(np.int64)  # 2^12 per level
    mixed = np.einsum("pnchw,pk->nhcwk", fine, mixing(planes))  # 2^24 per level, below 2^42
    return ((mixed + (1 << 23)) >> 24).reshape(n * BLOCK, cols * BLOCK, -1).astype(np.int32)


def reconstruct(levels: np.ndarray, step: int, width: int, height: int) -> np.ndarray:
    """The integer residual (H, W, channels; int32) of ``levels`` at ``step``, the same on every machine."""
    n = _band_rows(levels.shape[2], _BAND_BLOCKS)
    return np.concatenate([_band(levels, step, top, n) for top in range(0, levels.shape[1], n)])[:height, :width]


def add(image: np.ndarray, levels: np.ndarray, step: int) -> np.ndarray:
    """``image`` (H, W, channels; uint8) plus the residual of ``levels``, clamped to 0 .. 255: a
    band of block rows at a time, into a copy."""
    height, width = image.shape[:2]
    out = image.copy()
    n = _band_rows(levels.shape[2], _BAND_BLOCKS)
    for top in range(0, levels.shape[1], n):
        span = slice(top * BLOCK, (top + n) * BLOCK)
        band = _band(levels, step, top, n)[:out[span].shape[0], :width]
        out[span] = np.clip(out[span] + band, 0, 255)
    return out


def _contexts(lower: np.ndarray) -> np.ndarray:
    """Each block's context (rows, columns) from its and its neighbours' nonzeros in lower bands."""
    p = np.pad(lower, 1)
    ring = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]
    return np.minimum(lower, OWN - 1) * (AROUND.size + 1) + np.searchsorted(AROUND, ring, side="right")


def _inherit(counts: np.ndarray) -> np.ndarray:
    """A band's starting counts from the band below's: each context's scaled to INHERIT, at least 1."""
    return np.maximum(1, counts * INHERIT // counts.sum(axis=1, keepdims=True))


_categorical = partial(constriction.stream.model.Categorical, perfect=False)


def _run(levels: np.ndarray, coded: np.ndarray, code: Callable[[object, np.ndarray], np.ndarray]) -> None:
    """Walk the coding order (docs/format.md, "Residual"): plane by plane, band by band, a stripe
    of block rows at a time, the stripe's symbols grouped by context. ``code(model, symbols)`` codes one
    group: the symbols (shifted to 0 .. 2 LIMIT) given, or as many decoded in their place. The
    levels are read from (or written into) ``levels`` a band at a time.

    A band's coding order is known before any of its symbols (the contexts come from lower bands):
    one stable sort of its coded blocks by (stripe, context) puts each stripe's groups in a row, so
    a stripe costs its coder calls and one count update, not a sort and a dozen array passes of its
    own (decoding a Kodak photo's residual took three times as long that way)."""
    planes, rows, cols, _ = levels.shape
    stripe = -(-STRIPE_BLOCKS // cols)  # block rows adapted at a time
    at = np.flatnonzero(coded.ravel())  # the coded blocks in raster order ...
    strip = at // (stripe * cols)  # ... and the stripe each lies in
    for p in range(planes):
        counts = np.tile(FIRST, (CONTEXTS, 1))
        plane = levels[p].reshape(rows * cols, BLOCK * BLOCK)
        for b, positions, context in _bands(levels, p):
            if b:
                counts = _inherit(counts)
            width = positions.size
            key = strip * CONTEXTS + context.ravel()[at]
            order = np.argsort(key, kind="stable")  # a block's symbols stay together, in order
            blocks, key = at[order], key[order]
            cut = np.flatnonzero(key[1:] != key[:-1]) + 1
            first, last = np.concatenate(([0], cut)), np.concatenate((cut, [key.size]))  # each group's blocks
            new_stripe = np.flatnonzero(np.diff(key[first] // CONTEXTS, prepend=-1))  # each stripe's first group
            groups = list(zip((key[first] % CONTEXTS).tolist(), (first * width).tolist(), (last * width).tolist()))
            context_of = np.repeat((key % CONTEXTS * SYMBOLS).astype(np.int16), width)  # each symbol's row of the counts, flat
            symbols = plane[blocks[:, None], positions].astype(np.int32).ravel()  # in coding order
            symbols += LIMIT
            for g0, g1 in zip(new_stripe.tolist(), [*new_stripe[1:].tolist(), len(groups)]):
                table = counts / counts.sum(axis=1, keepdims=True)
                for x, lo, hi in groups[g0:g1]:
                    symbols[lo:hi] = code(_categorical(table[x]), symbols[lo:hi])
                span = slice(groups[g0][1], groups[g1 - 1][2])
                counts += INCREMENT * np.bincount(context_of[span] + symbols[span],
                                                  minlength=CONTEXTS * SYMBOLS).reshape(CONTEXTS, SYMBOLS)
            symbols -= LIMIT
            plane[blocks[:, None], positions] = symbols.reshape(-1, width)


def encode(levels: np.ndarray, step: int, coded: np.ndarray) -> bytes:
    """The residual payload of ``levels`` (planes, rows, columns, 64) at ``step`` (1 .. 255 eighths of
    a level); blocks outside ``coded`` (rows, columns) must be zero and are not coded."""
    if not 1 <= step <= 255 or not levels[:, coded].any() or levels[:, ~coded].any():
        raise ValueError("not a residual the payload codes")
    encoder = queue.RangeEncoder()
    encoder.encode(np.array([step], np.int32), uniform_byte)

    def put(model, symbols: np.ndarray) -> np.ndarray:
        encoder.encode(symbols, model)
        return symbols

    _run(levels, coded, put)
    encoder.encode(TERMINATOR, uniform_byte)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode(payload: bytes, planes: int, width: int, height: int, coded: np.ndarray) -> tuple[np.ndarray, int]:
    """The levels (planes, rows, columns, 64; int8) and step of a residual payload; one that
    disagrees with the image raises CorruptError."""
    rows, cols = block_grid(width, height)
    if not coded.any():
        raise CorruptError("a residual with every block in exact tiles")
    levels = np.zeros((planes, rows, cols, BLOCK * BLOCK), np.int8)
    with coder_errors():
        decoder = Reader(payload)
        step = int(decoder.decode(uniform_byte, 1)[0])
        if step == 0:
            raise CorruptError("residual step is 0")

        _run(levels, coded, lambda model, symbols: decoder.decode(model, symbols.size))
        if not levels.any():
            raise CorruptError("residual payload has no level other than 0")
        finish(decoder, "residual payload")
    return levels, step


def planes_for(mode: str) -> int:
    """The residual's planes for a header's colour mode: one for gray (L, LA), three for colour."""
    return 1 if mode in ("L", "LA") else 3


def base_of(rgb: np.ndarray, planes: int) -> np.ndarray:
    """The pixels a residual of ``planes`` is added to (H, W, planes): the decoded image itself, or
    its gray (Pillow's ``convert("L")``, as the header's mode L or LA has it)."""
    return rgb if planes == 3 else np.asarray(Image.fromarray(rgb, "RGB").convert("L"))[..., None]


def apply(rgb: np.ndarray, levels: np.ndarray, step: int) -> np.ndarray:
    """The decoded image (H, W, 3; uint8) with the residual added (to :func:`base_of` it); a gray
    result is returned in all three channels."""
    out = add(base_of(rgb, levels.shape[0]), levels, step)
    return out if out.shape[2] == 3 else np.repeat(out, 3, axis=2)


def plan(quality: int, planes: int) -> tuple[int, int] | None:
    """(codes' level, step) of a quality level the encoder codes as codes and a residual, or None
    below START; ``planes`` 1 for a gray image (whatever its mode), 3 for colour. Each level's step ``(LAST_STEP / FIRST_STEP)^(1 / (100 - START))`` times the
    one below's (4-5% more bytes a level on photos), so the quality scale stays smooth."""
    start = START[planes]
    if quality < start:
        return None
    return BASE, _step(quality, planes)


def _step(quality: float, planes: int) -> int:
    """The step of level ``quality`` on :func:`plan`'s scale (past 100: the same ratio on)."""
    start = START[planes]
    return max(1, round(FIRST_STEP[planes] * (LAST_STEP / FIRST_STEP[planes]) ** ((quality - start) / (100 - start))))


def finer_steps(quality: int, planes: int) -> list[int]:
    """The steps of the levels above ``quality`` on :func:`plan`'s scale, continued past level 100
    by the same ratio down to FINEST_STEP, each once, finest last: the steps an encoder tries when
    a residual's file is smaller than the codes alone (a finer step per level, not per quarter,
    so that the level above never gets a coarser one)."""
    steps, level = [], quality + 1
    while not steps or steps[-1] > FINEST_STEP:
        step = max(FINEST_STEP, _step(level, planes))
        if not steps or step < steps[-1]:
            steps.append(step)
        level += 1
    return steps