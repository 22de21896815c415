"""Progress of long work, for whoever is watching (the command line's bars).

The library never prints: its long loops (the transforms' tiles, the coder's codebooks) call
:func:`tick`, which does nothing unless a caller installed a hook with :func:`reporting`.
The hook is a context variable, so threads and other callers are not affected.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

#: ``hook(stage, done, total)``: ``done`` of ``total`` units of ``stage`` ("encoding",
#: "coding", "decoding") are finished.
Hook = Callable[[str, int, int], None]

_hook: ContextVar[Hook | None] = ContextVar("vqcodec_progress", default=None)


@contextmanager
def reporting(hook: Hook) -> Iterator[None]:
    """Send the progress of the work inside the block to ``hook``."""
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


def tick(stage: str, done: int, total: int) -> None:
    hook = _hook.get()
    if hook is not None:
        hook(stage, done, total)
