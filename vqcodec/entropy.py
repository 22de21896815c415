"""Range coding of code indices with constriction under the context prior.

One constriction ``queue`` range-coder stream holds every stage in turn:

- stage 1 in *anti-diagonal order* (diagonal ``d = row + col`` ascending, rows
  ascending within a diagonal): a position's left and upper neighbours lie on
  diagonal ``d - 1``, so the decoder knows a whole diagonal's contexts at once
  and decodes it in one call instead of one call per symbol;
- stage ``s > 1`` grouped by context (the stage-``s-1`` index at the same
  position, known to the decoder before stage ``s`` starts): contexts in
  ascending order, positions in raster order within a context, each group
  coded with its context's fixed model.

Models are built from the prior's integer rows (exactly representable as
float64) with ``perfect=False`` fixed, so encoder and decoder agree whatever
constriction's default becomes. ``docs/format.md`` specifies the same.
"""

from __future__ import annotations

import constriction
import numpy as np

from .errors import CorruptError
from .prior import Prior

_model = constriction.stream.model
_queue = constriction.stream.queue

#: Stage-1 symbols coded per call when the encoder knows every context (bounds
#: the float64 probability rows held at once to CHUNK * K * 8 bytes).
CHUNK = 4096


def diagonal_order(h: int, w: int) -> np.ndarray:
    """Raster positions of an h x w grid in anti-diagonal order (rows ascending)."""
    rows, cols = np.divmod(np.arange(h * w), w)
    return np.lexsort((rows, rows + cols))


class EntropyCoder:
    """Encodes and decodes index arrays of shape (stages, h, w) under a prior."""

    def __init__(self, prior: Prior) -> None:
        self.prior = prior
        self._family = _model.Categorical(perfect=False)
        self._first = prior.probabilities(0)
        self._rest = [[_model.Categorical(row, perfect=False) for row in prior.probabilities(s)]
                      for s in range(1, prior.num_stages)]

    def encode(self, indices: np.ndarray) -> bytes:
        """Code ``indices`` (stages, h, w) into little-endian 32-bit words."""
        stages, h, w = indices.shape
        if stages > self.prior.num_stages:
            raise ValueError(f"{stages} stages but the prior has {self.prior.num_stages}")
        if indices.size and (indices.min() < 0 or indices.max() >= self.prior.size):
            raise ValueError("index out of the codebook's range")
        indices = indices.astype(np.int64)
        ctx = self.prior.contexts(indices).reshape(stages, -1)
        flat = indices.reshape(stages, -1)
        encoder = _queue.RangeEncoder()
        order = diagonal_order(h, w)
        for start in range(0, order.size, CHUNK):
            pos = order[start:start + CHUNK]
            encoder.encode(flat[0, pos].astype(np.int32), self._family, self._first[ctx[0, pos]])
        for s in range(1, stages):
            by_ctx = np.argsort(ctx[s], kind="stable")
            bounds = np.cumsum(np.bincount(ctx[s], minlength=self.prior.size))
            for c, (lo, hi) in enumerate(zip(np.r_[0, bounds[:-1]], bounds)):
                if hi > lo:
                    encoder.encode(flat[s, by_ctx[lo:hi]].astype(np.int32), self._rest[s - 1][c])
        return encoder.get_compressed().astype("<u4").tobytes()

    def decode(self, payload: bytes, stages: int, h: int, w: int) -> np.ndarray:
        """Indices (stages, h, w) from a payload made by :meth:`encode`."""
        if len(payload) % 4:
            raise CorruptError("payload length is not a whole number of 32-bit words")
        if stages > self.prior.num_stages:
            raise CorruptError(f"{stages} stages but the model has {self.prior.num_stages}")
        decoder = _queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
        out = np.zeros((stages, h, w), dtype=np.int64)
        try:
            self._decode_first(decoder, out[0])
            for s in range(1, stages):
                ctx = out[s - 1].ravel()
                by_ctx = np.argsort(ctx, kind="stable")
                counts = np.bincount(ctx, minlength=self.prior.size)
                symbols = [decoder.decode(self._rest[s - 1][c], int(n)) for c, n in enumerate(counts) if n]
                out[s].ravel()[by_ctx] = np.concatenate(symbols) if symbols else []
        except (ValueError, RuntimeError) as exc:  # constriction reports invalid data this way
            raise CorruptError(f"entropy-coded payload is invalid: {exc}") from exc
        return out

    def _decode_first(self, decoder: _queue.RangeDecoder, first: np.ndarray) -> None:
        """Stage 1, one anti-diagonal per call; neighbours come from earlier diagonals."""
        h, w = first.shape
        for d in range(h + w - 1):
            rows = np.arange(max(0, d - w + 1), min(h, d + 1))
            cols = d - rows
            left = np.where(cols > 0, first[rows, np.maximum(cols - 1, 0)], -1)
            up = np.where(rows > 0, first[np.maximum(rows - 1, 0), cols], -1)
            ctx = self.prior.first_contexts(left, up)
            first[rows, cols] = decoder.decode(self._family, self._first[ctx])
