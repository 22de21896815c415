"""The ``vqcodec`` command: a thin click layer over the vqcodec library."""
