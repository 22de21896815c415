"""The prior over a file's code indices: integer count tables, chosen by context.

A file codes, for each of the ``M`` codebooks in turn, the index map (h, w) of
that codebook's codes, in five **phases**. The (even row, even column) quarter
comes first, as a pyramid of its own: phase 0 the **anchors** at rows and
columns that are multiples of 4, phase 1 the positions at (2, 2) mod 4 under
their four diagonal neighbours two apart, phase 2 the rest of the quarter under
their four direct neighbours two apart. Then phase 3, the positions at (odd,
odd) under their four diagonal neighbours, and phase 4, the rest, under their
four direct neighbours (all decoded by then). A code is cheaper when what is
already decoded predicts it; the **context** of a position (one of
``NUM_CONTEXTS``) says what that is:

- the **activity**: the sum, over codebooks ``1 .. m-1`` and the 3x3 positions
  around, of each code's distance from its codebook's zero code (capped at 2;
  the zero code is the code its latents usually take, not the code of value 0),
  in logarithmic buckets (a flat sky leaves later codebooks at zero, a
  texture does not; codebook 0, the block's brightness, is left out);
- the previous codebook's code at the same position, as a signed distance
  from its zero code (-2 .. 2): neighbouring coefficients share sign and size;
- in phases 3 and 4, how busy the four decoded neighbours of the same
  codebook are, and their mean signed distance from zero (-4 .. 4), a
  prediction of the code (phases 1 and 2 take phase 0's context: neighbours
  16 pixels apart say little of a photo's texture);
- for codebook 0, instead, the mean of its four decoded neighbours' indices
  and how far they stray from it (or, where they agree, a prediction, as
  below; in phases 1 and 2 only the prediction: elsewhere they take the
  anchors' context).

Where a codebook sits far from its zero code over a region (the neighbours'
mean beyond +-4: the colour of a flat background or a smooth gradient; for
codebook 0, the brightness, anywhere), a table over absolute indices cannot
know where the code will be: every code there cost several bits, and rate
control flattened such regions into a few cheap codes (the banding of smooth
gradients). There, where the neighbours agree (they stray from their rounded
mean index by at most ``PREDICT_MAX_STRAY`` in all), the position is
**predicted**: it codes its index's difference from that mean, modulo the
codebook size, in a context of its own (by how far they stray), so a code
that continues its neighbours costs little wherever it lies in the codebook.
:func:`schedule` yields each position's ``shift`` (its prediction, or 0): the
coded symbol is ``(index - shift) mod K``. Where neighbours disagree, the
absolute tables keep what they know of which codes rate control uses: coding
every far position as a difference cost photos 50-80% more bits.

Distances between codes are counted in units of ``context_unit(K)`` codes (one up
to 256 codes, two at 512), so a codebook of twice the resolution sees the same
contexts at the same distances in latent units; predictions stay in codes.

Many contexts behave alike and a table per context would be too large to
count or ship, so each codebook maps its contexts onto ``NUM_CLASSES`` classes
(``classes``, designed at export by clustering contexts with similar
statistics), and a class selects a row of the count tables. Measured on the
shipped model's codes (docs/training.md), this takes 4-11% fewer bits than the
activity alone.

Every context is a function of indices decoded before it, computed with
integer arithmetic, and all contexts of a phase are known before any of its
codes is decoded, so a decoder decodes each (phase, class) group in one call
whatever the image's shape. Three phases rather than a two-phase checkerboard
left a quarter of the positions, not half, with no decoded neighbour of their
own codebook: 1.3-4% fewer bits for the same codes (docs/training.md). The
pyramid over that quarter (phases 0-2) leaves a sixteenth: on photos its
neighbours two apart predict little, so they are read only to predict (where
they agree), and photos cost the same; a smooth gradient, coded mostly in that
quarter before, takes 30-57% fewer bits.

A photo's colours are its own, and tables counted over many photos spread their
mass over every photo's palette. So a few codebooks of each table set (the
colour codebooks above all; chosen at export by measurement) are **adaptive**:
from their second phase on, their unpredicted positions code under their
class's row reweighted toward the codes this image's earlier phases of that
codebook took, each code by the square root of how much more often the image
took it than the tables expected (:func:`adapted_weights`, integers throughout).
On held-out photos the colour codebooks took 10-14% fewer bits.

How a code's probability depends on its context also depends on the rate: at
a low quality level most codes sit at zero. So the tables and maps come in
``T`` sets, each designed at one quality level; a quality level uses the set
named by ``table_of_quality``.

The tables are integers stored with the weights, as CompressAI stores integer
CDF tables: the coder's models are pure functions of integers in the weights
file, so no float produced by a network reaches the coder and decoding is the
same on every machine. Every count is at least 1, so every code stays codable.
"""

from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

import numpy as np

from .errors import ImageTooLargeError

#: Activity buckets: 0, 1, 2-3, 4-7, ..., 256 and more.
ACTIVITY_BUCKETS = 10
#: Each code's contribution to the activity of later codebooks is capped here.
MAGNITUDE_CAP = 2
#: The previous codebook's signed distance from zero is clipped to +-PREVIOUS_CAP.
PREVIOUS_CAP = 2
#: The neighbours' rounded mean signed distance from zero is clipped to +-MEAN_CAP.
MEAN_CAP = 4
#: Second-phase busyness classes of the neighbours' summed magnitudes 0 .. 8.
BUSY_OF_SUM = np.array([0, 1, 2, 3, 3, 4, 4, 4, 4])
#: Buckets of codebook 0's neighbour mean (its index range cut into this many).
MEAN_BUCKETS = 16
#: Contexts of phases 0 .. 3: (activity, previous, busyness 0..5, mean 0..8), busyness 0 at phases 0 .. 2; phase 4's follow.
_PHASE_CONTEXTS = ACTIVITY_BUCKETS * (2 * PREVIOUS_CAP + 1) * 6 * (2 * MEAN_CAP + 1)
#: A position far from zero is predicted only if its neighbours stray at most this far from their mean in all.
PREDICT_MAX_STRAY = 4
#: Buckets of how far predicted positions' neighbours stray from their mean (bit length of the sum: 0, 1, 2-3, 4).
SPREAD_BUCKETS = 4
#: Contexts of predicted positions: (phase 3, 4, 1 or 2, spread, activity, previous); after phases 3 and 4's.
_PREDICTED_CONTEXTS = 4 * SPREAD_BUCKETS * ACTIVITY_BUCKETS * (2 * PREVIOUS_CAP + 1)
#: Codebook 0's buckets of how far unpredicted neighbours (phases 3 and 4) stray from their mean, in
#: context units: bit length 3 (5-7) .. 8 (128 and more). Its codes at coarse levels lie unevenly in
#: index space, so the mean index alone says little of how sure a position is.
FAR_SPREAD_BUCKETS = 6
#: Codebook 0's unpredicted contexts at phases 3 and 4 (phase, mean bucket, far spread), after its context 0.
_CB0_MEAN_CONTEXTS = 2 * MEAN_BUCKETS * FAR_SPREAD_BUCKETS
#: Every context (codebook 0 uses 0 .. _CB0_MEAN_CONTEXTS + 4 * SPREAD_BUCKETS).
NUM_CONTEXTS = 2 * _PHASE_CONTEXTS + _PREDICTED_CONTEXTS
#: Table rows (classes of contexts) per codebook that export designs.
NUM_CLASSES = 16
#: The most a prior may have: a context's class is stored in one byte.
MAX_CLASSES = 256
#: Coding phases of each codebook's map: the (even, even) quarter as a pyramid of its own
#: (a sixteenth, a sixteenth under diagonal neighbours two apart, an eighth under direct
#: ones two apart), then a quarter under diagonal neighbours, then half under direct ones.
PHASES = 5
#: Each smoothed table row sums to about this, so counts fit in int32.
ROW_TOTAL = 1 << 20
#: An adaptive codebook's image histogram is shrunk toward the tables' own expectation by this
#: many pseudo-positions (held-out photos: 16 .. 256 within 0.2% of each other, 4 too few).
ADAPT_PSEUDO = 64
#: Fixed-point unit of an adaptive codebook's code weights: 256 leaves a row as it is.
ADAPT_ONE = 256
#: A code's weight is kept within ADAPT_ONE / ADAPT_REACH .. ADAPT_ONE * ADAPT_REACH.
ADAPT_REACH = 16
#: Fixed-point unit of the tables' expectation (:func:`expectation_rows`).
ADAPT_UNIT = 1 << 16
#: A guided codebook keeps its image histogram per bucket of its guide's code (the guide's index range cut in this many) ...
GUIDE_BUCKETS = 16
#: ... each shrunk toward the codebook's whole histogram by this many pseudo-positions (8
#: with 64-latent tiles: Kodak -0.2% against 16 with 128-latent tiles, docs/training.md).
GUIDE_PSEUDO = 8
#: Adaptation keeps its histograms per tile of this many latents square (512 pixels): a
#: photo's regions have their own palettes (coded whole, a mosaic of the Kodak photos took
#: 1.6% more bits than its parts with one histogram for the image; tiles of 1024 pixels cost
#: Kodak 0.1% more than these). A tile's at most 2^12 positions keep its sums of expectations
#: (2^16 + 1 a position at most) within 31 bits and adaptation's products within 64.
ADAPT_TILE = 64
#: A latent map may have at most this many adaptation tiles, or a 1024th of its latents if more
#: (four times a square map's share): an adaptive codebook keeps statistics of K codes per
#: (tile, bucket), so a map one latent high and millions long took a tile per 64 latents and
#: hundreds of bytes per latent (a 253 KB file asked for 10.7 GiB). A square map at the pixel
#: limit has 700 tiles; refused are only maps under 16 latents (128 pixels) across and over
#: 65,536 long. docs/format.md, "Validation order".
MAX_ADAPT_TILES = 1024
#: Adapted rows computed at once (their int64 products stay a few MB).
ADAPT_ROWS = 2048


def box3(grid: np.ndarray) -> np.ndarray:
    """Sum over each position's 3x3 neighbourhood (positions outside the map count 0)."""
    p = np.zeros((grid.shape[0] + 2, grid.shape[1] + 2), np.int64)
    p[1:-1, 1:-1] = grid
    rows = p[:-2] + p[1:-1] + p[2:]
    return rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]


#: Smallest activity of each bucket after the first: 1, 2, 4, ..., 256.
_BUCKET_STARTS = 1 << np.arange(ACTIVITY_BUCKETS - 1)


def bucket(activity: np.ndarray) -> np.ndarray:
    """Bucket of each activity: the bit length of the sum, at most ACTIVITY_BUCKETS - 1."""
    return np.searchsorted(_BUCKET_STARTS, np.asarray(activity, dtype=np.int64), side="right")


def phase_of(h: int, w: int) -> np.ndarray:
    """Phase (h, w) of each position: (row, column) at (0, 0) mod 4 -> 0, (2, 2) mod 4 -> 1, the
    rest of (even, even) -> 2, (odd, odd) -> 3, the rest -> 4."""
    r, c = np.indices((h, w))
    anchors = np.where((r + c) % 4 == 2, 2, r % 4 // 2)  # (even, even): 0 at (0, 0) mod 4, 1 at (2, 2), else 2
    return np.where((r + c) % 2 == 1, 4, np.where(r % 2 == 1, 3, anchors))


def phase_positions(h: int, w: int) -> list[np.ndarray]:
    """Raster positions of each phase, in coding order."""
    phase = phase_of(h, w).ravel()
    return [np.flatnonzero(phase == p) for p in range(PHASES)]


#: A position's four diagonal and four direct neighbours (row, column offsets).
_DIAGONAL, _DIRECT = ((-1, -1), (-1, 1), (1, -1), (1, 1)), ((-1, 0), (1, 0), (0, -1), (0, 1))
#: The neighbours (row, column offsets) of the same codebook that phases 1 .. 4 read.
_AROUND = {1: tuple((2 * r, 2 * c) for r, c in _DIAGONAL), 2: tuple((2 * r, 2 * c) for r, c in _DIRECT),
           3: _DIAGONAL, 4: _DIRECT}
#: Predicted contexts' block of each phase 1 .. 4 (phases 3 and 4 first, as before the pyramid).
_PREDICTED_KIND = {3: 0, 4: 1, 1: 2, 2: 3}
#: Bucket of each activity up to 256 (the last bucket's start); clip activities there first.
_BUCKET_OF = bucket(np.arange(257))
#: Second-phase busyness, plus one, of the neighbours' summed capped magnitudes 0 .. 8.
_BUSY = 1 + BUSY_OF_SUM
#: Spread bucket of each stray 0 .. PREDICT_MAX_STRAY (the only strays predicted).
_SPREAD_OF = np.minimum(_BUCKET_OF[:PREDICT_MAX_STRAY + 1], SPREAD_BUCKETS - 1)


class ContextTracker:
    """The contexts of one image's index maps, fed codebook by codebook in coding order.

    Contexts are computed only at the positions of the phase being coded, from
    gathers of their four neighbours: a position's neighbours of its own
    codebook are all of earlier phases, so no mask of what is decoded is needed,
    and a 96-codebook image costs a third of the array work of whole maps."""

    def __init__(self, zero: np.ndarray, size: int, h: int, w: int) -> None:
        self.zero, self.size = np.asarray(zero, np.int64), size
        self.unit = context_unit(size)
        self.positions = phase_positions(h, w)
        self._magnitudes = np.zeros((h, w), np.int32)  # summed over codebooks 1 .. m-1; activity is its box3
        self._previous = np.zeros((h, w), np.int32)  # last codebook's signed distance from zero, clipped, + cap
        self._map = np.zeros((h + 4, w + 4), np.int32)  # the current codebook's map; its border holds its zero
        self._around, self._count, self._outside, self._row = {}, {}, {}, {}
        # Integer divisions are the slowest of the contexts' array work, and a mean's divisor is
        # its position's neighbour count n (1 .. 4): so the rounded means of every neighbour sum
        # are tables, row n - 1, and a position reads its row at its sum (of offsets of K - 1 at most).
        reach = 4 * (size - 1)
        total, n = np.arange(-reach, reach + 1), np.arange(1, 5)[:, None]
        self._mean_of = ((2 * total + n) // (2 * n)).astype(np.int32).ravel()
        coarse = (2 * total + n * self.unit) // (2 * n * self.unit)  # the mean in context units
        self._clipped_of = (np.clip(coarse, -MEAN_CAP, MEAN_CAP) + MEAN_CAP).astype(np.int32).ravel()
        self._far_of = (np.abs(coarse) > MEAN_CAP).ravel()
        for phase, steps in _AROUND.items():
            r, c = np.divmod(self.positions[phase], w)
            rows = r[:, None] + 2 + np.array([s[0] for s in steps])
            cols = c[:, None] + 2 + np.array([s[1] for s in steps])
            inside = ((rows >= 2) & (rows < h + 2) & (cols >= 2) & (cols < w + 2)).sum(1)
            self._around[phase] = np.ascontiguousarray((rows * (w + 4) + cols).T)  # (4, N) into the bordered map, C order: sums over axis 0 run 15x faster than over a transpose
            self._count[phase] = np.maximum(1, inside).astype(np.int32)
            self._outside[phase] = (4 - inside).astype(np.int32)
            self._row[phase] = (self._count[phase] - 1) * (2 * reach + 1) + reach  # where a sum of 0 lies
        self._no_shift = [np.zeros(p.size, np.int32) for p in self.positions]
        for zeros in self._no_shift:
            zeros.flags.writeable = False  # shared by every codebook's steps
        self.next = 0
        self._base: np.ndarray | None = None
        self._capped: np.ndarray | None = None  # the next codebook's capped magnitudes (:meth:`_capped_of`)

    @property
    def activity(self) -> np.ndarray:
        """The activity (h, w) of the next codebook's positions."""
        return box3(self._magnitudes)

    def contexts(self, phase: int, current: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Contexts and shifts of the next codebook's positions of ``phase``
        (``positions[phase]``, in that order); phases 1 .. 4 read ``current``, that
        codebook's map (h, w), at earlier phases' positions only, so a decoder's
        part-filled map gives what the encoder's full one does. A position codes
        ``(index - shift) mod K``."""
        m, count = self.next, self.positions[phase].size
        no_shift = self._no_shift[phase]
        if phase == 0:
            if m == 0:
                return no_shift, no_shift
            return (self._base_at(phase) * 6) * (2 * MEAN_CAP + 1) + MEAN_CAP, no_shift
        z = int(self.zero[m]) if m else 0  # codebook 0 reads indices, the others distances from zero
        self._map.fill(z)
        self._map[2:-2, 2:-2] = current
        if m == 0:
            offset = self._map.ravel().take(self._around[phase])  # (4, N); 0 outside the map
            n = self._count[phase]
            total = offset.sum(0, dtype=np.int32)
            mean = self._mean_of.take(total + self._row[phase])  # rounded half up
            stray = self._stray(phase, offset, mean) // self.unit
            kind = _PREDICTED_KIND[phase]
            if phase <= 2:  # two apart, only neighbours that agree say more than the anchors' table
                ctx = np.zeros(count, np.int32)
            else:
                level = np.minimum(total // n * MEAN_BUCKETS // self.size, MEAN_BUCKETS - 1)
                apart = np.clip(_BUCKET_OF[np.minimum(stray, _BUCKET_OF.size - 1)] - 3, 0, FAR_SPREAD_BUCKETS - 1)
                ctx = 1 + (kind * MEAN_BUCKETS + level) * FAR_SPREAD_BUCKETS + apart
            agree = stray <= PREDICT_MAX_STRAY
            predicted = 1 + _CB0_MEAN_CONTEXTS + kind * SPREAD_BUCKETS + _SPREAD_OF[np.minimum(stray, PREDICT_MAX_STRAY)]
            return np.where(agree, predicted, ctx), np.where(agree, mean, 0)
        around = self._map.ravel().take(self._around[phase])  # (4, N) indices; the border holds the zero code
        at = around.sum(0, dtype=np.int32) + (self._row[phase] - 4 * z)  # the sum of offsets, in its row
        base = self._base_at(phase)
        if phase <= 2:  # neighbours two apart: phase 0's context, unless they agree far from zero
            near = (base * 6) * (2 * MEAN_CAP + 1) + MEAN_CAP
        else:
            busy = _BUSY[self._capped.take(around).sum(0, dtype=np.int32)]
            near = (base * 6 + busy) * (2 * MEAN_CAP + 1) + self._clipped_of.take(at)
            near += (phase - 3) * _PHASE_CONTEXTS
        far = np.flatnonzero(self._far_of.take(at))
        if not far.size:
            return near, no_shift
        # Only positions far from zero can be predicted: their neighbours' agreement is measured there alone.
        mean = self._mean_of.take(at[far])
        stray = self._stray(phase, around[:, far] - z, mean, far) // self.unit
        agree = stray <= PREDICT_MAX_STRAY
        far, mean, spread = far[agree], mean[agree], _SPREAD_OF[stray[agree]]
        kind = _PREDICTED_KIND[phase]
        near[far] = 2 * _PHASE_CONTEXTS + (kind * SPREAD_BUCKETS + spread) * (ACTIVITY_BUCKETS * (2 * PREVIOUS_CAP + 1)) + base[far]
        shift = np.zeros(count, np.int32)
        shift[far] = np.minimum(np.maximum(z + mean, 0), self.size - 1)
        return near, shift

    def _stray(self, phase: int, offset: np.ndarray, mean: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """How far each position's neighbours inside the map stray from ``mean`` in all
        (those outside read 0, so their |0 - mean| is taken back out); ``where``: which of
        the phase's positions ``offset`` and ``mean`` hold (None: all)."""
        outside = self._outside[phase] if where is None else self._outside[phase][where]
        return np.abs(offset - mean).sum(0, dtype=np.int32) - outside * np.abs(mean)

    def _base_at(self, phase: int) -> np.ndarray:
        """(activity bucket, previous) of the phase's positions, as one number."""
        if self._base is None:  # the same for every phase of a codebook
            bucket_of = _BUCKET_OF[np.minimum(box3(self._magnitudes), _BUCKET_OF.size - 1)]
            self._base = (bucket_of * (2 * PREVIOUS_CAP + 1) + self._previous).ravel()
        return self._base[self.positions[phase]]

    def add(self, indices: np.ndarray) -> None:
        """Record the next codebook's complete index map (h, w)."""
        m = self.next
        distance = np.arange(self.size) - self.zero[m]
        distance = np.sign(distance) * (np.abs(distance) // self.unit)
        if m >= 1:
            self._magnitudes += self._capped[indices]
        self._previous = (np.clip(distance, -PREVIOUS_CAP, PREVIOUS_CAP) + PREVIOUS_CAP).astype(np.int32)[indices]
        self.next += 1
        self._base = None
        if self.next < self.zero.size:
            self._capped = self._capped_of(self.next)

    def _capped_of(self, m: int) -> np.ndarray:
        """Each index's capped magnitude (K,) in codebook ``m``: its distance from the zero code in
        context units, at most MAGNITUDE_CAP."""
        return np.minimum(np.abs(np.arange(self.size) - self.zero[m]) // self.unit, MAGNITUDE_CAP).astype(np.int32)


def check_shape(h: int, w: int) -> None:
    """Refuse an (h, w) latent map of more adaptation tiles than MAX_ADAPT_TILES allows, before any
    work (a decoder bomb guard, and the encoder's, since coding such a map costs the same)."""
    tiles = -(-h // ADAPT_TILE) * -(-w // ADAPT_TILE)
    if tiles > max(MAX_ADAPT_TILES, h * w // 1024):
        raise ImageTooLargeError(f"a latent map of {h} x {w} is too thin for its size: it would take {tiles} "
                                 f"adaptation tiles (at most {max(MAX_ADAPT_TILES, h * w // 1024)}); vqcodec "
                                 "codes images under 128 pixels across only up to 524,288 pixels long")


def context_unit(size: int) -> int:
    """Codes per step of the contexts' distances: 1 up to 256 codes, so a codebook of finer
    resolution (512 codes) sees the same contexts at the same distances in latent units."""
    return max(1, size // 256)


def first_predicted(m: int) -> int:
    """Codebook ``m``'s contexts from this one on are predicted positions' (they code differences)."""
    return 1 + _CB0_MEAN_CONTEXTS if m == 0 else 2 * _PHASE_CONTEXTS


def expectation_rows(counts: np.ndarray) -> np.ndarray:
    """Rows (C, K) of ``counts`` as 16-bit fixed-point probabilities plus one (every entry
    ``>= 1``): what an adaptive codebook sums as its tables' expectation, so its sums stay far
    inside 64 bits whatever the counts."""
    counts = counts.astype(np.int64)
    return counts * ADAPT_UNIT // counts.sum(axis=1, keepdims=True) + 1


def _ratios(seen: np.ndarray, expected: np.ndarray, n: np.ndarray | int, prior_ratio: np.ndarray | None,
            pseudo: int) -> np.ndarray:
    """``ADAPT_ONE^2`` times how much more often ``n`` positions took each code than expected,
    shrunk by ``pseudo`` positions at ``prior_ratio`` (None: at one), clipped to the reach."""
    n = np.asarray(n, np.int64)[..., None]
    total = expected.sum(axis=-1, keepdims=True)  # a tile: at most 2^12 positions * (2^16 + K): seen * total < 2^42
    ratio = seen * total // np.maximum(expected, 1)
    one = ADAPT_ONE * ADAPT_ONE
    if prior_ratio is None:
        shrunk = np.minimum(ratio + pseudo, ADAPT_REACH ** 2 * (n + pseudo))
        ratio = one * shrunk // (n + pseudo)
    else:
        shrunk = np.minimum(ratio, ADAPT_REACH ** 2 * (n + pseudo))
        ratio = (one * shrunk + pseudo * prior_ratio) // (n + pseudo)
    return np.clip(ratio, one // ADAPT_REACH ** 2, one * ADAPT_REACH ** 2)


def adapted_weights(seen: np.ndarray, expected: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Weights (B, K) in ADAPT_ONE units of each code, for each of an adaptive codebook's B
    buckets (one unless guided): ``seen`` (B, K) counts the codes its ``n`` (B,) unpredicted
    positions coded so far took, ``expected`` (B, K) sums the :func:`expectation_rows` of the
    rows they were coded under. A code's weight is the square root of how much more often the
    image took it than the tables expected, the histogram shrunk by ADAPT_PSEUDO positions of
    the expectation; a bucket's by GUIDE_PSEUDO positions of the whole's; within ADAPT_REACH
    either way, in integers (docs/format.md gives the same steps)."""
    ratio = _ratios(seen.sum(0), expected.sum(0), int(n.sum()), None, ADAPT_PSEUDO)
    if seen.shape[0] > 1:
        ratio = _ratios(seen, expected, n, ratio, GUIDE_PSEUDO)
    root = np.sqrt(ratio).astype(np.int64)  # exact integer square roots: below 2^53 the float root is off by at most one
    root -= root * root > ratio
    root += (root + 1) * (root + 1) <= ratio
    return root.reshape(-1, seen.shape[1])


def adapted_rows(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rows of ``counts`` (R, K) under code weights (R, K) in ADAPT_ONE units, each count codable and in int32."""
    return np.clip(counts.astype(np.int64) * weights // ADAPT_ONE, 1, 2**31 - 1)


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a 1-D integer array, as ``np.unique`` gives them: NumPy's
    own imports ``numpy.ma`` on its first call (10-20 ms of a 0.5 s command) and checks for masks
    on every one, and an adaptive codebook's steps call it twice a phase."""
    if not values.size:
        return values
    values = np.sort(values)
    keep = np.empty(values.size, bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def index_maps(count: int, h: int, w: int, size: int) -> np.ndarray:
    """Zeroed index maps (count, h, w) in the narrowest integer type that holds ``size``
    codes: one byte a code at 256, so a 50-megapixel photo's 96 maps take 78 MB, not 311."""
    return np.zeros((count, h, w), np.uint8 if size <= 256 else np.uint16 if size <= 65536 else np.int64)


def schedule(zero: np.ndarray, size: int, maps: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """The coding order of index maps ``maps`` (M, h, w): for each codebook and phase,
    ``(m, raster positions, their contexts, their shifts)``; a position codes
    ``(index - shift) mod size``. A decoder fills ``maps`` in as it goes: each step
    reads only positions that earlier steps yielded."""
    m_count, h, w = maps.shape
    tracker = ContextTracker(zero, size, h, w)
    for m in range(m_count):
        for phase, pos in enumerate(tracker.positions):
            if pos.size:
                ctx, shift = tracker.contexts(phase, maps[m])
                yield m, pos, ctx, shift
        tracker.add(maps[m])


class Step(NamedTuple):
    """One (codebook, phase) step of a file's codes: position ``positions[i]`` codes
    ``(index - shift[i]) mod K`` under row ``rows[i]`` of the integer ``tables`` (R, K)."""

    m: int
    positions: np.ndarray
    rows: np.ndarray
    shift: np.ndarray
    tables: np.ndarray


def _check(name: str, table: np.ndarray, ndim: int) -> None:
    if table.ndim != ndim or not np.issubdtype(table.dtype, np.integer):
        raise ValueError(f"prior {name} must be a {ndim}-D integer array")


def checked_set(counts: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One table set's counts (M, C, K) as int32, each a codable count (1 .. 2^31 - 1)."""
    _check("counts", counts, 3)
    if counts.shape != shape:
        raise ValueError(f"a table set of shape {counts.shape}, not {shape}")
    if counts.min() < 1 or counts.max() >= 2**31:
        raise ValueError("every prior count must be in 1 .. 2^31 - 1")
    return counts.astype(np.int32, copy=False)


def checked_classes(classes: np.ndarray, shape: tuple[int, int], rows: int) -> np.ndarray:
    """One table set's classes (M, NUM_CONTEXTS) as uint8, each naming one of ``rows`` table rows."""
    _check("classes", classes, 2)
    if classes.shape != shape or classes.min() < 0 or classes.max() >= rows:
        raise ValueError("prior classes do not map every context to a table row")
    return classes.astype(np.uint8, copy=False)


class LazySets(NamedTuple):
    """Tables of T table sets (counts (T, M, C, K), or classes (T, M, NUM_CONTEXTS)) read one set
    at a time, when a quality level first needs it: a file uses one of a model's sets, and
    converting and checking all eleven took most of a model's load time. ``load(t)`` gives set
    ``t``'s tables."""

    shape: tuple[int, ...]
    load: Callable[[int], np.ndarray]


class Prior:
    """Count tables ``counts`` (T, M, C, K) of C classes (1 .. MAX_CLASSES; export designs
    NUM_CLASSES), the class of every context ``classes`` (T, M, NUM_CONTEXTS), each
    codebook's ``zero`` code (M,), the set ``table_of_quality`` (Q,) each quality level uses,
    which codebooks of each set adapt to the image (``adaptive`` (T, M), 0 or 1; none when
    not given) and the guide of each adaptive codebook (``guides`` (T, M), an earlier codebook
    or -1; none when not given): see :meth:`steps`."""

    def __init__(self, counts: np.ndarray | LazySets, classes: np.ndarray | LazySets, zero: np.ndarray,
                 table_of_quality: np.ndarray, adaptive: np.ndarray | None = None,
                 guides: np.ndarray | None = None) -> None:
        if isinstance(counts, LazySets):
            self._shape, self._load = tuple(int(n) for n in counts.shape), counts.load
            self._sets: list[np.ndarray | None] = [None] * self._shape[0]
        else:
            counts = np.asarray(counts)
            _check("counts", counts, 4)
            self._shape, self._load = counts.shape, None
        zero, table_of_quality = (np.asarray(a) for a in (zero, table_of_quality))
        t, m, c, k = self._shape
        adaptive = np.zeros((t, m), np.int64) if adaptive is None else np.asarray(adaptive)
        guides = np.full((t, m), -1, np.int64) if guides is None else np.asarray(guides)
        for name, table, ndim in (("zero", zero, 1), ("table_of_quality", table_of_quality, 1),
                                  ("adaptive", adaptive, 2), ("guides", guides, 2)):
            _check(name, table, ndim)
        if min(t, m, c, k) < 1 or c > MAX_CLASSES or k < 2:
            raise ValueError(f"prior counts of shape {self._shape} do not have 1 .. {MAX_CLASSES} classes")
        if self._load is None:
            self._sets = [checked_set(table, self._shape[1:]) for table in counts]
        if isinstance(classes, LazySets):
            if tuple(classes.shape) != (t, m, NUM_CONTEXTS):
                raise ValueError("prior classes do not map every context to a table row")
            self._load_classes, self._classes = classes.load, [None] * t
        else:
            classes = np.asarray(classes)
            _check("classes", classes, 3)
            if classes.shape[0] != t:
                raise ValueError("prior classes do not map every context to a table row")
            self._load_classes, self._classes = None, [checked_classes(table, (m, NUM_CONTEXTS), c) for table in classes]
        if zero.shape != (m,) or zero.min() < 0 or zero.max() >= k:
            raise ValueError("prior zero codes do not match the codebooks")
        if table_of_quality.size == 0 or table_of_quality.min() < 0 or table_of_quality.max() >= t:
            raise ValueError("prior table_of_quality names a missing table set")
        if adaptive.shape != (t, m) or adaptive.min() < 0 or adaptive.max() > 1:
            raise ValueError("prior adaptive flags must be 0 or 1 for every table set and codebook")
        if guides.shape != (t, m) or np.any(guides < -1) or np.any(guides >= np.arange(m)) or np.any((guides >= 0) & (adaptive == 0)):
            raise ValueError("prior guides must name an earlier codebook of an adaptive one, or be -1")
        self.zero = zero.astype(np.int64)
        self.table_of_quality = table_of_quality.astype(np.int64)
        self.adaptive = adaptive.astype(np.uint8)
        self.guides = guides.astype(np.int64)

    def table_set(self, t: int) -> np.ndarray:
        """Table set ``t``'s counts (M, C, K), int32, read and checked when first asked for."""
        table = self._sets[t]
        if table is None:
            table = self._sets[t] = checked_set(self._load(t), self._shape[1:])
        return table

    def classes_of_set(self, t: int) -> np.ndarray:
        """Table set ``t``'s classes (M, NUM_CONTEXTS), uint8, read and checked when first asked for."""
        table = self._classes[t]
        if table is None:
            table = self._classes[t] = checked_classes(self._load_classes(t), self._shape[1:2] + (NUM_CONTEXTS,),
                                                       self.num_classes)
        return table

    @property
    def classes(self) -> np.ndarray:
        """Every table set's classes (T, M, NUM_CONTEXTS), uint8: what training and saving take."""
        return np.stack([self.classes_of_set(t) for t in range(self.num_sets)])

    @property
    def counts(self) -> np.ndarray:
        """Every table set's counts (T, M, C, K): what training and saving take (coding reads one set)."""
        return np.stack([self.table_set(t) for t in range(self.num_sets)])

    @property
    def num_sets(self) -> int:
        return self._shape[0]

    @classmethod
    def uniform(cls, codebooks: int, size: int, qualities: int, zero: np.ndarray | None = None) -> "Prior":
        """Every code equally likely everywhere (an untrained model's prior)."""
        zero = np.zeros(codebooks, np.int64) if zero is None else zero
        return cls(np.ones((1, codebooks, NUM_CLASSES, size), np.int64),
                   np.zeros((1, codebooks, NUM_CONTEXTS), np.int64), zero, np.zeros(qualities, np.int64))

    @property
    def num_codebooks(self) -> int:
        return self._shape[1]

    @property
    def size(self) -> int:
        return self._shape[3]

    @property
    def num_classes(self) -> int:
        return self._shape[2]

    def class_of(self, quality: int, m: int) -> np.ndarray:
        """The table row (NUM_CONTEXTS,) of each context of codebook ``m`` at a quality level."""
        return self.classes_of_set(int(self.table_of_quality[quality]))[m].astype(np.intp)  # callers compute offsets from it

    def probabilities(self, quality: int, m: int) -> np.ndarray:
        """float64 rows (C, K) of codebook ``m``'s tables at a quality level; exact
        conversions of integers."""
        t = self.table_set(int(self.table_of_quality[quality]))[m].astype(np.float64)
        return t / t.sum(axis=1, keepdims=True)

    def steps(self, quality: int, maps: np.ndarray) -> Iterator[Step]:
        """The coding steps of index maps ``maps`` (M, h, w) at a quality level, in
        :func:`schedule`'s order, each with the rows its positions code under. A decoder
        fills ``maps`` in as it goes, as for :func:`schedule`.

        A position's row is its context's class, except in an **adaptive** codebook (the
        set's ``adaptive`` flag): from its second phase on, its unpredicted positions code
        under their class's row reweighted by :func:`adapted_weights` toward the codes this
        image's unpredicted positions of that codebook took in the phases before (rows from
        ``C`` on, one for each (tile, class, bucket) present, in that order). The histograms
        are kept per tile of ADAPT_TILE latents square. A **guided** codebook keeps them per
        bucket of its guide's code at the same position (``GUIDE_BUCKETS`` buckets of the
        guide's index range): the colour of a photo's bright parts is not the colour of its
        dark ones (docs/training.md)."""
        t, size, c = int(self.table_of_quality[quality]), self.size, self.num_classes
        h, w = maps.shape[1:]
        tiles_w = -(-w // ADAPT_TILE)
        tiles = -(-h // ADAPT_TILE) * tiles_w
        current = -1
        for m, pos, ctx, shift in schedule(self.zero, size, maps):
            if m != current:  # one tables object for a codebook's steps: rate control keys its costs on it
                current, counts, of_context = m, self.table_set(t)[m], self.classes_of_set(t)[m].astype(np.intp)
                guide, unit_rows = int(self.guides[t, m]), None
                buckets = GUIDE_BUCKETS if guide >= 0 else 1
                if self.adaptive[t, m]:  # statistics per (tile, bucket); a tile's sums stay below 2^31
                    seen, expected = np.zeros((tiles * buckets, size), np.int32), np.zeros((tiles * buckets, size), np.int32)
                    count = np.zeros(tiles * buckets, np.int64)
            classes = of_context[ctx]
            if not self.adaptive[t, m]:
                yield Step(m, pos, classes, shift, counts)
                continue
            free = ctx < first_predicted(m)
            r, col = np.divmod(pos, w)
            cell = (r // ADAPT_TILE * tiles_w + col // ADAPT_TILE) * buckets  # (tile, bucket) of each position
            if guide >= 0:
                cell += maps[guide].ravel()[pos].astype(np.int64) * GUIDE_BUCKETS // size
            known = count.reshape(tiles, buckets).sum(1) > 0
            use = free & known[cell // buckets]
            if use.any():
                tile, bucket = np.divmod(cell, buckets)
                key = (tile * c + classes) * buckets + bucket  # rows numbered C + (tile * C + class) * B + bucket
                present = distinct(key[use])
                in_tiles = distinct(present // (c * buckets))  # weights only for the tiles this phase codes in
                weights = np.concatenate([adapted_weights(seen[part], expected[part], count[part]) for part in
                                          (slice(at * buckets, (at + 1) * buckets) for at in in_tiles.tolist())])
                row_cell = np.searchsorted(in_tiles, present // (c * buckets)) * buckets + present % buckets
                tables = np.empty((c + present.size, size), np.int32)  # adapted rows fit int32 too
                tables[:c] = counts
                source = present // buckets % c
                for lo in range(0, present.size, ADAPT_ROWS):  # a large image adapts tens of thousands of rows
                    part = slice(lo, lo + ADAPT_ROWS)
                    tables[c + lo:c + lo + ADAPT_ROWS] = adapted_rows(counts[source[part]], weights[row_cell[part]])
                yield Step(m, pos, np.where(use, c + np.searchsorted(present, key), classes), shift, tables)
            else:
                yield Step(m, pos, classes, shift, counts)
            unit_rows = expectation_rows(counts) if unit_rows is None else unit_rows
            at = cell[free]
            seen += np.bincount(at * size + maps[m].ravel()[pos[free]], minlength=tiles * buckets * size).reshape(-1, size)
            expected += np.bincount(at * c + classes[free], minlength=tiles * buckets * c).reshape(-1, c) @ unit_rows
            count += np.bincount(at, minlength=tiles * buckets)

    def codebook_bits(self, indices: np.ndarray, quality: int) -> np.ndarray:
        """Ideal code length in bits (M,) of each codebook's index map of ``indices`` (M, h, w) at a quality level."""
        total = np.zeros(self.num_codebooks)
        for m, pos, rows, shift, tables in self.steps(quality, indices):
            symbols = (indices[m].ravel()[pos] - shift) % self.size
            p = tables[rows, symbols] / tables.sum(axis=1, dtype=np.int64)[rows]
            total[m] -= np.log2(p).sum()
        return total

    def cross_entropy_bits(self, indices: np.ndarray, quality: int) -> float:
        """Ideal code length in bits of index maps (M, h, w) at a quality level."""
        return float(self.codebook_bits(indices, quality).sum())
