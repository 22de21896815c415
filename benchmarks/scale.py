"""The quality scale: how many bytes each level adds to the one below, and whether PSNR rises.

    python -m benchmarks.scale [DIR] [--limit N] [--step S] [--model PACK]

For every image of DIR (default Kodak), the encoder runs once and every level 0, S, 2S .. 100
is coded from its latents, as ``vqcodec compress -q`` would code it (effort 0); each level's file
is decoded for its PSNR. Reports, over the folder, the mean bytes and PSNR per level, the step
between neighbouring levels as a share of the lower one's bytes (the largest and where, the
median), and every level whose mean PSNR falls below the level before. Issue 40 asks for steps
between 0.5% and 10% everywhere and a PSNR that never falls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

import vqcodec
from vqcodec.codec import _Encoding
from vqcodec.image import to_pixels
from vqcodec.training.data import list_images

from .rd import default_images


def measure(paths: list[Path], levels: list[int], model) -> tuple[np.ndarray, np.ndarray]:
    """Bytes and PSNR (images, levels)."""
    sizes, psnrs = np.zeros((len(paths), len(levels))), np.zeros((len(paths), len(levels)))
    for i, path in enumerate(tqdm(paths, desc="images", file=sys.stderr, leave=False)):
        enc = _Encoding(to_pixels(path), model)
        for j, q in enumerate(levels):
            report = enc.report(q)
            sizes[i, j], psnrs[i, j] = len(report.data), report.psnr
    return sizes, psnrs


def summary(levels: list[int], sizes: np.ndarray, psnrs: np.ndarray) -> str:
    mean_bytes, mean_psnr = sizes.mean(0), psnrs.mean(0)
    steps = mean_bytes[1:] / mean_bytes[:-1] - 1
    worst = int(np.argmax(steps))
    falls = [f"{levels[j]}->{levels[j + 1]} ({mean_psnr[j + 1] - mean_psnr[j]:+.3f} dB)"
             for j in range(len(levels) - 1) if mean_psnr[j + 1] < mean_psnr[j]]
    big = [f"{levels[j]}->{levels[j + 1]} {100 * steps[j]:+.1f}%" for j in np.argsort(-steps)[:10] if steps[j] > 0.10]
    lines = [
        f"{len(sizes)} images, levels {levels[0]}..{levels[-1]} by {levels[1] - levels[0]}",
        f"largest step {100 * steps[worst]:+.1f}% ({levels[worst]}->{levels[worst + 1]}), "
        f"smallest {100 * steps.min():+.1f}%, median {100 * np.median(steps):+.1f}%",
        "steps over 10%: " + (", ".join(big) if big else "none"),
        "PSNR falls: " + (", ".join(falls) if falls else "none"),
        "",
        "| level | bytes | PSNR dB | step |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for j, q in enumerate(levels):
        step = f"{100 * steps[j - 1]:+.1f}%" if j else ""
        lines.append(f"| {q} | {mean_bytes[j]:.0f} | {mean_psnr[j]:.2f} | {step} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, help="folder of images (default: Kodak, else the demo photo)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--step", type=int, default=1, help="every STEP-th level")
    parser.add_argument("--model", default=None, help="model pack or directory (default: the shipped model)")
    args = parser.parse_args(argv)
    paths = (list_images(args.dir) if args.dir else default_images())[:args.limit]
    model = vqcodec.load_model(args.model)
    levels = list(range(0, model.num_qualities, args.step))
    print(f"model {model.fingerprint.hex()}")
    print(summary(levels, *measure(paths, levels, model)))


if __name__ == "__main__":
    main()
