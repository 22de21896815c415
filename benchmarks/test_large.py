"""Large images: bounded memory by tiling, and what tiling costs (pytest-benchmark).

    pytest benchmarks/test_large.py -s

- peak RSS and time of the ``vqcodec`` command compressing a 50-megapixel PNG (8448 x
  6144, a grid of Kodak photos when Kodak is beside the project, else of the
  bundled photo), and decompressing the file it wrote, each a whole process as users
  run it; the file's size against the sum of its cells coded one by one;
- on a Kodak photo, PSNR and size when the transforms run in 16 x 16-latent
  tiles against one pass: seams would cost PSNR, and the file must not grow.
"""

from __future__ import annotations


import numpy as np
from PIL import Image

import vqcodec
from vqcodec import tiling
from vqcodec.metrics import psnr
from vqcodec.rate import choose_codes, per_codebook

from .command import peak
from .rd import DEFAULT_DIR

def _grid() -> tuple[np.ndarray, list[np.ndarray]]:
    """The 8448 x 6144 image, 12 x 11 cells of 512 x 768 photos, and the photos."""
    paths = sorted(DEFAULT_DIR.glob("*.png")) or [vqcodec.DEMO_IMAGE]
    cells = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB")
            im = im.transpose(Image.ROTATE_90) if im.height > im.width else im
            cells.append(np.asarray(im.resize((768, 512)) if im.size != (768, 512) else im))
    img = np.empty((6144, 8448, 3), np.uint8)
    for k in range(12 * 11):
        r, c = divmod(k, 11)
        img[512 * r:512 * (r + 1), 768 * c:768 * (c + 1)] = cells[k % len(cells)]
    return img, cells


def test_peak_rss_50_megapixels(benchmark, tmp_path):
    """Peak RSS of ``vqcodec compress`` of the 51.9-megapixel image (a PNG, the default quality,
    reporting its PSNR as users see it) and of ``vqcodec decompress`` of the file it wrote, each a
    whole process."""
    img, cells = _grid()
    Image.fromarray(img).save(tmp_path / "big.png", compress_level=1)
    del img
    path = tmp_path / "big.vqc"
    result = {"compress": peak("compress", str(tmp_path / "big.png"), "-o", str(path))}
    result["decompress"] = benchmark.pedantic(peak, args=("decompress", str(path), "-o", str(tmp_path / "back.png")),
                                              rounds=1, iterations=1)
    result["bpp"] = 8 * path.stat().st_size / (8448 * 6144)
    model = vqcodec.load_model()
    sizes = [len(vqcodec.compress(cell, vqcodec.DEFAULT_QUALITY, model)) for cell in cells]
    result["bytes"], result["parts_bytes"] = path.stat().st_size, sum(sizes[k % len(sizes)] for k in range(12 * 11))
    benchmark.extra_info.update(result)
    for step in ("compress", "decompress"):
        r = result[step]
        print(f"\n51.9 MP: vqcodec {step}: peak RSS {r['peak_rss_mb']:.0f} MB in {r['seconds']:.1f} s (whole process)")
    whole, parts = result["bytes"], result["parts_bytes"]
    print(f"file {whole} bytes ({result['bpp']:.4f} bpp); its 132 cells coded one by one: {parts} bytes")
    assert max(result[s]["peak_rss_mb"] for s in ("compress", "decompress")) < 2048
    # Each cell coded alone adapts its colour codebooks to its own photo; coded whole, an adaptation
    # tile (512 pixels) straddles up to four cells of different photos: 0.60% more (2026-11-28, format 12;
    # 1.04% with tiles of 1024 pixels, 1.56% with one histogram for the whole image).
    assert whole <= 1.01 * parts


def test_peak_rss_50_megapixels_at_a_residual_level(benchmark, tmp_path):
    """The same at quality 90, where the encoder codes two levels and a residual, decodes both and
    compares (2.57 GB before the decoder's arena was given back after a tiled image's last window and
    the residual went in bands of 8192 blocks; 1.71 GB after, decompress 1.85 -> 1.01 GB)."""
    img, _ = _grid()
    Image.fromarray(img).save(tmp_path / "big.png", compress_level=1)
    del img
    path = tmp_path / "big.vqc"
    result = {"compress": peak("compress", str(tmp_path / "big.png"), "-o", str(path), "-q", "90")}
    result["decompress"] = benchmark.pedantic(peak, args=("decompress", str(path), "-o", str(tmp_path / "back.png")),
                                              rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    for step in ("compress", "decompress"):
        r = result[step]
        print(f"\n51.9 MP at quality 90: vqcodec {step}: peak RSS {r['peak_rss_mb']:.0f} MB in {r['seconds']:.1f} s")
    assert max(result[s]["peak_rss_mb"] for s in ("compress", "decompress")) < 2048


def test_tiled_against_one_pass_on_kodak(benchmark):
    """kodim23 at qualities 0, 10, ..., 100, transforms in 16 x 16-latent tiles (24 tiles)
    against one pass: PSNR difference and payload sizes."""
    path = DEFAULT_DIR / "kodim23.png"
    rgb = np.asarray(Image.open(path if path.exists() else vqcodec.DEMO_IMAGE).convert("RGB"))
    model = vqcodec.load_model()
    h, w = rgb.shape[:2]

    def run(tile: int) -> list[tuple[float, int]]:
        z = tiling.analyse(model.transforms, model.cfg, rgb, tile=tile)
        z = per_codebook(z, model.cfg.sub_dim)
        out = []
        for q in range(0, model.num_qualities, 10):
            idx = choose_codes(z, model.codebooks, model.prior, q, model.lambdas[q])
            rec = tiling.synthesise(model.transforms, model.cfg, model.decoded_codes(q), idx, w, h, tile=tile,
                                    table_set=model.table_set(q))
            out.append((psnr(rec, rgb), len(model.coder.encode(idx, q))))
        return out

    whole = run(10**6)
    tiled = benchmark.pedantic(run, args=(16,), rounds=1, iterations=1)
    worst = max(abs(a[0] - b[0]) for a, b in zip(whole, tiled, strict=True))
    sizes = [(a[1], b[1]) for a, b in zip(whole, tiled, strict=True)]
    benchmark.extra_info.update({"max_psnr_difference_db": worst, "payload_bytes_whole_tiled": sizes})
    print(f"\ntiled vs one pass: max PSNR difference {worst:.4f} dB; payload bytes {sizes}")
    assert worst < 0.05 and all(t <= 1.001 * o + 8 for o, t in sizes)
