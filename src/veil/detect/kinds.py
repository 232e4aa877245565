"""Plates and text for ``--cover``: one text-detector pass per picture serves both kinds.

:class:`OtherKinds` is what the pipeline runs beside the face detector when a
run covers ``plates`` and/or ``text``: the DBNet lines of one picture
(:meth:`veil.detect.text.TextDetector.all_quads`, whole frame and magnified
tiles) become plate boxes (:class:`veil.detect.plates.PlateDetector`'s rules
and growth) and text boxes (grown for ascenders and descenders), each with its
``Detections.kind``. ``--cover plates,text`` costs what ``--cover text`` costs.
"""

from __future__ import annotations

import functools

import numpy as np

from ..detections import Detections
from ..models import text_detector_onnx_path
from .base import check_rgb
from .bf16 import float_precision
from .plates import PlateDetector
from .text import TextDetector

__all__ = ["OtherKinds", "NoFaces", "face_detector_for", "kinds_options", "other_kinds_for", "require_other_kinds",
           "with_other_kinds"]


def kinds_options(*, tiles: bool, threads: int | None, precision: str) -> dict:
    """Keywords of :class:`PlateDetector` and :class:`TextDetector` for a run's ``tiles``,
    ``threads`` and ``precision`` (``Config.precision``: :func:`veil.detect.bf16.float_precision`)."""
    return dict(threads=threads, precision=float_precision(precision), **({} if tiles else {"upscale": None}))


class OtherKinds:
    """Finds the plates and/or text a run covers.

    Parameters
    ----------
    kinds : sequence of str
        ``"plates"`` and/or ``"text"`` (``Config.other_kinds``).
    tiles : bool, keyword-only
        Magnified tiles for small plates and text (``Config.tiles``).
    text_max_share : float or None, keyword-only
        Text lines taller than this share of the picture are left visible (None: all covered).
    threads : int or None, keyword-only
        onnxruntime threads.
    precision : {'fp32', 'int8', 'bf16'}, keyword-only
        The run's ``Config.precision`` (:func:`veil.detect.bf16.float_precision`).

    Notes
    -----
    Holds no per-call state; the network is the process-wide one of
    :mod:`veil.detect.text`, so one object may serve several threads.
    """

    def __init__(self, kinds, *, tiles: bool = True, text_max_share: float | None = None,
                 threads: int | None = None, precision: str = "fp32") -> None:
        self.kinds = tuple(kinds)
        if not self.kinds or not set(self.kinds) <= {"plates", "text"}:
            raise ValueError(f"kinds must be plates and/or text, not {kinds!r}")
        options = kinds_options(tiles=tiles, threads=threads, precision=precision)
        self.text = TextDetector(max_height_share=text_max_share, **options)
        self.plates = PlateDetector(**options)
        #: Picture pixels a change look's window reaches around a change (a line up to this long lies whole in it).
        self.window_margin = self.text.overlap

    def __repr__(self) -> str:
        return f"OtherKinds({','.join(self.kinds)}, tiles={self.text.upscale is not None})"

    def detect(self, rgb: np.ndarray, *, pool=None) -> Detections:
        """Plates, then text, of one picture.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        pool : concurrent.futures.Executor, optional, keyword-only
            Runs the network calls side by side
            (:meth:`veil.detect.text.TextDetector.all_quads`; the same boxes).

        Returns
        -------
        Detections
            ``kind`` PLATE or TEXT, boxes grown by their detector, clipped to the picture.
        """
        rgb = check_rgb(rgb)
        return self._boxes(rgb, *self.text.all_quads(rgb, pool=pool))

    def detect_windows(self, rgb: np.ndarray, windows, *, pool=None) -> Detections:
        """Plates, then text, lying whole in some windows of a picture (a video's change look).

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        windows : sequence of (x0, y0, x1, y1) int
            Picture pixels (:meth:`veil.detect.changewatch.ChangeWatch.windows`).
        pool : concurrent.futures.Executor, optional, keyword-only
            As in :meth:`detect`.

        Returns
        -------
        Detections
            As :meth:`detect`, for the lines :meth:`veil.detect.text.TextDetector.window_quads` finds.
        """
        rgb = check_rgb(rgb)
        return self._boxes(rgb, *self.text.window_quads(rgb, windows, pool=pool))

    def _boxes(self, rgb: np.ndarray, quads: np.ndarray, scores: np.ndarray) -> Detections:
        plates = self.plates.plates_from_quads(quads, scores, rgb.shape, rgb=rgb) if "plates" in self.kinds else None
        text = self.text.boxes_from_quads(quads, scores, rgb.shape) if "text" in self.kinds else None
        if plates is not None and text is not None and len(plates) and len(text):
            # A plate's own characters are a text line too; the plate's box holds it whole, so it is one
            # region (one count, one item to review), not a plate and a line of text on top of each other.
            text = text[np.flatnonzero(~_inside_any(text.xyxy, plates.xyxy))]
        return Detections.concatenate([p for p in (plates, text) if p is not None])


def _inside_any(boxes: np.ndarray, outer: np.ndarray, *, slack: float = 1.0) -> np.ndarray:
    """``(N,)`` bool: which of ``boxes`` (N, 4) lie whole inside one of ``outer`` (M, 4), give or take
    ``slack`` pixels."""
    b, o = np.asarray(boxes, np.float64)[:, None, :], np.asarray(outer, np.float64)[None, :, :]
    inside = ((b[..., 0] >= o[..., 0] - slack) & (b[..., 1] >= o[..., 1] - slack)
              & (b[..., 2] <= o[..., 2] + slack) & (b[..., 3] <= o[..., 3] + slack))
    return inside.any(axis=1)


class NoFaces:
    """The face detector of a run that does not cover faces: finds none."""

    def detect(self, rgb: np.ndarray) -> Detections:
        return Detections.empty()


def face_detector_for(config, detector=None):
    """The face detector of a run with ``config``: :class:`NoFaces` when it does not cover
    faces (``--cover plates,text``; even over a ``detector`` given), else ``detector`` or
    veil's own (:func:`veil.detect.detector_for`)."""
    if not config.covers_faces:
        return NoFaces()
    if detector is not None:
        return detector
    from . import detector_for

    return detector_for(config)


def require_other_kinds(config) -> None:
    """Raise a one-line ``ModelError`` when ``config`` covers plates or text and the
    text detector's package is missing (checked once, before any file)."""
    if config.other_kinds:
        text_detector_onnx_path()


def other_kinds_for(config, *, single: bool = False) -> OtherKinds | None:
    """The plate/text detector of a :class:`veil.config.Config` (None: faces only), cached per process.

    ``single`` as in :func:`veil.detect.detector_for`.
    """
    if not config.other_kinds:
        return None
    threads = 1 if single else config.cpu_threads
    return _cached(config.other_kinds, config.tiles, config.text_max_share or None, threads, config.precision)


@functools.lru_cache(maxsize=4)
def _cached(kinds: tuple, tiles: bool, text_max_share: float | None, threads: int, precision: str) -> OtherKinds:
    return OtherKinds(kinds, tiles=tiles, text_max_share=text_max_share, threads=threads, precision=precision)


def with_other_kinds(faces: Detections, rgb: np.ndarray, config) -> Detections:
    """A picture's boxes of every kind ``config`` covers: ``faces`` (dropped when faces are
    not covered), then the picture's plates and text."""
    faces = faces if config.covers_faces else Detections.empty()
    other = other_kinds_for(config)
    return Detections.concatenate([faces, other.detect(rgb)]) if other is not None else faces
