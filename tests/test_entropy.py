"""Range coding under the context prior: exact round trip, rate near cross-entropy, and a
decoder that notices a payload which does not end where the image does."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec import correction
from vqcodec.correction import Correction
from vqcodec.entropy import EntropyCoder
from vqcodec.errors import CorruptError
from vqcodec.prior import NUM_CLASSES, NUM_CONTEXTS, Prior, schedule


def random_prior(rng: np.random.Generator, codebooks: int, size: int, sets: int = 2, levels: int = 3,
                 classes: int = NUM_CLASSES) -> Prior:
    counts = rng.integers(1, 1000, (sets, codebooks, classes, size))
    classes = rng.integers(0, classes, (sets, codebooks, NUM_CONTEXTS))
    adaptive = rng.integers(0, 2, (sets, codebooks))  # codebooks adapting to the image or not, guided or not
    guides = np.where(adaptive == 1, rng.integers(-1, np.maximum(np.arange(codebooks), 1), (sets, codebooks)), -1)
    guides = np.minimum(guides, np.arange(codebooks) - 1)
    return Prior(counts, classes, rng.integers(0, size, codebooks), rng.integers(0, sets, levels), adaptive, guides)


def sample(prior: Prior, quality: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Index maps drawn from the prior itself, in coding order under their contexts."""
    out = np.zeros((prior.num_codebooks, h, w), np.int64)
    for m, pos, ctx, shift in schedule(prior.zero, prior.size, out):
        p = prior.probabilities(quality, m)[prior.class_of(quality, m)[ctx]]
        out[m].reshape(-1)[pos] = ((p.cumsum(1) > rng.random((pos.size, 1))).argmax(1) + shift) % prior.size
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 20), st.integers(1, 20), st.integers(2, 40), st.integers(0, 2),
       st.sampled_from([1, 10, NUM_CLASSES, 40]), st.integers(0, 2**32 - 1))
def test_round_trip_is_exact(codebooks, h, w, size, quality, classes, seed):
    """Whatever the tables' class count: models designed with 10 classes still decode."""
    rng = np.random.default_rng(seed)
    prior = random_prior(rng, codebooks, size, classes=classes)
    idx = rng.integers(0, size, (codebooks, h, w))
    coder = EntropyCoder(prior)
    decoded, fix = coder.decode(coder.encode(idx, quality), h, w, quality)
    assert np.array_equal(decoded, idx) and not fix.active


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, len(correction.STEPS) - 1),
       st.integers(1, correction.SPREADS - 1), st.integers(0, 2**32 - 1))
def test_correction_round_trips_after_the_codes(h, w, step, spread, seed):
    """The colour correction's grid (one point per 8 x 8 latents) comes back exactly, any
    integer in range under any table, and costs what :func:`correction.bits` says."""
    rng = np.random.default_rng(seed)
    prior = random_prior(rng, 2, 16)
    idx = rng.integers(0, 16, (2, h, w))
    gh, gw = correction.grid_shape(8 * w, 8 * h)
    values = rng.integers(-correction.LIMIT, correction.LIMIT + 1, (correction.CHANNELS, gh, gw))
    fix = Correction(step, spread, values)
    coder = EntropyCoder(prior)
    data = coder.encode(idx, 0, fix)
    decoded, back = coder.decode(data, h, w, 0)
    assert np.array_equal(decoded, idx)
    assert (back.step, back.spread) == (step, spread) and np.array_equal(back.values, values)
    assert 8 * len(data) <= 1.01 * (prior.cross_entropy_bits(idx, 0) + correction.bits(fix)) + 32 + 64


def test_rate_within_one_percent_of_cross_entropy():
    rng = np.random.default_rng(0)
    counts = (1e6 * rng.dirichlet(np.full(64, 0.3), (1, 4, NUM_CLASSES))).astype(np.int64) + 1
    prior = Prior(counts, rng.integers(0, NUM_CLASSES, (1, 4, NUM_CONTEXTS)), np.full(4, 32), np.zeros(1, np.int64))
    idx = sample(prior, 0, 60, 70, rng)
    bits = 8 * len(EntropyCoder(prior).encode(idx, 0))
    ideal = prior.cross_entropy_bits(idx, 0)
    assert ideal < bits <= 1.01 * ideal + 32 + 64  # terminator, flushed state


def test_thin_images_take_as_few_coder_calls_as_square_ones():
    """Contexts are known per phase before decoding it, so a 1-pixel strip is no slower per symbol."""
    rng = np.random.default_rng(3)
    prior = random_prior(rng, 3, 16)
    coder = EntropyCoder(prior)
    idx = rng.integers(0, 16, (3, 1, 5000))
    assert np.array_equal(coder.decode(coder.encode(idx, 1), 1, 5000, 1)[0], idx)
    assert len(coder._models) <= 2 * 3 * NUM_CLASSES  # table sets x codebooks x classes


def test_rejects_bad_input():
    coder = EntropyCoder(Prior.uniform(2, 4, 3))
    with pytest.raises(ValueError):
        coder.encode(np.full((2, 1, 1), 4), 0)  # index out of range
    with pytest.raises(ValueError):
        coder.encode(np.zeros((1, 1, 1), np.int64), 0)  # fewer codebooks than the prior
    with pytest.raises(ValueError):
        coder.encode(np.zeros((2, 1, 1), np.int64), 3)  # no such quality
    with pytest.raises(CorruptError):
        coder.decode(b"\x00\x01\x02", 1, 1, 0)


@pytest.fixture(scope="module")
def coded():
    rng = np.random.default_rng(5)
    prior = random_prior(rng, 4, 32, sets=1, levels=1)
    idx = rng.integers(0, 32, (4, 12, 10))
    coder = EntropyCoder(prior)
    return coder, coder.encode(idx, 0), idx


def test_payload_shorter_than_the_image_can_be_is_refused_before_decoding(coded):
    coder, data, _ = coded
    with pytest.raises(CorruptError, match="too short"):
        coder.decode(data[:8], 12, 10, 0)
    with pytest.raises(CorruptError, match="too short"):
        coder.decode(b"", 4096, 4096, 0)  # a header-only bomb


@pytest.mark.parametrize("damage", ["truncate", "extend", "relabel", "random"])
def test_payload_that_does_not_end_with_the_image_is_corrupt(coded, damage):
    coder, data, _ = coded
    h, w = 12, 10
    if damage == "truncate":
        data = data[:-8]
    elif damage == "extend":
        data = data + data[:8]
    elif damage == "relabel":
        h, w = 6, 10
    else:
        data = np.random.default_rng(0).integers(0, 256, len(data), np.uint8).tobytes()
    with pytest.raises(CorruptError):
        coder.decode(data, h, w, 0)


def test_correction_naming_no_table_is_corrupt():
    """A crafted stream: valid codes, then a correction with a step but table 0."""
    from vqcodec import entropy

    coder, data = _crafted([(np.array([2]), entropy._STEP), (np.array([0]), entropy._SPREAD),
                            (entropy.TERMINATOR, entropy.uniform_byte)])
    with pytest.raises(CorruptError, match="no table"):
        coder.decode(data, 4, 4, 0)


def _crafted(tail: list) -> tuple[EntropyCoder, bytes]:
    """A 4 x 4 one-codebook payload: valid codes, then ``tail``'s (symbols, model) pairs as written."""
    import constriction

    from vqcodec import entropy

    rng = np.random.default_rng(2)
    prior = random_prior(rng, 1, 8, sets=1, levels=1)
    coder = EntropyCoder(prior)
    idx = rng.integers(0, 8, (1, 4, 4))
    enc = constriction.stream.queue.RangeEncoder()
    for m, pos, rows, shift, tables in prior.steps(0, idx):
        order, groups = entropy._groups(rows)
        for row, lo, hi in groups:
            enc.encode(((idx[m].ravel()[pos] - shift) % prior.size)[order[lo:hi]].astype(np.int32),
                       coder._model(0, m, row, tables))
    for symbols, model in tail:
        enc.encode(np.asarray(symbols, np.int32), model)
    return coder, enc.get_compressed().astype("<u4").tobytes()


def test_the_terminator_must_be_there_and_end_the_stream():
    """entropy.finish: the four bytes after the codes must be "VQC3", and no symbol may follow them."""
    from vqcodec import entropy

    no_fix = (np.array([0]), entropy._STEP)
    _, valid = _crafted([no_fix, (entropy.TERMINATOR, entropy.uniform_byte)])
    coder, wrong = _crafted([no_fix, (np.frombuffer(b"VQC4", np.uint8), entropy.uniform_byte)])
    assert coder.decode(valid, 4, 4, 0)[0].shape == (1, 4, 4)
    with pytest.raises(CorruptError, match="does not end where the image does"):
        coder.decode(wrong, 4, 4, 0)
    _, longer = _crafted([no_fix, (entropy.TERMINATOR, entropy.uniform_byte), (np.arange(16), entropy.uniform_byte)])
    with pytest.raises(CorruptError, match="data after its last symbol"):
        coder.decode(longer, 4, 4, 0)


def test_an_image_its_adaptive_tables_make_cheap_is_not_refused_as_short():
    """Adapted rows can make a code likelier than any static row does: the payload-size check
    must not count on the static tables' largest probability for adaptive codebooks."""
    counts = np.full((1, 2, 1, 8), 100, np.int64)
    counts[:, 0, :, 0] = 10**6  # codebook 0 costs next to nothing
    counts[:, 1, :, 3] = 50  # codebook 1 takes a code its tables find half as likely as the others
    prior = Prior(counts, np.zeros((1, 2, NUM_CONTEXTS), np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64),
                  np.array([[0, 1]]))
    idx = np.stack([np.zeros((16, 16), np.int64), np.full((16, 16), 3)])
    coder = EntropyCoder(prior)
    data = coder.encode(idx, 0)
    static_floor = 16 * 16 * -np.log2(100 / 750)  # the least codebook 1 could cost under its static rows
    assert 8 * len(data) + 64 < static_floor
    assert np.array_equal(coder.decode(data, 16, 16, 0)[0], idx)


def test_round_trip_across_adaptation_tiles():
    """An image several adaptation tiles wide and tall decodes exactly (each tile its own statistics)."""
    from vqcodec.prior import ADAPT_TILE

    rng = np.random.default_rng(5)
    prior = random_prior(rng, 3, 16, sets=1, levels=1)
    prior.adaptive[:], prior.guides[:] = 1, [[-1, 0, 1]]
    h, w = ADAPT_TILE + 3, 2 * ADAPT_TILE + 5
    idx = np.where(np.arange(w) < ADAPT_TILE, rng.integers(0, 4, (3, h, w)), rng.integers(8, 16, (3, h, w)))
    coder = EntropyCoder(prior)
    data = coder.encode(idx, 0)
    assert np.array_equal(coder.decode(data, h, w, 0)[0], idx)
    assert 8 * len(data) <= 1.01 * prior.cross_entropy_bits(idx, 0) + 96


@pytest.mark.parametrize("rows", [5, 300, 70000])
def test_groups_keep_coding_order_whatever_the_number_of_rows(rows):
    """Positions go to the coder by row, raster order within a row, also past 65535 rows (a large
    image's adapted rows: one per tile, class and bucket)."""
    from vqcodec import entropy

    at = np.random.default_rng(rows).integers(0, rows, 5000)
    order, groups = entropy._groups(at)
    assert np.array_equal(order, np.argsort(at, kind="stable"))
    assert [r for r, _, _ in groups] == sorted(set(at.tolist()))
    assert all((at[order[lo:hi]] == r).all() for r, lo, hi in groups)
