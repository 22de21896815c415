"""Loading and saving a complete model: transforms, codebooks and prior.

A model directory holds ``model.safetensors`` (tensors, float16 for the
network and its codebooks, int32 for the prior's tables, float64 for the
rate-control lambda of each quality level; no pickle) and ``config.json``. Its
fingerprint, a hash of both, is written into every ``.vqc`` file so a file is
never decoded by a model that did not make it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .entropy import EntropyCoder
from .errors import WeightsError
from .model import VQVAE, ModelConfig
from .prior import Prior

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PRIOR_KEYS = ("prior.counts", "prior.zero", "prior.table_of_quality")
LAMBDAS_KEY = "rate.lambdas"

#: Where the shipped model lives inside the installed package.
DEFAULT_WEIGHTS = Path(__file__).parent / "weights"


@dataclass(eq=False)
class CodecModel:
    """A network with its prior and fingerprint, ready to code images."""

    net: VQVAE
    prior: Prior
    lambdas: list[float]  # rate control's lambda of quality levels 0..Q-1, decreasing
    fingerprint: bytes  # 8 bytes
    device: torch.device

    @property
    def num_qualities(self) -> int:
        return len(self.lambdas)

    @cached_property
    def codebooks(self) -> np.ndarray:
        """The codebooks (M, K, d) as float64, for the encoder's code choice."""
        return self.net.quantizer.codebooks.detach().cpu().double().numpy()

    @cached_property
    def coder(self) -> EntropyCoder:
        """The range coder under this model's prior (built once)."""
        return EntropyCoder(self.prior)


def fingerprint(config: dict, tensors: dict[str, torch.Tensor]) -> bytes:
    """8-byte hash of a model's config and every stored tensor."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.digest()[:8]


def _stored_tensors(net: VQVAE, prior: Prior, lambdas: list[float]) -> dict[str, torch.Tensor]:
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()}
    for key, table in zip(PRIOR_KEYS, (prior.counts, prior.zero, prior.table_of_quality), strict=True):
        tensors[key] = torch.from_numpy(table.astype(np.int32))
    tensors[LAMBDAS_KEY] = torch.tensor(lambdas, dtype=torch.float64)
    return tensors


def save_model(directory: str | os.PathLike, net: VQVAE, prior: Prior, lambdas: list[float],
               extra: dict | None = None) -> bytes:
    """Write a loadable model directory atomically; returns its fingerprint."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = _stored_tensors(net, prior, lambdas)
    config = {"model": net.cfg.to_dict(), **(extra or {})}
    tmp_w = directory / (WEIGHTS_FILE + ".tmp")
    tmp_c = directory / (CONFIG_FILE + ".tmp")
    save_file(tensors, str(tmp_w))
    tmp_c.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_w, directory / WEIGHTS_FILE)
    os.replace(tmp_c, directory / CONFIG_FILE)
    return fingerprint(config["model"], tensors)


def read_fingerprint(directory: str | os.PathLike | None = None) -> bytes:
    """The fingerprint of a model directory, without building its network."""
    directory = Path(directory) if directory is not None else DEFAULT_WEIGHTS
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
        return fingerprint(config["model"], load_file(str(directory / WEIGHTS_FILE)))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise WeightsError(f"cannot load model from {directory}: {exc}") from exc


def load_model(directory: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> CodecModel:
    """Load a model directory (the shipped weights by default) for coding."""
    directory = Path(directory) if directory is not None else DEFAULT_WEIGHTS
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
        cfg = ModelConfig.from_dict(config["model"])
        tensors = load_file(str(directory / WEIGHTS_FILE))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise WeightsError(f"cannot load model from {directory}: {exc}") from exc
    if any(key not in tensors for key in (*PRIOR_KEYS, LAMBDAS_KEY)):
        raise WeightsError(f"{directory / WEIGHTS_FILE} has no context prior or rate control (an older model format)")
    fp = fingerprint(config["model"], tensors)
    lambdas = [float(v) for v in tensors.pop(LAMBDAS_KEY)]
    if not lambdas or any(not v >= 0 for v in lambdas):
        raise WeightsError(f"bad rate-control lambdas in {directory}")
    try:
        prior = Prior(*(tensors.pop(key).numpy() for key in PRIOR_KEYS))
    except ValueError as exc:
        raise WeightsError(f"bad prior in {directory}: {exc}") from exc
    net = VQVAE(cfg)
    try:
        net.load_state_dict({k: v.float() for k, v in tensors.items()})
    except RuntimeError as exc:
        raise WeightsError(f"weights in {directory} do not fit their config: {exc}") from exc
    if (prior.num_codebooks, prior.size) != (cfg.latent_dim // cfg.sub_dim, cfg.codebook_size):
        raise WeightsError("prior shape does not match the model config")
    if prior.table_of_quality.size != len(lambdas):
        raise WeightsError("prior and rate control disagree on the number of quality levels")
    dev = torch.device(device)
    return CodecModel(net.eval().to(dev), prior, lambdas, fp, dev)
