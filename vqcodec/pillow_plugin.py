"""Pillow plugin: ``.vqc`` files open and save through ``PIL.Image`` like any other format.

Registered on ``import vqcodec``: ``Image.open("x.vqc")`` recognises a file by its
magic bytes (whatever it is called) and reads only the 40-byte header until the
pixels are needed, so ``.size``, ``.mode`` and ``.verify()`` decode nothing;
``img.save("x.vqc", quality=60)`` encodes (the extension picks the format, or
``format="VQC"``). Options: ``quality`` (0..100), ``alpha_quality`` (0..100),
``effort`` (0..8), ``max_pixels``. Images are coded
with the shipped model.
"""

from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

from . import bitstream
from .errors import VqcError

FORMAT = "VQC"
MIME = "image/x-vqc"


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == bitstream.MAGIC


class VqcImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "vqcodec learned image codec"

    def _open(self) -> None:
        assert self.fp is not None
        try:
            header = bitstream.parse_header(self.fp.read(bitstream.HEADER_SIZE))
        except VqcError as exc:
            raise SyntaxError(str(exc)) from exc  # Pillow's way of saying "not this format"
        self._mode = header.mode
        self._size = (header.width, header.height)
        self.info["quality"] = header.quality
        self.info["model"] = header.fingerprint.hex()
        self.tile = []

    def _read(self) -> bytes:
        assert self.fp is not None
        self.fp.seek(0)
        return bitstream.read_file(self.fp)

    def verify(self) -> None:
        """Check lengths and checksums, without decoding any pixel."""
        try:
            bitstream.unpack(self._read())
        except VqcError as exc:
            raise SyntaxError(str(exc)) from exc

    def load(self):  # type: ignore[override]
        px = Image.Image.load(self)
        if self._im is not None:
            return px
        from .codec import decompress

        try:
            decoded = decompress(self._read())
        except VqcError as exc:
            raise OSError(str(exc)) from exc
        self.im = decoded.im
        self._mode = decoded.mode
        return Image.Image.load(self)


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    from .codec import compress

    info = im.encoderinfo
    try:
        fp.write(compress(im, quality=info.get("quality"), max_pixels=info.get("max_pixels"),
                          alpha_quality=info.get("alpha_quality", 100), effort=info.get("effort", 0)))
    except VqcError as exc:
        raise OSError(str(exc)) from exc


def register() -> None:
    Image.register_open(FORMAT, VqcImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, ".vqc")
    Image.register_mime(FORMAT, MIME)
