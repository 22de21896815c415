"""Training: exact resume, warm start, and a loadable exported model."""

import json
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from vqcodec.training.train import QUALITY_LEVELS, VAL_LAMBDAS, TrainConfig, Trainer
from vqcodec.weights import load_model

from ..conftest import TINY, smooth_image

CFG = TrainConfig(steps=12, ae_steps=4, batch_size=2, crop=32, holdout=1, val_every=6,
                  kmeans_batches=1, checkpoint_minutes=1e9, warmup=2, model=TINY)


def _data(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(5):
        Image.fromarray(smooth_image(48 + 8 * i, 40, seed=i)).save(d / f"p{i}.png")
    return d


def _exported(tmp_path):
    """The photos folder, with a tiny run trained on it and exported to tmp_path / "model"."""
    data = _data(tmp_path)
    t = Trainer(data, tmp_path / "run", CFG, log=lambda s: None)
    t.run()
    t.export(tmp_path / "model")
    return data


def test_resume_continues_exactly(tmp_path):
    data = _data(tmp_path)
    straight = Trainer(data, tmp_path / "a", CFG, log=lambda s: None)
    straight.run()

    first = Trainer(data, tmp_path / "b", CFG, log=lambda s: None)
    first.run(until=7)  # stop mid-run, after the k-means switch
    first.save_checkpoint()
    second = Trainer(data, tmp_path / "b", CFG, log=lambda s: None)
    second.resume()
    assert second.step == 7
    second.run()
    for (k, a), b in zip(straight.net.state_dict().items(), second.net.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_export_is_loadable_and_init_starts_from_it(tmp_path):
    data = _exported(tmp_path)
    m = load_model(tmp_path / "model", backend="torch")
    assert m.num_qualities == QUALITY_LEVELS
    assert m.prior.counts.min() >= 1 and m.prior.num_codebooks == TINY.latent_dim // TINY.sub_dim
    assert len(np.unique(m.prior.counts)) > 2  # counted, not uniform
    assert m.lambdas == sorted(m.lambdas, reverse=True)  # quality 0 trades the most error for bits
    cb = m.net.quantizer.codebooks.detach()[:, :, 0]
    assert (cb[:, 1:] >= cb[:, :-1]).all()  # exported 1-D codebooks are sorted
    warm = Trainer(data, tmp_path / "run2", replace(CFG, steps=14), log=lambda s: None)
    warm.init_from(tmp_path / "model")
    assert warm.initialised_codebooks and warm.step == CFG.ae_steps
    assert torch.equal(warm.net.quantizer.codebooks, m.net.quantizer.codebooks)
    warm.run()
    assert warm.step == 14


def test_validation_reports_each_rate_weight(tmp_path):
    t = Trainer(_data(tmp_path), tmp_path / "run", CFG, log=lambda s: None)
    t.run()
    last = t.history[-1]["val"]
    assert set(last) == {f"lam{lam:g}" for lam in VAL_LAMBDAS}
    assert all(np.isfinite(v["psnr"]) for v in last.values())


def test_export_only_leaves_the_run_untouched(tmp_path):
    from vqcodec.training.train import train

    data = _data(tmp_path)
    t = Trainer(data, tmp_path / "run", CFG, log=lambda s: None)
    t.run(until=6)
    t.save_checkpoint()
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    train(data, tmp_path / "run", CFG, tmp_path / "model", export_only=True, log=lambda s: None)
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before
    assert load_model(tmp_path / "model").num_qualities == QUALITY_LEVELS


def test_resume_refuses_a_different_model_shape(tmp_path):
    import pytest

    data = _data(tmp_path)
    t = Trainer(data, tmp_path / "run", CFG, log=lambda s: None)
    t.save_checkpoint()
    other = Trainer(data, tmp_path / "run", replace(CFG, model=replace(TINY, codebook_size=16)), log=lambda s: None)
    with pytest.raises(ValueError, match="holds a model"):
        other.resume()


def test_a_small_folder_trains_and_one_too_small_is_a_one_line_error(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from vqcodec.training.data import split_holdout
    from vqcodec_cli.main import main

    data = _data(tmp_path)  # 5 photos: one held aside for validation, four to train on
    train, held = split_holdout(sorted(data.iterdir()), 8)
    assert len(held) == 1 and len(train) == 4
    t = Trainer(data, tmp_path / "run", replace(CFG, holdout=8, steps=2), log=lambda s: None)
    t.run()
    assert t.step == 2 and t.val is not None

    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.fromarray(smooth_image(20, 20)).save(tiny / "a.png")
    monkeypatch.setattr("vqcodec_cli.train.DEFAULT_RUNS", tmp_path / "runs")
    r = CliRunner().invoke(main, ["train", str(tiny), "--steps", "2", "--crop", "32"])
    assert r.exit_code == 1 and "at least 32x32" in r.output and "Traceback" not in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(main, ["train", str(empty), "--steps", "2"])
    assert r.exit_code == 1 and "no images to train on" in r.output
    assert not (tmp_path / "runs").exists()  # a run that cannot start leaves nothing behind


def test_a_prior_measured_anew_keeps_the_network_and_codes_by_the_new_tables(tmp_path):
    """--remeasure-prior: same transforms and codebooks, the prior counted again on the data."""
    import vqcodec
    from vqcodec.prior import Prior
    from vqcodec.training.train import remeasure_prior
    from vqcodec.weights import save_model

    data = _exported(tmp_path)
    old = load_model(tmp_path / "model", backend="torch")
    flat = Prior.uniform(old.prior.num_codebooks, old.prior.size, old.num_qualities, old.prior.zero)
    save_model(tmp_path / "flat", old.net, flat, old.lambdas)  # as if its prior were of another design
    remeasure_prior(tmp_path / "flat", data, tmp_path / "again", log=lambda s: None)
    new = load_model(tmp_path / "again", backend="torch")
    assert new.lambdas == old.lambdas
    for (k, a), b in zip(old.net.state_dict().items(), new.net.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert len(np.unique(new.prior.counts)) > 2 and len(np.unique(new.prior.classes)) > 1  # counted and clustered
    photo = smooth_image(64, 48, seed=9)
    assert len(vqcodec.compress(photo, 50, new)) < len(vqcodec.compress(photo, 50, load_model(tmp_path / "flat")))


def test_a_recounted_prior_is_the_export_with_more_rounds(tmp_path, monkeypatch):
    """--recount-prior: k more rounds of a prior counted ADAPTATION_ROUNDS times give the tables,
    adaptive codebooks and reconstruction values of an export counting ADAPTATION_ROUNDS + k times."""
    from vqcodec.training import train as T
    from vqcodec.training.train import recount_prior, remeasure_prior

    data = _exported(tmp_path)
    remeasure_prior(tmp_path / "model", data, tmp_path / "base", log=lambda s: None)
    recount_prior(tmp_path / "base", data, tmp_path / "more", 2, log=lambda s: None)
    monkeypatch.setattr(T, "ADAPTATION_ROUNDS", T.ADAPTATION_ROUNDS + 2)
    remeasure_prior(tmp_path / "model", data, tmp_path / "longer", log=lambda s: None)
    more, longer = (load_model(tmp_path / d, backend="torch") for d in ("more", "longer"))
    for name in ("counts", "classes", "adaptive", "guides"):
        assert np.array_equal(getattr(more.prior, name), getattr(longer.prior, name)), name
    assert np.array_equal(more.reconstruction, longer.reconstruction)
    assert json.loads((tmp_path / "more" / "config.json").read_text())["recounted"][-1]["rounds"] == 2
