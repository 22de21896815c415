"""Hard cases unlike Kodak: a smooth two-colour gradient and a page of text.

    python -m benchmarks.cases [--out bench-out] [--model DIR] [--quality Q] [--docs]

Each case is coded by vqcodec at one quality (the default unless given); JPEG,
WebP and AVIF are then measured at that same file size (their PSNR interpolated
in log-rate between their settings). Writes cases.json, cases.md and, per case,
a side-by-side crop (original, vqcodec, JPEG and WebP at the largest setting not
above vqcodec's size), magnified 2x, to look at rather than read about;
``--docs`` writes the crops to docs/ for the README.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import vqcodec
from vqcodec.metrics import psnr, quality_at_rate

from . import codecs

DOCS = Path(__file__).resolve().parent.parent / "docs"


def gradient(size: int = 1024, seed: int = 0) -> np.ndarray:
    """A diagonal peach-to-slate gradient with slight noise (sigma 1.5 grey levels)."""
    y, x = np.mgrid[0:size, 0:size] / (2.0 * (size - 1))
    t = (x + y)[..., None]
    a, b = np.array([236.0, 190.0, 160.0]), np.array([96.0, 110.0, 132.0])
    noise = np.random.default_rng(seed).normal(0, 1.5, (size, size, 3))
    return np.clip(np.rint(a * (1 - t) + b * t + noise), 0, 255).astype(np.uint8)


def text_page(width: int = 1024, height: int = 768) -> np.ndarray:
    """Black text of several sizes on white, as on a screenshot of a document."""
    im = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(im)
    words = ("vqcodec codes images as indices into learned codebooks; the indices are range coded "
             "under integer context tables, and a decoder network turns them back into pixels. ").split()
    y = 12
    for size in (11, 13, 16, 20, 26, 34):
        font = ImageFont.load_default(size=size)
        for _ in range(3):
            line, k = [], 0
            while draw.textlength(" ".join(line + [words[k % len(words)]]), font=font) < width - 24:
                line.append(words[k % len(words)])
                k += 1
            draw.text((12, y), " ".join(line), fill=(20, 20, 20), font=font)
            words = words[k % len(words):] + words[: k % len(words)]
            y += int(size * 1.5)
    return np.asarray(im)


CASES = {"gradient": gradient, "text": text_page}


def _wide(*chosen: codecs.Codec) -> list[codecs.Codec]:
    """The codecs with settings up to their best (these cases can need more than photos do)."""
    return [codecs.Codec(c.name, list(range(0, 101, 5)), c.encode, c.decode, c.payload_bytes) for c in chosen]


def _largest_not_above(codec: codecs.Codec, rgb: np.ndarray, budget: int) -> tuple[int, np.ndarray] | None:
    best = None
    for setting in codec.settings:
        data = codec.encode(rgb, setting)
        if len(data) <= budget and (best is None or len(data) > best[0]):
            best = (len(data), codec.decode(data))
    return best


def _lossless_sizes(rgb: np.ndarray) -> dict[str, int]:
    """The image's size as PNG (Pillow, optimize) and lossless WebP (method 6): what a lossless
    vqcodec file is up against."""
    sizes = {}
    for name, fmt, options in (("PNG", "PNG", {"optimize": True}),
                               ("WebP", "WEBP", {"lossless": True, "method": 6, "quality": 100})):
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, fmt, **options)
        sizes[name] = buffer.tell()
    return sizes


def run(model: vqcodec.CodecModel, quality: int, out: Path, docs: bool, effort: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, make in CASES.items():
        rgb = make()
        pixels = rgb.shape[0] * rgb.shape[1]
        report = vqcodec.compress_report(rgb, quality=quality, model=model, effort=effort)
        size = len(report.data)
        row = {"vqcodec": {"bytes": size, "bpp": 8 * size / pixels, "psnr": report.psnr, "lossless": report.lossless},
               "lossless_bytes": _lossless_sizes(rgb)}
        crops = [rgb, np.asarray(report.reconstruction.convert("RGB"))]
        for codec in _wide(codecs.jpeg(), codecs.webp(), codecs.avif()):
            points = []
            for setting in codec.settings:
                data = codec.encode(rgb, setting)
                points.append((len(data), psnr(rgb, codec.decode(data))))
            at = quality_at_rate([p[0] for p in points], [p[1] for p in points], size)
            row[codec.name] = {"psnr_at_same_size": at}
            if codec.name in ("JPEG", "WebP"):
                found = _largest_not_above(codec, rgb, size)
                crops.append(found[1] if found else np.full_like(rgb, 255))
                row[codec.name]["crop_bytes"] = found[0] if found else None
        results[name] = row
        y0, x0 = (rgb.shape[0] - 256) // 2, (rgb.shape[1] - 256) // 2
        strip = np.concatenate([c[y0:y0 + 256, x0:x0 + 256] for c in crops], axis=1)
        picture = Image.fromarray(strip).resize((strip.shape[1] * 2, strip.shape[0] * 2), Image.NEAREST)
        for target in [out] + ([DOCS] if docs else []):
            picture.save(target / f"case-{name}.png")
    (out / "cases.json").write_text(json.dumps({"quality": quality, "effort": effort, "model": model.fingerprint.hex(),
                                                "cases": results}, indent=2))
    lines = [f"vqcodec at quality {quality}, effort {effort} (model {model.fingerprint.hex()}); others at the same "
             "file size",
             "", "| case | vqcodec bytes | bpp | vqcodec PSNR | JPEG PSNR | WebP PSNR | AVIF PSNR "
             "| lossless: PNG, WebP bytes |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    for name, row in results.items():
        v = row["vqcodec"]
        exact = "lossless" if v["lossless"] else f"{v['psnr']:.2f}"
        lines.append(f"| {name} | {v['bytes']} | {v['bpp']:.4f} | {exact} | "
                     + " | ".join(fmt(row[c]["psnr_at_same_size"]) for c in ("JPEG", "WebP", "AVIF"))
                     + f" | {row['lossless_bytes']['PNG']}, {row['lossless_bytes']['WebP']} |")
    (out / "cases.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--model", default=None, help="model directory (default: the shipped weights)")
    parser.add_argument("--quality", type=int, default=None, help="vqcodec quality (default: the default)")
    parser.add_argument("--effort", type=int, default=0, help="vqcodec's encoder effort (compress -e)")
    parser.add_argument("--docs", action="store_true", help="also write the crops to docs/")
    args = parser.parse_args(argv)
    model = vqcodec.load_model(args.model)
    quality = vqcodec.default_quality(model) if args.quality is None else args.quality
    run(model, quality, args.out, args.docs, args.effort)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
