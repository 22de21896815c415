import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.training.centroids import CODEBOOK_WEIGHT, CodeMeans


def test_each_code_decodes_to_the_mean_of_its_latents_per_table_set():
    codebooks = np.array([[[0.0], [1.0], [2.0]], [[-1.0], [0.0], [1.0]]])  # (M=2, K=3, d=1)
    means = CodeMeans(2, codebooks)
    latents = np.array([[[[0.4], [0.2]]], [[[-0.5], [0.9]]]])  # (M, h=1, w=2, d)
    indices = np.array([[[1, 1]], [[0, 2]]])
    for _ in range(1000):
        means.add(1, latents, indices)
    values = means.values()
    np.testing.assert_allclose(values[0], codebooks)  # a set nothing was coded at keeps the codebooks
    np.testing.assert_allclose(values[1, 0, 1, 0], 0.3, atol=1e-2)  # code 1 of codebook 0 took 0.4 and 0.2
    np.testing.assert_allclose(values[1, 1, [0, 2], 0], [-0.5, 0.9], atol=1e-2)
    np.testing.assert_allclose(values[1, :, [0, 2]][:, 0], codebooks[0, [0, 2]])  # codes never given stay put


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_a_seldom_used_code_stays_near_its_codebook_value(d, uses, seed):
    """A code given ``uses`` latents moves from its value by uses / (uses + CODEBOOK_WEIGHT) of the way."""
    rng = np.random.default_rng(seed)
    codebooks = rng.normal(size=(1, 4, d))
    means = CodeMeans(1, codebooks)
    latents = rng.normal(size=(1, 1, uses, d))
    means.add(0, latents, np.full((1, 1, uses), 2))
    share = uses / (uses + CODEBOOK_WEIGHT)
    expected = codebooks[0, 2] + share * (latents[0, 0].mean(0) - codebooks[0, 2])
    np.testing.assert_allclose(means.values()[0, 0, 2], expected)
