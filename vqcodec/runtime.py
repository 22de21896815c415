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
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from .errors import WeightsError

if TYPE_CHECKING:
    from .training.model import VQVAE

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
#: The decoder with its gradient (``model.DecoderGradient``): only encoding with effort uses it,
#: so a model directory without it still codes, at effort 0.
GRADIENT_FILE = "gradient.onnx"

#: Threads each ONNX Runtime session uses (None: ONNX Runtime's default, one per core).
_threads: int | None = None


#: A run whose input holds more floats than this (an image over about 0.7 MP into the encoder,
#: 1.4 MP out of the decoder) gives its working memory back: ONNX Runtime's arena otherwise keeps
#: the largest run's activations, 0.7 GB per graph for a 128-latent tile, and a large image's
#: compress held both graphs' (2.7 GB peak at 51.9 MP, 1.5 GB without). Smaller images keep the
#: arena, so repeated runs skip the allocation. A tiled image's windows are just under this into
#: the decoder (144 x 144 latents): its last window's run gives the memory back instead
#: (``release``), or the decoder's 0.56 GB stayed held while a residual was added to the image.
SHRINK_FLOATS = 1 << 21


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

    def encode(self, x: np.ndarray, release: bool = False) -> np.ndarray:
        """Latents (1, D, H/8, W/8) of pixels (1, 3, H, W) in [0, 1]. ``release``: the run's working
        memory is given back after it (the last window of a tiled image), not kept for the next."""

    def warm_decoder(self) -> None:
        """Prepare the decoder ahead of its first run, while the codes are still being decoded."""

    def decode(self, latents: np.ndarray, table_set: int = 0, release: bool = False) -> np.ndarray:
        """Pixels (1, 3, H, W) in about [0, 1] (unclamped) of latents (1, D, h, w) coded at a level of
        ``table_set`` (which only a decoder modulated by the rate reads); ``release`` as encode's."""

    def gradient(self, latents: np.ndarray, target: np.ndarray, weight: np.ndarray,
                 table_set: int = 0, release: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (1, 3, H, W) clamped to [0, 1] of latents (1, D, h, w), and the gradient (1, D, h, w)
        of ``sum(weight * (pixels - target)^2)``, ``weight`` (1, 1, H, W)."""


_NO_DECODER = "use the torch backend or re-export the model"


class OnnxTransforms:
    """The transforms as ONNX graphs run by ONNX Runtime on the CPU; each graph's session is made
    when first used, so decoding never builds the encoder's."""

    name = "onnx"

    def __init__(self, graphs: Callable[[str], bytes | None], where: str) -> None:
        try:
            import onnxruntime  # noqa: F401  (here for the clear error; _session uses it)
        except ImportError as exc:
            raise WeightsError("ONNX Runtime is not installed: pip install onnxruntime "
                               "(or use the torch backend)") from exc
        self._graphs, self._where = graphs, where
        self._sessions: dict[str, object] = {}

    def warm_decoder(self) -> None:
        """Make the decoder's session now, before the codes are range-decoded: its threads are up by
        its first run (made just before that run, the run took 0.1 s longer). Not at load: a
        compress that never decodes would pay 30 ms for it."""
        self._session(DECODER_FILE, _NO_DECODER)

    def _session(self, name: str, missing: str):
        if name not in self._sessions:
            import onnxruntime as ort

            graph = self._graphs(name)
            if graph is None:
                raise WeightsError(f"{self._where} has no {name}: {missing}")
            options = ort.SessionOptions()
            if _threads is not None:
                options.intra_op_num_threads = _threads
                options.inter_op_num_threads = 1
            try:
                self._sessions[name] = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # ONNX Runtime raises its own types for malformed graphs
                raise WeightsError(f"cannot load the ONNX graph {name} of {self._where}: {exc}") from exc
        return self._sessions[name]

    def _run(self, session, *inputs: np.ndarray, table_set: int = 0, release: bool = False) -> list[np.ndarray]:
        """Outputs of ``session`` for float ``inputs``, and the table set if the graph takes one; the
        working memory given back after a large run or on ``release``."""
        names = [i.name for i in session.get_inputs()]
        feeds = {name: np.ascontiguousarray(a, np.float32) for name, a in zip(names, inputs)}
        if len(names) > len(inputs):
            feeds[names[len(inputs)]] = np.array([table_set], np.int64)
        options = None
        if release or feeds[names[0]].size > SHRINK_FLOATS:
            import onnxruntime as ort

            options = ort.RunOptions()
            options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return session.run(None, feeds, options)

    def encode(self, x: np.ndarray, release: bool = False) -> np.ndarray:
        session = self._session(ENCODER_FILE, "this model is installed for decoding only (its encoder is not kept)")
        return self._run(session, x, release=release)[0]

    def decode(self, latents: np.ndarray, table_set: int = 0, release: bool = False) -> np.ndarray:
        return self._run(self._session(DECODER_FILE, _NO_DECODER), latents, table_set=table_set, release=release)[0]

    def gradient(self, latents: np.ndarray, target: np.ndarray, weight: np.ndarray,
                 table_set: int = 0, release: bool = False) -> tuple[np.ndarray, np.ndarray]:
        session = self._session(GRADIENT_FILE, "this model codes only at effort 0 (re-export it to add the graph)")
        pixels, grad = self._run(session, latents, target, weight, table_set=table_set, release=release)
        return pixels, grad


class TorchTransforms:
    """The transforms as torch modules, on any torch device."""

    name = "torch"

    def __init__(self, net: "VQVAE", device: str) -> None:
        import torch

        self.net, self.device = net, torch.device(device)

    def _tensor(self, a: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(self.device)

    def _table_set(self, table_set: int):
        import torch

        return torch.tensor([table_set], device=self.device)

    def warm_decoder(self) -> None:
        """Nothing to prepare: the modules are ready once loaded."""

    def encode(self, x: np.ndarray, release: bool = False) -> np.ndarray:  # torch frees as it goes
        import torch

        with torch.inference_mode():
            return self.net.encoder(self._tensor(x)).float().cpu().numpy()

    def decode(self, latents: np.ndarray, table_set: int = 0, release: bool = False) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.net.decoder(self._tensor(latents), self._table_set(table_set)).float().cpu().numpy()

    def gradient(self, latents: np.ndarray, target: np.ndarray, weight: np.ndarray,
                 table_set: int = 0, release: bool = False) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from .training.model import DecoderGradient

        with torch.inference_mode():
            args = (self._tensor(a) for a in (latents, target, weight))
            pixels, grad = DecoderGradient(self.net.decoder)(*args, self._table_set(table_set))
        return pixels.float().cpu().numpy(), grad.float().cpu().numpy()


def export_graphs(net: "VQVAE", directory: Path) -> None:
    """Write ``net``'s encoder, decoder and decoder gradient as ONNX graphs into ``directory``
    (needs torch and onnx).

    Weights are stored as float16, as in ``model.safetensors``, each behind a Cast to
    float32, so the graphs compute what the torch modules loaded from the safetensors do."""
    import io
    import warnings

    import onnx
    import torch
    from onnx import helper, numpy_helper

    from .training.model import DecoderGradient

    net = net.eval().cpu()
    f = net.cfg.downsample
    x = torch.rand(1, 3, 4 * f, 6 * f)
    z = net.encoder(x)
    io_axes = {"x": {2: "height", 3: "width"}, "y": {2: "out_height", 3: "out_width"}}
    image, latent = {2: "height", 3: "width"}, {2: "latent_height", 3: "latent_width"}
    # a decoder modulated by the rate takes the table set (int64, (1,)) after its other inputs
    rate = {"table_set": {}} if net.cfg.rate_sets else {}
    table_set = (torch.zeros(1, dtype=torch.long),) if net.cfg.rate_sets else ()
    graphs = (  # (file, module, example inputs, {input and output names: dynamic axes})
        (ENCODER_FILE, net.encoder, (x,), io_axes),
        (DECODER_FILE, net.decoder, (z, *table_set), {"x": io_axes["x"], **rate, "y": io_axes["y"]}),
        (GRADIENT_FILE, DecoderGradient(net.decoder), (z, x, torch.ones_like(x[:, :1]), *table_set),
         {"z": latent, "target": image, "weight": image, **rate, "pixels": image, "gradient": latent}),
    )
    for name, module, example, axes in graphs:
        buf = io.BytesIO()
        with torch.inference_mode(), warnings.catch_warnings():
            # torch's TorchScript-based exporter: deprecated in favour of the dynamo one (which needs
            # onnxscript), still exact for these plain convolutional graphs
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            names = list(axes)
            torch.onnx.export(module, example, buf, dynamo=False, input_names=names[:len(example)],
                              output_names=names[len(example):], opset_version=17,
                              dynamic_axes={k: v for k, v in axes.items() if v})
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
