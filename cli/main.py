"""Entry point of the ``vqcodec`` command: compress, decompress, info, train."""

from __future__ import annotations

import io
import os
import signal
import stat
import sys
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import click

from .files import OutputError, check_writable, write_atomic
from .models import models_command
from .train import train_command


def _fail(message: str) -> None:
    click.echo(f"vqcodec: error: {message}", err=True)


@lru_cache(maxsize=2)
def _load(model_dir: str | None, device: str):
    """The model, loaded once per process (the main one or a -j worker)."""
    import vqcodec

    return vqcodec.load_model(model_dir, device=device)


STDIO = Path("-")


def _read(src: Path) -> bytes:
    return sys.stdin.buffer.read() if src == STDIO else src.read_bytes()


def _emit(dst: Path, data: bytes, force: bool) -> None:
    if dst == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(dst, data, force)


def _check_streams(inputs: tuple[Path, ...], output: str | None) -> None:
    if len(inputs) > 1 and (STDIO in inputs or output == "-"):
        raise click.UsageError("'-' (stdin/stdout) works with a single input only")


def _data_on_stdout(inputs: tuple[Path, ...], output: str | None) -> bool:
    return output == "-" or (output is None and STDIO in inputs)


@dataclass(frozen=True)
class Job:
    """One file's work; picklable, so it runs in this process or in a -j worker."""

    src: Path
    dst: Path
    force: bool
    model_dir: str | None
    device: str
    quality: int = 0  # compress only
    max_pixels: int | None = None  # None: the library's default limit
    size: int | None = None  # compress to at most this many bytes (instead of quality)
    target_psnr: float | None = None  # compress to the smallest file reaching this PSNR
    alpha_quality: int = 100
    effort: int = 0
    print_psnr: bool = False  # compress: decode the file again to report its PSNR


def _compress_job(job: Job) -> str:
    import vqcodec

    if job.dst != STDIO:
        check_writable(job.dst, job.force)
    image = _read(job.src) if job.src == STDIO else job.src
    model = _load(job.model_dir, job.device)
    if job.size is not None:
        result = vqcodec.compress_to_size(image, job.size, model=model, max_pixels=job.max_pixels,
                                          alpha_quality=job.alpha_quality, effort=job.effort)
    elif job.target_psnr is not None:
        result = vqcodec.compress_to_psnr(image, job.target_psnr, model=model, max_pixels=job.max_pixels,
                                          alpha_quality=job.alpha_quality, effort=job.effort)
    elif job.print_psnr:
        result = vqcodec.compress_report(image, quality=job.quality, model=model, max_pixels=job.max_pixels,
                                         alpha_quality=job.alpha_quality, effort=job.effort)
    else:  # no PSNR asked for: the file is not decoded again (a third of the command's time on a photo)
        data = vqcodec.compress(image, quality=job.quality, model=model, max_pixels=job.max_pixels,
                                alpha_quality=job.alpha_quality, effort=job.effort)
        _emit(job.dst, data, job.force)
        header = vqcodec.parse_header(data)
        kind = ", lossless (few colours)" if header.palette else ""
        return (f"{job.src} -> {job.dst}: q{header.quality}, {len(data)} bytes, "
                f"{8 * len(data) / (header.width * header.height):.4f} bpp{kind}")
    _emit(job.dst, result.data, job.force)
    quality = "lossless (few colours)" if result.lossless else f"PSNR {result.psnr:.2f} dB"
    if not result.lossless and "A" in result.reconstruction.mode:
        quality += " (visible pixels: errors weighted by alpha)"
    return f"{job.src} -> {job.dst}: q{result.quality}, {len(result.data)} bytes, {result.bpp:.4f} bpp, {quality}"


def _format_of(suffix: str) -> str | None:
    """The Pillow format an output extension names: the common formats' plugins first (all of
    Pillow's plugins take 40 ms to load, a sixth of decoding a photo)."""
    from PIL import Image

    Image.preinit()
    return Image.EXTENSION.get(suffix) or Image.registered_extensions().get(suffix)


#: Formats Pillow writes lossily by default, and its default quality for each.
_LOSSY = {"JPEG": "75", "WEBP": "80", "AVIF": "75"}


def _save_options(fmt: str, header) -> dict:
    """How the decoded image is written. A PNG of a file of codes alone (with or without a
    residual: a photo's noise, no exact repeats) deflates with zlib's run-length strategy: 5-6x
    faster than the default (0.14 -> 0.025 s on a Kodak photo, a fifth of a whole decompress) for
    1-5% more bytes. Drawn content (palette files, exact tiles, smoothed ramps) repeats itself, and
    there run-length coding costs +34% to +240%: the default stays."""
    import zlib

    if fmt == "PNG" and not (header.palette or header.exact_tiles or header.smoothed):
        return {"compress_type": zlib.Z_RLE}
    return {}


def _decompress_job(job: Job) -> str:
    import vqcodec
    from PIL import Image
    from vqcodec import bitstream

    dst = job.dst
    if dst != STDIO:
        check_writable(dst, job.force)
    fmt = "PNG" if dst == STDIO else _format_of(dst.suffix.lower())
    if fmt is None:
        raise vqcodec.VqcError(f"{dst}: unknown image extension {dst.suffix!r}")
    if fmt in _LOSSY:
        warnings.warn(f"{dst}: {fmt} is lossy: the decoded image is coded again at Pillow's default quality "
                      f"({_LOSSY[fmt]}); write .png for the decoded pixels themselves")
    source = sys.stdin.buffer if job.src == STDIO else job.src
    data = vqcodec.read_vqc(source, _limit(job.max_pixels))
    header = bitstream.parse_header(data, _limit(job.max_pixels))
    # the file names its model: found by fingerprint (--model first); a palette file needs none
    model = None if header.palette else _model_for(header.fingerprint, job.model_dir, job.device)
    image = vqcodec.decompress(data, model=model, max_pixels=job.max_pixels)
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt, **_save_options(fmt, header))
    except (OSError, ValueError, KeyError) as exc:
        raise vqcodec.VqcError(f"{dst}: cannot write a {image.mode} image as {fmt} ({exc})") from exc
    _emit(dst, buf.getvalue(), job.force)
    return f"{job.src} -> {dst}: {image.width}x{image.height} {image.mode}"


@lru_cache(maxsize=4)
def _model_for(fingerprint: bytes, model_dir: str | None, device: str):
    """The model a file names, loaded once per process."""
    import vqcodec

    return vqcodec.model_for(fingerprint, () if model_dir is None else (model_dir,), device)


def _limit(max_pixels: int | None) -> int:
    from vqcodec.bitstream import DEFAULT_MAX_PIXELS

    return DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels


def _info_job(job: Job) -> str:
    from vqcodec import bitstream

    data = bitstream.read_file(sys.stdin.buffer if job.src == STDIO else job.src, _limit(job.max_pixels))
    container = bitstream.unpack(data, _limit(job.max_pixels))  # a truncated or corrupt file is an error
    h = container.header
    if h.palette:
        model, kind = "none (lossless palette file: any model decodes it)", "palette"
    else:
        model, kind = f"{h.fingerprint.hex()} ({_model_status(h.fingerprint, job.model_dir)})", "codes"
        if h.sections:
            parts = [f"codes ({len(container.payload)})"] + [
                f"{name} ({len(part)})" for name, part in (("exact tiles", container.tiles), ("smoothing", container.smoothing),
                                                           ("residual", container.residual))
                if part]
            kind = ", ".join(parts[:-1]) + " and " + parts[-1]
    return "\n".join([
        f"{job.src}:",
        f"  format version  {h.version}",
        f"  image           {h.width}x{h.height} {h.mode}",
        f"  quality         {h.quality}" + (" (codes) and a residual" if h.residual else ""),
        f"  model           {model}",
        f"  payload         {h.payload_size} bytes {kind}, {h.alpha_size} bytes alpha",
        f"  file            {len(data)} bytes ({h.file_size} expected)",
        f"  bits per pixel  {8 * len(data) / (h.width * h.height):.4f}",
    ])


def _model_status(fingerprint: bytes, model_dir: str | None) -> str:
    """Whether a file's model is installed, and where (read from the packs' manifests: no model is loaded)."""
    from vqcodec import models

    path = models.find(fingerprint, () if model_dir is None else (model_dir,))
    if path is not None:
        return f"installed: {path}"
    return f"not installed; {models.release_note(fingerprint)}"


def _input_problem(src: Path) -> str | None:
    """Why ``src`` cannot be an input, or None. Only regular files (and '-'): opening a FIFO or a
    device would block, or read without end. os.stat opens nothing, so it cannot block."""
    if src == STDIO:
        return None
    try:
        mode = src.stat().st_mode
    except FileNotFoundError:
        return f"{src}: no such file"
    except OSError as exc:
        return f"{src}: cannot read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return f"{src}: is a directory"
    if not stat.S_ISREG(mode):
        return f"{src}: not a regular file (a FIFO, device or socket)"
    return None


def _warn(src: Path, message: str) -> None:
    click.echo(f"vqcodec: warning: {src}: {message}", err=True)


class _Bars:
    """A progress hook (:mod:`vqcodec.progress`): one bar per stage of a file's work, shown only
    once the stage has taken a second (a Kodak photo's stages never show)."""

    def __init__(self) -> None:
        self.stage, self.bar = None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=f"  {stage}", file=sys.stderr, leave=False, delay=1.0)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None


def _run(task, job: Job, live: bool = False) -> tuple[str | None, str | None, list[str]]:
    """(report line, error message, warnings) of one job; never raises a VqcError. ``live``
    prints each warning as it is raised (a large image's comes before minutes of work), else
    they are returned (a -j worker's go out with its report line)."""
    import vqcodec

    problem = _input_problem(job.src)
    if problem is not None:
        return None, problem, []
    from vqcodec import progress

    caught: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always", vqcodec.ConversionWarning)
        warnings.simplefilter("always", vqcodec.LargeImageWarning)
        warnings.showwarning = lambda message, *_: _warn(job.src, str(message)) if live else caught.append(str(message))
        bars = _Bars() if live and sys.stderr.isatty() else None  # a worker's bars would garble each other's
        try:
            with progress.reporting(bars) if bars is not None else nullcontext():
                line, error = task(job), None
        except (vqcodec.VqcError, OSError) as exc:
            named = isinstance(exc, OutputError) or str(job.src) in str(exc)
            message = vqcodec.models.explain(exc)
            line, error = None, message if named else f"{job.src}: {message}"
        except Exception as exc:  # a bug, not the file's fault: still one line, and the other files go on
            line, error = None, f"{job.src}: internal error ({type(exc).__name__}: {exc}); please report it"
        finally:
            if bars is not None:
                bars.close()
    return line, error, caught


def _worker_init(threads: int) -> None:
    from vqcodec.runtime import set_threads

    set_threads(threads)
    signal.signal(signal.SIGTERM, _terminated)


def _file_bar(total: int, label: str):
    """The bar of files done, for a person watching."""
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="file", file=sys.stderr, leave=False)


def _run_all(task, jobs: list[Job], label: str, workers: int, report_to_stderr: bool = False) -> int:
    """Run every job (in ``workers`` processes if more than one), printing each
    report line or error as it comes, in input order; returns the failure count.
    Report lines go to stdout, unless stdout carries the data ('-o -')."""
    # a bar only for a person watching: in a log or a pipe its redraws are clutter (and tqdm is not
    # even imported: a tenth of a one-file command's start-up)
    bar = _file_bar(len(jobs), label) if len(jobs) > 1 and sys.stderr.isatty() else None
    failures = 0

    def show(job: Job, line: str | None, error: str | None, caught: list[str]) -> None:
        nonlocal failures
        if bar is not None:
            bar.clear()
        for message in caught:
            _warn(job.src, message)
        if error is None:
            click.echo(line, err=report_to_stderr)
        else:
            failures += 1
            _fail(error)
        if bar is not None:
            bar.update(1)

    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(threads,)) as pool:
            futures = [pool.submit(_run, task, job) for job in jobs]
            try:
                for job, future in zip(jobs, futures, strict=True):
                    show(job, *future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    else:
        for job in jobs:
            show(job, *_run(task, job, live=True))
    if bar is not None:
        bar.close()
    if len(jobs) > 1:
        click.echo(f"{len(jobs) - failures} of {len(jobs)} files done" + (f", {failures} failed" if failures else ""),
                   err=True)
    return failures


def _output_for(src: Path, out: str | None, many: bool, name: Callable[[Path], str]) -> Path:
    """Where one input's output goes: -o itself, inside -o (a directory or several inputs),
    or beside the input under ``name(src)``."""
    if out is None:
        return STDIO if src == STDIO else src.with_name(name(src))
    target = Path(out)
    if many or target.is_dir():
        return target / name(src)
    return target


def _vqc_name(src: Path) -> str:
    return src.with_suffix(".vqc").name


def _decoded_name(src: Path) -> str:
    """photo.vqc -> photo.vqc.png: never the name of the photo it was made from."""
    return src.name + ".png"


class ByteSize(click.ParamType):
    """A byte count: 50000, 50k (x 1000), 1.5M (x 1000000), 48KiB (x 1024) or 2MiB."""

    name = "BYTES"
    UNITS = {"": 1, "k": 1000, "kb": 1000, "m": 1000_000, "mb": 1000_000, "kib": 1024, "mib": 1024 ** 2}

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        number = text.rstrip("kmib")
        unit = text[len(number):]
        try:
            size = int(float(number) * self.UNITS[unit])
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size (e.g. 50000, 50k, 1.5M, 48KiB)", param, ctx)
        if size < 1:
            self.fail(f"{value!r} must be at least one byte", param, ctx)
        return size


model_option = click.option(
    "--model", "model_dir", type=click.Path(), default=None,
    help="A model: a pack (.vqm), a model directory or a folder of packs. compress encodes with it (default: "
         "the current model shipped with vqcodec); decompress and info look there first for the model each "
         "file names (then $VQCODEC_MODEL_PATH, the user's model folder, the package; see 'vqcodec models').")
device_option = click.option(
    "--device", default="cpu", show_default=True,
    help="cpu runs the model's ONNX graphs with ONNX Runtime (no torch needed); cuda, cuda:1, ... run it "
         "with torch on that GPU.")
force_option = click.option("-f", "--force", is_flag=True, help="Overwrite existing output files.")
max_pixels_option = click.option(
    "--max-pixels", type=click.IntRange(0), default=None,
    help="Refuse images (or .vqc files claiming images) of more pixels than this; 0 lifts the limit. "
         "Default 178956970 (as Pillow), with a warning above 89478485.")
jobs_option = click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
                           help="Files to code in parallel, in separate processes.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vqcodec")
def main() -> None:
    """vqcodec: a learned image codec (VQ-VAE + range coding).

    \b
    Compress:    vqcodec compress photo.png        -> photo.vqc
    Decompress:  vqcodec decompress photo.vqc      -> photo.vqc.png
    Inspect:     vqcodec info photo.vqc
    Models:      vqcodec models                    (which models files decode with)
    Try it:      vqcodec demo

    Run 'vqcodec COMMAND --help' for the options of each command.
    """
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so pending output is discarded, not left half-written."""
    click.echo("vqcodec: terminated", err=True)
    raise SystemExit(128 + signum)


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", default=None,
              help="Output file (one input), directory (several), or - for stdout. Default: INPUT with .vqc "
                   "suffix (stdout when the input is - for stdin).")
@click.option("-q", "--quality", type=int, default=None,
              help="Quality 0 (smallest file) .. 100 (best image); default 55, about 1 bpp on photos. "
                   "From 74 (65 on gray images) up, photos take a low level's codes and a residual layer: "
                   "about 2.5 bpp at 80, 5.8 bpp and 49 dB at 100 on Kodak.")
@click.option("--size", type=ByteSize(), default=None,
              help="Instead of -q: the best quality whose file is at most this size (50000, 50k, 48KiB, 1.5M); "
                   "never larger, an error if quality 0 is.")
@click.option("--psnr", "target_psnr", type=click.FloatRange(0, 200), default=None,
              help="Instead of -q: the smallest file whose decoded image reaches this PSNR in dB; "
                   "never lower, an error if quality 100 falls short.")
@click.option("--print-psnr", is_flag=True,
              help="Also decode each file and print the PSNR of the image decompress will give (as cwebp's "
                   "-print_psnr; for an image with alpha, errors weighted by alpha). --size and --psnr print it "
                   "always.")
@click.option("--alpha-quality", type=click.IntRange(0, 100), default=100, show_default=True,
              help="Alpha channel: 100 keeps it exact; lower keeps fewer levels for a smaller file "
                   "(fully transparent and fully opaque stay exact), like cwebp's -alpha_q.")
@click.option("-e", "--effort", type=int, default=0, show_default=True,
              help="Encoder effort 0 (fastest) .. 8: that many extra decoder passes fit the codes to "
                   "the image, for a better image at the same quality level: at 4, 1.7% fewer bits for the same "
                   "PSNR on Kodak (BD-rate; the file at a given level is larger, its PSNR higher), each pass "
                   "about 2.5 times the default encoding's time. Decoding is unchanged.")
@force_option
@jobs_option
@max_pixels_option
@model_option
@device_option
def compress(images: tuple[Path, ...], output: str | None, quality: int | None, size: int | None,
             target_psnr: float | None, print_psnr: bool, alpha_quality: int, effort: int, force: bool, jobs: int,
             max_pixels: int | None, model_dir: str | None, device: str) -> None:
    """Compress IMAGES (PNG, JPEG, WebP, ...) to .vqc files.

    Prints each file's size and bits per pixel (and, with --print-psnr, the
    PSNR of the image that decompress will reproduce). Grayscale stays grayscale; an alpha channel is
    kept losslessly (or with fewer levels, --alpha-quality), and the colour
    under fully transparent pixels is replaced by a cheap smooth fill.
    Images of at most 4096 colours (text, screenshots, drawings, icons) are
    coded losslessly instead whenever that file is no larger.
    """
    import vqcodec

    if sum(x is not None for x in (quality, size, target_psnr)) > 1:
        raise click.UsageError("give one of -q, --size and --psnr")
    _fail_if_none_readable(images)
    try:
        model = _load(model_dir, device)
    except vqcodec.VqcError as exc:
        _fail(str(exc))
        sys.exit(1)
    q = vqcodec.default_quality(model) if quality is None else quality
    if not 0 <= q < model.num_qualities:
        raise click.BadParameter(f"must be between 0 and {model.num_qualities - 1}", param_hint="'-q'")
    if not 0 <= effort <= vqcodec.MAX_EFFORT:
        raise click.BadParameter(f"must be between 0 and {vqcodec.MAX_EFFORT}", param_hint="'-e'")
    _check_streams(images, output)
    limit = _unlimited(max_pixels)
    work = [Job(src, _output_for(src, output, len(images) > 1, _vqc_name), force, model_dir, device, q, limit,
                size, target_psnr, alpha_quality, effort, print_psnr) for src in images]
    _check_outputs(work)
    sys.exit(1 if _run_all(_compress_job, work, "compress", jobs, _data_on_stdout(images, output)) else 0)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", default=None,
              help="Output image (one input), directory (several), or - for PNG on stdout. The extension "
                   "picks the format (a lossy one, .jpg or .webp, codes the image again at Pillow's default "
                   "quality, with a warning). Default: INPUT.png, e.g. photo.vqc -> photo.vqc.png, which cannot be "
                   "the photo it came from (stdout when the input is - for stdin).")
@force_option
@jobs_option
@max_pixels_option
@model_option
@device_option
def decompress(files: tuple[Path, ...], output: str | None, force: bool, jobs: int, max_pixels: int | None,
               model_dir: str | None, device: str) -> None:
    """Decompress .vqc FILES to images (PNG by default).

    A photo's PNG is deflated run-length (5-6x faster than zlib's default, 1-5% larger; drawn
    content keeps the default): recompress it with a PNG optimiser if bytes matter more."""
    import vqcodec

    _fail_if_none_readable(files)
    if model_dir is not None and not Path(model_dir).exists():  # one error, not one per file
        _fail(f"{model_dir}: no such model")
        sys.exit(1)
    _check_streams(files, output)
    limit = _unlimited(max_pixels)
    work = [Job(src, _output_for(src, output, len(files) > 1, _decoded_name), force, model_dir, device, 0, limit)
            for src in files]
    _check_outputs(work)
    sys.exit(1 if _run_all(_decompress_job, work, "decompress", jobs, _data_on_stdout(files, output)) else 0)


def _check_outputs(work: list[Job]) -> None:
    """Before any work: two inputs may not write one output (with --force the second would
    overwrite the first), and every output's folder must exist (else the error came after coding)."""
    seen: dict[Path, Path] = {}
    for job in work:
        if job.dst == STDIO:
            continue
        key = job.dst.resolve()
        if key in seen:
            raise click.UsageError(f"{seen[key]} and {job.src} would both be written to {job.dst}")
        seen[key] = job.src
        if not job.dst.parent.is_dir():
            _fail(f"{job.dst}: cannot write: directory {job.dst.parent} does not exist")
            sys.exit(1)


def _fail_if_none_readable(inputs: tuple[Path, ...]) -> None:
    """When no input can be read at all (a mistyped name), say so and exit before loading the model."""
    problems = [problem for problem in map(_input_problem, inputs) if problem is not None]
    if len(problems) == len(inputs):
        for message in problems:
            _fail(message)
        sys.exit(1)


def _unlimited(max_pixels: int | None) -> int | None:
    """--max-pixels 0 lifts the limit."""
    return (1 << 62) if max_pixels == 0 else max_pixels


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@max_pixels_option
@model_option
def info(files: tuple[Path, ...], max_pixels: int | None, model_dir: str | None) -> None:
    """Show the header fields and bits per pixel of .vqc FILES (checking them whole)."""
    work = [Job(src, STDIO, False, model_dir, "cpu", 0, _unlimited(max_pixels)) for src in files]
    sys.exit(1 if _run_all(_info_job, work, "info", 1) else 0)


@main.command()
@click.argument("image", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the .vqc and decoded .png files (default: a new temporary directory).")
@click.option("-q", "--quality", "qualities", type=int, multiple=True,
              help="Quality level(s) 0..100 to run (repeatable; default: 0, 20, 40, 60, 80, 100).")
@force_option
@model_option
@device_option
def demo(image: Path | None, output_dir: Path | None, qualities: tuple[int, ...], force: bool,
         model_dir: str | None, device: str) -> None:
    """Compress and decompress a photo (the bundled one by default) at several qualities.

    Writes each .vqc file and its decoded PNG to disk, decodes from the file it
    wrote, checks the pixels equal what compress reported, and prints a table
    of file size, bits per pixel and PSNR.
    """
    import tempfile

    import numpy as np
    from tqdm import tqdm
    import vqcodec

    src = image or vqcodec.DEMO_IMAGE
    try:
        model = _load(model_dir, device)
        original = vqcodec.image.to_pixels(src)
    except vqcodec.VqcError as exc:
        _fail(str(exc))
        sys.exit(1)
    top = model.num_qualities - 1
    levels = qualities or tuple(sorted({round(top * k / 5) for k in range(6)}))
    for q in levels:
        if not 0 <= q <= top:
            raise click.BadParameter(f"must be between 0 and {top}", param_hint="'-q'")
    out = output_dir or Path(tempfile.mkdtemp(prefix="vqcodec-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(src).stem
    for q in levels:  # refuse before doing any work, not after
        for name in (f"{stem}-q{q}.vqc", f"{stem}-q{q}.png"):
            try:
                check_writable(out / name, force)
            except (OSError, vqcodec.VqcError) as exc:
                _fail(str(exc))
                sys.exit(1)
    h, w = original.rgb.shape[:2]
    click.echo(f"{src} ({w}x{h}) with model {model.fingerprint.hex()}, files in {out}")
    click.echo(f"{'quality':>7} {'bytes':>8} {'bpp':>7} {'PSNR dB':>8}")
    for q in tqdm(levels, desc="demo", unit="level", file=sys.stderr, leave=False, disable=not sys.stderr.isatty()):
        try:
            result = vqcodec.compress_report(src, quality=q, model=model)
            vqc = out / f"{stem}-q{q}.vqc"
            write_atomic(vqc, result.data, force)
            decoded = vqcodec.decompress(vqc.read_bytes(), model=model)
            buf = io.BytesIO()
            decoded.save(buf, format="PNG")
            write_atomic(vqc.with_suffix(".png"), buf.getvalue(), force)
        except vqcodec.VqcError as exc:
            _fail(str(exc))
            sys.exit(1)
        if not np.array_equal(np.asarray(decoded), np.asarray(result.reconstruction)):
            _fail(f"quality {q}: decoded pixels differ from what compress reported")
            sys.exit(1)
        measured = vqcodec.psnr(np.asarray(decoded.convert("RGB")), original.rgb)
        tqdm.write(f"{q:>7} {len(result.data):>8} {8 * len(result.data) / (w * h):>7.4f} {measured:>8.2f}")


main.add_command(train_command)
main.add_command(models_command)
