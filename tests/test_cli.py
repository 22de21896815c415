"""The vqcodec command: real files, clear one-line errors, nothing half-written."""

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vqcodec import bitstream, psnr
from vqcodec_cli.main import main

from .conftest import make_tiny_model, smooth_image


@pytest.fixture()
def run(tiny_model_dir):
    def invoke(*args):
        result = CliRunner().invoke(main, [*args, "--model", str(tiny_model_dir)])
        # every failure must be a clean exit, never an escaped exception
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        return result

    return invoke


def _photos(folder: Path, prefix: str, count: int, size: tuple[int, int]) -> list[str]:
    """Write ``count`` distinct test photos named PREFIX0.png, ...; returns their paths."""
    paths = []
    for i in range(count):
        p = folder / f"{prefix}{i:02d}.png"
        Image.fromarray(smooth_image(*size, seed=i)).save(p)
        paths.append(str(p))
    return paths


def _no_temp_files(folder: Path) -> bool:
    return not any(p.name.endswith(".part") for p in folder.iterdir())


def test_compress_then_decompress(run, photo_path):
    r = run("compress", str(photo_path), "-q", "2")
    assert r.exit_code == 0 and "bpp" in r.output and "PSNR" not in r.output  # not decoded again unless asked
    vqc = photo_path.with_suffix(".vqc")
    assert vqc.exists()
    out = photo_path.parent / "back.png"
    r = run("decompress", str(vqc), "-o", str(out))
    assert r.exit_code == 0
    assert Image.open(out).size == Image.open(photo_path).size


def test_readme_lines_run_in_sequence_in_a_folder_with_one_photo(run, tmp_path, monkeypatch):
    Image.fromarray(smooth_image(48, 40)).save(tmp_path / "photo.png")
    original = (tmp_path / "photo.png").read_bytes()
    monkeypatch.chdir(tmp_path)
    assert run("compress", "photo.png").exit_code == 0
    r = run("decompress", "photo.vqc")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "photo.png").read_bytes() == original  # the source is never the default output
    assert Image.open(tmp_path / "photo.vqc.png").size == (48, 40)
    r = run("decompress", "photo.vqc")  # again: the decoded file exists now, so --force is needed
    assert r.exit_code == 1 and "photo.vqc.png" in r.output


def test_output_format_follows_extension(run, photo_path):
    run("compress", str(photo_path), "-q", "1")
    out = photo_path.parent / "back.webp"
    assert run("decompress", str(photo_path.with_suffix(".vqc")), "-o", str(out)).exit_code == 0
    assert Image.open(out).format == "WEBP"
    r = run("decompress", str(photo_path.with_suffix(".vqc")), "-o", str(photo_path.parent / "x.nope"))
    assert r.exit_code == 1 and "extension" in r.output


def test_existing_output_needs_force(run, photo_path):
    vqc = photo_path.with_suffix(".vqc")
    vqc.write_bytes(b"precious")
    r = run("compress", str(photo_path))
    assert r.exit_code == 1 and "--force" in r.output
    assert vqc.read_bytes() == b"precious"
    assert run("compress", str(photo_path), "--force").exit_code == 0
    assert vqc.read_bytes()[:4] == b"\x89VQC"


@pytest.mark.parametrize("content, message", [
    (b"this is not an image", "not an image"),
    (b"", "not an image"),
])
def test_not_an_image(run, tmp_path, content, message):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    r = run("compress", str(bad))
    assert r.exit_code == 1 and message in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not bad.with_suffix(".vqc").exists() and _no_temp_files(tmp_path)


def test_unreadable_input(run, tmp_path):
    r = run("compress", str(tmp_path / "missing.png"))
    assert r.exit_code == 1 and "no such file" in r.output


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:-4], "truncated"),
    (lambda d: d[:-3] + bytes([d[-3] ^ 1]) + d[-2:], "corrupt"),
    (lambda d: b"GIF89a" + d[6:], "not a .vqc file"),
    (lambda d: d[:4] + bytes([bitstream.VERSION + 1]) + d[5:], "newer"),
])
def test_damaged_vqc(run, photo_path, damage, message):
    run("compress", str(photo_path), "-q", "2")
    vqc = photo_path.with_suffix(".vqc")
    vqc.write_bytes(damage(vqc.read_bytes()))
    out = photo_path.parent / "decoded.png"
    r = run("decompress", str(vqc), "-o", str(out))
    assert r.exit_code == 1 and message in r.output
    assert not out.exists() and _no_temp_files(photo_path.parent)


def test_wrong_model(run, photo_path, tmp_path):
    other = make_tiny_model(tmp_path / "other", seed=5)
    CliRunner().invoke(main, ["compress", str(photo_path), "-q", "1", "--model", str(other)])
    out = tmp_path / "o.png"
    r = run("decompress", str(photo_path.with_suffix(".vqc")), "-o", str(out))
    assert r.exit_code == 1 and "model" in r.output and not out.exists()


def test_several_inputs_keep_going_past_a_bad_one(run, photo_path, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    r = run("compress", str(bad), str(photo_path), "-q", "1")
    assert r.exit_code == 1
    assert photo_path.with_suffix(".vqc").exists()
    assert "1 of 2 files done, 1 failed" in r.output


def test_info_shows_header(run, photo_path, tiny_model_dir):
    run("compress", str(photo_path), "-q", "3")
    r = run("info", str(photo_path.with_suffix(".vqc")))
    assert r.exit_code == 0
    assert "61x45 RGB" in r.output and "quality         3" in r.output
    assert f"installed: {tiny_model_dir}" in r.output  # found where --model points


def test_quality_out_of_range_is_a_usage_error(run, photo_path):
    r = run("compress", str(photo_path), "-q", "101")
    assert r.exit_code == 2 and "between 0 and 100" in r.output


def test_effort_option(run, photo_path):
    out = photo_path.parent / "e.vqc"
    r = run("compress", str(photo_path), "-q", "60", "-e", "2", "-o", str(out), "--print-psnr")
    assert r.exit_code == 0, r.output
    back = photo_path.parent / "e.png"
    assert run("decompress", str(out), "-o", str(back)).exit_code == 0
    assert float(r.output.split("PSNR ")[1].split()[0]) == pytest.approx(
        psnr(np.asarray(Image.open(back)), np.asarray(Image.open(photo_path))), abs=0.01)
    r = run("compress", str(photo_path), "-e", "9", "-o", str(photo_path.parent / "bad.vqc"))
    assert r.exit_code == 2 and "between 0 and 8" in r.output
    assert not (photo_path.parent / "bad.vqc").exists()


def test_demo_writes_real_files_and_prints_figures(run, tmp_path):
    r = run("demo", "-o", str(tmp_path / "demo"), "-q", "1", "-q", "4")
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert files == ["coffee-q1.png", "coffee-q1.vqc", "coffee-q4.png", "coffee-q4.vqc"]
    rows = [line.split() for line in r.output.splitlines() if line.strip()[:1].isdigit()]
    assert [int(row[0]) for row in rows] == [1, 4]
    assert int(rows[0][1]) == (tmp_path / "demo" / "coffee-q1.vqc").stat().st_size


def test_help_explains_commands():
    r = CliRunner().invoke(main, ["--help"])
    for word in ("compress", "decompress", "info", "demo", "train"):
        assert word in r.output
    r = CliRunner().invoke(main, ["compress", "--help"])
    assert "--quality" in r.output and "--force" in r.output


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_run_leaves_only_complete_files(tmp_path, tiny_model_dir, sig):
    import signal
    import subprocess
    import sys
    import time

    import vqcodec
    count = 40
    inputs = _photos(tmp_path, "in", count, (300, 200))
    precious = tmp_path / f"in{count - 1}.vqc"
    precious.write_bytes(b"keep me")
    proc = subprocess.Popen([sys.executable, "-m", "vqcodec_cli", "compress", *inputs, "-q", "2",
                             "--model", str(tiny_model_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            # a test run started in the background inherits SIGINT ignored, and so would the CLI
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "in03.vqc").exists():
        time.sleep(0.02)
    proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert _no_temp_files(tmp_path)
    assert precious.read_bytes() == b"keep me"
    done = sorted(tmp_path.glob("*.vqc"))
    assert 4 <= len(done) < count
    model = vqcodec.load_model(tiny_model_dir)
    for f in done:
        if f != precious:
            vqcodec.decompress(f.read_bytes(), model=model)  # complete and valid


def test_stdin_to_stdout_round_trip(tiny_model_dir, photo_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "vqcodec_cli"]
    model = ["--model", str(tiny_model_dir)]
    vqc = subprocess.run([*cmd, "compress", "-", "-q", "2", *model], input=photo_path.read_bytes(),
                         capture_output=True, check=True)
    assert vqc.stdout[:4] == b"\x89VQC" and b"bpp" in vqc.stderr
    png = subprocess.run([*cmd, "decompress", "-", "-o", "-", *model], input=vqc.stdout,
                         capture_output=True, check=True)
    assert png.stdout[:8] == b"\x89PNG\r\n\x1a\n"
    import io

    import vqcodec

    expected = vqcodec.decompress(vqc.stdout, model=vqcodec.load_model(tiny_model_dir))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png.stdout))), np.asarray(expected))  # the image, whole
    assert list(photo_path.parent.iterdir()) == [photo_path]  # nothing written to disk


def test_stdio_needs_a_single_input(run, photo_path):
    r = run("compress", str(photo_path), str(photo_path), "-o", "-")
    assert r.exit_code == 2 and "single input" in r.output


def test_parallel_jobs_code_every_file_and_report_failures(tiny_model_dir, tmp_path):
    inputs = _photos(tmp_path, "p", 4, (40, 30))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    r = CliRunner().invoke(main, ["compress", *inputs, str(bad), "-j", "2", "-q", "2", "--model", str(tiny_model_dir)])
    assert r.exit_code == 1, r.output
    assert "4 of 5 files done, 1 failed" in r.output and "bad.png" in r.output
    serial = tmp_path / "serial"
    serial.mkdir()
    CliRunner().invoke(main, ["compress", *inputs, "-o", str(serial), "-q", "2", "--model", str(tiny_model_dir)])
    for i in range(4):  # the same bytes as coding them one by one in this process
        assert (tmp_path / f"p{i:02d}.vqc").read_bytes() == (serial / f"p{i:02d}.vqc").read_bytes()
    r = CliRunner().invoke(main, ["decompress", *[str(tmp_path / f"p{i:02d}.vqc") for i in range(4)], "-o",
                                  str(serial), "-j", "2", "--model", str(tiny_model_dir)])
    assert r.exit_code == 0 and sorted(p.name for p in serial.glob("*.png")) == [f"p{i:02d}.vqc.png" for i in range(4)]


def test_info_on_a_truncated_file_is_an_error(run, photo_path):
    run("compress", str(photo_path), "-q", "30")
    vqc = photo_path.with_suffix(".vqc")
    vqc.write_bytes(vqc.read_bytes()[:-4])
    r = run("info", str(vqc))
    assert r.exit_code == 1 and "truncated" in r.output


def test_demo_into_a_folder_with_its_files_fails_before_any_work(run, tmp_path, monkeypatch):
    import vqcodec

    out = tmp_path / "demo"
    out.mkdir()
    (out / "coffee-q4.png").write_bytes(b"mine")
    calls = []
    monkeypatch.setattr(vqcodec, "compress_report", lambda *a, **k: calls.append(a))
    r = run("demo", "-o", str(out), "-q", "1", "-q", "4")
    assert r.exit_code == 1 and "already exists" in r.output and not calls
    assert (out / "coffee-q4.png").read_bytes() == b"mine"


def test_size_and_psnr_targets(run, photo_path):
    out = photo_path.parent / "s.vqc"
    r = run("compress", str(photo_path), "--size", "0.4k", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.stat().st_size <= 400
    r = run("compress", str(photo_path), "--size", "10", "-o", str(photo_path.parent / "tiny.vqc"))
    assert r.exit_code == 1 and "cannot fit in 10 bytes" in r.output
    assert not (photo_path.parent / "tiny.vqc").exists()  # nothing written when the target fails
    r = run("compress", str(photo_path), "--psnr", "99", "-o", str(photo_path.parent / "p.vqc"))
    assert r.exit_code == 1 and "cannot reach 99 dB" in r.output
    r = run("compress", str(photo_path), "--psnr", "5", "-o", str(photo_path.parent / "p.vqc"))
    assert r.exit_code == 0 and float(r.output.split("PSNR ")[1].split()[0]) >= 5
    assert run("compress", str(photo_path), "-q", "3", "--size", "1k").exit_code == 2
    assert "not a size" in run("compress", str(photo_path), "--size", "12q").output


def test_alpha_quality_option(run, tmp_path):
    rgba = np.dstack([smooth_image(40, 32), np.tile(np.linspace(0, 255, 40).astype(np.uint8), (32, 1))])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert run("compress", str(tmp_path / "a.png"), "-q", "2", "-o", str(tmp_path / "exact.vqc")).exit_code == 0
    r = run("compress", str(tmp_path / "a.png"), "-q", "2", "--alpha-quality", "10", "-o", str(tmp_path / "lossy.vqc"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "lossy.vqc").stat().st_size < (tmp_path / "exact.vqc").stat().st_size
    assert run("compress", str(tmp_path / "a.png"), "--alpha-quality", "101").exit_code == 2


def test_a_mistyped_input_is_reported_before_any_model_is_loaded(tmp_path):
    missing_model = str(tmp_path / "no-model")  # loading it would fail: the input must be named first
    for command, name in (("compress", "typo.png"), ("decompress", "typo.vqc")):
        r = CliRunner().invoke(main, [command, str(tmp_path / name), "--model", missing_model])
        assert r.exit_code == 1 and f"{name}: no such file" in r.output and "cannot load model" not in r.output
    r = CliRunner().invoke(main, ["compress", str(tmp_path), "--model", missing_model])
    assert r.exit_code == 1 and "is a directory" in r.output


def test_few_colours_are_reported_lossless(run, tmp_path):
    """A drawing's file is the lossless palette one: compress says so, info names no model, and
    decompress gives the drawing back exactly."""
    from PIL import ImageDraw

    src = tmp_path / "drawing.png"
    im = Image.new("RGB", (120, 60), "white")
    ImageDraw.Draw(im).rectangle((10, 10, 70, 40), fill=(200, 30, 30))
    im.save(src)
    r = run("compress", str(src), "-q", "50")
    assert r.exit_code == 0 and "lossless" in r.output
    assert "lossless palette file" in run("info", str(tmp_path / "drawing.vqc")).output
    assert run("decompress", str(tmp_path / "drawing.vqc"), "-o", str(tmp_path / "back.png")).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back.png")), np.asarray(im))


def test_a_fifo_among_the_inputs_is_refused_without_blocking(tiny_model_dir, photo_path, tmp_path):
    """Opening a FIFO blocks until a writer comes: the run used to hang there, the files after it
    never done. Each non-regular input is one line; the others are coded."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    other = tmp_path / "other.png"
    other.write_bytes(photo_path.read_bytes())
    (tmp_path / "out").mkdir()

    def vqcodec(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vqcodec_cli", *args, "--model", str(tiny_model_dir)],
                              capture_output=True, text=True, timeout=120)

    done = vqcodec("compress", str(photo_path), str(fifo), str(other), "-q", "3", "-o", str(tmp_path / "out"))
    assert done.returncode == 1 and "pipe.png: not a regular file" in done.stderr
    assert "2 of 3 files done" in done.stderr and (tmp_path / "out" / "other.vqc").is_file()
    vqc_fifo = tmp_path / "pipe.vqc"
    os.mkfifo(vqc_fifo)
    for command in ("decompress", "info"):
        done = vqcodec(command, str(tmp_path / "out" / "other.vqc"), str(vqc_fifo))
        assert done.returncode == 1 and "pipe.vqc: not a regular file" in done.stderr, command
    assert (tmp_path / "out" / "other.vqc.png").is_file()


def test_max_pixels_option_sets_and_lifts_the_limit(run, photo_path, tmp_path):
    pixels = 61 * 45  # photo_path's size
    refused = run("compress", str(photo_path), "--max-pixels", str(pixels - 1), "-o", str(tmp_path / "a.vqc"))
    assert refused.exit_code == 1 and f"exceeds the limit of {pixels - 1} pixels" in refused.output
    assert not (tmp_path / "a.vqc").exists()
    assert run("compress", str(photo_path), "--max-pixels", str(pixels), "-o", str(tmp_path / "a.vqc")).exit_code == 0
    assert run("compress", str(photo_path), "--max-pixels", "0", "-o", str(tmp_path / "b.vqc")).exit_code == 0
    refused = run("decompress", str(tmp_path / "a.vqc"), "--max-pixels", "100", "-o", str(tmp_path / "a.png"))
    assert refused.exit_code == 1 and "exceeds the limit of 100 pixels" in refused.output
    assert run("decompress", str(tmp_path / "a.vqc"), "--max-pixels", "0", "-o", str(tmp_path / "a.png")).exit_code == 0


def test_info_reads_stdin_and_names_a_missing_file(tiny_model_dir, photo_path, tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "vqcodec_cli"]
    vqc = subprocess.run([*cmd, "compress", str(photo_path), "-q", "2", "-o", "-", "--model", str(tiny_model_dir)],
                         capture_output=True, check=True).stdout
    info = subprocess.run([*cmd, "info", "-"], input=vqc, capture_output=True)
    assert info.returncode == 0 and b"61x45 RGB" in info.stdout
    missing = subprocess.run([*cmd, "info", str(tmp_path / "missing.vqc")], capture_output=True, text=True)
    assert missing.returncode == 1 and "missing.vqc: no such file" in missing.stderr and "Errno" not in missing.stderr


def test_outputs_are_checked_before_any_work(run, photo_path, tmp_path):
    jpg = photo_path.with_suffix(".jpg")
    Image.open(photo_path).save(jpg, quality=95)
    clash = run("compress", str(photo_path), str(jpg), "-q", "2", "--force")
    assert clash.exit_code == 2 and "would both be written to" in clash.output
    assert not photo_path.with_suffix(".vqc").exists()  # nothing coded
    missing = run("compress", str(photo_path), "-q", "2", "-o", str(tmp_path / "nodir" / "x.vqc"))
    assert missing.exit_code == 1 and "does not exist" in missing.output and "PSNR" not in missing.output


def test_warnings_are_printed_as_they_come(tmp_path, capsys):
    """In one process, a warning is on stderr before the work after it (a large image's warning
    came only after its minutes of coding); a -j worker's come back with its report."""
    import warnings

    import vqcodec
    from vqcodec_cli import main as cli_main

    src = tmp_path / "in.png"
    src.write_bytes(b"")
    job = cli_main.Job(src, tmp_path / "out.vqc", False, None, "cpu")
    seen = []

    def task(job):
        warnings.warn("large image", vqcodec.LargeImageWarning)
        seen.append(capsys.readouterr().err)  # what the user sees while the work goes on
        return "done"

    assert cli_main._run(task, job, live=True) == ("done", None, [])
    assert "vqcodec: warning:" in seen[0] and "large image" in seen[0]
    assert cli_main._run(task, job) == ("done", None, ["large image"]) and seen[1] == ""


def test_no_progress_bar_when_stderr_is_not_a_terminal(run, tmp_path):
    """A log or a pipe gets the report lines and the summary, not a bar's redraws."""
    r = run("compress", *_photos(tmp_path, "p", 3, (32, 24)), "-q", "2")
    assert r.exit_code == 0 and "3 of 3 files done" in r.output
    assert "\r" not in r.output and "file/s" not in r.output and "%|" not in r.output


def test_a_command_without_a_watcher_imports_no_progress_bars_or_process_pools(tiny_model_dir, tmp_path):
    """Start-up counts in a one-file command (issue 39): tqdm and the process pool are imported
    only when a bar is drawn for a person watching or -j asks for workers."""
    import subprocess
    import sys

    photos = _photos(tmp_path, "p", 2, (32, 24))
    script = ("import sys; from vqcodec_cli.main import main\n"
              "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in ('tqdm', 'concurrent.futures.process') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script, "compress", *map(str, photos), "-q", "2", "--force",
                          "--model", str(tiny_model_dir)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]" and "2 of 2 files done" in out.stderr


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_decompress_to_a_lossy_format_says_so(run, tmp_path, suffix):
    (src,) = _photos(tmp_path, "p", 1, (32, 24))
    assert run("compress", src, "-q", "2", "-o", str(tmp_path / "p.vqc")).exit_code == 0
    r = run("decompress", str(tmp_path / "p.vqc"), "-o", str(tmp_path / f"back{suffix}"))
    assert r.exit_code == 0 and "lossy" in r.output and "Pillow's default quality" in r.output
    r = run("decompress", str(tmp_path / "p.vqc"), "-o", str(tmp_path / "back.png"))
    assert r.exit_code == 0 and "warning" not in r.output


def test_psnr_of_an_image_with_alpha_says_it_is_over_what_is_seen(run, tmp_path):
    rgba = np.dstack([smooth_image(32, 24, 1), np.full((24, 32), 255, np.uint8)])
    rgba[:, :10, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    r = run("compress", str(tmp_path / "a.png"), "-q", "2", "--print-psnr")
    assert r.exit_code == 0 and "visible pixels" in r.output


def test_print_psnr_is_the_decoded_files_and_the_plain_line_its_size(run, photo_path, tmp_path):
    """Without --print-psnr the file is not decoded again; with it, the figure is the PSNR of
    what decompress gives. Both lines give the file's size and bpp."""
    plain = run("compress", str(photo_path), "-q", "30", "-o", str(tmp_path / "a.vqc"))
    asked = run("compress", str(photo_path), "-q", "30", "-o", str(tmp_path / "b.vqc"), "--print-psnr")
    assert (tmp_path / "a.vqc").read_bytes() == (tmp_path / "b.vqc").read_bytes()
    size = (tmp_path / "a.vqc").stat().st_size
    assert f"q30, {size} bytes" in plain.output and f"q30, {size} bytes" in asked.output
    assert "PSNR" not in plain.output
    assert run("decompress", str(tmp_path / "b.vqc"), "-o", str(tmp_path / "b.png")).exit_code == 0
    assert float(asked.output.split("PSNR ")[1].split()[0]) == pytest.approx(
        psnr(np.asarray(Image.open(tmp_path / "b.png")), np.asarray(Image.open(photo_path))), abs=0.01)


def test_info_shows_the_exact_tiles_of_a_file(run):
    golden = Path(__file__).parent / "golden" / "519b61907cbe38c1" / "window-q30.vqc"
    r = run("info", str(golden))
    assert r.exit_code == 0 and "format version  14" in r.output
    assert re.search(r"codes \(\d+\) and exact tiles \(\d+\)", r.output)


def test_info_shows_the_sections_of_a_file_with_a_smoothing_map(run):
    golden = Path(__file__).parent / "golden" / "519b61907cbe38c1" / "ramp-q10.vqc"
    r = run("info", str(golden))
    assert r.exit_code == 0 and "format version  15" in r.output
    assert re.search(r"codes \(\d+\), exact tiles \(\d+\) and smoothing \(\d+\)", r.output)


def test_info_shows_the_residual_of_a_file_and_its_codes_level(run):
    golden = Path(__file__).parent / "golden" / "4e16e748f8a4b480" / "photo-q100.vqc"
    r = run("info", str(golden))
    assert r.exit_code == 0 and "format version  16" in r.output
    assert re.search(r"codes \(\d+\) and residual \(\d+\)", r.output)
    assert "quality         40 (codes) and a residual" in r.output


def test_a_photo_file_decodes_to_a_run_length_png_and_drawn_content_to_the_default(run, tmp_path, tiny_model):
    """PNGs of files of codes alone are deflated run-length (5-6x faster, 1-5% larger on photos);
    a palette file's keeps zlib's default, where run-length coding would cost up to +240%."""
    import io
    import zlib

    import vqcodec

    photo = tmp_path / "photo.png"
    Image.fromarray(smooth_image(64, 48, seed=3)).save(photo)
    drawn = tmp_path / "drawn.png"
    Image.fromarray(np.kron(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20, np.ones((16, 16), np.uint8))).save(drawn)
    for source, options in ((photo, {"compress_type": zlib.Z_RLE}), (drawn, {})):
        assert run("compress", str(source), "-q", "30").exit_code == 0
        vqc, out = source.with_suffix(".vqc"), tmp_path / f"{source.stem}-back.png"
        header = bitstream.parse_header(vqc.read_bytes())
        assert header.palette == (source == drawn)
        assert run("decompress", str(vqc), "-o", str(out)).exit_code == 0
        expected = io.BytesIO()
        vqcodec.decompress(vqc.read_bytes(), model=None if header.palette else tiny_model).save(expected, "PNG", **options)
        assert out.read_bytes() == expected.getvalue()
