"""The installed ``vqcodec`` command run as users run it: one whole process per call."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

#: Runs a command and prints its peak RSS (MB): this wrapper's children are that command alone.
_MEASURED = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")


def vqcodec_command() -> str:
    """The ``vqcodec`` script of this interpreter's environment."""
    return shutil.which("vqcodec", path=str(Path(sys.executable).parent)) or "vqcodec"


#: As an installed package runs: pip writes bytecode when it installs, so a user's process
#: never compiles the modules; a machine that sets PYTHONDONTWRITEBYTECODE (this one) would
#: compile them on every run (30-80 ms of a command).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def seconds(*args: str, runs: int = 5) -> float:
    """Median wall time of ``runs`` whole processes running ``args`` (a first run warms the disk
    cache and writes the bytecode)."""
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_ENV)
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[runs // 2]


def peak(*args: str) -> dict:
    """Seconds and peak RSS (MB) of one whole ``vqcodec ARGS`` process."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _MEASURED, vqcodec_command(), *args], capture_output=True, text=True,
                         check=True)
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": float(out.stdout.split()[-1])}
