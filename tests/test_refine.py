"""Encoding with effort: codes fitted to the image along the decoder's gradient."""

import shutil

import numpy as np
import pytest

import vqcodec
from vqcodec import refine as refine_module
from vqcodec.metrics import squared_error
from vqcodec.errors import VqcError, WeightsError
from vqcodec.metrics import psnr
from vqcodec.rate import bit_weight
from vqcodec.runtime import GRADIENT_FILE
from vqcodec.weights import load_model

from .conftest import smooth_image


def _cost(result, rgb, model):
    diff = np.asarray(result.reconstruction, np.float64) - rgb
    return (diff ** 2).sum() + 8 * bit_weight(model.lambdas[result.quality]) * len(result.data)


def test_effort_zero_is_the_plain_encoding(tiny_model):
    rgb = smooth_image(64, 48, seed=3)
    assert vqcodec.compress(rgb, 50, tiny_model, effort=0) == vqcodec.compress(rgb, 50, tiny_model)


@pytest.mark.parametrize("quality", [10, 60, 100])
def test_effort_never_scores_worse_and_decodes_to_what_it_reports(tiny_model, quality):
    rgb = smooth_image(72, 56, seed=7)
    plain = vqcodec.compress_report(rgb, quality, tiny_model)
    fitted = vqcodec.compress_report(rgb, quality, tiny_model, effort=3)
    assert _cost(fitted, rgb, tiny_model) <= _cost(plain, rgb, tiny_model) * (1 + 1e-12)
    decoded = np.asarray(vqcodec.decompress(fitted.data, model=tiny_model))
    assert np.array_equal(decoded, np.asarray(fitted.reconstruction))
    assert psnr(decoded, rgb) == pytest.approx(fitted.psnr)


def test_effort_changes_the_codes(tiny_model):
    """The steps do something: some quality's file differs from effort 0's (so the test above has teeth)."""
    rgb = smooth_image(72, 56, seed=7)
    assert any(vqcodec.compress(rgb, q, tiny_model, effort=3) != vqcodec.compress(rgb, q, tiny_model)
               for q in (10, 60, 100))


def test_effort_out_of_range_is_refused(tiny_model):
    for effort in (-1, vqcodec.MAX_EFFORT + 1):
        with pytest.raises(VqcError, match="effort"):
            vqcodec.compress(smooth_image(16, 16), 50, tiny_model, effort=effort)


def test_a_model_without_the_gradient_graph_codes_at_effort_zero_only(tiny_model_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / GRADIENT_FILE).unlink()
    model = load_model(copy)
    assert model.fingerprint == load_model(tiny_model_dir).fingerprint  # the graph does not decode: not fingerprinted
    rgb = smooth_image(32, 32)
    assert vqcodec.compress(rgb, 50, model)
    with pytest.raises(WeightsError, match=GRADIENT_FILE):
        vqcodec.compress(rgb, 50, model, effort=1)


def test_effort_with_alpha_keeps_the_alpha_and_decodes_to_its_report(tiny_model):
    from PIL import Image

    rgba = np.dstack([smooth_image(40, 32, seed=5), np.tile(np.linspace(0, 255, 40).astype(np.uint8), (32, 1))])
    image = Image.fromarray(rgba, "RGBA")
    report = vqcodec.compress_report(image, 60, tiny_model, effort=2)
    back = vqcodec.decompress(report.data, model=tiny_model)
    assert back.mode == "RGBA" and np.array_equal(np.asarray(back)[..., 3], rgba[..., 3])
    assert np.array_equal(np.asarray(back), np.asarray(report.reconstruction))


def test_squared_error_in_bands_is_the_whole_sum():
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (70, 33, 3), dtype=np.uint8) for _ in range(2))
    mask = rng.random((70, 33)) > 0.4
    diff = a.astype(np.int64) - b
    assert squared_error(a, b, None, rows=8) == (diff ** 2).sum()
    assert squared_error(a, b, mask, rows=8) == (diff ** 2 * mask[:, :, None]).sum()


def test_refine_hands_back_the_decoders_image_when_its_last_step_wins(tiny_model):
    """compress_report at effort reuses that image instead of decoding the file again: it must be
    exactly the decoder's (the gradient graph's images of earlier steps are not handed back)."""
    from vqcodec import tiling
    from vqcodec.codec import _Encoding
    from vqcodec.image import to_pixels

    rgb = smooth_image(72, 56, seed=7)
    enc = _Encoding(to_pixels(rgb), tiny_model)
    handed = 0
    for quality in (10, 60, 100):
        for steps in (1, 3):
            data, indices, fix, pixels = refine_module.refine(enc.latents, rgb, tiny_model, quality, steps,
                                                              lambda latents: enc._pack(latents, quality))
            if pixels is not None:
                handed += 1
                assert np.array_equal(pixels, tiling.synthesise(tiny_model.transforms, tiny_model.cfg,
                                                                tiny_model.decoded_codes(quality), indices, 72, 56,
                                                                table_set=tiny_model.table_set(quality),
                                                                correction=fix))
    assert handed
