import numpy as np
import pytest

import vqcodec

from vqcodec import residual
from vqcodec.errors import WeightsError
from vqcodec.weights import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model


@pytest.fixture()
def torch_model(tiny_model_dir):
    return load_model(tiny_model_dir, backend="torch")


def test_save_load_keeps_fingerprint(tiny_model, torch_model, tmp_path):
    fp = save_model(tmp_path / "copy", torch_model.net, torch_model.prior, torch_model.lambdas,
                    torch_model.reconstruction)
    assert fp == tiny_model.fingerprint == torch_model.fingerprint == load_model(tmp_path / "copy").fingerprint


def test_fingerprint_changes_with_the_weights(torch_model, tmp_path):
    torch_model.net.decoder.net[0].bias.data[0] += 1.0
    assert save_model(tmp_path / "changed", torch_model.net, torch_model.prior, torch_model.lambdas,
                      torch_model.reconstruction) != torch_model.fingerprint


def test_reconstruction_values_are_saved_used_and_checked(torch_model, tmp_path):
    """A model's files decode to its reconstruction values of the file's table set; a model
    without them decodes to its codebooks; values of the wrong shape are refused."""
    import vqcodec

    from .conftest import smooth_image

    values = torch_model.reconstruction
    assert values is not None and values.shape == (torch_model.prior.counts.shape[0], *torch_model.codebooks.shape)
    quality = 100
    shifted = values.copy()
    shifted[torch_model.prior.table_of_quality[quality]] += 0.5
    save_model(tmp_path / "shifted", torch_model.net, torch_model.prior, torch_model.lambdas, shifted)
    save_model(tmp_path / "none", torch_model.net, torch_model.prior, torch_model.lambdas)
    model, plain = load_model(tmp_path / "shifted"), load_model(tmp_path / "none")
    assert plain.reconstruction is None and plain.decoded_codes(quality) is plain.codebooks
    np.testing.assert_allclose(model.decoded_codes(quality), shifted[model.prior.table_of_quality[quality]], atol=2e-3)
    rgb = smooth_image(40, 32, seed=2)
    # the same codes (same codebooks and prior) decode differently under the two models
    a = np.asarray(vqcodec.decompress(vqcodec.compress(rgb, quality=quality, model=model), model=model))
    b = np.asarray(vqcodec.decompress(vqcodec.compress(rgb, quality=quality, model=plain), model=plain))
    assert not np.array_equal(a, b)
    save_model(tmp_path / "bad", torch_model.net, torch_model.prior, torch_model.lambdas, values[:1, :1])
    with pytest.raises(WeightsError, match="reconstruction"):
        load_model(tmp_path / "bad")


def test_fingerprint_covers_the_graphs(tiny_model_dir, tmp_path):
    import shutil

    from vqcodec.runtime import DECODER_FILE

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / DECODER_FILE).write_bytes((copy / DECODER_FILE).read_bytes() + b"\0")
    assert load_model(copy, backend="torch").fingerprint != load_model(tiny_model_dir, backend="torch").fingerprint


def test_onnx_and_torch_backends_decode_a_file_alike(tiny_model, torch_model):
    import numpy as np

    import vqcodec

    from .conftest import smooth_image

    assert (tiny_model.backend, torch_model.backend) == ("onnx", "torch")
    data = vqcodec.compress(smooth_image(77, 51, seed=2), 60, tiny_model)
    a = np.asarray(vqcodec.decompress(data, model=tiny_model)).astype(int)
    b = np.asarray(vqcodec.decompress(data, model=torch_model)).astype(int)
    assert np.abs(a - b).max() <= 1


def test_a_model_without_graphs_needs_the_torch_backend(tiny_model_dir, tmp_path):
    import shutil

    from vqcodec.runtime import DECODER_FILE, ENCODER_FILE

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / DECODER_FILE).unlink()
    assert load_model(copy).backend == "torch"  # the default falls back to torch
    with pytest.raises(WeightsError, match="no ONNX graphs"):
        load_model(copy, backend="onnx")
    shutil.copy(tiny_model_dir / DECODER_FILE, copy / DECODER_FILE)
    (copy / ENCODER_FILE).unlink()  # decodes on ONNX Runtime; encoding says why it cannot
    with pytest.raises(WeightsError, match="encoder"):
        vqcodec.compress(_image(), 50, load_model(copy))


def test_missing_or_damaged_weights_raise_weights_error(tiny_model_dir, tmp_path):
    with pytest.raises(WeightsError):
        load_model(tmp_path / "nothing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / CONFIG_FILE).write_text((tiny_model_dir / CONFIG_FILE).read_text())
    (bad / WEIGHTS_FILE).write_bytes(b"garbage")
    with pytest.raises(WeightsError):
        load_model(bad)


def test_an_unusable_device_is_a_weights_error(tiny_model_dir):
    with pytest.raises(WeightsError, match="device"):
        load_model(tiny_model_dir, device="nosuchdevice")
    with pytest.raises(WeightsError, match="CPU"):
        load_model(tiny_model_dir, device="cuda", backend="onnx")


def test_onnx_and_torch_backends_give_one_gradient(tiny_model, torch_model):
    import numpy as np

    from vqcodec.tiling import gradient

    from .conftest import smooth_image

    rgb = smooth_image(40, 24, seed=8)
    idx = np.random.default_rng(2).integers(0, tiny_model.cfg.codebook_size, (8, 3, 5))
    pa, ga = gradient(tiny_model.transforms, tiny_model.cfg, tiny_model.codebooks, idx, rgb)
    pb, gb = gradient(torch_model.transforms, torch_model.cfg, torch_model.codebooks, idx, rgb)
    assert np.abs(pa.astype(int) - pb).max() <= 1
    assert np.abs(ga).max() > 0 and np.allclose(ga, gb, rtol=1e-3, atol=1e-4 * np.abs(ga).max())


def test_count_tables_are_stored_as_uint16_with_large_counts_listed_apart_losslessly(tmp_path):
    from vqcodec.weights import COUNT_ESCAPE, _pack_counts, _unpack_counts

    rng = np.random.default_rng(0)
    counts = rng.integers(1, 3000, (2, 3, 10, 16)).astype(np.int64)
    counts[0, 1, 2, 3], counts[1, 2, 9, 15], counts[1, 0, 0, 0] = 1 << 20, COUNT_ESCAPE, COUNT_ESCAPE - 1
    packed = _pack_counts(counts)
    assert packed["prior.counts"].dtype == np.uint16 and packed["prior.counts_over"].tolist() == [1 << 20, COUNT_ESCAPE]
    sets = _unpack_counts(dict(packed), tmp_path)
    assert sets.shape == counts.shape and np.array_equal(np.stack([sets.load(t) for t in range(2)]), counts)
    broken = dict(packed, **{"prior.counts_over": packed["prior.counts_over"][:1]})
    with pytest.raises(WeightsError, match="escaped counts"):
        _unpack_counts(broken, tmp_path)


def test_adaptive_flags_are_saved_and_files_code_under_them(torch_model, tmp_path):
    """A prior's adaptive codebooks and their guides travel with the weights (and the fingerprint); the same image
    makes a different file under them, and each model decodes its own file to the same pixels
    its encoder saw."""
    import vqcodec
    from vqcodec.prior import Prior

    from .conftest import smooth_image

    p = torch_model.prior
    flags = np.ones_like(p.adaptive)
    guides = np.where(np.arange(p.num_codebooks) > 0, 0, -1) * np.ones_like(flags)  # codebook 0 guides the rest
    adaptive = Prior(p.counts, p.classes, p.zero, p.table_of_quality, flags, guides)
    static = Prior(p.counts, p.classes, p.zero, p.table_of_quality)
    fp_a = save_model(tmp_path / "a", torch_model.net, adaptive, torch_model.lambdas, torch_model.reconstruction)
    fp_s = save_model(tmp_path / "s", torch_model.net, static, torch_model.lambdas, torch_model.reconstruction)
    a, s = load_model(tmp_path / "a"), load_model(tmp_path / "s")
    assert fp_a != fp_s and np.array_equal(a.prior.adaptive, flags) and not s.prior.adaptive.any()
    assert np.array_equal(a.prior.guides, guides) and (s.prior.guides == -1).all()
    rgb = smooth_image(96, 80, seed=3)
    file_a, file_s = (vqcodec.compress(rgb, quality=60, model=m) for m in (a, s))
    assert file_a[40:] != file_s[40:]
    from vqcodec.codec import _Encoding
    from vqcodec.image import to_pixels

    data, chosen = _Encoding(to_pixels(rgb), a).code(60)
    assert data == file_a
    size = int.from_bytes(data[24:28], "little")
    assert np.array_equal(a.coder.decode(data[40:40 + size], *chosen.shape[1:], 60)[0], chosen)
    assert np.asarray(vqcodec.decompress(file_a, model=a)).shape == rgb.shape
    with pytest.raises(vqcodec.ModelMismatchError):
        vqcodec.decompress(file_a, model=s)


def _image():
    from .conftest import smooth_image

    return smooth_image(16, 16)


def test_a_model_reads_only_the_table_sets_its_files_use(tiny_model_dir, tmp_path):
    """Converting and checking every table set (counts and classes) took most of a model's load
    time; a file uses one. A damaged set goes unnoticed until a quality level uses it, and then it is a WeightsError."""
    import shutil

    from safetensors.numpy import load_file, save_file

    from .conftest import smooth_image

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    tensors = load_file(str(broken / WEIGHTS_FILE))
    counts = tensors["prior.counts"][0]
    counts[np.unravel_index(np.argmin(counts), counts.shape)] = 0  # a count no coder can use, in set 0 only
    save_file(tensors, str(broken / WEIGHTS_FILE))
    classes = tmp_path / "classes"
    shutil.copytree(tiny_model_dir, classes)
    tensors = load_file(str(classes / WEIGHTS_FILE))
    tensors["prior.classes"][0, 0, 0] = 255  # a row no table has, in set 0 only
    save_file(tensors, str(classes / WEIGHTS_FILE))
    model = load_model(broken)
    top = residual.START[3] - 1  # the best level coded by its own tables alone (above it, level 40's too)
    assert model.table_set(top) != 0
    image = smooth_image(40, 32, seed=1)
    vqcodec.decompress(vqcodec.compress(image, quality=top, model=model), model=model)
    assert [t for t in range(model.prior.num_sets) if model.prior._sets[t] is not None] == [model.table_set(top)]
    with pytest.raises(WeightsError, match="prior count"):
        vqcodec.compress(image, quality=0, model=model)
    model = load_model(classes)
    vqcodec.decompress(vqcodec.compress(image, quality=top, model=model), model=model)
    assert [t for t in range(model.prior.num_sets) if model.prior._classes[t] is not None] == [model.table_set(top)]
    with pytest.raises(WeightsError, match="classes"):
        vqcodec.compress(image, quality=0, model=model)
