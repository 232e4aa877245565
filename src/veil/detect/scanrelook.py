"""The grid relook of motion-aware scan plans (:mod:`veil.detect.scanplan`).

A face near the detector's threshold scores differently in a window cut and
resampled elsewhere. Every tile on every frame gives it a new score each
frame in each of the detector's own tiles holding it, and its tracker
bridges the frames where one reaches the threshold; a plan's window around
it gives one other score. So a candidate a plan is unsure of -- a carried
box looked at again for scoring under ``relook_below``, or one the plan's
calls scored under the threshold -- with no box over the threshold on it,
is also looked at as every tile on every frame looks at it (the planner's
``grid_relook``): in every detector tile holding it whole (``'all'``), in the
one holding it nearest its centre (``'one'``), or in a window around it on
each such tile's alignment grid (``'local'``: the same pixels, less context).

Here: which boxes are unsure, and which windows look at them again.
"""

from __future__ import annotations

import numpy as np

from ..detections import Detections, box_iou
from .scanwindows import Window, lattice_window, windows_holding

__all__ = ["apart", "unsure_candidates", "grid_windows"]


def apart(boxes: np.ndarray, others: np.ndarray, iou: float = 0.3) -> np.ndarray:
    """The rows of ``boxes`` (N, 4) overlapping no row of ``others`` at ``iou`` or more."""
    if not len(boxes) or not len(others):
        return boxes
    return boxes[box_iou(boxes, others).max(axis=1) < iou]


def unsure_candidates(found: Detections, threshold: float, max_side: float) -> np.ndarray:
    """(N, 4) boxes of ``found`` scoring under ``threshold``, no larger than ``max_side`` (for the tiles to
    score), with no box of ``found`` scoring over it overlapping (IoU >= 0.3)."""
    small = np.maximum(found.widths, found.heights) <= max_side
    sure = found.scores >= threshold
    return apart(found.xyxy[small & ~sure], found.xyxy[sure])


def grid_windows(boxes: np.ndarray, done: list[Window], tiles: list[Window], *, mode: str | None,
                 quantum: int) -> list[Window]:
    """The windows looking at ``boxes`` (N, 4) again as the detector's ``tiles`` see them, except those in ``done``.

    Parameters
    ----------
    boxes : (N, 4) array_like
        Unsure candidates, picture pixels.
    done : list of Window
        Tile windows the plan runs already.
    tiles : list of Window
        The detector's tiles for the frame.
    mode : {'all', 'one', 'local'} or None, keyword-only
        The planner's ``grid_relook`` ('auto' resolved); None: no window.
    quantum : int, keyword-only
        The tiles' alignment step (picture pixels).

    Returns
    -------
    list of Window
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not mode or not len(boxes):
        return []
    done = set(done)
    if mode != "local":
        return [t for t in windows_holding(boxes, tiles, nearest=mode == "one") if t not in done]
    # A window around each box inside each tile holding it, on that tile's alignment grid: there the
    # network sees the face's pixels as in the tile (its context only as far as the window reaches).
    out = []
    for box in boxes:
        margin = max(float(box[2] - box[0]), float(box[3] - box[1]), 32.0)
        for t in windows_holding(box[None], tiles):
            w = lattice_window(box, margin, t, quantum)
            if w not in done and w not in out:
                out.append(w)
    return out
