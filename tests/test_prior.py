import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.prior import (
    ACTIVITY_BUCKETS,
    FAR_SPREAD_BUCKETS,
    MAGNITUDE_CAP,
    MAX_CLASSES,
    MEAN_BUCKETS,
    MEAN_CAP,
    NUM_CONTEXTS,
    SPREAD_BUCKETS,
    ContextTracker,
    Prior,
    box3,
    distinct,
    ADAPT_REACH,
    GUIDE_BUCKETS,
    adapted_rows,
    adapted_weights,
    expectation_rows,
    bucket,
    phase_of,
    _PHASE_CONTEXTS as PHASE_CONTEXTS,
    phase_positions,
    schedule,
)


def test_buckets_are_bit_lengths():
    assert bucket(np.array([0, 1, 2, 3, 4, 7, 8, 255, 256, 10**6])).tolist() == [0, 1, 2, 2, 3, 3, 4, 8, 9, 9]
    assert bucket(np.array([10**9])).max() == ACTIVITY_BUCKETS - 1


def on_grid(tracker, phase, grid):
    """The tracker's contexts (-1 elsewhere) and shifts (0 elsewhere) of ``phase`` laid on the map."""
    h, w = grid.shape
    ctx, shift = np.full(h * w, -1), np.zeros(h * w, np.int64)
    ctx[tracker.positions[phase]], shift[tracker.positions[phase]] = tracker.contexts(phase, grid)
    return ctx.reshape(h, w), shift.reshape(h, w)


def test_box3_sums_neighbourhoods_inside_the_map():
    grid = np.zeros((3, 4), np.int64)
    grid[0, 0] = 1
    assert box3(grid).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]


def test_phases_cover_every_position_once_anchors_first():
    """Phases 0-2 are the (even, even) quarter as a pyramid (anchors at multiples of 4,
    then (2, 2) mod 4, then the rest), phase 3 the (odd, odd) quarter, phase 4 the half left."""
    h, w = 9, 10
    phases = phase_positions(h, w)
    assert sorted(np.concatenate(phases).tolist()) == list(range(h * w))
    (r0, c0), (r1, c1), (r2, c2), (r3, c3), (r4, c4) = (np.divmod(p, w) for p in phases)
    assert (r0 % 4 == 0).all() and (c0 % 4 == 0).all()
    assert (r1 % 4 == 2).all() and (c1 % 4 == 2).all()
    assert ((r2 % 2 == 0) & (c2 % 2 == 0) & ((r2 + c2) % 4 == 2)).all()
    assert ((r3 % 2 == 1) & (c3 % 2 == 1)).all()
    assert ((r4 + c4) % 2 == 1).all()


def test_activity_skips_codebook_zero_and_caps_magnitudes():
    zero = np.array([0, 10, 10])
    tracker = ContextTracker(zero, 256, 1, 1)
    tracker.add(np.array([[200]]))  # codebook 0: brightness, not texture
    assert tracker.activity.tolist() == [[0]]
    tracker.add(np.array([[0]]))  # 10 away from its zero code: counts MAGNITUDE_CAP
    assert tracker.activity.tolist() == [[MAGNITUDE_CAP]]


def test_later_phases_read_earlier_ones_and_nothing_not_yet_decoded():
    """Phase 3 sees the same codebook's (even, even) codes on its diagonals, phase 4 its direct
    neighbours; codes the decoder has not decoded yet must not matter."""
    zero = np.array([8, 8])
    tracker = ContextTracker(zero, 16, 4, 4)
    tracker.add(np.full((4, 4), 8))
    flat, busy = np.full((4, 4), 8), np.full((4, 4), 8)

    def ctx(phase, grid):
        return on_grid(tracker, phase, grid)[0]

    busy[0, 1] = busy[1, 0] = 12  # phase 4: invisible to phases 3 and 4
    assert np.array_equal(ctx(3, flat), ctx(3, busy))
    assert np.array_equal(ctx(4, flat), ctx(4, busy))
    busy[1, 1] = 12  # phase 3: read by phase 4 at (0, 1), (1, 0), not by phase 3
    assert np.array_equal(ctx(3, flat), ctx(3, busy))
    changed = ctx(4, busy) != ctx(4, flat)
    assert changed[0, 1] and changed[1, 0] and not changed[2, 3]
    busy[0, 0] = 12  # an anchor: a diagonal neighbour of (1, 1)
    assert (ctx(3, busy) != ctx(3, flat))[1, 1]


def test_codebook_zero_is_predicted_by_its_neighbours_mean():
    """Codebook 0 (brightness) codes under the bucket of its neighbours' mean index and how
    far they stray from it, or, where its neighbours agree, as its difference from that mean."""
    def unpredicted(kind, level, far):
        return 1 + (kind * MEAN_BUCKETS + level) * FAR_SPREAD_BUCKETS + far

    tracker = ContextTracker(np.array([0]), 256, 3, 3)
    low, high = np.array([[0, 0, 9], [0, 0, 0], [0, 0, 0]]), np.array([[250, 0, 255], [0, 0, 0], [255, 0, 255]])
    assert (tracker.contexts(0, low)[0] == 0).all()
    assert on_grid(tracker, 3, low)[0][1, 1] == unpredicted(0, 0, 1)  # mean 2, stray 2 + 7 + 2 + 2 = 13
    assert on_grid(tracker, 3, high)[0][1, 1] == unpredicted(0, MEAN_BUCKETS - 1, 0)  # stray 7
    assert not on_grid(tracker, 3, high)[1].any()  # 250 and 255s stray by 7 from 254: absolute
    wide = np.array([[0, 0, 200], [0, 0, 0], [200, 0, 0]])
    assert on_grid(tracker, 3, wide)[0][1, 1] == unpredicted(0, 100 * MEAN_BUCKETS // 256, FAR_SPREAD_BUCKETS - 1)
    assert on_grid(tracker, 4, low)[0][0, 1] == unpredicted(1, 0, 1)  # 0, 9 and (1, 1)'s 0 disagree
    flat = np.full((3, 3), 200)
    ctx, shift = on_grid(tracker, 4, flat)
    assert shift[0, 1] == 200 and ctx[0, 1] == 1 + 2 * MEAN_BUCKETS * FAR_SPREAD_BUCKETS + SPREAD_BUCKETS
    assert on_grid(tracker, 3, flat)[1][1, 1] == 200


def test_positions_far_from_zero_code_their_difference_from_the_neighbours_mean():
    """A region where a codebook sits far from its zero code (a smooth colour) is
    predicted: shift is the neighbours' rounded mean index, in contexts of their own."""
    zero = np.array([0, 100])
    tracker = ContextTracker(zero, 256, 4, 4)
    tracker.add(np.zeros((4, 4), np.int64))
    grid = np.full((4, 4), 100 + MEAN_CAP)  # at the edge of the near contexts: not predicted
    ctx, shift = on_grid(tracker, 4, grid)
    assert not shift.any() and ctx.max() < 2 * PHASE_CONTEXTS
    grid = np.full((4, 4), 140)
    grid[0, 0] = 143  # (0, 1) has neighbours 143, 140, 140 (the fourth is outside): mean 141
    ctx, shift = on_grid(tracker, 4, grid)
    assert shift[0, 1] == 141 and shift[2, 1] == 140
    assert ctx[0, 1] != ctx[2, 1]  # its neighbours stray by 4 in all: another spread bucket
    assert min(ctx[0, 1], ctx[2, 1]) >= 2 * PHASE_CONTEXTS and ctx.max() < NUM_CONTEXTS
    shift1 = on_grid(tracker, 3, grid)[1]
    assert shift1[3, 3] == 140 and shift1[1, 1] == 0  # diagonals 143, 140, 140, 140 stray by 2 + 3 * 1
    grid[0, 0] = 150  # neighbours that disagree: the absolute tables again
    ctx, shift = on_grid(tracker, 4, grid)
    assert shift[0, 1] == 0 and shift[2, 1] == 140 and ctx[0, 1] < 2 * PHASE_CONTEXTS


def test_the_even_quarter_is_a_pyramid_predicted_from_anchors_two_apart():
    """A smooth ramp's (even, even) positions continue their anchors: phase 1 reads the
    diagonal anchors two apart, phase 2 the direct neighbours two apart, and where they agree
    the code is predicted; where they disagree codebook 0 falls back on the anchors' table and
    later codebooks on phase 0's context (neighbours 16 pixels apart say little of texture)."""
    ramp = 100 + np.add.outer(np.arange(9), np.arange(9)) // 4
    tracker = ContextTracker(np.array([0, 100]), 256, 9, 9)
    ctx1, shift1 = on_grid(tracker, 1, ramp)
    ctx2, shift2 = on_grid(tracker, 2, ramp)
    assert shift1[2, 2] == 101 and shift1[6, 6] == 103  # anchors 100, 101, 101, 102 and 102, 103, 103, 104
    assert shift2[0, 2] == 101 and shift2[4, 2] == 102  # rounded means of 100, 101, 101 and 101, 102, 101, 102
    assert ctx1[2, 2] > 0 and ctx2[0, 2] > 0
    rough = ramp.copy()
    rough[0, 0] = 200  # (2, 2)'s anchors now disagree
    ctx, shift = on_grid(tracker, 1, rough)
    assert shift[2, 2] == 0 and ctx[2, 2] == 0 and shift[6, 6] == 103
    tracker.add(ramp)
    zero_code = np.full((9, 9), 100)  # codebook 1 at its zero code: phase 0's context, not predicted
    anchors = tracker.contexts(0, zero_code)[0][0]
    ctx, shift = on_grid(tracker, 2, zero_code)
    assert ctx[0, 2] == anchors and not shift.any()
    far = np.full((9, 9), 140)  # far from zero and agreeing: predicted, in contexts after the near ones
    ctx, shift = on_grid(tracker, 1, far)
    assert shift[2, 2] == 140 and 2 * PHASE_CONTEXTS <= ctx[2, 2] < NUM_CONTEXTS


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9), st.integers(2, 300), st.integers(0, 2**32 - 1))
def test_every_context_is_in_range(codebooks, h, w, size, seed):
    rng = np.random.default_rng(seed)
    maps = rng.integers(0, size, (codebooks, h, w))
    for _, _, ctx, shift in schedule(rng.integers(0, size, codebooks), size, maps):
        assert 0 <= ctx.min() and ctx.max() < NUM_CONTEXTS
        assert 0 <= shift.min() and shift.max() < size


def _format_contexts(maps, zero, size):
    """docs/format.md's contexts and shifts, position by position in Python integers: (M, h, w) each."""
    m_count, h, w = maps.shape
    x = maps.astype(int).tolist()
    unit = max(1, size // 256)
    around = {1: [(-2, -2), (-2, 2), (2, -2), (2, 2)], 2: [(-2, 0), (2, 0), (0, -2), (0, 2)],
              3: [(-1, -1), (-1, 1), (1, -1), (1, 1)], 4: [(-1, 0), (1, 0), (0, -1), (0, 1)]}
    kind = {3: 0, 4: 1, 1: 2, 2: 3}
    phase = phase_of(h, w)

    def t(v):
        return (1 if v > 0 else -1) * (abs(v) // unit)

    def off(m, r, c):
        return x[m][r][c] - int(zero[m])

    ctx, shift = np.zeros((m_count, h, w), np.int64), np.zeros((m_count, h, w), np.int64)
    for m in range(m_count):
        for r in range(h):
            for c in range(w):
                q = int(phase[r, c])
                near = [(r + dr, c + dc) for dr, dc in around.get(q, []) if 0 <= r + dr < h and 0 <= c + dc < w]
                n = max(1, len(near))
                if m == 0:
                    if q == 0:
                        continue
                    total = sum(x[0][i][j] for i, j in near)
                    u = (2 * total + n) // (2 * n)
                    spread = sum(abs(x[0][i][j] - u) for i, j in near) // unit
                    if spread <= 4:
                        ctx[0, r, c], shift[0, r, c] = 193 + 4 * kind[q] + spread.bit_length(), u
                    elif q >= 3:
                        level = min(total // n * 16 // size, 15)
                        ctx[0, r, c] = 1 + 6 * (16 * kind[q] + level) + min(spread.bit_length(), 8) - 3
                    continue
                activity = sum(min(abs(t(off(k, i, j))), 2) for k in range(1, m)
                               for i in range(max(0, r - 1), min(h, r + 2)) for j in range(max(0, c - 1), min(w, c + 2)))
                a = min(activity.bit_length(), 9)
                p = min(max(t(off(m - 1, r, c)), -2), 2) + 2
                b, mean_bucket = 0, 4
                total = sum(off(m, i, j) for i, j in near)
                v = (2 * total + n * unit) // (2 * n * unit)
                if q >= 3:
                    busy = sum(min(abs(t(off(m, i, j))), 2) for i, j in near)
                    b, mean_bucket = 1 + [0, 1, 2, 3, 3, 4, 4, 4, 4][min(busy, 8)], min(max(v, -4), 4) + 4
                ctx[m, r, c] = ((a * 5 + p) * 6 + b) * 9 + mean_bucket + (2700 if q == 4 else 0)
                if q >= 1 and abs(v) > 4:
                    u = (2 * total + n) // (2 * n)
                    spread = sum(abs(off(m, i, j) - u) for i, j in near) // unit
                    if spread <= 4:
                        ctx[m, r, c] = 5400 + (kind[q] * 4 + spread.bit_length()) * 50 + a * 5 + p
                        shift[m, r, c] = min(max(int(zero[m]) + u, 0), size - 1)
    return ctx, shift


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 11), st.integers(1, 11), st.sampled_from([2, 7, 16, 300, 512]),
       st.integers(0, 2), st.integers(0, 2**32 - 1))
def test_contexts_are_the_format_s(codebooks, h, w, size, texture, seed):
    """The tracker's array contexts equal docs/format.md's, read position by position: on noise,
    on codes near their zero and on flat regions far from it (where positions are predicted)."""
    rng = np.random.default_rng(seed)
    zero = rng.integers(0, size, codebooks)
    if texture == 0:
        maps = rng.integers(0, size, (codebooks, h, w))
    elif texture == 1:
        maps = np.clip(zero[:, None, None] + rng.integers(-3, 4, (codebooks, h, w)) * rng.integers(0, 6), 0, size - 1)
    else:
        maps = np.clip(rng.integers(0, size, (codebooks, 1, 1)) + rng.integers(-2, 3, (codebooks, h, w)), 0, size - 1)
    ctx, shift = np.zeros_like(maps), np.zeros_like(maps)
    for m, pos, c, s in schedule(zero, size, maps):
        ctx[m].ravel()[pos], shift[m].ravel()[pos] = c, s
    expected_ctx, expected_shift = _format_contexts(maps, zero, size)
    assert np.array_equal(ctx, expected_ctx) and np.array_equal(shift, expected_shift)


def test_invalid_tables_are_refused():
    ok = Prior.uniform(2, 4, 3)
    with pytest.raises(ValueError):
        Prior(ok.counts * 0, ok.classes, ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts[:, :, :0], ok.classes, ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(np.ones((1, 2, MAX_CLASSES + 1, 4), np.int64), ok.classes[:1], ok.zero, ok.table_of_quality * 0)
    with pytest.raises(ValueError):
        Prior(ok.counts[:, :, :3], ok.classes + 3, ok.zero, ok.table_of_quality)  # a row the tables lack
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.classes[:, :, :-1], ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.classes, ok.zero + 4, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts.astype(float), ok.classes, ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.classes, ok.zero, ok.table_of_quality + 1)
    for flags in (np.full((1, 2), 2), np.zeros((1, 3), np.int64), np.zeros((1, 2))):  # not 0/1, wrong shape, float
        with pytest.raises(ValueError):
            Prior(ok.counts, ok.classes, ok.zero, ok.table_of_quality, flags)
    on = np.ones((1, 2), np.int64)
    Prior(ok.counts, ok.classes, ok.zero, ok.table_of_quality, on, np.array([[-1, 0]]))  # codebook 1 guided by 0
    for guides in (np.array([[0, -1]]), np.array([[-1, 1]]), np.array([[-1, -2]])):  # itself or later, below -1
        with pytest.raises(ValueError):
            Prior(ok.counts, ok.classes, ok.zero, ok.table_of_quality, on, guides)
    with pytest.raises(ValueError):  # a guide for a codebook that does not adapt
        Prior(ok.counts, ok.classes, ok.zero, ok.table_of_quality, np.array([[1, 0]]), np.array([[-1, 0]]))


def test_cross_entropy_of_uniform_prior():
    prior = Prior.uniform(2, 4, 1)
    assert prior.cross_entropy_bits(np.zeros((2, 1, 5), dtype=int), 0) == pytest.approx(2 * 5 * 2)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_codebook_of_twice_the_resolution_sees_the_same_contexts_near_zero(seed):
    """Contexts measure distance in units of 256 codes (``context_unit``): the maps of a 512-code
    codebook holding twice a 256-code map's offsets from zero give the same contexts wherever
    no position is predicted (neighbours' mean within MEAN_CAP)."""
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 9, 2)
    coarse_zero = np.array([0, 100, 120])
    maps = coarse_zero[:, None, None] + rng.integers(-2, 3, (3, h, w))
    maps[0] = rng.integers(0, 256, (h, w))  # codebook 0 reads indices: left out below
    coarse, fine = (list(schedule(z, size, m)) for z, size, m in
                    ((coarse_zero, 256, maps), (2 * coarse_zero, 512, 2 * maps)))
    for (m, pos, ctx, shift), (_, fine_pos, fine_ctx, fine_shift) in zip(coarse, fine, strict=True):
        assert np.array_equal(pos, fine_pos)
        if m:
            assert np.array_equal(ctx, fine_ctx) and not shift.any() and not fine_shift.any()


def test_tables_are_kept_narrow_and_classes_come_out_wide():
    """A loaded model keeps its tables in the narrowest types (16 classes of 512 codes: 41 MB, not
    121), yet callers get classes they can compute offsets from without wrapping."""
    prior = Prior(np.full((1, 2, 20, 512), 7), np.full((1, 2, NUM_CONTEXTS), 19), np.zeros(2, np.int64),
                  np.zeros(3, np.int64))
    assert prior.counts.dtype == np.int32 and prior.classes.dtype == np.uint8
    assert prior.num_classes == 20
    assert (prior.class_of(0, 1) * 512).max() == 19 * 512


def test_adapted_rows_stay_as_they_are_when_the_image_codes_as_the_tables_expect():
    counts = np.array([[2000, 6000], [5000, 3000]])
    # 8 positions under row 0, their codes exactly as frequent as the row says: weights within
    # the floors' precision (a part in ADAPT_PSEUDO) of one
    adapted = adapted_counts(counts, np.array([2, 6]), 8 * expectation_rows(counts)[0], 8)
    assert np.abs(adapted / counts - 1).max() <= 1 / 64


def adapted_counts(counts, seen, expected, n):
    """An unguided codebook's adapted rows."""
    return adapted_rows(counts, adapted_weights(seen[None], expected[None], np.array([n])))


def _exact(counts, seen, expected, n):
    """docs/format.md's steps, in Python integers."""
    import math

    total, a, out = int(expected.sum()), 64, []
    for s, e in zip(seen.tolist(), expected.tolist()):
        x = min(s * total // e + a, 256 * (n + a))
        out.append(math.isqrt(min(max(65536 * x // (n + a), 256), 16777216)))
    return np.clip(counts.astype(object) * np.array(out, object) // 256, 1, 2**31 - 1).astype(np.int64)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 64), st.integers(1, 2**14), st.integers(0, 2**32 - 1))  # a tile holds at most 2^12 positions; checked beyond
def test_adapted_rows_follow_the_image_within_their_reach(size, n, seed):
    """The codes an image took more often than its tables expected gain weight, the others
    lose it, never beyond ADAPT_REACH either way; every count stays codable and in int32."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 2**27, (3, size)) if seed % 2 else rng.integers(1, 1000, (3, size))
    expected = rng.multinomial(n, np.ones(3) / 3) @ expectation_rows(counts)
    seen = rng.multinomial(n, rng.dirichlet(np.ones(size)))
    adapted = adapted_counts(counts, seen, expected, n)
    assert np.array_equal(adapted, _exact(counts, seen, expected, n))
    assert adapted.dtype == np.int64 and adapted.min() >= 1 and adapted.max() < 2**31
    ratio = adapted / counts
    assert ratio.max() <= ADAPT_REACH and np.all(ratio >= 1 / ADAPT_REACH - 1 / counts)  # less only by the floor
    observed, tabled = seen / n, expected / expected.sum()
    assert np.all((ratio >= 1 - 1 / counts) | (observed <= tabled)) and np.all((ratio <= 1) | (observed >= tabled))


def test_an_adaptive_codebook_learns_the_image_s_palette():
    """A codebook whose every position takes a code its tables find rare (close enough to its
    zero code not to be predicted) costs less when it adapts; its first phase, coded before
    anything of the image is known, is coded as before."""
    counts = np.ones((1, 2, 1, 8), np.int64) * 100
    counts[:, 1, :, 3] = 2
    static = Prior(counts, np.zeros((1, 2, NUM_CONTEXTS), np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64))
    adaptive = Prior(static.counts, static.classes, static.zero, static.table_of_quality, np.array([[0, 1]]))
    maps = np.stack([np.zeros((8, 8), np.int64), np.full((8, 8), 3)])
    steps = list(zip(static.steps(0, maps), adaptive.steps(0, maps), strict=True))
    assert all(np.array_equal(a.tables, b.tables) and np.array_equal(a.rows, b.rows) for a, b in steps[:6])
    assert all(b.tables.shape[0] == 2 and (b.rows == 1).all() for _, b in steps[6:])
    assert adaptive.cross_entropy_bits(maps, 0) < 0.75 * static.cross_entropy_bits(maps, 0)


def _exact_guided(seen, expected, n):
    """docs/format.md's bucket steps, in Python integers: weights (B, K)."""
    import math

    def ratio(h, e, count, total, prior=None, a=64):
        x = h * total // max(e, 1)
        if prior is None:
            return min(max(65536 * min(x + a, 256 * (count + a)) // (count + a), 256), 16777216)
        return min(max((65536 * min(x, 256 * (count + 8)) + 8 * prior) // (count + 8), 256), 16777216)

    s_all, e_all = seen.sum(0).tolist(), expected.sum(0).tolist()
    whole = [ratio(h, e, int(n.sum()), sum(e_all)) for h, e in zip(s_all, e_all)]
    return np.array([[math.isqrt(ratio(h, e, int(n[b]), int(expected[b].sum()), r))
                      for h, e, r in zip(seen[b].tolist(), expected[b].tolist(), whole)] for b in range(len(n))])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 32), st.integers(1, 2**14), st.integers(0, 2**32 - 1))
def test_guided_weights_are_the_format_s_integers(size, n, seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 1000, (3, size))
    buckets = rng.multinomial(n, rng.dirichlet(np.ones(GUIDE_BUCKETS) * 0.3))  # some buckets empty
    seen = np.stack([rng.multinomial(k, rng.dirichlet(np.ones(size))) for k in buckets])
    expected = np.stack([rng.multinomial(k, np.ones(3) / 3) @ expectation_rows(counts) for k in buckets])
    weights = adapted_weights(seen, expected, buckets)
    assert np.array_equal(weights, _exact_guided(seen, expected, buckets))
    whole = adapted_weights(seen.sum(0)[None], expected.sum(0)[None], np.array([n]))  # an empty bucket: the whole's
    assert np.array_equal(weights[buckets == 0], np.broadcast_to(whole, weights[buckets == 0].shape))


def test_a_guided_codebook_learns_which_colour_goes_with_which_brightness():
    """Codebook 1 takes one rare code where codebook 0 is dark and another where it is bright:
    guided by codebook 0, its histogram splits by brightness and it costs less than adapting
    to the image's codes as a whole."""
    counts = np.full((1, 2, 1, 16), 100, np.int64)
    counts[:, 1, :, 2] = counts[:, 1, :, 4] = 5  # within 4 of zero: never predicted
    classes, zero, quality = np.zeros((1, 2, NUM_CONTEXTS), np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64)
    rng = np.random.default_rng(1)
    bright = rng.random((24, 24)) < 0.5
    maps = np.stack([np.where(bright, 15, 0), np.where(bright, 4, 2)])
    whole = Prior(counts, classes, zero, quality, np.array([[0, 1]]))
    guided = Prior(counts, classes, zero, quality, np.array([[0, 1]]), np.array([[-1, 0]]))
    assert guided.codebook_bits(maps, 0)[1] < 0.7 * whole.codebook_bits(maps, 0)[1]


def test_adaptation_is_kept_per_tile(monkeypatch):
    """Two regions of an image wider than a tile, each with its own rare colour code, cost what
    they cost coded apart: each tile learns its own palette (one histogram for the whole image
    learns the mixture, and costs more)."""
    import vqcodec.prior as prior_module

    counts = np.full((1, 2, 1, 16), 100, np.int64)
    counts[:, 1, :, 2] = counts[:, 1, :, 4] = 5
    prior = Prior(counts, np.zeros((1, 2, NUM_CONTEXTS), np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64),
                  np.array([[0, 1]]))
    side = prior_module.ADAPT_TILE
    maps = np.zeros((2, side, 2 * side), np.int64)
    maps[1, :, :side], maps[1, :, side:] = 2, 4
    whole = prior.codebook_bits(maps, 0)[1]
    apart = prior.codebook_bits(maps[:, :, :side], 0)[1] + prior.codebook_bits(maps[:, :, side:], 0)[1]
    assert whole <= 1.01 * apart
    monkeypatch.setattr(prior_module, "ADAPT_TILE", 4 * side)
    assert prior.codebook_bits(maps, 0)[1] > 1.05 * whole


def test_thin_latent_maps_are_refused_at_their_bound():
    """check_shape: at most max(1024, h * w // 1024) adaptation tiles of 64 x 64 latents."""
    from vqcodec.errors import ImageTooLargeError
    from vqcodec.prior import check_shape

    check_shape(1, 65536)  # 1024 tiles
    check_shape(300, 300)  # 25 tiles
    check_shape(16, 10**6)  # 15,625 tiles, 15,625 allowed: a 128-pixel strip of any length
    with pytest.raises(ImageTooLargeError, match="too thin"):
        check_shape(1, 65537)
    with pytest.raises(ImageTooLargeError, match="too thin"):
        check_shape(22_369_622, 1)
    with pytest.raises(ImageTooLargeError, match="too thin"):
        check_shape(15, 10**6)


@given(st.lists(st.integers(-2**40, 2**40), max_size=200))
def test_distinct_is_numpys_unique(values):
    """The adaptive codebooks' rows are numbered by ``distinct``: it must give what np.unique gives."""
    a = np.array(values, np.int64)
    got = distinct(a)
    assert got.dtype == a.dtype and np.array_equal(got, np.unique(a))
