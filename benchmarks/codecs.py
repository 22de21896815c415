"""The codecs the benchmark compares, behind one interface.

Each codec is a list of settings (one rate point each) and encode/decode
functions on 8-bit RGB arrays. Classical codecs go through Pillow: JPEG with
4:2:0 subsampling and optimised Huffman tables, WebP at method 6, AVIF through
Pillow's libavif plugin at its default speed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

import vqcodec


@dataclass
class Codec:
    name: str
    settings: list[int]
    encode: Callable[[np.ndarray, int], bytes]
    decode: Callable[[bytes], np.ndarray]
    payload_bytes: Callable[[bytes], int] = len  # bytes excluding container overhead


def _pillow(fmt: str, **options) -> tuple[Callable, Callable]:
    def encode(rgb: np.ndarray, quality: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, quality=quality, **options)
        return buf.getvalue()

    def decode(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))

    return encode, decode


def jpeg() -> Codec:
    enc, dec = _pillow("JPEG", subsampling=2, optimize=True)
    return Codec("JPEG", [2, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95], enc, dec)


def webp() -> Codec:
    enc, dec = _pillow("WEBP", method=6)
    return Codec("WebP", [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95], enc, dec)


def avif() -> Codec:
    enc, dec = _pillow("AVIF")
    return Codec("AVIF", [5, 15, 25, 35, 45, 55, 65, 75, 85, 95], enc, dec)


def vq(model: vqcodec.CodecModel, effort: int = 0) -> Codec:
    def encode(rgb: np.ndarray, quality: int) -> bytes:
        return vqcodec.compress(rgb, quality=quality, model=model, effort=effort)

    def decode(data: bytes) -> np.ndarray:
        return np.asarray(vqcodec.decompress(data, model=model))

    def payload(data: bytes) -> int:
        h = vqcodec.parse_header(data)
        return h.payload_size + h.alpha_size

    top = model.num_qualities - 1
    return Codec("vqcodec", sorted({round(top * k / 10) for k in range(11)}), encode, decode, payload)
