"""A fuzzing campaign on the decoder: mutated, truncated and spliced real files.

Every input must either decode to the image it was made from (the unchanged
seed) or raise vqcodec's FormatError, quickly; nothing else may escape. The
test suite runs a short campaign; the long one is the same test with more
examples:

    VQCODEC_FUZZ_EXAMPLES=100000 pytest tests/test_fuzz.py -k mutated -p no:cacheprovider

An input that fails is written to tests/fuzz-corpus/ (commit it with the fix);
every file there is replayed by the suite from then on.
"""

import hashlib
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec import bitstream

from .conftest import half_drawn, ramp_and_drawing, smooth_image


@pytest.fixture(scope="module")
def seeds(tiny_model):
    rgba = np.dstack([smooth_image(37, 29, 1), np.full((29, 37), 200, np.uint8)])
    drawing = np.full((30, 40, 3), 255, np.uint8)
    drawing[5:20, 8:30] = [200, 30, 30]
    drawing[12:25, 20:36] = [30, 30, 200]
    palette = vqcodec.compress(drawing, 50, tiny_model)  # a lossless palette file
    assert palette[7] == 1
    tiles = vqcodec.compress(half_drawn(), 50, tiny_model)
    assert tiles[7] == bitstream.EXACT_TILES_FLAG  # codes and exact tiles
    smoothed = vqcodec.compress(ramp_and_drawing(), 50, tiny_model)
    assert smoothed[7] == bitstream.EXACT_TILES_FLAG | bitstream.SMOOTHED_FLAG  # codes, exact tiles, smoothing
    layered = vqcodec.compress(smooth_image(45, 33, 7), 100, tiny_model)
    assert layered[7] == bitstream.RESIDUAL_FLAG  # codes and a residual
    return [vqcodec.compress(smooth_image(45, 33, q), q, tiny_model) for q in range(1, 5)] + [
        vqcodec.compress(rgba, 2, tiny_model), vqcodec.compress(smooth_image(20, 9)[..., 0], 1, tiny_model), palette,
        tiles, smoothed, layered]


CORPUS = Path(__file__).parent / "fuzz-corpus"


def _decode_or_format_error(data, model, original):
    try:
        start = time.process_time()  # CPU time: whatever else the machine runs does not count
        try:
            img = vqcodec.decompress(data, model=model, max_pixels=10**6)
        except vqcodec.FormatError:
            pass
        else:
            assert data == original, "a damaged file decoded without an error"
            assert img.size[0] > 0
        assert time.process_time() - start < 1.0
    except BaseException:
        if data != original:
            CORPUS.mkdir(exist_ok=True)
            (CORPUS / f"{hashlib.sha256(data).hexdigest()[:16]}.vqc").write_bytes(data)
        raise


FUZZ_EXAMPLES = int(os.environ.get("VQCODEC_FUZZ_EXAMPLES", "300"))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_mutated_files(tiny_model, seeds, data):
    seed = data.draw(st.sampled_from(seeds))
    buf = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "extend"]))
        pos = data.draw(st.integers(0, max(0, len(buf) - 1)))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and buf:
            buf[pos] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del buf[pos : pos + data.draw(st.integers(1, 8))]
        elif kind == "truncate":
            del buf[pos:]
        else:
            buf += data.draw(st.binary(min_size=1, max_size=8))
    _decode_or_format_error(bytes(buf), tiny_model, seed)


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_random_files(tiny_model, data):
    """Files an attacker writes from scratch: a version this decoder reads, any field values, the
    CRCs right or not, the model the tiny one (so payloads are decoded) or another."""
    draw = data.draw
    fields = (bitstream.MAGIC, draw(st.sampled_from([12, 13])), draw(st.integers(0, 4)), draw(st.integers(0, 101)),
              draw(st.integers(0, 2)), draw(st.sampled_from([tiny_model.fingerprint, bitstream.NO_MODEL, b"\x01" * 8])),
              draw(st.integers(0, 70)), draw(st.integers(0, 70)))
    payload, alpha = draw(st.binary(max_size=300)), draw(st.binary(max_size=40))
    sizes = (len(payload), len(alpha)) if draw(st.booleans()) else (draw(st.integers(0, 400)), draw(st.integers(0, 50)))
    head = struct.pack("<4sBBBB8sIIII", *fields, *sizes)
    crcs = (zlib.crc32(head), zlib.crc32(payload + alpha)) if draw(st.booleans()) else (draw(st.integers(0, 2**32 - 1)),) * 2
    _decode_or_format_error(head + struct.pack("<II", *crcs) + payload + alpha, tiny_model, None)


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.vqc")), ids=lambda p: p.name)
def test_regression_corpus(tiny_model, path):
    _decode_or_format_error(path.read_bytes(), tiny_model, None)


def test_every_truncation_is_reported(tiny_model, seeds):
    for seed in seeds:
        for cut in range(len(seed)):
            with pytest.raises(vqcodec.FormatError):
                vqcodec.decompress(seed[:cut], model=tiny_model)


def test_a_failing_input_is_saved_to_the_corpus(tiny_model, seeds, tmp_path, monkeypatch):
    """The capture the campaign relies on: a file that decodes where it should not is kept."""
    import tests.test_fuzz as fuzz

    monkeypatch.setattr(fuzz, "CORPUS", tmp_path / "corpus")
    with pytest.raises(AssertionError):
        _decode_or_format_error(seeds[0], tiny_model, None)  # a valid file, posing as a damaged one
    (saved,) = (tmp_path / "corpus").iterdir()
    assert saved.read_bytes() == seeds[0]
