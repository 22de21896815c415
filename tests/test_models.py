"""Models found by fingerprint: the search path, the user's folder, and a one-line error for a missing one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import vqcodec
from vqcodec import models
from vqcodec.errors import ModelNotFoundError, UnsupportedVersionError, WeightsError
from vqcodec_cli.main import main

from .conftest import smooth_image

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """An empty user folder and no VQCODEC_MODEL_PATH."""
    monkeypatch.setenv(models.ENV_HOME, str(tmp_path / "home"))
    monkeypatch.delenv(models.ENV_PATH, raising=False)
    return tmp_path / "home" / "models"


def cli(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def test_the_package_carries_the_current_model_whole_and_earlier_ones_to_decode(home):
    found = {e.fingerprint: e for e in models.installed()}
    current = vqcodec.weights.current_pack(vqcodec.weights.DEFAULT_WEIGHTS).stem
    assert found[current].parts == ("decode", "encode") and found[current].where == "package"
    carried = [fp for fp, release in models.releases().items() if release.decode_digest]
    assert set(carried) <= set(found) and len(carried) >= 2
    for fp in carried:
        models.verify(found[fp].path)  # each matches the decode part its release recorded


def test_a_file_of_a_model_nowhere_names_it_and_its_release(home, tiny_model):
    data = vqcodec.compress(smooth_image(24, 16), 40, tiny_model)
    with pytest.raises(ModelNotFoundError, match=f"{tiny_model.fingerprint.hex()}.*no vqcodec release shipped it"):
        vqcodec.decompress(data)
    message = models.missing(bytes.fromhex("c7938ea4e389ea88"))
    assert "shipped 2026-11-28 in commit 39ca74b" in message and "format 11" in message


def test_a_model_is_found_on_the_explicit_path_the_environment_and_the_user_folder(home, tiny_model, tiny_model_dir,
                                                                                   tmp_path, monkeypatch):
    data = vqcodec.compress(smooth_image(24, 16), 40, tiny_model)
    expected = np.asarray(vqcodec.decompress(data, model=tiny_model))
    assert np.array_equal(np.asarray(vqcodec.decompress(data, model_path=[tiny_model_dir])), expected)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    models.pack_model(tiny_model_dir, folder, ("decode",))
    monkeypatch.setenv(models.ENV_PATH, str(folder))
    assert models.find(tiny_model.fingerprint) == folder / f"{tiny_model.fingerprint.hex()}.vqm"
    monkeypatch.delenv(models.ENV_PATH)
    assert models.find(tiny_model.fingerprint) is None
    entry = models.add(tiny_model_dir)
    assert entry.path.parent == home and entry.parts == ("decode", "encode")
    assert models.find(tiny_model.fingerprint) == entry.path
    models.remove(tiny_model.fingerprint.hex())
    assert models.find(tiny_model.fingerprint) is None


def test_remove_touches_only_the_user_folder(home):
    current = vqcodec.weights.current_pack(vqcodec.weights.DEFAULT_WEIGHTS)
    with pytest.raises(WeightsError, match="only models added there"):
        models.remove(current.stem)
    with pytest.raises(WeightsError, match="not a model fingerprint"):
        models.remove("../../etc")
    assert current.is_file()


def test_a_file_of_a_format_before_12_names_the_release_that_reads_it():
    data = (GOLDEN / "format11-c7938ea4e389ea88.vqc").read_bytes()  # written by commit 39ca74b
    with pytest.raises(UnsupportedVersionError, match="c7938ea4e389ea88, shipped 2026-11-28 in commit 39ca74b"):
        vqcodec.decompress(data)


def test_cli_models_list_add_verify_remove(home, tiny_model, tiny_model_dir):
    listed = cli("models")
    assert listed.exit_code == 0 and "(current)" in listed.output and "decode + encode" in listed.output
    added = cli("models", "add", str(tiny_model_dir), "--decode-only")
    fp = tiny_model.fingerprint.hex()
    assert added.exit_code == 0 and fp in added.output and (home / f"{fp}.vqm").is_file()
    assert f"{fp}  decode " in cli("models", "list").output
    assert cli("models", "verify", fp).exit_code == 0
    (home / f"{fp}.vqm").write_bytes(b"garbage")
    bad = cli("models", "verify", fp, str(home / f"{fp}.vqm"))
    assert bad.exit_code == 1 and "error" in bad.output
    assert cli("models", "remove", fp).exit_code == 0 and not (home / f"{fp}.vqm").exists()
    assert cli("models", "remove", fp).exit_code == 1


def test_cli_decompress_of_a_missing_model_is_one_line_and_exit_1(home, tiny_model, tmp_path):
    vqc = tmp_path / "a.vqc"
    vqc.write_bytes(vqcodec.compress(smooth_image(24, 16), 40, tiny_model))
    result = cli("decompress", str(vqc))
    errors = [line for line in result.output.splitlines() if "error" in line]
    assert result.exit_code == 1 and len(errors) == 1
    assert tiny_model.fingerprint.hex() in errors[0] and "not installed" in errors[0]
    assert not (tmp_path / "a.vqc.png").exists()
    info = cli("info", str(vqc))
    assert "not installed; no vqcodec release shipped it" in info.output
