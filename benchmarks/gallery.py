"""A gallery to look at: vqcodec beside JPEG, WebP and AVIF at the same file size.

    python -m benchmarks.gallery [DIR] [--quality Q] [--model DIR] [--out docs] [--kinds KINDS]

For a few Kodak photos (chosen for faces, fine texture and colour), the two
hard cases of benchmarks/cases.py (a smooth gradient, a text page) and, with
``--kinds`` (the folder ``python -m benchmarks.kinds`` wrote), one image of each
kind (a drawn window, a text page, a chart, a gradient, a gray photo), vqcodec
codes the whole image at one quality (the default unless given); JPEG, WebP and
AVIF each get their largest setting whose file is not above vqcodec's. A
256x256 crop of the original and of each decoded image goes side by side,
magnified 2x, each captioned with its codec, bytes and PSNR (whole image).
Writes OUT/gallery/NAME.png and OUT/gallery.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import vqcodec
from vqcodec.metrics import psnr

from . import codecs
from .cases import CASES, _largest_not_above, _wide
from .rd import DEFAULT_DIR

#: Kodak photos and where to crop them (row, column of the crop's top-left corner).
PHOTOS = {"kodim04": (150, 250), "kodim08": (200, 300), "kodim23": (120, 260)}
#: One image of each kind of benchmarks/kinds.py and where to crop it: text beside the photo
#: inset, lines of text, where a pie chart's slices meet, a ramp, a face in gray.
KINDS = {"screens-00": ("screens/screens-00", (240, 560)), "text-00": ("text/text-00", (100, 100)),
         "charts-06": ("charts/charts-06", (150, 200)), "gradients-03": ("gradients/gradients-03", (100, 100)),
         "gray-kodim04": ("gray/kodim04", (150, 250))}
CROP = 256


def _caption(tile: np.ndarray, text: str) -> np.ndarray:
    """The tile magnified 2x under a white caption bar."""
    big = Image.fromarray(tile).resize((tile.shape[1] * 2, tile.shape[0] * 2), Image.NEAREST)
    canvas = Image.new("RGB", (big.width, big.height + 28), "white")
    canvas.paste(big, (0, 28))
    ImageDraw.Draw(canvas).text((6, 5), text, fill=(0, 0, 0), font=ImageFont.load_default(size=16))
    return np.asarray(canvas)


def entry(name: str, rgb: np.ndarray, corner: tuple[int, int], model: vqcodec.CodecModel, quality: int,
          out: Path) -> str:
    report = vqcodec.compress_report(rgb, quality=quality, model=model)
    budget, pixels = len(report.data), rgb.shape[0] * rgb.shape[1]
    y, x = corner
    crop = lambda img: img[y:y + CROP, x:x + CROP]  # noqa: E731
    decoded = np.asarray(report.reconstruction.convert("RGB"))
    tiles = [_caption(crop(rgb), "original"),
             _caption(crop(decoded), f"vqcodec {budget} B {report.psnr:.2f} dB")]
    cells = [f"{budget} B, {report.psnr:.2f} dB"]
    for codec in _wide(codecs.jpeg(), codecs.webp(), codecs.avif()):
        found = _largest_not_above(codec, rgb, budget)
        if found is None:
            tiles.append(_caption(np.full((CROP, CROP, 3), 255, np.uint8), f"{codec.name}: none this small"))
            cells.append("none this small")
            continue
        size, img = found
        tiles.append(_caption(crop(img), f"{codec.name} {size} B {psnr(img, rgb):.2f} dB"))
        cells.append(f"{size} B, {psnr(img, rgb):.2f} dB")
    Image.fromarray(np.concatenate(tiles, axis=1)).save(out / "gallery" / f"{name}.png")
    return (f"| {name} | {8 * budget / pixels:.3f} | " + " | ".join(cells) + " |\n\n"
            f"![{name}](gallery/{name}.png)\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="folder with the Kodak photos")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    parser.add_argument("--model", default=None, help="model directory (default: the shipped weights)")
    parser.add_argument("--quality", type=int, default=None, help="vqcodec quality (default: the default)")
    parser.add_argument("--kinds", type=Path, default=None,
                        help="folder written by benchmarks.kinds: add one image of each kind")
    args = parser.parse_args(argv)
    model = vqcodec.load_model(args.model)
    quality = vqcodec.default_quality(model) if args.quality is None else args.quality
    (args.out / "gallery").mkdir(parents=True, exist_ok=True)
    images = {name: (np.asarray(Image.open(args.dir / f"{name}.png").convert("RGB")), corner)
              for name, corner in PHOTOS.items() if (args.dir / f"{name}.png").exists()}
    for name, make in CASES.items():
        rgb = make()
        images[name] = (rgb, ((rgb.shape[0] - CROP) // 2, (rgb.shape[1] - CROP) // 2))
    for name, (path, corner) in KINDS.items() if args.kinds else ():
        if (args.kinds / f"{path}.png").exists():
            images[name] = (np.asarray(Image.open(args.kinds / f"{path}.png").convert("RGB")), corner)
    lines = [f"# Gallery\n\nvqcodec at quality {quality} (model {model.fingerprint.hex()}); JPEG, WebP and AVIF "
             "(Pillow) at their largest setting whose file is not above vqcodec's. Crops of 256x256 "
             "magnified 2x; bytes and PSNR are the whole image's. Made by `python -m benchmarks.gallery`.\n"]
    for name, (rgb, corner) in images.items():
        lines.append(f"## {name}\n\n| image | vqcodec bpp | vqcodec | JPEG | WebP | AVIF |\n"
                     "| --- | ---: | --- | --- | --- | --- |\n"
                     + entry(name, rgb, corner, model, quality, args.out))
        print(lines[-1].splitlines()[4])
    (args.out / "gallery.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
