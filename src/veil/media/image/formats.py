"""Picture formats: the tables, the suffix and format rules, HEIF registration.

Besides the public functions, ``OPEN_FORMATS``, ``RAW_SUFFIXES``,
``ORIENTATION_TAG``, :func:`canonical_format`, :func:`register_heif` and
:func:`one_line` are helpers shared by the modules of :mod:`veil.media.image`
(``register_heif`` and ``OPEN_FORMATS`` also serve :mod:`veil.media.metadata`).
"""

from __future__ import annotations

import threading

from veil.errors import UnsupportedMediaError

#: Picture formats :func:`~veil.media.image.read_image` reports in
#: :attr:`~veil.media.image.Picture.format`.
READ_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF")
#: Formats :func:`~veil.media.image.write_image` accepts.
WRITE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "HEIF", "AVIF")

#: Pillow plugin ids Image.open may try. Restricting them keeps files that
#: merely claim to be pictures (EPS, PSD, ICO, ...) away from other plugins.
OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF", "HEIF")

_FORMAT_OF_SUFFIX = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF", ".tiff": "TIFF",
    ".bmp": "BMP", ".dib": "BMP",
    ".gif": "GIF",
    ".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF",
    ".avif": "AVIF",
}  # fmt: skip
_CANONICAL_SUFFIX = {
    "JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif",
    "BMP": ".bmp", "HEIF": ".heic", "AVIF": ".avif",
}  # fmt: skip
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "HEIC": "HEIF", "MPO": "JPEG", "DIB": "BMP"}

#: Suffixes of camera RAW files, refused on reading.
RAW_SUFFIXES = frozenset(
    {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf",
     ".rw2", ".raf", ".pef", ".srw", ".3fr", ".erf", ".kdc", ".mrw", ".x3f", ".iiq",
     ".rwl", ".mos"}
)  # fmt: skip

#: EXIF/TIFF orientation tag.
ORIENTATION_TAG = 0x0112

_heif_lock = threading.Lock()
_heif_registered = False


def register_heif() -> None:
    """Register pillow-heif's HEIF opener with Pillow, once, on first use."""
    global _heif_registered
    if _heif_registered:
        return
    with _heif_lock:
        if _heif_registered:
            return
        try:
            import pillow_heif
        except ImportError:  # pragma: no cover - pillow-heif is a dependency
            _heif_registered = True
            return
        pillow_heif.register_heif_opener()
        _heif_registered = True


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when empty)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def canonical_format(format: str) -> str:
    """Upper-case format name with aliases resolved (``'jpg'`` -> ``'JPEG'``); not checked."""
    fmt = str(format).upper().lstrip(".")
    return _FORMAT_ALIASES.get(fmt, fmt)


def format_for_suffix(suffix: str) -> str:
    """Return the picture format of a file suffix (``'.JPG'`` -> ``'JPEG'``).

    Raises
    ------
    veil.errors.UnsupportedMediaError
        For suffixes that are not picture formats veil reads.
    """
    fmt = _FORMAT_OF_SUFFIX.get(suffix.lower())
    if fmt is None:
        raise UnsupportedMediaError(f"unsupported picture suffix {suffix!r}")
    return fmt


def output_format(format: str) -> str:
    """Return the format veil writes for a source format.

    Every format is kept except GIF, written as PNG (lossless, no palette
    quantization). Accepts aliases (``'jpg'``, ``'heic'``, ``'MPO'``...).

    Raises
    ------
    veil.errors.UnsupportedMediaError
        For unknown formats.
    """
    fmt = canonical_format(format)
    if fmt == "GIF":
        return "PNG"
    if fmt not in WRITE_FORMATS:
        raise UnsupportedMediaError(f"unsupported picture format {format!r}")
    return fmt


def output_suffix(src_suffix: str, *, format: str | None = None) -> str:
    """Return the suffix of the output file for a source picture.

    Parameters
    ----------
    src_suffix : str
        Suffix of the source file, with the dot (``'.jpeg'``).
    format : str, optional
        The source's actual format (:attr:`~veil.media.image.Picture.format`). When given and
        the suffix names another format (a PNG called ``x.jpg``), the output
        gets the canonical suffix of the written format.

    Returns
    -------
    str
        ``src_suffix`` itself, same case, when the written format matches it
        (``'.jpeg'`` -> ``'.jpeg'``, ``'.HEIC'`` -> ``'.HEIC'``); otherwise
        the canonical suffix of the written format (``'.gif'`` -> ``'.png'``,
        ``('.jpg', format='PNG')`` -> ``'.png'``).

    Raises
    ------
    veil.errors.UnsupportedMediaError
        ``format`` is not a picture format, or it is ``None`` and
        ``src_suffix`` names no picture format (``'.mp4'``, ``'.cr2'``).
    """
    suffix_fmt = _FORMAT_OF_SUFFIX.get(src_suffix.lower())
    if format is None:
        if suffix_fmt is None:
            raise UnsupportedMediaError(
                f"suffix {src_suffix!r} names no picture format veil writes"
            )
        out_fmt = output_format(suffix_fmt)
    else:
        out_fmt = output_format(format)
    if suffix_fmt == out_fmt:
        return src_suffix
    return _CANONICAL_SUFFIX[out_fmt]

