"""Range coding under the integer prior: exact round trip, rate near cross-entropy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.entropy import EntropyCoder
from vqcodec.errors import CorruptError
from vqcodec.prior import Prior


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(0, 300), st.integers(2, 64), st.integers(0, 2**32 - 1))
def test_round_trip_is_exact(stages, count, size, seed):
    rng = np.random.default_rng(seed)
    prior = Prior(rng.integers(1, 1000, size=(4, size)))
    idx = rng.integers(0, size, size=(stages, count))
    coder = EntropyCoder(prior)
    data = coder.encode(idx)
    assert np.array_equal(coder.decode(data, stages, count), idx)


def test_rate_within_one_percent_of_cross_entropy():
    rng = np.random.default_rng(0)
    size = 256
    counts = (1e6 * rng.dirichlet(np.full(size, 0.3), size=3)).astype(np.int64) + 1
    prior = Prior(counts)
    idx = np.stack([rng.choice(size, 20000, p=prior.probabilities(s)) for s in range(3)])
    bits = 8 * len(EntropyCoder(prior).encode(idx))
    ideal = prior.cross_entropy_bits(idx)
    assert ideal < bits <= 1.01 * ideal + 64  # one 32-bit word of flush, plus slack of one more


def test_symbols_the_prior_never_saw_still_code():
    prior = Prior.from_counts(np.array([[1000, 0, 0, 5]]))
    idx = np.array([[1, 2, 0, 3, 1]])
    coder = EntropyCoder(prior)
    assert np.array_equal(coder.decode(coder.encode(idx), 1, 5), idx)


def test_rejects_out_of_range_and_ragged_payloads():
    coder = EntropyCoder(Prior.uniform(1, 4))
    with pytest.raises(ValueError):
        coder.encode(np.array([[4]]))
    with pytest.raises(CorruptError):
        coder.decode(b"\x00\x01\x02", 1, 1)
