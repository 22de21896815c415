"""Where the transforms run: ONNX Runtime by default, torch on request.

Coding needs the encoder (pixels -> latents) and the decoder (latents ->
pixels); everything else (code choice, prior, range coder) is numpy and
constriction. A model directory carries both transforms as ONNX graphs
(``encoder.onnx``, ``decoder.onnx``, weights stored as float16 and cast to
float32 inside the graph, so they compute exactly what the torch modules
loaded from ``model.safetensors`` compute), so compressing and decompressing
need ONNX Runtime, a small inference engine, and not torch. torch stays the
backend for training and for GPUs (``backend="torch"``, ``device="cuda"``).

Both backends take and return numpy float32 arrays in NCHW layout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import WeightsError

if TYPE_CHECKING:
    from .model import VQVAE

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"

#: Threads each ONNX Runtime session uses (None: ONNX Runtime's default, one per core).
_threads: int | None = None


def set_threads(threads: int) -> None:
    """Threads of the sessions created from now on (and of torch, if it is loaded):
    the CLI gives each -j worker its share of the cores."""
    global _threads
    _threads = threads
    if "torch" in sys.modules and sys.modules["torch"] is not None:
        sys.modules["torch"].set_num_threads(threads)


class Transforms(Protocol):
    """The encoder and decoder of a model, on some backend."""

    name: str

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Latents (1, D, H/8, W/8) of pixels (1, 3, H, W) in [0, 1]."""

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Pixels (1, 3, H, W) in about [0, 1] (unclamped) of latents (1, D, h, w)."""


class OnnxTransforms:
    """The transforms as ONNX graphs run by ONNX Runtime on the CPU."""

    name = "onnx"

    def __init__(self, directory: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise WeightsError("ONNX Runtime is not installed: pip install onnxruntime "
                               "(or use the torch backend)") from exc
        options = ort.SessionOptions()
        if _threads is not None:
            options.intra_op_num_threads = _threads
            options.inter_op_num_threads = 1
        try:
            self._sessions = [ort.InferenceSession(str(directory / name), options, providers=["CPUExecutionProvider"])
                              for name in (ENCODER_FILE, DECODER_FILE)]
        except Exception as exc:  # ONNX Runtime raises its own types for missing or malformed graphs
            raise WeightsError(f"cannot load the ONNX graphs in {directory}: {exc}") from exc

    def _run(self, session, x: np.ndarray) -> np.ndarray:
        return session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(x, np.float32)})[0]

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self._run(self._sessions[0], x)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        return self._run(self._sessions[1], latents)


class TorchTransforms:
    """The transforms as torch modules, on any torch device."""

    name = "torch"

    def __init__(self, net: "VQVAE", device: str) -> None:
        import torch

        self.net, self.device = net, torch.device(device)

    def _run(self, module, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)).float().cpu().numpy()

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self._run(self.net.encoder, x)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        return self._run(self.net.decoder, latents)


def has_graphs(directory: Path) -> bool:
    return all((directory / name).is_file() for name in (ENCODER_FILE, DECODER_FILE))


def export_graphs(net: "VQVAE", directory: Path) -> None:
    """Write ``net``'s encoder and decoder as ONNX graphs into ``directory`` (needs torch and onnx).

    Weights are stored as float16, as in ``model.safetensors``, each behind a Cast to
    float32, so the graphs compute what the torch modules loaded from the safetensors do."""
    import io
    import warnings

    import onnx
    import torch
    from onnx import helper, numpy_helper

    net = net.eval().cpu()
    f = net.cfg.downsample
    x = torch.rand(1, 3, 4 * f, 6 * f)
    for name, module, example in ((ENCODER_FILE, net.encoder, x), (DECODER_FILE, net.decoder, net.encoder(x))):
        buf = io.BytesIO()
        with torch.inference_mode(), warnings.catch_warnings():
            # torch's TorchScript-based exporter: deprecated in favour of the dynamo one (which needs
            # onnxscript), still exact for these plain convolutional graphs
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(module, (example,), buf, dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {2: "height", 3: "width"}, "y": {2: "out_height", 3: "out_width"}},
                              opset_version=17)
        graph_model = onnx.load_from_string(buf.getvalue())
        graph = graph_model.graph
        casts = []
        for init in graph.initializer:
            if init.data_type != onnx.TensorProto.FLOAT:
                continue
            value = numpy_helper.to_array(init).astype(np.float16)
            stored = init.name + ".f16"
            casts.append(helper.make_node("Cast", [stored], [init.name], to=onnx.TensorProto.FLOAT))
            init.CopyFrom(numpy_helper.from_array(value, stored))
        nodes = casts + list(graph.node)  # the casts come first, so nodes stay in topological order
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.checker.check_model(graph_model)
        tmp = directory / (name + ".tmp")
        tmp.write_bytes(graph_model.SerializeToString())
        os.replace(tmp, directory / name)
