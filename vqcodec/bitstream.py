"""The ``.vqc`` container: a 40-byte little-endian header, then the payloads.

This module is the format and nothing else; ``docs/format.md`` is its spec.
Parsing is strict and ordered so each fault gets its own error: length,
magic, version, header checksum, then field values, then the pixel limit, then
payload length and payload checksum. Every field is validated before anything
is allocated from it, and a file is read only as far as its header says it
reaches (plus one byte, to catch trailing data), so an endless input costs
nothing.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from .errors import CorruptError, FormatError, ImageTooLargeError, TruncatedError, UnsupportedVersionError

MAGIC = b"\x89VQC"
VERSION = 16  # 13: the palette flag; 14: exact tiles; 15: smoothing; 16: the residual (docs/format.md)
#: The oldest version read: version 12 is version 13 without the palette flag.
OLDEST_READ = 12
#: ``flags`` bit 0: the payload is a lossless palette payload (vqcodec/palette.py), not codes.
PALETTE_FLAG = 1
#: ``flags`` bit 1 (since version 14): the payload holds codes and, after them, exact tiles
#: (vqcodec/exact.py): its first 4 bytes give the code payload's length.
EXACT_TILES_FLAG = 2
#: ``flags`` bit 2 (since version 15): the payload holds codes and, after them (and after the
#: exact tiles, if any, then preceded by their length), a smoothing map (vqcodec/smooth.py).
SMOOTHED_FLAG = 4
#: ``flags`` bit 3 (since version 16): the payload holds codes and, last of its parts, a residual
#: (vqcodec/residual.py).
RESIDUAL_FLAG = 8
#: The flags each version may set.
FLAGS = {12: 0, 13: PALETTE_FLAG, 14: PALETTE_FLAG | EXACT_TILES_FLAG,
         15: PALETTE_FLAG | EXACT_TILES_FLAG | SMOOTHED_FLAG,
         16: PALETTE_FLAG | EXACT_TILES_FLAG | SMOOTHED_FLAG | RESIDUAL_FLAG}
SPLIT = struct.Struct("<I")
#: The ``model`` field of a palette file: it needs no model.
NO_MODEL = bytes(8)
HEADER = struct.Struct("<4sBBBB8sIIIII")  # up to and including the header CRC
PAYLOAD_CRC = struct.Struct("<I")
HEADER_SIZE = HEADER.size + PAYLOAD_CRC.size  # 40

#: Colour modes, by their code in the header.
MODES = {0: "L", 1: "RGB", 2: "LA", 3: "RGBA"}
MODE_CODES = {name: code for code, name in MODES.items()}

#: Default limit on width x height: an error above it, as Pillow's decompression-bomb
#: guard errs at twice its warning threshold.
DEFAULT_MAX_PIXELS = 178_956_970
#: Above this many pixels (Pillow's warning threshold) coding warns.
WARN_PIXELS = 89_478_485
#: Format limits on the payload lengths, per pixel: the codes can take at most
#: 256 bits per pixel; a zlib stream of the alpha plane at most its stored size
#: (5 bytes per 16 KB block) plus its header.
MAX_PAYLOAD_BITS_PER_PIXEL = 256


@dataclass(frozen=True)
class Header:
    """The fields of a ``.vqc`` header."""

    mode: str
    quality: int
    fingerprint: bytes
    width: int
    height: int
    payload_size: int
    alpha_size: int
    version: int = VERSION
    palette: bool = False  # the payload is a lossless palette payload, decoded without a model
    exact_tiles: bool = False  # the payload holds codes, then tiles coded exactly
    smoothed: bool = False  # the payload holds codes, then (after any exact tiles) a smoothing map
    residual: bool = False  # the payload holds codes, then (after any other section) a residual

    @property
    def sections(self) -> bool:
        """Whether the payload is split: codes, then exact tiles, a smoothing map and/or a residual."""
        return self.exact_tiles or self.smoothed or self.residual

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("LA", "RGBA")

    @property
    def file_size(self) -> int:
        return HEADER_SIZE + self.payload_size + self.alpha_size


@dataclass(frozen=True)
class Container:
    header: Header
    payload: bytes  # entropy-coded indices (the code part alone in a file with exact tiles)
    alpha: bytes  # zlib-compressed alpha plane, empty without alpha
    tiles: bytes = b""  # the exact tiles' payload, empty without the flag
    smoothing: bytes = b""  # the smoothing payload, empty without the flag
    residual: bytes = b""  # the residual payload, empty without the flag


def _joined(code: bytes, tiles: bytes, smoothing: bytes, residual: bytes) -> bytes:
    """The payload of codes and sections: ``code_size``, the codes, then each section present
    (exact tiles, smoothing, residual), every one but the last after its own length."""
    sections = [part for part in (tiles, smoothing, residual) if part]
    if not sections:
        return code
    return b"".join([SPLIT.pack(len(code)), code, *(SPLIT.pack(len(part)) + part for part in sections[:-1]),
                     sections[-1]])


def payload_size(code: bytes, tiles: bytes = b"", smoothing: bytes = b"", residual: bytes = b"") -> int:
    """The header's ``payload_size`` of a code payload and (if any) exact tiles', smoothing and residual payloads."""
    sections = [part for part in (tiles, smoothing, residual) if part]
    return len(code) + sum(len(part) for part in sections) + SPLIT.size * len(sections)


def pack(header: Header, payload: bytes, alpha: bytes = b"", tiles: bytes = b"", smoothing: bytes = b"",
         residual: bytes = b"") -> bytes:
    """Serialise a header and its payloads (codes or palette, exact tiles, smoothing, residual, alpha) into a
    complete file."""
    if payload_size(payload, tiles, smoothing, residual) != header.payload_size or len(alpha) != header.alpha_size:
        raise ValueError("payload sizes disagree with the header")
    if header.has_alpha != bool(alpha):
        raise ValueError("alpha payload present iff the mode has alpha")
    if header.palette and header.fingerprint != NO_MODEL:
        raise ValueError("a palette file names no model")
    if (header.exact_tiles != bool(tiles) or header.smoothed != bool(smoothing) or header.residual != bool(residual)
            or (header.palette and header.sections)):
        raise ValueError("exact tiles, smoothing and a residual go with codes, iff the header says so")
    payload = _joined(payload, tiles, smoothing, residual)
    flags = ((PALETTE_FLAG if header.palette else 0) | (EXACT_TILES_FLAG if header.exact_tiles else 0)
             | (SMOOTHED_FLAG if header.smoothed else 0) | (RESIDUAL_FLAG if header.residual else 0))
    if flags & ~FLAGS[header.version]:
        raise ValueError(f"format version {header.version} cannot carry flags {flags:#04x}")
    fields = (MAGIC, header.version, MODE_CODES[header.mode], header.quality, flags,
              header.fingerprint,
              header.width, header.height, header.payload_size, header.alpha_size)
    head = HEADER.pack(*fields, 0)[:-4]
    head += struct.pack("<I", zlib.crc32(head))
    body = payload + alpha
    return head + PAYLOAD_CRC.pack(zlib.crc32(body)) + body


def parse_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Header:
    """Validate and return the header of ``data`` (which may be just its first bytes)."""
    if len(data) < 5:
        raise TruncatedError(f"file is {len(data)} bytes, too short for a .vqc header")
    if data[:4] != MAGIC:
        raise FormatError("not a .vqc file (wrong magic bytes)")
    version = data[4]
    if version > VERSION:
        raise UnsupportedVersionError(f"format version {version} is newer than this decoder's ({VERSION}); upgrade vqcodec")
    if version < OLDEST_READ:
        raise UnsupportedVersionError(f"format version {version} is not decoded by this vqcodec (it reads versions "
                                      f"{OLDEST_READ} .. {VERSION}); decode it with the vqcodec release that wrote it",
                                      data[8:16] if len(data) >= 16 else None)
    if len(data) < HEADER_SIZE:
        raise TruncatedError(f"file is {len(data)} bytes, too short for a .vqc header ({HEADER_SIZE})")
    (_, version, mode, quality, flags, fp, width, height, payload_size, alpha_size, head_crc) = HEADER.unpack_from(data)
    if zlib.crc32(data[: HEADER.size - 4]) != head_crc:
        raise CorruptError("header checksum mismatch: the file is corrupted")
    if mode not in MODES:
        raise CorruptError(f"unknown colour mode code {mode}")
    if flags & ~FLAGS[version]:
        raise CorruptError(f"reserved flags are set ({flags:#04x})")
    palette, exact_tiles = bool(flags & PALETTE_FLAG), bool(flags & EXACT_TILES_FLAG)
    smoothed, residual = bool(flags & SMOOTHED_FLAG), bool(flags & RESIDUAL_FLAG)
    if palette and (exact_tiles or smoothed or residual):
        raise CorruptError("a palette file cannot have exact tiles, smoothing or a residual")
    if palette and fp != NO_MODEL:
        raise CorruptError("a palette file names a model")
    if quality > 100:
        raise CorruptError(f"quality {quality} is above 100")
    if width == 0 or height == 0:
        raise CorruptError(f"image size {width}x{height} is empty")
    if payload_size % 4:
        raise CorruptError("payload length is not a whole number of 32-bit words")
    pixels = width * height
    if 8 * payload_size > MAX_PAYLOAD_BITS_PER_PIXEL * pixels + 8 * 4096:
        raise CorruptError(f"payload of {payload_size} bytes is longer than a {width}x{height} image can need")
    has_alpha = MODES[mode] in ("LA", "RGBA")
    if has_alpha != (alpha_size > 0):
        raise CorruptError("alpha payload length disagrees with the colour mode")
    if alpha_size > pixels + 5 * (pixels // 16384 + 1) + 64:
        raise CorruptError(f"alpha payload of {alpha_size} bytes is longer than a {width}x{height} plane can need")
    if pixels > max_pixels:
        raise ImageTooLargeError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels "
                                 "(raise it with max_pixels= or --max-pixels)")
    if payload_size < (exact_tiles + smoothed + residual) * 2 * SPLIT.size:
        raise CorruptError("payload too short to hold codes and its sections")
    return Header(MODES[mode], quality, fp, width, height, payload_size, alpha_size, version, palette, exact_tiles,
                  smoothed, residual)


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Container:
    """Parse a complete file; every way it can be malformed raises a FormatError."""
    header = parse_header(data, max_pixels)
    if len(data) < header.file_size:
        raise TruncatedError(f"file is truncated: {len(data)} of {header.file_size} bytes")
    if len(data) > header.file_size:
        # no count: a reader stops one byte past the end (read_file), so it cannot know how many follow
        raise CorruptError(f"unexpected bytes after the payload: the file is longer than its header says "
                           f"({header.file_size} bytes)")
    body = data[HEADER_SIZE:]
    (body_crc,) = PAYLOAD_CRC.unpack_from(data, HEADER.size)
    if zlib.crc32(body) != body_crc:
        raise CorruptError("payload checksum mismatch: the file is corrupted")
    payload, alpha = body[: header.payload_size], body[header.payload_size :]
    if not header.sections:
        return Container(header, payload, alpha)
    names = (["code payload"] + ["exact tiles"] * header.exact_tiles + ["smoothing"] * header.smoothed
             + ["residual"] * header.residual)
    parts, at = [], 0
    for name, following in zip(names, names[1:]):  # every part but the last after its length
        (size,) = SPLIT.unpack_from(payload, at)
        if size % 4 or at + SPLIT.size + size >= len(payload):
            raise CorruptError(f"{name} of {size} bytes does not leave whole words of {following} "
                               f"in a payload of {len(payload)}")
        parts.append(payload[at + SPLIT.size:at + SPLIT.size + size])
        at += SPLIT.size + size
    parts.append(payload[at:])
    sections = dict(zip(names, parts))
    return Container(header, sections["code payload"], alpha, sections.get("exact tiles", b""),
                     sections.get("smoothing", b""), sections.get("residual", b""))


def read_file(source: str | os.PathLike | BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of a ``.vqc`` file (a path or a binary stream), reading no further than
    its header says it reaches plus one byte; a header that fails validation stops the read."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return read_file(f, max_pixels)
    head = _read_up_to(source, HEADER_SIZE)
    header = parse_header(head, max_pixels)
    rest = _read_up_to(source, header.file_size - HEADER_SIZE + 1)
    return head + rest  # unpack() reports a short or long file


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
