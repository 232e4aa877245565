"""Decoding a loaded picture's pixel mode to the arrays :func:`~veil.media.image.read_image` returns.

Helpers of :mod:`veil.media.image.read`: the mode table of the package
docstring (Pillow path), 16-bit colour PNG/TIFF through OpenCV, ICC profiles
to sRGB.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np
from PIL import Image, ImageCms

from veil.errors import MediaError, UnsupportedMediaError

from .formats import ORIENTATION_TAG, one_line
from .pixels import to_uint16


def needs_opencv(im: Image.Image, fmt: str, head: bytes) -> bool:
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


def tiff_orientation_neutral(data: bytes) -> bytes:
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
            if tag == ORIENTATION_TAG:
                patched = bytearray(data)
                struct.pack_into(fmt, patched, at, ORIENTATION_TAG, 3, 1, 1)
                return bytes(patched)
    except struct.error:
        pass
    return data


def decode_opencv(data: bytes) -> np.ndarray:
    """Decode 16-bit colour PNG/TIFF bytes to RGB(A) ``uint16`` without orientation."""
    import cv2

    # IMREAD_UNCHANGED is -1, so OR-ing IMREAD_IGNORE_ORIENTATION changes
    # nothing; UNCHANGED itself ignores EXIF orientation (OpenCV docs).
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if arr is None:
        raise MediaError("corrupt or truncated picture: OpenCV could not decode it")
    if arr.dtype.kind == "f" or arr.dtype not in (np.uint8, np.uint16):
        flat = to_uint16(arr.reshape(arr.shape[0], -1))
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
        facts.setdefault("warnings", []).append(f"ICC profile not applied: {one_line(exc)}")
        return im


def pillow_pixels(im: Image.Image, facts: dict[str, Any]) -> np.ndarray:
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
        return to_uint16(np.asarray(im))
    else:
        raise UnsupportedMediaError(f"pixel mode {mode} is not supported")
    if target is not None:
        if mode == "LA" or mode == "La":
            im = im.convert("LA").convert("RGBA")
        else:
            im = im.convert(target)
        facts.setdefault("converted", f"{mode}->{target}")
    return np.asarray(im)
