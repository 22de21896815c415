"""Training vqcodec's models: needs torch (``pip install 'vqcodec[train]'``).

The coding library (``vqcodec`` itself) reads the models this package writes and never
imports it, except ``model`` for the optional torch backend of a CUDA machine. Here:

- ``model``: the network (encoder, decoder, rate modulation) as torch modules;
- ``quantizer``: product vector quantization with the VQ-VAE losses and codebook upkeep;
- ``train``: the training loop, checkpoints, resuming; ``distributed``: its processes;
- ``finetune``: rounds that train parts against the shipped coder (decoder, encoder, lambdas);
- ``prior_design``, ``centroids``, ``densify``, ``widen``: counting the prior's tables, codebook
  centroids, more codes or codebooks for an existing model;
- ``data``, ``synthetic``: the photos and the synthetic crops training reads.
"""
