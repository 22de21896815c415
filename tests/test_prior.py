import numpy as np
import pytest

from vqcodec.prior import Prior, count_indices


def test_counts_are_smoothed_so_every_symbol_is_codable():
    prior = Prior.from_counts(np.array([[0, 10, 0], [3, 0, 0]]))
    assert (prior.counts >= 1).all()
    assert prior.probabilities(0).argmax() == 1
    assert np.isclose(prior.probabilities(1).sum(), 1.0)


def test_huge_counts_are_scaled_into_int32():
    prior = Prior.from_counts(np.array([[2**40, 1, 0]]))
    assert prior.counts.max() < 2**31 and prior.counts.min() >= 1


def test_invalid_counts_are_refused():
    with pytest.raises(ValueError):
        Prior(np.array([[0, 1]]))
    with pytest.raises(ValueError):
        Prior(np.array([1.0, 2.0]))


def test_count_indices_per_stage():
    idx = np.array([[[[0, 1]], [[2, 2]]]])  # (B=1, S=2, H=1, W=2)
    assert count_indices(idx, 3).tolist() == [[1, 1, 0], [0, 0, 2]]


def test_cross_entropy_of_uniform_prior():
    prior = Prior.uniform(2, 4)
    assert prior.cross_entropy_bits(np.zeros((2, 5), dtype=int)) == pytest.approx(20.0)
