"""Training on several processes: torch.distributed as torchrun sets it up.

``torchrun --nproc_per_node N -m vqcodec_cli train DATA ...`` starts N copies of
the trainer with RANK, LOCAL_RANK and WORLD_SIZE in their environment; each
joins the process group (gloo on CPU, NCCL on CUDA, one GPU per local rank) and
trains DistributedDataParallel on its own share of the photos. Without those
variables (a plain ``vqcodec train``) nothing here does anything: one process
trains exactly as it always has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0 alone validates, logs, writes checkpoints and exports."""
        return self.rank == 0


def join(device: str) -> Group:
    """Join the process group torchrun describes in the environment (or stay alone)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return Group(dist.get_rank(), dist.get_world_size(), local)


def device_for(device: str, group: Group) -> torch.device:
    """One GPU per local rank; the CPU is shared."""
    if group.active and device == "cuda":
        return torch.device("cuda", group.local_rank)
    return torch.device(device)


def _on() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def sum_(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over all processes, in place (a no-op alone)."""
    if _on():
        dist.all_reduce(t)
    return t


def world_size() -> int:
    return dist.get_world_size() if _on() else 1


def share(module: nn.Module) -> None:
    """Every parameter and buffer of ``module`` set to rank 0's (after an initialisation
    only rank 0's data decided: block PCA, k-means)."""
    if _on():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, 0)


def agree(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (a decision by the clock, such as when to checkpoint,
    must be taken once, or the processes would wait for each other forever)."""
    if not _on():
        return flag
    t = torch.tensor([int(flag)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.broadcast(t, 0)
    return bool(t.item())


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not _on():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if _on():
        dist.barrier()


def leave() -> None:
    """Leave the process group, all processes together: a process that destroyed its group while
    another still had work in flight was aborted at exit now and then ("terminate called without
    an active exception", SIGABRT; twice in five full test runs of stop 35)."""
    if _on():
        dist.barrier()
        dist.destroy_process_group()
