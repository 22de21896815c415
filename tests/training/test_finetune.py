"""Decoder fine-tuning: only the decoder moves, so every image keeps its codes."""

import numpy as np
import pytest
import torch

import vqcodec
from vqcodec.bitstream import HEADER_SIZE
from vqcodec.training.finetune import finetune

from ..conftest import photo_folder, smooth_image


def test_only_the_decoder_changes_and_codes_stay(tiny_model_dir, tmp_path):
    before = vqcodec.load_model(tiny_model_dir, backend="torch")
    untouched = vqcodec.load_model(tiny_model_dir, backend="torch")
    images = [smooth_image(64, 48, seed) for seed in range(3)]
    finetune(before, images, tmp_path / "tuned", steps=3, extra={"training": {"steps": 1}},
             batch_size=2, crop=32, lr=1e-2, log=lambda s: None)
    after = vqcodec.load_model(tmp_path / "tuned", backend="torch")
    old, new = untouched.net.state_dict(), after.net.state_dict()
    moved = {k for k in old if not torch.equal(old[k], new[k])}
    assert moved and all(k.startswith("decoder.") for k in moved)
    photo = smooth_image(80, 72, seed=7)
    for q in (0, 50, 70):  # (above 73 the codes may be a lower level's, under a residual)
        a, b = vqcodec.compress(photo, q, untouched), vqcodec.compress(photo, q, after)
        # same codes (the colour correction, estimated through the decoder's linear path, may move)
        codes = [m.coder.decode(f[HEADER_SIZE:], 9, 10, q)[0] for m, f in ((untouched, a), (after, b))]
        assert np.array_equal(*codes)
    assert after.fingerprint != untouched.fingerprint
    # the codes keep their meaning, so the round keeps the values they decode to
    np.testing.assert_allclose(after.reconstruction, untouched.reconstruction)


def test_each_round_of_tuning_is_recorded(tiny_model_dir, tmp_path):
    import json

    model = vqcodec.load_model(tiny_model_dir, backend="torch")
    images = [smooth_image(64, 48, 0)]
    finetune(model, images, tmp_path / "one", steps=1, extra={}, batch_size=1, crop=32, log=lambda s: None)
    first = json.loads((tmp_path / "one" / "config.json").read_text())
    again = vqcodec.load_model(tmp_path / "one", backend="torch")
    finetune(again, images, tmp_path / "two", steps=2, extra={k: v for k, v in first.items() if k != "model"},
             batch_size=1, crop=32, seed=1, log=lambda s: None)
    rounds = json.loads((tmp_path / "two" / "config.json").read_text())["decoder_finetune"]
    assert [(r["steps"], r["seed"]) for r in rounds] == [(1, 0), (2, 1)]


def test_synthetic_crops_change_what_is_learned_and_are_recorded(tiny_model_dir, tmp_path):
    import json

    images = [smooth_image(64, 48, 0)]
    for share in (0.0, 1.0):
        model = vqcodec.load_model(tiny_model_dir, backend="torch")
        finetune(model, images, tmp_path / str(share), steps=2, extra={}, batch_size=2, crop=32, lr=1e-2,
                 synthetic=share, log=lambda s: None)
    photos, mixed = (vqcodec.load_model(tmp_path / s, backend="torch").net.state_dict() for s in ("0.0", "1.0"))
    assert any(not torch.equal(photos[k], mixed[k]) for k in photos if k.startswith("decoder."))
    rounds = [json.loads((tmp_path / s / "config.json").read_text())["decoder_finetune"][-1] for s in ("0.0", "1.0")]
    assert "synthetic" not in rounds[0] and rounds[1]["synthetic"] == 1.0


def test_with_the_encoder_both_transforms_move_and_codebooks_and_prior_stay(tiny_model_dir, tmp_path):
    before = vqcodec.load_model(tiny_model_dir, backend="torch")
    untouched = vqcodec.load_model(tiny_model_dir, backend="torch")
    images = [smooth_image(64, 48, seed) for seed in range(3)]
    finetune(before, images, tmp_path / "tuned", steps=3, extra={}, batch_size=2, crop=32, lr=1e-2, encoder=True,
             log=lambda s: None)
    after = vqcodec.load_model(tmp_path / "tuned", backend="torch")
    old, new = untouched.net.state_dict(), after.net.state_dict()
    moved = {k.split(".")[0] for k in old if not torch.equal(old[k], new[k])}
    assert moved == {"encoder", "decoder"}
    assert torch.equal(old["quantizer.codebooks"], new["quantizer.codebooks"])
    assert (after.prior.counts == untouched.prior.counts).all()
    assert untouched.reconstruction is not None and after.reconstruction is None  # stale: re-measured with the prior
    photo = smooth_image(80, 72, seed=7)
    assert vqcodec.decompress(vqcodec.compress(photo, 50, after), after).size == (80, 72)


def test_with_the_codebooks_they_move_and_stay_sorted(tiny_model_dir, tmp_path):
    import numpy as np
    import pytest

    before = vqcodec.load_model(tiny_model_dir, backend="torch")
    untouched = vqcodec.load_model(tiny_model_dir, backend="torch")
    images = [smooth_image(64, 48, seed) for seed in range(3)]
    with pytest.raises(ValueError, match="only with the encoder"):
        finetune(before, images, tmp_path / "no", steps=1, extra={}, batch_size=1, crop=32, codebooks=True,
                 log=lambda s: None)
    finetune(before, images, tmp_path / "tuned", steps=3, extra={}, batch_size=2, crop=32, lr=1e-2, encoder=True,
             codebooks=True, log=lambda s: None)
    after = vqcodec.load_model(tmp_path / "tuned", backend="torch")
    assert not np.array_equal(after.codebooks, untouched.codebooks)
    assert (np.diff(after.codebooks[:, :, 0], axis=1) >= 0).all()  # index order is still value order
    photo = smooth_image(80, 72, seed=7)
    assert vqcodec.decompress(vqcodec.compress(photo, 50, after), after).size == (80, 72)


def test_codebook_means_move_used_codes_to_their_latents_and_keep_order():
    from vqcodec.training.finetune import _CodebookMeans

    codebooks = torch.linspace(-1, 1, 8).repeat(2, 1)[:, :, None].clone()  # (M=2, K=8, d=1)
    before = codebooks.clone()
    means = _CodebookMeans(codebooks)
    z = torch.full((1, 2, 4, 4), 0.05)
    z[:, 1] = 0.9  # codebook 1: latents near code 7 (value 1.0)
    indices = torch.zeros((1, 2, 4, 4), dtype=torch.long)
    indices[:, 0] = 4  # code 4 (0.14) takes codebook 0's latents
    indices[:, 1] = 7
    for _ in range(2000):
        means.update(z, indices)
    assert abs(codebooks[0, 4, 0].item() - 0.05) < 1e-3 and abs(codebooks[1, 7, 0].item() - 0.9) < 1e-3
    untouched = [k for k in range(8) if k != 4]
    assert torch.equal(codebooks[0, untouched], before[0, untouched])  # codes nobody picked stay
    assert (codebooks[:, 1:, 0] >= codebooks[:, :-1, 0]).all()


@pytest.mark.parametrize("decoder, encoder", [(2, 0), (0, 2)])
def test_a_grown_model_starts_as_the_old_one_and_then_learns(tiny_model_dir, tmp_path, decoder, encoder):
    import numpy as np

    from vqcodec.training.finetune import grow

    model = vqcodec.load_model(tiny_model_dir, backend="torch")
    photo = smooth_image(80, 72, seed=7)
    data = vqcodec.compress(photo, 50, model)
    before = np.asarray(vqcodec.decompress(data, model))
    fresh = grow(model, decoder=decoder, encoder=encoder)
    assert (model.cfg.decoder_blocks, model.cfg.encoder_blocks) == (decoder, encoder)
    assert len(fresh) == 8  # two blocks of two convolutions, weights and biases
    assert vqcodec.compress(photo, 50, model)[40:] == data[40:]  # the same codes (the fingerprint still the old one)
    grown = np.asarray(vqcodec.decompress(vqcodec.compress(photo, 50, model), model))
    assert np.array_equal(grown, before)
    images = [smooth_image(64, 48, seed) for seed in range(3)]
    finetune(vqcodec.load_model(tiny_model_dir, backend="torch"), images, tmp_path / "grown", steps=2, extra={},
             batch_size=2, crop=32, encoder=True, grow_decoder=decoder, grow_encoder=encoder, log=lambda s: None)
    after = vqcodec.load_model(tmp_path / "grown")  # ONNX graphs of the grown transforms
    assert (after.cfg.decoder_blocks, after.cfg.encoder_blocks) == (decoder, encoder)
    # the fresh blocks learnt: they are no longer the identity
    tuned = vqcodec.load_model(tmp_path / "grown", backend="torch").net
    part = tuned.decoder if decoder else tuned.encoder
    assert any(block.body[-1].weight.abs().sum() > 0 for block in part.extra)
    assert not np.array_equal(np.asarray(vqcodec.decompress(vqcodec.compress(photo, 50, after), after)), before)


def test_an_encoder_grows_only_when_it_learns(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="encoder=True"):
        finetune(vqcodec.load_model(tiny_model_dir, backend="torch"), [smooth_image(64, 48, 0)], tmp_path / "g",
                 steps=1, extra={}, batch_size=1, crop=32, grow_encoder=1, log=lambda s: None)
    assert not (tmp_path / "g").exists()


def test_the_cli_tunes_the_network_and_refuses_both_modes(tiny_model_dir, tmp_path):
    import json

    from click.testing import CliRunner

    from vqcodec_cli.main import main

    data = photo_folder(tmp_path, 3)
    out = tmp_path / "tuned"
    r = CliRunner().invoke(main, ["train", str(data), "--finetune-network", str(tiny_model_dir), "--steps", "1",
                                  "--batch-size", "1", "--crop", "32", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rounds = json.loads((out / "config.json").read_text())["decoder_finetune"]
    assert rounds[-1]["encoder"] is True and rounds[-1]["lr"] == 5e-5
    r = CliRunner().invoke(main, ["train", str(data), "--finetune-network", str(tiny_model_dir), "--finetune-decoder",
                                  str(tiny_model_dir), "-o", str(tmp_path / "both")])
    assert r.exit_code == 2 and "not both" in r.output and not (tmp_path / "both").exists()
    r = CliRunner().invoke(main, ["train", str(data), "--finetune-decoder", str(tiny_model_dir), "--move-codebooks",
                                  "-o", str(tmp_path / "cb")])
    assert r.exit_code == 2 and "needs --finetune-network" in r.output and not (tmp_path / "cb").exists()
    r = CliRunner().invoke(main, ["train", str(data), "--finetune-network", str(tiny_model_dir), "--steps", "1",
                                  "--batch-size", "1", "--crop", "32", "--move-codebooks", "--grow-decoder", "1", "--grow-encoder", "1",
                                  "--synthetic", "0.5", "-o", str(tmp_path / "grown")])
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "grown" / "config.json").read_text())
    assert config["model"]["decoder_blocks"] == 1 and config["model"]["encoder_blocks"] == 1
    assert config["decoder_finetune"][-1]["codebooks"] is True and config["decoder_finetune"][-1]["grown_encoder_blocks"] == 1
    assert config["decoder_finetune"][-1]["synthetic"] == 0.5
    r = CliRunner().invoke(main, ["train", str(data), "--finetune-decoder", str(tiny_model_dir), "--synthetic", "2",
                                  "-o", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "share between 0 and 1" in r.output and not (tmp_path / "bad").exists()


def test_a_decoder_modulated_by_the_rate_starts_as_the_old_one_learns_and_exports(tiny_model_dir, tmp_path):
    import numpy as np

    from vqcodec.training.finetune import grow
    from vqcodec.tiling import gradient

    model = vqcodec.load_model(tiny_model_dir, backend="torch")
    photo = smooth_image(80, 72, seed=7)
    data = vqcodec.compress(photo, 50, model)
    before = np.asarray(vqcodec.decompress(data, model))
    fresh = grow(model, modulate=True)
    assert model.cfg.rate_sets == model.prior.counts.shape[0] and len(fresh) == 8  # 4 points, scale and shift
    assert np.array_equal(np.asarray(vqcodec.decompress(vqcodec.compress(photo, 50, model), model)), before)
    with pytest.raises(ValueError, match="already"):
        grow(model, modulate=True)
    images = [smooth_image(64, 48, seed) for seed in range(3)]
    finetune(vqcodec.load_model(tiny_model_dir, backend="torch"), images, tmp_path / "mod", steps=3, extra={},
             batch_size=4, crop=32, modulate=True, log=lambda s: None)
    onnx, torch_model = vqcodec.load_model(tmp_path / "mod"), vqcodec.load_model(tmp_path / "mod", backend="torch")
    assert any(m.scale.abs().sum() > 0 for m in torch_model.net.decoder.modulation)  # it learnt
    # both backends decode each level with its own table set's modulation
    for q in (0, 100):
        coded = vqcodec.compress(photo, q, onnx)
        a, b = (np.asarray(vqcodec.decompress(coded, m), np.int16) for m in (onnx, torch_model))
        assert np.abs(a - b).max() <= 1
    idx = np.random.default_rng(2).integers(0, onnx.cfg.codebook_size, (8, 3, 5))
    rgb = smooth_image(40, 24, seed=8)
    for table_set in (0, onnx.prior.counts.shape[0] - 1):
        (pa, ga), (pb, gb) = (gradient(m.transforms, m.cfg, m.codebooks, idx, rgb, table_set=table_set)
                              for m in (onnx, torch_model))
        assert np.abs(pa.astype(int) - pb).max() <= 1 and np.allclose(ga, gb, rtol=1e-3, atol=1e-4 * np.abs(ga).max())
    decoded = [onnx.transforms.decode(np.ones((1, 8, 2, 2), np.float32), t) for t in (0, onnx.prior.counts.shape[0] - 1)]
    assert not np.array_equal(*decoded)  # the table set reaches the exported graph


def test_with_the_correction_the_decoder_learns_on_what_files_carry(tiny_model_dir, tmp_path):
    """Training's correction is the one the encoder writes into the file of the same image, and a
    round with it records it and learns something else than one without."""
    import json

    from vqcodec import correction
    from vqcodec.bitstream import DEFAULT_MAX_PIXELS, unpack
    from vqcodec.training.finetune import _codes, _corrections

    model = vqcodec.load_model(tiny_model_dir, backend="torch")
    photo = smooth_image(160, 120, seed=4)
    x = torch.from_numpy(photo.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.no_grad():
        z = model.net.encoder(x)
    active = 0
    for q in (0, 20, 50, 70):  # (above 73 the codes may be a lower level's, under a residual)
        qualities = np.array([q])
        fix = _corrections(model, z, _codes(model, z, qualities), qualities, (120, 160))[0].numpy()
        data = vqcodec.compress(photo, q, model)
        _, carried = model.coder.decode(unpack(data, DEFAULT_MAX_PIXELS).payload, 15, 20, q)
        expected = (correction.offsets(carried, slice(0, 120), slice(0, 160), 160, 120) / 255 if carried.active
                    else np.zeros_like(fix))
        np.testing.assert_allclose(fix, expected, atol=1e-6)
        active += carried.active
    assert active  # at least one level carries a correction, so the comparison means something
    images = [smooth_image(160, 120, seed) for seed in range(3)]
    for correct in (False, True):
        finetune(vqcodec.load_model(tiny_model_dir, backend="torch"), images, tmp_path / str(correct), steps=2,
                 extra={}, batch_size=4, crop=96, lr=1e-2, correct=correct, log=lambda s: None)
    plain, corrected = (vqcodec.load_model(tmp_path / s, backend="torch").net.state_dict() for s in ("False", "True"))
    assert any(not torch.equal(plain[k], corrected[k]) for k in plain)
    rounds = [json.loads((tmp_path / s / "config.json").read_text())["decoder_finetune"][-1] for s in ("False", "True")]
    assert "corrected" not in rounds[0] and rounds[1]["corrected"] is True


def test_narrowing_to_the_full_width_decodes_as_before_and_narrower_is_cheaper(tiny_model_dir):
    from vqcodec.training.finetune import grow, narrow

    model = vqcodec.load_model(tiny_model_dir, backend="torch")
    grow(model, modulate=True)  # a decoder modulated by the rate: its scales and shifts are narrowed too
    for modulation in model.net.decoder.modulation:
        torch.nn.init.normal_(modulation.scale, std=0.1)
        torch.nn.init.normal_(modulation.shift, std=0.1)
    photo = smooth_image(80, 72, seed=7)
    data = vqcodec.compress(photo, 50, model)
    before = np.asarray(vqcodec.decompress(data, model))
    quarter, half = model.cfg.decoder_widths
    images = [smooth_image(64, 48, seed) for seed in range(2)]
    narrow(model, quarter, half, images, crop=32)
    assert np.array_equal(np.asarray(vqcodec.decompress(data, model)), before)
    size = sum(p.numel() for p in model.net.decoder.parameters())
    narrow(model, quarter // 2, half // 2, images, crop=32)
    assert model.cfg.up_channels == (quarter // 2, half // 2)
    assert sum(p.numel() for p in model.net.decoder.parameters()) < size
    assert np.asarray(vqcodec.decompress(data, model)).shape == before.shape
    with pytest.raises(ValueError, match="cannot narrow"):
        narrow(model, quarter, half, images, crop=32)  # only narrower


def test_a_narrowed_decoder_is_tuned_exported_and_keeps_its_widths(tiny_model_dir, tmp_path):
    from vqcodec.config import ModelConfig

    model = vqcodec.load_model(tiny_model_dir, backend="torch")
    quarter, half = model.cfg.decoder_widths
    images = [smooth_image(64, 48, seed) for seed in range(3)]
    finetune(model, images, tmp_path / "narrow", steps=2, extra={}, batch_size=2, crop=32,
             narrow_to=(quarter // 2, half // 2), log=lambda s: None)
    after = vqcodec.load_model(tmp_path / "narrow")  # the ONNX graphs of the narrowed decoder
    assert after.cfg.up_channels == (quarter // 2, half // 2)
    photo = smooth_image(80, 72, seed=7)
    assert np.asarray(vqcodec.decompress(vqcodec.compress(photo, 50, after), after)).shape == (72, 80, 3)
    # models written before the field existed keep their config, and so their fingerprint
    assert "up_channels" not in ModelConfig(channels=8).to_dict()
    assert ModelConfig.from_dict(after.cfg.to_dict()) == after.cfg


def test_the_cli_narrows_a_decoder_and_refuses_bad_widths(tiny_model_dir, tmp_path):
    import json

    from click.testing import CliRunner

    from vqcodec_cli.main import main

    data = photo_folder(tmp_path, 3)
    r = CliRunner().invoke(main, ["train", str(data), "--finetune-decoder", str(tiny_model_dir), "--steps", "1",
                                  "--batch-size", "1", "--crop", "32", "--narrow-decoder", "8,4", "-o", str(tmp_path / "n")])
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "n" / "config.json").read_text())
    assert config["model"]["up_channels"] == [8, 4] and config["decoder_finetune"][-1]["narrowed_to"] == [8, 4]
    for bad in ("8", "a,b", "0,4"):
        r = CliRunner().invoke(main, ["train", str(data), "--finetune-decoder", str(tiny_model_dir),
                                      "--narrow-decoder", bad, "-o", str(tmp_path / "bad")])
        assert r.exit_code == 2 and "QUARTER,HALF" in r.output and not (tmp_path / "bad").exists()
    r = CliRunner().invoke(main, ["train", str(data), "--finetune-network", str(tiny_model_dir),
                                  "--narrow-decoder", "8,4", "-o", str(tmp_path / "net")])
    assert r.exit_code == 2 and "needs --finetune-decoder" in r.output
