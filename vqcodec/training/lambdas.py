"""Per-level rate weights that make the quality scale smooth (issue 40).

Each table set serves about ten levels, and a level's lambda follows one geometric schedule
across all of them; but a set's tables, counted at its own rate, make the codes of the next
set's rate dear, so within a set ten levels cover about a third of the rate up to the next
set's first level, and the switch adds the rest in one step (12-34% on Kodak,
docs/training.md, stop 36). This module measures, on training photos, the bytes and PSNR each
set gives over a range of lambdas, and proposes lambdas that spread a set's levels
geometrically in bytes from its first level to the next set's first. Only the lambdas change:
the encoder's choice, not what a file means; but they are part of a model's fingerprint, so
new lambdas make a new model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..codec import _Encoding
from ..image import to_pixels
from ..metrics import psnr
from ..modelpack import PACK_SUFFIX, fingerprint, write_pack
from ..weights import LAMBDAS_KEY, open_model
from .. import tiling


@dataclass
class SetCurve:
    """Mean bytes and PSNR over the photos of one table set's tables at each lambda (descending)."""

    first: int  # the set's first level
    lambdas: np.ndarray
    bytes: np.ndarray
    psnr: np.ndarray


def set_bounds(table_of_quality: np.ndarray) -> list[tuple[int, int]]:
    """(first level, next set's first level) of each run of levels that share a table set."""
    starts = [0] + [q for q in range(1, len(table_of_quality)) if table_of_quality[q] != table_of_quality[q - 1]]
    return list(zip(starts, starts[1:] + [len(table_of_quality)], strict=True))


def _coded(enc: _Encoding, quality: int, lam: float) -> tuple[int, float]:
    """Bytes and PSNR of the file at ``quality``'s tables with rate weight ``lam``."""
    model = enc.model
    data, indices, fix = enc._pack(enc.latents, quality, lam)
    height, width = enc.px.rgb.shape[:2]
    rgb = tiling.synthesise(model.transforms, model.cfg, model.decoded_codes(quality), indices, width, height,
                            table_set=model.table_set(quality), correction=fix)
    return len(data), psnr(rgb, enc.px.rgb)


def measure(model, photos: list[Path], points: int = 9, reach: float = 3.0, up: float = 0.0,
            firsts: set[int] | None = None) -> list[SetCurve]:
    """Each set's curve (or those of the sets whose first levels are ``firsts``) over ``points``
    lambdas (and its first level's own), geometric from ``up`` times the log-span between its
    first level's lambda and the next set's first level's above the former, to ``reach`` times
    that span below it."""
    encodings = [_Encoding(to_pixels(p), model) for p in photos]
    curves = []
    for first, following in set_bounds(model.prior.table_of_quality):
        if firsts is not None and first not in firsts:
            continue
        top = model.lambdas[first]
        low = model.lambdas[min(following, len(model.lambdas) - 1)]
        lambdas = top * (low / top) ** np.unique(np.r_[np.linspace(-up, reach, points), 0.0])
        figures = np.array([[_coded(enc, first, float(lam)) for enc in encodings] for lam in lambdas])  # (L, N, 2)
        curves.append(SetCurve(first, lambdas, figures[..., 0].mean(1), figures[..., 1].mean(1)))
    return curves


def crossover(lower: SetCurve, upper: SetCurve, start: float, end: float, grid: int = 201) -> float:
    """Where, as a share of the log-bytes from ``start`` to ``end`` (the two sets' first levels),
    the upper set's curve first gives the better PSNR at the same bytes, from halfway on (1.0 if
    nowhere). Below halfway the upper set's curve is extrapolated and not trusted."""
    share = np.linspace(0.0, 1.0, grid)
    at = np.log(start) + share * np.log(end / start)

    def quality(curve: SetCurve) -> np.ndarray:
        order = np.argsort(curve.bytes)
        return np.interp(at, np.log(curve.bytes[order]), curve.psnr[order])

    worse = (share >= 0.5) & (quality(lower) < quality(upper))
    return float(share[np.argmax(worse)]) if worse.any() else 1.0


def propose(curves: list[SetCurve], lambdas: list[float], last_step: float = 0.08,
            least_step: float = 0.02) -> np.ndarray:
    """Lambdas spreading each set's levels geometrically in bytes from its first level (its lambda
    kept) up to where the next set's tables start to give the better image at the same bytes (or a
    step short of the next set's first level, if sooner), but close enough to the next set's first
    level that the step to it adds at most ``last_step`` of the bytes (or no more than the other
    steps), and far enough that it adds at least ``least_step`` (curves measured on a few photos
    put a set's top level past the next set's first on others: Kodak's 94 -> 95 fell 0.3%);
    interpolated in log-log on the curves. ``curves`` are of consecutive sets (all, or a run of
    them: only the levels between them move); the last set, with no set after it, keeps its lambdas."""
    out = np.array(lambdas, np.float64)

    def at_first(curve: SetCurve) -> float:  # the bytes of a set's first level, its lambda unchanged
        return float(np.exp(np.interp(-np.log(lambdas[curve.first]), -np.log(curve.lambdas), np.log(curve.bytes))))

    for curve, after in zip(curves, curves[1:]):
        start, end, span = at_first(curve), at_first(after), after.first - curve.first
        if span < 2:
            continue
        uniform = (span - 1) / span  # every step the same
        top = max(min(crossover(curve, after, start, end), uniform),
                  min(uniform, 1 - np.log1p(last_step) / np.log(end / start)))
        top = min(top, 1 - np.log1p(least_step) / np.log(end / start))
        order = np.argsort(curve.bytes)
        for k in range(1, span):
            target = start * (end / start) ** (top * k / (span - 1))
            # bytes rise as lambda falls: log lambda interpolated against log bytes
            out[curve.first + k] = float(np.exp(np.interp(np.log(target), np.log(curve.bytes[order]),
                                                          np.log(curve.lambdas[order]))))
    return out


def with_lambdas(source: str | Path | None, lambdas: np.ndarray, folder: Path, note: dict | None = None) -> Path:
    """Write a pack of both parts of the model at ``source`` (the package's current by default) with
    ``lambdas`` in place of its own: everything else byte for byte, so its decoder and tables are the
    source's, but it is a new model with its own fingerprint. ``note`` (how the lambdas were made)
    is appended to the config's ``"lambdas_refit"`` list. Returns the pack, named by it."""
    stored = open_model(source)
    config = dict(stored.config)
    config["lambdas_refit"] = [*config.get("lambdas_refit", []), {"from": stored.fingerprint.hex(), **(note or {})}]
    old = stored.tensors[LAMBDAS_KEY]
    lambdas = np.asarray(lambdas, dtype=old.dtype)
    if lambdas.shape != old.shape or not np.all(lambdas > 0):
        raise ValueError(f"need {old.shape[0]} positive lambdas")
    tensors = dict(stored.tensors) | {LAMBDAS_KEY: lambdas}
    graphs = {name: stored.graph(name) for name in stored.graph_names}
    fp = fingerprint(stored.config["model"], tensors, graphs)
    return write_pack(folder / f"{fp.hex()}{PACK_SUFFIX}", config, tensors, graphs, fp)


if __name__ == "__main__":  # python -m vqcodec.training.lambdas DATA [PHOTOS] [--curves JSON] [--write FOLDER]
    import argparse
    import json

    from .. import load_model
    from .data import list_images, split_holdout

    parser = argparse.ArgumentParser(description="Measure each table set's curve on training photos and "
                                     "propose lambdas that smooth the quality scale (JSON on stdout).")
    parser.add_argument("data", type=Path, help="training photos (the 8 held aside are not used)")
    parser.add_argument("photos", type=int, nargs="?", default=8, help="how many photos to measure on")
    parser.add_argument("--curves", type=Path, metavar="JSON",
                        help="take the curves from an earlier run's output instead of measuring them")
    parser.add_argument("--write", type=Path, metavar="FOLDER",
                        help="also write the current model with the proposed lambdas as a pack in FOLDER")
    parser.add_argument("--sets", metavar="FIRSTS",
                        help="measure only the table sets whose first levels these are (comma-separated, "
                             "consecutive sets): only the levels between them move")
    parser.add_argument("--least-step", type=float, default=0.02, metavar="SHARE",
                        help="the least share of bytes the step into each next set adds on the photos measured "
                             "(default 0.02)")
    args = parser.parse_args()
    firsts = None if args.sets is None else {int(v) for v in args.sets.split(",")}
    model = load_model()
    if args.curves:  # measured by an earlier run, on as many photos as it was told
        earlier = json.loads(args.curves.read_text())
        if earlier["model"] != model.fingerprint.hex():
            parser.error(f"{args.curves} measured model {earlier['model']}, not {model.fingerprint.hex()}")
        curves = [SetCurve(c["first"], *(np.array(c[k]) for k in ("lambdas", "bytes", "psnr"))) for c in earlier["curves"]]
    else:
        train, _ = split_holdout(list_images(args.data), 8)
        spread = train[::max(1, len(train) // args.photos)][:args.photos]  # every source, not the first by name
        curves = measure(model, spread, points=13, up=1.5, firsts=firsts)
    proposal = propose(curves, model.lambdas, least_step=args.least_step)
    out = {"model": model.fingerprint.hex(), "proposal": proposal.tolist(),
           "curves": [{"first": c.first, "lambdas": c.lambdas.tolist(), "bytes": c.bytes.tolist(),
                       "psnr": c.psnr.tolist()} for c in curves]}
    if args.write:
        import sys
        from datetime import date

        note = {"photos": args.photos, "date": date.today().isoformat(),
                "command": "python -m vqcodec.training.lambdas " + " ".join(sys.argv[1:])}
        out["written"] = str(with_lambdas(None, proposal, args.write, note))
    print(json.dumps(out))
