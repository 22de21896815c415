"""Range coding under the context prior: exact round trip, rate near cross-entropy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.entropy import EntropyCoder, diagonal_order
from vqcodec.errors import CorruptError
from vqcodec.prior import Prior


def random_prior(rng: np.random.Generator, stages: int, size: int, groups: int) -> Prior:
    return Prior(rng.integers(0, groups, size), rng.integers(1, 1000, ((groups + 1) ** 2, size)),
                 rng.integers(1, 1000, (stages - 1, size, size)))


def sample(prior: Prior, h: int, w: int, stages: int, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn from the prior itself, context by context (raster order)."""
    idx = np.zeros((stages, h, w), dtype=np.int64)
    for i in range(h):
        for j in range(w):
            left = idx[0, i, j - 1] if j else -1
            up = idx[0, i - 1, j] if i else -1
            ctx = prior.first_contexts(np.array(left), np.array(up))
            idx[0, i, j] = rng.choice(prior.size, p=prior.probabilities(0)[ctx])
    for s in range(1, stages):
        p = prior.probabilities(s)[idx[s - 1].ravel()]
        idx[s] = (p.cumsum(1) > rng.random((h * w, 1))).argmax(1).reshape(h, w)
    return idx


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 20), st.integers(1, 20), st.integers(2, 40), st.integers(1, 5),
       st.integers(0, 2**32 - 1))
def test_round_trip_is_exact(stages, h, w, size, groups, seed):
    rng = np.random.default_rng(seed)
    prior = random_prior(rng, 4, size, groups)
    idx = rng.integers(0, size, size=(stages, h, w))
    coder = EntropyCoder(prior)
    assert np.array_equal(coder.decode(coder.encode(idx), stages, h, w), idx)


def test_rate_within_one_percent_of_cross_entropy():
    rng = np.random.default_rng(0)
    size, groups = 64, 4
    prior = Prior(rng.integers(0, groups, size),
                  (1e6 * rng.dirichlet(np.full(size, 0.3), (groups + 1) ** 2)).astype(np.int64) + 1,
                  (1e6 * rng.dirichlet(np.full(size, 0.3), (2, size))).astype(np.int64) + 1)
    idx = sample(prior, 60, 70, 3, rng)
    bits = 8 * len(EntropyCoder(prior).encode(idx))
    ideal = prior.cross_entropy_bits(idx)
    assert ideal < bits <= 1.01 * ideal + 64  # one 32-bit word of flush, plus slack of one more


def test_context_makes_predictable_indices_cheap():
    """A stage that copies the previous one costs almost nothing once the prior knows it."""
    size = 16
    rest = np.ones((1, size, size), np.int64) + np.eye(size, dtype=np.int64)[None] * 10**6
    prior = Prior(np.arange(size) % 4, np.ones((25, size), np.int64), rest)
    idx = np.random.default_rng(1).integers(0, size, (1, 40, 40))
    both = np.concatenate([idx, idx])
    coder = EntropyCoder(prior)
    assert len(coder.encode(both)) - len(coder.encode(idx)) < 0.01 * len(coder.encode(idx))


def test_diagonal_order_puts_left_and_upper_neighbours_first():
    h, w = 5, 7
    rank = np.empty(h * w, int)
    rank[diagonal_order(h, w)] = np.arange(h * w)
    rank = rank.reshape(h, w)
    assert (rank[:, 1:] > rank[:, :-1]).all() and (rank[1:, :] > rank[:-1, :]).all()


def test_rejects_out_of_range_and_ragged_payloads():
    coder = EntropyCoder(Prior.uniform(1, 4))
    with pytest.raises(ValueError):
        coder.encode(np.array([[[4]]]))
    with pytest.raises(CorruptError):
        coder.decode(b"\x00\x01\x02", 1, 1, 1)
