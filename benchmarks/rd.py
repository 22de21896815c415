"""Rate-distortion and timing of vqcodec against JPEG, WebP and AVIF.

    python -m benchmarks.rd [DIR] [--out bench-out] [--model DIR] [--anchors OLD/results.json]

DIR defaults to ../shared/data/kodak when present, else the bundled demo
photo. For every image, codec and setting it measures whole-file bpp (and, for
vqcodec, payload-only bpp), PSNR and MS-SSIM on the 8-bit RGB reconstruction,
and encode/decode time. Rate points average per-image figures over the images
(the literature's convention). Writes results.json (every per-image number),
results.md (tables, BD-rates, PSNR at fixed rates) and rd.png (if matplotlib
is installed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import vqcodec
from vqcodec.training.data import list_images, load_rgb
from vqcodec.metrics import bd_rate, ms_ssim, ms_ssim_db, psnr, quality_at_rate

from . import codecs

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "kodak"
TARGET_BPP = (0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)


def default_images() -> list[Path]:
    return list_images(DEFAULT_DIR) if DEFAULT_DIR.is_dir() else [vqcodec.DEMO_IMAGE]


def measure(codec: codecs.Codec, images: dict[str, np.ndarray], bar: tqdm) -> list[dict]:
    rows = []
    for name, rgb in images.items():
        pixels = rgb.shape[0] * rgb.shape[1]
        for setting in codec.settings:
            t0 = time.perf_counter()
            data = codec.encode(rgb, setting)
            t1 = time.perf_counter()
            out = codec.decode(data)
            t2 = time.perf_counter()
            ssim = ms_ssim(rgb, out) if min(rgb.shape[:2]) > 160 else float("nan")
            rows.append({
                "codec": codec.name, "setting": setting, "image": name, "bytes": len(data),
                "bpp": 8 * len(data) / pixels, "payload_bpp": 8 * codec.payload_bytes(data) / pixels,
                "psnr": psnr(rgb, out), "ms_ssim": ssim, "encode_s": t1 - t0, "decode_s": t2 - t1,
            })
            bar.update(1)
    return rows


def curve(rows: list[dict], codec: str) -> list[dict]:
    """Mean over images of each setting's figures, in rate order; a setting at which any image
    was coded exactly (infinite PSNR, which no mean survives) is left out: :func:`lossless`
    reports those apart."""
    points = []
    for setting in sorted({r["setting"] for r in rows if r["codec"] == codec}):
        sel = [r for r in rows if r["codec"] == codec and r["setting"] == setting]
        if not all(np.isfinite(r["psnr"]) for r in sel):
            continue
        mean = {k: float(np.mean([r[k] for r in sel]))
                for k in ("bpp", "payload_bpp", "psnr", "ms_ssim", "encode_s", "decode_s")}
        mean["ms_ssim_db"] = float(np.mean([ms_ssim_db(r["ms_ssim"]) for r in sel]))
        points.append({"setting": setting, **mean})
    return sorted(points, key=lambda p: p["bpp"])


def lossless(rows: list[dict], codec: str) -> dict[str, list]:
    """Each setting at which ``codec`` coded some image exactly: those images and their mean bpp."""
    out: dict[str, list] = {}
    for r in rows:
        if r["codec"] == codec and not np.isfinite(r["psnr"]):
            out.setdefault(str(r["setting"]), []).append(r)
    return {k: [len(v), float(np.mean([r["bpp"] for r in v]))] for k, v in out.items()}


def per_image_bd(rows: list[dict], anchor: str) -> dict:
    """The median over images of vqcodec's BD-rate (PSNR) against ``anchor`` on each image's own
    lossy points: a folder whose mean curve is short (images coded exactly at some settings)
    still compares. Images with fewer than two lossy points, or no overlap, are counted apart."""
    found = []
    for image in sorted({r["image"] for r in rows}):
        pts = {c: sorted((r["bpp"], r["psnr"]) for r in rows
                         if r["codec"] == c and r["image"] == image and np.isfinite(r["psnr"])) for c in ("vqcodec", anchor)}
        if min(len(p) for p in pts.values()) < 2:
            continue
        try:
            found.append(bd_rate(*zip(*pts[anchor], strict=True), *zip(*pts["vqcodec"], strict=True)))
        except ValueError:
            continue
    images = len({r["image"] for r in rows})
    return {"median": float(np.median(found)) if found else None, "images": len(found), "of": images}


def per_level_gap(rows: list[dict], anchor: str, margin: float = 0.5) -> dict:
    """Each lossy vqcodec file against ``anchor`` at the same size on the same image (its PSNR
    interpolated in log-rate between the anchor's settings): how many were compared, how many
    are more than ``margin`` dB worse, and the worst (dB, image, setting)."""
    gaps = []
    for r in rows:
        if r["codec"] != "vqcodec" or not np.isfinite(r["psnr"]):
            continue
        pts = [(a["bpp"], a["psnr"]) for a in rows if a["codec"] == anchor and a["image"] == r["image"]]
        at = quality_at_rate([b for b, _ in pts], [p for _, p in pts], r["bpp"]) if pts else None
        if at is not None:
            gaps.append((r["psnr"] - at, r["image"], r["setting"]))
    worst = min(gaps) if gaps else None
    return {"compared": len(gaps), "worse": sum(g < -margin for g, _, _ in gaps), "margin": margin,
            "worst": None if worst is None else list(worst)}


def summarise(curves: dict[str, list[dict]], rows: list[dict] | None = None) -> dict:
    vq = curves["vqcodec"]
    out: dict = {"bd_rate": {}, "psnr_at": {}, "levels": []}
    if rows:
        out["lossless"] = lossless(rows, "vqcodec")
        out["per_image_bd"] = {name: per_image_bd(rows, name) for name in curves if name != "vqcodec"}
        out["per_level_gap"] = {name: per_level_gap(rows, name) for name in curves if name != "vqcodec"}
    if "JPEG" in curves:  # each vqcodec level against JPEG at the same rate
        jpeg = curves["JPEG"]
        out["levels"] = [{"setting": p["setting"], "bpp": p["bpp"], "psnr": p["psnr"],
                          "jpeg_psnr": quality_at_rate([j["bpp"] for j in jpeg], [j["psnr"] for j in jpeg], p["bpp"])}
                         for p in vq]
    for name, pts in curves.items():
        out["psnr_at"][name] = {str(t): quality_at_rate([p["bpp"] for p in pts], [p["psnr"] for p in pts], t)
                                for t in TARGET_BPP}
        if name == "vqcodec":
            continue
        entry = {}
        for metric in ("psnr", "ms_ssim_db"):
            try:
                entry[metric] = bd_rate([p["bpp"] for p in pts], [p[metric] for p in pts],
                                        [p["bpp"] for p in vq], [p[metric] for p in vq])
            except ValueError:
                entry[metric] = None
        out["bd_rate"][name] = entry
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def markdown(curves: dict[str, list[dict]], summary: dict, meta: dict) -> str:
    effort = f"; vqcodec at effort {meta['effort']}" if meta.get("effort") else ""
    lines = [f"Images: {meta['images']} from `{meta['dir']}`; {meta['date']}; {meta['machine']}{effort}.", ""]
    lines += ["| codec | BD-rate vs it (PSNR) | BD-rate vs it (MS-SSIM) |", "| --- | ---: | ---: |"]
    for name, e in summary["bd_rate"].items():
        lines.append(f"| {name} | {_fmt(e['psnr'], '+.1f')}% | {_fmt(e['ms_ssim_db'], '+.1f')}% |")
    lines += ["", "Negative BD-rate: vqcodec needs that much less rate than the codec for the same quality.", ""]
    if summary.get("lossless"):
        listed = ", ".join(f"{n} at level {k} ({bpp:.3f} bpp)" for k, (n, bpp) in summary["lossless"].items())
        lines += [f"Files vqcodec coded exactly (left out of the mean curves): {listed}.", ""]
    if summary.get("per_image_bd"):
        lines += ["| codec | BD-rate vs it (PSNR), median per image over lossy points | images |", "| --- | ---: | ---: |"]
        for name, e in summary["per_image_bd"].items():
            lines.append(f"| {name} | {_fmt(e['median'], '+.1f')}% | {e['images']} of {e['of']} |")
        lines.append("")
    if summary.get("per_level_gap"):
        lines += ["| codec | vqcodec files compared at the same size | more than 0.5 dB worse | worst |",
                  "| --- | ---: | ---: | --- |"]
        for name, e in summary["per_level_gap"].items():
            worst = "n/a" if e["worst"] is None else f"{e['worst'][0]:+.2f} dB ({e['worst'][1]}, level {e['worst'][2]})"
            lines.append(f"| {name} | {e['compared']} | {e['worse']} | {worst} |")
        lines.append("")
    if "ceiling_psnr" in summary:
        lines += [f"Without quantization (decoder(encoder(x))): {summary['ceiling_psnr']:.2f} dB.", ""]
    head = " | ".join(f"{t} bpp" for t in TARGET_BPP)
    lines += [f"| PSNR (dB) at | {head} |", "| --- |" + " ---: |" * len(TARGET_BPP)]
    for name, at in summary["psnr_at"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(at[str(t)], ".2f") for t in TARGET_BPP) + " |")
    if summary["levels"]:
        lines += ["", "| vqcodec level | bpp | PSNR dB | JPEG's PSNR at that bpp | difference dB |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        for lv in summary["levels"]:
            diff = None if lv["jpeg_psnr"] is None else lv["psnr"] - lv["jpeg_psnr"]
            lines.append(f"| {lv['setting']} | {lv['bpp']:.4f} | {lv['psnr']:.2f} | {_fmt(lv['jpeg_psnr'], '.2f')} | "
                         f"{_fmt(diff, '+.2f')} |")
        lines += ["", "JPEG's PSNR at a level's rate is interpolated in log-rate between its settings (n/a below "
                  "its lowest setting's rate)."]
    lines += ["", "| codec | setting | bpp | payload bpp | PSNR dB | MS-SSIM | encode s | decode s |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, pts in curves.items():
        for p in pts:
            lines.append(f"| {name} | {p['setting']} | {p['bpp']:.4f} | {p['payload_bpp']:.4f} | {p['psnr']:.2f} | "
                         f"{_fmt(p['ms_ssim'], '.4f')} | {p['encode_s']:.3f} | {p['decode_s']:.3f} |")
    return "\n".join(lines) + "\n"


def ceiling_psnr(model: vqcodec.CodecModel, rgb: np.ndarray) -> float:
    """PSNR of decoder(encoder(x)) with no quantization, rounded to 8 bits like a decoded image
    (a decoder modulated by the rate decodes as at the top level)."""
    from vqcodec import tiling

    latents = tiling.analyse(model.transforms, model.cfg, rgb)[None]
    top = model.table_set(model.num_qualities - 1)
    y = model.transforms.decode(latents, top)[0, :, : rgb.shape[0], : rgb.shape[1]]
    out = np.clip(np.round(y * np.float32(255.0)), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return psnr(rgb, out)


def plot(curves: dict[str, list[dict]], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    # as far as the other codecs reach (vqcodec's top levels, with a residual, reach further)
    right = max([2.2] + [p["bpp"] for name, pts in curves.items() if name != "vqcodec" for p in pts])
    for name, pts in curves.items():
        style = "o-" if name == "vqcodec" else ".--"
        axes[0].plot([p["bpp"] for p in pts], [p["psnr"] for p in pts], style, label=name)
        axes[1].plot([p["bpp"] for p in pts], [p["ms_ssim_db"] for p in pts], style, label=name)
    for ax, ylabel in zip(axes, ("PSNR (dB)", "MS-SSIM (dB)"), strict=True):
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, right)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, help="folder of images (default: Kodak, else the demo photo)")
    parser.add_argument("--out", type=Path, default=Path("bench-out"), help="output folder")
    parser.add_argument("--model", default=None, help="model directory (default: shipped weights)")
    parser.add_argument("--codecs", default="vqcodec,JPEG,WebP,AVIF", help="comma-separated subset")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--effort", type=int, default=0,
                        help="vqcodec's encoder effort (compress -e): refinement steps per file")
    parser.add_argument("--ceiling", action="store_true",
                        help="also measure the transforms without quantization, decoder(encoder(x)): "
                             "what no quantizer or prior can beat")
    parser.add_argument("--anchors", type=Path, default=None,
                        help="results.json of an earlier run on the same images: take JPEG/WebP/AVIF's rows "
                             "from it instead of measuring them again (they do not depend on the model)")
    args = parser.parse_args(argv)

    paths = list_images(args.dir) if args.dir else default_images()
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        print(f"no images in {args.dir}", file=sys.stderr)
        return 1
    images = {p.name: load_rgb(p) for p in paths}
    model = vqcodec.load_model(args.model)
    wanted = {c.strip() for c in args.codecs.split(",")} | {"vqcodec"}
    chosen = [c for c in (codecs.vq(model, args.effort), codecs.jpeg(), codecs.webp(), codecs.avif()) if c.name in wanted]
    rows: list[dict] = []
    if args.anchors:
        earlier = [r for r in json.loads(args.anchors.read_text())["per_image"] if r["codec"] != "vqcodec"]
        reused = {c.name for c in chosen if c.name != "vqcodec" and {r["image"] for r in earlier if r["codec"] == c.name} >= set(images)}
        missing = wanted - reused - {"vqcodec"}
        if missing:
            print(f"{args.anchors} has no rows of {', '.join(sorted(missing))} for every image", file=sys.stderr)
            return 1
        rows += [r for r in earlier if r["codec"] in reused and r["image"] in images]
        chosen_to_measure = [c for c in chosen if c.name not in reused]
    else:
        chosen_to_measure = chosen
    total = sum(len(c.settings) for c in chosen_to_measure) * len(images)
    with tqdm(total=total, desc="rd", unit="code") as bar:
        for codec in chosen_to_measure:
            bar.set_postfix(codec=codec.name)
            rows += measure(codec, images, bar)
    curves = {c.name: curve(rows, c.name) for c in chosen}
    summary = summarise(curves, rows)
    if args.ceiling:
        summary["ceiling_psnr"] = float(np.mean([ceiling_psnr(model, rgb) for rgb in images.values()]))
    meta = {
        "dir": str(args.dir or (DEFAULT_DIR if DEFAULT_DIR.is_dir() else vqcodec.DEMO_IMAGE.parent)),
        "images": len(images), "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
                   f"({torch.get_num_threads()} threads)",
        "model": model.fingerprint.hex(), "effort": args.effort, "command": "python -m benchmarks.rd " + " ".join(argv or sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(
        {"meta": meta, "summary": summary, "curves": curves, "per_image": rows}, indent=1))
    (args.out / "results.md").write_text(markdown(curves, summary, meta))
    effort = f", effort {args.effort}" if args.effort else ""
    plotted = plot(curves, args.out / "rd.png", f"{meta['images']} images, model {meta['model']}{effort}")
    print(markdown(curves, summary, meta))
    print(f"wrote {args.out}/results.json, results.md" + (", rd.png" if plotted else " (no matplotlib: no plot)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
