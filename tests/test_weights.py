import pytest

from vqcodec.errors import WeightsError
from vqcodec.weights import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model


def test_save_load_keeps_fingerprint(tiny_model, tmp_path):
    fp = save_model(tmp_path / "copy", tiny_model.net, tiny_model.prior, tiny_model.lambdas)
    assert fp == tiny_model.fingerprint == load_model(tmp_path / "copy").fingerprint


def test_fingerprint_changes_with_the_weights(tiny_model, tmp_path):
    tiny_model.net.decoder.net[0].bias.data[0] += 1.0
    try:
        assert save_model(tmp_path / "changed", tiny_model.net, tiny_model.prior, tiny_model.lambdas) != tiny_model.fingerprint
    finally:
        tiny_model.net.decoder.net[0].bias.data[0] -= 1.0


def test_missing_or_damaged_weights_raise_weights_error(tiny_model_dir, tmp_path):
    with pytest.raises(WeightsError):
        load_model(tmp_path / "nothing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / CONFIG_FILE).write_text((tiny_model_dir / CONFIG_FILE).read_text())
    (bad / WEIGHTS_FILE).write_bytes(b"garbage")
    with pytest.raises(WeightsError):
        load_model(bad)
