"""Every released model's golden files decode with today's code: the same indices, the same pixels.

Each folder of tests/golden holds files a release wrote with its model (tests/golden/make.py, run
with that release's code). A change that breaks any of them fails here; a new model adds its folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import bitstream, models

from .golden.make import indices_digest

GOLDEN = Path(__file__).parent / "golden"
CASES = [(folder.name, name) for folder in sorted(GOLDEN.iterdir()) if (folder / "golden.json").is_file()
         for name in sorted(json.loads((folder / "golden.json").read_text())["cases"])]


def test_every_carried_release_has_golden_files():
    carried = {fp for fp, release in models.releases().items() if release.decode_digest}
    assert carried == {folder for folder, _ in CASES}
    assert json.loads((vqcodec.weights.DEFAULT_WEIGHTS / "releases.json").read_text())["current"] in carried


@pytest.mark.parametrize("folder,name", CASES)
def test_golden_file_decodes_to_its_indices_and_pixels(folder, name):
    manifest = json.loads((GOLDEN / folder / "golden.json").read_text())
    expected = manifest["cases"][name]
    data = (GOLDEN / folder / f"{name}.vqc").read_bytes()
    container = bitstream.unpack(data)
    header = container.header
    assert (header.version, header.mode, header.palette) == (expected["version"], expected["mode"], expected["palette"])
    assert header.exact_tiles == expected.get("exact_tiles", False)
    assert header.smoothed == expected.get("smoothed", False)
    assert header.residual == expected.get("residual", False)
    if not header.palette:
        assert header.fingerprint.hex() == manifest["fingerprint"] == folder
        model = vqcodec.model_for(header.fingerprint)  # found by fingerprint among the package's models
        h, w = math.ceil(header.height / 8), math.ceil(header.width / 8)
        indices = model.coder.decode(container.payload, h, w, header.quality)[0]
        assert list(indices.shape) == expected["indices_shape"]
        assert indices_digest(indices) == expected["indices_sha256"]
    decoded = np.asarray(vqcodec.decompress(data), np.int16)
    reference = np.asarray(Image.open(GOLDEN / folder / f"{name}.png"), np.int16)
    assert decoded.shape == reference.shape
    assert np.abs(decoded - reference).max() <= 1
