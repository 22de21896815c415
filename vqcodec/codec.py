"""The file-level API: image -> ``.vqc`` bytes -> image.

``compress`` also runs the decoder on the indices it wrote, so the quality it
reports is exactly what ``decompress`` will reproduce: both go through
:func:`tiling.synthesise`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image

from . import bitstream, correction, exact, models, palette, residual, smooth, tiling
from .correction import Correction
from .metrics import psnr, squared_error
from .prior import check_shape, index_maps
from .errors import CorruptError, ModelMismatchError, ModelNotFoundError, TargetError, UnsupportedVersionError, VqcError
from .rate import bit_weight, coded_steps, per_codebook
from .image import (
    ImageInput,
    Pixels,
    check_pixels,
    compress_alpha,
    decompress_alpha,
    fill_transparent,
    from_rgb,
    quantize_alpha,
    to_pixels,
)
from .weights import DEFAULT_WEIGHTS, CodecModel, current_pack, load_model

#: Quality used when none is given (0 smallest .. 100 best; a model with fewer
#: levels uses its best): about 1.08 bpp and 35.1 dB on Kodak with the shipped model,
#: where photos look clean (quality 50 gives 0.81 bpp).
DEFAULT_QUALITY = 55

#: Most refinement steps an encoding may take (``effort``): on held-out photos the gain
#: levels off by 6-8 steps (docs/training.md), while each step costs as much as the last.
MAX_EFFORT = 8

#: The bundled demo photo (CC0, see assets/README.md).
DEMO_IMAGE = Path(__file__).parent / "assets" / "coffee.png"


@lru_cache(maxsize=4)
def _load(path: Path, device: str) -> CodecModel:
    return load_model(path, device=device)


def _resolve(model: CodecModel | None, device: str | None) -> CodecModel:
    """``model``, or the current model of the package (loaded once per device)."""
    if model is not None:
        return model
    return _load(_current(), device or "cpu")


@lru_cache(maxsize=1)
def _current() -> Path:
    """The package's current model (read from releases.json once, not on every call)."""
    return current_pack(DEFAULT_WEIGHTS)


def model_for(fingerprint: bytes, model_path: Iterable[str | os.PathLike] = (), device: str | None = None) -> CodecModel:
    """The model of ``fingerprint``, found on the search path (:mod:`models`: ``model_path`` first) and
    loaded once; :class:`ModelNotFoundError` naming its release if it is nowhere."""
    path = models.find(fingerprint, model_path)
    if path is None:
        raise ModelNotFoundError(f"file was {models.missing(fingerprint)}")
    return _load(path, device or "cpu")


def _latent_shape(width: int, height: int, factor: int) -> tuple[int, int]:
    return math.ceil(height / factor), math.ceil(width / factor)


@dataclass
class CompressResult:
    """A compressed file and what decoding it will give."""

    data: bytes
    reconstruction: Image.Image
    bpp: float  # whole file, header included
    psnr: float  # of the RGB reconstruction against the RGB input (gray for L/LA images), in dB; inf if lossless.
    # With alpha, each pixel's error is weighted by its alpha: fully transparent pixels do not count
    quality: int  # the level it was coded at
    lossless: bool = False  # a palette file: the image exactly (:mod:`palette`)


def default_quality(model: CodecModel) -> int:
    """The quality used when none is given, within ``model``'s levels."""
    return min(DEFAULT_QUALITY, model.num_qualities - 1)


TILE_JUDGES = (0, 35)
"""The levels whose codes judge every level's choice between codes alone and codes with exact
tiles over the codes of the image with its tiles filled (:meth:`_Encoding._judges`).

The two are curves that cross again and again as the level rises: judged on each level's own
codes, GNOME's help figures had tiles at 15, none at 16 (-2.35 dB), tiles at 26, none at 27
(-1.32 dB). Judged on fixed codes, only the rate weight changes with the level, and as it falls,
tiles that add bytes to those codes can only turn on. On level 0's codes (the cheapest: tiles
always add bytes) they turned on 10-20 levels before the levels' own codes had them for good,
1.1% worse against WebP; the finer codes of level 35 turn them on later, and tiles go on where
both agree (docs/training.md)."""


class _Encoding:
    """One image on its way to a file: the encoder runs once, then any number of
    qualities are coded from its latents (what the size and PSNR targets search),
    each with ``effort`` steps of :func:`refine.refine`."""

    def __init__(self, px: Pixels, model: CodecModel, alpha_quality: int = 100, effort: int = 0) -> None:
        if not 0 <= alpha_quality <= 100:
            raise VqcError(f"alpha quality must be between 0 and 100, not {alpha_quality}")
        if not 0 <= effort <= MAX_EFFORT:
            raise VqcError(f"effort must be between 0 and {MAX_EFFORT}, not {effort}")
        if px.alpha is not None:
            px = replace(px, alpha=quantize_alpha(px.alpha, alpha_quality))
        self.px, self.model, self.effort = px, model, effort
        check_shape(*_latent_shape(px.rgb.shape[1], px.rgb.shape[0], model.cfg.downsample))  # before any work
        self.alpha = compress_alpha(px.alpha) if px.alpha is not None else b""
        # a target search reports a level it coded; effort may have decoded the file already
        self._coded: dict[int, tuple[bytes, np.ndarray | None, Correction, np.ndarray | None]] = {}
        self._palette: tuple[bytes, np.ndarray] | None = None  # payload (b"" if none) and pixels, once made
        self._merges: dict[int, tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]] = {}  # by tolerance
        self._tile_file: tuple[bytes, bytes, np.ndarray] | None = None  # each tile's tolerance, payload, pixels
        self._fitted: dict[bytes, np.ndarray] = {}  # tiles' choices of more colours than a palette holds, as fitted
        self._plain: dict[int, tuple] = {}  # each level's code file, as _codes made it
        self._scores: dict[int, tuple[float, int, float, bytes]] = {}  # by level: what _tiles_win judges on

    @cached_property
    def latents(self) -> np.ndarray:
        """The encoder's latents (D, h, w), computed when a code file is first needed: an image its
        palette file codes in fewer bytes than any code file can take never runs the encoder."""
        return tiling.analyse(self.model.transforms, self.model.cfg, self.px.rgb)

    @cached_property
    def _gray(self) -> bool:
        """Whether the image is gray: mode L or LA, or R = G = B everywhere."""
        rgb = self.px.rgb
        return residual.planes_for(self.px.mode) == 1 or bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())

    def _plan(self, quality: int) -> tuple[int, int] | None:
        """(codes' level, step) if ``quality`` is also tried as codes and a residual (residual.plan):
        a gray image's codes lose to a residual from a lower level on than a colour image's. A gray
        image in RGB has its residual in three planes, where the first (the channels' sum over
        sqrt(3)) holds its error sqrt(3) times over: its step is sqrt(3) times the gray one (with
        the gray step itself, level 70 of 8 gray photos took 2.20 bpp where level 60 took 1.13)."""
        planned = residual.plan(quality, 1 if self._gray else 3)
        return None if planned is None else (planned[0], self._step(planned[1]))

    def _step(self, step: int) -> int:
        """A step of residual.plan's scale as this image's residual takes it (:meth:`_plan`)."""
        return min(255, round(step * 3 ** 0.5)) if self._gray and self.px.mode not in ("L", "LA") else step

    @cached_property
    def _hidden(self) -> np.ndarray | None:
        """Pixels never seen (alpha 0), or None."""
        return None if self.px.alpha is None else self.px.alpha == 0

    @cached_property
    def _tiles(self) -> tuple[np.ndarray, np.ndarray, bool] | None:
        """The image's exact tiles (:mod:`exact`): their map, pixel mask and whether the codes code
        the image with them filled smoothly (:attr:`_filled_latents`), as where the tiles are at
        least exact.FILL_SHARE of the image (else the codes of the image itself serve); None if it
        has none."""
        tiles = exact.candidates(self.px.rgb, self._hidden, self._smooth_candidates)
        if tiles is None:
            return None
        height, width = self.px.rgb.shape[:2]
        return tiles, exact.pixels_of(tiles, width, height), bool(tiles.mean() >= exact.FILL_SHARE)

    @cached_property
    def _filled_latents(self) -> np.ndarray:
        """The latents of the image with its exact tiles filled smoothly (as under alpha 0)."""
        mask = self._tiles[1]
        seen = ~mask if self._hidden is None else ~mask & ~self._hidden
        filled = fill_transparent(self.px.rgb, seen.astype(np.uint8))
        return tiling.analyse(self.model.transforms, self.model.cfg, filled)

    @cached_property
    def _shown(self) -> np.ndarray:
        """The image as exact tiles code it: black under alpha 0."""
        return self.px.rgb if self._hidden is None else np.where(self._hidden[..., None], 0, self.px.rgb).astype(np.uint8)

    @cached_property
    def _tile_colours(self) -> list[np.ndarray]:
        """Each exact tile's colours (exact.tile_colours), for tiles of more colours than a palette holds."""
        return exact.tile_colours(self._shown, self._tiles[0])

    def _merged(self, tolerance: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
        """The tiles' colours merged within ``tolerance`` (exact.merge_table) and, per tile, the bits
        of coding every tile so and their squared error where seen; each found once, whatever the
        quality (tables, not images: a 100-megapixel screenshot has eight tolerances). Where so
        merged the tiles have more colours than a palette holds, the bits are those of the tiles
        that fit (exact.fitting, as if coded alone) and infinite for the rest."""
        if tolerance not in self._merges:
            tiles, mask, _ = self._tiles
            table = exact.merge_table(self._shown, mask, tolerance)
            fitting = tiles if exact.fits(table) else exact.fitting(self._tile_colours, tiles, table)
            bits = np.zeros(tiles.shape)
            if fitting.any():
                exact.encode(self._shown, fitting, bits, table)
            bits[tiles & ~fitting] = np.inf  # a tile this table's colours leave no room for
            seen = mask if self._hidden is None else mask & ~self._hidden
            error = []
            for top in range(0, mask.shape[0], exact.TILE):  # a row of tiles at a time, no merged copy of the image
                rows = slice(top, top + exact.TILE)
                band = exact.merged(self._shown[rows], mask[rows], table)
                error.append(exact.tile_sums(((band.astype(np.int32) - self.px.rgb[rows]) ** 2).sum(axis=2)
                                             * seen[rows])[0])
            self._merges[tolerance] = table, bits, np.stack(error)
        return self._merges[tolerance]

    def _per_bit(self, quality: int) -> float:
        """What a bit weighs in the exact-tile and smoothing decisions at ``quality``: the lowest rate
        weight of this level and all below it. The lambdas rise at each table-set boundary (the new
        tables make codes cheaper); weighed by them, a higher level could merge more tile colours or
        smooth more than the level below it, and the scale would fall in PSNR."""
        return bit_weight(min(self.model.lambdas[:quality + 1]))

    def _tiles_file(self, quality: int) -> tuple[bytes, np.ndarray]:
        """The exact tiles' payload at ``quality`` and the pixels it holds: each tile's colours merged
        within the tolerance that scores best for it (squared error plus bits at the quality's rate
        weight), tolerances tried finer to coarser until the tiles' total has risen twice (and one
        tolerance takes every tile). If the
        tiles' choices together have more colours than a palette holds, some are merged more
        (exact.fit_choices)."""
        tiles, mask, _ = self._tiles
        per_bit = self._per_bit(quality)
        scores, tables, best, rising = [], [], math.inf, 0
        for tolerance in exact.TOLERANCES:
            table, bits, error = self._merged(tolerance)
            scores.append(error + per_bit * bits)
            tables.append(table)
            total = scores[-1][tiles].sum()  # infinite where the table's colours leave tiles out
            best, rising = (total, 0) if total < best else (best, rising + 1)
            if rising >= 2 and np.isfinite(total):  # and some table takes every tile
                break
        choice = np.where(tiles, np.argmin(np.stack(scores), axis=0), -1)
        fitted = self._fitted.get(choice.tobytes(), choice)
        try:
            return self._tiles_payload(fitted, tables)
        except exact.TooManyColours:
            fitted = self._fitted[choice.tobytes()] = exact.fit_choices(self._tile_colours, tiles, choice, scores, tables)
            return self._tiles_payload(fitted, tables)

    def _tiles_payload(self, choice: np.ndarray, tables: list[tuple[np.ndarray, np.ndarray]]) -> tuple[bytes, np.ndarray]:
        """The exact tiles' payload and pixels with each tile merged by ``tables[choice]`` (-1: no
        tile), kept for the next level (neighbouring levels often agree)."""
        if self._tile_file is None or self._tile_file[0] != choice.tobytes():
            tiles, mask, _ = self._tiles
            height, width = mask.shape
            self._tile_file = None  # the last level's pixels go before this one's are made
            rgb = self._shown.copy()
            for k, table in enumerate(tables):
                if (choice == k).any():
                    exact.merged(rgb, exact.pixels_of(choice == k, width, height), table, out=rgb)
            self._tile_file = choice.tobytes(), exact.encode(rgb, tiles), rgb
        return self._tile_file[1:]

    def code(self, quality: int, last: bool = False) -> tuple[bytes, np.ndarray | None]:
        """The .vqc bytes at ``quality`` and the code indices (M, h, w) they hold (None in a palette
        file); each level coded once. ``last``: no other level will be coded, so the encoder's
        latents go once the codes are chosen, before any decoding (311 MB at 51.9 MP), and the
        exact tiles' pixels once the file has them."""
        if quality not in self._coded:
            self._coded[quality] = self._code(quality, last)
        return self._coded[quality][:2]

    def _code(self, quality: int, last: bool = False) -> tuple[bytes, np.ndarray | None, Correction, np.ndarray | None]:
        lossless = self._palette_file(quality)
        height, width = self.px.rgb.shape[:2]
        planned = self._plan(quality)
        lowest = quality if planned is None else min(quality, planned[0])
        if lossless is not None and len(self._palette[0]) <= self.model.coder.min_payload_bytes(  # payloads compared
                *_latent_shape(width, height, self.model.cfg.downsample), lowest):
            return lossless[0], None, correction.NONE, lossless[1]  # no code file can be as small
        visible = None if self._hidden is None else ~self._hidden  # the fill under alpha 0 is not seen
        coded = self._file_at(quality, quality, visible, last and planned is None)
        if planned is not None:  # codes at a lower level and a residual, where that is better
            coded = self._layered_if_better(quality, coded, planned, visible, last)
        if lossless is not None and len(lossless[0]) <= len(coded[0]):  # the image itself in no more bytes
            return lossless[0], None, correction.NONE, lossless[1]
        return coded

    def _layered_if_better(self, quality: int, coded: tuple, planned: tuple[int, int], visible: np.ndarray | None,
                           last: bool) -> tuple:
        """``coded`` (codes alone at ``quality``) or the file of codes at ``planned``'s level and a
        residual at its step, if that has both less squared error where ``visible`` and less error
        plus bits at the quality's rate weight. A lower score alone is not enough: on a gradient the
        codes' top levels add bytes for nothing, and a residual's file scored better with fewer
        bytes and a lower PSNR (level 80 below level 70 in both), then lost again at level 90.

        A residual's file with less error *and* fewer bytes than the codes alone (a gradient's,
        whose codes' top levels buy nothing) takes the finest step of a level above that stays
        within the codes' bytes (:meth:`_finest_within`): the level's size follows the codes'
        scale, which rises with the level, instead of falling below the levels under it
        (gradients-00: 0.100 bpp at level 80 where level 60 took 0.104), and the bytes buy error."""
        level, step = planned
        base = self._file_at(quality, level, visible, last)
        if base[3] is None:
            base = (*base[:3], self._decoded(level, *base[1:3]))
        layered = self._with_residual(level, step, base)
        if coded[3] is None:
            coded = (*coded[:3], self._decoded(quality, *coded[1:3]))
        errors = [squared_error(c[3], self.px.rgb, visible) for c in (coded, layered)]
        weight = 8 * self._per_bit(quality)
        if not (errors[1] < errors[0] and errors[1] + weight * len(layered[0]) < errors[0] + weight * len(coded[0])):
            return coded
        if len(layered[0]) < len(coded[0]):
            layered = self._finest_within(quality, level, base, len(coded[0])) or layered
        return layered

    def _finest_within(self, quality: int, level: int, base: tuple, size: int) -> tuple | None:
        """The file of ``base`` (codes at ``level``) and a residual at the finest step of the levels
        above ``quality`` (residual.finer_steps) that takes at most ``size`` bytes, or None if even
        the next level's step takes more; found by doubling, then halving, the steps passed over.
        Steps of the plan's own scale, so that a level above never takes a coarser one: taking
        steps a quarter finer at a time, shell-workspaces went 120 -> 90 at level 75 and stayed at
        113 at 76 (-0.72 dB)."""
        steps = [self._step(step) for step in residual.finer_steps(quality, 1 if self._gray else 3)]
        found, fits, tried, over = None, -1, 0, len(steps)
        while tried < over:  # doubling: the first step too fine bounds the search
            finer = self._with_residual(level, steps[tried], base)
            if len(finer[0]) > size:
                over = tried
                break
            found, fits, tried = finer, tried, 2 * tried + 1
        while over - fits > 1:  # halving between the last that fits and the first that does not
            middle = (fits + over) // 2
            finer = self._with_residual(level, steps[middle], base)
            if len(finer[0]) > size:
                over = middle
            else:
                found, fits = finer, middle
        return found

    def _file_at(self, quality: int, level: int, visible: np.ndarray | None, last: bool) -> tuple:
        """The file of codes at ``level`` with the exact tiles and smoothing map that score best at
        ``quality``'s rate weight: (file, indices, correction, decoded image or None). The codes of a
        level are chosen once (the residual's levels share level residual.BASE's)."""
        for judge in self._judges(level):
            if judge != level:
                self._tile_scores(judge, visible)  # needs the latents: before they go
        if level not in self._plain:
            self._plain[level] = self._codes(self.latents, level, visible)
        plain = self._plain.pop(level) if last else self._plain[level]
        if plain[3] is not None and not last:  # exact tiles are written into the image: keep the cached one
            plain = (*plain[:3], plain[3].copy())
        if last:
            vars(self).pop("latents", None)
        coded = self._best_with_tiles(quality, level, plain, visible, last)
        if last:
            self._tile_file = None
        return self._smoothed(quality, level, coded, visible)

    def _codes(self, latents: np.ndarray, quality: int,
               visible: np.ndarray | None) -> tuple[bytes, np.ndarray, Correction, np.ndarray | None]:
        """The code file of ``latents`` at ``quality`` with the encoding's effort (the error counted
        where ``visible``): file, indices, correction and, if refining made it, the decoded image."""
        if self.effort == 0:
            return *self._pack(latents, quality), None
        from .refine import refine  # effort alone needs it: decoding does not import it

        return refine(latents, self.px.rgb, self.model, quality, self.effort,
                      lambda moved: self._pack(moved, quality), visible)

    def _decoded(self, quality: int, indices: np.ndarray, fix: Correction) -> np.ndarray:
        """The (H, W, 3) image the decoder makes of codes at ``quality``."""
        height, width = self.px.rgb.shape[:2]
        m = self.model
        return tiling.synthesise(m.transforms, m.cfg, m.decoded_codes(quality), indices, width, height,
                                 table_set=m.table_set(quality), correction=fix)

    def _under_tiles(self, level: int, plain: tuple, visible: np.ndarray | None, last: bool) -> tuple:
        """The code file (decoded) that exact tiles go over at ``level``: ``plain`` (decoded) where
        the tiles are few, else the codes of the image with its tiles filled smoothly. ``last``:
        as :meth:`code`'s."""
        _, mask, filled = self._tiles
        if not filled:  # few tiles: beside the image's own codes
            return plain
        data, indices, fix, rgb = self._codes(self._filled_latents, level, ~mask if visible is None else visible & ~mask)
        if last:
            vars(self).pop("_filled_latents", None)
        return data, indices, fix, self._decoded(level, indices, fix) if rgb is None else rgb

    def _tile_scores(self, level: int, visible: np.ndarray | None) -> tuple[float, int, float, bytes]:
        """:meth:`_scores_of` ``level``'s own code files, found once per level."""
        if level not in self._scores:
            plain = self._plain.get(level) or self._codes(self.latents, level, visible)
            if plain[3] is None:
                plain = (*plain[:3], self._decoded(level, *plain[1:3]))
            self._scores[level] = self._scores_of(plain, self._under_tiles(level, plain, visible, False), visible)
        return self._scores[level]

    def _scores_of(self, plain: tuple, under: tuple, visible: np.ndarray | None) -> tuple[float, int, float, bytes]:
        """What :meth:`_tiles_win` judges on: the squared error where ``visible`` of ``plain``, the
        code file alone (decoded), and its bytes; the error outside the exact tiles of ``under``,
        the code file that tiles go over (decoded), and its file."""
        mask = self._tiles[1]
        return (squared_error(plain[3], self.px.rgb, visible), len(plain[0]),
                squared_error(under[3], self.px.rgb, ~mask if visible is None else visible & ~mask), under[0])

    def _mixed(self, quality: int, data: bytes) -> tuple[bytes, np.ndarray]:
        """The file of codes ``data`` with ``quality``'s exact tiles (:meth:`_tiles_file`), and the
        tiles' pixels."""
        payload, tiled = self._tiles_file(quality)
        container = bitstream.unpack(data)
        header = replace(container.header, exact_tiles=True,
                         payload_size=bitstream.payload_size(container.payload, payload))
        return bitstream.pack(header, container.payload, container.alpha, payload), tiled

    def _tiles_win(self, quality: int, scores: tuple[float, int, float, bytes], visible: np.ndarray | None) -> bool:
        """Whether codes with exact tiles score better than codes alone on ``scores`` (:meth:`_scores_of`):
        squared error where ``visible`` plus bits at ``quality``'s rate weight (as :func:`refine`)."""
        plain_error, plain_bytes, outside_error, under = scores
        mixed, tiled = self._mixed(quality, under)
        mask = self._tiles[1]
        inside_error = squared_error(tiled, self.px.rgb, mask if visible is None else visible & mask)
        weight = 8 * self._per_bit(quality)  # per byte, in squared 8-bit levels
        return outside_error + inside_error + weight * len(mixed) < plain_error + weight * plain_bytes

    def _judges(self, level: int) -> tuple[int, ...]:
        """The levels whose codes judge ``level``'s choice between codes alone and codes with exact
        tiles (:meth:`_tiles_win`, at ``level``'s weight: tiles only if every judge says so):
        TILE_JUDGES where the codes under tiles are of the image with its tiles filled, else
        ``level`` itself; none for an image without exact tiles."""
        if self._tiles is None:
            return ()
        return tuple(min(judge, self.model.num_qualities - 1) for judge in TILE_JUDGES) if self._tiles[2] else (level,)

    def _best_with_tiles(self, quality: int, level: int, plain: tuple, visible: np.ndarray | None,
                         last: bool = False) -> tuple:
        """``plain``, the code file (codes at ``level``), or the file of codes and exact tiles
        (:meth:`_tiles_file`) if they score better (:meth:`_tiles_win`) at ``quality``'s weight on
        the codes of each of :meth:`_judges`. ``last``: as :meth:`code`'s."""
        judges = self._judges(level)
        if not judges:
            return plain
        if not all(self._tiles_win(quality, self._tile_scores(judge, visible), visible) for judge in judges if judge != level):
            return plain
        if plain[3] is None:
            plain = (*plain[:3], self._decoded(level, *plain[1:3]))
        data, indices, fix, rgb = under = self._under_tiles(level, plain, visible, last)
        if level in judges:
            scores = self._scores[level] = self._scores_of(plain, under, visible)
            if not self._tiles_win(quality, scores, visible):
                return plain
        mixed, tiled = self._mixed(quality, data)
        np.copyto(rgb, tiled, where=self._tiles[1][..., None])  # plain's image, when it is rgb, is not wanted again
        return mixed, indices, fix, rgb

    @cached_property
    def _smooth_candidates(self) -> np.ndarray:
        """The tiles smooth enough to try filtering (smooth.candidates), found once."""
        return smooth.candidates(self.px.rgb)

    def _smoothed(self, quality: int, level: int, coded: tuple, visible: np.ndarray | None) -> tuple:
        """``coded``, a file of codes at ``level`` (and exact tiles), or the same with a smoothing map
        (:mod:`smooth`) if that scores better (squared error where ``visible`` plus bits at
        ``quality``'s rate weight). An image with few smooth tiles is not decoded for it."""
        data, indices, fix, rgb = coded
        if not smooth.allowed(self.px.rgb.shape[1], self.px.rgb.shape[0]):
            return coded
        container = bitstream.unpack(data)
        exact_grid = self._tiles[0] if container.header.exact_tiles else None
        tiles = self._smooth_candidates if exact_grid is None else self._smooth_candidates & ~exact_grid
        if not tiles.any() or (rgb is None and tiles.mean() < smooth.SHARE):
            return coded
        if rgb is None:
            rgb = self._decoded(level, indices, fix)
        per_bit = self._per_bit(quality)
        error = smooth.errors(rgb, self.px.rgb, tiles, visible)
        strengths = smooth.choose(error, per_bit, exact_grid)
        if not strengths.any():
            return data, indices, fix, rgb
        payload = smooth.encode(strengths, exact_grid)
        header = replace(container.header, smoothed=True,
                         payload_size=bitstream.payload_size(container.payload, container.tiles, payload))
        smoothed = smooth.apply(rgb, strengths)  # blended: its error is not quite the tiles' own
        saved = squared_error(rgb, self.px.rgb, visible) - squared_error(smoothed, self.px.rgb, visible)
        if saved <= 8 * per_bit * (header.payload_size - container.header.payload_size):
            return data, indices, fix, rgb
        return (bitstream.pack(header, container.payload, container.alpha, container.tiles, payload), indices, fix,
                smoothed)

    def _with_residual(self, level: int, step: int, coded: tuple) -> tuple:
        """``coded``, a file of codes at ``level`` (and any exact tiles and smoothing map), with a
        residual (:mod:`residual`) at ``step`` eighths of a level over what it decodes to: the error
        where seen (alpha above 0), outside exact tiles. Unchanged if every level quantizes to 0."""
        data, indices, fix, rgb = coded
        if rgb is None:
            rgb = self._decoded(level, indices, fix)
        container = bitstream.unpack(data)
        height, width = rgb.shape[:2]
        planes = residual.planes_for(self.px.mode)
        blocks = residual.coded_blocks(width, height, self._tiles[0] if container.header.exact_tiles else None)
        levels = residual.quantize(self.px.rgb[..., :planes], residual.base_of(rgb, planes), step, self._hidden, blocks)
        if not levels.any():
            return data, indices, fix, rgb
        payload = residual.encode(levels, step, blocks)
        header = replace(container.header, residual=True, payload_size=bitstream.payload_size(
            container.payload, container.tiles, container.smoothing, payload))
        return (bitstream.pack(header, container.payload, container.alpha, container.tiles, container.smoothing,
                               payload), indices, fix, residual.apply(rgb, levels, step))

    def _palette_file(self, quality: int) -> tuple[bytes, np.ndarray] | None:
        """The lossless palette file of the image (:mod:`palette`) and the pixels it holds, if the
        image has few enough colours. Pixels under alpha 0 are coded black: never seen, and
        the fill the codes get there would add colours."""
        height, width = self.px.rgb.shape[:2]
        if self._palette is None:
            found = palette.palette_of(self.px.rgb, self._hidden) if palette.codable(width, height) else None
            self._palette = (b"", self.px.rgb) if found is None else (palette.encode(*found), found[0][found[1]])
        payload, rgb = self._palette
        if not payload:
            return None
        header = bitstream.Header(self.px.mode, quality, bitstream.NO_MODEL, width, height, len(payload),
                                  len(self.alpha), palette=True)
        return bitstream.pack(header, payload, self.alpha), rgb

    def _pack(self, latents: np.ndarray, quality: int, lam: float | None = None) -> tuple[bytes, np.ndarray, Correction]:
        """The file of ``latents`` (D, h, w) at ``quality``, its code indices (M, h, w) and colour
        correction; ``lam`` in place of the level's own rate weight (what re-fitting lambdas tries)."""
        m = self.model
        lam = m.lambdas[quality] if lam is None else lam
        sub = per_codebook(latents, m.cfg.sub_dim)
        indices = index_maps(*sub.shape[:3], m.prior.size)
        height, width = self.px.rgb.shape[:2]
        chosen = correction.NONE  # a model without the linear path has no estimate: no correction

        def fix() -> Correction:  # called once every code is chosen
            nonlocal chosen
            if m.block_means is not None:
                chosen = correction.choose(indices, m.decoded_codes(quality), latents, m.block_means, width, height,
                                           bit_weight(lam))
            return chosen

        payload = m.coder.encode_steps(coded_steps(sub, m.codebooks, m.prior, quality, lam, indices),
                                       quality, fix)
        header = bitstream.Header(self.px.mode, quality, m.fingerprint, width, height, len(payload), len(self.alpha))
        return bitstream.pack(header, payload, self.alpha), indices, chosen

    def report(self, quality: int, last: bool = False) -> CompressResult:
        """The file at ``quality`` with the image decompress will make of it. ``last``: no other
        level will be coded, so the encoder's latents go before decoding (311 MB at 51.9 MP)."""
        px = self.px
        data, indices = self.code(quality, last)
        if last:
            vars(self).pop("latents", None)
            vars(self).pop("_tiles", None)
        height, width = px.rgb.shape[:2]
        fix, rgb = self._coded[quality][2:]
        if rgb is None:  # codes alone, at the level the header names
            rgb = self._decoded(bitstream.parse_header(data).quality, indices, fix)
        recon = from_rgb(rgb, px.mode, px.alpha)
        if indices is None:  # a palette file: exact wherever alpha is above 0
            quality_db = float("inf")
        elif px.mode in ("L", "LA"):  # with alpha: the error of what is seen, pixels weighted by alpha
            quality_db = psnr(np.asarray(recon.getchannel("L")), np.asarray(from_rgb(px.rgb, "L", None)), px.alpha)
        else:
            quality_db = psnr(rgb, px.rgb, px.alpha)
        return CompressResult(data, recon, 8 * len(data) / (width * height), quality_db, quality, indices is None)


def _level(quality: int | None, model: CodecModel) -> int:
    """``quality``, or the default, checked against the model's levels before any work."""
    quality = default_quality(model) if quality is None else quality
    if not 0 <= quality < model.num_qualities:
        raise VqcError(f"quality must be between 0 and {model.num_qualities - 1}, not {quality}")
    return quality


def _encode(px: Pixels, quality: int | None, model: CodecModel, alpha_quality: int = 100,
            effort: int = 0) -> tuple[bytes, np.ndarray]:
    """The .vqc bytes of ``px`` and the code indices (M, h, w) they hold."""
    quality = _level(quality, model)
    return _Encoding(px, model, alpha_quality, effort).code(quality, last=True)


def compress_report(image: ImageInput, quality: int | None = None, model: CodecModel | None = None,
                    device: str | None = None, max_pixels: int | None = None,
                    alpha_quality: int = 100, effort: int = 0) -> CompressResult:
    """Compress ``image`` and report the bits per pixel and PSNR of the result."""
    model = _resolve(model, device)
    quality = _level(quality, model)
    return _Encoding(to_pixels(image, max_pixels), model, alpha_quality, effort).report(quality, last=True)


def compress(image: ImageInput, quality: int | None = None, model: CodecModel | None = None,
             device: str | None = None, max_pixels: int | None = None, alpha_quality: int = 100,
             effort: int = 0) -> bytes:
    """Compress an image (path, PIL image, uint8/uint16 array, or encoded image bytes) to ``.vqc`` bytes.

    ``quality`` runs from 0 (smallest file) to 100 (best image); images over
    ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`) are refused. An alpha
    channel is exact at ``alpha_quality`` 100 (the default), reduced to fewer
    levels below it. ``effort`` 1 .. :data:`MAX_EFFORT` spends that many decoder
    passes per file to fit the codes to the image (:mod:`refine`): smaller files
    for the same quality, each step about 2.5 times the time of an encoding at effort 0."""
    return _encode(to_pixels(image, max_pixels), quality, _resolve(model, device), alpha_quality, effort)[0]


def _boundary(low: int, high: int, passes: Callable[[int], bool]) -> int:
    """The level where ``passes`` turns from False (at ``low``) to True (at ``high``):
    bisection keeps that invariant, so the answer passes and its neighbour below does
    not, even where size or PSNR are not perfectly monotone in quality."""
    while high - low > 1:
        mid = (low + high) // 2
        if passes(mid):
            high = mid
        else:
            low = mid
    return high


def compress_to_size(image: ImageInput, max_bytes: int, model: CodecModel | None = None,
                     device: str | None = None, max_pixels: int | None = None,
                     alpha_quality: int = 100, effort: int = 0) -> CompressResult:
    """The best quality whose whole file is at most ``max_bytes`` (like cwebp ``-size``):
    the file is never larger; :class:`TargetError` if even quality 0 is."""
    model = _resolve(model, device)
    enc = _Encoding(to_pixels(image, max_pixels), model, alpha_quality, effort)
    sizes: dict[int, int] = {}

    def too_big(q: int) -> bool:
        sizes[q] = len(enc.code(q)[0])
        return sizes[q] > max_bytes

    top = model.num_qualities - 1
    if too_big(0):
        raise TargetError(f"cannot fit in {max_bytes} bytes: the smallest file (quality 0) takes {sizes[0]} bytes")
    if not too_big(top):
        return enc.report(top, last=True)
    return enc.report(_boundary(0, top, too_big) - 1, last=True)


def compress_to_psnr(image: ImageInput, min_psnr: float, model: CodecModel | None = None,
                     device: str | None = None, max_pixels: int | None = None,
                     alpha_quality: int = 100, effort: int = 0) -> CompressResult:
    """The smallest quality whose decoded image reaches ``min_psnr`` dB (like cwebp ``-psnr``):
    the PSNR is never lower; :class:`TargetError` if even the best quality falls short."""
    model = _resolve(model, device)
    enc = _Encoding(to_pixels(image, max_pixels), model, alpha_quality, effort)
    reports: dict[int, CompressResult] = {}

    def reaches(q: int) -> bool:
        reports[q] = enc.report(q)
        return reports[q].psnr >= min_psnr

    top = model.num_qualities - 1
    if not reaches(top):
        raise TargetError(f"cannot reach {min_psnr:g} dB: the best quality (100) gives {reports[top].psnr:.2f} dB")
    if reaches(0):
        return reports[0]
    return reports[_boundary(0, top, reaches)]


def decompress(data: bytes | os.PathLike | str, model: CodecModel | None = None, device: str | None = None,
               max_pixels: int | None = None, model_path: Iterable[str | os.PathLike] = ()) -> Image.Image:
    """Decode ``.vqc`` bytes (or a path to a ``.vqc`` file) to a PIL image.

    The file names the model that made it; unless that is ``model``, it is looked up by
    fingerprint (:func:`model_for`, ``model_path`` searched first). Files claiming more than
    ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`) are refused; the file is read only as far
    as its header says it reaches."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = bitstream.read_file(data)
    data = bytes(data)
    try:
        container = bitstream.unpack(data, bitstream.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
    except UnsupportedVersionError as exc:
        raise UnsupportedVersionError(models.explain(exc), exc.fingerprint) from None
    hdr = container.header
    check_pixels(hdr.width, hdr.height, max_pixels)
    if not hdr.palette and (model is None or model.fingerprint != hdr.fingerprint):
        model = model_for(hdr.fingerprint, model_path, device)
    # the alpha plane first: a broken one is found in milliseconds, not after the whole image
    alpha = decompress_alpha(container.alpha, hdr.width, hdr.height) if hdr.has_alpha else None
    if hdr.palette:  # the pixels themselves: no model
        rgb = palette.decode(container.payload, hdr.width, hdr.height)
    elif hdr.sections:  # the codes' image, the exact tiles over it, the smoothed tiles filtered, the residual added
        rgb = _synthesise(container, model)
        exact_grid = None
        if hdr.exact_tiles:
            mask, pixels = exact.decode(container.tiles, hdr.width, hdr.height)
            rgb = np.where(mask[..., None], pixels, rgb)
            exact_grid = mask[::exact.TILE, ::exact.TILE]
        if hdr.smoothed:
            rgb = smooth.apply(rgb, smooth.decode(container.smoothing, hdr.width, hdr.height, exact_grid))
        if hdr.residual:
            coded = residual.coded_blocks(hdr.width, hdr.height, exact_grid)
            rgb = residual.apply(rgb, *residual.decode(container.residual, residual.planes_for(hdr.mode), hdr.width,
                                                       hdr.height, coded))
    else:
        rgb = _synthesise(container, model)
    return from_rgb(rgb, hdr.mode, alpha)


def _synthesise(container: bitstream.Container, model: CodecModel) -> np.ndarray:
    """The (H, W, 3) uint8 pixels of a file of codes (within the pixel limit), decoded by the model that made it."""
    hdr = container.header
    if hdr.fingerprint != model.fingerprint:
        raise ModelMismatchError(
            f"file was made by model {hdr.fingerprint.hex()}, but the loaded model is {model.fingerprint.hex()}")
    if hdr.quality >= model.num_qualities:
        raise CorruptError(f"quality {hdr.quality} exceeds the model's levels (0 .. {model.num_qualities - 1})")
    h, w = _latent_shape(hdr.width, hdr.height, model.cfg.downsample)
    model.transforms.warm_decoder()
    indices, fix = model.coder.decode(container.payload, h, w, hdr.quality)
    return tiling.synthesise(model.transforms, model.cfg, model.decoded_codes(hdr.quality), indices, hdr.width,
                             hdr.height, table_set=model.table_set(hdr.quality), correction=fix)
