"""Size and PSNR targets: never over the size, never under the PSNR, the best such level."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vqcodec

from .conftest import smooth_image

PHOTO = smooth_image(72, 56, seed=5)


@pytest.fixture(scope="module")
def sizes(tiny_model):
    return [len(vqcodec.compress(PHOTO, q, tiny_model)) for q in range(tiny_model.num_qualities)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(0.0, 1.0))
def test_size_target_is_never_exceeded_and_the_next_level_would(tiny_model, sizes, where):
    target = int(sizes[0] + where * (sizes[-1] - sizes[0]))
    r = vqcodec.compress_to_size(PHOTO, target, tiny_model)
    assert len(r.data) <= target
    assert r.data == vqcodec.compress(PHOTO, r.quality, tiny_model)  # the file of that level, whole
    assert r.quality == tiny_model.num_qualities - 1 or sizes[r.quality + 1] > target


def test_size_below_the_smallest_file_is_a_target_error(tiny_model, sizes):
    with pytest.raises(vqcodec.TargetError, match="quality 0"):
        vqcodec.compress_to_size(PHOTO, sizes[0] - 1, tiny_model)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(0.0, 1.0))
def test_psnr_target_is_always_reached_and_the_level_below_would_not(tiny_model, where):
    high = vqcodec.compress_report(PHOTO, tiny_model.num_qualities - 1, tiny_model).psnr
    low = min(vqcodec.compress_report(PHOTO, 0, tiny_model).psnr, high)  # the tiny model is barely trained
    target = low + where * (high - low)
    r = vqcodec.compress_to_psnr(PHOTO, target, tiny_model)
    assert r.psnr >= target
    decoded = np.asarray(vqcodec.decompress(r.data, model=tiny_model))
    assert vqcodec.psnr(decoded, PHOTO) >= target  # measured on what decompress really gives
    assert r.quality == 0 or vqcodec.compress_report(PHOTO, r.quality - 1, tiny_model).psnr < target


def test_unreachable_psnr_is_a_target_error(tiny_model):
    with pytest.raises(vqcodec.TargetError, match="cannot reach 99 dB"):
        vqcodec.compress_to_psnr(PHOTO, 99.0, tiny_model)
