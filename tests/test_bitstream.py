"""The .vqc container: round trip, and a distinct error for each kind of damage."""

from dataclasses import replace
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
@given(st.sampled_from(["L", "RGB", "LA", "RGBA"]), st.integers(0, 100), st.integers(1, 5000),
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


def test_the_pixel_limit_admits_exactly_its_count():
    h = Header("RGB", 1, b"x" * 8, 300, 200, 0, 0)
    assert parse_header(pack(h, b""), max_pixels=300 * 200).width == 300
    with pytest.raises(ImageTooLargeError, match="exceeds the limit of 59999 pixels"):
        parse_header(pack(h, b""), max_pixels=300 * 200 - 1)


def test_invalid_fields_with_valid_checksum_are_corruption():
    _, data = _file()
    fields = list(bitstream.HEADER.unpack_from(data))
    fields[2] = 9  # unknown mode
    head = bitstream.HEADER.pack(*fields)[:-4]
    head += struct.pack("<I", __import__("zlib").crc32(head))
    with pytest.raises(CorruptError, match="mode"):
        parse_header(head + data[len(head):])


def _with_fields(data: bytes, **fields) -> bytes:
    """``data`` with header fields replaced and both CRCs recomputed, as an attacker would."""
    import zlib

    names = ["magic", "version", "mode", "quality", "flags", "model", "width", "height", "payload_size",
             "alpha_size", "crc"]
    values = dict(zip(names, bitstream.HEADER.unpack_from(data), strict=True))
    values.update(fields)
    head = bitstream.HEADER.pack(*[values[n] for n in names])[:-4]
    head += struct.pack("<I", zlib.crc32(head))
    body = data[HEADER_SIZE:]
    return head + struct.pack("<I", zlib.crc32(body)) + body


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_versions_without_a_layout_here_are_refused(version):
    _, data = _file()
    with pytest.raises(UnsupportedVersionError):
        unpack(_with_fields(data, version=version))


def test_payload_longer_than_any_image_of_that_size_needs_is_corrupt():
    _, data = _file()
    claimed = 8 * 4096 + 4  # 1x1 image: at most 256 bits of codes plus the allowance
    with pytest.raises(CorruptError, match="longer than"):
        parse_header(_with_fields(data, width=1, height=1, payload_size=claimed))


def test_pixel_limit_comes_after_the_field_checks():
    _, data = _file()
    with pytest.raises(CorruptError):  # a bad field is reported as such even on a huge image
        parse_header(_with_fields(data, width=60000, height=60000, flags=1))
    with pytest.raises(ImageTooLargeError):
        parse_header(_with_fields(data, width=60000, height=60000))


def test_read_file_stops_at_the_header_or_where_the_file_should_end(tmp_path):
    import io

    _, data = _file()

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            b[: len(b)] = b"\0" * len(b)
            self.read_so_far = getattr(self, "read_so_far", 0) + len(b)
            return len(b)

    endless = Endless()
    with pytest.raises(FormatError):
        bitstream.read_file(endless)
    assert endless.read_so_far <= HEADER_SIZE
    padded = io.BytesIO(data + b"x" * 10**6)
    got = bitstream.read_file(padded)
    assert len(got) == len(data) + 1  # one byte past the end: enough to report trailing data
    with pytest.raises(CorruptError, match="unexpected bytes"):
        unpack(got)


def test_palette_files_name_no_model_and_set_their_flag():
    header = Header("RGB", 55, bitstream.NO_MODEL, 13, 7, 8, 0, palette=True)
    data = pack(header, bytes(8))
    assert data[7] == bitstream.PALETTE_FLAG and unpack(data).header == header
    with pytest.raises(ValueError):
        pack(Header("RGB", 55, b"ABCDEFGH", 13, 7, 8, 0, palette=True), bytes(8))
    with pytest.raises(CorruptError, match="names a model"):
        unpack(_with_fields(data, model=b"ABCDEFGH"))


@pytest.mark.parametrize("flags", [0x10, 0x80])
def test_flags_other_than_the_palette_exact_tiles_smoothing_and_residual_are_corrupt(flags):
    _, data = _file()
    with pytest.raises(CorruptError, match="reserved flags"):
        unpack(_with_fields(data, flags=flags, model=bitstream.NO_MODEL))


@pytest.mark.parametrize("section", [bitstream.EXACT_TILES_FLAG, bitstream.SMOOTHED_FLAG, bitstream.RESIDUAL_FLAG])
def test_a_palette_file_cannot_have_exact_tiles_smoothing_or_a_residual(section):
    _, data = _file()
    with pytest.raises(CorruptError, match="cannot have exact tiles, smoothing or a residual"):
        unpack(_with_fields(data, flags=bitstream.PALETTE_FLAG | section, model=bitstream.NO_MODEL))


def test_exact_tiles_follow_the_codes_after_their_length():
    code, tiles = b"\x01\x02\x03\x04" * 3, b"\x05\x06\x07\x08" * 2
    header = Header("RGB", 30, b"ABCDEFGH", 13, 7, bitstream.payload_size(code, tiles), 0, exact_tiles=True)
    data = pack(header, code, b"", tiles)
    assert data[7] == bitstream.EXACT_TILES_FLAG and data[40:44] == (12).to_bytes(4, "little")
    c = unpack(data)
    assert (c.header, c.payload, c.tiles) == (header, code, tiles)
    with pytest.raises(ValueError):
        pack(replace(header, exact_tiles=False), code, b"", tiles)
    with pytest.raises(CorruptError, match="reserved flags"):  # version 13 had no such flag
        unpack(_with_fields(data, version=13))


@pytest.mark.parametrize("code_size", [2, 20, 22, 1 << 31])
def test_a_code_length_that_leaves_no_whole_words_of_tiles_is_corrupt(code_size):
    code, tiles = b"\x01\x02\x03\x04" * 3, b"\x05\x06\x07\x08" * 2
    header = Header("RGB", 30, b"ABCDEFGH", 13, 7, bitstream.payload_size(code, tiles), 0, exact_tiles=True)
    data = bytearray(pack(header, code, b"", tiles))
    data[40:44] = code_size.to_bytes(4, "little")
    with pytest.raises(CorruptError, match="exact tiles"):
        unpack(_with_fields(bytes(data)))


def test_version_12_is_read_without_the_palette_flag():
    """Version 13 added only the flag: version 12's files of codes still decode."""
    _, data = _file()
    assert unpack(_with_fields(data, version=12)).header.version == 12
    with pytest.raises(CorruptError, match="reserved flags"):
        unpack(_with_fields(data, version=12, flags=bitstream.PALETTE_FLAG, model=bitstream.NO_MODEL))


@pytest.mark.parametrize("tiles", [b"", b"\x05\x06\x07\x08" * 2])
def test_a_smoothing_map_comes_last_after_the_codes_and_any_exact_tiles(tiles):
    code, smoothing = b"\x01\x02\x03\x04" * 3, b"\x09\x0a\x0b\x0c"
    header = Header("RGB", 30, b"ABCDEFGH", 13, 7, bitstream.payload_size(code, tiles, smoothing), 0,
                    exact_tiles=bool(tiles), smoothed=True)
    data = pack(header, code, b"", tiles, smoothing)
    assert data[7] == bitstream.SMOOTHED_FLAG | (bitstream.EXACT_TILES_FLAG if tiles else 0)
    assert data[40:44] == (12).to_bytes(4, "little") and data.endswith(smoothing)
    if tiles:  # the exact tiles, after their length
        assert data[56:60] == (8).to_bytes(4, "little") and data[60:68] == tiles
    c = unpack(data)
    assert (c.header, c.payload, c.tiles, c.smoothing) == (header, code, tiles, smoothing)
    with pytest.raises(ValueError):
        pack(replace(header, smoothed=False), code, b"", tiles, smoothing)
    with pytest.raises(ValueError):  # no version before 15 holds it
        pack(replace(header, version=14), code, b"", tiles, smoothing)
    with pytest.raises(CorruptError, match="reserved flags"):
        unpack(_with_fields(data, version=14))


@pytest.mark.parametrize("tiles_size", [2, 12, 1 << 31])
def test_exact_tiles_that_leave_no_whole_words_of_smoothing_are_corrupt(tiles_size):
    code, tiles, smoothing = b"\x01\x02\x03\x04" * 3, b"\x05\x06\x07\x08" * 2, b"\x09\x0a\x0b\x0c"
    header = Header("RGB", 30, b"ABCDEFGH", 13, 7, bitstream.payload_size(code, tiles, smoothing), 0,
                    exact_tiles=True, smoothed=True)
    data = bytearray(pack(header, code, b"", tiles, smoothing))
    data[56:60] = tiles_size.to_bytes(4, "little")
    with pytest.raises(CorruptError, match="exact tiles of .* whole words of smoothing"):
        unpack(_with_fields(bytes(data)))


@pytest.mark.parametrize("tiles,smoothing", [(b"", b""), (b"\x05\x06\x07\x08" * 2, b""),
                                             (b"", b"\x09\x0a\x0b\x0c"), (b"\x05\x06\x07\x08", b"\x09\x0a\x0b\x0c")])
def test_a_residual_comes_last_after_every_other_part(tiles, smoothing):
    code, residual = b"\x01\x02\x03\x04" * 3, b"\x0d\x0e\x0f\x10" * 2
    header = Header("RGB", 90, b"ABCDEFGH", 13, 7, bitstream.payload_size(code, tiles, smoothing, residual), 0,
                    exact_tiles=bool(tiles), smoothed=bool(smoothing), residual=True)
    data = pack(header, code, b"", tiles, smoothing, residual)
    assert data[7] & bitstream.RESIDUAL_FLAG and data.endswith(residual)
    assert data[40:44] == (12).to_bytes(4, "little")
    c = unpack(data)
    assert (c.header, c.payload, c.tiles, c.smoothing, c.residual) == (header, code, tiles, smoothing, residual)
    with pytest.raises(ValueError):
        pack(replace(header, residual=False), code, b"", tiles, smoothing, residual)
    with pytest.raises(ValueError):  # no version before 16 holds it
        pack(replace(header, version=15), code, b"", tiles, smoothing, residual)
    with pytest.raises(CorruptError, match="reserved flags"):
        unpack(_with_fields(data, version=15))


def test_a_smoothing_map_that_leaves_no_whole_words_of_residual_is_corrupt():
    code, smoothing, residual = b"\x01\x02\x03\x04" * 3, b"\x09\x0a\x0b\x0c", b"\x0d\x0e\x0f\x10"
    header = Header("RGB", 90, b"ABCDEFGH", 13, 7, bitstream.payload_size(code, b"", smoothing, residual), 0,
                    smoothed=True, residual=True)
    data = bytearray(pack(header, code, b"", b"", smoothing, residual))
    data[56:60] = (8).to_bytes(4, "little")
    with pytest.raises(CorruptError, match="smoothing of .* whole words of residual"):
        unpack(_with_fields(bytes(data)))
