"""Model packs hold a model exactly: same fingerprint, same files, same pixels; a decode part decodes only."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec import modelpack, models
from vqcodec.errors import WeightsError
from vqcodec.weights import load_model, open_model

from .conftest import smooth_image


@pytest.fixture(scope="module")
def packs(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("packs")
    whole = models.pack_model(tiny_model_dir, out / "whole.vqm")
    decode = models.pack_model(tiny_model_dir, out / "decode.vqm", ("decode",))
    return whole, decode


def test_a_whole_pack_is_the_model_directory(tiny_model_dir, tiny_model, packs):
    whole, _ = packs
    stored, source = open_model(whole), open_model(tiny_model_dir)
    assert stored.fingerprint == source.fingerprint == tiny_model.fingerprint
    assert sorted(stored.tensors) == sorted(source.tensors)
    for name in source.tensors:
        a, b = stored.tensors[name], source.tensors[name]
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    for name in source.graph_names:  # graphs spliced back byte for byte
        assert stored.graph(name) == source.graph(name), name
    modelpack.ModelPack(whole).verify()
    image = smooth_image(53, 37, seed=4)
    packed = load_model(whole)
    data = vqcodec.compress(image, 60, packed)
    assert data == vqcodec.compress(image, 60, tiny_model)
    assert np.array_equal(np.asarray(vqcodec.decompress(data, model=packed)),
                          np.asarray(vqcodec.decompress(data, model=tiny_model)))


def test_graph_weights_are_stored_once(packs, tiny_model_dir):
    whole, _ = packs
    with zipfile.ZipFile(whole) as zf:
        skeleton = zf.getinfo("graphs/decoder.onnx").file_size
    assert skeleton < 0.2 * len(open_model(tiny_model_dir).graph("decoder.onnx"))


def test_tensors_are_stored_for_every_command_to_read_without_inflating(packs):
    whole, _ = packs
    with zipfile.ZipFile(whole) as zf:
        tensors = [info for info in zf.infolist() if info.filename.startswith("tensors/")]
    assert tensors and all(info.compress_type == zipfile.ZIP_STORED for info in tensors)


def test_a_pack_with_deflated_tensors_reads_the_same(packs, tmp_path):
    """Packs written before tensors were stored deflated them: both must read alike."""
    whole, _ = packs
    deflated = tmp_path / "deflated.vqm"
    with zipfile.ZipFile(whole) as src, zipfile.ZipFile(deflated, "w") as out:
        for info in src.infolist():
            out.writestr(zipfile.ZipInfo(info.filename, info.date_time), src.read(info.filename),
                         zipfile.ZIP_DEFLATED)
    a, b = modelpack.ModelPack(whole), modelpack.ModelPack(deflated)
    b.verify()
    for name in a.tensor_names():
        assert np.array_equal(a.tensor(name), b.tensor(name)), name


def test_a_decode_part_decodes_and_refuses_to_encode(packs, tiny_model):
    _, decode = packs
    pack = modelpack.ModelPack(decode)
    assert pack.parts == ("decode",) and not any(n.startswith("encoder.") for n in pack.tensor_names())
    assert pack.graph("encoder.onnx") is None and pack.graph("gradient.onnx") is None
    pack.verify()
    model = load_model(decode)
    assert model.fingerprint == tiny_model.fingerprint
    data = vqcodec.compress(smooth_image(40, 24, seed=1), 30, tiny_model)
    assert np.array_equal(np.asarray(vqcodec.decompress(data, model=model)),
                          np.asarray(vqcodec.decompress(data, model=tiny_model)))
    with pytest.raises(WeightsError, match="decoding only"):
        vqcodec.compress(smooth_image(16, 16), 30, model)
    with pytest.raises(WeightsError, match="decode part"):
        vqcodec.weights.load_network(decode)


def test_a_decode_part_on_the_torch_backend_decodes_the_same(packs, tiny_model):
    _, decode = packs
    model = load_model(decode, backend="torch")
    data = vqcodec.compress(smooth_image(40, 24, seed=2), 70, tiny_model)
    a = np.asarray(vqcodec.decompress(data, model=model), int)
    b = np.asarray(vqcodec.decompress(data, model=tiny_model), int)
    assert np.abs(a - b).max() <= 1


def test_packing_is_deterministic(tiny_model_dir, packs, tmp_path):
    whole, _ = packs
    again = models.pack_model(tiny_model_dir, tmp_path / "again.vqm")
    assert again.read_bytes() == whole.read_bytes()


def _rewritten(pack, out, member: str, change) -> modelpack.ModelPack:
    """A copy of ``pack`` with ``member``'s bytes changed, its zip CRC recomputed (a valid archive)."""
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, change(data) if info.filename == member else data)
    return modelpack.ModelPack(out)


def test_verify_finds_a_changed_tensor_even_with_its_crc_recomputed(packs, tmp_path):
    whole, _ = packs
    bad = _rewritten(whole, tmp_path / "bad.vqm", "tensors/prior.zero.npy",
                     lambda data: data[:-1] + bytes([data[-1] ^ 1]))  # a zero code changed
    with pytest.raises(WeightsError, match="decode part differs"):
        bad.verify()


def test_a_pack_claiming_another_fingerprint_fails_verify(packs, tmp_path):
    whole, _ = packs
    real = modelpack.ModelPack(whole).fingerprint.hex().encode()
    liar = _rewritten(whole, tmp_path / "liar.vqm", modelpack.MANIFEST,
                      lambda data: data.replace(real, b"0123456789abcdef"))
    with pytest.raises(WeightsError, match="do not give fingerprint"):
        liar.verify()


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x05\x06" + bytes(18)])
def test_a_broken_pack_is_a_weights_error(tmp_path, content):
    path = tmp_path / "broken.vqm"
    path.write_bytes(content)
    with pytest.raises(WeightsError):
        load_model(path)


def test_a_pack_on_a_base_holds_only_what_differs_and_decodes_the_same(tiny_model_dir, packs, tmp_path, monkeypatch):
    """A decode part written on a base (a model that differs only in its lambdas) leaves out every
    tensor the base holds byte for byte, reads them from the base, and decodes as the whole part
    does; without its base, or with another pack in the base's place, it is a clear WeightsError."""
    from vqcodec.training.lambdas import with_lambdas

    monkeypatch.setenv("VQCODEC_HOME", str(tmp_path / "home"))  # no user folder to find a base in
    _, decode = packs
    tiny = load_model(tiny_model_dir)
    folder = tmp_path / "carried"
    folder.mkdir()
    base = with_lambdas(tiny_model_dir, np.array(tiny.lambdas) * 0.5, folder)
    based = models.pack_model(decode, folder / f"{tiny.fingerprint.hex()}.vqm", ("decode",), base)
    with zipfile.ZipFile(based) as zf:
        assert [n for n in zf.namelist() if n.startswith("tensors/")] == ["tensors/rate.lambdas.npy"]
    assert based.stat().st_size < decode.stat().st_size / 4
    pack = modelpack.ModelPack(based)
    pack.verify()  # the decode digest over its own tensors and the base's
    assert pack.decode_digest == modelpack.ModelPack(decode).decode_digest
    data = vqcodec.compress(smooth_image(45, 33, seed=6), 40, tiny)
    assert np.array_equal(np.asarray(vqcodec.decompress(data, model=load_model(based))),
                          np.asarray(vqcodec.decompress(data, model=tiny)))

    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / based.name).write_bytes(based.read_bytes())
    with pytest.raises(WeightsError, match=f"needs the pack of model {base.stem}"):
        load_model(alone / based.name)
    other = with_lambdas(tiny_model_dir, np.array(tiny.lambdas) * 0.25, tmp_path)
    (alone / base.name).write_bytes(other.read_bytes())  # another model under the base's name
    with pytest.raises(WeightsError, match="not the base"):
        load_model(alone / based.name)


def test_a_base_is_not_removed_from_under_a_pack_that_needs_it(tiny_model_dir, packs, tmp_path, monkeypatch):
    from vqcodec.training.lambdas import with_lambdas

    monkeypatch.setenv("VQCODEC_HOME", str(tmp_path / "home"))
    _, decode = packs
    tiny = load_model(tiny_model_dir)
    base = with_lambdas(tiny_model_dir, np.array(tiny.lambdas) * 0.5, tmp_path)
    models.add(base)
    models.add(models.pack_model(decode, tmp_path / "based.vqm", ("decode",), base))
    assert [e.base for e in models.installed() if e.fingerprint == tiny.fingerprint.hex()] == [base.stem]
    with pytest.raises(WeightsError, match="reads the rest of its pack"):
        models.remove(base.stem)
    models.remove(tiny.fingerprint.hex())
    models.remove(base.stem)


def test_packs_that_name_each_other_as_base_are_refused_not_followed_forever(tiny_model_dir, packs, tmp_path, monkeypatch):
    from vqcodec.training.lambdas import with_lambdas

    monkeypatch.setenv("VQCODEC_HOME", str(tmp_path / "home"))
    _, decode = packs
    tiny = load_model(tiny_model_dir)
    base = with_lambdas(tiny_model_dir, np.array(tiny.lambdas) * 0.5, tmp_path)
    based = models.pack_model(decode, tmp_path / f"{tiny.fingerprint.hex()}.vqm", ("decode",), base)
    loop = models.pack_model(base, tmp_path / "loop.vqm", base=based)  # the base, now leaning on its dependant
    loop.replace(base)
    with pytest.raises(WeightsError, match="base packs"):
        load_model(based)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 5), extra=st.integers(0, 99), fill=st.sampled_from([0, 1, 7]), seed=st.integers(0, 99))
def test_a_filled_table_reads_row_by_row_as_it_was_written(tmp_path_factory, rows, extra, fill, seed):
    """The count tables are read a table set (a row of their first axis) at a time: each row, and
    how often a value occurs in it, as the whole table has them."""
    rng = np.random.default_rng(seed)
    width = -(-modelpack.FILL_MIN_SIZE // rows) + extra  # big enough to be filled; rows not whole bytes of the mask
    table = np.where(rng.random((rows, width)) < 0.8, fill, rng.integers(0, 9, (rows, width))).astype(np.uint16)
    path = tmp_path_factory.mktemp("filled") / "t.vqm"
    modelpack.write_pack(path, {"model": {}}, {"prior.counts": table}, {}, b"\0" * 8, ("decode",))
    pack = modelpack.ModelPack(path)
    lazy = pack.rows("prior.counts")
    assert isinstance(lazy, modelpack.FilledRows)
    assert lazy.shape == table.shape and lazy.dtype == table.dtype and lazy.ndim == 2
    for t in range(rows):
        assert np.array_equal(lazy[t], table[t])
    for value in (fill, 3, 8, 100):
        assert np.array_equal(lazy.count_per_row(value), (table == value).sum(axis=1))
    assert np.array_equal(pack.tensor("prior.counts"), table)


@pytest.mark.parametrize("shape", [[-2, -70000], [3, 70000], [2, 70001], [1, 1 << 40]])
def test_a_filled_table_whose_manifest_lies_about_its_shape_is_a_weights_error(tmp_path, shape):
    """An attacker's pack (``--model``) with valid members and a manifest that does not match them."""
    table = np.ones((2, 70000), np.uint16)
    table[:, ::7] = 5
    path = modelpack.write_pack(tmp_path / "t.vqm", {"model": {}}, {"prior.counts": table}, {}, b"\0" * 8, ("decode",))
    def lie(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["filled"]["prior.counts"]["shape"] = shape
        return json.dumps(manifest).encode()

    liar = _rewritten(path, tmp_path / "liar.vqm", modelpack.MANIFEST, lie)
    assert liar._filled["prior.counts"]["shape"] == shape
    with pytest.raises(WeightsError):
        liar.rows("prior.counts")
    with pytest.raises(WeightsError):
        liar.tensor("prior.counts")
