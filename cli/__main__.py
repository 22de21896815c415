"""``python -m vqcodec_cli``: the same as the ``vqcodec`` command."""

from .main import main

main()
