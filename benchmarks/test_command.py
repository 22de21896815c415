"""The command's speed as users meet it: whole processes, start-up included (issue 39).

    pytest benchmarks/test_command.py -s

On kodim23 (the bundled photo when Kodak is not beside the project), the median of five
runs of each: ``vqcodec compress``, the same with ``--print-psnr`` (it decodes the file again),
``vqcodec decompress`` to PNG and ``vqcodec info``, with Pillow's WebP (method 4, as cwebp's default)
encoding, and decoding to PNG, each in a fresh Python process measured in the same run for
scale; and ``vqcodec compress`` of the 24 Kodak photos in one command against the sum of
their in-process encodings. Targets, on an idle machine: compress 0.6 s, decompress 0.5 s,
info 0.15 s, the 24 files at most 1.5x their in-process time.
"""

from __future__ import annotations

import sys
import time

import pytest
from PIL import Image

import vqcodec

from .command import seconds, vqcodec_command
from .rd import DEFAULT_DIR

_WEBP_ENCODE = "import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2], 'WEBP', quality=75, method=4)"
_WEBP_DECODE = "import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2])"


@pytest.fixture(scope="module")
def photo():
    kodak = DEFAULT_DIR / "kodim23.png"
    return kodak if kodak.exists() else vqcodec.DEMO_IMAGE


def test_whole_commands_on_one_photo(benchmark, photo, tmp_path):
    command = vqcodec_command()
    vqc, png, webp = tmp_path / "p.vqc", tmp_path / "back.png", tmp_path / "p.webp"
    figures = {
        "compress": seconds(command, "compress", str(photo), "-o", str(vqc), "--force"),
        "compress_print_psnr": seconds(command, "compress", str(photo), "-o", str(vqc), "--force", "--print-psnr"),
        "decompress": seconds(command, "decompress", str(vqc), "-o", str(png), "--force"),
        "info": seconds(command, "info", str(vqc)),
        "webp_encode_process": seconds(sys.executable, "-c", _WEBP_ENCODE, str(photo), str(webp)),
        "webp_decode_png_process": seconds(sys.executable, "-c", _WEBP_DECODE, str(webp), str(tmp_path / "w.png")),
    }
    benchmark.extra_info.update(figures)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print()
    for name, value in figures.items():
        print(f"{name:>24}: {value:.3f} s")
    assert figures["info"] <= 0.15
    assert figures["compress"] <= 0.6
    assert figures["decompress"] <= 0.5


def test_one_command_on_many_files(benchmark, tmp_path):
    """Start-up once for 24 files: the command's time against the codec's own."""
    images = sorted(DEFAULT_DIR.glob("*.png")) or pytest.skip("Kodak is not beside the project")
    model = vqcodec.load_model()
    start = time.perf_counter()
    for path in images:
        vqcodec.compress_report(path, model=model)  # what the command does per file: code, and decode for its PSNR
    inside = time.perf_counter() - start
    whole = seconds(vqcodec_command(), "compress", *map(str, images), "-o", str(tmp_path), "--force", runs=1)
    benchmark.extra_info.update(in_process=inside, command=whole)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print(f"\n24 files: command {whole:.2f} s, in-process {inside:.2f} s ({whole / inside:.2f}x)")
    assert whole <= 1.5 * inside
