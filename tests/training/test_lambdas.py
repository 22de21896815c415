"""Per-level lambdas for a smooth quality scale: set boundaries, the proposal, the measurement."""

import numpy as np
import pytest
from PIL import Image

from vqcodec.training.lambdas import SetCurve, crossover, measure, propose, set_bounds

from ..conftest import smooth_image


def test_set_bounds_are_the_runs_of_one_table_set():
    assert set_bounds(np.array([0, 0, 1, 1, 1, 2])) == [(0, 2), (2, 5), (5, 6)]


def test_proposal_spreads_a_set_geometrically_in_bytes_up_to_the_next_set():
    """A set whose bytes double each time lambda halves: its levels land where the bytes they
    should take say, its first level's and the last set's lambdas unchanged."""
    lambdas = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    grid = 2.0 ** -np.arange(6)
    curves = [SetCurve(0, grid, 100 * 2.0 ** np.arange(6), np.arange(6.0)),
              SetCurve(3, grid * 0.5, 800 * 2.0 ** np.arange(6), np.arange(6.0))]
    out = propose(curves, lambdas)
    # set 0: from 100 bytes to the next set's first level's 800 in 3 steps: 200 and 400 bytes
    assert out[0] == 1.0 and out[1] == pytest.approx(0.5) and out[2] == pytest.approx(0.25)
    assert list(out[3:]) == lambdas[3:]


def test_a_set_spreads_only_as_far_as_it_gives_the_better_image():
    """Past the point where the next set's tables give the better PSNR at the same bytes, the
    lower set's levels would waste bytes: they stop there."""
    k = np.arange(9.0)
    grid, nbytes = 2.0 ** -k, 100 * 2.0 ** (k / 2)  # lambda = (100 / bytes) ** 2 on both curves
    lower = SetCurve(0, grid, nbytes, k)  # PSNR 2 log2(bytes / 100)
    upper = SetCurve(8, grid, nbytes, 2 * k - 6)  # steeper: equal at 800 bytes, better above
    assert crossover(lower, upper, 100.0, 1600.0) == pytest.approx(0.75, abs=0.01)  # log2 16 = 4, 3 of them
    lambdas = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 2.0 ** -8]
    out = propose([lower, upper], lambdas, last_step=2.0)
    assert out[7] == pytest.approx(2.0 ** -6, rel=0.05)  # the top level codes 800 bytes, not 1131
    assert out[0] == 1.0 and out[8] == lambdas[8] and np.all(np.diff(out[:8]) < 0)
    # a last step capped below the even step (41% here) gives even steps: the top level at 1131 bytes
    assert propose([lower, upper], lambdas, last_step=0.1)[7] == pytest.approx(2.0 ** -7)


def test_the_step_to_the_next_set_adds_at_least_the_least_step():
    """Where the lower set is the better all the way (crossover 1.0), its top level stops a
    least step short of the next set's first level: curves of a few photos must not put it past."""
    k = np.arange(9.0)
    grid, nbytes = 2.0 ** -k, 100 * 1.01 ** k  # the gap from 100 to 108 bytes is small
    lower, upper = SetCurve(0, grid, nbytes, k), SetCurve(4, grid / 16, nbytes * 1.01 ** 4, k)
    lambdas = [1.0, 0.5, 0.25, 0.125, 2.0 ** -4]
    top = propose([lower, upper], lambdas, last_step=1.0, least_step=0.02)[3]
    at = np.interp(np.log(top), np.log(grid[::-1]), np.log(nbytes[::-1]))
    assert np.exp(np.log(100 * 1.01 ** 4) - at) == pytest.approx(1.02, rel=1e-3)


def test_measurement_codes_at_each_lambda_and_restores_the_model(tiny_model, tmp_path):
    Image.fromarray(smooth_image(48, 40, seed=3)).save(tmp_path / "a.png")
    before = list(tiny_model.lambdas)
    curves = measure(tiny_model, [tmp_path / "a.png"], points=3, up=1.0)
    assert tiny_model.lambdas == before
    assert [c.first for c in curves] == [b for b, _ in set_bounds(tiny_model.prior.table_of_quality)]
    for c in curves:
        assert before[c.first] in c.lambdas and np.all(np.diff(c.lambdas) < 0)
        assert np.all(c.bytes > 0) and np.all(np.isfinite(c.psnr))
    last_two = {c.first for c in curves[-2:]}
    assert [c.first for c in measure(tiny_model, [tmp_path / "a.png"], points=3, firsts=last_two)] == sorted(last_two)


def test_a_model_with_new_lambdas_is_a_new_model_with_the_same_decoder(tiny_model_dir, tmp_path):
    import vqcodec
    from vqcodec.modelpack import ModelPack
    from vqcodec.training.lambdas import with_lambdas

    old = vqcodec.load_model(tiny_model_dir)
    lambdas = np.array(old.lambdas) * 0.5
    pack = with_lambdas(tiny_model_dir, lambdas, tmp_path, {"photos": 3})
    ModelPack(pack).verify()  # the fingerprint it is named by is the one its contents give
    new = vqcodec.load_model(pack)
    assert new.fingerprint != old.fingerprint and pack.stem == new.fingerprint.hex()
    assert new.lambdas == lambdas.tolist()
    assert ModelPack(pack).config["lambdas_refit"] == [{"from": old.fingerprint.hex(), "photos": 3}]
    source, made = vqcodec.weights.open_model(tiny_model_dir), ModelPack(pack)
    for name in source.tensors:  # everything but the lambdas byte for byte: the same decoder and tables
        if name != "rate.lambdas":
            assert np.array_equal(source.tensors[name], made.tensor(name)), name
    image = smooth_image(40, 32, seed=4)
    q = new.num_qualities // 2
    assert len(vqcodec.compress(image, quality=q, model=new)) != len(vqcodec.compress(image, quality=q, model=old))
