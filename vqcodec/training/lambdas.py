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
    saved = model.lambdas[quality]
    model.lambdas[quality] = lam
    try:
        data, indices, fix = enc._pack(enc.latents, quality)
    finally:
        model.lambdas[quality] = saved
    height, width = enc.px.rgb.shape[:2]
    rgb = tiling.synthesise(model.transforms, model.cfg, model.decoded_codes(quality), indices, width, height,
                            table_set=model.table_set(quality), correction=fix)
    return len(data), psnr(rgb, enc.px.rgb)


def measure(model, photos: list[Path], points: int = 9, reach: float = 3.0, up: float = 0.0) -> list[SetCurve]:
    """Each set's curve over ``points`` lambdas (and its first level's own), geometric from ``up``
    times the log-span between its first level's lambda and the next set's first level's above
    the former, to ``reach`` times that span below it."""
    encodings = [_Encoding(to_pixels(p), model) for p in photos]
    curves = []
    for first, following in set_bounds(model.prior.table_of_quality):
        top = model.lambdas[first]
        low = model.lambdas[min(following, len(model.lambdas) - 1)]
        lambdas = top * (low / top) ** np.unique(np.r_[np.linspace(-up, reach, points), 0.0])
        figures = np.array([[_coded(enc, first, float(lam)) for enc in encodings] for lam in lambdas])  # (L, N, 2)
        curves.append(SetCurve(first, lambdas, figures[..., 0].mean(1), figures[..., 1].mean(1)))
    return curves


def propose(curves: list[SetCurve], lambdas: list[float]) -> np.ndarray:
    """Lambdas spreading each set's levels geometrically in bytes from its first level (its lambda
    kept) to just below the next set's first level, interpolated in log-log on the curves; the
    last set, with no set after it, keeps its lambdas."""
    out = np.array(lambdas, np.float64)
    def at_first(curve: SetCurve) -> float:  # the bytes of a set's first level, its lambda unchanged
        return float(np.exp(np.interp(-np.log(lambdas[curve.first]), -np.log(curve.lambdas), np.log(curve.bytes))))

    for curve, after in zip(curves, curves[1:]):
        start, end, span = at_first(curve), at_first(after), after.first - curve.first
        for k in range(1, span):
            target = start * (end / start) ** (k / span)
            # bytes rise as lambda falls: log lambda interpolated against log bytes
            out[curve.first + k] = float(np.exp(np.interp(np.log(target), np.log(curve.bytes), np.log(curve.lambdas))))
    return out


if __name__ == "__main__":  # python -m vqcodec.training.lambdas DATA [PHOTOS]: curves and proposal, as JSON
    import json
    import sys

    from .. import load_model
    from .data import list_images, split_holdout

    train, _ = split_holdout(list_images(sys.argv[1]), 8)
    model = load_model()
    curves = measure(model, train[:int(sys.argv[2]) if len(sys.argv) > 2 else 8], points=13, up=1.5)
    proposal = propose(curves, model.lambdas)
    print(json.dumps({"model": model.fingerprint.hex(), "proposal": proposal.tolist(),
                      "curves": [{"first": c.first, "lambdas": c.lambdas.tolist(), "bytes": c.bytes.tolist(),
                                  "psnr": c.psnr.tolist()} for c in curves]}))
