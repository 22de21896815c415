import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.prior import NUM_CLASSES, NUM_CONTEXTS, Prior
from vqcodec.prior import phase_of
from vqcodec.rate import LEAD_WEIGHTS, choose_codes, coded_steps, quality_lambdas, smooth_means


def _exhaustive(latents, codebooks, prior, quality, lam):
    out = np.zeros(latents.shape[:3], np.int64)
    for m, pos, rows, shift, tables in prior.steps(quality, out):
        v = latents[m].reshape(-1, latents.shape[3])[pos]
        cost = ((v[:, None] - codebooks[m][None]) ** 2).sum(-1)
        symbols = (np.arange(prior.size)[None] - shift[:, None]) % prior.size
        bits = -np.log2(tables / tables.sum(1, keepdims=True))
        cost = cost + lam * np.take_along_axis(bits[rows], symbols, 1)
        out[m].reshape(-1)[pos] = cost.argmin(1)
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 20), st.floats(0, 2), st.integers(0, 2**32 - 1))
def test_small_codebooks_get_the_exact_entropy_constrained_choice(codebooks, d, size, lam, seed):
    rng = np.random.default_rng(seed)
    cb = rng.normal(size=(codebooks, size, d))
    if d == 1:
        cb = np.sort(cb, axis=1)
    prior = Prior(rng.integers(1, 100, (1, codebooks, NUM_CLASSES, size)),
                  rng.integers(0, NUM_CLASSES, (1, codebooks, NUM_CONTEXTS)), rng.integers(0, size, codebooks),
                  np.zeros(1, np.int64), rng.integers(0, 2, (1, codebooks)))
    z = rng.normal(size=(codebooks, 4, 5, d))
    got = choose_codes(z, cb, prior, 0, lam)
    if lam == 0:  # the nearest codes, whatever their bits
        want = _exhaustive(z, cb, prior, 0, lam)
        cost = lambda idx: sum(((z[m] - cb[m][idx[m]]) ** 2).sum() for m in range(codebooks))  # noqa: E731
        assert np.allclose(cost(got), cost(want))
    _assert_each_code_is_the_cheapest(z, cb, prior, lam, got)


def _assert_each_code_is_the_cheapest(z, cb, prior, lam, got):
    """Every chosen code minimises, over the whole codebook, its weighted squared error plus lam
    times its bits under the row its context selects (the decoder's context, from the codes chosen
    before it). Phases 0 .. 2 aim at their neighbourhood's mean where it is smooth, their error
    weighed by LEAD_WEIGHTS (rate.py's rule, restated here position by position)."""
    _, h, w, d = z.shape
    phase = phase_of(h, w).ravel()
    means, smooth = smooth_means(z, lam) if lam > 0 else (None, None)
    for m, pos, rows, shift, tables in prior.steps(0, got.copy()):
        v = z[m].reshape(-1, d)[pos]
        weight = np.ones(pos.size)
        if lam > 0:
            row, col = np.divmod(pos, w)
            even = row // 2 * ((w + 1) // 2) + col // 2
            lead = (phase[pos] < len(LEAD_WEIGHTS)) & smooth[m][even]
            v = np.where(lead[:, None], means[m][even], v)
            weight = np.where(lead, np.take(LEAD_WEIGHTS, np.minimum(phase[pos], len(LEAD_WEIGHTS) - 1)), 1.0)
        err = weight[:, None] * ((v[:, None] - cb[m][None]) ** 2).sum(-1)
        bits = -np.log2(tables / tables.sum(1, keepdims=True))
        symbols = (np.arange(prior.size)[None] - shift[:, None]) % prior.size
        total = err + lam * np.take_along_axis(bits[rows], symbols, 1)
        chosen = np.take_along_axis(total, got[m].reshape(-1)[pos][:, None], 1)[:, 0]
        assert np.all(chosen <= total.min(1) + 1e-4 * (1 + np.abs(total.min(1)))), (m, pos)


def test_no_lambda_is_the_nearest_code_and_a_huge_one_the_cheapest():
    cb = np.linspace(-3, 3, 64)[None, :, None]
    counts = np.ones((1, 1, NUM_CLASSES, 64), np.int64)
    counts[..., 32] = 10**6  # code 32 is nearly free
    prior = Prior(counts, np.zeros((1, 1, NUM_CONTEXTS), np.int64), np.array([32]), np.zeros(1, np.int64))
    def choose(v, lam):  # a 1x1 image each, so no code is predicted from a neighbour
        return int(choose_codes(np.full((1, 1, 1, 1), v), cb, prior, 0, lam)[0, 0, 0])

    assert [choose(v, 0.0) for v in (-2.9, 0.7, 2.95)] == [1, 39, 62]  # nearest of levels 6/63 apart
    assert [choose(v, 1e6) for v in (-2.9, 0.7, 2.95)] == [32, 32, 32]


def test_quality_lambdas_fall_evenly_in_log_scale():
    lams = quality_lambdas(0.3, 3e-5, 101)
    assert lams[0] == 0.3 and np.isclose(lams[-1], 3e-5)
    assert np.allclose(np.diff(np.log(lams)), np.log(lams[1] / lams[0]))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.floats(0, 2), st.integers(0, 2**32 - 1))
def test_coding_as_codes_are_chosen_gives_the_bytes_of_coding_them_after(codebooks, h, w, lam, seed):
    from vqcodec.entropy import EntropyCoder

    rng = np.random.default_rng(seed)
    size = 16
    cb = np.sort(rng.normal(size=(codebooks, size, 1)), axis=1)
    prior = Prior(rng.integers(1, 100, (1, codebooks, NUM_CLASSES, size)),
                  rng.integers(0, NUM_CLASSES, (1, codebooks, NUM_CONTEXTS)), rng.integers(0, size, codebooks),
                  np.zeros(1, np.int64), rng.integers(0, 2, (1, codebooks)))
    z = rng.normal(size=(codebooks, h, w, 1))
    coder, chosen = EntropyCoder(prior), np.zeros((codebooks, h, w), np.int32)
    fused = coder.encode_steps(coded_steps(z, cb, prior, 0, lam, chosen), 0)
    after = choose_codes(z, cb, prior, 0, lam)
    assert np.array_equal(chosen, after) and fused == coder.encode(after, 0)


def test_a_code_the_context_makes_cheap_is_found_outside_both_windows():
    from vqcodec.rate import WINDOW

    cb = np.linspace(-1, 1, 256)[None, :, None]
    counts = np.ones((1, 1, NUM_CLASSES, 256), np.int64)
    counts[..., 200] = 10**6  # a popular level far from the zero code (128)
    prior = Prior(counts, np.zeros((1, 1, NUM_CONTEXTS), np.int64), np.array([128]), np.zeros(1, np.int64))
    v = cb[0, 200 - 2 * WINDOW, 0]  # its nearest code's window stops short of code 200
    assert int(choose_codes(np.full((1, 1, 1, 1), v), cb, prior, 0, 1.0)[0, 0, 0]) == 200
    assert int(choose_codes(np.full((1, 1, 1, 1), v), cb, prior, 0, 0.0)[0, 0, 0]) == 200 - 2 * WINDOW


def test_an_anchor_in_a_flat_region_takes_the_regions_code_not_the_usual_one(monkeypatch):
    """A flat 8x8 region at 0.7 where the usual code (near 0) is 20 bits cheaper: an anchor
    alone would take the usual code; speaking for its smooth neighbourhood, it keeps the colour."""
    import vqcodec.rate as rate
    from vqcodec.prior import phase_positions

    cb = np.linspace(-3, 3, 64)[None, :, None]
    counts = np.ones((1, 1, NUM_CLASSES, 64), np.int64)
    counts[..., 32] = 10**6
    prior = Prior(counts, np.zeros((1, 1, NUM_CONTEXTS), np.int64), np.array([32]), np.zeros(1, np.int64))
    z = np.full((1, 8, 8, 1), 0.7)
    anchors = phase_positions(8, 8)[0]
    assert set(choose_codes(z, cb, prior, 0, 0.05)[0].ravel()[anchors]) == {39}  # the code nearest 0.7
    monkeypatch.setattr(rate, "LEAD_WEIGHTS", (1.0, 1.0, 1.0))
    assert set(choose_codes(z, cb, prior, 0, 0.05)[0].ravel()[anchors]) == {32}


def test_smooth_means_are_the_3x3_mean_and_smooth_only_where_the_latents_around_are():
    from vqcodec.rate import smooth_means

    z = np.zeros((7, 6, 1))  # even positions: 4 rows of 3
    z[:, 3:] = np.array([[0.0, 2.0, -2.0]] * 7)[:, :, None]  # a rough right half
    z[1, 1] = 0.3
    mean, smooth = smooth_means(z[None], lam=0.1)
    assert mean.shape == (1, 12, 1) and smooth.shape == (1, 12)
    mean, smooth = mean[0, :, 0].reshape(4, 3), smooth[0].reshape(4, 3)
    assert np.isclose(mean[1, 1], 0.3 / 9) and np.isclose(mean[0, 0], 0.3 / 9)  # (2, 2) and (0, 0), edges repeated
    assert smooth[0, 0] and smooth[3, 0] and not smooth[1, 2] and not smooth[3, 2]
    assert np.isclose(mean[1, 2], 0)  # (2, 4): columns 3, 4, 5 hold 0, 2, -2, rough but of mean 0


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([64, 256, 512, 1024]), st.floats(0, 3), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_the_window_search_finds_the_best_of_the_window_and_the_cheapest(size, lam, shifted, weighted, seed):
    """The search through sliding views picks, for each position, the code of least weighted error
    plus bits among the window around its nearest code and its class's cheapest codes moved by its
    shift: restated here candidate by candidate."""
    from vqcodec.rate import CHEAPEST, _costs, _search_window, _window

    rng = np.random.default_rng(seed)
    cb = np.sort(rng.normal(size=(size, 1)), axis=0).astype(np.float32)
    window = _window(cb)
    assert window > 0
    tables = np.stack([rng.choice(np.arange(1, 10**5), size, replace=False) for _ in range(5)])  # no ties:
    tables[rng.integers(0, 5, 3), rng.integers(0, size, 3)] = 10**6 + np.arange(3)  # one set of cheapest codes
    costs = _costs(tables, lam, window)
    p = 300
    v = rng.normal(scale=1.2, size=(p, 1)).astype(np.float32)
    classes = rng.integers(0, 5, p)
    shift = rng.integers(0, size, p) if shifted else None
    weight = rng.choice(np.float32([1, 3, 8]), p) if weighted else None
    values = cb[:, 0].copy()
    got = _search_window(v, values, np.lib.stride_tricks.sliding_window_view(values, 2 * window + 1), classes,
                         shift, costs, weight)
    bits = lam * -np.log2(tables / tables.sum(1, keepdims=True))
    for i in range(p):
        near = min(max(int(np.searchsorted(values, v[i, 0])), window), size - 1 - window)
        cheap = np.argsort(bits[classes[i]], kind="stable")[:CHEAPEST]
        cands = np.concatenate([np.arange(near - window, near + window + 1), (cheap + (shift[i] if shifted else 0)) % size])
        symbols = (cands - (shift[i] if shifted else 0)) % size
        score = (1 if weight is None else weight[i]) * (values[cands] - v[i, 0]) ** 2 + bits[classes[i], symbols]
        mine = (1 if weight is None else weight[i]) * (values[got[i]] - v[i, 0]) ** 2 + \
            bits[classes[i], (got[i] - (shift[i] if shifted else 0)) % size]
        assert got[i] in cands and mine <= score.min() + 1e-4 * (1 + score.min())
