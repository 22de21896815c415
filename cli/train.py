"""``vqcodec train``: train a model on a folder of photos."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

DEFAULT_RUNS = Path(os.environ.get("VQCODEC_CACHE", Path.home() / ".cache" / "vqcodec")) / "runs"


@click.command("train")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--run", "run_name", default="default", show_default=True,
              help=f"Run name; checkpoints go to {DEFAULT_RUNS}/RUN.")
@click.option("-o", "--out", type=click.Path(file_okay=False), default=None,
              help="Where to write the finished model (default: RUN_DIR/model).")
@click.option("--steps", default=20000, show_default=True, help="Total optimizer steps of the run.")
@click.option("--ae-steps", default=1500, show_default=True, help="Autoencoder warm-up steps before quantization.")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--crop", default=128, show_default=True, help="Side of the random training crops.")
@click.option("--lr", default=3e-4, show_default=True, help="Peak Adam learning rate (cosine schedule).")
@click.option("--channels", default=128, show_default=True, help="Width of the transforms.")
@click.option("--latent-dim", default=32, show_default=True, help="Dimension of the code vectors.")
@click.option("--stages", default=8, show_default=True, help="Residual VQ stages (= quality levels).")
@click.option("--codebook-size", default=256, show_default=True)
@click.option("--block-transform/--no-block-transform", default=True, show_default=True,
              help="Linear 8x8 block path (PCA-initialised) beside the nonlinear transforms.")
@click.option("--seed", default=0, show_default=True)
@click.option("--checkpoint-minutes", default=5.0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda.")
@click.option("--resume", is_flag=True, help="Continue the run from its last checkpoint.")
@click.option("--export-only", is_flag=True,
              help="Only export the run's last checkpoint (with a freshly measured prior) to --out.")
@click.option("--init", "init_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Start from an exported model (fresh optimizer), e.g. the shipped weights.")
def train_command(data_dir: str, run_name: str, out: str | None, steps: int, ae_steps: int, batch_size: int,
                  crop: int, lr: float, channels: int, latent_dim: int, stages: int, codebook_size: int,
                  block_transform: bool, seed: int, checkpoint_minutes: float, device: str, resume: bool, export_only: bool,
                  init_dir: str | None) -> None:
    """Train a model on the photos in DATA_DIR and export it.

    Checkpoints are written every few minutes; rerun with --resume to continue
    (a finished run given --resume only re-exports). The exported directory
    (model.safetensors + config.json) loads with vqcodec.load_model(DIR) and
    the CLI's --model DIR.
    """
    from vqcodec.model import ModelConfig
    from vqcodec.train import TrainConfig, train

    model = ModelConfig(channels=channels, latent_dim=latent_dim, stages=stages, codebook_size=codebook_size,
                        block_transform=block_transform)
    cfg = replace(TrainConfig(), steps=steps, ae_steps=ae_steps, batch_size=batch_size, crop=crop, lr=lr,
                  seed=seed, checkpoint_minutes=checkpoint_minutes, device=device, model=model)
    run_dir = DEFAULT_RUNS / run_name
    train(data_dir, run_dir, cfg, out or run_dir / "model", resume=resume, init=init_dir,
          export_only=export_only, log=click.echo)
