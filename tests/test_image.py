"""Input normalisation: modes, EXIF orientation, unreadable files."""

import io

import numpy as np

import vqcodec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vqcodec.errors import CorruptError, ImageError
from vqcodec.image import (
    ConversionWarning,
    compress_alpha,
    decompress_alpha,
    fill_transparent,
    from_rgb,
    quantize_alpha,
    to_pixels,
)

from .conftest import smooth_image


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(smooth_image(40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "o.jpg"
    img.save(path, exif=exif, quality=95)
    stored = np.asarray(Image.open(path).convert("RGB"))  # the pixels as stored, 20 rows of 40
    # displayed turned 90 degrees clockwise: the stored first row becomes the last column
    assert np.array_equal(to_pixels(path).rgb, np.rot90(stored, k=-1))


def test_sixteen_bit_png_converts_with_warning(tmp_path):
    arr = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    with pytest.warns(ConversionWarning):
        px = to_pixels(path)
    assert px.mode == "L" and px.rgb[-1, -1, 0] == 255 and px.rgb[0, 0, 0] == 0


def _png16(path, arr: np.ndarray, colour_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow writes 16-bit gray only)."""
    import struct
    import zlib

    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels,colour_type,mode", [(3, 2, "RGB"), (4, 6, "RGBA")])
def test_sixteen_bit_colour_png_warns(tmp_path, channels, colour_type, mode):
    arr = np.random.default_rng(0).integers(0, 65536, (6, 5, channels)).astype(np.uint16)
    arr[..., 3:] |= 0x8000  # visible, so the colour is kept as given
    _png16(tmp_path / "deep.png", arr, colour_type)
    with pytest.warns(ConversionWarning, match=f"16-bit {mode}"):
        px = to_pixels(tmp_path / "deep.png")
    assert px.mode == mode and np.array_equal(px.rgb, (arr[..., :3] >> 8).astype(np.uint8))


def test_eight_bit_png_does_not_warn(tmp_path):
    import warnings

    Image.fromarray(smooth_image(8, 8)).save(tmp_path / "plain.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_pixels(tmp_path / "plain.png")


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


def test_decompression_bomb_is_a_clear_error_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("L", (400, 400)).save(path)
    with pytest.raises(ImageError, match="exceeds the limit of 40000 pixels"):
        to_pixels(path, max_pixels=200 * 200)
    saved = Image.MAX_IMAGE_PIXELS
    assert to_pixels(path, max_pixels=400 * 400).rgb.shape == (400, 400, 3)
    assert Image.MAX_IMAGE_PIXELS == saved  # Pillow's own guard is untouched


def test_an_image_over_pillows_limit_opens_when_max_pixels_allows(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses above 200 pixels
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    px = to_pixels(path)  # vqcodec's own limit decides
    assert px.rgb.shape == (30, 40, 3) and (px.rgb == (10, 200, 30)).all()
    assert to_pixels(path.read_bytes()).rgb.shape == (30, 40, 3)
    with pytest.raises(ImageError, match="exceeds the limit of 1000 pixels"):
        to_pixels(path, max_pixels=1000)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_pillows_guard_holds_in_other_threads_while_vqcodec_opens_images(tmp_path):
    """A plain Image.open of a PNG claiming 100000 x 100000, in another thread, is refused by Pillow
    every time while vqcodec opens images over and over (it once lifted Pillow's limit process-wide)."""
    import struct
    import threading
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    photo = tmp_path / "photo.png"
    Image.fromarray(smooth_image(16, 16)).save(photo)
    stop, accepted, refused = threading.Event(), [], []

    def plain_opens() -> None:
        while not stop.is_set():
            try:
                Image.open(io.BytesIO(bomb))
                accepted.append(1)
            except Image.DecompressionBombError:
                refused.append(1)

    worker = threading.Thread(target=plain_opens)
    worker.start()
    try:
        for _ in range(300):
            to_pixels(photo)
    finally:
        stop.set()
        worker.join()
    assert refused and not accepted


def test_default_limit_refuses_a_tiny_file_claiming_a_huge_image(tmp_path):
    """A 12000 x 12000 PNG of one colour is a few hundred KB; its size alone must refuse it
    (compress used to run for minutes at 1.8 GB)."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 15000, 15000, 8, 0, 0, 0, 0)  # 225 MP grayscale, no pixel data needed
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(vqcodec.ImageTooLargeError):
        to_pixels(path)


def test_a_refused_image_leaves_no_file_open(tmp_path):
    import os

    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    truncated = tmp_path / "cut.png"
    Image.new("RGB", (64, 64), "green").save(tmp_path / "whole.png")
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    before = len(os.listdir("/proc/self/fd"))
    for bad in (path, truncated, path, truncated):
        with pytest.raises(ImageError):
            to_pixels(bad)
    assert len(os.listdir("/proc/self/fd")) == before


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2 ** 32 - 1), st.floats(0.0, 1.0))
def test_fill_keeps_visible_colour_and_fills_only_transparency(h, w, seed, hidden_share):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    alpha = np.where(rng.random((h, w)) < hidden_share, 0, rng.integers(1, 256, (h, w))).astype(np.uint8)
    out = fill_transparent(rgb, alpha)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(out[alpha > 0], rgb[alpha > 0])


def test_fill_continues_the_visible_colour_smoothly():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, :32] = (200, 40, 40)  # visible half red, the hidden half black as editors leave it
    alpha = np.zeros((64, 64), np.uint8)
    alpha[:, :32] = 255
    out = fill_transparent(rgb, alpha).astype(int)
    assert np.abs(out[:, 32:] - np.array([200, 40, 40])).max() <= 1  # no black edge to bleed


def test_fill_of_fully_transparent_or_opaque_images():
    rgb = np.full((5, 7, 3), 9, np.uint8)
    assert not fill_transparent(rgb, np.zeros((5, 7), np.uint8)).any()
    assert np.array_equal(fill_transparent(rgb, np.full((5, 7), 255, np.uint8)), rgb)


@pytest.mark.parametrize("quality", [0, 20, 50, 99, 100])
def test_quantized_alpha_keeps_transparent_and_opaque_exact(quality):
    alpha = np.arange(256, dtype=np.uint8).reshape(16, 16)
    q = quantize_alpha(alpha, quality)
    assert q[0, 0] == 0 and q[-1, -1] == 255
    assert np.all(np.diff(q.ravel().astype(int)) >= 0)  # order kept
    assert np.abs(q.astype(int) - alpha).max() <= 128
    assert len(np.unique(q)) == (256 if quality == 100 else 2 + round(254 * (quality / 100) ** 2))
    assert np.array_equal(quantize_alpha(alpha, 100), alpha)


def test_check_pixels_limit_and_large_image_warning_edges():
    import warnings

    from vqcodec.bitstream import DEFAULT_MAX_PIXELS, WARN_PIXELS
    from vqcodec.errors import ImageTooLargeError
    from vqcodec.image import LargeImageWarning, check_pixels

    check_pixels(10, 10, 100)
    with pytest.raises(ImageTooLargeError):
        check_pixels(10, 10, 99)
    with pytest.raises(ImageTooLargeError):
        check_pixels(DEFAULT_MAX_PIXELS + 1, 1, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LargeImageWarning)
        check_pixels(WARN_PIXELS, 1, None)  # at the threshold: no warning
        check_pixels(WARN_PIXELS + 1, 1, 10**12)  # an explicit limit: the caller expects large images
    with pytest.warns(LargeImageWarning, match="is large"):
        check_pixels(WARN_PIXELS + 1, 1, None)


def test_a_vqc_file_is_not_taken_as_an_image_to_code(tmp_path, tiny_model):
    """Pillow reads .vqc through vqcodec's plugin: compressing one would code its decoded image
    again and report a PSNR against that, silently."""
    data = vqcodec.compress(smooth_image(16, 16), 50, tiny_model)
    path = tmp_path / "x.vqc"
    path.write_bytes(data)
    for src in (path, data):
        with pytest.raises(ImageError, match="is a .vqc file already"):
            to_pixels(src)
