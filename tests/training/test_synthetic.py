import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.training.data import CropSampler
from vqcodec.training.synthetic import gradient_crop, text_crop


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([32, 64, 128]))
def test_text_is_ink_on_a_background(seed, size):
    crop = text_crop(np.random.default_rng(seed), size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    colours, counts = np.unique(crop.reshape(-1, 3), axis=0, return_counts=True)
    assert counts.max() > 0.3 * size * size  # the background dominates
    assert len(colours) > 2  # ink, with anti-aliased edges


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_gradients_are_smooth(seed):
    crop = gradient_crop(np.random.default_rng(seed), 64).astype(float)
    assert np.abs(np.diff(crop, axis=0)).mean() < 4 and np.abs(np.diff(crop, axis=1)).mean() < 4


def test_the_synthetic_share_replaces_photo_crops_and_replays_from_the_seed():
    black = [np.zeros((40, 40, 3), np.uint8)]
    assert CropSampler(black, 32, 0).batch(8).max() == 0  # share 0: photos only
    mixed = CropSampler(black, 32, 0, synthetic=1.0).batch(8)
    assert (mixed.flatten(1).max(1).values > 0).all()  # every crop synthetic
    assert (CropSampler(black, 32, 0, synthetic=1.0).batch(8) == mixed).all()
