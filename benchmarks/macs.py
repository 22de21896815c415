"""Multiply-accumulates per pixel of the shipped transforms and single-thread decode time per
image, as Cool-chic and Shallow-NTC report decoders (issue 37 asks for both).

    python -m benchmarks.macs [--size 768x512] [--times [DIR]]

``--times`` codes each image of DIR (default: Kodak) at the default quality and times its
``decompress`` in this process, ONNX Runtime on one thread (the rest of decoding is numpy on one
thread anyway), median of three.

Every convolution of the ONNX graphs is counted at the shapes a WIDTHxHEIGHT image gives them
(ONNX shape inference): output elements times input channels per group times kernel area.
The simplified GDN's 1 x 1 convolutions are convolutions too; element-wise work (activations,
additions, the rate modulation) is left out, as in the papers' counts. The entropy model has
none to count: its probabilities are rows of integer tables, looked up.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import vqcodec
from vqcodec.runtime import set_threads

from .rd import DEFAULT_DIR


def conv_macs(graph: bytes, inputs: dict[str, list[int]]) -> list[tuple[str, int]]:
    """(node name, MACs) of every Conv of an ONNX graph at the given input shapes."""
    import onnx
    from onnx import shape_inference

    model = onnx.load_from_string(graph)
    for value in model.graph.input:
        if value.name in inputs:
            for dim, size in zip(value.type.tensor_type.shape.dim, inputs[value.name], strict=True):
                dim.ClearField("dim_param")
                dim.dim_value = size
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    out = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        weight, result = shapes.get(node.input[1]), shapes.get(node.output[0])
        if not weight or not result or 0 in result:
            raise ValueError(f"no shape for {node.name}")
        # an ONNX Conv weight is (out channels, input channels per group, kernel...)
        out.append((node.name, math.prod(result[1:]) * weight[1] * math.prod(weight[2:])))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="768x512", help="WIDTHxHEIGHT (default: a Kodak photo)")
    parser.add_argument("--times", nargs="?", const=str(DEFAULT_DIR), default=None, metavar="DIR",
                        help="also time decoding each image of DIR on one thread (default: Kodak)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    model = vqcodec.load_model()
    f = model.cfg.downsample
    h, w = -(-height // f), -(-width // f)
    pixels = width * height
    shapes = {"encoder.onnx": {"x": [1, 3, h * f, w * f]},
              "decoder.onnx": {"x": [1, model.cfg.latent_dim, h, w], "table_set": [1]}}
    for name, inputs in shapes.items():
        counts = conv_macs(model.transforms._graphs(name), inputs)
        total = sum(c for _, c in counts)
        print(f"{name}: {len(counts)} convolutions, {total / pixels / 1000:.1f} kMAC per pixel "
              f"({total / 1e9:.2f} GMAC for {width}x{height})")
    print("entropy model: 0 MAC per pixel (integer table lookups; the adaptation counts codes)")
    if args.times is not None:
        single_thread_decode(Path(args.times))


def single_thread_decode(folder: Path, runs: int = 3) -> list[float]:
    """Seconds to decode each image of ``folder`` coded at the default quality, on one thread."""
    set_threads(1)
    model = vqcodec.load_model()  # made after set_threads: its sessions take one thread
    out = []
    for path in sorted(folder.glob("*.png")):
        data = vqcodec.compress(path, model=model)
        vqcodec.decompress(data, model=model)  # the table set read, the session warm
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            vqcodec.decompress(data, model=model)
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times))
        print(f"{path.name}: {len(data)} bytes, decode {out[-1]:.3f} s on one thread", flush=True)
    if out:
        print(f"mean {statistics.mean(out):.3f} s, median {statistics.median(out):.3f} s over {len(out)} images "
              f"(quality {vqcodec.DEFAULT_QUALITY})")
    return out


if __name__ == "__main__":
    main()
