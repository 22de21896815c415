import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.rate import calibrate, choose_depths


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 30), st.floats(0, 10), st.integers(0, 2**32 - 1))
def test_chosen_depth_minimises_error_plus_lambda_bits(stages, n, lam, seed):
    rng = np.random.default_rng(seed)
    errors = np.sort(rng.random((stages, 1, n)), axis=0)[::-1]
    bits = rng.random((stages, 1, n)) * 8
    bits[0] = 0
    d = choose_depths(errors, bits, lam)
    assert d.shape == (1, n) and d.min() >= 1 and d.max() <= stages
    cost = errors + lam * np.cumsum(bits, 0)
    assert np.allclose(cost[d - 1, 0, np.arange(n)], cost.min(0)[0])


def test_no_lambda_codes_every_stage_and_a_huge_one_only_the_first():
    errors = np.array([[[4.0, 1.0]], [[2.0, 0.5]], [[1.0, 0.1]]])
    bits = np.array([[[0.0, 0.0]], [[3.0, 3.0]], [[3.0, 3.0]]])
    assert choose_depths(errors, bits, 0.0).tolist() == [[3, 3]]
    assert choose_depths(errors, bits, 1e6).tolist() == [[1, 1]]
    # the textured position (larger errors) keeps stages longer than the flat one
    assert choose_depths(errors, bits, 0.3).tolist() == [[3, 1]]


def test_calibrated_levels_span_depth_one_to_full_depth_evenly_in_log_rate():
    rng = np.random.default_rng(0)
    errors = np.sort(rng.random((4, 2000)) * rng.random(2000) * 10, axis=0)[::-1]
    bits = np.full((4, 2000), 6.0)
    bits[0] = 0
    lams, rates = calibrate(errors, bits, fixed_bits=8.0 * 2000, pixels=64 * 2000, levels=5)
    assert lams == sorted(lams, reverse=True)
    assert rates[0] == 8.0 / 64 and np.isclose(rates[-1], (8.0 + 18.0) / 64)
    assert np.allclose(np.diff(np.log(rates)), np.log(rates[1] / rates[0]))
