import numpy as np
import pytest
import torch

from vqcodec.prior import ROW_TOTAL, Prior, PriorCounter, group_codes


def test_contexts_come_from_left_and_upper_neighbours():
    prior = Prior.uniform(2, 4, num_groups=2)  # groups: code % 2; "none" is class 2
    none = 2
    first = np.array([[0, 1], [3, 2]])
    assert prior.first_contexts(first).tolist() == [[none * 3 + none, 0 * 3 + none], [none * 3 + 0, 1 * 3 + 1]]
    depths = np.array([[1, 2], [2, 2]])  # classes 0, 1; "none" is class 2 (= stages)
    assert prior.depth_contexts(depths).tolist() == [[none * 3 + none, 0 * 3 + none], [none * 3 + 0, 1 * 3 + 1]]


def test_counter_learns_a_deterministic_dependence_and_keeps_every_symbol_codable():
    rng = np.random.default_rng(0)
    counter = PriorCounter(np.arange(8) % 4, stages=2, num_groups=4)
    for _ in range(20):
        first = rng.integers(0, 8, (6, 6))
        counter.add(np.stack([first, (first + 1) % 8]), np.full((6, 6), 2))
    prior = counter.prior()
    p = prior.probabilities(1)
    assert (p.argmax(1) == (np.arange(8) + 1) % 8).all() and (p.max(1) > 0.9).all()
    assert prior.depth_probabilities()[:, 1].min() > 0.9  # always depth 2
    assert min(t.min() for t in (prior.first, prior.rest, prior.depth)) >= 1
    assert prior.rest.max() <= ROW_TOTAL + 1


def test_counter_counts_only_what_the_depths_code():
    counter = PriorCounter(np.zeros(4, int), stages=2, num_groups=1)
    counter.add(np.array([[[0, 0]], [[3, 1]]]), np.array([[1, 2]]))
    assert counter.rest[0, 0].tolist() == [0, 1, 0, 0]  # the 3 lies beyond its position's depth


def test_rare_contexts_fall_back_to_the_stage_frequencies():
    counter = PriorCounter(np.zeros(4, int), stages=2, num_groups=1)
    counter.add(np.array([[[0] * 50], [[2] * 50]]))  # context 0 seen 50 times, contexts 1..3 never
    p = counter.prior().probabilities(1)
    assert p[3].argmax() == 2  # an unseen context predicts the stage's common symbol


def test_invalid_tables_are_refused():
    ok = Prior.uniform(2, 4, num_groups=2)
    with pytest.raises(ValueError):
        Prior(ok.groups, ok.first * 0, ok.rest, ok.depth)
    with pytest.raises(ValueError):
        Prior(ok.groups, ok.first[:-1], ok.rest, ok.depth)
    with pytest.raises(ValueError):
        Prior(ok.groups + 5, ok.first, ok.rest, ok.depth)
    with pytest.raises(ValueError):
        Prior(ok.groups, ok.first.astype(float), ok.rest, ok.depth)
    with pytest.raises(ValueError):
        Prior(ok.groups, ok.first, ok.rest, ok.depth[:, :1])


def test_group_codes_puts_close_codes_together():
    codebook = torch.tensor([[0.0, 0], [0.1, 0], [10, 10], [10.1, 10]])
    g = group_codes(codebook, 2)
    assert g[0] == g[1] and g[2] == g[3] and g[0] != g[2]


def test_cross_entropy_of_uniform_prior():
    prior = Prior.uniform(2, 4)
    # 5 depths of 1 bit each, 5 stage-1 indices and the 2 second-stage ones the depths code, 2 bits each
    depths = np.array([[1, 2, 1, 2, 1]])
    assert prior.cross_entropy_bits(np.zeros((2, 1, 5), dtype=int), depths) == pytest.approx(5 + 10 + 4)
