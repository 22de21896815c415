import numpy as np

from vqcodec.prior import NUM_CLASSES, NUM_CONTEXTS, ROW_TOTAL, Prior
from vqcodec.training.prior_design import ContextCounter, adaptive_codebooks, cluster_contexts, codebook_guides, usual_codes


def test_counter_learns_what_context_predicts_and_keeps_every_code_codable():
    zero = np.array([0, 0])
    counter = ContextCounter(2, 8)
    rng = np.random.default_rng(0)
    for _ in range(30):
        idx = np.stack([rng.integers(0, 8, (5, 5)), np.full((5, 5), 3)])
        counter.add(idx, zero)
    assert counter.counts.sum() == 30 * 2 * 25
    classes, tables = counter.design()
    prior = Prior(tables[None], classes[None], zero, np.zeros(2, np.int64))
    rows = prior.probabilities(0, 1)[np.unique(prior.class_of(0, 1))]
    assert (rows.argmax(1) == 3).all() and rows.max() > 0.9
    assert prior.counts.min() >= 1 and prior.counts.max() <= ROW_TOTAL + 1


def test_contexts_that_predict_alike_share_a_class():
    counts = np.zeros((NUM_CONTEXTS, 4), np.int64)
    counts[:6, 0] = 100  # six contexts where code 0 rules
    counts[6:12, 3] = 100  # six where code 3 does
    classes = cluster_contexts(counts, 2)
    assert len(set(classes[:6])) == 1 and len(set(classes[6:12])) == 1 and classes[0] != classes[6]
    assert set(classes[12:]) <= {classes[0], classes[6]}  # unseen contexts join a class in use


def test_designed_classes_code_below_one_table_for_all():
    """Codebook 1's codes depend on codebook 0's at the same position: classes find it."""
    rng = np.random.default_rng(1)
    zero = np.array([4, 4])
    counter = ContextCounter(2, 9)
    maps = []
    for _ in range(20):
        first = rng.choice([2, 4, 6], (8, 8))
        maps.append(np.stack([first, np.where(first == 4, 4, rng.integers(0, 9, (8, 8)))]))
        counter.add(maps[-1], zero)
    classes, tables = counter.design()
    designed = Prior(tables[None], classes[None], zero, np.zeros(1, np.int64))
    one_class, table = counter.design(classes=1)
    flat = Prior(table.repeat(NUM_CLASSES, 1)[None], one_class[None], zero, np.zeros(1, np.int64))
    # ideal: 1.58 + 2/3 * 3.17 bits a position against 1.58 + 2.76 with one table
    assert sum(designed.cross_entropy_bits(m, 0) for m in maps) < 0.9 * sum(flat.cross_entropy_bits(m, 0) for m in maps)


def test_the_zero_code_is_the_usual_code_not_the_smallest():
    # codebook 0 centred on zero, codebook 1's latents off-centre near 0.5
    codebooks = np.stack([np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)])[:, :, None]
    rng = np.random.default_rng(0)
    z = np.stack([rng.normal(0, 0.05, (6, 7)), rng.normal(0.5, 0.05, (6, 7))])[..., None]
    assert usual_codes([z, z], codebooks).tolist() == [4, 6]


def test_the_zero_code_of_a_fine_codebook_is_the_broad_mode_not_a_spike():
    """At 512 codes (a context unit of 2), counts are pooled a unit either side: a spike of one
    code loses to a broad mode that outnumbers it only in its neighbourhood."""
    codebook = np.linspace(-1, 1, 512)[None, :, None]
    spike = np.full(300, codebook[0, 400, 0])
    broad = codebook[0, 100 + np.arange(-2, 3), 0].repeat(np.array([60, 90, 100, 90, 60]))
    z = np.concatenate([spike, broad])[None, :, None, None]
    assert usual_codes([z], codebook).tolist() == [100]


def test_codebooks_adapt_where_images_stray_from_their_tables():
    """The codebook whose images keep taking a code its tables find rare is chosen to adapt; one
    whose codes are what its tables expect is not (adapting would only cost it)."""
    counts = np.full((1, 2, 1, 8), 100, np.int64)
    counts[:, 0, :, 0] = 10**6
    counts[:, 1, :, 3] = 5
    prior = Prior(counts, np.zeros((1, 2, NUM_CONTEXTS), np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64))
    rng = np.random.default_rng(0)
    codes = [np.stack([np.zeros((12, 12), np.int64), np.where(rng.random((12, 12)) < 0.5, 3, 2)]) for _ in range(2)]
    assert adaptive_codebooks(prior, 0, codes).tolist() == [0, 1]


def test_a_guide_is_chosen_where_it_splits_the_image_s_codes():
    """Codebook 1's rare codes follow codebook 0's brightness: codebook 0 is chosen to guide it."""
    counts = np.full((1, 2, 1, 16), 100, np.int64)
    counts[:, 1, :, 2] = counts[:, 1, :, 4] = 5
    prior = Prior(counts, np.zeros((1, 2, NUM_CONTEXTS), np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64),
                  np.array([[0, 1]]))
    rng = np.random.default_rng(0)
    codes = []
    for _ in range(2):
        bright = rng.random((16, 16)) < 0.5
        codes.append(np.stack([np.where(bright, 15, 0), np.where(bright, 4, 2)]))
    assert codebook_guides(prior, 0, codes).tolist() == [-1, 0]
    static = Prior(prior.counts, prior.classes, prior.zero, prior.table_of_quality)
    assert codebook_guides(static, 0, codes).tolist() == [-1, -1]  # only adaptive codebooks are guided
