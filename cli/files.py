"""Safe output: a file appears under its name complete, or not at all.

On Linux the data goes to an unnamed ``O_TMPFILE`` that is linked into place
only once written, so even ``kill -9`` leaves nothing behind; elsewhere a
hidden temporary file beside the target is renamed (and removed on errors and
on SIGINT/SIGTERM). An existing file is replaced only with ``force``.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from vqcodec.errors import VqcError


class OutputError(VqcError):
    """The output cannot be written; the message names the output, not the input."""


class OutputExistsError(OutputError):
    """The output file exists and --force was not given."""


def check_writable(path: Path, force: bool) -> None:
    if path.is_dir():
        raise OutputExistsError(f"{path} is a directory")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists (use --force to overwrite)")


def _exists_error(path: Path) -> OutputExistsError:
    return OutputExistsError(f"{path} already exists (use --force to overwrite)")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _write_unnamed(path: Path, data: bytes, force: bool) -> bool:
    """Write through O_TMPFILE; False if the platform or filesystem lacks it."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return False
    try:
        fd = os.open(path.parent, flag | os.O_WRONLY, 0o666)
    except OSError:
        return False
    proc = -1
    try:
        _write_all(fd, data)
        # With a src_dir_fd, os.link uses linkat(AT_SYMLINK_FOLLOW): the magic
        # /proc/self/fd link then names the open file itself.
        proc = os.open("/proc/self/fd", os.O_RDONLY)
        source = str(fd)
        if not force:
            try:
                os.link(source, path, src_dir_fd=proc)  # atomic, and fails rather than clobber
            except FileExistsError as exc:
                raise _exists_error(path) from exc
            return True
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        os.link(source, staging, src_dir_fd=proc)
        try:
            os.replace(staging, path)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        return True
    finally:
        os.close(fd)
        if proc >= 0:
            os.close(proc)


def write_atomic(path: Path, data: bytes, force: bool) -> None:
    """Write ``data`` to ``path`` all at once or not at all."""
    path = Path(path)
    check_writable(path, force)
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write: directory {path.parent} does not exist")
    try:
        _write(path, data, force)
    except OutputError:
        raise
    except OSError as exc:  # the temporary file's name would only confuse: name the target
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def _write(path: Path, data: bytes, force: bool) -> None:
    if _write_unnamed(path, data, force):
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        _write_all(fd, data)
        os.close(fd)
        fd = -1
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError as exc:
                raise _exists_error(path) from exc
    finally:
        if fd >= 0:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
