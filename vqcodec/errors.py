"""The exceptions the library raises; the CLI turns each into a one-line message."""


class VqcError(Exception):
    """Base of every error vqcodec raises on purpose."""


class ImageError(VqcError):
    """The input image cannot be read or is of a kind vqcodec does not code."""


class FormatError(VqcError):
    """A ``.vqc`` file is not valid: wrong magic, corrupt, truncated, or inconsistent."""


class TruncatedError(FormatError):
    """The file ends before its header or payload does."""


class CorruptError(FormatError):
    """The file's checksum or structure shows it was altered."""


class UnsupportedVersionError(FormatError):
    """The file was written by a format version this decoder does not read (newer, or before 12)."""

    def __init__(self, message: str, fingerprint: bytes | None = None) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint  # the model an older file names (every version has it at bytes 8-15)


class ModelMismatchError(FormatError):
    """The file was made by a model other than the one loaded."""


class ModelNotFoundError(ModelMismatchError):
    """The file's model is on no path searched (docs/models.md): the message names it and its release."""


class ImageTooLargeError(FormatError, ImageError):
    """An image, or a file's header, has more pixels than the configured limit (a bomb guard)."""


class TargetError(VqcError):
    """A size or PSNR target that no quality level of the model reaches for this image."""


class TrainingDataError(VqcError):
    """A training folder that cannot be trained on: no images, or none large enough."""


class WeightsError(VqcError):
    """Model weights are missing, unreadable or inconsistent with their config."""


class ConversionWarning(UserWarning):
    """An input was converted (bit depth, colour space) before coding."""


class LargeImageWarning(UserWarning):
    """An image is above Pillow's decompression-bomb warning threshold (but within the limit)."""
