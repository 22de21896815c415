"""Training: block-PCA start, autoencoder warm-up, k-means codebook init, then VQ training.

Sample efficiency decides what a CPU can train, so a run has three phases:
``ae_steps`` as a plain autoencoder (no bottleneck, fast to learn transforms),
then every codebook initialised by k-means on the sub-vectors it will code,
then quantized training where each image's codes are chosen with its own
random rate weight ``lam`` (entropy-constrained VQ), so every quality level is
trained at once.

Checkpoints are written atomically every few minutes; ``resume`` continues a
run exactly (model, optimizer, step, random state), and ``init`` starts a new
run from an exported model with a fresh optimizer.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import distributed
from .centroids import CodeMeans
from .data import IMAGE_SUFFIXES, CropSampler, list_images, load_rgb, split_holdout
from .densify import densify
from ..errors import TrainingDataError
from .model import VQVAE, ModelConfig
from ..prior import NUM_CLASSES, NUM_CONTEXTS, Prior
from .prior_design import ContextCounter, adaptive_codebooks, codebook_guides, usual_codes
from ..rate import choose_codes, per_codebook, quality_lambdas
from ..runtime import TorchTransforms
from ..tiling import analyse
from ..weights import load_model, load_network, save_model
from .widen import widen

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    """Everything that shapes a run; saved in its checkpoint."""

    steps: int = 20000
    ae_steps: int = 1500
    batch_size: int = 16
    crop: int = 128
    synthetic: float = 0.0  # share of crops drawn as text or gradients instead of photo crops
    lr: float = 3e-4
    warmup: int = 200
    beta: float = 0.25
    lam_min: float = 3e-5  # range of the per-image rate weight of the code choice (log-uniform)
    lam_max: float = 0.3
    nearest_share: float = 0.2  # share of images coded with lam = 0 (nearest codes, the finest level)
    quality_lam_high: float | None = None  # rate weight of quality 0 in the export (default: lam_max)
    quality_lam_low: float | None = None  # rate weight of quality 100 in the export (default: lam_min)
    seed: int = 0
    holdout: int = 8
    checkpoint_minutes: float = 5.0
    val_every: int = 500
    kmeans_batches: int = 8
    pca_batches: int = 32  # crops whose 8x8 blocks initialise the block transform
    grad_clip: float = 1.0  # max global gradient norm (guards the inverse GDN's products)
    device: str = "cpu"
    model: ModelConfig = field(default_factory=ModelConfig)


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def _entropy_bits(p: torch.Tensor) -> float:
    p = p / p.sum()
    p = p[p > 0]
    return float(-(p * p.log2()).sum())


def codebook_stats(net: VQVAE) -> dict:
    """Share of codes in use (above a tenth of uniform use) and bits per code, per codebook."""
    q = net.quantizer
    return {"use": [float((u > 0.1 / q.size).float().mean()) for u in q.usage],
            "bits": [_entropy_bits(u) for u in q.usage]}


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss(a.clamp(0, 1), b).item()
    return 10 * math.log10(1 / max(mse, 1e-10))


def _atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load_split(data_dir: str | os.PathLike, holdout: int, log: Callable[[str], None]):
    paths = list_images(data_dir)
    if not paths:
        raise TrainingDataError(f"{data_dir}: no images to train on ({', '.join(sorted(IMAGE_SUFFIXES))})")
    train_paths, val_paths = split_holdout(paths, holdout)
    log(f"loading {len(train_paths)} training and {len(val_paths)} validation photos from {data_dir}")
    train_imgs = [load_rgb(p) for p in tqdm(train_paths, desc="decode", leave=False)]
    val_imgs = [load_rgb(p) for p in val_paths]
    return train_imgs, val_imgs


def _val_batch(images: list[np.ndarray], size: int = 256) -> torch.Tensor:
    crops = []
    for im in images:
        h, w = im.shape[:2]
        s = min(size, h, w) // 8 * 8
        y, x = (h - s) // 2, (w - s) // 2
        crops.append(torch.from_numpy(np.ascontiguousarray(im[y : y + s, x : x + s])))
    s = min(c.shape[0] for c in crops)
    return torch.stack([c[:s, :s] for c in crops]).permute(0, 3, 1, 2).float() / 255


#: Rate weights at which validation reports PSNR and estimated bpp.
VAL_LAMBDAS = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)


@torch.no_grad()
def validate(net: VQVAE, batch: torch.Tensor, device: torch.device) -> dict:
    """PSNR and estimated bpp (usage bits, no context) on held-aside photos at a few rate weights."""
    net.eval()
    x = batch.to(device)
    out = {}
    for lam in VAL_LAMBDAS:
        y, q = net(x, lam)
        bpp = q.bits.sum().item() / (x.shape[0] * x.shape[2] * x.shape[3])
        out[f"lam{lam:g}"] = {"psnr": round(_psnr(y, x), 3), "bpp_est": round(bpp, 4)}
    net.train()
    return out


class Trainer:
    """One training run living in ``run_dir``."""

    def __init__(self, data_dir: str | os.PathLike, run_dir: str | os.PathLike, cfg: TrainConfig,
                 log: Callable[[str], None] = print) -> None:
        self.data_dir = Path(data_dir)
        self.run_dir = Path(run_dir)
        self.cfg = cfg
        self.group = distributed.join(cfg.device)  # alone, unless started by torchrun
        self.log = log if self.group.main else (lambda message: None)
        self.device = distributed.device_for(cfg.device, self.group)
        torch.manual_seed(cfg.seed)
        self.net = VQVAE(cfg.model).to(self.device)
        self.model: torch.nn.Module = self.net  # what the training steps call: DDP's wrapper under torchrun
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.step = 0
        self.seconds = 0.0
        self.initialised_codebooks = False
        self.history: list[dict] = []
        train_imgs, val_imgs = _load_split(data_dir, cfg.holdout, self.log)
        self.train_images = train_imgs
        rank, world = self.group.rank, self.group.world
        if world > 1:  # each process its own share of the photos and its own random draws
            torch.manual_seed(cfg.seed + 1000 * rank)
        self.sampler = CropSampler(train_imgs[rank::world], cfg.crop, cfg.seed + rank, cfg.synthetic)
        self.val = _val_batch(val_imgs) if val_imgs and self.group.main else None
        if self.group.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)  # only once the data is known to be usable

    # -- state ---------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def save_checkpoint(self) -> None:
        """Rank 0 writes the run's state, with every process's random state (a collective
        call under torchrun: every rank makes it)."""
        states = distributed.gather((self.sampler.state(), torch.get_rng_state()))
        if not self.group.main:
            return
        ranks = {} if len(states) == 1 else {"rank_samplers": json.dumps([s for s, _ in states]),
                                              "rank_rngs": torch.stack([r for _, r in states])}
        _atomic_save({
            **ranks,
            "model": self.net.state_dict(),
            "usage": self.net.quantizer.usage,  # the code-cost estimate, not part of the weights
            "opt": self.opt.state_dict(),
            "step": self.step,
            "seconds": self.seconds,
            "initialised_codebooks": self.initialised_codebooks,
            "sampler": json.dumps(self.sampler.state()),
            "torch_rng": torch.get_rng_state(),
            "history": json.dumps(self.history),
            "train_config": json.dumps(asdict(self.cfg)),
        }, self.checkpoint_path())

    def resume(self) -> None:
        ck = torch.load(self.checkpoint_path(), map_location=self.device, weights_only=True)
        saved = ModelConfig.from_dict(json.loads(ck["train_config"])["model"])
        if saved != self.cfg.model:
            raise ValueError(f"{self.checkpoint_path()} holds a model {saved}, not {self.cfg.model}")
        self.net.load_state_dict(ck["model"])
        if "usage" in ck:
            self.net.quantizer.usage.copy_(ck["usage"])
        self.opt.load_state_dict(ck["opt"])
        self.step = int(ck["step"])
        self.seconds = float(ck["seconds"])
        self.initialised_codebooks = bool(ck["initialised_codebooks"])
        saved_world = len(json.loads(ck["rank_samplers"])) if "rank_samplers" in ck else 1
        if saved_world != self.group.world:
            raise ValueError(f"{self.checkpoint_path()} was written by {saved_world} training processes; "
                             f"resume it with as many, not {self.group.world}")
        if saved_world == 1:
            self.sampler.set_state(json.loads(ck["sampler"]))
            torch.set_rng_state(ck["torch_rng"])
        else:
            self.sampler.set_state(json.loads(ck["rank_samplers"])[self.group.rank])
            torch.set_rng_state(ck["rank_rngs"][self.group.rank].clone())  # a view would be read from its storage start
        self.history = json.loads(ck["history"])
        self.log(f"resumed {self.checkpoint_path()} at step {self.step}")

    def init_from(self, model_dir: str | os.PathLike) -> None:
        """Start from an exported model (weights only; fresh optimizer, step 0 of
        the VQ phase, so the autoencoder warm-up and k-means are skipped)."""
        loaded = load_model(model_dir, str(self.device), backend="torch")
        if loaded.net.cfg != self.cfg.model:
            raise ValueError(f"{model_dir} has config {loaded.net.cfg}, run wants {self.cfg.model}")
        self.net.load_state_dict(loaded.net.state_dict())
        self.initialised_codebooks = True
        self.step = self.cfg.ae_steps
        self.log(f"initialised from {model_dir}; fresh optimizer from step {self.step}")

    def init_block_transform(self) -> None:
        """A fresh run with a block transform starts as the PCA of training blocks."""
        crops = torch.cat([self.sampler.batch(self.cfg.batch_size) for _ in range(self.cfg.pca_batches)])
        self.net.init_block_transform(crops.to(self.device))
        self.log(f"block transform initialised by PCA of {crops.shape[0] * crops[0, 0].numel() // 64} blocks")

    # -- training ------------------------------------------------------------
    def _init_codebooks(self) -> None:
        self.net.eval()
        with torch.no_grad():
            z = torch.cat([self.net.encoder(self.sampler.batch(self.cfg.batch_size).to(self.device))
                           for _ in range(self.cfg.kmeans_batches)])
        self.net.quantizer.init_from_latents(z, seed=self.cfg.seed)
        distributed.share(self.net.quantizer)  # rank 0's codebooks on every rank
        self.net.train()
        self.initialised_codebooks = True
        self.log(f"step {self.step}: codebooks initialised by k-means on {z.shape[0] * z.shape[2] * z.shape[3]} latents")

    def _lambdas(self, b: int) -> torch.Tensor:
        """A rate weight per image: log-uniform over the quality range, some at 0 (nearest codes)."""
        cfg = self.cfg
        u = torch.rand(b, device=self.device)
        lam = cfg.lam_min * (cfg.lam_max / cfg.lam_min) ** u
        return torch.where(torch.rand(b, device=self.device) < cfg.nearest_share, torch.zeros_like(lam), lam)

    def train_step(self) -> dict:
        cfg = self.cfg
        x = self.sampler.batch(cfg.batch_size).to(self.device)
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr * _lr_factor(self.step, cfg)
        if self.step < cfg.ae_steps:
            y, _ = self.model(x, quantize=False)
            loss = F.mse_loss(y, x)
        else:
            y, q = self.model(x, self._lambdas(x.shape[0]))
            loss = F.mse_loss(y, x) + q.codebook_loss + cfg.beta * q.commitment_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
        self.opt.step()
        self.step += 1
        return {"loss": loss.item(), "psnr": _psnr(y.detach(), x)}

    def run(self, until: int | None = None) -> None:
        """Train to ``cfg.steps`` (or stop early at step ``until``), then checkpoint."""
        cfg = self.cfg
        stop = cfg.steps if until is None else min(until, cfg.steps)
        last_ckpt = time.monotonic()
        if self.group.active and self.model is self.net:
            distributed.share(self.net)  # one starting point (block PCA, resume or --init) on every rank
            from torch.nn.parallel import DistributedDataParallel

            # the usage buffer is summed over ranks by the quantizer itself; the codebooks sit
            # unused in the autoencoder warm-up
            with warnings.catch_warnings():  # broadcast_buffers=False is still the way to keep buffers local
                warnings.simplefilter("ignore", FutureWarning)
                self.model = DistributedDataParallel(
                    self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                    broadcast_buffers=False, find_unused_parameters=True)
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True,
                   disable=not self.group.main)
        while self.step < stop:
            if self.step >= cfg.ae_steps and not self.initialised_codebooks:
                self._init_codebooks()
            t0 = time.monotonic()
            m = self.train_step()
            self.seconds += time.monotonic() - t0
            stats = codebook_stats(self.net)
            quant = self.step > cfg.ae_steps
            bar.update(1)
            bar.set_postfix(loss=f"{m['loss']:.4f}", psnr=f"{m['psnr']:.2f}",
                            bits=f"{sum(stats['bits']):.1f}" if quant else "-",
                            use=f"{np.mean(stats['use']):.0%}" if quant else "-")
            if self.val is not None and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                v = validate(self.net, self.val, self.device) if quant else {}
                rec = {"step": self.step, "minutes": round(self.seconds / 60, 1), "val": v,
                       "use": round(float(np.mean(stats["use"])), 3)}
                self.history.append(rec)
                self.log(json.dumps(rec))
            if distributed.agree(time.monotonic() - last_ckpt > 60 * cfg.checkpoint_minutes):
                self.save_checkpoint()
                last_ckpt = time.monotonic()
        bar.close()
        self.save_checkpoint()

    # -- export --------------------------------------------------------------
    def measure_prior(self) -> tuple[Prior, list[float], np.ndarray]:
        """Sort the codebooks, then count the prior on photos spread over the training set."""
        sort_codebooks(self.net)
        self.net.eval()
        photos = export_photos(self.train_images)
        cfg = self.cfg
        measured = measure_prior(self.net, photos, self.device, cfg.quality_lam_high or cfg.lam_max,
                                 cfg.quality_lam_low or cfg.lam_min)
        self.net.train()
        return measured

    def export(self, out_dir: str | os.PathLike) -> bytes:
        prior, lambdas, reconstruction = self.measure_prior()
        info = {"training": {"steps": self.step, "cpu_minutes": round(self.seconds / 60, 1),
                             "data": self.data_dir.name, "config": asdict(self.cfg),
                             "last_validation": self.history[-1] if self.history else None}}
        fp = save_model(out_dir, self.net.cpu(), prior, lambdas, reconstruction, extra=info)
        self.net.to(self.device)
        self.log(f"exported model {fp.hex()} to {out_dir}")
        return fp


#: Quality levels of an exported model (0 .. 100) and the table sets its prior is counted in.
QUALITY_LEVELS = 101
TABLE_SETS = 11
#: Photos (spread over the training set) on which an export counts the prior, and the fewer
#: (spread over those) on which it designs the tables and chooses the adaptive codebooks. The
#: tables are data-limited: a round counted on 139 photos instead of 70 gave -0.45% on Kodak,
#: then one on 209 a further -0.21%, one on all 417 -0.44% (docs/training.md): an export counts on
#: every training photo of a set up to this size.
PRIOR_PHOTOS = 1000
DESIGN_PHOTOS = 20
#: Rounds of counting the tables and then choosing which codebooks adapt: from the second on,
#: the tables are counted on codes chosen under the adaptation the round before chose (the
#: shipped network, Kodak: a second round -0.35%, a third -0.38% more, a fourth to sixth -0.49% in
#: all; docs/training.md). ``--recount-prior`` adds rounds to an exported model.
ADAPTATION_ROUNDS = 3


def export_photos(images: list[np.ndarray], count: int = PRIOR_PHOTOS) -> list[np.ndarray]:
    """About ``count`` (at least) of the training photos, spread over the set: what an export counts on."""
    return images[:: max(1, len(images) // count)]


@torch.no_grad()
def sort_codebooks(net: VQVAE) -> None:
    """Order each 1-D codebook by value, so index order is value order (the coder's
    contexts measure distances between indices, and rate control searches windows)."""
    q = net.quantizer
    if q.sub_dim != 1:
        return
    order = q.codebooks.data[:, :, 0].argsort(dim=1)
    q.codebooks.data.copy_(q.codebooks.data.gather(1, order[:, :, None]))
    q.usage.copy_(q.usage.gather(1, order))


def _count(prior: Prior, quality: int, photos: list[np.ndarray], codebooks: np.ndarray, lam: float,
           means: tuple[CodeMeans, int] | None = None) -> ContextCounter:
    """The contexts and codes of ``photos`` (latents per codebook) as rate control codes them at
    ``quality`` under ``prior``; the codes' latents also go to ``means`` (values, table set)."""
    counter = ContextCounter(codebooks.shape[0], codebooks.shape[1])
    for z in photos:
        indices = choose_codes(z, codebooks, prior, quality, lam)
        counter.add(indices, prior.zero)
        if means is not None:
            means[0].add(means[1], z, indices)
    return counter


def _anchors(sets: int, levels: int) -> list[int]:
    """The quality level each table set is designed and counted at, spread over the levels."""
    return [int(np.rint(t * (levels - 1) / (sets - 1))) for t in range(sets)] if sets > 1 else [0]


def _count_rounds(prior: Prior, latents: list[np.ndarray], design: list[np.ndarray], codebooks: np.ndarray,
                  lambdas: np.ndarray, rounds: int) -> tuple[Prior, np.ndarray]:
    """``rounds`` rounds of counting every table set's tables (and the codes' reconstruction values)
    on ``latents`` coded under ``prior`` with its adaptation, then choosing the adaptive codebooks
    and their guides anew on ``design``: files hold codes chosen under the adaptation, so each
    round counts what the last one's choice makes them choose."""
    tables, classes = prior.counts.astype(np.int64), prior.classes.astype(np.int64)
    adaptive, guides = prior.adaptive.astype(np.int64), prior.guides.copy()
    zero, table_of_quality = prior.zero, prior.table_of_quality
    sets, levels = tables.shape[0], len(lambdas)
    anchors = _anchors(sets, levels)
    means = CodeMeans(sets, codebooks)
    for _ in range(rounds):
        final = Prior(tables, classes, zero, table_of_quality, adaptive, guides)
        means = CodeMeans(sets, codebooks)
        for t in tqdm(range(sets), desc="prior count", leave=False):
            classes[t], tables[t] = _count(final, anchors[t], latents, codebooks, float(lambdas[anchors[t]]),
                                           (means, int(table_of_quality[anchors[t]]))).design()
        counted = Prior(tables, classes, zero, table_of_quality)
        for t in tqdm(range(sets), desc="adaptive codebooks", leave=False):
            codes = [choose_codes(z, codebooks, counted, anchors[t], float(lambdas[anchors[t]])) for z in design]
            adaptive[t] = adaptive_codebooks(counted, anchors[t], codes)
            guides[t] = codebook_guides(Prior(tables, classes, zero, table_of_quality, adaptive), anchors[t], codes)
    return Prior(tables, classes, zero, table_of_quality, adaptive, guides), means.values()


def _photo_latents(net: VQVAE, images: list[np.ndarray], device: torch.device | str,
                   design_photos: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Each photo's latents per codebook, the ``design_photos`` of them spread over the list, and
    the codebooks (float64)."""
    codebooks = net.quantizer.codebooks.detach().cpu().double().numpy()
    transforms = TorchTransforms(net, str(device))
    latents = [per_codebook(analyse(transforms, net.cfg, im), codebooks.shape[2])
               for im in tqdm(images, desc="latents", leave=False)]
    return latents, latents[:: max(1, len(latents) // design_photos)], codebooks


@torch.no_grad()
def measure_prior(net: VQVAE, images: list[np.ndarray], device: torch.device | str = "cpu",
                  lam_high: float = 0.3, lam_low: float = 3e-5, levels: int = QUALITY_LEVELS,
                  sets: int = TABLE_SETS, passes: int = 4,
                  design_photos: int = DESIGN_PHOTOS) -> tuple[Prior, list[float], np.ndarray]:
    """The prior, the rate-control lambdas of ``levels`` quality levels and the codes'
    reconstruction values per table set (:mod:`centroids`), measured on whole photos (uint8
    HxWx3) coded as the encoder codes them.

    Level ``q`` uses table set ``round(q * (sets - 1) / (levels - 1))``; each set is
    designed at its own level by alternating code choice and counting
    (entropy-constrained VQ design), ``passes`` times on ``design_photos`` photos,
    from the nearest codes' statistics for the finest set and from the next finer
    set's tables for the others; then ADAPTATION_ROUNDS rounds of counting on every photo
    and choosing the adaptive codebooks (:func:`_count_rounds`)."""
    lambdas = quality_lambdas(lam_high, lam_low, levels)
    table_of_quality = np.rint(np.arange(levels) * (sets - 1) / (levels - 1)).astype(np.int64)
    anchors = _anchors(sets, levels)
    latents, design, codebooks = _photo_latents(net, images, device, design_photos)
    m_count, size = codebooks.shape[:2]
    zero = usual_codes(design, codebooks)
    classes = np.zeros((sets, m_count, NUM_CONTEXTS), np.int64)
    tables = np.ones((sets, m_count, NUM_CLASSES, size), np.int64)
    start = _count(Prior.uniform(m_count, size, levels, zero), 0, design, codebooks,  # uniform prior, lam 0: nearest codes
                   float(lambdas[0])).design()
    for t in tqdm(reversed(range(sets)), total=sets, desc="prior design", leave=False):
        classes[t], tables[t] = start
        for _ in range(passes):
            classes[t], tables[t] = _count(Prior(tables, classes, zero, table_of_quality), anchors[t], design, codebooks,
                                           float(lambdas[anchors[t]])).design()
        start = classes[t], tables[t]
    prior, values = _count_rounds(Prior(tables, classes, zero, table_of_quality), latents, design, codebooks, lambdas,
                                  ADAPTATION_ROUNDS)
    return prior, [float(v) for v in lambdas], values


def _prior_over(lambdas: list[float], net: VQVAE, train_imgs: list[np.ndarray],
                device: str) -> tuple[Prior, list[float], np.ndarray]:
    """A prior (with its lambdas and reconstruction values) for ``net`` over the quality range of ``lambdas``,
    measured on PRIOR_PHOTOS of the training photos."""
    return measure_prior(net, export_photos(train_imgs), device, lambdas[0], lambdas[-1], levels=len(lambdas))


def _reexport(model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike, device: str,
              log: Callable[[str], None],
              change: Callable[[VQVAE, list[np.ndarray]], tuple[VQVAE, str, tuple[str, dict] | None]]) -> bytes:
    """Load ``model_dir``'s network, ``change`` it (given the training photos: the changed network,
    what to log, and a (key, entry) for the model card's list under that key, timed here), measure its prior on
    ``data_dir`` and export it to ``out_dir``: the outline of every one-shot export."""
    net, lambdas, extra = load_network(model_dir, device)
    train_imgs, _ = _load_split(data_dir, TrainConfig().holdout, log)
    t0 = time.monotonic()
    sort_codebooks(net)
    net, what, record = change(net, train_imgs)
    sort_codebooks(net)
    prior, lambdas, reconstruction = _prior_over(lambdas, net, train_imgs, device)
    if record is not None:
        key, entry = record
        extra = {**extra, key: [*extra.get(key, []), {**entry, "cpu_minutes": round((time.monotonic() - t0) / 60, 1)}]}
    fp = save_model(out_dir, net.cpu(), prior, lambdas, reconstruction, extra=extra)
    log(f"exported model {fp.hex()} {what} to {out_dir}")
    return fp


def remeasure_prior(model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                    device: str = "cpu", log: Callable[[str], None] = print) -> bytes:
    """Export ``model_dir``'s network to ``out_dir`` with a prior measured anew on
    ``data_dir`` (the photos an export counts on, same quality range): what a change of
    the prior's design needs, with no training."""
    return _reexport(model_dir, data_dir, out_dir, device, log,
                     lambda net, _: (net, "with a prior measured anew", None))


@torch.no_grad()
def recount_prior(model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike, rounds: int,
                  device: str = "cpu", log: Callable[[str], None] = print, photos: int = PRIOR_PHOTOS) -> bytes:
    """Export ``model_dir`` with ``rounds`` more counting rounds of its own prior (:func:`_count_rounds`)
    on ``data_dir``'s export photos (about ``photos`` of them): the rounds an export would add after
    its own, without designing the tables again (each round about a fifth of a full measurement).
    The rounds depend on the encoder and codebooks only, so they carry over a decoder round."""
    if rounds < 1:
        raise ValueError("recounting needs at least one round")
    net, lambdas, extra = load_network(model_dir, device)
    prior = load_model(model_dir, backend="torch").prior
    train_imgs, _ = _load_split(data_dir, TrainConfig().holdout, log)
    t0 = time.monotonic()
    latents, design, codebooks = _photo_latents(net, export_photos(train_imgs, photos), device, DESIGN_PHOTOS)
    prior, values = _count_rounds(prior, latents, design, codebooks, np.asarray(lambdas), rounds)
    entry = {"rounds": rounds, "photos": len(latents), "cpu_minutes": round((time.monotonic() - t0) / 60, 1)}
    extra = {**extra, "recounted": [*extra.get("recounted", []), entry]}
    fp = save_model(out_dir, net.cpu(), prior, lambdas, values, extra=extra)
    log(f"exported model {fp.hex()} with its prior counted {rounds} more round(s) to {out_dir}")
    return fp


def widen_latent(model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                 latent_dim: int, device: str = "cpu", seed: int = 0, crops: int = 512, crop: int = 128,
                 log: Callable[[str], None] = print) -> bytes:
    """Export ``model_dir``'s network widened to ``latent_dim`` latent channels
    (:func:`widen.widen`, set up on ``crops`` training crops of side ``crop``) with its prior measured
    on ``data_dir``: the start of fine-tuning rounds that teach the network the new channels."""
    def change(net: VQVAE, train_imgs: list[np.ndarray]) -> tuple[VQVAE, str, tuple[str, dict]]:
        sampler = CropSampler(train_imgs, crop, seed)
        x = torch.cat([sampler.batch(32) for _ in range(-(-crops // 32))]).to(device)
        record = {"from": net.cfg.latent_dim, "to": latent_dim, "crops": x.shape[0], "seed": seed}
        return widen(net, latent_dim, x, seed), f"widened to {latent_dim} latent channels", ("widened", record)
    return _reexport(model_dir, data_dir, out_dir, device, log, change)


def densify_codebooks(model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      device: str = "cpu", log: Callable[[str], None] = print) -> bytes:
    """Export ``model_dir``'s network with codebooks of twice the resolution (:func:`densify.densify`)
    and its prior measured on ``data_dir``: the start of a codebook round that spreads the new codes."""
    def change(net: VQVAE, _: list[np.ndarray]) -> tuple[VQVAE, str, tuple[str, dict]]:
        dense = densify(net)
        record = {"from": net.cfg.codebook_size, "to": dense.cfg.codebook_size}
        return dense, f"with {dense.cfg.codebook_size} codes per codebook", ("densified", record)
    return _reexport(model_dir, data_dir, out_dir, device, log, change)


def train(data_dir: str | os.PathLike, run_dir: str | os.PathLike, cfg: TrainConfig, out_dir: str | os.PathLike,
          resume: bool = False, init: str | os.PathLike | None = None, export_only: bool = False,
          log: Callable[[str], None] = print) -> bytes:
    """Train (or continue) a run and export a complete, loadable model to ``out_dir``.

    ``export_only`` exports the run's last checkpoint without training or
    writing to the run (safe while the run itself is still going).
    """
    trainer = Trainer(data_dir, run_dir, cfg, log)
    if export_only:
        trainer.resume()
        return trainer.export(out_dir)
    if resume and trainer.checkpoint_path().exists():
        trainer.resume()
    elif init is not None:
        trainer.init_from(init)
    elif cfg.model.block_transform:
        trainer.init_block_transform()
    trainer.run()
    fingerprint = trainer.export(out_dir) if trainer.group.main else b""
    distributed.barrier()  # the other ranks wait for rank 0's export, then all leave together
    distributed.leave()
    return fingerprint
