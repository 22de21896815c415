"""Densifying a model's codebooks: every old code kept, a midpoint between each pair."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from vqcodec.training.densify import densify
from vqcodec.training.model import VQVAE
from vqcodec.prior import context_unit
from vqcodec.training.train import sort_codebooks

from ..conftest import TINY, photo_folder, smooth_image


def _net(**changes) -> VQVAE:
    torch.manual_seed(0)
    net = VQVAE(replace(TINY, **changes)).eval()
    sort_codebooks(net)
    return net


@torch.no_grad()
def test_a_densified_model_keeps_its_codes_and_adds_their_midpoints():
    net = _net()
    dense = densify(net)
    old, new = net.quantizer.codebooks[:, :, 0], dense.quantizer.codebooks[:, :, 0]
    assert dense.cfg.codebook_size == 2 * net.cfg.codebook_size and new.shape == (8, 64)
    assert torch.equal(new[:, 0::2], old)
    assert torch.allclose(new[:, 1:-1:2], (old[:, 1:] + old[:, :-1]) / 2)
    assert torch.all(new[:, 1:] >= new[:, :-1])  # still sorted: rate control and the contexts rely on it
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(dense.encoder(x), net.encoder(x)) and torch.equal(dense.decoder(net.encoder(x)), net.decoder(net.encoder(x)))
    err_old = (net.quantizer(net.encoder(x), torch.zeros(1)).quantized - net.encoder(x)).square().sum()
    err_new = (dense.quantizer(dense.encoder(x), torch.zeros(1)).quantized - dense.encoder(x)).square().sum()
    assert err_new < err_old  # nearest codes closer: what the finer codebook is for


def test_densifying_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="1-D codebooks"):
        densify(_net(latent_dim=8, sub_dim=2))
    net = _net()
    net.quantizer.codebooks.data = net.quantizer.codebooks.data.flip(1)
    with pytest.raises(ValueError, match="not sorted"):
        densify(net)


def test_contexts_measure_distance_in_units_of_256_codes():
    assert [context_unit(k) for k in (2, 32, 256, 511, 512, 1024)] == [1, 1, 1, 1, 2, 4]


def test_the_cli_densifies_an_exported_model_that_then_codes(tiny_model_dir, tmp_path):
    from click.testing import CliRunner

    import vqcodec
    from vqcodec.weights import load_model
    from vqcodec_cli.main import main

    data = photo_folder(tmp_path, 5)
    out = tmp_path / "dense"
    r = CliRunner().invoke(main, ["train", str(data), "--densify-codebooks", str(tiny_model_dir), "-o", str(out)])
    assert r.exit_code == 0, r.output
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["codebook_size"] == 64 and config["densified"][-1] == {**config["densified"][-1], "from": 32, "to": 64}
    model = load_model(out)
    assert model.prior.size == 64
    photo = smooth_image(40, 24, seed=7)
    assert np.asarray(vqcodec.decompress(vqcodec.compress(photo, 90, model), model)).shape == photo.shape


def test_a_512_code_model_round_trips_and_refuses_hostile_payloads(tmp_path):
    """Contexts in units of two codes (K = 512) on the decoder's side: files decode to what the
    encoder reported, and random payloads under a valid header raise only format errors."""
    import vqcodec
    from vqcodec.training.train import measure_prior
    from vqcodec.weights import load_model, save_model

    from ..test_crafted import craft

    net = _net()
    net.quantizer.codebooks.data.mul_(3.0)
    sort_codebooks(net)
    for _ in range(4):  # 32 -> 512 codes
        net = densify(net)
    save_model(tmp_path, net, *measure_prior(net, [smooth_image(64, 64, 0)], lam_high=0.3, lam_low=3e-4,
                                             levels=101, sets=3))
    model = load_model(tmp_path)
    assert model.prior.size == 512 and context_unit(model.prior.size) == 2
    photo = smooth_image(72, 56, seed=4)
    for quality in (10, 90):
        report = vqcodec.compress_report(photo, quality, model)
        assert np.array_equal(np.asarray(vqcodec.decompress(report.data, model)), np.asarray(report.reconstruction))
    rng = np.random.default_rng(1)
    for _ in range(50):
        payload = rng.integers(0, 256, 4 * int(rng.integers(1, 64)), np.uint8).tobytes()
        with pytest.raises(vqcodec.FormatError):
            vqcodec.decompress(craft(report.data, payload), model=model)
