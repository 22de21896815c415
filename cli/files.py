"""Safe output: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, an existing file is replaced only with
``force``, and an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vqcodec.errors import VqcError


class OutputExistsError(VqcError):
    """The output file exists and --force was not given."""


def check_writable(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists (use --force to overwrite)")
    if path.is_dir():
        raise OutputExistsError(f"{path} is a directory")


def write_atomic(path: Path, data: bytes, force: bool) -> None:
    """Write ``data`` to ``path`` all at once or not at all."""
    check_writable(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the path appeared meanwhile: never clobber
            os.unlink(tmp)
    except FileExistsError as exc:
        os.unlink(tmp)
        raise OutputExistsError(f"{path} already exists (use --force to overwrite)") from exc
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
