"""Entry point of the ``vqcodec`` command."""

from __future__ import annotations

import click

from .train import train_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vqcodec")
def main() -> None:
    """vqcodec: a learned image codec (VQ-VAE + range coding).

    \b
    Compress:    vqcodec compress photo.png        -> photo.vqc
    Decompress:  vqcodec decompress photo.vqc      -> photo.png
    Inspect:     vqcodec info photo.vqc
    """


main.add_command(train_command)
