"""Speed and memory of the shipped codec (pytest-benchmark; not part of the test suite).

    pytest benchmarks/test_speed.py

Encode/decode of a 768x512 photo (kodim23 when Kodak is beside the project,
else the bundled photo resized) at the lowest, middle and highest quality,
with JPEG beside it for scale; the range coder alone in symbols per second, on the
photo's codes at the default quality.
Large images: benchmarks/test_large.py.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import tiling
from vqcodec.entropy import EntropyCoder
from vqcodec.rate import choose_codes, per_codebook

from .rd import DEFAULT_DIR


@pytest.fixture(scope="module")
def model():
    return vqcodec.load_model()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    kodak = DEFAULT_DIR / "kodim23.png"
    if kodak.exists():
        return np.asarray(Image.open(kodak).convert("RGB"))
    return np.asarray(Image.open(vqcodec.DEMO_IMAGE).convert("RGB").resize((768, 512), Image.LANCZOS))


def _levels(model) -> list[int]:
    top = model.num_qualities - 1
    return [0, top // 2, top]


@pytest.mark.parametrize("level", ["low", "mid", "high"])
def test_vqcodec_encode(benchmark, model, photo, level):
    q = dict(zip(["low", "mid", "high"], _levels(model), strict=True))[level]
    benchmark.extra_info["quality"] = q
    data = benchmark(vqcodec.compress, photo, q, model)
    benchmark.extra_info["bpp"] = 8 * len(data) / (photo.shape[0] * photo.shape[1])


@pytest.mark.parametrize("level", ["low", "mid", "high"])
def test_vqcodec_decode(benchmark, model, photo, level):
    q = dict(zip(["low", "mid", "high"], _levels(model), strict=True))[level]
    data = vqcodec.compress(photo, q, model)
    benchmark.extra_info["quality"] = q
    out = benchmark(vqcodec.decompress, data, model)
    assert out.size == (photo.shape[1], photo.shape[0])


def test_jpeg_encode(benchmark, photo):
    def encode():
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, "JPEG", quality=75, subsampling=2, optimize=True)
        return buf.getvalue()

    benchmark(encode)


def test_jpeg_decode(benchmark, photo):
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=75, subsampling=2, optimize=True)
    data = buf.getvalue()
    benchmark(lambda: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


@pytest.fixture(scope="module")
def symbols(model, photo) -> tuple[np.ndarray, int]:
    """The codes of the photo at the default quality, as a file holds them."""
    q = vqcodec.default_quality(model)
    z = tiling.analyse(model.transforms, model.cfg, photo)
    z = per_codebook(z, model.cfg.sub_dim)
    return choose_codes(z, model.codebooks, model.prior, q, model.lambdas[q]), q


def test_entropy_encode(benchmark, model, symbols):
    coder = EntropyCoder(model.prior)
    benchmark(coder.encode, *symbols)
    benchmark.extra_info["symbols_per_s"] = symbols[0].size / benchmark.stats.stats.mean


def test_entropy_decode(benchmark, model, symbols):
    coder = EntropyCoder(model.prior)
    indices, q = symbols
    data = coder.encode(indices, q)
    decoded = benchmark(coder.decode, data, *indices.shape[1:], q)
    assert np.array_equal(decoded, indices)
    benchmark.extra_info["symbols_per_s"] = indices.size / benchmark.stats.stats.mean
