"""Writing: :func:`write_image`, a new file from the array alone, and :func:`check_written`."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from veil.errors import MediaError, UnsupportedMediaError, VeilError

from .formats import WRITE_FORMATS, canonical_format, one_line, register_heif
from .pixels import check_pixels, to_uint8

_DEFAULT_QUALITY = 95


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
        One of :data:`~veil.media.image.WRITE_FORMATS` (aliases ``'jpg'``,
        ``'tif'``, ``'heic'`` accepted), or a :attr:`~veil.media.image.Picture.format`:
        ``'GIF'`` writes PNG, as :func:`~veil.media.image.output_format` says.
        See the table of :mod:`veil.media.image`.
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
    px = check_pixels(pixels)
    fmt = _write_format(format)
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
            _save16(path, px, fmt)
        else:
            _save8(path, px, fmt, quality)
    except VeilError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise MediaError(f"cannot write {fmt} picture: {one_line(exc)}") from exc
    check_written(path, width=px.shape[1], height=px.shape[0])


def _write_format(format: str) -> str:
    """The format :func:`write_image` writes for ``format`` (aliases resolved, GIF as PNG)."""
    fmt = canonical_format(format)
    if fmt == "GIF":
        fmt = "PNG"  # as output_format() says: GIF sources are written as PNG
    if fmt not in WRITE_FORMATS:
        raise UnsupportedMediaError(f"cannot write {format!r} pictures; use one of {WRITE_FORMATS}")
    return fmt


def _save16(path: Path, px: np.ndarray, fmt: str) -> None:
    """Write ``uint16`` pixels as 16-bit PNG or TIFF."""
    if px.ndim == 2:
        Image.fromarray(np.ascontiguousarray(px, dtype=np.uint16)).save(
            path, format=fmt, **({"compression": "tiff_lzw"} if fmt == "TIFF" else {})
        )
    else:
        encode = _encode_png16 if fmt == "PNG" else _encode_tiff16
        path.write_bytes(encode(px))


def _save8(path: Path, px: np.ndarray, fmt: str, quality: int | None) -> None:
    """Write pixels as 8 bits with the encoder settings of the package table."""
    arr = to_uint8(px)  # new array: Pillow never sees the caller's buffer
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
        register_heif()
        im.save(path, format="HEIF", quality=q)


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
    register_heif()
    try:
        with warnings.catch_warnings():  # veil wrote it within its own pixel limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                size = im.size
    except Exception as exc:  # noqa: BLE001 - any decoder failure means an incomplete file
        raise MediaError(f"the written picture is incomplete ({one_line(exc)}); disk full?") from exc
    if size != (width, height):
        raise MediaError(f"the written picture is {size[0]}x{size[1]}, expected {width}x{height}")
