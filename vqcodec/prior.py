"""The prior over a file's code indices: integer count tables, each under a context.

A file codes, for each of the ``M`` codebooks in turn, the index map (h, w) of
that codebook's codes. A code is cheaper when something already decoded
predicts it, and what predicts a code best is how busy the block's
neighbourhood is: a flat sky leaves nearly every later codebook at its zero
code, a texture does not. So the context of codebook ``m`` at a position is its
**activity**: the sum, over codebooks ``1 .. m-1`` and the 3x3 positions around
it, of each code's distance from its codebook's zero code (capped at 2), put in
logarithmic buckets. Codebook 0 (the brightness of the block in a block-PCA
ordered latent) says nothing about texture and is left out of the sum.

Every context is a function of indices decoded before it, computed with
integer arithmetic, and every codebook's contexts are known before any of its
codes is decoded, so a decoder decodes each (codebook, context) group in one
call whatever the image's shape.

How a code's probability depends on the context also depends on the rate: at a
low quality level most codes sit at zero. So the tables come in ``T`` sets,
each counted at one quality level; a quality level uses the set named by
``table_of_quality``.

The tables are integers stored with the weights, as CompressAI stores integer
CDF tables: the coder's models are pure functions of integers in the weights
file, so no float produced by a network reaches the coder and decoding is the
same on every machine. Every count is at least 1, so every code stays codable.
"""

from __future__ import annotations

import numpy as np

#: Activity buckets: 0, 1, 2-3, 4-7, ..., 256 and more.
NUM_CONTEXTS = 10
#: Each code's contribution to the activity of later codebooks is capped here.
MAGNITUDE_CAP = 2
#: Each smoothed table row sums to about this, so counts fit in int32.
ROW_TOTAL = 1 << 20


def magnitudes(indices: np.ndarray, zero: int) -> np.ndarray:
    """Distance of each index of a map from the codebook's zero code, capped at MAGNITUDE_CAP."""
    return np.minimum(np.abs(indices.astype(np.int64) - zero), MAGNITUDE_CAP)


def box3(grid: np.ndarray) -> np.ndarray:
    """Sum over each position's 3x3 neighbourhood (positions outside the map count 0)."""
    p = np.pad(grid, 1)
    rows = p[:-2] + p[1:-1] + p[2:]
    return rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]


def bucket(activity: np.ndarray) -> np.ndarray:
    """Context of each position from its activity: the bit length of the sum, at most NUM_CONTEXTS - 1."""
    a = np.asarray(activity, dtype=np.int64)
    length = np.zeros(a.shape, np.int64)
    for k in range(1, NUM_CONTEXTS):
        length += a >= (1 << (k - 1))
    return length


class ContextTracker:
    """The running activity of one image's index maps, fed codebook by codebook in order."""

    def __init__(self, zero: np.ndarray, h: int, w: int) -> None:
        self.zero = zero
        self.activity = np.zeros((h, w), np.int64)
        self.next = 0

    def contexts(self) -> np.ndarray:
        """Contexts (h, w) of the next codebook's indices."""
        return bucket(self.activity)

    def add(self, indices: np.ndarray) -> None:
        """Record the next codebook's index map (h, w)."""
        if self.next >= 1:
            self.activity += box3(magnitudes(indices, int(self.zero[self.next])))
        self.next += 1


def _check(name: str, table: np.ndarray, ndim: int) -> None:
    if table.ndim != ndim or not np.issubdtype(table.dtype, np.integer):
        raise ValueError(f"prior {name} must be a {ndim}-D integer array")


class Prior:
    """Count tables ``counts`` (T, M, C, K), each codebook's ``zero`` code (M,), and the
    table set ``table_of_quality`` (Q,) each quality level uses."""

    def __init__(self, counts: np.ndarray, zero: np.ndarray, table_of_quality: np.ndarray) -> None:
        counts, zero, table_of_quality = (np.asarray(a) for a in (counts, zero, table_of_quality))
        _check("counts", counts, 4)
        _check("zero", zero, 1)
        _check("table_of_quality", table_of_quality, 1)
        t, m, c, k = counts.shape
        if min(t, m, k) < 1 or c != NUM_CONTEXTS or k < 2:
            raise ValueError(f"prior counts of shape {counts.shape} do not have {NUM_CONTEXTS} contexts")
        if counts.min() < 1 or counts.max() >= 2**31:
            raise ValueError("every prior count must be in 1 .. 2^31 - 1")
        if zero.shape != (m,) or zero.min() < 0 or zero.max() >= k:
            raise ValueError("prior zero codes do not match the codebooks")
        if table_of_quality.size == 0 or table_of_quality.min() < 0 or table_of_quality.max() >= t:
            raise ValueError("prior table_of_quality names a missing table set")
        self.counts = counts.astype(np.int64)
        self.zero = zero.astype(np.int64)
        self.table_of_quality = table_of_quality.astype(np.int64)

    @classmethod
    def uniform(cls, codebooks: int, size: int, qualities: int, zero: np.ndarray | None = None) -> "Prior":
        """Every code equally likely everywhere (an untrained model's prior)."""
        zero = np.zeros(codebooks, np.int64) if zero is None else zero
        return cls(np.ones((1, codebooks, NUM_CONTEXTS, size), np.int64), zero, np.zeros(qualities, np.int64))

    @property
    def num_codebooks(self) -> int:
        return self.counts.shape[1]

    @property
    def size(self) -> int:
        return self.counts.shape[3]

    def probabilities(self, quality: int, m: int) -> np.ndarray:
        """float64 rows (C, K) of codebook ``m``'s tables at a quality level; exact conversions of integers."""
        t = self.counts[self.table_of_quality[quality], m].astype(np.float64)
        return t / t.sum(axis=1, keepdims=True)

    def bits(self, quality: int, m: int) -> np.ndarray:
        """Cost in bits (C, K) of each code of codebook ``m`` in each context at a quality level."""
        return -np.log2(self.probabilities(quality, m))

    def cross_entropy_bits(self, indices: np.ndarray, quality: int) -> float:
        """Ideal code length in bits of index maps (M, h, w) at a quality level."""
        tracker = ContextTracker(self.zero, *indices.shape[1:])
        total = 0.0
        for m in range(indices.shape[0]):
            total += float(self.bits(quality, m)[tracker.contexts(), indices[m]].sum())
            tracker.add(indices[m])
        return total


class PriorCounter:
    """Counts (context, code) pairs per codebook over coded images, one table set at a time."""

    def __init__(self, sets: int, codebooks: int, size: int) -> None:
        self.counts = np.zeros((sets, codebooks, NUM_CONTEXTS, size), np.int64)

    def add(self, table: int, indices: np.ndarray, zero: np.ndarray) -> None:
        """Count one image's index maps (M, h, w) into table set ``table``."""
        tracker = ContextTracker(zero, *indices.shape[1:])
        contexts, size = self.counts.shape[2:]
        for m in range(indices.shape[0]):
            pairs = tracker.contexts().ravel() * size + indices[m].ravel()
            self.counts[table, m] += np.bincount(pairs, minlength=contexts * size).reshape(contexts, size)
            tracker.add(indices[m])

    def prior(self, zero: np.ndarray, table_of_quality: np.ndarray) -> Prior:
        """The counted tables, smoothed (:func:`smooth`), as a Prior."""
        return Prior(smooth(self.counts), zero, table_of_quality)


def smooth(counts: np.ndarray, strength: float = 4.0) -> np.ndarray:
    """Tables (..., C, K) of counts as integer rows of about ``ROW_TOTAL``: each context's
    frequencies shrunk toward the codebook's overall frequencies by ``strength``
    pseudo-observations (rare contexts are otherwise guesswork), every entry at least 1."""
    marginal = counts.sum(axis=-2, keepdims=True) + 1.0
    marginal /= marginal.sum(axis=-1, keepdims=True)
    p = (counts + strength * marginal) / (counts.sum(axis=-1, keepdims=True) + strength)
    return np.floor(p * ROW_TOTAL).astype(np.int64) + 1
