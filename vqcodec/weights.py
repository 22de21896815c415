"""Loading and saving a model: transforms, codebooks and prior.

Training writes a **model directory**: ``model.safetensors`` (tensors, float16 for the
network, its codebooks and the codes' reconstruction values (:mod:`centroids`),
uint16 counts and uint8 context classes for the prior, float64 for the rate-control
lambda of each quality level; no pickle), ``config.json``, and the transforms as ONNX
graphs (``encoder.onnx``, ``decoder.onnx``, ``gradient.onnx``, see :mod:`runtime`).
Releases carry models as **packs** (:mod:`modelpack`), and the package's ``weights``
folder holds one per release with ``releases.json`` naming the current one. Both load
here. A model's fingerprint, a hash of its config, tensors and graphs, is written into
every ``.vqc`` file, so a file is decoded only by the model that made it (:mod:`models`
finds that model).

Loading needs neither torch nor the network's code: the coder reads the
tensors with numpy and runs the graphs with ONNX Runtime. ``backend="torch"``
builds the torch network instead (training, GPUs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from .config import ModelConfig
from .correction import block_means
from .entropy import EntropyCoder
from .errors import WeightsError
from .modelpack import FINGERPRINT_GRAPHS, PACK_SUFFIX, FilledRows, ModelPack, fingerprint
from .prior import LazySets, Prior, checked_classes, checked_set
from .models import DEFAULT_WEIGHTS, RELEASES_FILE, WEIGHTS_FILE
from .runtime import DECODER_FILE, ENCODER_FILE, GRADIENT_FILE, OnnxTransforms, TorchTransforms, Transforms, export_graphs

if TYPE_CHECKING:
    from .training.model import VQVAE

CONFIG_FILE = "config.json"
PRIOR_KEYS = ("prior.counts", "prior.classes", "prior.zero", "prior.table_of_quality")
LAMBDAS_KEY = "rate.lambdas"
CODEBOOKS_KEY = "quantizer.codebooks"
RECONSTRUCTION_KEY = "reconstruction.values"
#: Which codebooks of each table set adapt to the image (absent: none).
ADAPTIVE_KEY = "prior.adaptive"
#: Each adaptive codebook's guide, -1 for none (absent: none).
GUIDES_KEY = "prior.guides"
#: The decoder's linear path (the block transform), whose weights give the colour correction's estimate.
BLOCK_KEY = "decoder.block.weight"
#: Tensors of the coder and the decoder's lookup, not of the torch network.
_NOT_NETWORK = ("prior.", "rate.", "reconstruction.")


@dataclass(eq=False)
class CodecModel:
    """A model's transforms with its codebooks, prior and fingerprint, ready to code images."""

    cfg: ModelConfig
    transforms: Transforms
    codebooks: np.ndarray  # (M, K, d) float64, for the encoder's code choice
    prior: Prior
    lambdas: list[float]  # rate control's lambda of quality levels 0..Q-1, decreasing
    fingerprint: bytes  # 8 bytes
    device: str
    reconstruction: np.ndarray | None = None  # (T, M, K, d) float64 per table set, or the codebooks
    block_means: np.ndarray | None = None  # (3, D): a latent's pull on its block's mean colour (correction.block_means)

    def decoded_codes(self, quality: int) -> np.ndarray:
        """What each index decodes to at ``quality`` (M, K, d): the reconstruction values of its
        table set (:mod:`centroids`), or the codebooks for a model measured without them."""
        if self.reconstruction is None:
            return self.codebooks
        return self.reconstruction[self.table_set(quality)]

    def table_set(self, quality: int) -> int:
        """The prior's table set of ``quality``: it also chooses the values its codes decode to and,
        in a decoder modulated by the rate, the modulation."""
        return int(self.prior.table_of_quality[quality])

    @property
    def num_qualities(self) -> int:
        return len(self.lambdas)

    @property
    def backend(self) -> str:
        return self.transforms.name

    @property
    def net(self) -> "VQVAE":
        """The torch network (training, fine-tuning): only on the torch backend."""
        if not isinstance(self.transforms, TorchTransforms):
            raise WeightsError("this model was loaded for ONNX Runtime; load it with backend='torch' to train")
        return self.transforms.net

    @cached_property
    def coder(self) -> EntropyCoder:
        """The range coder under this model's prior (built once)."""
        return EntropyCoder(self.prior)


def _graphs(directory: Path) -> dict[str, bytes]:
    """The graphs a model directory's fingerprint covers."""
    return {name: (directory / name).read_bytes() for name in FINGERPRINT_GRAPHS if (directory / name).is_file()}


#: Counts at or above this are stored in ``prior.counts_over`` (uint16 holds the rest).
COUNT_ESCAPE = 0xFFFF


def _pack_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """The count tables as uint16, each count of COUNT_ESCAPE or more replaced by the escape and
    listed, in raster order, in int32 ``prior.counts_over``: lossless, and half the bytes (rows
    sum to 2^20, but only 0.5% of 512-code counts exceed 16 bits)."""
    counts = np.asarray(counts, np.int64)
    over = counts >= COUNT_ESCAPE
    return {"prior.counts": np.minimum(counts, COUNT_ESCAPE).astype(np.uint16),
            "prior.counts_over": counts[over].astype(np.int32)}


def _unpack_counts(tensors: dict[str, np.ndarray | FilledRows], where: Path) -> LazySets:
    """The count tables of :func:`_pack_counts`' tensors (int32 tables of older exports as they
    are), each table set converted and checked when first used."""
    counts, over = tensors["prior.counts"], tensors.get("prior.counts_over")
    if counts.ndim != 4 or counts.dtype not in (np.uint16, np.int32):
        raise WeightsError(f"bad prior in {where}: count tables of {counts.ndim} dimensions, {counts.dtype}")
    starts = np.zeros(counts.shape[0] + 1, np.int64)
    if over is not None:
        escapes = (counts.count_per_row(COUNT_ESCAPE) if isinstance(counts, FilledRows)
                   else (counts == COUNT_ESCAPE).reshape(counts.shape[0], -1).sum(axis=1))
        np.cumsum(escapes, out=starts[1:])
        if over.ndim != 1 or over.size != starts[-1] or (over.size and over.min() < COUNT_ESCAPE):
            raise WeightsError(f"bad prior in {where}: escaped counts do not match their list")

    def load(t: int) -> np.ndarray:
        table = counts[t].astype(np.int32)  # uint16 and int32 tables fit int32
        if over is not None:
            table[table == COUNT_ESCAPE] = over[starts[t]:starts[t + 1]]
        try:
            return checked_set(table, counts.shape[1:])
        except ValueError as exc:
            raise WeightsError(f"bad prior in {where}: {exc}") from exc

    return LazySets(counts.shape, load)


def _lazy_classes(classes: np.ndarray | FilledRows, rows: int, where: Path) -> LazySets:
    """The classes of each table set, read and checked (each naming one of ``rows`` rows) when
    the set is first used."""
    if classes.ndim != 3:
        raise WeightsError(f"bad prior in {where}: classes of {classes.ndim} dimensions")

    def load(t: int) -> np.ndarray:
        try:
            return checked_classes(np.asarray(classes[t]), classes.shape[1:], rows)
        except ValueError as exc:
            raise WeightsError(f"bad prior in {where}: {exc}") from exc

    return LazySets(classes.shape, load)


def save_model(directory: str | os.PathLike, net: "VQVAE", prior: Prior, lambdas: list[float],
               reconstruction: np.ndarray | None = None, extra: dict | None = None) -> bytes:
    """Write a loadable model directory (tensors, config, ONNX graphs; ``reconstruction`` (T, M, K, d)
    the codes' values per table set, if measured); returns its fingerprint. Needs torch and onnx
    (the training extra)."""
    from safetensors.numpy import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().float().numpy().astype(np.float16) for k, v in net.state_dict().items()}
    for key, table in zip(PRIOR_KEYS, (prior.counts, prior.classes, prior.zero, prior.table_of_quality), strict=True):
        tensors[key] = np.ascontiguousarray(table, dtype=np.uint8 if key == "prior.classes" else np.int32)
    tensors.update(_pack_counts(prior.counts))
    if prior.adaptive.any():  # models without adaptive codebooks keep their tensors (and fingerprints)
        tensors[ADAPTIVE_KEY] = np.ascontiguousarray(prior.adaptive, dtype=np.uint8)
    if (prior.guides >= 0).any():
        tensors[GUIDES_KEY] = np.ascontiguousarray(prior.guides, dtype=np.int32)
    tensors[LAMBDAS_KEY] = np.asarray(lambdas, dtype=np.float64)
    if reconstruction is not None:  # float16, as the codebooks are stored
        tensors[RECONSTRUCTION_KEY] = np.ascontiguousarray(reconstruction, dtype=np.float16)
    config = {"model": net.cfg.to_dict(), **(extra or {})}
    tmp_w = directory / (WEIGHTS_FILE + ".tmp")
    tmp_c = directory / (CONFIG_FILE + ".tmp")
    save_file(tensors, str(tmp_w))
    tmp_c.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    export_graphs(net, directory)
    os.replace(tmp_w, directory / WEIGHTS_FILE)
    os.replace(tmp_c, directory / CONFIG_FILE)
    return fingerprint(config["model"], tensors, _graphs(directory))


@dataclass
class Stored:
    """A model as stored: a model directory (what training writes) or a pack (what releases carry)."""

    where: Path
    config: dict
    tensors: Mapping[str, np.ndarray]  # a pack's are read when first asked for
    graph: Callable[[str], bytes | None]  # a graph's bytes by file name, None if absent
    graph_names: frozenset[str]
    fingerprint: bytes  # computed for a directory, as stated by a pack (``vqcodec models verify`` checks it)
    encoder: bool  # holds the encode part

    def network(self) -> dict[str, np.ndarray]:
        return {k: self.tensors[k] for k in self.tensors if not k.startswith(_NOT_NETWORK)}

    def rows(self, name: str) -> np.ndarray | FilledRows:
        """Tensor ``name`` to be read a row of its first axis at a time: a pack expands a filled
        table's rows only when asked (:meth:`ModelPack.rows`); a directory's tensors are arrays."""
        return self.tensors.rows(name) if isinstance(self.tensors, _PackTensors) else self.tensors[name]


class _PackTensors(Mapping):
    def __init__(self, pack: ModelPack) -> None:
        self._pack, self._names = pack, pack.tensor_names()

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        return self._pack.tensor(name)

    def rows(self, name: str) -> np.ndarray | FilledRows:
        """Tensor ``name`` read a row of its first axis at a time where the pack allows it."""
        if name not in self._names:
            raise KeyError(name)
        return self._pack.rows(name)

    def __contains__(self, name: object) -> bool:  # without reading the tensor
        return name in self._names

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def current_pack(folder: Path) -> Path:
    """The pack of the current model in a folder of releases (the package's ``weights``)."""
    try:
        current = json.loads((folder / RELEASES_FILE).read_text())["current"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"cannot read {folder / RELEASES_FILE}: {exc}") from exc
    return folder / f"{current}{PACK_SUFFIX}"


def open_model(path: str | os.PathLike | None = None) -> Stored:
    """The model at ``path``: a pack file, a model directory, or a folder of releases (its current
    model; the package's own by default)."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if path.is_dir() and not (path / WEIGHTS_FILE).is_file() and (path / RELEASES_FILE).is_file():
        path = current_pack(path)
    if path.is_file():
        pack = ModelPack(path)
        return Stored(path, pack.config, _PackTensors(pack), pack.graph, frozenset(pack.graph_names()),
                      pack.fingerprint, pack.has_encoder)
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
        tensors, graphs = load_file(str(path / WEIGHTS_FILE)), _graphs(path)
        fp = fingerprint(config["model"], tensors, graphs)
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise WeightsError(f"cannot load model from {path}: {exc}") from exc

    def graph(name: str) -> bytes | None:  # the fingerprinted graphs are read already
        if name in graphs:
            return graphs[name]
        return (path / name).read_bytes() if (path / name).is_file() else None

    names = frozenset(name for name in (ENCODER_FILE, DECODER_FILE, GRADIENT_FILE) if (path / name).is_file())
    return Stored(path, config, tensors, graph, names, fp, True)


def _torch_net(cfg: ModelConfig, tensors: Mapping[str, np.ndarray], directory: Path, device: str,
               encoder: bool = True) -> "VQVAE":
    try:
        import torch
    except ImportError as exc:
        raise WeightsError(f"device {device} needs the torch backend, and torch is not installed "
                           "(pip install 'vqcodec[train]')") from exc
    from .training.model import VQVAE

    net = VQVAE(cfg)
    try:
        state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()}
        if encoder:
            net.load_state_dict(state)
        else:  # a decode part: the encoder stays as built, and encoding with it is refused
            missing = [k for k in net.state_dict() if k not in state]
            if any(not k.startswith("encoder.") for k in missing) or set(state) - set(net.state_dict()):
                raise RuntimeError("the decode part does not fit the network")
            net.load_state_dict(state, strict=False)
            net.encoder.forward = _no_encoder
    except RuntimeError as exc:
        raise WeightsError(f"weights in {directory} do not fit their config: {exc}") from exc
    try:
        return net.eval().to(torch.device(device))
    except (RuntimeError, AssertionError, ValueError) as exc:  # no such device, or torch built without it
        raise WeightsError(f"cannot use device {device!r}: {exc}") from exc


def _no_encoder(*args, **kwargs):
    raise WeightsError("this model is installed for decoding only (its encoder is not kept)")


def load_network(path: str | os.PathLike | None, device: str = "cpu") -> tuple["VQVAE", list[float], dict]:
    """The torch network of a model (directory or pack holding its encoder), its rate-control lambdas
    and its config's other entries, whatever its prior (so a prior of an older design can be measured anew)."""
    stored = open_model(path)
    if not stored.encoder:
        raise WeightsError(f"{stored.where} holds only the model's decode part; training needs the whole network")
    try:
        cfg = ModelConfig.from_dict(stored.config["model"])
        lambdas = [float(v) for v in stored.tensors[LAMBDAS_KEY]]
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"cannot load model from {stored.where}: {exc}") from exc
    extra = {k: v for k, v in stored.config.items() if k != "model"}
    return _torch_net(cfg, stored.network(), stored.where, device), lambdas, extra


def load_model(path: str | os.PathLike | None = None, device: str | None = None,
               backend: str | None = None) -> CodecModel:
    """Load a model for coding: a model directory, a pack, or a folder of releases (the shipped
    weights, by default).

    ``backend`` "onnx" runs the transforms with ONNX Runtime on the CPU (the default
    when the model has its graphs and the device is the CPU); "torch" builds the
    torch network on ``device`` (the default for other devices, and what training
    needs). A pack of a decode part decodes; encoding with it is refused."""
    stored = open_model(path)
    where, tensors = stored.where, stored.tensors
    device = device or "cpu"
    has_decoder = DECODER_FILE in stored.graph_names
    if backend is None:
        backend = "onnx" if device == "cpu" and has_decoder else "torch"
    if backend not in ("onnx", "torch"):
        raise WeightsError(f"unknown backend {backend!r} (onnx or torch)")
    if backend == "onnx" and device != "cpu":
        raise WeightsError(f"the ONNX backend runs on the CPU, not {device}; use the torch backend")
    try:
        cfg = ModelConfig.from_dict(stored.config["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"cannot load model from {where}: {exc}") from exc
    if any(key not in tensors for key in (*PRIOR_KEYS, LAMBDAS_KEY, CODEBOOKS_KEY)):
        raise WeightsError(f"{where} has no context prior or rate control (an older model format)")
    lambdas = [float(v) for v in tensors[LAMBDAS_KEY]]
    if not lambdas or any(not v >= 0 for v in lambdas):
        raise WeightsError(f"bad rate-control lambdas in {where}")
    table = {key: stored.rows(key) for key in ("prior.counts", "prior.counts_over") if key in tensors}
    try:
        counts = _unpack_counts(table, where)
        prior = Prior(counts, _lazy_classes(stored.rows("prior.classes"), counts.shape[2], where),
                      *(tensors[key] for key in PRIOR_KEYS[2:]), tensors.get(ADAPTIVE_KEY), tensors.get(GUIDES_KEY))
    except ValueError as exc:
        raise WeightsError(f"bad prior in {where}: {exc}") from exc
    codebooks = tensors[CODEBOOKS_KEY].astype(np.float64)
    if codebooks.shape != (cfg.latent_dim // cfg.sub_dim, cfg.codebook_size, cfg.sub_dim):
        raise WeightsError("codebooks do not match the model config")
    if (prior.num_codebooks, prior.size) != (cfg.latent_dim // cfg.sub_dim, cfg.codebook_size):
        raise WeightsError("prior shape does not match the model config")
    if prior.table_of_quality.size != len(lambdas):
        raise WeightsError("prior and rate control disagree on the number of quality levels")
    reconstruction = tensors.get(RECONSTRUCTION_KEY)
    if reconstruction is not None:
        reconstruction = reconstruction.astype(np.float64)
        if reconstruction.shape != (prior.num_sets, *codebooks.shape) or not np.isfinite(reconstruction).all():
            raise WeightsError("reconstruction values do not match the codebooks and table sets")
    block = tensors.get(BLOCK_KEY)
    means = None if block is None else block_means(block.astype(np.float64)[:, :, 0, 0])
    if backend == "onnx":
        if not has_decoder:
            raise WeightsError(f"{where} has no ONNX graphs ({ENCODER_FILE}, {DECODER_FILE}); "
                               "use the torch backend or re-export the model")
        transforms: Transforms = OnnxTransforms(stored.graph, str(where))
    else:
        transforms = TorchTransforms(_torch_net(cfg, stored.network(), where, device, stored.encoder), device)
    return CodecModel(cfg, transforms, codebooks, prior, lambdas, stored.fingerprint, device, reconstruction, means)
