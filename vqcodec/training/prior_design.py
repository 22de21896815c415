"""Designing a prior at export: counting codes by context, clustering contexts into classes.

Training work, kept out of the coder's modules (``prior.py`` only reads the
result). A table set is designed from the codes of many photos: every
(context, code) pair is counted, then each codebook's ``NUM_CONTEXTS``
contexts are grouped into ``NUM_CLASSES`` classes by a k-means whose distance
is code length (each context joins the class whose table codes its counts in
the fewest bits; each class's table is its contexts' summed counts), the
context quantization of Wu (1997): few enough rows to count reliably and ship,
grouped by what the contexts predict rather than fixed by hand. With 180
contexts, 10 classes coded as well as a table per context; with 6200 and 512
codes, 16 take 0.5-2.3% fewer bits than 10 on held-out photos' codes (most at
low rates; 24 only 0.1-0.3% more), at 64% more table bytes (docs/training.md).
"""

from __future__ import annotations

import numpy as np

from ..prior import NUM_CLASSES, NUM_CONTEXTS, ROW_TOTAL, Prior, context_unit, schedule

#: Pseudo-observations of the codebook's overall frequencies added to each table row.
SMOOTHING = 4.0
#: At most this many codebooks of a table set adapt to the image ...
ADAPTIVE_MAX = 8
#: ... each saving at least this share of its bits on the design photos.
ADAPTIVE_GAIN = 0.02
#: The earlier codebooks tried as an adaptive codebook's guide (the first ones: brightness, colour) ...
GUIDE_CANDIDATES = 4
#: ... the best kept if it saves at least this share of its codebook's bits.
GUIDE_GAIN = 0.01


def smooth(counts: np.ndarray, strength: float = SMOOTHING) -> np.ndarray:
    """Tables (..., C, K) of counts as integer rows of about ``ROW_TOTAL``: each row's
    frequencies shrunk toward the codebook's overall frequencies by ``strength``
    pseudo-observations (rare rows are otherwise guesswork), every entry at least 1."""
    marginal = counts.sum(axis=-2, keepdims=True) + 1.0
    marginal /= marginal.sum(axis=-1, keepdims=True)
    p = (counts + strength * marginal) / (counts.sum(axis=-1, keepdims=True) + strength)
    return np.floor(p * ROW_TOTAL).astype(np.int64) + 1


def usual_codes(latents: list[np.ndarray], codebooks: np.ndarray) -> np.ndarray:
    """Each codebook's most used nearest code over photos' latents (each (M, h, w, d)): the
    prior's zero code, from which its contexts measure activity. Not the code of smallest
    norm: most latent channels are off-centre (their usual code lay 4-36 codes from it on
    the shipped model), which left every position of later codebooks in the top activity
    bucket, where the context said nothing. The counts are summed over a context unit
    either side of each code first (``prior.context_unit``): at 512 codes a narrow spike
    (flat clipped regions) outcounted by a code the broad mode of natural content (codebook
    1 of the densified model; that zero code 13 coarse codes from the old one put a sepia cast
    on grey photos at quality 0)."""
    m_count, size = codebooks.shape[:2]
    unit = context_unit(size)
    counts = np.zeros((m_count, size), np.int64)
    for z in latents:
        for m in range(m_count):
            v = z[m].reshape(-1, z.shape[3]).astype(np.float64)
            nearest = np.square(v[:, None, :] - codebooks[m][None]).sum(-1).argmin(1)
            counts[m] += np.bincount(nearest, minlength=size)
    pooled = np.stack([np.convolve(c, np.ones(2 * unit + 1, np.int64), "same") for c in counts])
    return (pooled * (counts.sum(1, keepdims=True) + 1) + counts).argmax(axis=1)  # ties: the code used most


class ContextCounter:
    """Counts (context, code) pairs of each codebook over coded images."""

    def __init__(self, codebooks: int, size: int) -> None:
        self.counts = np.zeros((codebooks, NUM_CONTEXTS, size), np.int32)  # 406 MB at 64 x 256

    def add(self, indices: np.ndarray, zero: np.ndarray) -> None:
        """Count one image's index maps (M, h, w)."""
        size = self.counts.shape[2]
        for m, pos, ctx, shift in schedule(zero, size, indices):
            pairs = ctx * size + (indices[m].ravel()[pos] - shift) % size
            seen, times = np.unique(pairs, return_counts=True)  # a few thousand pairs of NUM_CONTEXTS * size
            self.counts[m].reshape(-1)[seen] += times.astype(np.int32)

    def design(self, classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
        """Each codebook's class of every context (M, NUM_CONTEXTS) and the smoothed
        tables (M, classes, K) of the classes."""
        maps = np.stack([cluster_contexts(c, classes) for c in self.counts])
        tables = np.stack([np.stack([c[mp == k].sum(0) for k in range(classes)]) for c, mp in zip(self.counts, maps, strict=True)])
        return maps, smooth(tables)


def cluster_contexts(counts: np.ndarray, classes: int, iters: int = 20) -> np.ndarray:
    """Class (R,) of each context of one codebook's counts (R, K), grouping contexts to
    minimise their code length under their class's table. Starts from contexts sorted by
    the entropy of their codes, cut in equal shares; unseen contexts join the largest class."""
    n = counts.sum(1)
    seen = np.flatnonzero(n)
    out = np.zeros(counts.shape[0], np.int64)
    if seen.size == 0:
        return out
    c = counts[seen].astype(np.float64)
    marginal = c.sum(0) + 1.0
    marginal /= marginal.sum()
    p = (c + SMOOTHING * marginal) / (n[seen, None] + SMOOTHING)
    order = np.argsort(-(p * np.log2(p)).sum(1), kind="stable")
    assign = np.zeros(seen.size, np.int64)
    for k, part in enumerate(np.array_split(order, classes)):
        assign[part] = k
    for _ in range(iters):
        tables = np.stack([c[assign == k].sum(0) for k in range(classes)]) + SMOOTHING * marginal
        log_p = np.log2(tables / tables.sum(1, keepdims=True))
        new = np.argmax(c @ log_p.T, axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
    out[:] = np.bincount(assign, weights=n[seen], minlength=classes).argmax()
    out[seen] = assign
    return out


def _bits_with(prior: Prior, quality: int, codes: list[np.ndarray], adaptive: np.ndarray,
               guides: np.ndarray) -> np.ndarray:
    """Each codebook's bits (M,) over ``codes`` (each (M, h, w)) with ``quality``'s table set's
    adaptive flags and guides replaced by these."""
    t = int(prior.table_of_quality[quality])
    flags, guide_rows = prior.adaptive.copy(), prior.guides.copy()
    flags[t], guide_rows[t] = adaptive, guides
    trial = Prior(prior.counts, prior.classes, prior.zero, prior.table_of_quality, flags, guide_rows)
    return sum(trial.codebook_bits(idx, quality) for idx in codes)


def adaptive_codebooks(prior: Prior, quality: int, codes: list[np.ndarray]) -> np.ndarray:
    """The codebooks (M,) 0/1 that should adapt to the image at ``quality``'s table set: at most
    ADAPTIVE_MAX, those whose codes of these images (each (M, h, w)) take the most fewer bits
    adapting, if that is at least ADAPTIVE_GAIN of their bits. On held-out photos the colour
    codebooks gained 10-14% of their bits and most others a few tenths of a percent of a file in
    all; each adapting codebook costs the decoder about a millisecond (docs/training.md)."""
    m_count, unguided = prior.num_codebooks, np.full(prior.num_codebooks, -1)
    static, adapting = (_bits_with(prior, quality, codes, np.full(m_count, flag), unguided) for flag in (0, 1))
    gain = static - adapting
    best = np.argsort(-gain, kind="stable")[:ADAPTIVE_MAX]
    out = np.zeros(m_count, np.uint8)
    out[best[gain[best] >= ADAPTIVE_GAIN * static[best]]] = 1
    return out


def codebook_guides(prior: Prior, quality: int, codes: list[np.ndarray]) -> np.ndarray:
    """The guide (M,) of each adaptive codebook at ``quality``'s table set (-1: none): the
    earlier codebook among the first GUIDE_CANDIDATES whose code, bucketed, best splits its
    image histogram on these images' codes, if that saves GUIDE_GAIN of its bits. On held-out
    photos the colour codebooks guided by brightness took 1-1.3% of the files fewer bits at
    low rates than adapting alone (docs/training.md)."""
    t, m_count = int(prior.table_of_quality[quality]), prior.num_codebooks
    flags = prior.adaptive[t]
    alone = _bits_with(prior, quality, codes, flags, np.full(m_count, -1))
    best, best_bits = np.full(m_count, -1), alone.copy()
    for g in range(min(GUIDE_CANDIDATES, m_count)):
        tried = (flags == 1) & (np.arange(m_count) > g)
        if not tried.any():
            continue
        trial = _bits_with(prior, quality, codes, flags, np.where(tried, g, -1))
        better = tried & (trial < best_bits)
        best[better], best_bits[better] = g, trial[better]
    return np.where(alone - best_bits >= GUIDE_GAIN * alone, best, -1)
