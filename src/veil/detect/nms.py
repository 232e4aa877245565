"""Non-maximum suppression on ``xyxy`` boxes, vectorized with numpy."""

from __future__ import annotations

import numpy as np

__all__ = ["nms", "nms_clusters"]


def nms(xyxy: np.ndarray, scores: np.ndarray, *, iou: float = 0.3, priority: np.ndarray | None = None) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, best first.

    See :func:`nms_clusters` (same arguments), which also says which kept box
    suppressed each box.
    """
    return nms_clusters(xyxy, scores, iou=iou, priority=priority)[0]


def nms_clusters(xyxy: np.ndarray, scores: np.ndarray, *, iou: float = 0.3,
                 priority: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy non-maximum suppression that also returns the clusters.

    Boxes are visited best first; each kept box suppresses the remaining boxes
    that overlap it with IoU >= ``iou``. The loop runs once per *kept* box (one
    per face), each step vectorized over the remaining boxes, so thousands of
    candidate cells cost milliseconds and no ``N x N`` matrix is built.

    Parameters
    ----------
    xyxy : (N, 4) array_like of float
    scores : (N,) array_like of float
    iou : float, keyword-only
        Overlap at or above which the lower-ranked box is dropped.
    priority : (N,) array_like of float, optional, keyword-only
        Visited first by descending ``priority``, then by descending score
        (e.g. to prefer boxes from the pass that saw a face whole).

    Returns
    -------
    keep : (K,) ndarray of int64
        Indices of the kept boxes, best first.
    owner : (N,) ndarray of int64
        For every box, the index of the kept box that suppressed it (itself
        for a kept box): the clusters, for score fusion.
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(xyxy) != len(scores):
        raise ValueError("xyxy and scores differ in length")
    if len(xyxy) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if priority is None:
        order = np.argsort(-scores, kind="stable")
    else:
        order = np.lexsort((-scores, -np.asarray(priority, np.float64).reshape(-1)))
    x1, y1, x2, y2 = (xyxy[order, i] for i in range(4))
    area = (x2 - x1) * (y2 - y1)
    keep = []
    owner = np.arange(len(order))
    idx = np.arange(len(order))
    while idx.size:
        i = idx[0]
        keep.append(order[i])
        rest = idx[1:]
        if not rest.size:
            break
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        union = area[i] + area[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        owner[order[rest[overlap >= iou]]] = order[i]
        idx = rest[overlap < iou]
    return np.asarray(keep, np.int64), owner.astype(np.int64)
