"""Where models are found: every model a release shipped, addressed by its fingerprint.

A ``.vqc`` file names the model that made it by its 8-byte fingerprint, and models never
change: a new model is a new fingerprint. To decode a file, vqcodec looks for a pack
(:mod:`modelpack`) named ``<fingerprint>.vqm`` along a search path (docs/models.md):

1. folders, packs or model directories given explicitly (``--model``, ``model_path=``);
2. the folders in ``VQCODEC_MODEL_PATH`` (separated by ``os.pathsep``);
3. the user's model folder (``vqcodec models add`` puts packs there): ``$VQCODEC_HOME/models``,
   else ``$XDG_DATA_HOME/vqcodec/models``, else ``~/.local/share/vqcodec/models``
   (``%LOCALAPPDATA%\\vqcodec\\models`` on Windows);
4. the package's own ``weights`` folder: the current model whole, and the decode part of
   earlier releases' models.

The package also lists every model any release shipped (``weights/releases.json``), so a file
whose model is not at hand gets a message naming the release that shipped it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from .errors import WeightsError
from .modelpack import PACK_SUFFIX, ModelPack, write_pack

#: A model directory's tensors (training writes directories; releases carry packs).
WEIGHTS_FILE = "model.safetensors"
#: In a folder of releases (the package's weights): the current model and every release's model.
RELEASES_FILE = "releases.json"
#: Where the shipped models live inside the installed package.
DEFAULT_WEIGHTS = Path(__file__).parent / "weights"

ENV_PATH = "VQCODEC_MODEL_PATH"
ENV_HOME = "VQCODEC_HOME"


def user_dir() -> Path:
    """The folder ``vqcodec models add`` installs into."""
    if os.environ.get(ENV_HOME):
        return Path(os.environ[ENV_HOME]) / "models"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "vqcodec" / "models"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "vqcodec" / "models"


def search_path(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Where models are looked for, first to last."""
    env = [Path(p) for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p]
    return [*(Path(p) for p in extra), *env, user_dir(), DEFAULT_WEIGHTS]


@dataclass(frozen=True)
class Release:
    """A model some release shipped: when, in which commit, the format version it wrote, and (for
    the models the package carries) the digest of its decode part."""

    fingerprint: str
    shipped: str
    commit: str
    format: int
    decode_digest: str | None = None

    def describe(self) -> str:
        return f"shipped {self.shipped} in commit {self.commit}, format {self.format}"


@lru_cache(maxsize=1)
def releases() -> dict[str, Release]:
    """Every model a release shipped, by fingerprint (hex)."""
    try:
        data = json.loads((DEFAULT_WEIGHTS / RELEASES_FILE).read_text())
        return {r["fingerprint"]: Release(**r) for r in data["releases"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"cannot read {DEFAULT_WEIGHTS / RELEASES_FILE}: {exc}") from exc


@dataclass(frozen=True)
class Installed:
    """A model found on the search path."""

    fingerprint: str
    path: Path
    parts: tuple[str, ...]  # ("decode",) or ("decode", "encode")
    size: int  # bytes on disk
    base: str | None = None  # the model whose pack holds the tensors this one leaves out

    @property
    def where(self) -> str:
        if self.path.parent == DEFAULT_WEIGHTS or self.path.parent.resolve() == DEFAULT_WEIGHTS.resolve():
            return "package"
        if self.path.parent == user_dir():
            return "user"
        return "path"


def _entry(path: Path) -> Installed | None:
    """The model at ``path`` (a pack or a model directory), or None if it is neither."""
    if path.is_file() and path.suffix == PACK_SUFFIX:
        pack = ModelPack(path)
        try:
            base = None if pack.base_fingerprint is None else pack.base_fingerprint.hex()
            return Installed(pack.fingerprint.hex(), path, pack.parts, path.stat().st_size, base)
        finally:
            pack.close()
    if path.is_dir() and (path / WEIGHTS_FILE).is_file():
        files = [f.stat() for f in path.iterdir() if f.is_file()]
        stamp = tuple(sorted((f.st_mtime_ns, f.st_size) for f in files))
        return Installed(_directory_fingerprint(path, stamp), path, ("decode", "encode"), sum(f.st_size for f in files))
    return None


@lru_cache(maxsize=8)
def _directory_fingerprint(path: Path, stamp: tuple) -> str:
    """A model directory's fingerprint, hashed once while its files stay as they are (``stamp``):
    decoding file after file with ``model_path=[DIR]`` looks it up every time."""
    from .weights import open_model

    return open_model(path).fingerprint.hex()


def installed(extra: Iterable[str | os.PathLike] = ()) -> list[Installed]:
    """Every model on the search path, first found first (a fingerprint found twice: the first)."""
    found: dict[str, Installed] = {}
    for place in search_path(extra):
        candidates = [place]
        if place.is_dir() and not (place / WEIGHTS_FILE).is_file():
            candidates = sorted(place.glob(f"*{PACK_SUFFIX}"))
        for candidate in candidates:
            try:
                entry = _entry(candidate)
            except WeightsError:
                continue  # a broken pack is reported by verify, not in the way of the others
            if entry is not None and entry.fingerprint not in found:
                found[entry.fingerprint] = entry
    return list(found.values())


def find(fingerprint: bytes, extra: Iterable[str | os.PathLike] = ()) -> Path | None:
    """The pack or model directory of ``fingerprint`` on the search path, or None."""
    name = fingerprint.hex() + PACK_SUFFIX
    for place in search_path(extra):
        if place.is_file() or (place / WEIGHTS_FILE).is_file():  # a model given by itself
            try:
                entry = _entry(place)
            except WeightsError:
                continue
            if entry is not None and entry.fingerprint == fingerprint.hex():
                return place
        elif (place / name).is_file():
            return place / name
    return None


def release_note(fingerprint: bytes) -> str:
    """Which release shipped the model of ``fingerprint``, as far as this package knows."""
    release = releases().get(fingerprint.hex())
    return "no vqcodec release shipped it" if release is None else release.describe()


def missing(fingerprint: bytes) -> str:
    """One line for a file whose model is not on the search path."""
    release = releases().get(fingerprint.hex())
    if release is None:
        how = "add its pack with 'vqcodec models add PACK' or give it with --model"
    elif release.decode_digest:
        how = "this vqcodec ships it, so its package is incomplete: reinstall vqcodec"
    else:
        how = f"decode it with vqcodec at commit {release.commit}, which reads format {release.format}"
    return f"made by model {fingerprint.hex()} ({release_note(fingerprint)}), which is not installed: {how}"


def explain(error: Exception) -> str:
    """``error``'s message, naming the release that shipped the model of a file of an older format."""
    fingerprint = getattr(error, "fingerprint", None)
    if fingerprint is None:
        return str(error)
    return f"{error} (model {fingerprint.hex()}, {release_note(fingerprint)})"


def verify(path: str | os.PathLike) -> Installed:
    """Check a pack (or model directory) against what it claims and, for a model a release
    shipped, against the release's own record of its decode part."""
    path = Path(path)
    if path.is_dir():
        entry = _entry(path)  # a directory's fingerprint is computed from its files
        if entry is None:
            raise WeightsError(f"{path} is neither a model pack nor a model directory")
        return entry
    pack = ModelPack(path)
    try:
        pack.verify()
        release = releases().get(pack.fingerprint.hex())
        if release is not None and release.decode_digest and release.decode_digest != pack.decode_digest:
            raise WeightsError(f"{path}: its decode part is not the one release {release.commit} shipped "
                               f"for model {release.fingerprint}")
        return Installed(pack.fingerprint.hex(), path, pack.parts, path.stat().st_size)
    finally:
        pack.close()


def pack_model(source: str | os.PathLike, target: str | os.PathLike, parts: Sequence[str] = ("decode", "encode"),
               base: str | os.PathLike | None = None) -> Path:
    """Write a pack of ``parts`` of the model at ``source`` (a model directory or a pack) to ``target``
    (a file, or a folder where it is named by the fingerprint); with ``base`` (a pack), without the
    tensors that pack holds byte for byte: it must then travel with the base."""
    from .weights import open_model

    stored = open_model(source)
    if "encode" in parts and not stored.encoder:
        raise WeightsError(f"{stored.where} holds only the decode part")
    target = Path(target)
    if target.is_dir():
        target = target / f"{stored.fingerprint.hex()}{PACK_SUFFIX}"
    graphs = {name: stored.graph(name) for name in stored.graph_names}
    tensors = dict(stored.tensors)
    if base is None:
        return write_pack(target, stored.config, tensors, graphs, stored.fingerprint, parts)
    based_on = ModelPack(base)
    try:
        if based_on.fingerprint == stored.fingerprint:
            raise WeightsError(f"{base} is the model itself, not a base for it")
        return write_pack(target, stored.config, tensors, graphs, stored.fingerprint, parts, based_on)
    finally:
        based_on.close()


def add(source: str | os.PathLike, decode_only: bool = False) -> Installed:
    """Install the model at ``source`` (a pack or a model directory) into the user's folder, verified."""
    source = Path(source)
    folder = user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if source.is_file() and not decode_only:
        entry = verify(source)
        target = folder / f"{entry.fingerprint}{PACK_SUFFIX}"
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    else:
        target = pack_model(source, folder, ("decode",) if decode_only else ("decode", "encode"))
    return verify(target)


def remove(fingerprint: str) -> Path:
    """Remove a model from the user's folder (the package's own stay)."""
    try:
        if len(bytes.fromhex(fingerprint)) != 8:
            raise ValueError
    except ValueError:
        raise WeightsError(f"{fingerprint!r} is not a model fingerprint (16 hex digits)") from None
    target = user_dir() / f"{fingerprint.lower()}{PACK_SUFFIX}"
    if not target.is_file():
        raise WeightsError(f"model {fingerprint} is not in {user_dir()} (only models added there can be removed)")
    leaning = [e.fingerprint for e in installed() if e.base == fingerprint.lower()]
    if leaning and not any(e.fingerprint == fingerprint.lower() and e.path != target for e in installed()):
        raise WeightsError(f"model {', '.join(leaning)} reads the rest of its pack from {fingerprint}: remove "
                           "that first")
    target.unlink()
    return target
