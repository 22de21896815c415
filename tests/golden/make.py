"""Write a released model's golden files: small .vqc files, their indices' hash and decoded pixels.

    python tests/golden/make.py MODEL OUT_DIR

MODEL is the model as its release shipped it (a model directory or pack). Run it with the
code of the release that ships the model (for an old release, PYTHONPATH set to a checkout of
that commit), so the files are what that release wrote; ``tests/test_golden.py`` then decodes
them with the current code. It uses only what every release since format 12 has: the public
``compress``/``decompress``, ``load_model`` and the model's ``coder.decode``. Cases already in
OUT_DIR/golden.json are kept as written: a later release adds only its new cases, each recording
the commit that wrote it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ASSET = Path(__file__).resolve().parents[2] / "vqcodec" / "assets" / "coffee.png"


def cases() -> dict[str, tuple[Image.Image, int]]:
    """Name -> (image, quality): a photo at low, default and high quality, grayscale, alpha, a
    strip wider than one 1024-pixel tile, an image of few colours (a palette file where the
    release has them), a drawn window with a photo inset (exact tiles where the release has them)
    and a slightly noisy ramp under a drawn panel (a smoothing map where the release has them, at
    quality 10 beside exact tiles) and a photo at the top of the scale (a residual where the
    release has them, in colour and in gray)."""
    photo = Image.open(ASSET).convert("RGB")
    crop = photo.crop((250, 120, 343, 190))  # 93 x 70: neither side a multiple of 8
    strip = photo.crop((0, 200, 600, 224))
    wide = Image.new("RGB", (1100, 24))
    wide.paste(strip, (0, 0))
    wide.paste(strip.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (600, 0))
    rgba = crop.convert("RGBA")
    y, x = np.mgrid[0:70, 0:93]
    alpha = np.clip(4 * x - 60, 0, 255).astype(np.uint8)  # transparent on the left, a ramp, then opaque
    alpha[30:40, 50:60] = 0
    rgba.putalpha(Image.fromarray(alpha))
    drawn = np.zeros((40, 56, 3), np.uint8)
    drawn[:] = (250, 250, 245)
    drawn[8:32, 6:50] = (30, 60, 200)
    drawn[14:26, 12:44] = (240, 200, 20)
    drawn[(y[:40, :56] + x[:40, :56]) % 9 == 0] = (0, 0, 0)
    window = Image.new("RGB", (200, 136), (250, 250, 248))  # a drawn window: exact tiles where a release has them
    draw = ImageDraw.Draw(window)
    draw.rectangle((0, 0, 200, 20), fill=(225, 228, 235))
    for i in range(6):
        draw.text((6, 26 + 14 * i), "tiles of text, exact", fill=(30, 30, 40), font=ImageFont.load_default(size=12))
    window.paste(photo.crop((250, 100, 346, 172)), (100, 60))
    y, x = np.mgrid[0:192, 0:256]
    t = (x * 0.8 + y * 0.6) / (256 * 0.8 + 192 * 0.6)
    shades = np.stack([30 + 180 * t, 90 + 100 * t, 200 - 120 * t], -1) + np.random.default_rng(0).normal(0, 1, (192, 256, 3))
    banner = Image.fromarray(np.clip(np.rint(shades), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(banner)
    draw.rectangle((192, 0, 255, 63), fill=(250, 250, 248))
    for i in range(3):
        draw.text((196, 6 + 18 * i), "exact", fill=(30, 30, 40), font=ImageFont.load_default(size=14))
    return {
        "photo-q5": (crop, 5), "photo-q55": (crop, 55), "photo-q95": (crop, 95),
        "gray-q55": (crop.convert("L"), 55), "alpha-q55": (rgba, 55), "wide-q30": (wide, 30),
        "drawn-q55": (Image.fromarray(drawn), 55), "window-q30": (window, 30),
        "ramp-q10": (banner, 10), "ramp-q55": (banner, 55),
        "photo-q100": (crop, 100), "gray-q100": (crop.convert("L"), 100),
    }


def indices_digest(indices: np.ndarray) -> str:
    """sha256 of the index maps (M, h, w) as little-endian uint16, raster order."""
    return hashlib.sha256(np.ascontiguousarray(indices, "<u2").tobytes()).hexdigest()


def main(model_path: str, out: str) -> None:
    import vqcodec
    from vqcodec import bitstream

    model = vqcodec.load_model(model_path)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(vqcodec.__file__).resolve().parents[1]
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    known = out_dir / "golden.json"
    manifest = json.loads(known.read_text()) if known.is_file() else {"fingerprint": model.fingerprint.hex(),
                                                                      "written_by": commit, "cases": {}}
    for name, (image, quality) in cases().items():
        if name in manifest["cases"]:  # a release's files stay as it wrote them; a later one adds cases
            continue
        data = vqcodec.compress(image, quality=quality, model=model)
        container = bitstream.unpack(data)
        header = container.header
        entry = {"quality": quality, "version": header.version, "mode": header.mode,
                 "palette": bool(getattr(header, "palette", False)), "written_by": commit}
        if getattr(header, "exact_tiles", False):
            entry["exact_tiles"] = True
        if getattr(header, "smoothed", False):
            entry["smoothed"] = True
        if getattr(header, "residual", False):
            entry["residual"] = True
        if not entry["palette"]:
            h, w = math.ceil(header.height / 8), math.ceil(header.width / 8)
            indices = model.coder.decode(container.payload, h, w, header.quality)[0]
            entry["indices_shape"] = list(indices.shape)
            entry["indices_sha256"] = indices_digest(indices)
        decoded = vqcodec.decompress(data, model=model)
        buf = io.BytesIO()
        decoded.save(buf, format="PNG")
        (out_dir / f"{name}.vqc").write_bytes(data)
        (out_dir / f"{name}.png").write_bytes(buf.getvalue())
        manifest["cases"][name] = entry
        print(f"{name}: {len(data)} bytes, version {header.version}, {'palette' if entry['palette'] else 'codes'}")
    (out_dir / "golden.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
