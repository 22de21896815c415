"""Lossless palette payloads: exact round trips whatever the shape and colour count, text coded
in fewer bits than its pixels, and hostile payloads refused as corrupt, never crashing."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from vqcodec import palette
from vqcodec.errors import CorruptError


def text_image(width: int = 200, height: int = 60) -> np.ndarray:
    im = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(im).text((4, 4), "vqcodec palette\nlossless text", fill=(20, 40, 90),
                            font=ImageFont.load_default(size=18))
    return np.asarray(im)


def few_colours(rng: np.random.Generator, h: int, w: int, count: int, blocky: bool) -> np.ndarray:
    colours = rng.integers(0, 256, (count, 3), dtype=np.uint8)
    if blocky:  # runs and repeats, as drawings have
        small = rng.integers(0, count, (-(-h // 4), -(-w // 4)))
        index = np.kron(small, np.ones((4, 4), np.int64))[:h, :w]
    else:
        index = rng.integers(0, count, (h, w))
    return colours[index]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.integers(1, 40), st.sampled_from([1, 2, 5, 256, 300, palette.MAX_COLOURS]),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_round_trip_is_exact(h, w, count, blocky, seed):
    rgb = few_colours(np.random.default_rng(seed), h, w, min(count, h * w), blocky)
    found = palette.palette_of(rgb)
    assert found is not None
    colours, indices = found
    assert np.array_equal(colours[indices], rgb)
    assert np.array_equal(palette.decode(palette.encode(colours, indices), w, h), rgb)


def test_text_takes_fewer_bytes_than_png():
    rgb = text_image()
    payload = palette.encode(*palette.palette_of(rgb))
    assert np.array_equal(palette.decode(payload, 200, 60), rgb)
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, "PNG", optimize=True)
    assert len(payload) < 0.8 * len(png.getvalue())


def test_too_many_colours_is_none():
    rgb = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    assert palette.palette_of(rgb) is None
    for count, codes in ((palette.MAX_COLOURS, True), (palette.MAX_COLOURS + 1, False)):
        packed = np.arange(count) * 4093 % (1 << 24)  # distinct 24-bit colours
        rgb = np.stack([packed >> 16, packed >> 8 & 255, packed & 255], -1).astype(np.uint8).reshape(1, count, 3)
        assert (palette.palette_of(np.repeat(rgb, 3, axis=0)) is not None) == codes


def test_strips_are_not_codable():
    """A step costs fixed work, so images with many steps for their pixels are left to the codes."""
    assert palette.codable(1024, 768) and palette.codable(1, 1) and palette.codable(3, 1000)
    assert not palette.codable(1, 100_000) and not palette.codable(2, 50_000)
    with pytest.raises(CorruptError, match="cannot hold"):
        palette.decode(bytes(8), 1, 100_000)
    with pytest.raises(ValueError):
        palette.encode(np.zeros((1, 3), np.uint8), np.zeros((100_000, 1), np.int16))


def test_payloads_that_disagree_with_their_image_are_corrupt():
    rgb = text_image(64, 32)
    payload = palette.encode(*palette.palette_of(rgb))
    for bad in (payload[:-4], payload + bytes([7, 0, 0, 0]) * 2, payload[:-1]):  # one word more can sit in the state
        with pytest.raises(CorruptError):
            palette.decode(bad, 64, 32)
    with pytest.raises(CorruptError):  # the same payload read as a larger image runs past its end
        palette.decode(payload, 64, 64)


@settings(max_examples=80, deadline=None)
@given(st.binary(min_size=0, max_size=64).map(lambda b: b[: len(b) // 4 * 4]), st.integers(1, 30),
       st.integers(1, 30))
def test_hostile_payloads_are_refused_or_decode(junk, w, h):
    """Bytes an attacker chose: a CorruptError, or an image of the claimed size (never another error)."""
    try:
        out = palette.decode(junk, w, h)
    except CorruptError:
        return
    assert out.shape == (h, w, 3) and out.dtype == np.uint8


def test_a_palette_larger_than_allowed_is_corrupt():
    from vqcodec.entropy import TERMINATOR, queue, uniform_byte

    encoder = queue.RangeEncoder()
    encoder.encode(np.array([palette.MAX_COLOURS >> 8, palette.MAX_COLOURS & 255], np.int32), uniform_byte)
    encoder.encode(TERMINATOR, uniform_byte)
    with pytest.raises(CorruptError, match="colours"):
        palette.decode(encoder.get_compressed().astype("<u4").tobytes(), 4, 4)


def test_the_shapes_a_palette_file_may_have_are_those_of_the_spec():
    """docs/format.md: at most max(4096, width * height // 32) wavefront steps, S = width + 2 (height - 1)."""
    from dataclasses import replace

    import vqcodec
    from vqcodec import bitstream

    assert palette.codable(4096, 1) and not palette.codable(4097, 1)
    assert palette.codable(5000, 64)  # 5126 steps, 10000 allowed
    assert palette.codable(32704, 33) and not palette.codable(32705, 33)  # 32,768 steps at most, whatever P
    assert not palette.codable(5000, 20)  # 5038 steps, 3125 allowed (a limit of width * height // 16 would allow it)
    drawing = np.full((30, 40, 3), 255, np.uint8)
    drawing[5:20, 8:30] = [200, 30, 30]
    data = vqcodec.compress(drawing, 50)
    container = bitstream.unpack(data)
    thin = bitstream.pack(replace(container.header, width=5000, height=20), container.payload, container.alpha)
    with pytest.raises(CorruptError, match="cannot hold a palette payload"):
        vqcodec.decompress(thin)


def test_the_bits_an_encoder_measures_add_up_to_the_payload():
    """Each coded pixel's information content, summed, is the payload less the palette itself,
    the terminator and the coder's flush: what exact tiles are weighed by, tile by tile."""
    from vqcodec.entropy import queue

    rng = np.random.default_rng(5)
    rgb = np.repeat(rng.integers(0, 4, (30, 40, 1)) * 60, 3, axis=2).astype(np.uint8)
    rgb[10:20] = 200
    colours, indices = palette.palette_of(rgb)
    bits = np.zeros(indices.shape)
    grid, inner = palette.index_grid(*indices.shape, len(colours))
    inner[:] = indices
    palette.encode_into(queue.RangeEncoder(), colours, grid, bits=bits)
    payload = palette.encode(colours, indices)
    assert (bits > 0).all() and bits[12:18, 5:35].mean() < 0.5 < bits[:10].mean()
    assert 0 <= len(payload) - (bits.sum() / 8 + 2 + 3 * len(colours) + 4) <= 12
