"""Tiled transforms: the same latents and pixels as one pass over the whole image."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.tiling import analyse, gradient, synthesise, windows

from .conftest import smooth_image


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 12), st.integers(0, 6))
def test_tiles_cover_the_grid_once_and_windows_hold_their_tile(h, w, tile, margin):
    seen = np.zeros((h, w), int)
    for (rows, cols), (tr, tc) in windows(h, w, tile, margin):
        seen[tr, tc] += 1
        assert rows.start <= tr.start and tr.stop <= rows.stop and cols.start <= tc.start and tc.stop <= cols.stop
        assert rows.start == max(0, tr.start - margin) and rows.stop == min(h, tr.stop + margin)
    assert (seen == 1).all()


def test_small_tiles_give_the_latents_and_pixels_of_one_pass(tiny_model):
    t, cfg = tiny_model.transforms, tiny_model.cfg
    rgb = smooth_image(203, 141, seed=4)  # 26 x 18 latents, sides not multiples of 8
    whole = analyse(t, cfg, rgb, tile=1000)
    tiled = analyse(t, cfg, rgb, tile=5)
    assert whole.shape == (cfg.latent_dim, 18, 26)
    assert np.allclose(tiled, whole, rtol=1e-4, atol=1e-5)
    idx = np.random.default_rng(0).integers(0, cfg.codebook_size, (cfg.latent_dim // cfg.sub_dim, 18, 26))
    one = synthesise(t, cfg, tiny_model.codebooks, idx, 203, 141, tile=1000)
    many = synthesise(t, cfg, tiny_model.codebooks, idx, 203, 141, tile=5)
    assert one.shape == many.shape == (141, 203, 3)
    assert np.abs(one.astype(int) - many).max() <= 1 and (one == many).mean() > 0.999


def test_too_small_a_margin_would_show_seams(tiny_model):
    """The margin matters: without it, tiles disagree with one pass (so the test above has teeth)."""
    t, cfg = tiny_model.transforms, tiny_model.cfg
    rgb = smooth_image(160, 160, seed=5)
    whole = analyse(t, cfg, rgb, tile=1000)
    seamed = analyse(t, cfg, rgb, tile=5, margin=0)
    assert not np.allclose(seamed, whole, rtol=1e-4, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 90), st.integers(1, 90), st.integers(1, 6))
def test_tiled_gradient_adds_up_to_one_pass(tiny_model, width, height, tile):
    t, cfg = tiny_model.transforms, tiny_model.cfg
    rgb = smooth_image(width, height, seed=6)
    h, w = -(-height // 8), -(-width // 8)
    idx = np.random.default_rng(width * height).integers(0, cfg.codebook_size, (cfg.latent_dim // cfg.sub_dim, h, w))
    pixels, whole = gradient(t, cfg, tiny_model.codebooks, idx, rgb, tile=1000)
    decoded = synthesise(t, cfg, tiny_model.codebooks, idx, width, height, tile=1000)
    # two ONNX graphs may order a sum differently: a pixel on a rounding edge moves a level
    assert np.abs(pixels.astype(int) - decoded).max() <= 1 and (pixels == decoded).mean() > 0.99
    _, tiled = gradient(t, cfg, tiny_model.codebooks, idx, rgb, tile=tile)
    assert whole.shape == (cfg.latent_dim, h, w) and np.abs(whole).max() > 0
    assert np.allclose(tiled, whole, rtol=1e-3, atol=1e-4 * np.abs(whole).max())


def test_gradient_counts_only_the_masked_pixels(tiny_model):
    t, cfg = tiny_model.transforms, tiny_model.cfg
    rgb = smooth_image(45, 30, seed=9)
    idx = np.random.default_rng(3).integers(0, cfg.codebook_size, (cfg.latent_dim // cfg.sub_dim, 4, 6))
    _, full = gradient(t, cfg, tiny_model.codebooks, idx, rgb, tile=2)
    mask = np.random.default_rng(4).random((30, 45)) > 0.5
    _, part = gradient(t, cfg, tiny_model.codebooks, idx, rgb, mask, tile=2)
    _, rest = gradient(t, cfg, tiny_model.codebooks, idx, rgb, ~mask, tile=2)
    _, none = gradient(t, cfg, tiny_model.codebooks, idx, rgb, np.zeros_like(mask), tile=2)
    assert not np.allclose(part, full, atol=1e-4 * np.abs(full).max())
    assert np.allclose(part + rest, full, rtol=1e-3, atol=1e-4 * np.abs(full).max()) and not none.any()


class _Recording:
    """The real transforms, with the ``release`` flag of every run written down."""

    def __init__(self, transforms):
        self.inner, self.flags = transforms, []

    def encode(self, x, release=False):
        self.flags.append(release)
        return self.inner.encode(x, release=release)

    def decode(self, latents, table_set=0, release=False):
        self.flags.append(release)
        return self.inner.decode(latents, table_set, release=release)

    def gradient(self, latents, target, weight, table_set=0, release=False):
        self.flags.append(release)
        return self.inner.gradient(latents, target, weight, table_set, release=release)


def test_a_tiled_run_gives_its_memory_back_after_its_last_window_only(tiny_model):
    """A large image's last window releases the runtime's arena (half a GB a graph), or it stays
    held through what follows the transform; a one-window image keeps it for its next run."""
    cfg = tiny_model.cfg
    rgb = smooth_image(60, 44, seed=3)  # 8 x 6 latents: 6 windows of 3 x 3 ... 2
    idx = np.random.default_rng(5).integers(0, cfg.codebook_size, (cfg.latent_dim // cfg.sub_dim, 6, 8))
    runs = (lambda t, tile: analyse(t, cfg, rgb, tile=tile),
            lambda t, tile: synthesise(t, cfg, tiny_model.codebooks, idx, 60, 44, tile=tile),
            lambda t, tile: gradient(t, cfg, tiny_model.codebooks, idx, rgb, tile=tile))
    for run in runs:
        tiled, whole = _Recording(tiny_model.transforms), _Recording(tiny_model.transforms)
        run(tiled, 3)
        run(whole, 1000)
        assert tiled.flags == [False] * 5 + [True] and whole.flags == [False]
