"""How much of a file the alpha channel takes, and what the alpha options buy.

    python -m benchmarks.alpha [DIR] [--photos N] [--quality Q] [--model DIR]

Builds RGBA images from photos in DIR (default: the Kodak folder): a cut-out (an
ellipse with a feathered edge, fully transparent outside), a logo (antialiased
text on a transparent background) and a vignette (alpha falling off smoothly
from the centre). Each is coded as before alpha cleanup, with black under the
transparent pixels (as many editors leave it) and with the rest of the photo
there (the most natural continuation), then with cleanup and exact alpha (the
default), and with
lossy alpha at a few ``alpha_quality`` levels. Reports total bytes, the alpha
share of the file, the PSNR of the colour over visible pixels (alpha > 0) and
over the visible pixels within 4 px of a transparent one (where bleeding shows),
and the alpha plane's PSNR.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import vqcodec
from vqcodec.codec import _encode
from vqcodec.training.data import list_images
from vqcodec.image import Pixels, to_pixels

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "kodak"


def cutout(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot((y - h / 2) / (0.4 * h), (x - w / 2) / (0.35 * w))
    return np.clip((1 - r) * 255 / 0.04, 0, 255).astype(np.uint8)  # edge ramp about 6 px wide


def logo(h: int, w: int) -> np.ndarray:
    im = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(im)
    draw.text((w // 12, h // 3), "vqcodec", fill=255, font=ImageFont.load_default(size=h // 4))
    return np.asarray(im)


def vignette(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot((y - h / 2) / (h / 2), (x - w / 2) / (w / 2))
    return np.clip(255 * (1.2 - r), 0, 255).astype(np.uint8)


SHAPES = {"cutout": cutout, "logo": logo, "vignette": vignette}


def _psnr_over(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return float("nan")
    mse = np.mean((a[mask].astype(np.float64) - b[mask].astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _edge(alpha: np.ndarray, reach: int = 4) -> np.ndarray:
    """Visible pixels within ``reach`` pixels of a fully transparent one."""
    hidden = alpha == 0
    near = hidden.copy()
    for _ in range(reach):
        grown = near.copy()
        grown[1:] |= near[:-1]
        grown[:-1] |= near[1:]
        grown[:, 1:] |= near[:, :-1]
        grown[:, :-1] |= near[:, 1:]
        near = grown
    return near & ~hidden


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", default=str(DEFAULT_DIR))
    ap.add_argument("--photos", type=int, default=3)
    ap.add_argument("--quality", type=int, default=None)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    model = vqcodec.load_model(args.model)
    quality = vqcodec.default_quality(model) if args.quality is None else args.quality
    photos = list_images(args.dir)[:: max(1, len(list_images(args.dir)) // args.photos)][: args.photos]
    print(f"quality {quality}; under transparency; bytes, alpha share of the file, colour PSNR over visible pixels / within 4 px "
          "of transparency, alpha PSNR")
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for name, shape in SHAPES.items():
            alpha = shape(*rgb.shape[:2])
            rgba = np.dstack([rgb, alpha])
            visible, edge = alpha > 0, _edge(alpha)
            black = np.where(visible[..., None], rgb, 0).astype(np.uint8)  # as many editors leave it
            rows = [("black", Pixels(black, "RGBA", alpha), 100), ("photo", Pixels(rgb, "RGBA", alpha), 100),
                    ("cleanup", to_pixels(rgba), 100)]
            rows += [(f"alpha_q {q}", to_pixels(rgba), q) for q in (50, 20)]
            for label, px, aq in rows:
                data = _encode(px, quality, model, aq)[0]
                header = vqcodec.parse_header(data)
                out = np.asarray(vqcodec.decompress(data, model=model))
                print(f"{Path(path).stem:>10} {name:>8} {label:>10}: {len(data):>7} B, alpha "
                      f"{header.alpha_size / len(data):5.1%}, colour {_psnr_over(out[..., :3], rgb, visible):5.2f} / "
                      f"{_psnr_over(out[..., :3], rgb, edge):5.2f} dB, alpha "
                      f"{_psnr_over(out[..., 3], alpha, np.ones_like(visible)):5.2f} dB")


if __name__ == "__main__":
    main()
