"""Training under torchrun: 2 processes on gloo (CPU) against one process, tiny model."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from vqcodec.training import distributed
from vqcodec.training.train import Trainer
from vqcodec.weights import load_model

from .test_train import CFG, _data

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(scenario, *args) -> None:
    port = _free_port()
    mp.spawn(_worker, args=(scenario, port, *args), nprocs=WORLD, join=True)


def _worker(rank: int, scenario, port: int, *args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    try:
        scenario(rank, *args)
    finally:
        distributed.leave()


def _fixed_batch(n: int) -> torch.Tensor:
    return torch.rand(n, 3, CFG.crop, CFG.crop, generator=torch.Generator().manual_seed(5))


def _same_steps(rank: int, data: Path, model_dir: Path, out: Path) -> None:
    cfg = replace(CFG, nearest_share=1.0, steps=CFG.ae_steps + 3)
    t = Trainer(data, out / "ddp", cfg, log=lambda s: None)
    t.init_from(model_dir)
    batch = _fixed_batch(WORLD * cfg.batch_size)
    t.sampler.batch = lambda n: batch[rank * n:(rank + 1) * n]  # this rank's half of the combined batch
    t.run()
    if rank == 0:
        torch.save({"model": t.net.state_dict(), "usage": t.net.quantizer.usage}, out / "ddp.pt")


def test_ddp_steps_equal_one_process_with_the_combined_batch(tmp_path, tiny_model_dir):
    data = _data(tmp_path)
    _spawn(_same_steps, data, tiny_model_dir, tmp_path)
    cfg = replace(CFG, nearest_share=1.0, steps=CFG.ae_steps + 3, batch_size=WORLD * CFG.batch_size)
    alone = Trainer(data, tmp_path / "alone", cfg, log=lambda s: None)
    alone.init_from(tiny_model_dir)
    batch = _fixed_batch(cfg.batch_size)
    alone.sampler.batch = lambda n: batch
    alone.run()
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    start = load_model(tiny_model_dir, backend="torch").net.state_dict()
    for k, v in alone.net.state_dict().items():
        assert torch.allclose(ddp["model"][k], v, rtol=1e-4, atol=1e-6), k
    assert any(not torch.allclose(start[k], v) for k, v in alone.net.state_dict().items())  # the steps moved it
    assert torch.allclose(ddp["usage"], alone.net.quantizer.usage, atol=1e-7)  # usage counts every rank's codes


def _resume_and_agree(rank: int, data: Path, out: Path) -> None:
    cfg = replace(CFG, steps=10)
    straight = Trainer(data, out / "a", cfg, log=lambda s: None)
    straight.run()  # crosses the k-means switch at step 4
    books = distributed.gather(straight.net.quantizer.codebooks.detach().clone())
    weights = distributed.gather({k: v.clone() for k, v in straight.net.state_dict().items()})
    first = Trainer(data, out / "b", cfg, log=lambda s: None)
    first.run(until=6)
    first.save_checkpoint()
    second = Trainer(data, out / "b", cfg, log=lambda s: None)
    second.resume()
    second.run()
    if rank == 0:
        assert all(torch.equal(books[0], b) for b in books[1:]), "k-means differs between ranks"
        assert all(torch.equal(weights[0][k], w[k]) for w in weights[1:] for k in w), "ranks diverged"
        for k, v in straight.net.state_dict().items():
            assert torch.equal(v, second.net.state_dict()[k]), f"resume differs at {k}"
        (out / "ok").write_text("yes")


def test_resumed_ddp_run_ends_where_an_uninterrupted_one_does(tmp_path):
    data = _data(tmp_path)
    _spawn(_resume_and_agree, data, tmp_path)
    assert (tmp_path / "ok").read_text() == "yes"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["checkpoint.pt"]  # rank 0's file alone
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ck["rank_rngs"].shape[0] == WORLD  # every rank's random state, so the resume is exact


def _mismatched_resume(rank: int, data: Path, out: Path) -> None:
    t = Trainer(data, out / "one", CFG, log=lambda s: None)
    with pytest.raises(ValueError, match="1 training processes"):
        t.resume()


def test_a_checkpoint_resumes_with_as_many_processes(tmp_path):
    data = _data(tmp_path)
    Trainer(data, tmp_path / "one", replace(CFG, steps=2), log=lambda s: None).run()
    _spawn(_mismatched_resume, data, tmp_path)
