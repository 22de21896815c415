"""Decoder fine-tuning: only the decoder moves, so every image keeps its codes."""

import torch

import vqcodec
from vqcodec.bitstream import HEADER_SIZE
from vqcodec.finetune import finetune_decoder

from .conftest import smooth_image


def test_only_the_decoder_changes_and_codes_stay(tiny_model_dir, tmp_path):
    before = vqcodec.load_model(tiny_model_dir, backend="torch")
    untouched = vqcodec.load_model(tiny_model_dir, backend="torch")
    images = [smooth_image(64, 48, seed) for seed in range(3)]
    finetune_decoder(before, images, tmp_path / "tuned", steps=3, extra={"training": {"steps": 1}},
                     batch_size=2, crop=32, lr=1e-2, log=lambda s: None)
    after = vqcodec.load_model(tmp_path / "tuned", backend="torch")
    old, new = untouched.net.state_dict(), after.net.state_dict()
    moved = {k for k in old if not torch.equal(old[k], new[k])}
    assert moved and all(k.startswith("decoder.") for k in moved)
    photo = smooth_image(80, 72, seed=7)
    for q in (0, 50, 100):
        a, b = vqcodec.compress(photo, q, untouched), vqcodec.compress(photo, q, after)
        assert a[HEADER_SIZE:] == b[HEADER_SIZE:]  # same codes; only the fingerprint differs
    assert after.fingerprint != untouched.fingerprint
