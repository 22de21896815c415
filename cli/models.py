"""``vqcodec models``: the models this installation can decode with, and adding or checking them."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _fail(message: str) -> None:
    click.echo(f"vqcodec: error: {message}", err=True)
    sys.exit(1)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


@click.group("models", invoke_without_command=True)
@click.pass_context
def models_command(ctx: click.Context) -> None:
    """List, add, check and remove the models files can be decoded with.

    \b
    A .vqc file names the model that made it by a 16-digit fingerprint. vqcodec
    looks for that model's pack (FINGERPRINT.vqm) in --model, then in the
    folders of $VQCODEC_MODEL_PATH, then in the user's model folder, then in
    the package, which carries the current model whole and the decode part of
    earlier releases' models. With no subcommand: 'list'.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_models)


@models_command.command("list")
def list_models() -> None:
    """Every model found, where, its parts and size, and the release that shipped it."""
    from vqcodec import models
    from vqcodec.errors import VqcError
    from vqcodec.weights import DEFAULT_WEIGHTS, current_pack

    try:
        current = current_pack(DEFAULT_WEIGHTS).stem
        found = models.installed()
        releases = models.releases()
    except VqcError as exc:
        _fail(str(exc))
    click.echo(f"{'model':16}  {'parts':15}  {'size':>7}  {'where':7}  release")
    for entry in found:
        release = releases.get(entry.fingerprint)
        shipped = release.describe() if release else "not a release"
        mark = " (current)" if entry.fingerprint == current and entry.where == "package" else ""
        if entry.base:
            mark += f"; the rest of it in {entry.base}'s pack"
        click.echo(f"{entry.fingerprint:16}  {' + '.join(entry.parts):15}  {_size(entry.size):>7}  {entry.where:7}  "
                   f"{shipped}{mark}")
    click.echo(f"{len(found)} models, {_size(sum(e.size for e in found))}; user folder {models.user_dir()}")


@models_command.command("add")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--decode-only", is_flag=True, help="Keep only what decoding needs (a model directory is packed).")
def add_model(source: Path, decode_only: bool) -> None:
    """Install the model at SOURCE (a .vqm pack or a model directory) into the user's model folder, verified."""
    from vqcodec import models
    from vqcodec.errors import VqcError

    try:
        entry = models.add(source, decode_only)
    except (VqcError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"added {entry.fingerprint} ({' + '.join(entry.parts)}, {_size(entry.size)}) to {entry.path}")


@models_command.command("verify")
@click.argument("targets", nargs=-1)
def verify_models(targets: tuple[str, ...]) -> None:
    """Check TARGETS (fingerprints, packs or model directories; default: every model found) against
    their fingerprints and the releases' records. Exit 1 if any fails."""
    from vqcodec import models
    from vqcodec.errors import VqcError

    try:
        found = {e.fingerprint: e.path for e in models.installed()}
    except VqcError as exc:
        _fail(str(exc))
    paths = [found.get(t.lower(), Path(t)) for t in targets] if targets else list(found.values())
    failures = 0
    for path in paths:
        try:
            entry = models.verify(path)
            click.echo(f"{entry.fingerprint}: ok ({path})")
        except (VqcError, OSError) as exc:
            failures += 1
            click.echo(f"vqcodec: error: {path}: {exc}", err=True)
    sys.exit(1 if failures else 0)


@models_command.command("remove")
@click.argument("fingerprint")
def remove_model(fingerprint: str) -> None:
    """Remove a model added to the user's folder (the package's own cannot be removed)."""
    from vqcodec import models
    from vqcodec.errors import VqcError

    try:
        path = models.remove(fingerprint)
    except (VqcError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"removed {path}")


@models_command.command("pack")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--decode-only", is_flag=True, help="Only the decode part (what a release carries of older models).")
@click.option("--base", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Leave out the tensors this pack holds byte for byte (a model that differs from it in a "
                   "few tensors then takes kilobytes); the pack is read from BASE, found beside it or "
                   "installed, whenever it is used.")
def pack_model(source: Path, target: Path, decode_only: bool, base: Path | None) -> None:
    """Write the model at SOURCE (a model directory or pack) as a pack at TARGET (a file or folder)."""
    from vqcodec import models
    from vqcodec.errors import VqcError

    try:
        path = models.pack_model(source, target, ("decode",) if decode_only else ("decode", "encode"), base)
        entry = models.verify(path)
    except (VqcError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"{entry.fingerprint} ({' + '.join(entry.parts)}): {path}, {_size(entry.size)}")
