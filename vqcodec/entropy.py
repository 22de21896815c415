"""Range coding of the code indices with constriction, under the context prior.

One constriction ``queue`` range-coder stream holds, codebook by codebook
(m = 0 .. M-1) and phase by phase, that codebook's index map: a
phase's positions grouped by class (``vqcodec/prior.py``; known to the decoder
before the phase starts), classes ascending, raster order within a class, each
group coded with its class's model in one call. The number of calls is at most
M x phases x classes, whatever the image's shape. After the codes come the colour
correction's step, table and integers (``vqcodec/correction.py``; the step alone
when there is none). The stream ends with four fixed bytes under a
uniform model, so a decoder that ran off the end of the data (constriction then
reads zeros) or a payload spliced from elsewhere is caught. A :class:`Reader` codes
again what it decodes, so :func:`finish` can demand the one payload the encoder
writes for those symbols: no extra word, no other final word.

Models are built from the prior's integer rows (exactly representable as
float64) with ``perfect=False`` fixed, so encoder and decoder agree whatever
constriction's default becomes. ``docs/format.md`` specifies the same.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from functools import lru_cache
from typing import Callable, Iterable, Iterator

import constriction
import numpy as np

from . import correction as corr
from .correction import Correction
from .errors import CorruptError
from .prior import Prior, Step, check_shape, index_maps
from .progress import tick

_model = constriction.stream.model
queue = constriction.stream.queue

#: Closes every stream; checked by the decoder.
TERMINATOR = np.array([0x56, 0x51, 0x43, 0x33], np.int32)
uniform_byte = _model.Categorical(np.full(256, 1 / 256), perfect=False)
#: Categorical models given per symbol (probabilities as an (n, K) array at each call).
categorical_family = _model.Categorical(perfect=False)
_STEP = _model.Categorical(np.full(len(corr.STEPS), 1 / len(corr.STEPS)), perfect=False)
_SPREAD = _model.Categorical(np.full(corr.SPREADS, 1 / corr.SPREADS), perfect=False)
#: constriction's models quantize probabilities to this many bits.
PRECISION = 24
#: Bits of the range coder's state, flushed at the end of a stream.
STATE_BITS = 64


def _groups(rows: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The positions in coding order (by row ascending, order kept within a row: a stable sort of
    ``rows``) and ``(row, start, end)`` of each row present in that order."""
    counts = np.bincount(rows)
    narrow = np.uint8 if counts.size <= 256 else np.uint16 if counts.size <= 65536 else rows.dtype  # a large image's adapted rows can pass 65535
    order = np.argsort(rows.astype(narrow, copy=False), kind="stable")  # narrow: a radix sort, 9x faster
    groups, lo = [], 0
    for row, hi in enumerate(np.cumsum(counts).tolist()):
        if hi > lo:
            groups.append((row, lo, hi))
        lo = hi
    return order, groups


class EntropyCoder:
    """Encodes and decodes index maps (M, h, w) under a prior, at a quality level."""

    def __init__(self, prior: Prior) -> None:
        self.prior = prior
        self._models: dict[tuple[int, int, int], object] = {}
        self._rows: tuple[tuple[int, int] | None, np.ndarray | None] = (None, None)  # the last codebook's rows
        self._classes = prior.num_classes  # rows from here on are adapted to the image
        self._min_bits: dict[int, np.ndarray] = {}  # per table set, when first asked for

    def _model(self, quality: int, m: int, row: int, tables: np.ndarray):
        """The model of row ``row`` of a step's ``tables``: the prior's own rows are built once,
        rows adapted to an image (:meth:`Prior.steps`) for the step."""
        if row >= self._classes:
            counts = tables[row].astype(np.float64)
            return _model.Categorical(counts / counts.sum(), perfect=False)
        t = int(self.prior.table_of_quality[quality])
        key = (t, m, row)
        model = self._models.get(key)
        if model is None:
            if self._rows[0] != (t, m):  # a codebook's rows at once: steps come codebook by codebook
                self._rows = ((t, m), self.prior.probabilities(quality, m))
            model = _model.Categorical(self._rows[1][row], perfect=False)
            self._models[key] = model
        return model

    def min_bits(self, quality: int, positions: int, first: int = 0) -> float:
        """The fewest bits codebooks ``first`` .. M-1 can take at ``positions`` positions."""
        t = int(self.prior.table_of_quality[quality])
        if t not in self._min_bits:
            counts = self.prior.table_set(t)  # exact integers: the ratios are those of their float64 values
            p_max = (counts.max(axis=2) / counts.sum(axis=2, dtype=np.int64)).max(axis=1)  # (M,): most likely code anywhere
            # No code can cost less than its quantized probability allows; constriction
            # may round a probability up by at most K quanta.
            slack = self.prior.size * 2.0**-PRECISION
            bits = -np.log2(np.minimum(1.0, p_max + slack))
            bits[self.prior.adaptive[t].astype(bool)] = 0.0  # an image can make any code of these nearly certain
            self._min_bits[t] = bits
        return float(self._min_bits[t][first:].sum()) * positions

    def encode(self, indices: np.ndarray, quality: int, correction: Correction = corr.NONE) -> bytes:
        """Code index maps (M, h, w) and a colour correction into little-endian 32-bit words."""
        m_count, h, w = indices.shape
        if m_count != self.prior.num_codebooks:
            raise ValueError(f"{m_count} index maps but the prior has {self.prior.num_codebooks} codebooks")
        if indices.size and (indices.min() < 0 or indices.max() >= self.prior.size):
            raise ValueError("index out of the codebook's range")
        self._check_quality(quality)
        steps = ((step, (indices[step.m].ravel()[step.positions] - step.shift) % self.prior.size)
                 for step in self.prior.steps(quality, indices))
        return self.encode_steps(steps, quality, lambda: correction)

    def encode_steps(self, steps: Iterable[tuple[Step, np.ndarray]], quality: int,
                     correction: Callable[[], Correction] = lambda: corr.NONE) -> bytes:
        """Code the steps of :meth:`Prior.steps` with the symbols of their positions (what rate
        control yields as it chooses, :func:`rate.coded_steps`), then the colour correction
        ``correction()`` gives once the steps are done, into 32-bit words."""
        self._check_quality(quality)
        encoder = queue.RangeEncoder()
        for step, symbols in steps:
            if step.positions[0] == 0:  # a codebook's first phase: the ones before are done
                tick("coding", step.m, self.prior.num_codebooks)
            order, groups = _groups(step.rows)
            ordered = symbols[order].astype(np.int32)
            for row, lo, hi in groups:
                encoder.encode(ordered[lo:hi], self._model(quality, step.m, row, step.tables))
        tick("coding", self.prior.num_codebooks, self.prior.num_codebooks)
        fix = correction()
        encoder.encode(np.array([fix.step], np.int32), _STEP)
        if fix.active:
            encoder.encode(np.array([fix.spread], np.int32), _SPREAD)
            encoder.encode((fix.values.ravel() + corr.LIMIT).astype(np.int32), _correction_model(fix.spread))
        encoder.encode(TERMINATOR, uniform_byte)
        return encoder.get_compressed().astype("<u4").tobytes()

    def _check_quality(self, quality: int) -> None:
        if not 0 <= quality < self.prior.table_of_quality.size:
            raise ValueError(f"quality {quality} out of range")

    def min_payload_bytes(self, h: int, w: int, quality: int) -> int:
        """The fewest bytes a payload of an (h, w) map of every codebook can take."""
        need = self.min_bits(quality, h * w) + 8 * TERMINATOR.size
        return max(0, math.ceil((need - STATE_BITS) / 8))

    def check_size(self, payload_size: int, h: int, w: int, quality: int) -> None:
        """Refuse a payload too short to hold an (h, w) map of every codebook, before decoding."""
        least = self.min_payload_bytes(h, w, quality)
        if payload_size < least:
            raise CorruptError(f"payload of {payload_size} bytes is too short for the image it claims "
                               f"(at least {least} bytes)")

    def decode(self, payload: bytes, h: int, w: int, quality: int) -> tuple[np.ndarray, Correction]:
        """Index maps (M, h, w) and the colour correction from a payload made by :meth:`encode`;
        every way the payload can disagree with the image it claims raises CorruptError."""
        if len(payload) % 4:
            raise CorruptError("payload length is not a whole number of 32-bit words")
        check_shape(h, w)
        self.check_size(len(payload), h, w, quality)
        m_count = self.prior.num_codebooks
        out = index_maps(m_count, h, w, self.prior.size)
        flat = out.reshape(m_count, -1)
        with coder_errors():
            decoder = Reader(payload)
            for m, pos, rows, shift, tables in self.prior.steps(quality, out):
                if pos[0] == 0:
                    tick("decoding codes", m, m_count)
                    if decoder.maybe_exhausted() and self.min_bits(quality, h * w, m) > STATE_BITS:
                        raise CorruptError("payload ends before the codes it claims")
                order, groups = _groups(rows)
                ordered = np.empty(pos.size, np.int64)  # the symbols in coding order, scattered once
                for row, lo, hi in groups:
                    ordered[lo:hi] = decoder.decode(self._model(quality, m, row, tables), hi - lo)
                at = pos[order]
                flat[m, at] = (ordered + shift[order]) % self.prior.size if shift.any() else ordered
            tick("decoding codes", m_count, m_count)
            fix = self._decode_correction(decoder, h, w)
            finish(decoder, "entropy-coded payload")
        return out, fix

    @staticmethod
    def _decode_correction(decoder, h: int, w: int) -> Correction:
        """The colour correction after the codes of an (h, w) latent map."""
        step = int(decoder.decode(_STEP, 1)[0])
        if step == 0:
            return corr.NONE
        spread = int(decoder.decode(_SPREAD, 1)[0])
        if spread == 0:
            raise CorruptError("colour correction names no table")
        gh, gw = corr.grid_shape(8 * w, 8 * h)
        values = decoder.decode(_correction_model(spread), corr.CHANNELS * gh * gw).astype(np.int64) - corr.LIMIT
        return Correction(step, spread, values.reshape(corr.CHANNELS, gh, gw))


class Reader:
    """A range decoder of a payload that codes again, as it goes, what it decodes.

    constriction's decoder reads words past the end as zeros and its end test
    (``maybe_exhausted``) tolerates one word more than the encoder wrote, and the encoder's
    final word is one choice among many that decode alike: a payload is only canonical if
    it is, word for word, what the encoder writes for the symbols it holds. Coding them
    again costs a few percent of decoding (5 ms of 80 on a Kodak image) and a second
    payload's memory."""

    def __init__(self, payload: bytes) -> None:
        self._words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        self._decoder = queue.RangeDecoder(self._words)
        self._echo = queue.RangeEncoder()

    def decode(self, model, *args) -> np.ndarray:
        """``RangeDecoder.decode(model, amount)`` or ``(family, parameters...)``."""
        symbols = self._decoder.decode(model, *args)
        family = args and not isinstance(args[0], (int, np.integer))
        self._echo.encode(symbols.astype(np.int32, copy=False), model, *(args if family else ()))
        return symbols

    def maybe_exhausted(self) -> bool:
        return self._decoder.maybe_exhausted()

    def canonical(self) -> bool:
        """Whether the payload is exactly what the encoder writes for everything decoded so far."""
        return np.array_equal(self._echo.get_compressed(), self._words)


def _map_rows(counts: np.ndarray, above: np.ndarray) -> np.ndarray:
    rows = counts[above].astype(np.float64)
    return rows / rows.sum(axis=1, keepdims=True)


def encode_tile_map(encoder, grid: np.ndarray, symbols: int, coded: np.ndarray | None = None) -> None:
    """Code a map of tiles (rows, columns; each a symbol below ``symbols``) row by row, a row's
    tiles in one call, each under adaptive counts of the symbols coded so far below a tile above
    of the same symbol as its own tile above (0 in the first row and under a tile not coded).
    Tiles outside ``coded`` (rows, columns, bool) are skipped: the decoder knows them already.
    Exact tiles' map and the smoothing map (:mod:`exact`, :mod:`smooth`; docs/format.md)."""
    counts = np.ones((symbols, symbols), np.int64)
    above = np.zeros(grid.shape[1], np.int64)
    for r, row in enumerate(grid.astype(np.int64)):
        keep = np.ones(row.size, bool) if coded is None else coded[r]
        if keep.any():
            encoder.encode(row[keep].astype(np.int32), categorical_family, _map_rows(counts, above[keep]))
            np.add.at(counts, (above[keep], row[keep]), 1)
        above = np.where(keep, row, 0)


def decode_tile_map(decoder: Reader, rows: int, cols: int, symbols: int,
                    coded: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`encode_tile_map`: the map (rows, columns, int64), 0 where not coded.
    Call inside :func:`coder_errors`."""
    counts = np.ones((symbols, symbols), np.int64)
    grid = np.zeros((rows, cols), np.int64)
    above = np.zeros(cols, np.int64)
    for r in range(rows):
        keep = np.ones(cols, bool) if coded is None else coded[r]
        if keep.any():
            grid[r, keep] = decoder.decode(categorical_family, _map_rows(counts, above[keep]))
            np.add.at(counts, (above[keep], grid[r, keep]), 1)
        above = grid[r]
    return grid


def finish(decoder: Reader, what: str) -> None:
    """Read a stream's terminator and check the stream ends with it: a decoder that ran off the
    end of its data, a payload spliced from elsewhere, or any word other than the encoder's
    (one more, or a different last one) make ``what`` corrupt."""
    end = decoder.decode(uniform_byte, TERMINATOR.size)
    if not np.array_equal(end, TERMINATOR):
        raise CorruptError(f"{what} does not end where the image does")
    if not decoder.canonical():
        raise CorruptError(f"{what} has data after its last symbol, or a last word no encoder writes")


@contextmanager
def coder_errors() -> Iterator[None]:
    """Turn what constriction raises on invalid data (a Rust panic included) into CorruptError."""
    try:
        yield
    except CorruptError:
        raise
    except (ValueError, RuntimeError, AssertionError, OverflowError) as exc:  # constriction's invalid data
        raise CorruptError(f"entropy-coded payload is invalid: {exc}") from exc
    except BaseException as exc:  # a Rust panic surfaces as a BaseException subclass
        if type(exc).__name__ != "PanicException":
            raise
        raise CorruptError(f"entropy-coded payload is invalid: {exc}") from exc


@lru_cache(maxsize=corr.SPREADS)
def _correction_model(spread: int):
    """The range coder's model of the correction's integers (shifted to 0 .. 2 LIMIT) under a table."""
    counts = corr.counts(spread).astype(np.float64)
    return _model.Categorical(counts / counts.sum(), perfect=False)
