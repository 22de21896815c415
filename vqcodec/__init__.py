"""vqcodec: a learned image codec built on a VQ-VAE with product vector quantization.

>>> import vqcodec
>>> data = vqcodec.compress("photo.png", quality=60)  # bytes of a .vqc file
>>> image = vqcodec.decompress(data)                   # PIL.Image
"""

from .bitstream import DEFAULT_MAX_PIXELS, Header, parse_header
from .bitstream import read_file as read_vqc
from .codec import (
    DEFAULT_QUALITY,
    DEMO_IMAGE,
    MAX_EFFORT,
    CompressResult,
    compress,
    compress_report,
    compress_to_psnr,
    compress_to_size,
    decompress,
    default_quality,
    model_for,
)
from .metrics import ms_ssim, psnr
from .errors import (
    CorruptError,
    FormatError,
    ImageError,
    ImageTooLargeError,
    ModelMismatchError,
    ModelNotFoundError,
    TargetError,
    TruncatedError,
    UnsupportedVersionError,
    VqcError,
    WeightsError,
)
from .image import ConversionWarning, LargeImageWarning
from .weights import CodecModel, load_model
from . import pillow_plugin

pillow_plugin.register()  # PIL.Image.open / save know .vqc from here on

__all__ = [
    "DEFAULT_MAX_PIXELS", "DEFAULT_QUALITY", "DEMO_IMAGE", "MAX_EFFORT", "CodecModel", "CompressResult", "ConversionWarning",
    "CorruptError", "FormatError", "Header", "ImageError", "ImageTooLargeError", "LargeImageWarning",
    "ModelMismatchError", "ModelNotFoundError", "TargetError", "TruncatedError", "UnsupportedVersionError", "VqcError", "WeightsError", "compress",
    "compress_report", "compress_to_psnr", "compress_to_size", "decompress", "default_quality", "load_model", "model_for", "ms_ssim", "parse_header", "psnr", "read_vqc",
]
