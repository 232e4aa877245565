"""Tiles of a multi-scale detection: the grid of overlapping windows, boxes found in one.

Helpers of :class:`veil.detect.MultiScaleDetector`: :func:`tile_grid` (public,
re-exported by :mod:`veil.detect`), :func:`holding` and :func:`whole_in_tile`.
"""

from __future__ import annotations

import math

import numpy as np

from ..detections import Detections

__all__ = ["tile_grid", "holding", "whole_in_tile"]


def tile_grid(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Start/stop of the fewest evenly spread windows of at most ``tile`` pixels covering ``[0, length)``.

    Consecutive windows overlap by at least ``overlap`` pixels; the windows are
    shrunk to the smallest equal length that still covers (no wasted area).

    Parameters
    ----------
    length, tile, overlap : int
        ``tile > overlap >= 0``.

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` pairs, first starting at 0, last stopping at ``length``.

    Examples
    --------
    >>> tile_grid(1000, 400, 40)
    [(0, 360), (320, 680), (640, 1000)]
    """
    if tile <= overlap:
        raise ValueError("tile must be larger than overlap")
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    side = math.ceil((length + (n - 1) * overlap) / n)
    starts = np.round(np.linspace(0, length - side, n)).astype(int)
    return [(int(s), int(s) + side) for s in starts]


def holding(windows: list[tuple[int, int, int, int]], points: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The windows ``(x0, y0, x1, y1)`` that hold at least one of ``points`` (``(N, 2)`` x, y), in order."""
    c = points
    return [(x0, y0, x1, y1) for x0, y0, x1, y1 in windows
            if np.any((c[:, 0] >= x0) & (c[:, 0] < x1) & (c[:, 1] >= y0) & (c[:, 1] < y1))]


def whole_in_tile(dets: Detections, window: tuple[int, int, int, int], size: tuple[int, int]) -> Detections:
    """The boxes found in one tile that it holds whole, moved to picture pixels.

    Parameters
    ----------
    dets : Detections
        Boxes in the tile's pixels (not modified).
    window : (x0, y0, x1, y1)
        The tile in picture pixels.
    size : (int, int)
        ``(height, width)`` of the picture.

    Returns
    -------
    Detections
        Without the boxes touching one of the tile's inner edges (not the
        picture's): possibly a cut face, which lies whole in the neighbouring
        tile (overlap) or is large and the whole-frame pass's.
    """
    x0, y0, x1, y1 = window
    h, w = size
    b = dets.xyxy
    margin = 1.0
    cut = np.zeros(len(b), bool)
    if x0 > 0:
        cut |= b[:, 0] <= margin
    if y0 > 0:
        cut |= b[:, 1] <= margin
    if x1 < w:
        cut |= b[:, 2] >= (x1 - x0) - margin
    if y1 < h:
        cut |= b[:, 3] >= (y1 - y0) - margin
    dets = dets[~cut]
    if not len(dets):
        return dets
    shift = np.array([x0, y0], np.float32)
    return dets.replace(xyxy=dets.xyxy + np.tile(shift, 2), landmarks=dets.landmarks + shift)
