"""The .vqc container: round trip, and a distinct error for each kind of damage."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec import bitstream
from vqcodec.bitstream import HEADER_SIZE, Header, pack, parse_header, unpack
from vqcodec.errors import (
    CorruptError,
    FormatError,
    ImageTooLargeError,
    TruncatedError,
    UnsupportedVersionError,
)


def _file(mode="RGB", payload=b"\x01\x02\x03\x04" * 5, alpha=b""):
    h = Header(mode, 3, b"ABCDEFGH", 13, 7, len(payload), len(alpha))
    return h, pack(h, payload, alpha)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["L", "RGB", "LA", "RGBA"]), st.integers(1, 255), st.integers(1, 5000),
       st.integers(1, 5000), st.binary(max_size=64), st.binary(min_size=1, max_size=32))
def test_round_trip(mode, quality, w, h, raw, alpha):
    payload = raw[: len(raw) // 4 * 4]
    alpha = alpha if mode in ("LA", "RGBA") else b""
    header = Header(mode, quality, bytes(range(8)), w, h, len(payload), len(alpha))
    c = unpack(pack(header, payload, alpha))
    assert (c.header, c.payload, c.alpha) == (header, payload, alpha)


def test_header_is_small():
    assert HEADER_SIZE == 40


def test_wrong_magic():
    _, data = _file()
    with pytest.raises(FormatError, match="not a .vqc file"):
        unpack(b"PNG!" + data[4:])


def test_newer_version_is_its_own_error():
    _, data = _file()
    with pytest.raises(UnsupportedVersionError, match="newer"):
        unpack(data[:4] + bytes([bitstream.VERSION + 1]) + data[5:])


@pytest.mark.parametrize("cut", [0, 3, 10, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 7])
def test_truncation_is_reported(cut):
    _, data = _file()
    with pytest.raises(TruncatedError):
        unpack(data[:cut])


def test_trailing_bytes_are_corruption():
    _, data = _file()
    with pytest.raises(CorruptError, match="unexpected bytes"):
        unpack(data + b"\x00")


def test_every_single_byte_change_is_detected():
    _, data = _file("RGBA", alpha=b"\x78\x9c\x03\x00")
    for pos in range(len(data)):
        for delta in (1, 0x80):
            damaged = bytearray(data)
            damaged[pos] = (damaged[pos] + delta) % 256
            with pytest.raises(FormatError):
                unpack(bytes(damaged))


def test_pixel_limit_checked_before_anything_else_is_trusted():
    h = Header("RGB", 1, b"x" * 8, 100000, 100000, 0, 0)
    with pytest.raises(ImageTooLargeError):
        parse_header(pack(h, b""), max_pixels=10**9)


def test_invalid_fields_with_valid_checksum_are_corruption():
    _, data = _file()
    fields = list(bitstream.HEADER.unpack_from(data))
    fields[2] = 9  # unknown mode
    head = bitstream.HEADER.pack(*fields)[:-4]
    head += struct.pack("<I", __import__("zlib").crc32(head))
    with pytest.raises(CorruptError, match="mode"):
        parse_header(head + data[len(head):])
