"""Reading: :func:`read_image` and the :class:`Picture` it returns (see the package docstring)."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from veil.errors import MediaError, TooLargeError, UnsupportedMediaError, VeilError

from .. import check_size
from .decode import decode_opencv, needs_opencv, pillow_pixels, tiff_orientation_neutral
from .formats import OPEN_FORMATS, ORIENTATION_TAG, RAW_SUFFIXES, one_line, register_heif
from .pixels import apply_orientation


@dataclasses.dataclass(frozen=True, eq=False)
class Picture:
    """A decoded picture, upright as displayed.

    Attributes
    ----------
    pixels : numpy.ndarray
        ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA (straight alpha) or ``(H, W)``
        grey; ``uint8`` or ``uint16``; C-contiguous and read-only (copy it to
        change it).
    format : str
        Source format: one of :data:`~veil.media.image.READ_FORMATS` (MPO reads as ``'JPEG'``).
    facts : dict
        JSON-ready description for reports: ``width``, ``height`` (upright),
        ``mode`` (source pixel mode, e.g. ``'P'``, ``'CMYK'``, ``'RGB;16'``),
        ``bit_depth`` (8 or 16, of ``pixels``), ``channels`` (1, 3 or 4),
        ``orientation`` (EXIF value 1..8 that was applied), ``had_alpha``,
        ``frames`` (pictures in the file), ``icc`` (a profile was present),
        ``icc_converted`` (pixels were converted from it to sRGB), and, when
        they apply, ``converted`` (e.g. ``'P->RGBA'``), ``dropped_previews``
        and ``warnings`` (decoder warnings, strings).
    """

    pixels: np.ndarray
    format: str
    facts: dict[str, Any]


def _frames_check(im: Image.Image, fmt: str, facts: dict[str, Any]) -> None:
    """Refuse multi-frame pictures, except for dropped previews (package docs)."""
    n = int(getattr(im, "n_frames", 1) or 1)
    facts["frames"] = n
    if n <= 1:
        return
    if im.format == "MPO":
        facts["dropped_previews"] = n - 1
        im.seek(0)
        return
    if fmt == "TIFF":
        previews = 0
        for i in range(1, n):
            im.seek(i)
            if int(getattr(im, "tag_v2", {}).get(254, 0) or 0) & 1:
                previews += 1
        im.seek(0)
        if previews == n - 1:
            facts["dropped_previews"] = previews
            return
        raise UnsupportedMediaError(
            f"multi-page TIFF ({n} pages) is not supported; split it into single pictures"
        )
    what = {"GIF": "animated GIF", "WEBP": "animated WebP", "PNG": "animated PNG (APNG)"}
    kind = what.get(fmt, f"{fmt} with several pictures")
    raise UnsupportedMediaError(
        f"{kind} ({n} frames) is not supported; convert it to a video or to single pictures"
    )


def read_image(path: str | os.PathLike, *, max_pixels: int | None) -> Picture:
    """Decode a picture file, upright as displayed.

    Parameters
    ----------
    path : str or os.PathLike
        JPEG (incl. MPO), PNG, WebP, TIFF, BMP, single-frame GIF, HEIC/HEIF
        (pillow-heif) or AVIF file. The content decides the format, not the
        extension. The file is only read.
    max_pixels : int or None
        Refuse pictures whose width * height exceeds this, checked from the
        header before any pixel is decoded. ``None``: only Pillow's own limit.

    Returns
    -------
    Picture
        ``pixels``: ``(H, W, 3)`` / ``(H, W, 4)`` / ``(H, W)``, ``uint8`` or
        ``uint16``, read-only; ``format`` and JSON-ready ``facts``.

    Raises
    ------
    veil.errors.TooLargeError
        Over ``max_pixels`` (or over Pillow's decompression-bomb limit).
    veil.errors.UnsupportedMediaError
        Animated or multi-page pictures, camera RAW files, unsupported modes.
    veil.errors.MediaError
        Missing, empty, truncated or corrupt files, and non-pictures. Every
        message is one line.
    """
    path = Path(path)
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels <= 0):
        raise ValueError(f"max_pixels must be a positive int or None, not {max_pixels!r}")
    if path.suffix.lower() in RAW_SUFFIXES:
        raise UnsupportedMediaError(
            f"camera RAW pictures ({path.suffix}) are not supported; export them to TIFF or JPEG"
        )
    try:
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise MediaError("is a directory, not a picture") from exc
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or one_line(exc)}") from exc
    if not data:
        raise MediaError("empty file")
    register_heif()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            picture = _decode(data, max_pixels)
        except VeilError:
            raise
        except Image.DecompressionBombError as exc:
            raise TooLargeError(_bomb_message(exc, max_pixels)) from exc
        except UnidentifiedImageError as exc:
            raise MediaError("not a supported picture (unrecognized or corrupt data)") from exc
        except MemoryError as exc:
            raise TooLargeError("not enough memory to decode the picture") from exc
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
            raise MediaError(f"corrupt or truncated picture: {one_line(exc)}") from exc
    notes = sorted({one_line(w.message) for w in caught})
    if notes:
        picture.facts.setdefault("warnings", []).extend(notes)
    return picture


def _bomb_message(exc: Exception, max_pixels: int | None) -> str:
    """One-line message for Pillow's DecompressionBombError."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    limit = 2 * int(Image.MAX_IMAGE_PIXELS or 0)
    if max_pixels is not None:
        limit = min(limit, max_pixels)
    if found:
        return f"picture too large: {int(found.group(1))} pixels, over the limit of {limit}"
    return f"picture too large: {one_line(exc)}"


def _orientation(im: Image.Image, fmt: str, facts: dict[str, Any]) -> int:
    """EXIF orientation (1..8) still to apply to the decoded pixels."""
    if fmt == "HEIF":
        # libheif already applied irot/imir; pillow-heif reset EXIF to 1.
        facts["orientation"] = int(im.info.get("original_orientation") or 1)
        return 1
    try:
        orientation = int(im.getexif().get(ORIENTATION_TAG, 1) or 1)
    except Exception as exc:
        orientation = 1
        facts.setdefault("warnings", []).append(f"EXIF unreadable: {one_line(exc)}")
    if not 1 <= orientation <= 8:
        facts.setdefault("warnings", []).append(f"invalid EXIF orientation {orientation}")
        orientation = 1
    facts["orientation"] = orientation
    return orientation


def _decode(data: bytes, max_pixels: int | None) -> Picture:
    with Image.open(io.BytesIO(data), formats=OPEN_FORMATS) as im:
        fmt = "JPEG" if im.format == "MPO" else str(im.format)
        width, height = im.size
        if max_pixels is not None:
            check_size(width, height, max_pixels)
        facts: dict[str, Any] = {"mode": im.mode}
        _frames_check(im, fmt, facts)
        facts["had_alpha"] = bool(im.has_transparency_data)
        facts["icc"] = bool(im.info.get("icc_profile"))
        facts["icc_converted"] = False

        if fmt == "TIFF":  # TIFF tags are read from the file, which load() closes
            orientation = _orientation(im, fmt, facts)
        if needs_opencv(im, fmt, data[:32]):
            im.load()  # surfaces truncation the same way as the Pillow path
            # Stored orientation: IMREAD_UNCHANGED ignores EXIF orientation, but
            # OpenCV's TIFF decoder applies the TIFF tag itself, so neutralize it.
            raw = tiff_orientation_neutral(data) if fmt == "TIFF" else data
            arr = decode_opencv(raw)
            if arr.shape[:2] not in ((height, width), (width, height)):
                raise MediaError("corrupt picture: decoded size differs from header")
            facts["mode"] = f"{im.mode};16"
            facts["had_alpha"] = arr.ndim == 3 and arr.shape[2] == 4
        else:
            im.load()
            arr = pillow_pixels(im, facts)
            if fmt == "TIFF" and im.tag_v2.get(ORIENTATION_TAG, 1) != orientation:
                orientation = 1  # Pillow >= 11 transposes TIFFs itself and drops the tag
        if fmt != "TIFF":  # after load(): PNG may keep its eXIf chunk after the pixels
            orientation = _orientation(im, fmt, facts)

    arr = np.ascontiguousarray(apply_orientation(arr, orientation))
    if arr.base is not None or not arr.flags.owndata:
        arr = arr.copy()
    arr.flags.writeable = False
    facts.update(
        width=int(arr.shape[1]),
        height=int(arr.shape[0]),
        bit_depth=16 if arr.dtype == np.uint16 else 8,
        channels=1 if arr.ndim == 2 else int(arr.shape[2]),
    )
    return Picture(pixels=arr, format=fmt, facts=facts)
