"""Rate control: which code each sub-vector gets, trading error against bits.

The nearest code is not always the best buy: a code the prior finds likely can
cost a fraction of a bit where the nearest costs six. So the encoder picks, for
each sub-vector, the code minimising ``||z - e||^2 + lam * bits(e | context)``
(entropy-constrained VQ), codebook by codebook in the order they are coded, so
each code's context (``vqcodec/prior.py``) is the one the decoder will see:
codebook by codebook and, within each, phase by phase.
A quality level is a ``lam``: the model stores one per level, spaced evenly in
log scale between the rate weights it was trained over, so rate rises smoothly
with quality.

Each codebook's first phase, its anchors, is coded before any code of its
codebook, so a greedy choice there cannot see that the positions around will
follow it: predicted from their neighbours, a code that continues them is
cheap wherever it lies. Alone, an anchor in a flat region of colour took the
codebook's usual code (a few bits cheaper than the region's own), its
neighbours followed, and a green lawn came back grey at quality 10. So where
the latents around an anchor are smooth (their variance at most
``LEAD_SMOOTH * lam``, so its neighbours will likely take the code it
takes), the anchor is chosen for them: its target is their mean and its error
weighs more (:func:`smooth_means`), 8 times, about half the 16 positions of
its cell; the next two phases, which lead the last two as anchors lead them,
3 times. The decoder does not know: this is the encoder's choice alone.

The search looks at the codes near the nearest one and at the few codes the
position's context makes cheapest (its class's likeliest symbols, moved by its
prediction): for 1-D codebooks, which are kept sorted, a short window of the
codebook and a handful of codes. The cheap codes matter because the context
favours codes far from the latent (a popular level of the codebook, the
neighbours' prediction): a search without them cost held-out photos about 7% more
bits than an exhaustive one, which this search matches (docs/training.md).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from .prior import Prior, Step, context_unit, index_maps, phase_of

#: Codes searched on each side of the nearest code (1-D codebooks), per context unit.
WINDOW = 6
#: The cheapest codes of each position's class searched besides (1-D codebooks).
CHEAPEST = 8
#: A position of phases 0 .. 2 looks at the latents this many positions each side (3x3 at 1) ...
LEAD_REACH = 1
#: ... and where their variance is at most this times lam, aims at their mean ...
LEAD_SMOOTH = 1.0
#: ... with its error weighed more at phases 0, 1 and 2 (they speak for the positions that follow).
LEAD_WEIGHTS = (8.0, 3.0, 3.0)
#: What a bit weighs against squared pixel error (summed, [0, 1] units), per unit of the
#: quality's rate weight ``lam``: the shipped decoder turns a unit of squared latent error
#: into about 0.55 of pixel error, and 0.75 of that scored best on held-out photos (effort).
BIT_WEIGHT = 0.41
#: Latents whose neighbourhoods are measured at once (arrays of a few tens of MB).
SMOOTH_GROUP = 1 << 20
#: Positions searched at once (bounds the candidate arrays to a few MB on large images).
CHUNK = 1 << 16
#: Table rows priced at once (bounds their float64 bits to a few MB).
COST_ROWS = 2048


def quality_lambdas(lam_high: float, lam_low: float, levels: int) -> np.ndarray:
    """Rate weights of quality levels 0 .. levels-1, from ``lam_high`` (smallest files) down to ``lam_low``."""
    return lam_high * (lam_low / lam_high) ** (np.arange(levels) / (levels - 1))


def bit_weight(lam: float) -> float:
    """What a bit weighs at rate weight ``lam``, in squared 8-bit levels summed over pixels."""
    return BIT_WEIGHT * lam * 255.0 ** 2


def per_codebook(latents: np.ndarray, sub_dim: int) -> np.ndarray:
    """Latents (D, h, w) as the sub-vectors (M, h, w, d) that :func:`choose_codes` takes."""
    d, h, w = latents.shape
    return latents.reshape(d // sub_dim, sub_dim, h, w).transpose(0, 2, 3, 1)


def from_codes(indices: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Latents (D, h, w, float32) of code indices (M, h, w) into ``codebooks`` (M, K, d):
    what the decoder is given, the inverse of :func:`per_codebook` up to quantization."""
    m, h, w = indices.shape
    codes = codebooks[np.arange(m)[:, None, None], indices]  # (M, h, w, d)
    return codes.transpose(0, 3, 1, 2).reshape(-1, h, w).astype(np.float32)


def _window(codebook: np.ndarray) -> int:
    """Codes searched on each side of the nearest (:data:`WINDOW` context units), or 0 where every
    code is searched: a codebook of vectors, or one with few more codes than the search holds."""
    k = codebook.shape[0]
    window = WINDOW * context_unit(k)  # the same reach in latent units at every resolution
    return 0 if codebook.shape[1] != 1 or k <= 2 * window + 1 + CHEAPEST else window


def _around_even(x: np.ndarray, axis: int) -> list[np.ndarray]:
    """``x`` at each even index along ``axis`` and at its LEAD_REACH neighbours each side (edges
    repeated), one array per offset, nearest first below."""
    n = x.shape[axis]
    even = np.arange(0, n, 2)
    return [x.take(np.minimum(np.maximum(even + i, 0), n - 1), axis=axis) for i in range(-LEAD_REACH, LEAD_REACH + 1)]


def smooth_means(latents: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """At each (even, even) position (where phases 0 .. 2 lie) of codebooks' latents (G, h, w, d),
    the mean of the latents around (edges repeated) and whether they are smooth, their variance at
    most ``LEAD_SMOOTH * lam``: (G, h2 * w2, d) and (G, h2 * w2), h2 = ceil(h / 2) rows of
    w2 = ceil(w / 2). Separable box sums gathered at the even rows, then the even columns, several
    codebooks at once: a few passes over a quarter of the latents, not a padded copy of them all
    (a tenth of an encode's time was that copy's)."""
    g, h, w, d = latents.shape
    n = (2 * LEAD_REACH + 1) ** 2
    rows = _around_even(latents.astype(np.float64), 1)
    sums = (sum(rows), sum(r * r for r in rows))  # of values and of squares
    mean, square = (sum(_around_even(s, 2)) / n for s in sums)
    variance = (square - mean ** 2).sum(3)
    return mean.reshape(g, -1, d).astype(np.float32), (variance <= LEAD_SMOOTH * lam).reshape(g, -1)


def _aim(v: np.ndarray, at: np.ndarray, width: int, means: np.ndarray, smooth: np.ndarray,
         lead: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets and error weights (or None: all 1) of sub-vectors ``v`` at raster positions ``at``
    (all (even, even)) of a map ``width`` wide, given one codebook's :func:`smooth_means`."""
    row, col = np.divmod(at, width)
    even = row // 2 * ((width + 1) // 2) + col // 2
    chosen = smooth[even]
    if not chosen.any():
        return v, None
    return np.where(chosen[:, None], means[even], v), np.where(chosen, np.float32(lead), np.float32(1))


class _Costs(NamedTuple):
    """What a codebook's table rows (R, K) cost at a rate weight: ``bits`` (R, K + 2 window),
    ``lam`` times each symbol's bits, the first 2 window columns repeated at the end, or None at
    lam 0; ``windows``, a view of them (R, K, 2 window + 1): the bits of the window of symbols from
    each start, wrapping past K - 1 (None without a window or at lam 0); each row's CHEAPEST
    cheapest symbols (R, CHEAPEST) and their ``cheapest_bits``."""

    bits: np.ndarray | None
    windows: np.ndarray | None
    cheapest: np.ndarray
    cheapest_bits: np.ndarray | None


def _costs(tables: np.ndarray, lam: float, window: int) -> _Costs:
    """The :class:`_Costs` of integer ``tables`` (R, K) at ``lam``, in groups of COST_ROWS rows: a
    large image's adapted rows number tens of thousands, and a float64 copy of them all would add
    hundreds of MB to the peak."""
    rows, k = tables.shape
    bits = np.empty((rows, k + 2 * window), np.float32) if lam > 0 else None
    cheapest = np.empty((rows, min(k, CHEAPEST)), np.intp)
    for lo in range(0, rows, COST_ROWS):
        part = tables[lo:lo + COST_ROWS]
        table = -np.log2(part / part.sum(axis=1, keepdims=True, dtype=np.int64))
        if bits is not None:
            bits[lo:lo + COST_ROWS, :k] = lam * table
        if k <= CHEAPEST:
            cheapest[lo:lo + COST_ROWS] = np.argsort(table, axis=1, kind="stable")[:, :CHEAPEST]
        else:  # a quarter of a sort's time; order does not matter
            cheapest[lo:lo + COST_ROWS] = np.argpartition(table, CHEAPEST - 1, axis=1)[:, :CHEAPEST]
    if bits is None:
        return _Costs(None, None, cheapest, None)
    bits[:, k:] = bits[:, :2 * window]
    windows = np.lib.stride_tricks.sliding_window_view(bits, 2 * window + 1, axis=1) if window else None
    return _Costs(bits, windows, cheapest, np.take_along_axis(bits, cheapest, axis=1))


def _search_window(v: np.ndarray, values: np.ndarray, value_windows: np.ndarray, classes: np.ndarray,
                   shift: np.ndarray | None, costs: _Costs, weight: np.ndarray | None) -> np.ndarray:
    """The codes chosen for sub-vectors ``v`` (P, 1) of a sorted 1-D codebook's ``values`` (K,):
    of the 2 window + 1 codes around the nearest (``value_windows``, a sliding view of the values) and
    the position's cheapest (its class's, moved by its ``shift`` (P,) or None), the one of least
    ``weight * (z - e)^2 + bits`` (the first of equals, the window before the cheapest). Each
    window is one slice of the values and of the class's bits, not gathered code by code: a
    quarter fewer instructions than one array of candidates (callgrind)."""
    k, span = values.size, value_windows.shape[1]
    window = span // 2
    near = np.searchsorted(values, v[:, 0])  # nearest: here or below
    lo = np.minimum(np.maximum(near, window), k - 1 - window) - window  # np.clip's checks cost more than its work here
    err = value_windows.take(lo, axis=0)  # (P, span)
    cheap = costs.cheapest[classes]
    if shift is not None:
        cheap = (cheap + shift[:, None]) % k
    err_cheap = values.take(cheap)
    for e in (err, err_cheap):  # in place: these (P, n) arrays are most of an encode's array work
        e -= v
        np.square(e, out=e)
        if weight is not None:
            e *= weight[:, None]
    if costs.bits is not None:
        start = lo if shift is None else (lo - shift) % k  # symbols are codes less the shift, mod K
        err += costs.windows[classes, start]
        err_cheap += costs.cheapest_bits[classes]  # a cheapest code's symbol is the class's own
    rows = np.arange(v.shape[0])
    best, best_cheap = err.argmin(1), err_cheap.argmin(1)
    return np.where(err[rows, best] <= err_cheap[rows, best_cheap], lo + best, cheap[rows, best_cheap])


def choose_codes(latents: np.ndarray, codebooks: np.ndarray, prior: Prior, quality: int, lam: float) -> np.ndarray:
    """Indices (M, h, w) for latents (M, h, w, d) under codebooks (M, K, d), chosen in
    the coder's order (:meth:`Prior.steps`) so every code's context is the decoder's."""
    out = index_maps(*latents.shape[:3], codebooks.shape[1])
    for _ in coded_steps(latents, codebooks, prior, quality, lam, out):
        pass
    return out


def coded_steps(latents: np.ndarray, codebooks: np.ndarray, prior: Prior, quality: int, lam: float,
                out: np.ndarray) -> Iterator[tuple[Step, np.ndarray]]:
    """Choose codes into ``out`` (M, h, w) step by step of :meth:`Prior.steps`, yielding each
    step with its positions' symbols as the range coder takes them
    (:meth:`entropy.EntropyCoder.encode_steps`): the encoder then computes every context once,
    not once to choose and again to code."""
    d, k = latents.shape[3], codebooks.shape[1]
    phase = phase_of(*latents.shape[1:3]).ravel()
    current, group_end, tables = -1, 0, None
    for step in prior.steps(quality, out):
        m, pos, classes, shift = step.m, step.positions, step.rows, step.shift
        lead = LEAD_WEIGHTS[phase[pos[0]]] if phase[pos[0]] < len(LEAD_WEIGHTS) and lam > 0 else None
        if m != current:  # a codebook's tables serve all its phases
            if lam > 0 and m >= group_end:  # codebooks in groups of about SMOOTH_GROUP latents
                group_start, group_end = m, m + max(1, SMOOTH_GROUP // latents[0].size)
                group_means, group_smooth = smooth_means(latents[group_start:group_end], lam)
            if lam > 0:
                means, smooth = group_means[m - group_start], group_smooth[m - group_start]
            current, cb = m, codebooks[m].astype(np.float32)
            window = _window(cb)
            if window:
                values = cb[:, 0].copy()
                value_windows = np.lib.stride_tricks.sliding_window_view(values, 2 * window + 1)
            tables = step.tables
            costs = _costs(tables, lam, window)  # a codebook's class rows serve all its phases ...
        if step.tables is not tables:  # ... but an adaptive codebook's phase brings its adapted rows too
            tables = step.tables
            costs = _costs(tables, lam, window)
        flat_v, flat_out = latents[m].reshape(-1, d), out[m].reshape(-1)
        for lo in range(0, pos.size, CHUNK):
            at, sh, rows = pos[lo:lo + CHUNK], shift[lo:lo + CHUNK], classes[lo:lo + CHUNK]
            v, weight = flat_v[at].astype(np.float32, copy=False), None
            if lead is not None:
                v, weight = _aim(v, at, latents.shape[2], means, smooth, lead)
            if window:
                shifted = sh if sh.any() else None  # most steps predict nothing: no modular arithmetic then
                flat_out[at] = _search_window(v, values, value_windows, rows, shifted, costs, weight)
                continue
            err = np.square(v[:, None, :] - cb[None]).sum(-1)  # every code
            if weight is not None:
                err *= weight[:, None]
            if costs.bits is not None:  # a symbol is its code less the shift, mod K
                err += costs.bits[rows[:, None], (np.arange(k) - sh[:, None]) % k]
            flat_out[at] = err.argmin(1)
        yield step, (flat_out[pos] - shift) % k
