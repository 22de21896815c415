"""Model packs: one file holding what a model needs to decode (and, for the newest, to encode).

A model's files are written by its release and must decode for as long as anyone keeps
them, so every later release carries the model's **decode part**: the decoder graph and its
weights, the prior's tables, the codes' reconstruction values and the config. Only the
newest model also carries its **encode part** (the encoder graph and weights, the decoder's
gradient graph for effort). A pack stores each tensor once: the ONNX graphs are kept with
the bytes of their weights cut out and spliced back from the pack's tensors when loaded,
and the tables, mostly ones, are packed (their ones apart). Tensors are stored, not deflated:
inflating the tables took 21 ms of every command, and a wheel deflates the pack as a whole
anyway (the same 5.3 MB to download). The shipped model's 36 MB of files become a 9.4 MB pack
(5.5 MB with its tables deflated, as packs written before 2026-12-07 have them; both read alike).

A pack is a zip archive (docs/models.md is its spec):

- ``pack.json``: ``{"pack": 1, "fingerprint": hex, "parts": [...], "config": {...},
  "decode_digest": hex, "graphs": {name: {"size": n, "sha256": hex, "splices": [[offset, tensor], ...]}},
  "filled": {name: {"fill": v, "dtype": str, "shape": [...]}}}``
- ``tensors/NAME.npy``: each tensor as the model directory stored it (same dtype and shape; stored
  or deflated, as any zip member may be), or for
  a table mostly of one value (the counts: 93% ones), ``tensors/NAME.mask.npy`` (which entries
  differ from it, as bits) and ``tensors/NAME.rest.npy`` (those entries)
- ``graphs/NAME``: each graph's bytes without its spliced weights

A pack of version 2 names a **base**, another model's pack, and leaves out every tensor the base
holds byte for byte: a model that differs from the one before it in a few tensors (new lambdas,
recounted tables) costs kilobytes, not a 5 MB decode part. Reading it reads those tensors from the
base, found beside it or on the model search path, and checked against the base's decode digest
the manifest records.

Reading needs only the standard library and numpy (no onnx, no torch).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .errors import WeightsError

if TYPE_CHECKING:  # numpy is imported where tensors are read or written: listing packs reads manifests alone
    import numpy as np

PACK_SUFFIX = ".vqm"
PACK_VERSION = 1
#: The version of a pack that names a base (and leaves out the tensors it shares with it).
BASED_VERSION = 2
#: How many bases deep a pack may lean (a base may have its own): a longer chain is refused, so a
#: loop of packs naming each other cannot recurse without end.
MAX_BASES = 4
MANIFEST = "pack.json"
#: Graphs of each part; every tensor whose name starts with "encoder." is in the encode part.
DECODE_GRAPHS = ("decoder.onnx",)
ENCODE_GRAPHS = ("encoder.onnx", "gradient.onnx")
PARTS = ("decode", "encode")
#: The graphs the fingerprint covers (the gradient graph, added later, never was).
FINGERPRINT_GRAPHS = ("encoder.onnx", "decoder.onnx")
#: Tensors at least this large are cut out of the graphs that hold them (smaller ones stay inline:
#: a few bytes could recur by chance).
SPLICE_MIN_BYTES = 64
#: An integer tensor of at least this many entries, at least FILL_SHARE of them one value, is stored
#: as that value's mask and the other entries: deflate then reads back 17 MB of counts in 24 ms
#: (LZMA over the whole table: 1.24 MB in 80 ms; this: 1.14 MB).
FILL_MIN_SIZE = 1 << 16
FILL_SHARE = 0.5
#: zip members get the same timestamp, so packing the same model twice gives the same bytes.
_STAMP = (1980, 1, 1, 0, 0, 0)


def is_encode_tensor(name: str) -> bool:
    return name.startswith("encoder.")


def part_tensors(tensors: dict[str, np.ndarray], parts: Iterable[str]) -> dict[str, np.ndarray]:
    """The tensors of ``parts`` (the encode part: the encoder's; the decode part: the rest)."""
    parts = set(parts)
    return {k: v for k, v in tensors.items() if ("encode" if is_encode_tensor(k) else "decode") in parts}


def part_graphs(graphs: dict[str, bytes], parts: Iterable[str]) -> dict[str, bytes]:
    names = [*DECODE_GRAPHS, *(ENCODE_GRAPHS if "encode" in set(parts) else ())]
    return {k: graphs[k] for k in names if k in graphs}


def digest(config: dict, tensors: dict[str, np.ndarray], graphs: dict[str, bytes]) -> "hashlib._Hash":
    """sha256 of a model's config (its "model" entry), tensors and graphs: the rule of the
    fingerprint (its first 8 bytes, over every tensor and graph of the model) and of the
    decode digest (over the decode part's). docs/format.md gives it byte by byte."""
    import numpy as np
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{dtype_name(t.dtype)}:{tuple(t.shape)}".encode())
        h.update(t.astype(t.dtype.newbyteorder("<"), copy=False).tobytes())
    for name in sorted(graphs):
        h.update(f"graph:{name}:".encode())
        h.update(graphs[name])
    return h


#: dtype names as the fingerprint has always spelled them: torch's for the types torch had when
#: the rule was made, numpy's name for uint16 (the count tables, stored so since format 8).
_DTYPE_NAMES = {"float16": "torch.float16", "float32": "torch.float32", "float64": "torch.float64",
                "int32": "torch.int32", "int64": "torch.int64", "uint8": "torch.uint8"}


def dtype_name(dtype: np.dtype) -> str:
    import numpy as np
    name = np.dtype(dtype).name
    return _DTYPE_NAMES.get(name, name)


def fingerprint(config: dict, tensors: dict[str, np.ndarray], graphs: dict[str, bytes]) -> bytes:
    """The 8-byte fingerprint of a whole model: the digest over its config, every tensor and the
    graphs the rule covers (the encoder and decoder; not the effort's gradient graph)."""
    return digest(config, tensors, {k: v for k, v in graphs.items() if k in FINGERPRINT_GRAPHS}).digest()[:8]


def decode_digest(config: dict, tensors: dict[str, np.ndarray], graphs: dict[str, bytes]) -> str:
    """Hex sha256 of the decode part: what identifies a pack that holds no encoder."""
    return digest(config, part_tensors(tensors, ["decode"]), part_graphs(graphs, ["decode"])).hexdigest()


def _splices(graph: bytes, tensors: dict[str, np.ndarray]) -> tuple[bytes, list[tuple[int, str]]]:
    """``graph`` without the bytes of every tensor found in it exactly once, and where each goes back."""
    import numpy as np
    cuts = []
    for name, t in tensors.items():
        raw = np.ascontiguousarray(t).tobytes()
        if len(raw) < SPLICE_MIN_BYTES:
            continue
        at = graph.find(raw)
        if at >= 0 and graph.find(raw, at + 1) < 0:
            cuts.append((at, at + len(raw), name))
    cuts.sort()
    kept, splices, last = [], [], 0
    for start, end, name in cuts:
        if start < last:  # overlapping matches: keep the first
            continue
        kept.append(graph[last:start])
        splices.append((sum(map(len, kept)), name))
        last = end
    kept.append(graph[last:])
    return b"".join(kept), splices


def _splice(skeleton: bytes, splices: list, tensor: "callable") -> bytes:
    import numpy as np
    out, last = [], 0
    for offset, name in splices:
        out.append(skeleton[last:offset])
        out.append(np.ascontiguousarray(tensor(name)).tobytes())
        last = offset
    out.append(skeleton[last:])
    return b"".join(out)


def _npy(array: np.ndarray) -> bytes:
    import numpy as np
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def write_pack(path: str | os.PathLike, config: dict, tensors: dict[str, np.ndarray], graphs: dict[str, bytes],
               fingerprint: bytes, parts: Iterable[str] = PARTS, base: "ModelPack | None" = None) -> Path:
    """Write a pack of ``parts`` of a model (its config, tensors and graphs as a model directory
    holds them, and its fingerprint); with a ``base`` pack, without the tensors the base holds byte
    for byte. Written beside and renamed, so never half there."""
    import numpy as np
    parts = [p for p in PARTS if p in set(parts)]
    if "decode" not in parts:
        raise ValueError("a pack holds at least the decode part")
    kept = part_tensors(tensors, parts)
    manifest = {"pack": PACK_VERSION, "fingerprint": fingerprint.hex(), "parts": parts, "config": config,
                "decode_digest": decode_digest(config["model"], tensors, graphs), "graphs": {}}
    shared: set[str] = set()
    if base is not None:
        manifest["pack"] = BASED_VERSION
        manifest["base"] = {"fingerprint": base.fingerprint.hex(), "decode_digest": base.decode_digest}
        shared = {name for name in kept if name in base.tensor_names() and _same(kept[name], base.tensor(name))}
    members: list[tuple[str, bytes, int]] = []
    for name, graph in part_graphs(graphs, parts).items():
        skeleton, splices = _splices(graph, kept)
        if _splice(skeleton, splices, kept.__getitem__) != graph:
            raise WeightsError(f"cannot pack {name}: its weights do not splice back")
        manifest["graphs"][name] = {"size": len(graph), "sha256": hashlib.sha256(graph).hexdigest(),
                                    "splices": [[o, n] for o, n in splices]}
        members.append((f"graphs/{name}", skeleton, zipfile.ZIP_DEFLATED))
    manifest["filled"] = {}
    for name in sorted(set(kept) - shared):
        fill = _fill_value(kept[name])
        if fill is None:
            members.append((f"tensors/{name}.npy", _npy(kept[name]), zipfile.ZIP_STORED))
            continue
        flat = np.ascontiguousarray(kept[name]).ravel()
        other = flat != fill
        manifest["filled"][name] = {"fill": fill, "dtype": flat.dtype.str, "shape": list(kept[name].shape)}
        members.append((f"tensors/{name}.mask.npy", _npy(np.packbits(other)), zipfile.ZIP_STORED))
        members.append((f"tensors/{name}.rest.npy", _npy(flat[other]), zipfile.ZIP_STORED))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for name, data, method in [(MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(),
                                        zipfile.ZIP_DEFLATED), *members]:
                info = zipfile.ZipInfo(name, _STAMP)
                info.compress_type = method
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """The same tensor byte for byte: dtype, shape and values (what the digests see)."""
    import numpy as np
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def _fill_value(t: np.ndarray) -> int | None:
    """The value most of an integer tensor holds, if it is worth storing apart."""
    import numpy as np
    if t.dtype.kind not in "iu" or t.size < FILL_MIN_SIZE:
        return None
    values, counts = np.unique(t, return_counts=True)
    top = int(np.argmax(counts))
    return int(values[top]) if counts[top] >= FILL_SHARE * t.size else None


class FilledRows:
    """A filled tensor (a value's mask and the other entries) expanded one row of its first axis at
    a time; ``shape``, ``dtype`` and ``ndim`` as the array's. The mask stays packed: unpacking
    all of it cost as much as expanding the whole table."""

    def __init__(self, dtype: np.dtype, shape: tuple[int, ...], fill: int | float, mask: np.ndarray,
                 rest: np.ndarray) -> None:
        import numpy as np
        self.dtype, self.shape, self.ndim, self._fill = dtype, shape, len(shape), fill
        if (not shape or min(shape) < 0 or mask.dtype != np.uint8 or mask.ndim != 1 or rest.ndim != 1
                or rest.dtype != dtype):
            raise ValueError("its shape, mask or entries are malformed")
        self._row = int(np.prod(shape[1:], dtype=np.int64))
        if mask.size * 8 < shape[0] * self._row:
            raise ValueError("its mask is shorter than the table")
        self._mask, self._rest = mask, rest
        self._starts = np.zeros(shape[0] + 1, np.int64)
        np.cumsum([self._bits(t).sum() for t in range(shape[0])], out=self._starts[1:])
        if rest.size != self._starts[-1]:
            raise ValueError("its entries do not match its mask")

    def _bits(self, t: int) -> np.ndarray:
        """Row ``t``'s mask: which of its entries are not the fill (bool)."""
        import numpy as np
        lo = t * self._row
        packed = self._mask[lo // 8:-(-(lo + self._row) // 8)]
        return np.unpackbits(packed)[lo % 8:lo % 8 + self._row].view(bool)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t: int) -> np.ndarray:
        import numpy as np
        if not 0 <= t < self.shape[0]:
            raise IndexError(t)
        out = np.full(self._row, self._fill, self.dtype)
        out[self._bits(t)] = self._rest[self._starts[t]:self._starts[t + 1]]
        return out.reshape(self.shape[1:])

    def count_per_row(self, value: int | float) -> np.ndarray:
        """How many entries of each row equal ``value``, without expanding any."""
        import numpy as np
        hits = np.zeros(self.shape[0], np.int64)
        if value == self._fill:
            hits += self._row - np.diff(self._starts)
        at = np.flatnonzero(self._rest == value)
        return hits + np.bincount(np.searchsorted(self._starts, at, side="right") - 1, minlength=self.shape[0])

    def whole(self) -> np.ndarray:
        import numpy as np
        return np.stack([self[t] for t in range(self.shape[0])]) if self.shape[0] else np.zeros(self.shape, self.dtype)


class ModelPack:
    """A pack opened for reading: its manifest at once, tensors and graphs when asked for."""

    def __init__(self, path: str | os.PathLike, depth: int = 0) -> None:
        self.path = Path(path)
        self._depth = depth
        try:
            self._zip = zipfile.ZipFile(self.path)
            manifest = json.loads(self._zip.read(MANIFEST))
            if manifest.get("pack") not in (PACK_VERSION, BASED_VERSION):
                raise WeightsError(f"{self.path} is a model pack of version {manifest.get('pack')!r}, "
                                   f"this vqcodec reads versions {PACK_VERSION} and {BASED_VERSION}")
            based = manifest["pack"] == BASED_VERSION
            self.base_fingerprint = bytes.fromhex(manifest["base"]["fingerprint"]) if based else None
            self._base_digest = str(manifest["base"]["decode_digest"]) if based else None
            self.fingerprint = bytes.fromhex(manifest["fingerprint"])
            self.parts = tuple(manifest["parts"])
            self.config = manifest["config"]
            self.decode_digest = str(manifest["decode_digest"])
            self._graphs = manifest["graphs"]
            self._filled = manifest.get("filled", {})
            if len(self.fingerprint) != 8 or "decode" not in self.parts or not isinstance(self.config.get("model"), dict):
                raise ValueError("malformed manifest")
        except (OSError, KeyError, ValueError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
            raise WeightsError(f"cannot read model pack {self.path}: {exc}") from exc
        self._names = {n[len("tensors/"):-len(".npy")] for n in self._zip.namelist()
                       if n.startswith("tensors/") and n.endswith(".npy")}
        self._names = {n for n in self._names if n.removesuffix(".mask").removesuffix(".rest") not in self._filled}
        self._names |= set(self._filled)
        self._cache: dict[str, np.ndarray] = {}
        self._base: ModelPack | None = None  # opened when first needed: listing packs reads manifests alone
        self._borrowed: set[str] | None = None

    def _opened_base(self) -> "ModelPack":
        """The base pack, found beside this one or on the model search path, and checked to be the
        one this pack was written against."""
        if self._base is None:
            from .models import find

            fp = self.base_fingerprint.hex()
            if self._depth >= MAX_BASES:
                raise WeightsError(f"{self.path} leans on more than {MAX_BASES} base packs")
            beside = self.path.with_name(fp + PACK_SUFFIX)
            where = beside if beside.is_file() else find(self.base_fingerprint)
            if where is None or not Path(where).is_file():
                raise WeightsError(f"{self.path} needs the pack of model {fp}, its base, which is not installed")
            base = ModelPack(where, self._depth + 1)
            if base.decode_digest != self._base_digest:
                base.close()
                raise WeightsError(f"{where} is not the base {self.path} was written against")
            self._base = base
        return self._base

    @property
    def has_encoder(self) -> bool:
        return "encode" in self.parts

    def _from_base(self) -> set[str]:
        """The tensors this pack takes from its base: those of its parts it does not hold itself."""
        if self._borrowed is None:
            self._borrowed = set() if self.base_fingerprint is None else {
                n for n in self._opened_base().tensor_names()
                if n not in self._names and ("encode" in self.parts or not is_encode_tensor(n))}
        return self._borrowed

    def tensor_names(self) -> list[str]:
        return sorted(self._names | self._from_base())

    def tensor(self, name: str) -> np.ndarray:
        if name not in self._names and name in self._from_base():
            return self._base.tensor(name)
        if name not in self._cache:
            try:
                self._cache[name] = self._filled_tensor(name) if name in self._filled else self._array(name)
            except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
                raise WeightsError(f"cannot read tensor {name} of {self.path}: {exc}") from exc
        return self._cache[name]

    def _array(self, member: str) -> np.ndarray:
        import numpy as np
        with self._zip.open(f"tensors/{member}.npy") as f:
            return np.lib.format.read_array(f, allow_pickle=False)

    def _filled_tensor(self, name: str) -> np.ndarray:
        return self._filled_rows(name).whole()

    def _filled_rows(self, name: str) -> "FilledRows":
        import numpy as np
        entry = self._filled[name]
        return FilledRows(np.dtype(entry["dtype"]), tuple(int(n) for n in entry["shape"]), entry["fill"],
                          self._array(f"{name}.mask"), self._array(f"{name}.rest"))

    def rows(self, name: str) -> "np.ndarray | FilledRows":
        """Tensor ``name`` to be read along its first axis: a filled table (the count tables, one
        set per row) as :class:`FilledRows`, which expands only the rows asked for (a file needs
        one of eleven sets; expanding all took 0.1 s of every command); any other as an array."""
        if name not in self._names and name in self._from_base():
            return self._opened_base().rows(name)
        if name not in self._filled or name in self._cache:
            return self.tensor(name)
        try:
            return self._filled_rows(name)
        except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
            raise WeightsError(f"cannot read tensor {name} of {self.path}: {exc}") from exc

    def tensors(self) -> dict[str, np.ndarray]:
        return {name: self.tensor(name) for name in self.tensor_names()}

    def graph_names(self) -> list[str]:
        return sorted(self._graphs)

    def graph(self, name: str) -> bytes | None:
        """The graph's bytes as the model directory held them, or None if the pack has no such graph."""
        entry = self._graphs.get(name)
        if entry is None:
            return None
        try:
            skeleton = self._zip.read(f"graphs/{name}")
            graph = _splice(skeleton, [(int(o), str(n)) for o, n in entry["splices"]], self.tensor)
        except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
            raise WeightsError(f"cannot read graph {name} of {self.path}: {exc}") from exc
        if len(graph) != entry["size"]:
            raise WeightsError(f"graph {name} of {self.path} does not splice to its size")
        return graph

    def graphs(self) -> dict[str, bytes]:
        return {name: self.graph(name) for name in self.graph_names()}

    def verify(self) -> None:
        """Recompute what the pack claims: the fingerprint if it holds the whole model, the decode
        digest always; zip's CRCs check every member on the way. WeightsError if anything differs."""
        tensors, graphs = self.tensors(), self.graphs()
        model = self.config["model"]
        for name, entry in self._graphs.items():
            if hashlib.sha256(graphs[name]).hexdigest() != entry["sha256"]:
                raise WeightsError(f"{self.path}: graph {name} differs from the one packed")
        if decode_digest(model, tensors, graphs) != self.decode_digest:
            raise WeightsError(f"{self.path}: its decode part differs from the one packed")
        if self.has_encoder and fingerprint(model, tensors, graphs) != self.fingerprint:
            raise WeightsError(f"{self.path}: its tensors and graphs do not give fingerprint {self.fingerprint.hex()}")

    def close(self) -> None:
        self._zip.close()
        if self._base is not None:
            self._base.close()
