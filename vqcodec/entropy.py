"""Range coding of code indices with constriction under the integer prior.

Stage ``s``'s symbols are coded, in raster order, with stage ``s``'s
categorical model; stages follow each other in one range-coder stream. The
models are built from the prior's integer counts (exactly representable as
float64), with ``perfect=False`` fixed so that encoder and decoder agree
whatever constriction's default becomes.
"""

from __future__ import annotations

import constriction
import numpy as np

from .errors import CorruptError
from .prior import Prior

_model = constriction.stream.model
_queue = constriction.stream.queue


class EntropyCoder:
    """Encodes and decodes index arrays of shape (stages, n) under a prior."""

    def __init__(self, prior: Prior) -> None:
        self.prior = prior
        self._models = [_model.Categorical(prior.probabilities(s), perfect=False) for s in range(prior.num_stages)]

    def encode(self, indices: np.ndarray) -> bytes:
        """Code ``indices`` (stages, ...) into little-endian 32-bit words."""
        stages = indices.shape[0]
        if stages > self.prior.num_stages:
            raise ValueError(f"{stages} stages but the prior has {self.prior.num_stages}")
        flat = indices.reshape(stages, -1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.prior.size):
            raise ValueError("index out of the codebook's range")
        encoder = _queue.RangeEncoder()
        for s in range(stages):
            encoder.encode(np.ascontiguousarray(flat[s], dtype=np.int32), self._models[s])
        return encoder.get_compressed().astype("<u4").tobytes()

    def decode(self, payload: bytes, stages: int, count: int) -> np.ndarray:
        """Indices (stages, count) from a payload made by :meth:`encode`."""
        if len(payload) % 4:
            raise CorruptError("payload length is not a whole number of 32-bit words")
        if stages > self.prior.num_stages:
            raise CorruptError(f"{stages} stages but the model has {self.prior.num_stages}")
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        decoder = _queue.RangeDecoder(words)
        out = np.empty((stages, count), dtype=np.int64)
        try:
            for s in range(stages):
                out[s] = decoder.decode(self._models[s], count)
        except (ValueError, RuntimeError) as exc:  # constriction reports invalid data this way
            raise CorruptError(f"entropy-coded payload is invalid: {exc}") from exc
        return out
