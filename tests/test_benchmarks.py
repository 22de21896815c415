"""The rate-distortion benchmark: its JPEG figures by hand, and its outputs."""

import json
import math

import numpy as np
import pytest
from PIL import Image
from tqdm import tqdm

from benchmarks import codecs, rd

from .conftest import smooth_image


def test_jpeg_point_matches_an_independent_computation(tmp_path):
    rgb = smooth_image(240, 176, seed=4)
    with tqdm(disable=True) as bar:
        row = [r for r in rd.measure(codecs.jpeg(), {"x": rgb}, bar) if r["setting"] == 50][0]
    # by hand: write the file to disk with Pillow, measure its size, decode it, compute the MSE
    path = tmp_path / "x.jpg"
    Image.fromarray(rgb).save(path, quality=50, subsampling=2, optimize=True)
    size = path.stat().st_size
    decoded = np.array(Image.open(path).convert("RGB"), dtype=np.float64)
    mse = ((decoded - rgb) ** 2).sum() / rgb.size
    assert row["bytes"] == size
    assert row["bpp"] == pytest.approx(size * 8 / (240 * 176))
    assert row["psnr"] == pytest.approx(10 * math.log10(255**2 / mse))


def test_curve_averages_per_image_figures():
    rows = [{"codec": "c", "setting": 1, "image": i, "bpp": b, "payload_bpp": b, "psnr": p, "ms_ssim": 0.9,
             "encode_s": 1.0, "decode_s": 2.0} for i, b, p in (("a", 0.1, 20.0), ("b", 0.3, 30.0))]
    (point,) = rd.curve(rows, "c")
    assert point["bpp"] == pytest.approx(0.2) and point["psnr"] == pytest.approx(25.0)


def test_settings_with_an_exact_file_are_reported_apart_and_images_still_compare():
    """An image coded exactly at a setting has infinite PSNR: the mean curve leaves that setting
    out, the summary lists it, and the per-image BD-rate uses each image's lossy points."""
    def row(codec, setting, image, bpp, psnr):
        return {"codec": codec, "setting": setting, "image": image, "bpp": bpp, "payload_bpp": bpp, "psnr": psnr,
                "ms_ssim": 0.9, "encode_s": 1.0, "decode_s": 1.0}

    rows = []
    for image, scale in (("a", 1.0), ("b", 2.0)):
        rows += [row("X", q, image, scale * b, p) for q, b, p in ((1, 0.2, 30.0), (2, 0.4, 34.0), (3, 0.8, 38.0))]
        rows += [row("vqcodec", q, image, scale * b, p) for q, b, p in ((1, 0.1, 30.0), (2, 0.2, 34.0), (3, 0.4, 38.0))]
    rows.append(row("vqcodec", 4, "a", 0.5, float("inf")))
    rows.append(row("vqcodec", 4, "b", 1.0, 45.0))
    assert [p["setting"] for p in rd.curve(rows, "vqcodec")] == [1, 2, 3]
    assert rd.lossless(rows, "vqcodec") == {"4": [1, 0.5]}
    bd = rd.per_image_bd(rows, "X")
    assert bd["images"] == bd["of"] == 2 and bd["median"] == pytest.approx(-50.0, abs=0.5)
    text = rd.markdown({"vqcodec": rd.curve(rows, "vqcodec"), "X": rd.curve(rows, "X")},
                       rd.summarise({"vqcodec": rd.curve(rows, "vqcodec"), "X": rd.curve(rows, "X")}, rows),
                       {"images": 2, "dir": "d", "date": "today", "machine": "m"})
    assert "1 at level 4" in text and "-50.0%" in text
    gap = rd.per_level_gap(rows, "X")  # at 0.2 bpp on "a", X gives 30 dB where vqcodec gives 34
    assert gap["compared"] == 5 and gap["worse"] == 0 and gap["worst"][0] == pytest.approx(4.0)


def test_run_writes_json_table_and_plot(tmp_path, tiny_model_dir):
    images = tmp_path / "imgs"
    images.mkdir()
    Image.fromarray(smooth_image(176, 168, seed=1)).save(images / "a.png")
    out = tmp_path / "out"
    assert rd.main([str(images), "--out", str(out), "--model", str(tiny_model_dir), "--codecs", "vqcodec,JPEG"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert {r["codec"] for r in result["per_image"]} == {"vqcodec", "JPEG"}
    assert len(result["per_image"]) == 11 + len(codecs.jpeg().settings)
    assert "JPEG" in result["summary"]["bd_rate"]
    vq_rows = [r for r in result["per_image"] if r["codec"] == "vqcodec"]
    assert all(r["payload_bpp"] < r["bpp"] for r in vq_rows)  # the header is counted in bpp
    assert "BD-rate" in (out / "results.md").read_text()
    assert [lv["setting"] for lv in result["summary"]["levels"]] == list(range(0, 101, 10))
    assert "JPEG's PSNR at that bpp" in (out / "results.md").read_text()

    again = tmp_path / "again"  # a second model's run takes JPEG's rows from the first
    assert rd.main([str(images), "--out", str(again), "--model", str(tiny_model_dir), "--codecs", "vqcodec,JPEG",
                    "--anchors", str(out / "results.json")]) == 0
    reused = json.loads((again / "results.json").read_text())
    assert [r for r in reused["per_image"] if r["codec"] == "JPEG"] == [r for r in result["per_image"] if r["codec"] == "JPEG"]
    assert reused["summary"]["bd_rate"]["JPEG"] == result["summary"]["bd_rate"]["JPEG"]
    assert rd.main([str(images), "--out", str(again), "--model", str(tiny_model_dir), "--codecs", "vqcodec,WebP",
                    "--anchors", str(out / "results.json")]) == 1  # no WebP rows to take

    pytest.importorskip("matplotlib")
    assert (out / "rd.png").stat().st_size > 0


def test_each_level_is_compared_with_jpeg_at_its_own_rate():
    point = lambda s, b, p: {"setting": s, "bpp": b, "psnr": p, "ms_ssim_db": p / 2}
    curves = {"vqcodec": [point(1, 0.05, 20.0), point(2, 0.2, 27.0)],
              "JPEG": [point(5, 0.1, 22.0), point(10, 0.4, 30.0)]}
    levels = rd.summarise(curves)["levels"]
    assert levels[0]["jpeg_psnr"] is None  # below JPEG's lowest rate
    assert levels[1]["jpeg_psnr"] == pytest.approx(26.0)  # halfway in log-rate


def test_gallery_entry_sets_codecs_at_or_below_vqcodecs_size(tmp_path, tiny_model):
    from benchmarks import gallery

    (tmp_path / "gallery").mkdir()
    rgb = smooth_image(272, 264, seed=3)
    row = gallery.entry("x", rgb, (4, 8), tiny_model, 90, tmp_path)
    budget = int(row.split("|")[3].split(" B")[0])
    sizes = [int(cell.split(" B")[0]) for cell in row.split("|")[4:7] if " B" in cell]
    assert sizes and all(s <= budget for s in sizes)
    picture = Image.open(tmp_path / "gallery" / "x.png")
    assert picture.size == (5 * 2 * gallery.CROP, 2 * gallery.CROP + 28)  # original + 4 codecs, captioned


def test_quality_scale_benchmark_reports_steps_and_falls(tiny_model, tmp_path):
    """benchmarks.scale: each level's bytes are its file's, the largest step and a falling
    PSNR are found where they are."""
    from benchmarks import scale

    Image.fromarray(smooth_image(48, 40, seed=2)).save(tmp_path / "a.png")
    sizes, psnrs = scale.measure([tmp_path / "a.png"], [0, 50], tiny_model)
    import vqcodec

    assert sizes[0, 1] == len(vqcodec.compress(tmp_path / "a.png", 50, tiny_model))
    text = scale.summary([0, 1, 2, 3], np.array([[100.0, 104.0, 130.0, 131.0]]), np.array([[30.0, 31.0, 30.5, 32.0]]))
    assert "largest step +25.0% (1->2)" in text and "1->2 +25.0%" in text
    assert "PSNR falls: 1->2 (-0.500 dB)" in text


def test_macs_of_a_convolution_by_hand():
    """benchmarks.macs counts output elements x input channels per group x kernel area."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from benchmarks.macs import conv_macs

    weight = numpy_helper.from_array(np.zeros((8, 2, 3, 3), np.float32), "w")  # 4 groups of 2 input channels
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", group=4, pads=[1, 1, 1, 1], strides=[2, 2])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    assert conv_macs(data, {"x": [1, 8, 20, 30]}) == [("c", 8 * 10 * 15 * 2 * 3 * 3)]


def test_kinds_writes_each_kind_the_same_from_its_seed(tmp_path):
    """The folders issue 40 is measured on: gray copies of the photos, and drawn kinds that are
    what they say (a gray image, a chart of few colours against a photo's thousands) and come
    out identical when written again."""
    from benchmarks import kinds

    photo = tmp_path / "p.png"
    Image.fromarray(smooth_image(96, 64, seed=2)).save(photo)
    written = kinds.write(tmp_path / "a", [photo], count=1)
    assert written == {"gray": 1, "screens": 1, "text": 1, "charts": 1, "gradients": 1}
    assert Image.open(tmp_path / "a" / "gray" / "p.png").mode == "L"
    kinds.write(tmp_path / "b", [photo], count=1)
    for kind in ("screens", "text", "charts", "gradients"):
        a, b = (np.asarray(Image.open(tmp_path / d / kind / f"{kind}-00.png")) for d in "ab")
        assert a.ndim == 3 and np.array_equal(a, b)
    text = np.asarray(Image.open(tmp_path / "a" / "text" / "text-00.png"))
    assert len(np.unique(text.reshape(-1, 3), axis=0)) < 4096  # anti-aliased text: hundreds of colours


def test_gnome_screens_are_written_as_rgb_over_white_with_their_sources(tmp_path):
    """The real screenshots' folder: the listed figures found (others and missing ones skipped),
    transparent pixels white as a viewer shows them, and a SOURCES.md naming licence and files."""
    from benchmarks import gnome_screens

    figures = tmp_path / "figures"
    figures.mkdir()
    rgba = np.zeros((70, 90, 4), np.uint8)
    rgba[10:30, 10:50] = (200, 40, 40, 255)  # an opaque red box on a transparent ground
    Image.fromarray(rgba, "RGBA").save(figures / "shell-exit.png")
    Image.fromarray(rgba, "RGBA").save(figures / "color-camera.png")  # a photo figure: not listed
    written = gnome_screens.write(figures, tmp_path / "out")
    assert written == ["shell-exit"]
    out = np.asarray(Image.open(tmp_path / "out" / "shell-exit.png"))
    assert out.shape == (70, 90, 3) and (out[0, 0] == 255).all() and (out[20, 20] == (200, 40, 40)).all()
    sources = (tmp_path / "out" / "SOURCES.md").read_text()
    assert "ShareAlike 3.0" in sources and "- shell-exit.png" in sources and "color-camera" not in sources
    assert gnome_screens.main([str(tmp_path / "nothing"), str(tmp_path / "o2")]) == 1


def test_residual_layer_estimate_reconstructs_at_fine_steps_and_costs_more_bits_for_them():
    from benchmarks import residual

    c = residual.dct_matrix()
    assert np.allclose(c @ c.T, np.eye(residual.BLOCK))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 27, 3)).astype(np.float64)
    decoded = np.clip(x + rng.normal(0, 2, x.shape), 0, 255).round()
    fine_bits, fine = residual.with_residual(x, decoded, 0.25, 0.5)
    coarse_bits, coarse = residual.with_residual(x, decoded, 8, 0.33)
    assert np.array_equal(fine, x.astype(np.uint8))  # a fine step puts every pixel back
    assert fine_bits > coarse_bits > 0
    gray_bits, gray = residual.with_residual(x[..., 0], decoded[..., 0], 0.25, 0.5)
    assert np.array_equal(gray, x[..., 0].astype(np.uint8)) and gray_bits < fine_bits


def test_residual_adaptive_bits_match_coding_symbol_by_symbol():
    from benchmarks import residual

    symbols, contexts = np.array([0, 0, 1, 0, -2, 0, 1]), np.array([0, 1, 0, 0, 1, 0, 1])
    alphabet, prior, bits = 5, 0.25, 0.0
    counts: dict = {}
    for s, c in zip(symbols.tolist(), contexts.tolist()):
        seen = counts.setdefault(c, {})
        bits -= math.log2((seen.get(s, 0) + prior) / (sum(seen.values()) + alphabet * prior))
        seen[s] = seen.get(s, 0) + 1
    assert residual.adaptive_bits(symbols, contexts, alphabet, prior) == pytest.approx(bits)
