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
                 rng.integers(1, 1000, (stages - 1, size, size)), rng.integers(1, 1000, ((stages + 1) ** 2, stages)))


def spatial_sample(table: np.ndarray, classes: np.ndarray, n: int, h: int, w: int,
                   rng: np.random.Generator) -> np.ndarray:
    """A map drawn symbol by symbol (raster order) from a left/up context table."""
    p = table / table.sum(1, keepdims=True)
    out = np.zeros((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            left = classes[out[i, j - 1]] if j else n
            up = classes[out[i - 1, j]] if i else n
            out[i, j] = rng.choice(p.shape[1], p=p[left * (n + 1) + up])
    return out


def sample(prior: Prior, h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A depth map and indices drawn from the prior itself, context by context."""
    stages = prior.num_stages
    depths = spatial_sample(prior.depth, np.arange(stages), stages, h, w, rng) + 1
    idx = np.zeros((stages, h, w), dtype=np.int64)
    idx[0] = spatial_sample(prior.first, prior.groups, prior.num_groups, h, w, rng)
    for s in range(1, stages):
        p = prior.probabilities(s)[idx[s - 1].ravel()]
        idx[s] = (p.cumsum(1) > rng.random((h * w, 1))).argmax(1).reshape(h, w)
    return np.where(np.arange(stages)[:, None, None] < depths, idx, 0), depths


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 20), st.integers(1, 20), st.integers(2, 40), st.integers(1, 5),
       st.integers(0, 2**32 - 1))
def test_round_trip_is_exact(stages, h, w, size, groups, seed):
    rng = np.random.default_rng(seed)
    prior = random_prior(rng, stages, size, groups)
    depths = rng.integers(1, stages + 1, (h, w))
    idx = np.where(np.arange(stages)[:, None, None] < depths, rng.integers(0, size, (stages, h, w)), 0)
    coder = EntropyCoder(prior)
    got, got_depths = coder.decode(coder.encode(idx, depths), h, w)
    assert np.array_equal(got_depths, depths) and np.array_equal(got, idx)


def test_indices_beyond_a_positions_depth_cost_nothing():
    rng = np.random.default_rng(2)
    prior = random_prior(rng, 3, 16, 2)
    coder = EntropyCoder(prior)
    depths = rng.integers(1, 4, (9, 9))
    idx = rng.integers(0, 16, (3, 9, 9))
    other = np.where(np.arange(3)[:, None, None] < depths, idx, (idx + 5) % 16)
    assert coder.encode(idx, depths) == coder.encode(other, depths)


def test_rate_within_one_percent_of_cross_entropy():
    rng = np.random.default_rng(0)
    size, groups, stages = 64, 4, 3
    smooth = lambda *shape: (1e6 * rng.dirichlet(np.full(shape[-1], 0.3), shape[:-1])).astype(np.int64) + 1
    prior = Prior(rng.integers(0, groups, size), smooth((groups + 1) ** 2, size), smooth(stages - 1, size, size),
                  smooth((stages + 1) ** 2, stages))
    idx, depths = sample(prior, 60, 70, rng)
    bits = 8 * len(EntropyCoder(prior).encode(idx, depths))
    ideal = prior.cross_entropy_bits(idx, depths)
    assert ideal < bits <= 1.01 * ideal + 64  # one 32-bit word of flush, plus slack of one more


def test_context_makes_predictable_indices_cheap():
    """A stage that copies the previous one costs almost nothing once the prior knows it."""
    size = 16
    rest = np.ones((1, size, size), np.int64) + np.eye(size, dtype=np.int64)[None] * 10**6
    prior = Prior(np.arange(size) % 4, np.ones((25, size), np.int64), rest, np.ones((9, 2), np.int64))
    first = np.random.default_rng(1).integers(0, size, (40, 40))
    coder = EntropyCoder(prior)
    one = coder.encode(np.stack([first, first]), np.ones(first.shape, np.int64))
    both = coder.encode(np.stack([first, first]), np.full(first.shape, 2))
    assert len(both) - len(one) < 0.01 * len(one)


def test_diagonal_order_puts_left_and_upper_neighbours_first():
    h, w = 5, 7
    rank = np.empty(h * w, int)
    rank[diagonal_order(h, w)] = np.arange(h * w)
    rank = rank.reshape(h, w)
    assert (rank[:, 1:] > rank[:, :-1]).all() and (rank[1:, :] > rank[:-1, :]).all()


def test_rejects_bad_input_and_ragged_payloads():
    coder = EntropyCoder(Prior.uniform(2, 4))
    ones = np.ones((1, 1), np.int64)
    with pytest.raises(ValueError):
        coder.encode(np.array([[[4]], [[0]]]), ones)  # index out of range
    with pytest.raises(ValueError):
        coder.encode(np.zeros((2, 1, 1), np.int64), ones * 3)  # depth beyond the stages
    with pytest.raises(ValueError):
        coder.encode(np.zeros((1, 1, 1), np.int64), ones)  # fewer stages than the prior
    with pytest.raises(CorruptError):
        coder.decode(b"\x00\x01\x02", 1, 1)
