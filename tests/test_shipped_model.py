"""The shipped weights: loadable from the package, every quality a distinct, ordered rate."""

import json

import numpy as np
import pytest

import vqcodec
from vqcodec.weights import CONFIG_FILE, DEFAULT_WEIGHTS


@pytest.fixture(scope="module")
def shipped():
    return vqcodec.load_model()


def test_at_least_six_quality_levels(shipped):
    assert shipped.num_qualities >= 6


def test_qualities_give_ordered_sizes_and_improving_psnr(shipped):
    results = [vqcodec.compress_report(vqcodec.DEMO_IMAGE, q, shipped) for q in range(1, shipped.num_qualities + 1)]
    sizes = [len(r.data) for r in results]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    psnrs = [r.psnr for r in results]
    assert psnrs[-1] > psnrs[0] + 2.0
    assert psnrs[0] > 20.0  # a trained model, not noise


def test_round_trip_of_the_demo_photo(shipped):
    r = vqcodec.compress_report(vqcodec.DEMO_IMAGE, vqcodec.DEFAULT_QUALITY, shipped)
    out = vqcodec.decompress(r.data, model=shipped)
    assert np.array_equal(np.asarray(out), np.asarray(r.reconstruction))


def test_weights_record_how_they_were_trained():
    config = json.loads((DEFAULT_WEIGHTS / CONFIG_FILE).read_text())
    assert config["training"]["steps"] > 0 and config["training"]["cpu_minutes"] > 0
