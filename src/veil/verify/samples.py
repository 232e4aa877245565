"""Preparing a face for measurement: alignment on the ORIGINAL, same place on the anonymized.

A :class:`Sample` is one face on one picture or frame reduced to aligned crops
(no full frames kept): the original's landmarks align both pictures, so both
crops cover the same place; faces too small, outside the picture, without
plausible landmarks or without texture are marked unverifiable with the reason.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .recognizer import CROP_PADDING, CROP_SIZE, Recognizer, inner_chip, shape_points

__all__ = ["MIN_FACE_PX", "MIN_CHIP_STD", "Sample", "prepare_sample", "check_landmarks", "rgb8"]

#: Faces narrower or shorter than this (picture pixels) are reported unverifiable.
MIN_FACE_PX = 20
#: An original whose aligned chip has less grey-level spread than this has no face texture.
MIN_CHIP_STD = 4.0

def rgb8(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB view/copy of a veil picture (grey, RGB, RGBA; 8 or 16 bit)."""
    a = np.asarray(pixels)
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ValueError(f"pictures must be uint8 or uint16, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    elif not (a.ndim == 3 and a.shape[2] == 3):
        raise ValueError(f"expected (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    return np.ascontiguousarray(a)


def check_landmarks(points: np.ndarray, box: Sequence[float]) -> str | None:
    """Sanity of 5-point landmarks in their box; a short failure text, or None.

    dlib's shape predictor always answers, even where there is no face; a
    plausible face has two eyes apart by 15-100% of the box width, all points
    near the box, and the nose off the eye line.
    """
    p = np.asarray(points, np.float64).reshape(-1, 2)
    if p.shape != (5, 2) or not np.all(np.isfinite(p)):
        return "no landmarks"
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    if np.any(p[:, 0] < x1 - 0.3 * w) or np.any(p[:, 0] > x2 + 0.3 * w) \
            or np.any(p[:, 1] < y1 - 0.3 * h) or np.any(p[:, 1] > y2 + 0.3 * h):
        return "landmarks outside the face box"
    eye_a, eye_b = p[0:2].mean(axis=0), p[2:4].mean(axis=0)
    axis = eye_b - eye_a
    e = float(np.hypot(*axis))
    if not (0.15 * w <= e <= 1.0 * w):
        return f"eye distance {e:.0f} px implausible for a {w:.0f} px face"
    mid = (eye_a + eye_b) / 2
    u, v = axis / e, p[4] - mid
    off = abs(float(u[0] * v[1] - u[1] * v[0]))
    if off < 0.15 * e:
        return "nose on the eye line"
    return None


@dataclass(eq=False)
class Sample:
    """One face on one frame, reduced to aligned crops (no full frames kept)."""

    box: tuple[float, float, float, float]
    frame: int | None
    orig_crop: np.ndarray | None = None
    anon_crop: np.ndarray | None = None
    mask: np.ndarray | None = None  # crop coordinates
    region: str = "none"
    face_width: float = 0.0  # crop pixels
    sharpness: float = 0.0
    unverifiable: str | None = None
    note: str = ""
    elapsed_ms: float = 0.0

    @property
    def usable(self) -> bool:
        return self.unverifiable is None

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def _infer_mask(orig_crop: np.ndarray, anon_crop: np.ndarray) -> np.ndarray:
    """Covered region guessed from where the two crops differ (closed, slightly grown)."""
    diff = np.abs(orig_crop.astype(np.int16) - anon_crop.astype(np.int16)).max(axis=2) > 10
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    m = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_CLOSE, k, iterations=2)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return m.astype(bool)


def prepare_sample(original: np.ndarray, anonymized: np.ndarray, box: Sequence[float], *,
             region_mask: np.ndarray | None, rec: Recognizer, frame: int | None) -> Sample:
    t0 = time.perf_counter()
    box_t = tuple(float(v) for v in np.asarray(box, np.float64).reshape(4))
    s = Sample(box=box_t, frame=frame)

    def done(reason=None, note=""):
        s.unverifiable, s.note = reason, note
        s.elapsed_ms = 1000 * (time.perf_counter() - t0)
        return s

    if original.shape != anonymized.shape:
        raise ValueError(f"original {original.shape} and anonymized {anonymized.shape} differ in size")
    h, w = original.shape[:2]
    x1, y1, x2, y2 = box_t
    if not (x2 > x1 and y2 > y1):
        return done("face_too_small", "empty box")
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if cx2 <= cx1 or cy2 <= cy1 or (cx2 - cx1) * (cy2 - cy1) < 0.5 * (x2 - x1) * (y2 - y1):
        return done("outside_picture", "less than half of the face box lies in the picture")
    if min(x2 - x1, y2 - y1) < MIN_FACE_PX:
        return done("face_too_small", f"{x2 - x1:.0f}x{y2 - y1:.0f} px, under {MIN_FACE_PX} px")
    if region_mask is not None:
        region_mask = np.asarray(region_mask, bool)
        if region_mask.shape != (h, w):
            raise ValueError(f"region mask {region_mask.shape} does not match the picture {(h, w)}")
    # Work in a window around the face: landmarks, crops and mask only read
    # pixels near it, so this is exact (checked by _chip_within) and keeps the
    # cost independent of the frame size.
    window = _window(box_t, w, h, 1.25)
    shape = None
    for attempt in (window, (0, 0, w, h)):
        x0, y0, x1w, y1w = attempt
        o, a = original[y0:y1w, x0:x1w], anonymized[y0:y1w, x0:x1w]
        lbox = (x1 - x0, y1 - y0, x2 - x0, y2 - y0)
        shape = rec.landmarks(o, lbox)
        if attempt == (0, 0, w, h) or _chip_within(rec, shape, attempt, w, h):
            break
    problem = check_landmarks(shape_points(shape), lbox)
    if problem:
        return done("landmarks_failed", problem)
    s.orig_crop = rec.aligned_crop(o, shape)
    grey = cv2.cvtColor(np.ascontiguousarray(inner_chip(s.orig_crop)), cv2.COLOR_RGB2GRAY)
    if float(grey.std()) < MIN_CHIP_STD:
        s.orig_crop = None
        return done("no_face_texture", "the original face is flat (no detail to recognise)")
    s.anon_crop = rec.aligned_crop(a, shape)
    s.face_width = (x2 - x1) / rec.crop_scale(shape)
    s.sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    if region_mask is not None:
        s.mask, s.region = rec.align_mask(region_mask[y0:y1w, x0:x1w], shape), "given"
    else:
        s.mask, s.region = _infer_mask(s.orig_crop, s.anon_crop), "inferred"
    return done()


def _window(box, w: int, h: int, margin: float) -> tuple[int, int, int, int]:
    """Integer window ``(x0, y0, x1, y1)`` around a box, ``margin`` box sizes each side, clipped."""
    x1, y1, x2, y2 = box
    m = margin * max(x2 - x1, y2 - y1)
    return (max(int(math.floor(x1 - m)), 0), max(int(math.floor(y1 - m)), 0),
            min(int(math.ceil(x2 + m)), w), min(int(math.ceil(y2 + m)), h))


def _chip_within(rec: Recognizer, shape, window, w: int, h: int) -> bool:
    """True when the aligned crop reads no pixel of the picture outside ``window``."""
    import dlib

    d = dlib.get_face_chip_details(shape, size=CROP_SIZE, padding=CROP_PADDING)
    r = d.rect
    cx, cy = (r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2
    hw, hh = r.width() / 2, r.height() / 2
    c, s_ = math.cos(d.angle), math.sin(d.angle)
    xs = [cx + c * dx - s_ * dy for dx in (-hw, hw) for dy in (-hh, hh)]
    ys = [cy + s_ * dx + c * dy for dx in (-hw, hw) for dy in (-hh, hh)]
    x0, y0, x1, y1 = window
    pad = 2  # bilinear neighbours
    return ((x0 == 0 or min(xs) - pad >= 0) and (y0 == 0 or min(ys) - pad >= 0)
            and (x1 == w or max(xs) + pad <= x1 - x0) and (y1 == h or max(ys) + pad <= y1 - y0))


