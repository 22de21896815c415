"""The fingerprint computed from docs/format.md's rule alone, not from vqcodec's own function."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from vqcodec.modelpack import ModelPack
from vqcodec.weights import DEFAULT_WEIGHTS, current_pack

#: docs/format.md, "Fingerprint": the dtype strings, as the table there spells them.
SPEC_DTYPES = {"float16": "torch.float16", "float32": "torch.float32", "float64": "torch.float64",
               "int32": "torch.int32", "int64": "torch.int64", "uint8": "torch.uint8", "uint16": "uint16"}


def spec_fingerprint(model: dict, tensors: dict[str, np.ndarray], graphs: dict[str, bytes]) -> str:
    h = hashlib.sha256(json.dumps(model, sort_keys=True).encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}:{SPEC_DTYPES[t.dtype.name]}:{tuple(t.shape)}".encode("utf-8"))
        h.update(np.ascontiguousarray(t).astype(t.dtype.newbyteorder("<")).tobytes())
    for name in ("decoder.onnx", "encoder.onnx"):
        if name in graphs:
            h.update(f"graph:{name}:".encode("utf-8"))
            h.update(graphs[name])
    return h.hexdigest()[:16]


def test_the_current_model_fingerprint_follows_the_spec():
    path = current_pack(DEFAULT_WEIGHTS)
    pack = ModelPack(path)
    assert pack.tensor("prior.counts").dtype == np.uint16  # the case the rule once spelled wrongly
    assert spec_fingerprint(pack.config["model"], pack.tensors(), pack.graphs()) == path.stem == pack.fingerprint.hex()
