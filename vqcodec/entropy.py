"""Range coding of a depth map and its code indices with constriction, under the context prior.

One constriction ``queue`` range-coder stream holds, in turn:

- the depth map and then stage 1's indices, each in *anti-diagonal order*
  (diagonal ``d = row + col`` ascending, rows ascending within a diagonal): a
  position's left and upper neighbours lie on diagonal ``d - 1``, so the
  decoder knows a whole diagonal's contexts at once and decodes it in one call
  instead of one call per symbol;
- each stage ``s > 1`` at the positions whose depth is at least ``s``, grouped
  by context (the stage-``s-1`` index at the same position, known to the
  decoder before stage ``s`` starts): contexts in ascending order, positions in
  raster order within a context, each group coded with its context's model.

Models are built from the prior's integer rows (exactly representable as
float64) with ``perfect=False`` fixed, so encoder and decoder agree whatever
constriction's default becomes. ``docs/format.md`` specifies the same.
"""

from __future__ import annotations

import constriction
import numpy as np

from .errors import CorruptError
from .prior import Prior, spatial_contexts

_model = constriction.stream.model
_queue = constriction.stream.queue

#: Symbols coded per call when the encoder knows every context (bounds the
#: float64 probability rows held at once to CHUNK * K * 8 bytes).
CHUNK = 4096


def diagonal_order(h: int, w: int) -> np.ndarray:
    """Raster positions of an h x w grid in anti-diagonal order (rows ascending)."""
    rows, cols = np.divmod(np.arange(h * w), w)
    return np.lexsort((rows, rows + cols))


class EntropyCoder:
    """Encodes and decodes a depth map (h, w) with indices (stages, h, w) under a prior."""

    def __init__(self, prior: Prior) -> None:
        self.prior = prior
        self._family = _model.Categorical(perfect=False)
        self._depth = prior.depth_probabilities()
        self._first = prior.probabilities(0)
        self._rest = [[_model.Categorical(row, perfect=False) for row in prior.probabilities(s)]
                      for s in range(1, prior.num_stages)]

    def encode(self, indices: np.ndarray, depths: np.ndarray) -> bytes:
        """Code ``depths`` (h, w, values 1..S) and, at each position, its first
        ``depth`` indices of ``indices`` (S, h, w), into little-endian 32-bit words."""
        stages, h, w = indices.shape
        if stages != self.prior.num_stages:
            raise ValueError(f"{stages} stages but the prior has {self.prior.num_stages}")
        if depths.shape != (h, w) or (depths.size and (depths.min() < 1 or depths.max() > stages)):
            raise ValueError("depths must be an (h, w) map of values 1 .. stages")
        if indices.size and (indices.min() < 0 or indices.max() >= self.prior.size):
            raise ValueError("index out of the codebook's range")
        indices, depths = indices.astype(np.int64), depths.astype(np.int64)
        encoder = _queue.RangeEncoder()
        order = diagonal_order(h, w)
        maps = [(indices[0], self.prior.first_contexts(indices[0]), self._first)]
        if stages > 1:  # a one-stage model's depths are all 1 and take no bits
            maps.insert(0, (depths - 1, self.prior.depth_contexts(depths), self._depth))
        for symbols, ctx, probs in maps:
            for start in range(0, order.size, CHUNK):
                pos = order[start:start + CHUNK]
                encoder.encode(symbols.ravel()[pos].astype(np.int32), self._family, probs[ctx.ravel()[pos]])
        for s in range(1, stages):
            coded = (depths > s).ravel()
            ctx, sym = indices[s - 1].ravel()[coded], indices[s].ravel()[coded]
            by_ctx = np.argsort(ctx, kind="stable")
            bounds = np.cumsum(np.bincount(ctx, minlength=self.prior.size))
            for c, (lo, hi) in enumerate(zip(np.r_[0, bounds[:-1]], bounds, strict=True)):
                if hi > lo:
                    encoder.encode(sym[by_ctx[lo:hi]].astype(np.int32), self._rest[s - 1][c])
        return encoder.get_compressed().astype("<u4").tobytes()

    def decode(self, payload: bytes, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices (S, h, w; 0 beyond each position's depth) and depths (h, w)
        from a payload made by :meth:`encode`."""
        if len(payload) % 4:
            raise CorruptError("payload length is not a whole number of 32-bit words")
        stages = self.prior.num_stages
        decoder = _queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
        out = np.zeros((stages, h, w), dtype=np.int64)
        try:
            depths = np.ones((h, w), np.int64)
            if stages > 1:
                depths += self._decode_diagonals(decoder, h, w, self._depth, np.arange(stages), stages)
            out[0] = self._decode_diagonals(decoder, h, w, self._first, self.prior.groups, self.prior.num_groups)
            for s in range(1, stages):
                coded = (depths > s).ravel()
                ctx = out[s - 1].ravel()[coded]
                by_ctx = np.argsort(ctx, kind="stable")
                counts = np.bincount(ctx, minlength=self.prior.size)
                symbols = [decoder.decode(self._rest[s - 1][c], int(n)) for c, n in enumerate(counts) if n]
                sym = np.empty(ctx.size, np.int64)
                sym[by_ctx] = np.concatenate(symbols) if symbols else []
                out[s].ravel()[coded] = sym
        except (ValueError, RuntimeError) as exc:  # constriction reports invalid data this way
            raise CorruptError(f"entropy-coded payload is invalid: {exc}") from exc
        return out, depths

    def _decode_diagonals(self, decoder: _queue.RangeDecoder, h: int, w: int, probs: np.ndarray,
                          classes: np.ndarray, num_classes: int) -> np.ndarray:
        """A spatially coded map (h, w), one anti-diagonal per call; a symbol's
        context is its decoded neighbours' classes (``classes[symbol]``)."""
        grid = np.full((h, w), -1, np.int64)  # classes of decoded symbols
        symbols = np.zeros((h, w), np.int64)
        for d in range(h + w - 1):
            rows = np.arange(max(0, d - w + 1), min(h, d + 1))
            cols = d - rows
            left = np.where(cols > 0, grid[rows, np.maximum(cols - 1, 0)], -1)
            up = np.where(rows > 0, grid[np.maximum(rows - 1, 0), cols], -1)
            sym = decoder.decode(self._family, probs[spatial_contexts(left, up, num_classes)])
            symbols[rows, cols] = sym
            grid[rows, cols] = classes[sym]
        return symbols
