"""The Pillow plugin, through Pillow's public API alone (with the shipped model)."""

import io

import numpy as np
import pytest
from PIL import Image

import vqcodec  # noqa: F401  (registers the plugin)

from .conftest import smooth_image


@pytest.fixture(scope="module")
def vqc_bytes():
    buf = io.BytesIO()
    Image.fromarray(smooth_image(72, 40, seed=2)).save(buf, format="VQC", quality=70)
    return buf.getvalue()


def test_save_by_extension_and_open_by_magic(tmp_path):
    path = tmp_path / "a.vqc"
    Image.fromarray(smooth_image(64, 48, seed=1)).save(path, quality=50)
    renamed = tmp_path / "not-a-hint.bin"
    renamed.write_bytes(path.read_bytes())
    with Image.open(renamed) as im:
        assert im.format == "VQC" and im.size == (64, 48) and im.mode == "RGB"
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape == (48, 64, 3) and pixels.std() > 5  # a real picture, not a blank


def test_header_fields_and_verify_without_decoding(vqc_bytes, monkeypatch):
    import vqcodec.codec

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(vqcodec.codec, "decompress", no_decoding)
    im = Image.open(io.BytesIO(vqc_bytes))
    assert im.size == (72, 40) and im.info["quality"] == 70
    im.verify()


def test_verify_catches_damage_and_garbage_is_not_a_vqc(vqc_bytes):
    damaged = bytearray(vqc_bytes)
    damaged[-1] ^= 1
    with pytest.raises(SyntaxError):
        Image.open(io.BytesIO(bytes(damaged))).verify()
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(b"\x89VQ" + b"\0" * 60))


def test_extension_and_mime_are_registered():
    assert Image.registered_extensions()[".vqc"] == "VQC"
    assert Image.MIME["VQC"] == "image/x-vqc"


def test_grayscale_with_alpha_round_trips_its_mode(tmp_path):
    arr = np.dstack([smooth_image(33, 21, seed=3)[..., 0], np.full((21, 33), 128, np.uint8)])
    path = tmp_path / "la.vqc"
    Image.fromarray(arr, "LA").save(path)
    with Image.open(path) as im:
        im.load()
        assert im.mode == "LA" and (np.asarray(im)[..., 1] == 128).all()


def test_save_passes_effort_through():
    changed = 0
    for seed, quality in ((3, 60), (4, 30), (5, 90)):  # on some image and level effort keeps the first file
        image = Image.fromarray(smooth_image(64, 48, seed=seed))
        buf = io.BytesIO()
        image.save(buf, format="VQC", quality=quality, effort=2)
        assert buf.getvalue() == vqcodec.compress(image, quality, effort=2)
        changed += buf.getvalue() != vqcodec.compress(image, quality)
    assert changed  # effort changed the codes: the option arrived
