import numpy as np
import pytest

from vqcodec.prior import MAGNITUDE_CAP, NUM_CONTEXTS, ROW_TOTAL, ContextTracker, Prior, PriorCounter, box3, bucket


def test_buckets_are_bit_lengths():
    assert bucket(np.array([0, 1, 2, 3, 4, 7, 8, 255, 256, 10**6])).tolist() == [0, 1, 2, 2, 3, 3, 4, 8, 9, 9]
    assert bucket(np.array([10**9])).max() == NUM_CONTEXTS - 1


def test_box3_sums_the_neighbourhood_inside_the_map():
    grid = np.zeros((3, 4), np.int64)
    grid[0, 0] = 1
    assert box3(grid).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]


def test_activity_skips_codebook_zero_and_caps_magnitudes():
    zero = np.array([0, 10, 10])
    tracker = ContextTracker(zero, 1, 1)
    tracker.add(np.array([[200]]))  # codebook 0: brightness, not texture
    assert tracker.contexts().tolist() == [[0]]
    tracker.add(np.array([[0]]))  # 10 away from its zero code: counts MAGNITUDE_CAP
    assert tracker.activity.tolist() == [[MAGNITUDE_CAP]]


def test_counter_learns_what_context_predicts_and_keeps_every_code_codable():
    zero = np.array([0, 0])
    counter = PriorCounter(1, 2, 8)
    rng = np.random.default_rng(0)
    for _ in range(30):  # codebook 1 is busy (code 3) exactly where ... it is the second codebook: context 0
        idx = np.stack([rng.integers(0, 8, (5, 5)), np.full((5, 5), 3)])
        counter.add(0, idx, zero)
    prior = counter.prior(zero, np.zeros(2, np.int64))
    assert prior.probabilities(0, 1)[0].argmax() == 3 and prior.probabilities(0, 1)[0].max() > 0.9
    assert prior.counts.min() >= 1 and prior.counts.max() <= ROW_TOTAL + 1


def test_rare_contexts_fall_back_to_the_codebooks_frequencies():
    counter = PriorCounter(1, 1, 4)
    counter.add(0, np.full((1, 1, 50), 2), np.zeros(1, np.int64))  # only context 0 is ever seen
    p = counter.prior(np.zeros(1, np.int64), np.zeros(1, np.int64)).probabilities(0, 0)
    assert p[NUM_CONTEXTS - 1].argmax() == 2


def test_invalid_tables_are_refused():
    ok = Prior.uniform(2, 4, 3)
    with pytest.raises(ValueError):
        Prior(ok.counts * 0, ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts[:, :, :-1], ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.zero + 4, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts.astype(float), ok.zero, ok.table_of_quality)
    with pytest.raises(ValueError):
        Prior(ok.counts, ok.zero, ok.table_of_quality + 1)


def test_cross_entropy_of_uniform_prior():
    prior = Prior.uniform(2, 4, 1)
    assert prior.cross_entropy_bits(np.zeros((2, 1, 5), dtype=int), 0) == pytest.approx(2 * 5 * 2)
