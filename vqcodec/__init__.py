"""vqcodec: a learned image codec built on a VQ-VAE with residual vector quantization.

>>> import vqcodec
>>> data = vqcodec.compress("photo.png", quality=4)   # bytes of a .vqc file
>>> image = vqcodec.decompress(data)                   # PIL.Image
"""

from .bitstream import DEFAULT_MAX_PIXELS, Header, parse_header
from .codec import DEFAULT_QUALITY, DEMO_IMAGE, CompressResult, compress, compress_report, decompress, default_quality
from .metrics import ms_ssim, psnr
from .errors import (
    CorruptError,
    FormatError,
    ImageError,
    ImageTooLargeError,
    ModelMismatchError,
    TruncatedError,
    UnsupportedVersionError,
    VqcError,
    WeightsError,
)
from .image import ConversionWarning
from .weights import CodecModel, load_model

__all__ = [
    "DEFAULT_MAX_PIXELS", "DEFAULT_QUALITY", "DEMO_IMAGE", "CodecModel", "CompressResult", "ConversionWarning",
    "CorruptError", "FormatError", "Header", "ImageError", "ImageTooLargeError", "ModelMismatchError",
    "TruncatedError", "UnsupportedVersionError", "VqcError", "WeightsError", "compress", "compress_report",
    "decompress", "default_quality", "load_model", "ms_ssim", "parse_header", "psnr",
]
