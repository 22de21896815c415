"""What a residual layer in the DCT domain over a vqcodec file would give at high rates (issues 37, 40).

    python -m benchmarks.residual DIR [--levels 20,30] [--steps 5,7,10,14,20] [--offset 0.33]
                                      [--anchors RESULTS.json] [--gray] [--limit N]

For every PNG image of DIR, each base level is coded with the shipped model and decoded; the residual
(original minus decoded, 8-bit pixels; in colour turned by an orthonormal colour transform, so
squared errors are kept) is cut into 8 x 8 blocks, transformed by the orthonormal DCT-II, and each
coefficient quantized with one uniform step: ``sign(c) * floor(|c| / step + offset)`` (offset 0.5
rounds; smaller offsets are a dead zone, an encoder's choice). The quantized coefficients' bits are
ideal bits under adaptive counts (a Krichevsky-Trofimov-like estimator, every symbol of +-60 given
1/32 of a count to start), per context of what a decoder would have if it decoded a band (the
coefficients with u + v = b, b = 0 .. 9, the last taking the rest) of every block at once: the band,
the block's nonzero coefficients in lower bands (0 .. 5) and its four neighbours' (4 buckets).
No format, no coder: the estimate (with the per-image learning cost of its counts paid) that led
to format 16's residual layer (vqcodec/residual.py, which codes 1-4% below it; docs/training.md,
"The residual layer built").

It prints each (base level, step)'s mean bpp (the file's plus the residual's) and PSNR, and with
``--anchors`` (a ``benchmarks.rd`` results.json of the same folder and model, for its vqcodec curve
and its JPEG, WebP and AVIF curves) the PSNR at fixed rates of the codes alone and of the best of
the codes and every base's residual curve (each interpolated along its own curve, in log rate),
and their BD-rates against the anchors over the codes' own rate range. ``--gray`` codes the
images converted to L. Measured in docs/training.md ("A residual layer in the DCT domain").
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec
from vqcodec.metrics import bd_rate, psnr, quality_at_rate

from .rd import DEFAULT_DIR

BLOCK = 8
BANDS = 10
LIMIT = 60  # coefficients clipped to +-LIMIT (a real layer would escape; at these steps it never binds)
#: An orthonormal colour transform (luma-like sum, two differences): the residual's MSE is kept.
COLOUR = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], float)
COLOUR /= np.linalg.norm(COLOUR, axis=1, keepdims=True)
RATES = (0.25, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0)


def dct_matrix(n: int = BLOCK) -> np.ndarray:
    """The orthonormal DCT-II matrix: ``C @ block @ C.T`` transforms a block."""
    k = np.arange(n)
    c = np.sqrt(2 / n) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    c[0] /= np.sqrt(2)
    return c


_C = dct_matrix()
_U, _V = np.meshgrid(np.arange(BLOCK), np.arange(BLOCK), indexing="ij")
BAND = np.minimum(_U + _V, BANDS - 1).ravel()


def adaptive_bits(symbols: np.ndarray, contexts: np.ndarray, alphabet: int = 2 * LIMIT + 1,
                  prior: float = 1 / 32) -> float:
    """Ideal bits of ``symbols`` coded in order under adaptive counts per context, each of the
    ``alphabet`` symbols starting at ``prior`` counts (closed form: order within a context does not
    change the product)."""
    order = np.argsort(contexts, kind="stable")
    ctx, sym = contexts[order], symbols[order]
    bits = 0.0
    for part in np.split(sym, np.flatnonzero(np.diff(ctx)) + 1):
        _, counts = np.unique(part, return_counts=True)
        log_p = (math.lgamma(alphabet * prior) - math.lgamma(alphabet * prior + part.size)
                 + sum(math.lgamma(prior + n) - math.lgamma(prior) for n in counts.tolist()))
        bits -= log_p / math.log(2)
    return bits


def code_plane(residual: np.ndarray, step: float, offset: float) -> tuple[float, np.ndarray]:
    """(ideal bits, reconstructed residual) of one plane's residual."""
    h, w = residual.shape
    hh, ww = -(-h // BLOCK) * BLOCK, -(-w // BLOCK) * BLOCK
    padded = np.pad(residual, ((0, hh - h), (0, ww - w)), mode="edge")
    blocks = padded.reshape(hh // BLOCK, BLOCK, ww // BLOCK, BLOCK).transpose(0, 2, 1, 3)
    coef = _C @ blocks @ _C.T
    q = np.clip(np.sign(coef) * np.floor(np.abs(coef) / step + offset), -LIMIT, LIMIT)
    back = (_C.T @ (q * step) @ _C).transpose(0, 2, 1, 3).reshape(hh, ww)[:h, :w]
    flat = q.reshape(*q.shape[:2], BLOCK * BLOCK).astype(np.int64)
    nonzero = flat != 0
    own, around = np.zeros_like(flat), np.zeros_like(flat)
    for b in range(BANDS):
        lower = nonzero[..., BAND < b].sum(-1)
        p = np.pad(lower, 1)
        ring = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]
        own[..., BAND == b] = np.minimum(lower, 5)[..., None]
        around[..., BAND == b] = np.searchsorted(np.array([1, 3, 7, 15]), ring, side="right")[..., None]
    contexts = (BAND[None, None, :] * 6 + own) * 5 + around
    return adaptive_bits(flat.ravel(), contexts.ravel()), back


def with_residual(x: np.ndarray, decoded: np.ndarray, step: float, offset: float) -> tuple[float, np.ndarray]:
    """(bits, 8-bit image) of ``decoded`` plus its coded residual against ``x`` (H, W) or (H, W, 3)."""
    if x.ndim == 2:
        bits, back = code_plane(x - decoded, step, offset)
    else:
        turned = (x - decoded) @ COLOUR.T
        parts = [code_plane(turned[..., i], step, offset) for i in range(3)]
        bits, back = sum(b for b, _ in parts), np.stack([r for _, r in parts], -1) @ COLOUR
    return bits, np.clip(np.round(decoded + back), 0, 255).astype(np.uint8)


def measure(paths: list[Path], levels: list[int], steps: list[float], offset: float, gray: bool,
            model: vqcodec.CodecModel) -> dict[tuple[int, float], tuple[float, float]]:
    """Mean (bpp, PSNR) of each (base level, step), step 0 the base alone."""
    found: dict[tuple[int, float], list[tuple[float, float]]] = {}
    for path in paths:
        with Image.open(path) as im:
            image = im.convert("L" if gray else "RGB")
        truth = np.asarray(image)
        x = truth.astype(np.float64)
        pixels = x.shape[0] * x.shape[1]
        for level in levels:
            data = vqcodec.compress(image, level, model)
            shown = np.asarray(vqcodec.decompress(data, model))
            decoded = shown.astype(np.float64)
            base = len(data) * 8 / pixels
            found.setdefault((level, 0.0), []).append((base, psnr(shown, truth)))
            for step in steps:
                bits, out = with_residual(x, decoded, step, offset)
                found.setdefault((level, step), []).append((base + bits / pixels, psnr(out, truth)))
        print(path.name, flush=True)
    return {k: tuple(np.mean(v, axis=0)) for k, v in found.items()}


def _at(curve: list[tuple[float, float]], rate: float) -> float | None:
    return quality_at_rate([b for b, _ in curve], [p for _, p in curve], rate) if len(curve) > 1 else None


def compare(points: dict[tuple[int, float], tuple[float, float]], anchors: dict) -> str:
    """Fixed-rate PSNR and BD-rates of the codes alone and of the best of codes and residual curves."""
    codes = sorted((p["bpp"], p["psnr"]) for p in anchors["curves"]["vqcodec"])
    families = [codes] + [sorted(v for (q, s), v in points.items() if q == base and s > 0)
                          for base in sorted({q for q, s in points if s > 0})]

    def best(rate: float, curves: list) -> float | None:
        found = [v for v in (_at(c, rate) for c in curves) if v is not None]
        return max(found) if found else None

    grid = np.exp(np.linspace(math.log(codes[0][0]), math.log(codes[-1][0]), 40))
    lines = ["| bpp | codes | best of codes and residual | " + " | ".join(n for n in ("WebP", "AVIF")
                                                                         if n in anchors["curves"]) + " |"]
    lines.append("| ---: " * (len(lines[0].split("|")) - 2) + "|")
    for rate in RATES:
        row = [best(rate, [codes]), best(rate, families)] + [
            _at(sorted((p["bpp"], p["psnr"]) for p in anchors["curves"][n]), rate)
            for n in ("WebP", "AVIF") if n in anchors["curves"]]
        lines.append(f"| {rate:.2f} | " + " | ".join("n/a" if v is None else f"{v:.2f}" for v in row) + " |")
    curves = {name: [(r, p) for r, p in ((r, best(r, fam)) for r in grid) if p is not None]
              for name, fam in (("codes", [codes]), ("best", families))}
    for name in ("JPEG", "WebP", "AVIF"):
        if name not in anchors["curves"]:
            continue
        a = anchors["curves"][name]
        figures = [bd_rate([p["bpp"] for p in a], [p["psnr"] for p in a], [r for r, _ in c], [p for _, p in c])
                   for c in curves.values()]
        lines.append(f"\nBD-rate (PSNR) against {name}: codes {figures[0]:+.1f}%, best of codes and residual {figures[1]:+.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--levels", default="20,30", help="base levels, comma-separated")
    parser.add_argument("--steps", default="5,7,10,14,20", help="residual quantizer steps, comma-separated")
    parser.add_argument("--offset", type=float, default=0.33, help="rounding offset (0.5 rounds)")
    parser.add_argument("--anchors", type=Path, help="a benchmarks.rd results.json of the same folder and model")
    parser.add_argument("--gray", action="store_true", help="code the images converted to L")
    parser.add_argument("--limit", type=int, default=0, help="the first N images only")
    args = parser.parse_args(argv)
    model = vqcodec.load_model()
    anchors = json.loads(args.anchors.read_text()) if args.anchors else None
    if anchors and anchors["meta"].get("model") != model.fingerprint.hex():
        parser.error(f"{args.anchors} was measured with model {anchors['meta'].get('model')}, not {model.fingerprint.hex()}")
    paths = sorted(p for p in args.dir.iterdir() if p.suffix.lower() == ".png")[:args.limit or None]
    points = measure(paths, [int(v) for v in args.levels.split(",")], [float(v) for v in args.steps.split(",")],
                     args.offset, args.gray, model)
    print(f"\n{len(paths)} images, offset {args.offset}\n\n| base level | step | bpp | PSNR dB |\n| ---: | ---: | ---: | ---: |")
    for (level, step), (bpp, db) in sorted(points.items()):
        print(f"| {level} | {step:g} | {bpp:.4f} | {db:.3f} |")
    if anchors:
        print("\n" + compare(points, anchors))


if __name__ == "__main__":
    main()
