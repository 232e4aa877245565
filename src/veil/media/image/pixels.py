"""Pixel arrays: checking, bit-depth conversion, orientation, the detector's RGB.

:func:`to_rgb8` is public (re-exported by :mod:`veil.media.image`); the other
functions are helpers of the package's reader and writer.
"""

from __future__ import annotations

import numpy as np


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
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


def to_uint16(values: np.ndarray) -> np.ndarray:
    """Map an integer or float grey array onto ``uint16`` (see the table of :mod:`veil.media.image`)."""
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


def check_pixels(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` checked as a picture (``ValueError``/``TypeError``), ``(H, W, 1)`` as ``(H, W)``."""
    if not isinstance(pixels, np.ndarray):
        raise TypeError(f"pixels must be a numpy array, not {type(pixels).__name__}")
    if pixels.dtype not in (np.uint8, np.uint16):
        hint = (" (floats in [0, 1]: (pixels * 255).round().astype(np.uint8))"
                if np.issubdtype(pixels.dtype, np.floating) else "")
        raise ValueError(f"pixels must be uint8 or uint16, not {pixels.dtype}{hint}")
    ok = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (1, 3, 4))
    if not ok:
        raise ValueError(f"pixels must be (H, W), (H, W, 3) or (H, W, 4), not {pixels.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"pixels is an empty picture ({pixels.shape})")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return pixels


def to_uint8(pixels: np.ndarray) -> np.ndarray:
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
    px = check_pixels(pixels)
    if px.ndim == 3 and px.shape[2] == 4:
        px = px[:, :, :3]
    out = to_uint8(px)
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out)
