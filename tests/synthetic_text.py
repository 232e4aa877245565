"""Plates and words rendered into generated pictures, for the plate/text tests.

``draw`` renders with OpenCV's built-in Hershey fonts (no font files), so the
tests need no data; ``needs_model`` skips a test when the text detector's
package (rapidocr-onnxruntime, its weights) is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

#: A CC0 photo of people (tests/data/face_mask) for plates and text drawn on a real picture.
PHOTO = Path(__file__).parent / "data" / "face_mask" / "maksssksksss343.jpg"
needs_model = pytest.mark.skipif(importlib.util.find_spec("rapidocr_onnxruntime") is None,
                                 reason="rapidocr-onnxruntime (the text detector's weights) is not installed")


def draw(picture: np.ndarray, text: str, *, height: float, angle: float, center: tuple[float, float],
         plate: bool) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``picture`` with ``text`` drawn (on a white plate with a dark rim if ``plate``),
    rotated ``angle`` degrees about ``center``; and the xyxy box of what must be covered
    (the glyphs of text, the whole plate)."""
    k = 4  # drawn 4x larger, then shrunk: anti-aliased like a camera's small text
    glyph = height * (0.6 if plate else 1.0) * k
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)
    scale = glyph / (th + base)
    thick = max(1, round(glyph * 0.1))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = round(glyph * (0.35 if plate else 0.2)) + thick
    ink = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(ink, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
    ph, pw = ink.shape
    zoom = height * k / ph if plate else 1.0
    m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, zoom / k)
    m[:, 2] += np.asarray(center) - [pw / 2, ph / 2]
    size = picture.shape[1], picture.shape[0]
    blur = lambda a: cv2.GaussianBlur(a.astype(np.float32) / 255, (0, 0), 0.4 * k / zoom)  # noqa: E731
    a_ink = cv2.warpAffine(blur(ink), m, size)
    out = picture.astype(np.float32)
    if plate:
        panel = np.full((ph, pw), 255, np.uint8)
        a_panel = cv2.warpAffine(blur(panel), m, size)
        out = out * (1 - a_panel[..., None]) + 240 * a_panel[..., None]
        rim = np.zeros((ph, pw), np.uint8)
        cv2.rectangle(rim, (0, 0), (pw - 1, ph - 1), 255, max(1, round(ph * 0.05)))
        a_rim = cv2.warpAffine(blur(rim), m, size)
        out = out * (1 - a_rim[..., None]) + 30 * a_rim[..., None]
        target = a_panel
    else:
        target = a_ink
    out = out * (1 - a_ink[..., None]) + 15 * a_ink[..., None]
    ys, xs = np.nonzero(target >= 0.5)
    return np.clip(np.round(out), 0, 255).astype(np.uint8), np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


def background(h: int = 300, w: int = 400, seed: int = 0) -> np.ndarray:
    """A light, softly textured picture (like a wall or a car's paint)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 6)
    base = np.linspace(150, 200, w, dtype=np.float32)[None, :, None]
    return np.clip(base + 40 * noise / noise.std(), 0, 255).astype(np.uint8)
