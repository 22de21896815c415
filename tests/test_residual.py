"""The residual layer (vqcodec/residual.py): levels to pixels as docs/format.md specifies them, the
payload's coding and what a decoder refuses, and what the encoder chooses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec import residual
from vqcodec.errors import CorruptError


def _by_the_spec(levels: np.ndarray, step: int, width: int, height: int) -> np.ndarray:
    """The residual as docs/format.md writes it, block by block in Python integers."""
    planes, rows, cols, _ = levels.shape
    t = residual.DCT.tolist()
    k = residual.mixing(planes).tolist()
    out = np.zeros((rows * 8, cols * 8, len(k[0])), np.int64)
    for r in range(rows):
        for c in range(cols):
            fine = []
            for p in range(planes):
                a = [[int(levels[p, r, c, 8 * u + v]) * step for v in range(8)] for u in range(8)]
                b = [[sum(t[u][y] * a[u][v] * t[v][x] for u in range(8) for v in range(8)) for x in range(8)]
                     for y in range(8)]
                fine.append([[(b[y][x] + (1 << 14)) // (1 << 15) for x in range(8)] for y in range(8)])
            for y in range(8):
                for x in range(8):
                    for ch in range(len(k[0])):
                        total = sum(k[p][ch] * fine[p][y][x] for p in range(planes))
                        out[8 * r + y, 8 * c + x, ch] = (total + (1 << 23)) // (1 << 24)
    return out[:height, :width]


def _levels(rng: np.random.Generator, planes: int, rows: int, cols: int, density: float = 0.2) -> np.ndarray:
    values = rng.integers(-residual.LIMIT, residual.LIMIT + 1, (planes, rows, cols, 64))
    return np.where(rng.random(values.shape) < density, values, 0).astype(np.int8)


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([1, 3]), st.integers(1, 20), st.integers(1, 20), st.integers(1, 255), st.integers(0, 2**32 - 1))
def test_levels_become_the_specs_integers_whatever_the_shape(planes, width, height, step, seed):
    rows, cols = residual.block_grid(width, height)
    levels = _levels(np.random.default_rng(seed), planes, rows, cols)
    assert np.array_equal(residual.reconstruct(levels, step, width, height), _by_the_spec(levels, step, width, height))


def test_the_largest_levels_at_the_coarsest_step_stay_exact():
    """Every level at +-60, step 255: the sums reach their bound (2^42) and are still exact."""
    levels = np.full((3, 1, 2, 64), residual.LIMIT, np.int8)
    levels[:, :, 1, ::2] = -residual.LIMIT
    assert np.array_equal(residual.reconstruct(levels, 255, 16, 8), _by_the_spec(levels, 255, 16, 8))


@pytest.mark.parametrize("channels", [1, 3])
def test_quantizing_and_adding_leaves_an_error_within_the_step(channels):
    rng = np.random.default_rng(1)
    target = rng.integers(60, 200, (21, 30, channels)).astype(np.uint8)
    shown = np.clip(target + rng.normal(0, 8, target.shape), 0, 255).astype(np.uint8)
    step = 16  # two levels
    levels = residual.quantize(target, shown, step)
    out = residual.add(shown, levels, step)
    error = np.sqrt(np.mean((out.astype(float) - target) ** 2))
    assert error < 1.0 and error < 0.15 * np.sqrt(np.mean((shown.astype(float) - target) ** 2))
    hidden = np.zeros((21, 30), bool)
    hidden[:8, :8] = True  # the error under alpha 0 is not coded
    assert levels[:, 0, 0].any() and not residual.quantize(target, shown, step, hidden)[:, 0, 0].any()


def _noisy_pair(seed: int, shape: tuple[int, ...], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(40, 215, shape).astype(np.uint8)
    noise = rng.laplace(0, sigma, shape) * (rng.random(shape[:2] + (1,)) < 0.5)  # busy and quiet pixels
    return target, np.clip(target + noise, 0, 255).astype(np.uint8)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([1, 3]), st.integers(1, 40), st.integers(1, 40), st.integers(4, 64), st.integers(0, 2**16))
def test_rate_distortion_levels_are_the_nearest_one_less_or_zero(planes, width, height, step, seed):
    target, shown = _noisy_pair(seed, (height, width, planes), 6)
    exact = np.zeros((planes, *residual.block_grid(width, height), 64))
    for top, coef in residual._coefficients(target, shown, step, None):
        exact[:, top:top + coef.shape[1]] = coef
    near = np.minimum(np.floor(np.abs(exact) + 0.5), residual.LIMIT)
    levels = residual.quantize(target, shown, step).astype(np.int64)
    size = np.abs(levels)
    assert np.all((size == near) | (size == near - 1) | (size == 0))
    assert np.all((levels == 0) | (np.sign(levels) == np.sign(exact)))
    # weighing bits at nothing, each level is the nearest
    assert np.array_equal(residual.quantize(target, shown, step, rate_weight=0.0),
                          residual.quantize(target, shown, step, offset=0.5, rate_weight=None))


def test_rate_distortion_levels_cost_less_error_plus_bits_than_the_dead_zone():
    target, shown = _noisy_pair(3, (96, 128, 3), 5)
    step = 24
    coded = np.ones(residual.block_grid(128, 96), bool)
    coded[0, :4] = False
    scores = []
    for weight in (None, residual.RATE_WEIGHT):
        levels = residual.quantize(target, shown, step, coded=coded, rate_weight=weight)
        assert not levels[:, ~coded].any()
        error = np.sum((residual.add(shown, levels, step).astype(float) - target) ** 2)
        bits = 8 * len(residual.encode(levels, step, coded))
        scores.append((error, bits, error + residual.RATE_WEIGHT * (step / residual.STEP_UNIT) ** 2 * bits))
    (_, _, dead_score), (_, _, score) = scores
    assert score < dead_score  # error plus the payload's real bits at the weight it was chosen by


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([1, 3]), st.integers(1, 90), st.integers(1, 90), st.integers(1, 255), st.integers(0, 2**32 - 1),
       st.floats(0.01, 0.6))
def test_the_payload_round_trips_skipping_exact_tiles(planes, width, height, step, seed, density):
    rng = np.random.default_rng(seed)
    rows, cols = residual.block_grid(width, height)
    exact = rng.random((-(-rows // 8), -(-cols // 8))) < 0.3
    coded = residual.coded_blocks(width, height, exact)
    levels = _levels(rng, planes, rows, cols, density)
    levels[:, ~coded] = 0
    if not levels.any():
        return
    decoded, back = residual.decode(residual.encode(levels, step, coded), planes, width, height, coded)
    assert back == step and np.array_equal(decoded, levels)


def test_blocks_of_exact_tiles_are_the_tiles_eight_by_eight_blocks():
    coded = residual.coded_blocks(130, 70, np.array([[False, True, False], [True, False, False]]))
    assert coded.shape == (9, 17)
    assert not coded[:8, 8:16].any() and not coded[8:, :8].any()
    assert coded[:8, :8].all() and coded[:8, 16].all() and coded[8:, 8:].all()


def test_residuals_no_encoder_writes_are_corrupt():
    rng = np.random.default_rng(3)
    coded = np.ones((2, 3), bool)
    levels = _levels(rng, 3, 2, 3)
    payload = residual.encode(levels, 12, coded)
    for bad in (payload + bytes(4), payload[:-4], bytes(len(payload))):
        with pytest.raises(CorruptError):
            residual.decode(bad, 3, 24, 16, coded)
    with pytest.raises(CorruptError, match="every block in exact tiles"):
        residual.decode(payload, 3, 24, 16, np.zeros((2, 3), bool))
    with pytest.raises(ValueError):  # nothing to code, or levels where blocks are not coded
        residual.encode(np.zeros_like(levels), 12, coded)
    with pytest.raises(ValueError):
        residual.encode(levels, 12, np.zeros((2, 3), bool) | np.eye(2, 3, dtype=bool))


def test_a_step_of_zero_is_corrupt():
    from vqcodec.entropy import TERMINATOR, queue, uniform_byte

    encoder = queue.RangeEncoder()
    encoder.encode(np.array([0], np.int32), uniform_byte)
    encoder.encode(TERMINATOR, uniform_byte)
    with pytest.raises(CorruptError, match="step is 0"):
        residual.decode(encoder.get_compressed().astype("<u4").tobytes(), 1, 8, 8, np.ones((1, 1), bool))


def test_a_gray_residual_is_added_to_the_gray_and_kept_in_all_channels():
    rgb = np.random.default_rng(4).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    levels = np.zeros((1, 1, 1, 64), np.int8)
    levels[0, 0, 0, 0] = 10  # the block's mean: 10 * (24 / 8) / 8 = 3.75 levels
    out = residual.apply(rgb, levels, 24)
    gray = (rgb.astype(np.int64) @ [19595, 38470, 7471] + 0x8000) >> 16  # Pillow's convert("L")
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert np.array_equal(out[..., 0], np.clip(gray + 4, 0, 255))


@pytest.mark.parametrize("planes", [1, 3])
def test_the_plan_starts_at_its_level_and_refines_the_step_at_every_level_above(planes):
    start = residual.START[planes]
    assert residual.plan(start - 1, planes) is None
    steps = [residual.plan(q, planes)[1] for q in range(start, 101)]
    assert steps[0] == residual.FIRST_STEP[planes] and steps[-1] == residual.LAST_STEP
    assert all(a > b for a, b in zip(steps, steps[1:]))  # every level a finer step: a smooth scale
    assert {residual.plan(q, planes)[0] for q in range(start, 101)} == {residual.BASE}


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(1, 40), st.sampled_from([1, 3]), st.integers(0, 2**32 - 1))
def test_bands_of_any_height_give_the_same_residual_and_levels(rows, blocks, planes, seed):
    """A large image goes a band of block rows at a time (memory); the band's height changes no
    pixel the decoder makes and no level the encoder chooses."""
    rng = np.random.default_rng(seed)
    cols = 3
    levels = _levels(rng, planes, rows, cols)
    base = rng.integers(0, 256, (rows * 8 - 3, cols * 8 - 5, planes), dtype=np.uint8)
    target = np.clip(base.astype(int) + rng.integers(-30, 31, base.shape), 0, 255).astype(np.uint8)
    whole = (residual.reconstruct(levels, 37, cols * 8, rows * 8), residual.add(base, levels, 37),
             residual.quantize(target, base, 40))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(residual, "_BAND_BLOCKS", blocks)
        patch.setattr(residual, "_QUANTIZE_BLOCKS", blocks)
        banded = (residual.reconstruct(levels, 37, cols * 8, rows * 8), residual.add(base, levels, 37),
                  residual.quantize(target, base, 40))
    for a, b in zip(whole, banded):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("planes", [1, 3])
def test_finer_steps_are_the_plans_steps_above_a_level_down_to_one(planes):
    """A residual that fits within the codes' bytes takes a finer step from these: every level
    above has its own step among them (so the level above never gets a coarser one), each
    finer than the last, ending at one level (residual.FINEST_STEP)."""
    for quality in range(residual.START[planes], 101):
        steps = residual.finer_steps(quality, planes)
        assert all(a > b for a, b in zip(steps, steps[1:])) and steps[-1] == residual.FINEST_STEP
        assert {residual.plan(q, planes)[1] for q in range(quality + 1, 101)} <= set(steps)
        assert steps[0] <= residual.plan(quality, planes)[1]
