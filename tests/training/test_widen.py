"""Widening a model's latent: old channels kept, new ones carry part of the residual."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from vqcodec.training.model import VQVAE
from vqcodec.training.widen import widen

from ..conftest import TINY, photo_folder, smooth_image


def _crops(n: int = 6, side: int = 32) -> torch.Tensor:
    return torch.stack([torch.from_numpy(smooth_image(side, side, seed)).permute(2, 0, 1).float() / 255
                        for seed in range(n)])


def _net(**changes) -> VQVAE:
    torch.manual_seed(0)
    net = VQVAE(replace(TINY, **changes)).eval()
    net.init_block_transform(_crops())
    return net


@torch.no_grad()
def test_a_widened_model_keeps_its_channels_and_reconstructs_better():
    net, x = _net(), _crops()
    wide = widen(net, 12, x)
    assert wide.cfg.latent_dim == 12 and wide.quantizer.num_codebooks == 12
    assert torch.allclose(wide.encoder(x)[:, :8], net.encoder(x), atol=1e-6)
    assert torch.equal(wide.quantizer.codebooks[:8], net.quantizer.codebooks)
    new = wide.quantizer.codebooks[8:, :, 0]
    assert torch.all(new[:, 1:] >= new[:, :-1]) and new.std() > 0  # k-means levels, sorted
    before = torch.mean((net.decoder(net.encoder(x)) - x) ** 2)
    after = torch.mean((wide.decoder(wide.encoder(x)) - x) ** 2)
    assert after < 0.9 * before  # the new channels carry part of what the model missed


def test_widening_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="cannot be widened"):
        widen(_net(), 8, _crops())
    with pytest.raises(ValueError, match="block transform"):
        widen(VQVAE(replace(TINY, block_transform=False)), 12, _crops())


def test_the_cli_widens_an_exported_model_that_then_codes(tiny_model_dir, tmp_path):
    from click.testing import CliRunner

    import vqcodec
    from vqcodec.weights import load_model
    from vqcodec_cli.main import main

    data = photo_folder(tmp_path, 5)
    out = tmp_path / "wide"
    r = CliRunner().invoke(main, ["train", str(data), "--widen-latent", str(tiny_model_dir), "--latent-dim", "12",
                                  "--crop", "32", "-o", str(out)])
    assert r.exit_code == 0, r.output
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["latent_dim"] == 12 and config["widened"][-1]["from"] == 8
    model = load_model(out)
    assert model.prior.num_codebooks == 12
    photo = smooth_image(40, 24, seed=7)
    assert np.asarray(vqcodec.decompress(vqcodec.compress(photo, 90, model), model)).shape == photo.shape
    r = CliRunner().invoke(main, ["train", str(data), "--widen-latent", str(tiny_model_dir), "--latent-dim", "8",
                                  "--crop", "32", "-o", str(tmp_path / "same")])
    assert r.exit_code == 2 and "cannot be widened" in r.output and not (tmp_path / "same").exists()
