"""The learned prior over code indices: per-stage symbol counts, as integers.

Counts are measured on training data and stored with the weights (as
CompressAI stores integer CDF tables with its models), so the entropy coder's
model is a pure function of integers in the weights file: no float produced by
a network ever reaches the coder, and decoding is identical on any machine.
Every count is at least 1, so every code stays encodable.
"""

from __future__ import annotations

import numpy as np


class Prior:
    """Symbol counts of shape (stages, codebook_size), all >= 1."""

    def __init__(self, counts: np.ndarray) -> None:
        counts = np.asarray(counts)
        if counts.ndim != 2 or not np.issubdtype(counts.dtype, np.integer):
            raise ValueError("prior counts must be a 2-D integer array")
        if (counts < 1).any():
            raise ValueError("every prior count must be at least 1")
        if counts.max() >= 2**31:
            raise ValueError("prior counts must fit in int32")
        self.counts = counts.astype(np.int64)

    @classmethod
    def from_counts(cls, counts_observed: np.ndarray) -> "Prior":
        """Add-one smoothed prior from raw observed counts (zeros allowed)."""
        observed = np.asarray(counts_observed, dtype=np.int64)
        scale = max(1, int(np.ceil(observed.max() / (2**30))))
        return cls(observed // scale + 1)

    @classmethod
    def uniform(cls, stages: int, size: int) -> "Prior":
        return cls(np.ones((stages, size), dtype=np.int64))

    @property
    def num_stages(self) -> int:
        return self.counts.shape[0]

    @property
    def size(self) -> int:
        return self.counts.shape[1]

    def probabilities(self, stage: int) -> np.ndarray:
        """float64 probabilities of one stage; exact conversions of the integers."""
        c = self.counts[stage].astype(np.float64)
        return c / c.sum()

    def cross_entropy_bits(self, indices: np.ndarray) -> float:
        """Ideal code length in bits of ``indices`` (stages first) under this prior."""
        total = 0.0
        for s in range(indices.shape[0]):
            p = self.probabilities(s)
            total += float(-np.log2(p[indices[s].ravel()]).sum())
        return total


def count_indices(indices: np.ndarray, size: int) -> np.ndarray:
    """Raw per-stage counts (stages, size) of an index array with stages on axis 1
    (as the model's ``(B, S, H, W)`` output)."""
    stages = indices.shape[1]
    flat = np.moveaxis(indices, 1, 0).reshape(stages, -1)
    return np.stack([np.bincount(row, minlength=size) for row in flat]).astype(np.int64)
