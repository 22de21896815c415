"""Speed and memory of the shipped codec (pytest-benchmark; not part of the test suite).

    pytest benchmarks/test_speed.py

Encode/decode of a 768x512 photo (kodim23 when Kodak is beside the project,
else the bundled photo resized) at the lowest, middle and highest quality
(and encoding at effort 1 and 4, at the middle one),
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


@pytest.mark.parametrize("effort", [1, 4])
def test_vqcodec_encode_with_effort(benchmark, model, photo, effort):
    """Not held to the encode target: effort trades time for bits, as cwebp -m 6 does."""
    q = _levels(model)[1]
    benchmark.extra_info.update(quality=q, effort=effort)
    data = benchmark.pedantic(vqcodec.compress, (photo, q, model), {"effort": effort}, rounds=3, warmup_rounds=1)
    assert data != vqcodec.compress(photo, q, model)  # effort changed the codes


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
    decoded, _ = benchmark(coder.decode, data, *indices.shape[1:], q)
    assert np.array_equal(decoded, indices)
    benchmark.extra_info["symbols_per_s"] = indices.size / benchmark.stats.stats.mean


# -- whole processes, as a user runs them --------------------------------------------------------

def _process(benchmark, tmp_path_factory, photo, argv: list[str]) -> None:
    """Time one whole process (interpreter start, imports, model load, work), 5 rounds, in a
    folder holding the photo as photo.png, photo.vqc (default quality) and photo.webp."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("proc")
    Image.fromarray(photo).save(folder / "photo.png")
    Image.fromarray(photo).save(folder / "photo.webp", method=6)
    (folder / "photo.vqc").write_bytes(vqcodec.compress(photo))
    cmd = [sys.executable, *[a.replace("DIR", str(folder)) for a in argv]]
    benchmark.pedantic(lambda: subprocess.run(cmd, check=True, capture_output=True), rounds=5, iterations=1)


@pytest.mark.parametrize("command", ["compress", "decompress", "info"])
def test_process_vqcodec(benchmark, tmp_path_factory, photo, command):
    """`vqcodec compress photo.png`, `decompress photo.vqc`, `info photo.vqc` (default quality)."""
    args = {"compress": ["compress", "DIR/photo.png", "-f", "-o", "DIR/out.vqc"],
            "decompress": ["decompress", "DIR/photo.vqc", "-f", "-o", "DIR/out.png"],
            "info": ["info", "DIR/photo.vqc"]}[command]
    _process(benchmark, tmp_path_factory, photo, ["-m", "vqcodec_cli", *args])


@pytest.mark.parametrize("direction", ["encode", "decode"])
def test_process_pillow_webp(benchmark, tmp_path_factory, photo, direction):
    """Pillow's WebP (method 6, default quality) PNG -> WebP -> PNG in a whole Python process, for scale."""
    code = {"encode": "from PIL import Image; Image.open('DIR/photo.png').save('DIR/out.webp', method=6)",
            "decode": "from PIL import Image; Image.open('DIR/photo.webp').save('DIR/out.png')"}[direction]
    _process(benchmark, tmp_path_factory, photo, ["-c", code])
