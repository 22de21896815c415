"""Folders of images that are not colour photos, to measure each kind against WebP (issue 40).

    python -m benchmarks.kinds OUT [--photos DIR] [--count N]

Writes OUT/gray (the photos of DIR, default Kodak, converted to 8-bit grayscale), and OUT/screens,
OUT/text, OUT/charts and OUT/gradients: ``count`` images each, drawn here from fixed seeds with
Pillow (its bundled font), so they are ours to publish and the same on every machine with the
same Pillow. None of them is a training image; measure each folder with
``python -m benchmarks.rd OUT/KIND``. What each kind holds:

- screens: application windows, light or dark: title bar, toolbar, a sidebar list, a panel of
  text, buttons, sliders and check boxes, and a photo or chart inset;
- text: pages of anti-aliased text in several sizes and colours, headings, a boxed code block;
- charts: bar, line, scatter and pie charts with axes, grid lines, labels and a legend, half
  drawn without anti-aliasing (few colours), half drawn at 4x and reduced (many);
- gradients: linear, radial and two-stop ramps, some with slight noise, some with visible bands.
"""

from __future__ import annotations

import argparse
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vqcodec.training.data import list_images

from .rd import default_images

WORDS = ("the of and to in is that for on with as by this be are from at or an was it which image file "
         "codec rate quality bits pixel colour level table model entropy decoder encoder window open save "
         "settings view help edit tools format export import layer brush select zoom grid panel").split()


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _sentence(rng: np.random.Generator, words: int) -> str:
    text = " ".join(rng.choice(WORDS, words))
    return text[0].upper() + text[1:]


def _paragraph(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[int, int, int, int],
               size: int, ink: tuple[int, ...]) -> int:
    """Fill ``box`` (x0, y0, x1, y1) with wrapped lines of words; returns the y below the last line."""
    x0, y, x1, y1 = box
    font, line = _font(size), ""
    while y + size < y1:
        word = str(rng.choice(WORDS))
        if draw.textlength(line + " " + word, font=font) > x1 - x0:
            draw.text((x0, y), line.strip(), fill=ink, font=font)
            y, line = y + int(size * 1.4), ""
            if rng.random() < 0.12:
                y += size  # a paragraph break
        line += " " + word
    return y


def _theme(rng: np.random.Generator) -> dict[str, tuple[int, int, int]]:
    dark = rng.random() < 0.4
    base = rng.integers(20, 45) if dark else rng.integers(236, 256)
    tint = rng.integers(-6, 7, 3)
    def grey(v: int) -> tuple[int, int, int]:
        return tuple(int(np.clip(v + t, 0, 255)) for t in tint)
    accent = tuple(int(v) for v in rng.choice([(0, 120, 215), (220, 80, 60), (40, 160, 90), (150, 90, 200),
                                               (230, 160, 30)]))
    step = 14 if dark else -14
    return {"bg": grey(base), "panel": grey(base + step), "bar": grey(base + 2 * step),
            "ink": grey(225 if dark else 30), "dim": grey(150 if dark else 110), "accent": accent}


def screen(rng: np.random.Generator, inset: np.ndarray | None, width: int = 1280, height: int = 800) -> np.ndarray:
    """An application window: title bar, toolbar, sidebar, text panel, controls and an inset."""
    c = _theme(rng)
    im = Image.new("RGB", (width, height), c["bg"])
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, width, 34), fill=c["bar"])
    for k, colour in enumerate([(237, 106, 94), (245, 191, 79), (98, 197, 84)]):
        d.ellipse((12 + 22 * k, 11, 24 + 22 * k, 23), fill=colour)
    d.text((width // 2 - 80, 9), _sentence(rng, 3), fill=c["ink"], font=_font(15))
    d.rectangle((0, 35, width, 78), fill=c["panel"])
    x = 12
    for _ in range(int(rng.integers(5, 10))):
        w = int(rng.integers(60, 110))
        d.rounded_rectangle((x, 44, x + w, 70), radius=6, fill=c["bg"], outline=c["dim"])
        d.text((x + 10, 49), str(rng.choice(WORDS)).title(), fill=c["ink"], font=_font(14))
        x += w + 8
    side = int(rng.integers(200, 300))
    d.rectangle((0, 79, side, height), fill=c["panel"])
    chosen = int(rng.integers(0, 12))
    for k in range(int((height - 100) / 30)):
        y = 90 + 30 * k
        if k == chosen:
            d.rectangle((0, y - 4, side, y + 22), fill=c["accent"])
        d.rectangle((14, y + 2, 28, y + 16), fill=c["dim"] if k != chosen else c["bg"])
        d.text((38, y), _sentence(rng, int(rng.integers(1, 4))), fill=c["ink"] if k != chosen else c["bg"], font=_font(14))
    left, top = side + 24, 100
    split = left + int((width - left) * rng.uniform(0.45, 0.6))
    d.text((left, top), _sentence(rng, 4), fill=c["ink"], font=_font(24))
    y = _paragraph(d, rng, (left, top + 44, split - 24, height - 220), 14, c["ink"])
    y = max(y, height - 200)
    for k in range(3):  # a slider, check boxes, buttons
        d.line((left, y + 20 + 34 * k, split - 120, y + 20 + 34 * k), fill=c["dim"], width=3)
        knob = left + int(rng.uniform(0, split - 120 - left))
        d.ellipse((knob - 8, y + 12 + 34 * k, knob + 8, y + 28 + 34 * k), fill=c["accent"])
        d.rectangle((split - 100, y + 12 + 34 * k, split - 84, y + 28 + 34 * k), outline=c["ink"],
                    fill=c["accent"] if rng.random() < 0.5 else c["bg"])
        d.text((split - 76, y + 12 + 34 * k), str(rng.choice(WORDS)), fill=c["ink"], font=_font(14))
    d.rounded_rectangle((width - 230, height - 56, width - 130, height - 22), radius=8, fill=c["accent"])
    d.text((width - 210, height - 48), "OK", fill=(255, 255, 255), font=_font(16))
    d.rounded_rectangle((width - 118, height - 56, width - 18, height - 22), radius=8, outline=c["dim"])
    d.text((width - 100, height - 48), "Cancel", fill=c["ink"], font=_font(16))
    box = (split, top, width - 24, height - 80)
    if inset is not None and rng.random() < 0.6:
        h, w = inset.shape[:2]
        bw, bh = box[2] - box[0], box[3] - box[1]
        scale = min(bw / w, bh / h)
        photo = Image.fromarray(inset).resize((int(w * scale), int(h * scale)), Image.Resampling.LANCZOS)
        im.paste(photo, (box[0], box[1]))
    else:
        im.paste(Image.fromarray(chart(rng, box[2] - box[0], box[3] - box[1], smooth=True)), box[:2])
    return np.asarray(im)


def text_page(rng: np.random.Generator, width: int = 1024, height: int = 1200) -> np.ndarray:
    """A page: a heading, paragraphs of body text, sometimes coloured, and a boxed code block."""
    dark = rng.random() < 0.2
    paper = (30, 30, 34) if dark else tuple(int(v) for v in rng.integers(240, 256, 3))
    ink = (220, 220, 220) if dark else tuple(int(v) for v in rng.integers(0, 50, 3))
    im = Image.new("RGB", (width, height), paper)
    d = ImageDraw.Draw(im)
    margin, y = int(rng.integers(40, 90)), int(rng.integers(40, 70))
    heading = tuple(int(v) for v in rng.integers(0, 160, 3))
    d.text((margin, y), _sentence(rng, 5), fill=heading, font=_font(int(rng.integers(28, 42))))
    y += 70
    size = int(rng.integers(12, 20))
    while y < height - 80:
        if rng.random() < 0.2:  # a code block
            block = int(rng.integers(4, 9)) * (size + 6)
            shade = tuple(int(v * 0.94) for v in paper) if not dark else (45, 45, 52)
            d.rectangle((margin, y, width - margin, y + block + 16), fill=shade, outline=ink)
            for k in range(block // (size + 6)):
                colour = tuple(int(v) for v in rng.choice([ink, (160, 40, 40), (30, 110, 60), (40, 70, 170)]))
                d.text((margin + 12 + 16 * int(rng.integers(0, 3)), y + 8 + k * (size + 6)),
                       "_".join(rng.choice(WORDS, int(rng.integers(1, 4)))) + "(" + str(rng.choice(WORDS)) + ")",
                       fill=colour, font=_font(size))
            y += block + 32
        else:
            y = _paragraph(d, rng, (margin, y, width - margin, min(height - 60, y + int(rng.integers(80, 260)))),
                           size, ink) + size
    return np.asarray(im)


def chart(rng: np.random.Generator, width: int = 800, height: int = 600, smooth: bool | None = None) -> np.ndarray:
    """A bar, line, scatter or pie chart with axes, grid, labels and a legend."""
    smooth = rng.random() < 0.5 if smooth is None else smooth
    k = 4 if smooth else 1  # drawn at 4x and reduced: anti-aliased, many colours
    im = Image.new("RGB", (width * k, height * k), (255, 255, 255))
    d = ImageDraw.Draw(im)
    palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
    kind = rng.choice(["bar", "line", "scatter", "pie"])
    x0, y0, x1, y1 = 70 * k, 40 * k, (width - 150) * k, (height - 60) * k
    series = int(rng.integers(1, 4))
    if kind == "pie":
        parts = rng.dirichlet(np.ones(int(rng.integers(3, 7))))
        start, r = -90.0, min(x1 - x0, y1 - y0) // 2
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        for j, p in enumerate(parts):
            d.pieslice((cx - r, cy - r, cx + r, cy + r), start, start + 360 * p, fill=palette[j % 6], outline=(255, 255, 255), width=2 * k)
            start += 360 * p
        series = len(parts)
    else:
        for j in range(6):  # grid and tick labels
            y = y1 - (y1 - y0) * j // 5
            d.line((x0, y, x1, y), fill=(225, 225, 225), width=k)
            d.text((x0 - 50 * k, y - 7 * k), f"{20 * j}", fill=(60, 60, 60), font=_font(13 * k))
        d.line((x0, y0, x0, y1), fill=(40, 40, 40), width=k)
        d.line((x0, y1, x1, y1), fill=(40, 40, 40), width=k)
        n = int(rng.integers(5, 13)) if kind == "bar" else int(rng.integers(12, 60))
        values = np.clip(np.cumsum(rng.normal(0, 0.12, (series, n)), axis=1) + rng.uniform(0.3, 0.7, (series, 1)), 0.02, 1)
        xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
        for s in range(series):
            ys = y1 - values[s] * (y1 - y0)
            if kind == "bar":
                w = (x1 - x0) / n / (series + 1)
                for xi, yi in zip(xs, ys):
                    left = xi - (x1 - x0) / n / 2 + w * (s + 0.5)
                    d.rectangle((left, yi, left + w, y1), fill=palette[s])
            elif kind == "line":
                d.line(list(zip(xs.tolist(), ys.tolist())), fill=palette[s], width=2 * k, joint="curve")
            else:
                for xi, yi in zip(xs + rng.normal(0, 5 * k, n), ys):
                    d.ellipse((xi - 4 * k, yi - 4 * k, xi + 4 * k, yi + 4 * k), fill=palette[s])
        d.text((x0, y1 + 20 * k), _sentence(rng, 3), fill=(60, 60, 60), font=_font(14 * k))
    for s in range(series):  # the legend
        y = y0 + 26 * k * s
        d.rectangle((x1 + 20 * k, y, x1 + 34 * k, y + 14 * k), fill=palette[s % 6])
        d.text((x1 + 42 * k, y), str(rng.choice(WORDS)), fill=(40, 40, 40), font=_font(14 * k))
    if smooth:
        im = im.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(im)


def gradient(rng: np.random.Generator, width: int = 768, height: int = 512) -> np.ndarray:
    """A linear or radial ramp through two or three colours, with slight noise or none (bands)."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    if rng.random() < 0.6:
        angle = rng.uniform(0, 2 * np.pi)
        t = np.cos(angle) * x + np.sin(angle) * y
    else:
        cy, cx = rng.uniform(0, 1, 2)
        t = np.hypot(y - cy, x - cx)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    stops = rng.uniform(0, 255, (int(rng.integers(2, 4)), 3))
    at = np.linspace(0, 1, len(stops))
    rgb = np.stack([np.interp(t, at, stops[:, c]) for c in range(3)], axis=-1)
    noise = rng.choice([0.0, 0.0, 0.8, 1.5])
    return np.clip(np.rint(rgb + rng.normal(0, noise, rgb.shape)), 0, 255).astype(np.uint8)


def write(out: Path, photos: list[Path], count: int) -> dict[str, int]:
    """Write every kind's folder under ``out``; returns how many images each holds."""
    written = {}
    gray = out / "gray"
    gray.mkdir(parents=True, exist_ok=True)
    for path in photos:
        Image.open(path).convert("L").save(gray / f"{path.stem}.png")
    written["gray"] = len(photos)
    insets = [np.asarray(Image.open(p).convert("RGB")) for p in photos[:count]] or [None]
    makers = {"screens": lambda rng, n: screen(rng, insets[n % len(insets)]), "text": lambda rng, n: text_page(rng),
              "charts": lambda rng, n: chart(rng), "gradients": lambda rng, n: gradient(rng)}
    for kind, make in makers.items():
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(count):
            rng = np.random.default_rng([sum(map(ord, kind)), n])
            Image.fromarray(make(rng, n)).save(folder / f"{kind}-{n:02d}.png")
        written[kind] = count
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the kinds' folders into")
    parser.add_argument("--photos", type=Path, default=None,
                        help="photos for the gray folder and the screens' insets (default: Kodak)")
    parser.add_argument("--count", type=int, default=12, help="images of each drawn kind")
    args = parser.parse_args(argv)
    photos = list_images(args.photos) if args.photos else default_images()
    for kind, n in write(args.out, photos, args.count).items():
        print(f"{args.out / kind}: {n} images", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
