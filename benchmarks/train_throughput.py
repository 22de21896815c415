"""Training throughput: optimizer steps and crops per second, alone or under torchrun.

    python -m benchmarks.train_throughput DATA [--batch-size 16] [--steps 40] [--model weights]
    OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 -m benchmarks.train_throughput DATA --batch-size 8

Starts from an exported model (quantized steps straight away, as ``--init`` does), runs
5 warm-up steps, then times ``--steps`` steps; rank 0 prints steps/s and crops/s over all
processes. A few photos of the training folder are enough (all are decoded first).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch

from vqcodec.training import distributed
from vqcodec.training.train import TrainConfig, Trainer
from vqcodec.weights import DEFAULT_WEIGHTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="folder of training photos")
    parser.add_argument("--batch-size", type=int, default=16, help="crops per step and process")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--model", default=str(DEFAULT_WEIGHTS))
    args = parser.parse_args(argv)
    cfg = replace(TrainConfig(), steps=10**9, ae_steps=0, batch_size=args.batch_size,
                  checkpoint_minutes=1e9, val_every=10**9)
    with tempfile.TemporaryDirectory() as run_dir:
        t = Trainer(args.data, run_dir, cfg, log=lambda s: None)
        t.init_from(args.model)
        t.run(until=t.step + 5)
        start, first = time.monotonic(), t.step
        t.run(until=t.step + args.steps)
        rate = (t.step - first) / (time.monotonic() - start)
        if t.group.main:
            print(f"{t.group.world} process(es) x {torch.get_num_threads()} thread(s), {args.batch_size} crops "
                  f"each: {rate:.3f} steps/s, {rate * args.batch_size * t.group.world:.1f} crops/s")
        distributed.barrier()
    distributed.leave()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
