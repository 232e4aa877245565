"""The detector interface shared by every face finder, and input checks."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..detections import Detections

__all__ = ["FaceDetector", "OnPool", "map_on", "SideCalls", "check_rgb", "resize_to", "select"]


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces in one RGB picture.

    ``detect`` takes an ``(H, W, 3)`` ``uint8`` RGB array (upright as displayed,
    see :func:`veil.media.image.to_rgb8`) and returns :class:`Detections` in that
    picture's pixel coordinates, with ``scores`` and, where the detector has
    them, ``landmarks``. It never mutates its input.
    """

    def detect(self, rgb: np.ndarray) -> Detections:  # pragma: no cover - protocol
        ...


class OnPool:
    """A detector whose network calls run side by side on ``pool`` (None: one after the other).

    For a caller that takes any ``detect(rgb)`` and runs on one thread while
    the other cores are idle (a video's residual checks once encoding ends).
    ``detector`` is veil's (:class:`~veil.detect.MultiScaleDetector`,
    :class:`~veil.detect.kinds.OtherKinds`: their ``detect`` takes ``pool=``),
    best with one onnxruntime thread per call; the boxes are the same.
    """

    def __init__(self, detector, pool) -> None:
        self.detector, self.pool = detector, pool

    def detect(self, rgb: np.ndarray) -> Detections:
        return self.detector.detect(rgb, pool=self.pool)


def map_on(pool, fn, items: list) -> list:
    """``[fn(x) for x in items]``, the calls side by side on ``pool`` where there is one and
    more than one call; results in ``items``' order either way, so they do not depend on it."""
    if pool is None or len(items) < 2:
        return [fn(x) for x in items]
    return list(pool.map(fn, items))


class SideCalls:
    """Calls run on ``pool`` beside the caller (one after another on it where there is none),
    each result handed to ``sink`` in call order.

    Without a pool each call runs at once and ``sink`` has its result before
    :meth:`call` returns. With one, at most ``in_flight`` calls are unfinished
    at a time (the caller waits for the oldest), so the pictures they hold stay
    bounded when the pool lags; :meth:`finish` waits for the rest and raises
    what a call raised.
    """

    def __init__(self, pool, sink, *, in_flight: int = 2) -> None:
        self.pool, self.sink, self.in_flight = pool, sink, int(in_flight)
        self._pending: list = []

    def call(self, fn, *args, **kwargs) -> None:
        if self.pool is None:
            self.sink(fn(*args, **kwargs))
            return
        while sum(not f.done() for f in self._pending) >= self.in_flight:
            next(f for f in self._pending if not f.done()).result()
        self._pending.append(self.pool.submit(fn, *args, **kwargs))

    def finish(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            self.sink(future.result())


def check_rgb(rgb: object) -> np.ndarray:
    """Validate a picture for detection.

    Parameters
    ----------
    rgb : object
        Expected: ``(H, W, 3)`` ndarray of ``uint8`` with ``H, W >= 1``.

    Returns
    -------
    ndarray
        The same array (not copied).

    Raises
    ------
    ValueError
        Wrong type, dtype or shape, with a one-line message saying what was given.
    """
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"detection needs a numpy array, not {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"detection needs a uint8 RGB picture, got dtype {rgb.dtype} (use veil.media.image.to_rgb8)")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"detection needs an (H, W, 3) RGB picture, got shape {rgb.shape} (use veil.media.image.to_rgb8)")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"detection needs a non-empty picture, got shape {rgb.shape}")
    return rgb


def resize_to(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` resized to ``width x height`` for a network: area averaging when it
    shrinks both ways, bilinear otherwise; ``rgb`` itself when the size is unchanged."""
    h, w = rgb.shape[:2]
    if (width, height) == (w, h):
        return rgb
    interp = cv2.INTER_AREA if width < w and height < h else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interp)


def select(dets: Detections, *, threshold: float, min_face: float = 0.0) -> Detections:
    """The detections veil acts on: confidence at least ``threshold``, width at least ``min_face``.

    The one place where ``--threshold`` and ``--min-face`` are applied (width:
    the size every benchmark bins faces by).
    """
    keep = dets.scores >= threshold
    if min_face > 0:
        keep &= dets.widths >= min_face
    return dets if keep.all() else dets[keep]
