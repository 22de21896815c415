"""Turning whatever the caller hands us into RGB pixels (and back).

The network codes 8-bit RGB. Grayscale is coded as RGB and returned as
grayscale; an alpha channel is kept exactly (stored losslessly beside the
codes, unless a lossy alpha quality is asked for) and the colour under fully
transparent pixels is replaced by a smooth fill of the visible colour; 16-bit, bilevel and CMYK inputs are converted with a warning (palette inputs silently: nothing is lost);
EXIF orientation is applied. Anything else is refused with an ImageError.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .bitstream import DEFAULT_MAX_PIXELS, MAGIC, WARN_PIXELS
from .errors import ConversionWarning, CorruptError, ImageError, ImageTooLargeError, LargeImageWarning

#: What compress() accepts: a path, a PIL image, a uint8 array, or encoded image bytes.
ImageInput = Image.Image | np.ndarray | str | os.PathLike | bytes


#: warnings.catch_warnings swaps the process's filters: one opening at a time sets and restores them.
_WARNINGS_GUARD = threading.Lock()


def check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse an image above the pixel limit; warn above Pillow's warning threshold when the
    default limit applies (an explicit limit says the caller expects large images)."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if width * height > limit:
        raise ImageTooLargeError(f"image of {width}x{height} pixels exceeds the limit of {limit} pixels "
                                 "(raise it with max_pixels= or --max-pixels)")
    if max_pixels is None and width * height > WARN_PIXELS:
        warnings.warn(f"image of {width}x{height} pixels is large: coding it takes minutes and GBs",
                      LargeImageWarning, stacklevel=3)


@dataclass
class Pixels:
    """An image ready to code: RGB pixels, its output mode and its alpha plane."""

    rgb: np.ndarray  # (H, W, 3) uint8; under fully transparent pixels, a smooth fill
    mode: str  # "L", "RGB", "LA" or "RGBA": what decoding gives back
    alpha: np.ndarray | None  # (H, W) uint8 or None


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        warnings.warn("16-bit input converted to 8 bits", ConversionWarning, stacklevel=3)
        arr = (arr.astype(np.uint32) * 255 + 32767) // 65535
        arr = arr.astype(np.uint8)
    if arr.dtype != np.uint8:
        raise ImageError(f"arrays must be uint8 or uint16, not {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr), "L")
    channel_modes = {2: "LA", 3: "RGB", 4: "RGBA"}
    if arr.ndim == 3 and arr.shape[2] in channel_modes:
        return Image.fromarray(np.ascontiguousarray(arr), channel_modes[arr.shape[2]])
    raise ImageError(f"array of shape {arr.shape} is not an image (H, W) or (H, W, 1|2|3|4)")


def _magic(src: str | os.PathLike | bytes) -> bytes:
    if isinstance(src, bytes):
        return src[:len(MAGIC)]
    with open(src, "rb") as f:
        return f.read(len(MAGIC))


def _pillow_open(src: str | os.PathLike | bytes, path: Path | str) -> Image.Image:
    """``Image.open``, and above Pillow's own bomb limit the same plugins without its check, for
    vqcodec's limit (``check_pixels``, next) to decide. ``Image.MAX_IMAGE_PIXELS`` is never changed:
    it is process-wide, and lifting it let any other thread's ``Image.open`` take a bomb."""
    with _WARNINGS_GUARD, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(src) if isinstance(src, bytes) else path)
        except Image.DecompressionBombError:
            pass  # larger than Pillow allows: only a raised max_pixels lets it through
    fp = io.BytesIO(src if isinstance(src, bytes) else Path(path).read_bytes())
    prefix = fp.read(16)
    Image.init()
    for name in Image.ID:  # Image.open's own search over the registered formats, minus the check
        factory, accept = Image.OPEN[name]
        result = accept(prefix) if accept else True
        if not result or isinstance(result, str):
            continue
        fp.seek(0)
        try:
            return factory(fp, str(path))
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue
    raise UnidentifiedImageError(f"cannot identify image file {path}")


def _open(src: str | os.PathLike | bytes, max_pixels: int | None) -> Image.Image:
    """Open and decode an image file, checking its size before decoding any pixel."""
    path = "input" if isinstance(src, bytes) else Path(src)
    im = None
    try:
        if _magic(src) == MAGIC:  # Pillow would decode it (the plugin), and it would be coded twice, silently
            raise ImageError(f"{path}: is a .vqc file already (decompress it first to re-encode it)")
        im = _pillow_open(src, path)
        check_pixels(im.width, im.height, max_pixels)
        if im.mode in ("RGB", "RGBA", "LA") and any(";16" in str(tile.args) for tile in im.tile):
            # Pillow reads 16-bit colour PNG/TIFF as 8-bit without a word; say so, as for 16-bit gray
            warnings.warn(f"16-bit {im.mode} input converted to 8 bits", ConversionWarning, stacklevel=3)
        if getattr(im, "n_frames", 1) > 1:
            raise ImageError(f"{path}: animated / multi-frame images are not supported")
        im.load()
    except ImageError:
        if im is not None:
            im.close()
        raise
    except FileNotFoundError as exc:
        raise ImageError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"{path}: is a directory") from exc
    except PermissionError as exc:
        raise ImageError(f"{path}: permission denied") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path}: not an image Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or malformed image data
        if im is not None:
            im.close()
        raise ImageError(f"{path}: cannot decode image ({exc})") from exc
    return im


def to_pixels(src: ImageInput, max_pixels: int | None = None) -> Pixels:
    """Normalise a path, PIL image or array into :class:`Pixels`, refusing images over
    ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`) before decoding them."""
    if isinstance(src, (str, os.PathLike, bytes)):
        im = _open(src, max_pixels)
    elif isinstance(src, Image.Image):
        check_pixels(src.width, src.height, max_pixels)
        im = src
    elif isinstance(src, np.ndarray):
        if src.ndim >= 2:
            check_pixels(src.shape[1], src.shape[0], max_pixels)
        im = _from_array(src)
    else:
        raise ImageError(f"cannot code an object of type {type(src).__name__}")
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a malformed EXIF block must not stop coding; keep the stored orientation
        pass
    if im.width == 0 or im.height == 0:
        raise ImageError("image is empty (0 pixels)")
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        warnings.warn(f"{mode} (high bit depth) input converted to 8-bit grayscale", ConversionWarning, stacklevel=2)
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        im = Image.fromarray(np.clip(np.round(arr * 255.0 / peak), 0, 255).astype(np.uint8), "L")
    elif mode in ("P", "PA"):  # no warning: an RGB(A) file decodes to the same pixels, nothing is lost
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        warnings.warn("bilevel input converted to 8-bit grayscale", ConversionWarning, stacklevel=2)
        im = im.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        warnings.warn(f"{mode} input converted to RGB", ConversionWarning, stacklevel=2)
        im = im.convert("RGB")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode == "La":
        im = im.convert("LA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise ImageError(f"unsupported image mode {mode}")
    mode = im.mode
    alpha = np.asarray(im.getchannel("A")).copy() if mode in ("LA", "RGBA") else None
    rgb = np.asarray(im.convert("RGB")).copy()
    if alpha is not None:
        rgb = fill_transparent(rgb, alpha)
    return Pixels(rgb, mode, alpha)


def from_rgb(rgb: np.ndarray, mode: str, alpha: np.ndarray | None) -> Image.Image:
    """Build the decoded PIL image in the mode the input had."""
    im = Image.fromarray(rgb, "RGB")
    if mode in ("L", "LA"):
        im = im.convert("L")
    if alpha is not None:
        im.putalpha(Image.fromarray(alpha, "L"))
    return im


def fill_transparent(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour under fully transparent pixels replaced by a smooth continuation of the
    visible colour (push-pull over an image pyramid), as cwebp's alpha cleanup does: it
    is never seen, so it should cost few bits and must not bleed into visible edges
    through the 8x8 transform. Visible pixels (alpha > 0) are returned unchanged."""
    hidden = alpha == 0
    if not hidden.any() or hidden.all():
        return rgb if not hidden.all() else np.zeros_like(rgb)
    levels = [(rgb.astype(np.float64) * ~hidden[..., None], (~hidden).astype(np.float64))]
    while max(levels[-1][1].shape) > 1:  # push: weighted means over 2x2 cells
        colour, weight = levels[-1]
        h, w = weight.shape
        ph, pw = h % 2, w % 2
        colour = np.pad(colour, ((0, ph), (0, pw), (0, 0)))
        weight = np.pad(weight, ((0, ph), (0, pw)))
        levels.append((colour.reshape(-1, 2, colour.shape[1] // 2, 2, 3).sum(axis=(1, 3)),
                       weight.reshape(-1, 2, weight.shape[1] // 2, 2).sum(axis=(1, 3))))
    colour, weight = levels[-1]
    filled = colour / np.maximum(weight, 1e-12)[..., None]
    for colour, weight in reversed(levels[:-1]):  # pull: empty cells take the coarser level, smoothed
        h, w = weight.shape
        coarse = _blur(filled.repeat(2, axis=0).repeat(2, axis=1)[:h, :w])
        mean = colour / np.maximum(weight, 1e-12)[..., None]
        filled = np.where((weight > 0)[..., None], mean, coarse)
    out = rgb.copy()
    out[hidden] = np.clip(np.round(filled[hidden]), 0, 255).astype(np.uint8)
    return out


def _blur(a: np.ndarray) -> np.ndarray:
    """A [1, 2, 1] / 4 filter along both axes, edges replicated."""
    p = np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="edge")
    a = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4
    return (a[:, :-2] + 2 * a[:, 1:-1] + a[:, 2:]) / 4


def quantize_alpha(alpha: np.ndarray, quality: int) -> np.ndarray:
    """Alpha reduced to fewer levels (like cwebp's ``-alpha_q``): 100 keeps it exact,
    0 keeps 2 levels; fully transparent and fully opaque pixels always stay exact."""
    if quality >= 100:
        return alpha
    levels = 2 + round(254 * (quality / 100) ** 2)
    step = 255 / (levels - 1)
    return np.clip(np.round(np.round(alpha / step) * step), 0, 255).astype(np.uint8)


def compress_alpha(alpha: np.ndarray) -> bytes:
    """The alpha plane as a zlib stream at the highest level (alpha is usually flat)."""
    return zlib.compress(np.ascontiguousarray(alpha, dtype=np.uint8).tobytes(), 9)


def decompress_alpha(data: bytes, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`compress_alpha`, never inflating past ``width * height``."""
    size = width * height
    d = zlib.decompressobj()
    try:
        raw = d.decompress(data, size)
        complete = d.eof and not d.unconsumed_tail and not d.unused_data
    except zlib.error as exc:
        raise CorruptError(f"alpha plane is corrupt: {exc}") from exc
    if len(raw) != size or not complete:
        raise CorruptError("alpha plane has the wrong size")
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width).copy()
