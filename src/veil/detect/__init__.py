"""Detection: faces (CenterFace, multi-scale tiling), licence plates and text (DBNet), and the configured defaults.

Importing this package loads no model; the network loads on the first
``detect`` call and is cached per process.
"""

from __future__ import annotations

import functools

import numpy as np

from ..detections import Detections
from .base import FaceDetector, OnPool, SideCalls, check_rgb, select
from .centerface import CenterFace
from .multiscale import DEFAULT_FULL_MAX_SIDE, DEFAULT_PROBE_THRESHOLD, MultiScaleDetector, Pass, tile_grid
from .nms import nms, nms_clusters
from .plates import PlateDetector, PlateRules
from .text import TextDetector

__all__ = ["FaceDetector", "OnPool", "SideCalls", "CenterFace", "MultiScaleDetector", "Pass", "PlateDetector", "PlateRules", "TextDetector",
           "check_rgb", "default_detector", "default_plate_detector", "default_text_detector", "detector_for", "find",
           "select", "select_for", "nms", "nms_clusters", "tile_grid"]

def detector_for(config, *, single: bool = False) -> FaceDetector:
    """veil's detector for a :class:`veil.config.Config`, cached per process.

    Each network call runs on ``config.cpu_threads`` onnxruntime threads, or
    with ``single=True`` on one thread, for a caller that runs several calls at
    once: on two cores two single-threaded calls side by side do 1.3x the work
    of one two-threaded call (video frames). Within one photo, passes side by
    side on single threads were measured slower than one after the other on two
    (bench/RESULTS.md). The detector is safe to call from several threads.
    """
    threads = 1 if single else config.cpu_threads
    from ..config import DETECTOR_FIELDS

    return _cached(tuple((f, getattr(config, f)) for f in DETECTOR_FIELDS), threads)


@functools.lru_cache(maxsize=4)
def _cached(key: tuple, threads: int) -> FaceDetector:
    from ..config import Config

    return default_detector(Config(**dict(key)), threads=threads)


def select_for(dets: Detections, config) -> Detections:
    """:func:`select` with ``config``'s threshold and minimum face width."""
    return select(dets, threshold=config.threshold, min_face=config.min_face)


def find(pixels, config=None, *, detector: FaceDetector | None = None) -> Detections:
    """The faces veil covers in one picture.

    veil's own detector treats it as a photo: every tile where its whole-frame
    pass sees the picture smaller than it is
    (:meth:`MultiScaleDetector.photo_tiles`); video frames are scanned by
    ``veil.track.scan``.

    Parameters
    ----------
    pixels : (H, W), (H, W, 3) or (H, W, 4) ndarray of uint8 or uint16
        Any veil picture, upright; not modified.
    config : Config, optional
        Settings (``threshold``, ``min_face``, ...); ``Config()`` when omitted.
    detector : FaceDetector, optional, keyword-only
        veil's own (:func:`detector_for`) by default.

    Returns
    -------
    Detections
        Boxes in ``pixels``' coordinates, selected by ``config``.

    Raises
    ------
    TypeError, ValueError
        ``pixels`` is not a picture (its shape or dtype); ``config`` is not a
        :class:`~veil.config.Config`; ``detector`` has no ``detect`` or returns
        something other than :class:`~veil.detections.Detections`.
    veil.errors.TooLargeError
        More pixels than ``config.max_pixels`` (as a file with them would be refused).
    """
    from ..config import config_or_default
    from ..media import check_size
    from ..media.image import to_rgb8

    config = config_or_default(config)
    if isinstance(pixels, np.ndarray) and pixels.ndim >= 2:
        check_size(pixels.shape[1], pixels.shape[0], config.max_pixels)
    detector = detector or detector_for(config)
    if not callable(getattr(detector, "detect", None)):
        raise TypeError(f"detector must have a detect(rgb) method, not {type(detector).__name__}")
    rgb = to_rgb8(pixels)
    if isinstance(detector, MultiScaleDetector):  # a photo: every tile where the whole-frame pass downscales
        return select_for(detector.detect(rgb, tiles=detector.photo_tiles(rgb.shape)), config)
    found = detector.detect(rgb)
    if not isinstance(found, Detections):
        raise TypeError(f"detector.detect must return veil.Detections, not {type(found).__name__}")
    return select_for(found, config)


def default_detector(config, *, threads: int | None = None) -> FaceDetector:
    """The detector a :class:`veil.config.Config` asks for.

    Parameters
    ----------
    config : veil.config.Config
        Uses ``threshold`` (final confidence), ``detect_scale`` (resolution of
        the whole-frame pass; pictures above 1280 px are seen at most 1280 px
        wide at scale 1 -- their small faces are the tiles' job), ``tiles``
        (magnified tiles for small faces, adaptive) and ``min_face``. A
        half-resolution pass for large faces (>= 64 px) runs in both modes.
    threads : int or None, keyword-only
        onnxruntime threads per call (None: one per core). A caller that runs
        the detector from several threads at once passes 1: on two cores two
        single-threaded calls side by side do 1.3 times the work of one
        two-threaded call at a time.

    Returns
    -------
    FaceDetector
        A :class:`MultiScaleDetector`; with ``tiles=False`` it runs the
        whole-frame pass only (no size cap, exactly ``detect_scale``).
    """
    base = CenterFace(threshold=config.threshold, threads=threads, precision=config.precision)
    if not config.tiles:
        return MultiScaleDetector(base, full_scale=config.detect_scale, full_max_side=None, upscale=None,
                                  probe_threshold=config.threshold, min_face=config.min_face)
    return MultiScaleDetector(base, full_scale=config.detect_scale,
                              full_max_side=round(DEFAULT_FULL_MAX_SIDE * config.detect_scale),
                              probe_threshold=min(DEFAULT_PROBE_THRESHOLD, config.threshold),
                              min_face=config.min_face)


def default_plate_detector(config, *, threads: int | None = None) -> PlateDetector:
    """The licence-plate detector for a :class:`veil.config.Config`.

    ``config.tiles=False`` (``--no-tiles``) also drops the plates' magnified
    tiles (faster; plates under about 20 px high in large frames are missed).
    Its other settings are the measured defaults of :class:`PlateDetector`
    (bench/RESULTS.md, Licence plates and text). ``threads`` as in :func:`default_detector`.
    """
    return PlateDetector(**_kinds_options(config, threads))


def default_text_detector(config, *, threads: int | None = None) -> TextDetector:
    """The text detector for a :class:`veil.config.Config` (``tiles`` as in :func:`default_plate_detector`)."""
    return TextDetector(**_kinds_options(config, threads))


def _kinds_options(config, threads: int | None) -> dict:
    from .kinds import kinds_options

    return kinds_options(tiles=config.tiles, threads=threads, precision=config.precision)
