"""Picture input and output.

Reading
-------
:func:`read_image` decodes one picture into a numpy array **upright as a
viewer displays it** (EXIF/TIFF/XMP orientation applied, all 8 values; for
HEIF the container's ``irot``/``imir`` transforms, which libheif applies).
Arrays are ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA or ``(H, W)`` grey, ``uint8``
or ``uint16``. Source pixel modes are mapped as follows:

=====================================  ==========================================
source                                 array
=====================================  ==========================================
RGB, RGBA, L (8-bit)                   unchanged
1-bit                                  grey ``uint8`` (0 / 255)
LA (8-bit)                             RGBA ``uint8`` (grey replicated)
palette (P, PA)                        RGBA if it has transparency, else RGB
CMYK                                   RGB: through the embedded ICC profile to
                                       sRGB when there is one, else Pillow's
                                       plain conversion (Adobe inversion handled)
YCbCr, HSV, RGBX, premultiplied        RGB / RGBA
16-bit grey PNG/TIFF (I;16*)           grey ``uint16``
16-bit RGB/RGBA/LA PNG and TIFF        RGB/RGBA ``uint16`` (decoded with OpenCV,
                                       which keeps 16 bits where Pillow cannot)
32-bit integer (I) / float (F) grey    grey ``uint16``: values already in
                                       0..65535 (or 0..1 for float, scaled by
                                       65535) are kept, other ranges are
                                       stretched min..max to 0..65535
=====================================  ==========================================

8-bit RGB(A) and CMYK pictures with an embedded ICC profile that is not sRGB
(Display P3, Adobe RGB, ...) are converted to sRGB on reading, because the
output carries no ICC profile (a profile is metadata and can name a device);
without the conversion colours would shift. 16-bit and grey pictures are not
converted (their profile is dropped).

Only single pictures are read. Multi-frame files (animated GIF, WebP, APNG,
AVIF sequences, multi-image HEIF, multi-page TIFF) are refused with
:class:`~veil.errors.UnsupportedMediaError`: anonymizing frame 0 and dropping
the rest silently would lose content, and copying the rest would publish
faces. Two exceptions, whose extra frames are previews of the same picture
and are dropped (recorded in ``facts['dropped_previews']``): JPEG MPO files
(phone "large thumbnail"/depth/gain-map images) and TIFFs whose extra IFDs are
all marked reduced-resolution (``NewSubfileType`` bit 0).

The pixel count is checked against ``max_pixels`` from the header, before
pixels are decoded. Pillow's own decompression-bomb guard stays active: its
error (over ``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 megapixels by
default) also becomes :class:`~veil.errors.TooLargeError`; its warning is
silenced, since veil's limit applies.

Writing
-------
:func:`write_image` builds a new file from the array alone, so nothing of the
source's metadata can survive: no EXIF (GPS, maker notes, serial numbers,
thumbnails), XMP, IPTC, ICC profile, comments, text chunks or DPI.

=======  ===============================================================
format   encoding
=======  ===============================================================
JPEG     quality 95 by default, chroma 4:4:4 (no subsampling: small faces
         and the sharp edges of filled regions keep their colour), no alpha
PNG      lossless; 8 or 16 bits (16-bit colour encoded with OpenCV)
TIFF     lossless (LZW for 8 bits and 16-bit grey, deflate for 16-bit colour)
WEBP     lossless by default; lossy at ``quality`` when one is given
BMP      8-bit RGB, RGBA or grey (Pillow reads 32-bit BMPs back as RGB)
HEIF     HEVC through pillow-heif, quality 95 by default, 4:2:0 (playable
         on phones), 8-bit
AVIF     Pillow's AVIF encoder, quality 95 by default, 8-bit
=======  ===============================================================

``uint16`` pixels written to a format without 16-bit support are rounded to
8 bits (``round(v / 257)``). GIF sources are written as PNG (see
:func:`output_format`), which keeps their pixels exactly without palette
quantization. Resolution fields hold the encoders' neutral defaults (JFIF
1:1, BMP 96 dpi), never the source's.

Notes
-----
Decoder warnings are collected into ``facts['warnings']`` with
:func:`warnings.catch_warnings`, which is process-global: call
:func:`read_image` from one thread per process (veil's ``--jobs`` uses
processes).
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import struct
import threading
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from veil.errors import MediaError, TooLargeError, UnsupportedMediaError, VeilError

__all__ = [
    "Picture",
    "read_image",
    "write_image",
    "to_rgb8",
    "output_format",
    "output_suffix",
    "format_for_suffix",
    "READ_FORMATS",
    "WRITE_FORMATS",
]

#: Picture formats :func:`read_image` reports in :attr:`Picture.format`.
READ_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF")
#: Formats :func:`write_image` accepts.
WRITE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "HEIF", "AVIF")

# Pillow plugin ids Image.open may try. Restricting them keeps files that
# merely claim to be pictures (EPS, PSD, ICO, ...) away from other plugins.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF", "HEIF")

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

_RAW_SUFFIXES = frozenset(
    {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf",
     ".rw2", ".raf", ".pef", ".srw", ".3fr", ".erf", ".kdc", ".mrw", ".x3f", ".iiq",
     ".rwl", ".mos"}
)  # fmt: skip

_DEFAULT_QUALITY = 95
_ORIENTATION_TAG = 0x0112

_heif_lock = threading.Lock()
_heif_registered = False


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
        Source format: one of :data:`READ_FORMATS` (MPO reads as ``'JPEG'``).
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


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------


def _register_heif() -> None:
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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Return ``arr`` transformed from stored to displayed orientation (EXIF 1..8)."""
    if orientation == 2:  # mirrored left-right
        return arr[:, ::-1]
    if orientation == 3:  # rotated 180
        return arr[::-1, ::-1]
    if orientation == 4:  # mirrored top-bottom
        return arr[::-1, :]
    if orientation == 5:  # transpose (mirror about the main diagonal)
        return arr.swapaxes(0, 1)
    if orientation == 6:  # stored rotated 90 CCW: display = rotate 90 CW
        return np.rot90(arr, k=-1)
    if orientation == 7:  # transverse (mirror about the anti-diagonal)
        return arr[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:  # stored rotated 90 CW: display = rotate 90 CCW
        return np.rot90(arr, k=1)
    return arr


def _to_uint16(values: np.ndarray) -> np.ndarray:
    """Map an integer or float grey array onto ``uint16`` (see module table)."""
    a = np.asarray(values)
    if a.dtype.kind == "f":
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0.0 and hi <= 1.0:
            return np.round(a * 65535.0).astype(np.uint16)
    else:
        a = a.astype(np.int64)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if lo >= 0 and hi <= 65535:
        return np.round(a).astype(np.uint16)
    if hi == lo:
        return np.zeros(a.shape, np.uint16)
    scaled = (a.astype(np.float64) - lo) * (65535.0 / (hi - lo))
    return np.round(scaled).astype(np.uint16)


def _needs_opencv(im: Image.Image, fmt: str, head: bytes) -> bool:
    """True for 16-bit colour/grey-alpha PNG and TIFF, which Pillow reads as 8-bit."""
    if fmt == "PNG":
        # IHDR: bit depth at byte 24, colour type at byte 25 (2 RGB, 4 GA, 6 RGBA)
        return len(head) >= 26 and head[24] == 16 and head[25] in (2, 4, 6)
    if fmt == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits = tags.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        samples = int(tags.get(277, 1) or 1)
        return samples >= 2 and max(bits) > 8
    return False


def _tiff_orientation_neutral(data: bytes) -> bytes:
    """Return a copy of TIFF bytes whose first IFD says orientation 1.

    Unchanged when there is no orientation entry or the IFD cannot be parsed.
    """
    try:
        e = "<" if data[:2] == b"II" else ">"
        big = data[2:4] in (b"+\x00", b"\x00+")
        if big:
            (ifd,) = struct.unpack_from(e + "Q", data, 8)
            (count,) = struct.unpack_from(e + "Q", data, ifd)
            first, size, fmt = ifd + 8, 20, e + "HHQH6x"
        else:
            (ifd,) = struct.unpack_from(e + "I", data, 4)
            (count,) = struct.unpack_from(e + "H", data, ifd)
            first, size, fmt = ifd + 2, 12, e + "HHIH2x"
        for i in range(min(count, 4096)):
            at = first + size * i
            (tag,) = struct.unpack_from(e + "H", data, at)
            if tag == _ORIENTATION_TAG:
                patched = bytearray(data)
                struct.pack_into(fmt, patched, at, _ORIENTATION_TAG, 3, 1, 1)
                return bytes(patched)
    except struct.error:
        pass
    return data


def _decode_opencv(data: bytes) -> np.ndarray:
    """Decode 16-bit colour PNG/TIFF bytes to RGB(A) ``uint16`` without orientation."""
    import cv2

    # IMREAD_UNCHANGED is -1, so OR-ing IMREAD_IGNORE_ORIENTATION changes
    # nothing; UNCHANGED itself ignores EXIF orientation (OpenCV docs).
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if arr is None:
        raise MediaError("corrupt or truncated picture: OpenCV could not decode it")
    if arr.dtype.kind == "f" or arr.dtype not in (np.uint8, np.uint16):
        flat = _to_uint16(arr.reshape(arr.shape[0], -1))
        arr = flat.reshape(arr.shape)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[:, :, ::-1]  # BGR -> RGB
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, [2, 1, 0, 3]]  # BGRA -> RGBA
    elif arr.ndim != 2:
        raise UnsupportedMediaError(f"{arr.shape[2]}-channel pictures are not supported")
    return np.ascontiguousarray(arr)


def _srgb_from_icc(im: Image.Image, icc: bytes, facts: dict[str, Any]) -> Image.Image:
    """Convert an 8-bit RGB/RGBA/CMYK image from its ICC profile to sRGB.

    Returns ``im`` unchanged when the profile already is sRGB or cannot be used
    (recorded in ``facts['warnings']``).
    """
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = ImageCms.getProfileDescription(src).strip().lower()
        if im.mode != "CMYK" and desc.startswith("srgb"):
            return im
        dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        base = im.convert("RGB") if im.mode == "RGBA" else im
        out = ImageCms.profileToProfile(base, src, dst, outputMode="RGB")
        assert out is not None
        if im.mode == "RGBA":
            out.putalpha(im.getchannel("A"))
        facts["icc_converted"] = True
        return out
    except Exception as exc:  # a broken or mismatched profile: keep the pixels
        facts.setdefault("warnings", []).append(f"ICC profile not applied: {_one_line(exc)}")
        return im


def _pillow_pixels(im: Image.Image, facts: dict[str, Any]) -> np.ndarray:
    """Convert a loaded Pillow image to the documented array (stored orientation)."""
    mode = im.mode
    icc = im.info.get("icc_profile")
    if icc and mode in ("RGB", "RGBA", "CMYK"):
        im = _srgb_from_icc(im, icc, facts)
        mode = im.mode
        if facts.get("icc_converted"):
            facts["converted"] = f"{facts['mode']}->sRGB"

    target: str | None
    if mode in ("L", "RGB", "RGBA"):
        target = None
    elif mode == "1":
        target = "L"
    elif mode in ("LA", "La", "PA", "RGBa"):
        target = "RGBA"
    elif mode == "P":
        target = "RGBA" if im.has_transparency_data else "RGB"
    elif mode in ("CMYK", "YCbCr", "HSV", "LAB", "RGBX"):
        target = "RGB"
    elif mode.startswith("I;16"):
        arr = np.asarray(im)
        return arr.astype(np.uint16)  # native byte order, new array
    elif mode in ("I", "F"):
        return _to_uint16(np.asarray(im))
    else:
        raise UnsupportedMediaError(f"pixel mode {mode} is not supported")
    if target is not None:
        if mode == "LA" or mode == "La":
            im = im.convert("LA").convert("RGBA")
        else:
            im = im.convert(target)
        facts.setdefault("converted", f"{mode}->{target}")
    return np.asarray(im)


def _frames_check(im: Image.Image, fmt: str, facts: dict[str, Any]) -> None:
    """Refuse multi-frame pictures, except for dropped previews (module docs)."""
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
    if path.suffix.lower() in _RAW_SUFFIXES:
        raise UnsupportedMediaError(
            f"camera RAW pictures ({path.suffix}) are not supported; export them to TIFF or JPEG"
        )
    try:
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise MediaError("is a directory, not a picture") from exc
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or _one_line(exc)}") from exc
    if not data:
        raise MediaError("empty file")
    _register_heif()

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
            raise MediaError(f"corrupt or truncated picture: {_one_line(exc)}") from exc
    notes = sorted({_one_line(w.message) for w in caught})
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
    return f"picture too large: {_one_line(exc)}"


def _orientation(im: Image.Image, fmt: str, facts: dict[str, Any]) -> int:
    """EXIF orientation (1..8) still to apply to the decoded pixels."""
    if fmt == "HEIF":
        # libheif already applied irot/imir; pillow-heif reset EXIF to 1.
        facts["orientation"] = int(im.info.get("original_orientation") or 1)
        return 1
    try:
        orientation = int(im.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except Exception as exc:
        orientation = 1
        facts.setdefault("warnings", []).append(f"EXIF unreadable: {_one_line(exc)}")
    if not 1 <= orientation <= 8:
        facts.setdefault("warnings", []).append(f"invalid EXIF orientation {orientation}")
        orientation = 1
    facts["orientation"] = orientation
    return orientation


def _decode(data: bytes, max_pixels: int | None) -> Picture:
    with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as im:
        fmt = "JPEG" if im.format == "MPO" else str(im.format)
        width, height = im.size
        if max_pixels is not None and width * height > max_pixels:
            raise TooLargeError(
                f"picture too large: {width}x{height} = {width * height} pixels,"
                f" over the limit of {max_pixels}"
            )
        facts: dict[str, Any] = {"mode": im.mode}
        _frames_check(im, fmt, facts)
        facts["had_alpha"] = bool(im.has_transparency_data)
        facts["icc"] = bool(im.info.get("icc_profile"))
        facts["icc_converted"] = False

        if fmt == "TIFF":  # TIFF tags are read from the file, which load() closes
            orientation = _orientation(im, fmt, facts)
        if _needs_opencv(im, fmt, data[:32]):
            im.load()  # surfaces truncation the same way as the Pillow path
            # Stored orientation: IMREAD_UNCHANGED ignores EXIF orientation, but
            # OpenCV's TIFF decoder applies the TIFF tag itself, so neutralize it.
            raw = _tiff_orientation_neutral(data) if fmt == "TIFF" else data
            arr = _decode_opencv(raw)
            if arr.shape[:2] not in ((height, width), (width, height)):
                raise MediaError("corrupt picture: decoded size differs from header")
            facts["mode"] = f"{im.mode};16"
            facts["had_alpha"] = arr.ndim == 3 and arr.shape[2] == 4
        else:
            im.load()
            arr = _pillow_pixels(im, facts)
            if fmt == "TIFF" and im.tag_v2.get(_ORIENTATION_TAG, 1) != orientation:
                orientation = 1  # Pillow >= 11 transposes TIFFs itself and drops the tag
        if fmt != "TIFF":  # after load(): PNG may keep its eXIf chunk after the pixels
            orientation = _orientation(im, fmt, facts)

    arr = np.ascontiguousarray(_apply_orientation(arr, orientation))
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


# --------------------------------------------------------------------------
# conversions
# --------------------------------------------------------------------------


def _check_pixels(pixels: np.ndarray) -> np.ndarray:
    if not isinstance(pixels, np.ndarray):
        raise TypeError(f"pixels must be a numpy array, not {type(pixels).__name__}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels must be uint8 or uint16, not {pixels.dtype}")
    ok = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (1, 3, 4))
    if not ok or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"pixels must be (H, W), (H, W, 3) or (H, W, 4), not {pixels.shape}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return pixels


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Return a new ``uint8`` array; ``uint16`` values become ``round(v / 257)``."""
    if pixels.dtype == np.uint8:
        return np.array(pixels, dtype=np.uint8, copy=True)
    wide = pixels.astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """Return the picture as 8-bit RGB, the form the face detector sees.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``(H, W)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, ``uint8`` or
        ``uint16``. Not modified.

    Returns
    -------
    numpy.ndarray
        New C-contiguous ``(H, W, 3)`` ``uint8`` array: grey replicated,
        alpha dropped (colour kept as stored, not composited), 16-bit values
        rounded to ``round(v * 255 / 65535)``.
    """
    px = _check_pixels(pixels)
    if px.ndim == 3 and px.shape[2] == 4:
        px = px[:, :, :3]
    out = _to_uint8(px)
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out)


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
    fmt = str(format).upper().lstrip(".")
    fmt = _FORMAT_ALIASES.get(fmt, fmt)
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
        The source's actual format (:attr:`Picture.format`). When given and
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


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------


def _encode_png16(pixels: np.ndarray) -> bytes:
    """Encode 16-bit RGB(A) pixels as PNG with OpenCV (which writes no text chunks)."""
    import cv2

    if pixels.shape[2] == 3:
        bgr = np.ascontiguousarray(pixels[:, :, ::-1])
    else:
        bgr = np.ascontiguousarray(pixels[:, :, [2, 1, 0, 3]])
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise MediaError("OpenCV could not encode the 16-bit PNG")
    return buf.tobytes()


def _encode_tiff16(pixels: np.ndarray) -> bytes:
    """Encode 16-bit RGB(A) pixels as a baseline little-endian, deflate TIFF.

    Written here rather than with OpenCV, whose 4-channel TIFFs lack the
    ``ExtraSamples`` tag that marks the 4th channel as (unassociated) alpha.
    Only structural tags are written: no resolution, software or date.
    """
    h, w, c = pixels.shape
    raw = np.ascontiguousarray(pixels, dtype="<u2")
    rows = max(1, min(h, (1 << 20) // (w * c * 2)))
    strips = [zlib.compress(raw[y : y + rows].tobytes(), 6) for y in range(0, h, rows)]
    body = b"".join(strips)
    if len(body) > 0xFFFF_0000:
        raise MediaError("16-bit TIFF over 4 GB is not supported")
    offsets, pos = [], 8
    for s in strips:
        offsets.append(pos)
        pos += len(s)
    if pos % 2:
        body += b"\x00"
        pos += 1
    entries: list[tuple[int, int, list[int]]] = [  # (tag, type 3=SHORT 4=LONG, values)
        (256, 4, [w]),
        (257, 4, [h]),
        (258, 3, [16] * c),
        (259, 3, [8]),  # Adobe deflate
        (262, 3, [2]),  # RGB
        (273, 4, offsets),
        (277, 3, [c]),
        (278, 4, [rows]),
        (279, 4, [len(s) for s in strips]),
        (284, 3, [1]),  # chunky
    ]
    if c == 4:
        entries.append((338, 3, [2]))  # ExtraSamples: unassociated alpha
    entries.append((339, 3, [1] * c))  # SampleFormat: unsigned integer
    ifd_at = pos
    extra_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd = [struct.pack("<H", len(entries))]
    extra: list[bytes] = []
    for tag, typ, values in entries:
        packed = struct.pack(f"<{len(values)}{'H' if typ == 3 else 'I'}", *values)
        if len(packed) <= 4:
            ifd.append(struct.pack("<HHI", tag, typ, len(values)) + packed.ljust(4, b"\x00"))
        else:
            ifd.append(struct.pack("<HHII", tag, typ, len(values), extra_at))
            extra.append(packed)
            extra_at += len(packed)
    ifd.append(struct.pack("<I", 0))  # no next IFD
    return b"II*\x00" + struct.pack("<I", ifd_at) + body + b"".join(ifd) + b"".join(extra)


def write_image(
    path: str | os.PathLike,
    pixels: np.ndarray,
    *,
    format: str,
    quality: int | None = None,
) -> None:
    """Write pixels to a new picture file that carries no metadata.

    Parameters
    ----------
    path : str or os.PathLike
        File to create or replace, exactly this path (the extension is not
        consulted; callers wrap this in :func:`veil.media.atomic.atomic_output`).
    pixels : numpy.ndarray
        ``(H, W)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA (straight
        alpha), ``uint8`` or ``uint16``, upright. Not modified.
    format : str
        One of :data:`WRITE_FORMATS` (aliases ``'jpg'``, ``'tif'``,
        ``'heic'`` accepted), or a :attr:`Picture.format`: ``'GIF'`` writes
        PNG, as :func:`output_format` says. See the module table.
    quality : int, optional
        1..100 for JPEG, HEIF, AVIF (default 95) and lossy WebP (default:
        lossless WebP). Ignored by PNG, TIFF and BMP.

    Raises
    ------
    ValueError
        Bad ``pixels`` shape/dtype, bad ``quality``, or RGBA pixels for JPEG
        (which has no alpha; flatten them first, deliberately).
    veil.errors.UnsupportedMediaError
        A format veil does not write.
    veil.errors.MediaError
        The encoder or the file system failed.
    """
    px = _check_pixels(pixels)
    fmt = str(format).upper().lstrip(".")
    fmt = _FORMAT_ALIASES.get(fmt, fmt)
    if fmt == "GIF":
        fmt = "PNG"  # as output_format() says: GIF sources are written as PNG
    if fmt not in WRITE_FORMATS:
        raise UnsupportedMediaError(f"cannot write {format!r} pictures; use one of {WRITE_FORMATS}")
    if quality is not None and (
        isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100
    ):
        raise ValueError(f"quality must be an int in 1..100, not {quality!r}")
    alpha = px.ndim == 3 and px.shape[2] == 4
    if fmt == "JPEG" and alpha:
        raise ValueError("JPEG has no alpha channel: pass (H, W, 3) or (H, W) pixels")
    path = Path(path)

    try:
        if px.dtype == np.uint16 and fmt in ("PNG", "TIFF"):
            if px.ndim == 2:
                Image.fromarray(np.ascontiguousarray(px, dtype=np.uint16)).save(
                    path, format=fmt, **({"compression": "tiff_lzw"} if fmt == "TIFF" else {})
                )
            else:
                encode = _encode_png16 if fmt == "PNG" else _encode_tiff16
                path.write_bytes(encode(px))
            return

        arr = _to_uint8(px)  # new array: Pillow never sees the caller's buffer
        if fmt in ("HEIF", "AVIF") and arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        im = Image.fromarray(np.ascontiguousarray(arr))
        q = _DEFAULT_QUALITY if quality is None else quality
        if fmt == "JPEG":
            im.save(path, format="JPEG", quality=q, subsampling=0, optimize=True)
        elif fmt == "PNG":
            im.save(path, format="PNG", compress_level=6)
        elif fmt == "TIFF":
            im.save(path, format="TIFF", compression="tiff_lzw")
        elif fmt == "WEBP":
            if quality is None:
                im.save(path, format="WEBP", lossless=True, quality=80, method=4)
            else:
                im.save(path, format="WEBP", quality=q, method=4)
        elif fmt == "BMP":
            im.save(path, format="BMP")
        elif fmt == "AVIF":
            im.save(path, format="AVIF", quality=q)
        elif fmt == "HEIF":
            _register_heif()
            im.save(path, format="HEIF", quality=q)
    except VeilError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise MediaError(f"cannot write {fmt} picture: {_one_line(exc)}") from exc
    check_written(path, width=px.shape[1], height=px.shape[0])


def check_written(path: str | os.PathLike, *, width: int, height: int) -> None:
    """Decode a picture veil just wrote, whole, and check its size.

    Encoders do not always notice a short write: Pillow's JPEG writer leaves
    a truncated file without an error when the file-size limit or a full disk
    cuts it off. Decoding every pixel back is the check that holds for every
    format.

    Raises
    ------
    veil.errors.MediaError
        The file does not decode whole, or decodes to another size.
    """
    _register_heif()
    try:
        with Image.open(path) as im:
            im.load()
            size = im.size
    except Exception as exc:  # noqa: BLE001 - any decoder failure means an incomplete file
        raise MediaError(f"the written picture is incomplete ({_one_line(exc)}); disk full?") from exc
    if size != (width, height):
        raise MediaError(f"the written picture is {size[0]}x{size[1]}, expected {width}x{height}")
