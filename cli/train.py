"""``vqcodec train``: train a model on a folder of photos."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

import click

DEFAULT_RUNS = Path(os.environ.get("VQCODEC_CACHE", Path.home() / ".cache" / "vqcodec")) / "runs"


def _export_job(job: Callable[[], object], hint: str | None = None) -> None:
    """Run a one-shot export (a prior measured anew, a model widened or densified), its errors
    as one-line messages: a ValueError blames the option ``hint`` (usage, exit 2), a VqcError
    the data or model (exit 1)."""
    from vqcodec.errors import VqcError

    try:
        job()
    except ValueError as exc:
        if hint is None:
            raise
        raise click.BadParameter(str(exc), param_hint=hint) from None
    except VqcError as exc:
        click.echo(f"vqcodec: error: {exc}", err=True)
        raise SystemExit(1) from None


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
@click.option("--synthetic", default=0.0, show_default=True,
              help="Share of training crops drawn as random text or smooth gradients instead of photo crops.")
@click.option("--lr", type=float, default=None,
              help="Peak Adam learning rate (cosine schedule) [default: 3e-4; 5e-5 when fine-tuning].")
@click.option("--channels", default=128, show_default=True, help="Width of the transforms.")
@click.option("--latent-dim", default=64, show_default=True, help="Dimension of the latent vectors.")
@click.option("--sub-dim", default=1, show_default=True,
              help="Dimension of each sub-vector with its own codebook (latent-dim / sub-dim codebooks).")
@click.option("--codebook-size", default=256, show_default=True, help="Codes per codebook.")
@click.option("--block-transform/--no-block-transform", default=True, show_default=True,
              help="Linear 8x8 block path (PCA-initialised) beside the nonlinear transforms.")
@click.option("--rate-weights", type=(float, float), default=(3e-5, 0.3), show_default=True,
              help="Range (low, high) of the per-image rate weight training draws its code choices from; "
                   "the high end sets the lowest rate the decoder learns to serve.")
@click.option("--quality-lambdas", type=(float, float), default=(None, None),
              help="Rate weights of quality 0 and quality 100 in the exported model "
                   "(default: the training range, 0.3 and 3e-5).")
@click.option("--seed", default=0, show_default=True)
@click.option("--checkpoint-minutes", default=5.0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cuda.")
@click.option("--resume", is_flag=True, help="Continue the run from its last checkpoint.")
@click.option("--export-only", is_flag=True,
              help="Only export the run's last checkpoint (with a freshly measured prior) to --out.")
@click.option("--init", "init_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Start from an exported model (fresh optimizer), e.g. the shipped weights.")
@click.option("--finetune-decoder", "finetune_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Tune only the decoder of this exported model, for --steps steps, on the codes its prior "
                   "makes at every quality (every image keeps its codes); writes the model to --out.")
@click.option("--finetune-network", "finetune_net_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Like --finetune-decoder, but the encoder learns too (codebooks and prior fixed, the encoder "
                   "pulled toward the codes files hold); re-measure the prior afterwards.")
@click.option("--move-codebooks", is_flag=True,
              help="With --finetune-network: the codebooks move too, each code toward the mean of the latents "
                   "rate control gives it.")
@click.option("--grow-decoder", default=0, show_default=True,
              help="When fine-tuning: first add this many residual blocks to the decoder at 1/8 scale "
                   "(starting as the identity; they learn at training's rate).")
@click.option("--grow-encoder", default=0, show_default=True,
              help="With --finetune-network: first add this many residual blocks to the encoder at 1/8 scale "
                   "(starting as the identity): a stronger analysis costs encode time, not decode time.")
@click.option("--modulate-decoder", is_flag=True,
              help="When fine-tuning: first give the decoder a per-channel scale and shift for each table set "
                   "of the prior (starting as the identity), so it learns what each rate's codes need.")
@click.option("--narrow-decoder", default=None, metavar="QUARTER,HALF",
              help="With --finetune-decoder: first narrow the decoder to QUARTER channels at 1/4 scale and HALF "
                   "at 1/2 (e.g. 96,48: 30% fewer multiply-accumulates), keeping the channels that carry the most; "
                   "give a larger --lr than a plain fine-tune's (2e-4 recovered 96,48 in 2000 steps).")
@click.option("--with-correction", is_flag=True,
              help="When fine-tuning: add to the decoder's output the colour correction files would carry, "
                   "so the decoder learns what the correction leaves to it.")
@click.option("--remeasure-prior", "reprior_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Measure the prior of this exported model anew on DATA_DIR, with no training (after a "
                   "change of the prior's design; older models load this way), and write the model to --out.")
@click.option("--recount-prior", "recount_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Count this exported model's prior --rounds more times on DATA_DIR (codes chosen under its "
                   "adaptation, adaptive codebooks chosen anew), with no training and no table design, and "
                   "write the model to --out.")
@click.option("--rounds", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Counting rounds of --recount-prior (about 17 minutes each on 2 cores for the 417 photos "
                   "an export counts on in the 425-photo set).")
@click.option("--photos", "prior_photos", type=click.IntRange(1), default=None,
              help="About how many training photos --recount-prior counts on (default: as an export does).")
@click.option("--widen-latent", "widen_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Widen this exported model's latent to --latent-dim channels (the new ones start as a linear "
                   "block path fitted to what the model fails to reconstruct), measure its prior on DATA_DIR "
                   "and write the model to --out; then fine-tune it with --finetune-network.")
@click.option("--densify-codebooks", "densify_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Give this exported model's 1-D codebooks twice as many codes (the midpoints of its codes), "
                   "measure its prior on DATA_DIR and write the model to --out; then fine-tune it with "
                   "--finetune-network --move-codebooks.")
def train_command(data_dir: str, run_name: str, out: str | None, steps: int, ae_steps: int, batch_size: int,
                  crop: int, synthetic: float, lr: float | None, channels: int, latent_dim: int, sub_dim: int, codebook_size: int,
                  block_transform: bool, rate_weights: tuple[float, float], quality_lambdas: tuple[float | None, float | None], seed: int,
                  checkpoint_minutes: float, device: str, resume: bool, export_only: bool, init_dir: str | None,
                  finetune_dir: str | None, finetune_net_dir: str | None, move_codebooks: bool, grow_decoder: int, grow_encoder: int,
                  modulate_decoder: bool, narrow_decoder: str | None, with_correction: bool, reprior_dir: str | None, recount_dir: str | None,
                  rounds: int, prior_photos: int | None, widen_dir: str | None, densify_dir: str | None) -> None:
    """Train a model on the photos in DATA_DIR and export it.

    Checkpoints are written every few minutes; rerun with --resume to continue
    (a finished run given --resume only re-exports). The exported directory
    (model.safetensors, config.json and the ONNX graphs) loads with vqcodec.load_model(DIR) and
    the CLI's --model DIR.
    """
    from vqcodec.errors import VqcError
    from vqcodec.training.model import ModelConfig
    from vqcodec.training.train import TrainConfig, densify_codebooks, recount_prior, remeasure_prior, train, widen_latent

    model_out = out or str(DEFAULT_RUNS / run_name / "model")
    if reprior_dir is not None:
        _export_job(lambda: remeasure_prior(reprior_dir, data_dir, model_out, device, log=click.echo))
        return
    if recount_dir is not None:
        _export_job(lambda: recount_prior(recount_dir, data_dir, model_out, rounds, device, log=click.echo,
                                          **({} if prior_photos is None else {"photos": prior_photos})))
        return
    if widen_dir is not None:
        _export_job(lambda: widen_latent(widen_dir, data_dir, model_out, latent_dim, device, seed=seed, crop=crop,
                                         log=click.echo), "--latent-dim")
        return
    if densify_dir is not None:
        _export_job(lambda: densify_codebooks(densify_dir, data_dir, model_out, device, log=click.echo),
                    "--densify-codebooks")
        return
    if move_codebooks and finetune_net_dir is None:
        raise click.UsageError("--move-codebooks needs --finetune-network")
    if grow_decoder and finetune_dir is None and finetune_net_dir is None:
        raise click.UsageError("--grow-decoder needs --finetune-decoder or --finetune-network")
    if modulate_decoder and finetune_dir is None and finetune_net_dir is None:
        raise click.UsageError("--modulate-decoder needs --finetune-decoder or --finetune-network")
    narrow_to = None
    if narrow_decoder is not None:
        if finetune_dir is None:
            raise click.UsageError("--narrow-decoder needs --finetune-decoder")
        try:
            narrow_to = tuple(int(v) for v in narrow_decoder.split(","))
        except ValueError:
            narrow_to = ()
        if len(narrow_to) != 2 or min(narrow_to) < 1:
            raise click.BadParameter(f"{narrow_decoder!r} is not two channel counts QUARTER,HALF",
                                     param_hint="--narrow-decoder")
    if with_correction and finetune_dir is None and finetune_net_dir is None:
        raise click.UsageError("--with-correction needs --finetune-decoder or --finetune-network")
    if grow_encoder and finetune_net_dir is None:
        raise click.UsageError("--grow-encoder needs --finetune-network")
    for blocks, hint in ((grow_decoder, "--grow-decoder"), (grow_encoder, "--grow-encoder")):
        if blocks < 0:
            raise click.BadParameter(f"{blocks} blocks", param_hint=hint)
    if not 0 <= synthetic <= 1:
        raise click.BadParameter(f"{synthetic} is not a share between 0 and 1", param_hint="--synthetic")
    if finetune_dir is not None or finetune_net_dir is not None:
        if finetune_dir is not None and finetune_net_dir is not None:
            raise click.UsageError("give --finetune-decoder or --finetune-network, not both")
        _finetune(data_dir, finetune_dir or finetune_net_dir, out or str(DEFAULT_RUNS / run_name / "model"), steps,
                  batch_size, crop, seed, checkpoint_minutes, device, encoder=finetune_net_dir is not None, lr=lr,
                  codebooks=move_codebooks, grow_decoder=grow_decoder, grow_encoder=grow_encoder,
                  modulate=modulate_decoder, synthetic=synthetic, correct=with_correction, narrow_to=narrow_to)
        return

    model = ModelConfig(channels=channels, latent_dim=latent_dim, sub_dim=sub_dim, codebook_size=codebook_size,
                        block_transform=block_transform)
    cfg = replace(TrainConfig(), steps=steps, ae_steps=ae_steps, batch_size=batch_size, crop=crop, lr=lr or TrainConfig.lr,
                  synthetic=synthetic,
                  seed=seed, checkpoint_minutes=checkpoint_minutes, device=device, model=model,
                  lam_min=rate_weights[0], lam_max=rate_weights[1],
                  quality_lam_high=quality_lambdas[0], quality_lam_low=quality_lambdas[1])
    run_dir = DEFAULT_RUNS / run_name
    try:
        train(data_dir, run_dir, cfg, out or run_dir / "model", resume=resume, init=init_dir,
              export_only=export_only, log=click.echo)
    except VqcError as exc:
        click.echo(f"vqcodec: error: {exc}", err=True)
        raise SystemExit(1) from None


def _finetune(data_dir: str, model_dir: str, out: str, steps: int, batch_size: int, crop: int, seed: int,
              minutes: float, device: str, encoder: bool, lr: float | None, codebooks: bool, grow_decoder: int,
              grow_encoder: int, modulate: bool, synthetic: float, correct: bool = False,
              narrow_to: tuple[int, int] | None = None) -> None:
    import json

    from vqcodec.training.data import list_images, load_rgb, split_holdout
    from vqcodec.training.finetune import FINETUNE_LR, finetune
    from vqcodec.weights import CONFIG_FILE, load_model

    model = load_model(model_dir, device, backend="torch")
    extra = {k: v for k, v in json.loads((Path(model_dir) / CONFIG_FILE).read_text()).items() if k != "model"}
    train_paths, _ = split_holdout(list_images(data_dir), 8)  # the same photos held aside as in training
    images = [load_rgb(p) for p in train_paths]
    finetune(model, images, out, steps, extra, batch_size=batch_size, crop=crop, seed=seed, encoder=encoder,
             codebooks=codebooks, grow_decoder=grow_decoder, grow_encoder=grow_encoder, modulate=modulate,
             synthetic=synthetic, correct=correct, lr=lr or FINETUNE_LR, save_minutes=minutes,
             narrow_to=narrow_to, log=click.echo)
