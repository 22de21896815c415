"""Input normalisation: modes, EXIF orientation, unreadable files."""

import numpy as np
import pytest
from PIL import Image

from vqcodec.errors import CorruptError, ImageError
from vqcodec.image import ConversionWarning, compress_alpha, decompress_alpha, from_rgb, to_pixels

from .conftest import smooth_image


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(smooth_image(40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "o.jpg"
    img.save(path, exif=exif, quality=95)
    assert to_pixels(path).rgb.shape == (40, 20, 3)


def test_sixteen_bit_png_converts_with_warning(tmp_path):
    arr = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    with pytest.warns(ConversionWarning):
        px = to_pixels(path)
    assert px.mode == "L" and px.rgb[-1, -1, 0] == 255 and px.rgb[0, 0, 0] == 0


def test_cmyk_converts_with_warning():
    with pytest.warns(ConversionWarning, match="CMYK"):
        px = to_pixels(Image.new("CMYK", (4, 4)))
    assert px.mode == "RGB"


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_unreadable_files_raise_image_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError):
        to_pixels(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        to_pixels(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="directory"):
        to_pixels(tmp_path)


def test_animated_images_are_refused(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageError, match="animated"):
        to_pixels(path)


def test_alpha_plane_round_trip_and_bounds():
    alpha = (np.arange(200).reshape(10, 20) % 256).astype(np.uint8)
    data = compress_alpha(alpha)
    assert np.array_equal(decompress_alpha(data, 20, 10), alpha)
    with pytest.raises(CorruptError):
        decompress_alpha(data, 20, 9)  # would inflate past the declared size
    with pytest.raises(CorruptError):
        decompress_alpha(b"garbage", 20, 10)


def test_from_rgb_restores_mode():
    rgb = smooth_image(5, 4)
    assert from_rgb(rgb, "L", None).mode == "L"
    assert from_rgb(rgb, "RGBA", np.zeros((4, 5), np.uint8)).mode == "RGBA"


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("L", (400, 400)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400 * 400 // 4)  # Pillow refuses above twice this
    with pytest.raises(ImageError, match="decompression bomb"):
        to_pixels(path)
