"""The colour correction: its tables, its interpolation, the encoder's fit and the decoder's use."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec import correction, tiling
from vqcodec.correction import Correction
from vqcodec.rate import from_codes

from .conftest import smooth_image


@pytest.mark.parametrize("spread", range(1, correction.SPREADS))
def test_tables_are_positive_integers_falling_away_from_zero(spread):
    n = correction.counts(spread)
    assert n.dtype == np.int64 and n.size == 2 * correction.LIMIT + 1 and (n >= 1).all()
    assert np.array_equal(n, n[::-1]) and n[correction.LIMIT] == 1 << 16
    assert (np.diff(n[correction.LIMIT:]) <= 0).all()


def test_no_table_zero():
    with pytest.raises(ValueError):
        correction.counts(0)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 700), st.integers(0, 699))
def test_interpolation_is_a_partition_of_unity_constant_beyond_the_centres(n, start):
    start = min(start, n - 1)
    points = -(-n // correction.STRIDE)
    lo, hi, frac = correction.interpolation(start, n, points)
    assert (0 <= lo).all() and (hi < points).all() and (hi - lo <= 1).all() and ((0 <= frac) & (frac < 1)).all()
    assert (np.diff(lo) >= 0).all()  # ascending: each point's pixels are one run
    x = np.arange(start, n)
    centre = correction.STRIDE / 2 - 0.5
    assert np.array_equal(lo[x <= centre], np.zeros((x <= centre).sum())) and not frac[x <= centre].any()
    inside = (x > centre) & (x < centre + correction.STRIDE * (points - 1))
    np.testing.assert_allclose(lo[inside] + frac[inside], (x[inside] + 0.5) / correction.STRIDE - 0.5)


def test_offsets_of_a_window_are_those_of_the_whole_image():
    rng = np.random.default_rng(0)
    width, height = 300, 200
    gh, gw = correction.grid_shape(width, height)
    fix = Correction(3, 5, rng.integers(-5, 6, (3, gh, gw)))
    whole = correction.offsets(fix, slice(0, height), slice(0, width), width, height)
    part = correction.offsets(fix, slice(70, 140), slice(130, 290), width, height)
    np.testing.assert_allclose(part, whole[:, 70:140, 130:290], atol=1e-4)
    # pixel (96, 160) lies half a pixel past the centres of points (1, 2) (at 95.5, 159.5)
    assert whole[2, 96, 160] == pytest.approx(3 * fix.values[2, 1, 2] * (1 - 0.5 / 64) ** 2 +
                                              3 * fix.values[2, 1, 3] * (0.5 / 64) * (1 - 0.5 / 64) +
                                              3 * fix.values[2, 2, 2] * (0.5 / 64) * (1 - 0.5 / 64) +
                                              3 * fix.values[2, 2, 3] * (0.5 / 64) ** 2, abs=1e-3)


def test_fit_undoes_a_region_of_wrong_colour():
    """Latent errors that leave a 128 x 128 patch 6 levels too green are fitted with a correction
    that brings it back, when bits are cheap; when they are dear, none is coded."""
    d, h, w = 4, 32, 32
    means = np.zeros((3, d))
    means[1, 0] = 60.0  # latent 0 moves the block's green by 60 levels a unit
    idx = np.zeros((d, h, w), np.int64)
    idx[0, 8:24, 8:24] = 1  # 6 levels too green in the middle:
    values = np.array([[[0.0], [0.1]]] * d)  # code 1 of codebook 0 decodes 0.1 above its latent
    colour = correction.colour_error(idx, values, np.zeros((d, h, w), np.float32), means)
    np.testing.assert_allclose(colour[1], 6.0 * (idx[0] == 1))
    assert not colour[[0, 2]].any()
    fix = correction.fit(colour, 8 * w, 8 * h, bit_weight=1.0)
    assert fix.active and not fix.values[[0, 2]].any()
    green = correction.offsets(fix, slice(0, 8 * h), slice(0, 8 * w), 8 * w, 8 * h)[1]
    left = 6.0 * np.kron(idx[0] == 1, np.ones((8, 8))) + green
    assert (left ** 2).sum() < 0.5 * 36.0 * 128 * 128
    assert not correction.fit(colour, 8 * w, 8 * h, bit_weight=1e9).active
    assert not correction.fit(np.zeros((3, h, w)), 8 * w, 8 * h, bit_weight=1.0).active


def test_bits_count_the_step_alone_without_a_correction():
    assert correction.bits(correction.NONE) == pytest.approx(np.log2(len(correction.STEPS)))
    fix = Correction(1, 8, np.zeros((3, 2, 2), np.int64))
    assert correction.bits(fix) == pytest.approx(np.log2(len(correction.STEPS) * correction.SPREADS) +
                                                 12 * -np.log2(correction.counts(8)[correction.LIMIT] /
                                                               correction.counts(8).sum()))


def test_decoder_adds_the_offsets_before_rounding_in_every_tile(tiny_model):
    rng = np.random.default_rng(1)
    m = tiny_model
    idx = rng.integers(0, m.prior.size, (m.prior.num_codebooks, 20, 30))
    width, height = 237, 155
    gh, gw = correction.grid_shape(width, height)
    fix = Correction(4, 3, rng.integers(-8, 9, (3, gh, gw)))
    args = (m.transforms, m.cfg, m.decoded_codes(0), idx, width, height)
    plain = tiling.synthesise(*args)
    one = tiling.synthesise(*args, correction=fix)
    tiled = tiling.synthesise(*args, tile=8, correction=fix)
    assert np.abs(one.astype(int) - tiled).max() <= 1  # tiles agree up to float rounding
    y = m.transforms.decode(from_codes(idx, m.decoded_codes(0))[None])[0][:, :height, :width] * np.float32(255)
    y += correction.offsets(fix, slice(0, height), slice(0, width), width, height)
    expected = np.clip(np.round(y), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert np.array_equal(one, expected) and not np.array_equal(one, plain)
    assert np.array_equal(tiling.corrected(plain, fix), np.clip(
        np.round(plain.astype(np.float32) + correction.offsets(fix, slice(0, height), slice(0, width), width,
                                                               height).transpose(1, 2, 0)), 0, 255))


def test_files_carry_what_the_encoder_fitted(tiny_model):
    """A smooth photo at a low level: the correction the encoder chose comes back from the file and
    the reported image (what decompress gives) includes it."""
    import vqcodec
    from vqcodec.bitstream import DEFAULT_MAX_PIXELS, unpack

    photo = smooth_image(160, 120, seed=4)
    active = 0
    for q in (0, 20, 50, 70):  # (above 73 the codes may be a lower level's, under a residual)
        result = vqcodec.compress_report(photo, q, tiny_model)
        idx, fix = tiny_model.coder.decode(unpack(result.data, DEFAULT_MAX_PIXELS).payload, 15, 20, q)
        out = np.asarray(vqcodec.decompress(result.data, tiny_model))
        assert np.array_equal(out, np.asarray(result.reconstruction))
        plain = tiling.synthesise(tiny_model.transforms, tiny_model.cfg, tiny_model.decoded_codes(q), idx, 160, 120,
                                  table_set=tiny_model.table_set(q))
        active += fix.active
        assert fix.active == (not np.array_equal(out, plain))
    assert active
