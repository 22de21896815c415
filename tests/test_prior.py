import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.prior import (
    ACTIVITY_BUCKETS,
    MAGNITUDE_CAP,
    MEAN_BUCKETS,
    NUM_CLASSES,
    NUM_CONTEXTS,
    ContextTracker,
    Prior,
    box3,
    bucket,
    cross4,
    phase_positions,
    schedule,
)


def test_buckets_are_bit_lengths():
    assert bucket(np.array([0, 1, 2, 3, 4, 7, 8, 255, 256, 10**6])).tolist() == [0, 1, 2, 2, 3, 3, 4, 8, 9, 9]
    assert bucket(np.array([10**9])).max() == ACTIVITY_BUCKETS - 1


def test_box3_and_cross4_sum_neighbourhoods_inside_the_map():
    grid = np.zeros((3, 4), np.int64)
    grid[0, 0] = 1
    assert box3(grid).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
    assert cross4(grid).tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_phases_cover_every_position_once_quarters_first():
    first, second, third = phase_positions(4, 5)
    assert sorted(np.r_[first, second, third].tolist()) == list(range(20))
    assert all(p // 5 % 2 == 0 and p % 5 % 2 == 0 for p in first)
    assert all(p // 5 % 2 == 1 and p % 5 % 2 == 1 for p in second)
    assert all((p // 5 + p % 5) % 2 == 1 for p in third)


def test_activity_skips_codebook_zero_and_caps_magnitudes():
    zero = np.array([0, 10, 10])
    tracker = ContextTracker(zero, 256, 1, 1)
    tracker.add(np.array([[200]]))  # codebook 0: brightness, not texture
    assert tracker.activity.tolist() == [[0]]
    tracker.add(np.array([[0]]))  # 10 away from its zero code: counts MAGNITUDE_CAP
    assert tracker.activity.tolist() == [[MAGNITUDE_CAP]]


def test_later_phases_read_earlier_ones_and_nothing_not_yet_decoded():
    """Phase 1 sees the same codebook's phase-0 codes on its diagonals, phase 2 its direct
    neighbours; codes the decoder has not decoded yet must not matter."""
    zero = np.array([8, 8])
    tracker = ContextTracker(zero, 16, 4, 4)
    tracker.add(np.full((4, 4), 8))
    flat, busy = np.full((4, 4), 8), np.full((4, 4), 8)
    busy[0, 1] = busy[1, 0] = 12  # phase 2: invisible to phases 1 and 2
    assert np.array_equal(tracker.contexts(1, flat), tracker.contexts(1, busy))
    assert np.array_equal(tracker.contexts(2, flat), tracker.contexts(2, busy))
    busy[1, 1] = 12  # phase 1: read by phase 2 at (0, 1), (1, 0), not by phase 1
    assert np.array_equal(tracker.contexts(1, flat), tracker.contexts(1, busy))
    changed = tracker.contexts(2, busy) != tracker.contexts(2, flat)
    assert changed[0, 1] and changed[1, 0] and not changed[2, 3]
    busy[0, 0] = 12  # phase 0: a diagonal neighbour of (1, 1)
    assert (tracker.contexts(1, busy) != tracker.contexts(1, flat))[1, 1]


def test_codebook_zero_is_predicted_by_its_neighbours_mean():
    tracker = ContextTracker(np.array([0]), 256, 2, 2)
    low, high = np.full((2, 2), 3), np.full((2, 2), 250)
    assert (tracker.contexts(0, low) == 0).all()
    assert tracker.contexts(1, low)[1, 1] == 1 and tracker.contexts(1, high)[1, 1] == MEAN_BUCKETS
    assert tracker.contexts(2, low)[0, 1] == 1 + MEAN_BUCKETS and tracker.contexts(2, high)[0, 1] == 2 * MEAN_BUCKETS


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9), st.integers(2, 300), st.integers(0, 2**32 - 1))
def test_every_context_is_in_range(codebooks, h, w, size, seed):
    rng = np.random.default_rng(seed)
    maps = rng.integers(0, size, (codebooks, h, w))
    for _, _, ctx in schedule(rng.integers(0, size, codebooks), size, maps):
        assert 0 <= ctx.min() and ctx.max() < NUM_CONTEXTS


def test_invalid_tables_are_refused():
    ok = Prior.uniform(2, 4, 3)
    with pytest.raises(ValueError):
        Prior(ok.counts * 0, ok.classes, ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts[:, :, :-1], ok.classes, ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.classes + NUM_CLASSES, ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.classes[:, :, :-1], ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.classes, ok.zero + 4, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts.astype(float), ok.classes, ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.classes, ok.zero, ok.table_of_quality + 1)


def test_cross_entropy_of_uniform_prior():
    prior = Prior.uniform(2, 4, 1)
    assert prior.cross_entropy_bits(np.zeros((2, 1, 5), dtype=int), 0) == pytest.approx(2 * 5 * 2)
