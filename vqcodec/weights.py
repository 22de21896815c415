"""Loading and saving a complete model: transforms, codebooks and prior.

A model directory holds ``model.safetensors`` (tensors, float16 for the
network, its codebooks and the codes' reconstruction values (:mod:`centroids`),
int32 for the prior's tables, uint8 for its context classes, float64 for the
rate-control lambda of each quality level; no pickle), ``config.json``, and
the transforms as ONNX graphs (``encoder.onnx``, ``decoder.onnx``, see
:mod:`runtime`). Its fingerprint, a hash of all of them, is written into every
``.vqc`` file so a file is never decoded by a model that did not make it.

Loading needs neither torch nor the network's code: the coder reads the
tensors with numpy and runs the graphs with ONNX Runtime. ``backend="torch"``
builds the torch network instead (training, GPUs).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from .config import ModelConfig
from .correction import block_means
from .entropy import EntropyCoder
from .errors import WeightsError
from .prior import Prior
from .runtime import DECODER_FILE, ENCODER_FILE, OnnxTransforms, TorchTransforms, Transforms, export_graphs, has_graphs

if TYPE_CHECKING:
    from .model import VQVAE

WEIGHTS_FILE = "model.safetensors"
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

#: Where the shipped model lives inside the installed package.
DEFAULT_WEIGHTS = Path(__file__).parent / "weights"

#: dtype names as the fingerprint has always spelled them (torch's), so a model's
#: fingerprint does not depend on the library that read its tensors.
_DTYPE_NAMES = {np.dtype(np.float16): "torch.float16", np.dtype(np.float32): "torch.float32",
                np.dtype(np.float64): "torch.float64", np.dtype(np.int32): "torch.int32",
                np.dtype(np.int64): "torch.int64", np.dtype(np.uint8): "torch.uint8"}


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


def fingerprint(config: dict, tensors: dict[str, np.ndarray], graphs: dict[str, bytes] | None = None) -> bytes:
    """8-byte hash of a model's config, every stored tensor and its ONNX graphs."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{_DTYPE_NAMES.get(t.dtype, str(t.dtype))}:{tuple(t.shape)}".encode())
        h.update(t.tobytes())
    for name in sorted(graphs or {}):
        h.update(f"graph:{name}:".encode())
        h.update(graphs[name])
    return h.digest()[:8]


def _graphs(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in (ENCODER_FILE, DECODER_FILE)
            if (directory / name).is_file()}


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


def _unpack_counts(tensors: dict[str, np.ndarray], directory: Path) -> np.ndarray:
    """The count tables of :func:`_pack_counts`' tensors (int32 tables of older exports as they are)."""
    counts = tensors.pop("prior.counts").astype(np.int64)
    over = tensors.pop("prior.counts_over", None)
    if over is None:
        return counts
    escaped = counts == COUNT_ESCAPE
    if over.ndim != 1 or over.size != int(escaped.sum()) or (over.size and over.min() < COUNT_ESCAPE):
        raise WeightsError(f"bad prior in {directory}: escaped counts do not match their list")
    counts[escaped] = over
    return counts


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


def _read(directory: Path) -> tuple[dict, dict[str, np.ndarray], dict[str, bytes]]:
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
        return config, load_file(str(directory / WEIGHTS_FILE)), _graphs(directory)
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise WeightsError(f"cannot load model from {directory}: {exc}") from exc


def read_fingerprint(directory: str | os.PathLike | None = None) -> bytes:
    """The fingerprint of a model directory, without building its transforms."""
    directory = Path(directory) if directory is not None else DEFAULT_WEIGHTS
    config, tensors, graphs = _read(directory)
    try:
        return fingerprint(config["model"], tensors, graphs)
    except (KeyError, TypeError) as exc:
        raise WeightsError(f"cannot load model from {directory}: {exc}") from exc


def _torch_net(cfg: ModelConfig, tensors: dict[str, np.ndarray], directory: Path, device: str) -> "VQVAE":
    try:
        import torch
    except ImportError as exc:
        raise WeightsError(f"device {device} needs the torch backend, and torch is not installed "
                           "(pip install 'vqcodec[train]')") from exc
    from .model import VQVAE

    net = VQVAE(cfg)
    try:
        net.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()})
    except RuntimeError as exc:
        raise WeightsError(f"weights in {directory} do not fit their config: {exc}") from exc
    try:
        return net.eval().to(torch.device(device))
    except (RuntimeError, AssertionError, ValueError) as exc:  # no such device, or torch built without it
        raise WeightsError(f"cannot use device {device!r}: {exc}") from exc


def load_network(directory: str | os.PathLike, device: str = "cpu") -> tuple["VQVAE", list[float], dict]:
    """The torch network of a model directory, its rate-control lambdas and its config's
    other entries, whatever its prior (so a prior of an older design can be measured anew)."""
    directory = Path(directory)
    config, tensors, _ = _read(directory)
    try:
        cfg = ModelConfig.from_dict(config["model"])
        lambdas = [float(v) for v in tensors[LAMBDAS_KEY]]
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"cannot load model from {directory}: {exc}") from exc
    network = {k: v for k, v in tensors.items() if not k.startswith(_NOT_NETWORK)}
    return _torch_net(cfg, network, directory, device), lambdas, {k: v for k, v in config.items() if k != "model"}


def load_model(directory: str | os.PathLike | None = None, device: str | None = None,
               backend: str | None = None) -> CodecModel:
    """Load a model directory (the shipped weights by default) for coding.

    ``backend`` "onnx" runs the transforms with ONNX Runtime on the CPU (the default
    when the model has its graphs and the device is the CPU); "torch" builds the
    torch network on ``device`` (the default for other devices, and what training
    needs)."""
    directory = Path(directory) if directory is not None else DEFAULT_WEIGHTS
    device = device or "cpu"
    if backend is None:
        backend = "onnx" if device == "cpu" and has_graphs(directory) else "torch"
    if backend not in ("onnx", "torch"):
        raise WeightsError(f"unknown backend {backend!r} (onnx or torch)")
    if backend == "onnx" and device != "cpu":
        raise WeightsError(f"the ONNX backend runs on the CPU, not {device}; use the torch backend")
    config, tensors, graphs = _read(directory)
    try:
        cfg = ModelConfig.from_dict(config["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"cannot load model from {directory}: {exc}") from exc
    if any(key not in tensors for key in (*PRIOR_KEYS, LAMBDAS_KEY, CODEBOOKS_KEY)):
        raise WeightsError(f"{directory / WEIGHTS_FILE} has no context prior or rate control (an older model format)")
    fp = fingerprint(config["model"], tensors, graphs)
    lambdas = [float(v) for v in tensors.pop(LAMBDAS_KEY)]
    if not lambdas or any(not v >= 0 for v in lambdas):
        raise WeightsError(f"bad rate-control lambdas in {directory}")
    try:
        prior = Prior(_unpack_counts(tensors, directory), *(tensors.pop(key) for key in PRIOR_KEYS[1:]),
                      tensors.pop(ADAPTIVE_KEY, None), tensors.pop(GUIDES_KEY, None))
    except ValueError as exc:
        raise WeightsError(f"bad prior in {directory}: {exc}") from exc
    codebooks = tensors[CODEBOOKS_KEY].astype(np.float64)
    if codebooks.shape != (cfg.latent_dim // cfg.sub_dim, cfg.codebook_size, cfg.sub_dim):
        raise WeightsError("codebooks do not match the model config")
    if (prior.num_codebooks, prior.size) != (cfg.latent_dim // cfg.sub_dim, cfg.codebook_size):
        raise WeightsError("prior shape does not match the model config")
    if prior.table_of_quality.size != len(lambdas):
        raise WeightsError("prior and rate control disagree on the number of quality levels")
    reconstruction = tensors.pop(RECONSTRUCTION_KEY, None)
    if reconstruction is not None:
        reconstruction = reconstruction.astype(np.float64)
        if reconstruction.shape != (prior.counts.shape[0], *codebooks.shape) or not np.isfinite(reconstruction).all():
            raise WeightsError("reconstruction values do not match the codebooks and table sets")
    block = tensors.get(BLOCK_KEY)
    means = None if block is None else block_means(block.astype(np.float64)[:, :, 0, 0])
    if backend == "onnx":
        if not has_graphs(directory):
            raise WeightsError(f"{directory} has no ONNX graphs ({ENCODER_FILE}, {DECODER_FILE}); "
                               "use the torch backend or re-export the model")
        transforms: Transforms = OnnxTransforms(directory)
    else:
        transforms = TorchTransforms(_torch_net(cfg, tensors, directory, device), device)
    return CodecModel(cfg, transforms, codebooks, prior, lambdas, fp, device, reconstruction, means)
