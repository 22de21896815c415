"""vqcodec: a learned image codec built on a VQ-VAE with product vector quantization.

>>> import vqcodec
>>> data = vqcodec.compress("photo.png", quality=60)  # bytes of a .vqc file
>>> image = vqcodec.decompress(data)                   # PIL.Image
"""

from importlib import import_module
from typing import TYPE_CHECKING

from .bitstream import DEFAULT_MAX_PIXELS, Header, parse_header
from .bitstream import read_file as read_vqc
from .errors import (
    ConversionWarning,
    CorruptError,
    FormatError,
    ImageError,
    ImageTooLargeError,
    LargeImageWarning,
    ModelMismatchError,
    ModelNotFoundError,
    TargetError,
    TruncatedError,
    UnsupportedVersionError,
    VqcError,
    WeightsError,
)
from . import pillow_plugin, progress

pillow_plugin.register()  # PIL.Image.open / save know .vqc from here on

#: The rest of the API, imported when first used: reading a header (``vqcodec info``) or an
#: error type needs neither numpy nor ONNX Runtime, which take most of a short command's time.
_LAZY = {
    **dict.fromkeys(["DEFAULT_QUALITY", "DEMO_IMAGE", "MAX_EFFORT", "CompressResult", "compress", "compress_report",
                     "compress_to_psnr", "compress_to_size", "decompress", "default_quality", "model_for"], "codec"),
    **dict.fromkeys(["ms_ssim", "psnr"], "metrics"),
    **dict.fromkeys(["CodecModel", "load_model"], "weights"),
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from .codec import (DEFAULT_QUALITY, DEMO_IMAGE, MAX_EFFORT, CompressResult, compress, compress_report,
                        compress_to_psnr, compress_to_size, decompress, default_quality, model_for)
    from .metrics import ms_ssim, psnr
    from .weights import CodecModel, load_model

__all__ = [
    "DEFAULT_MAX_PIXELS", "DEFAULT_QUALITY", "DEMO_IMAGE", "MAX_EFFORT", "CodecModel", "CompressResult", "ConversionWarning",
    "CorruptError", "FormatError", "Header", "ImageError", "ImageTooLargeError", "LargeImageWarning",
    "ModelMismatchError", "ModelNotFoundError", "TargetError", "TruncatedError", "UnsupportedVersionError", "VqcError", "WeightsError", "compress",
    "compress_report", "compress_to_psnr", "compress_to_size", "decompress", "default_quality", "load_model", "model_for", "ms_ssim", "parse_header", "psnr", "read_vqc",
]
