"""Merging the passes of a multi-scale detection: one box per face.

:func:`merge_passes` is what :meth:`veil.detect.MultiScaleDetector.merge` does,
written as a function of the passes and the detector's settings: cluster every
pass's candidates, fuse the scores a face got from several passes, cover where
the passes place it, drop boxes nested in a face's box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detections import Detections, box_intersections, box_iou
from .base import select
from .nms import nms_clusters

__all__ = ["Pass", "merge_passes", "only_in_tiles"]


@dataclass(frozen=True)
class Pass:
    """The boxes of one pass, in picture pixels.

    Attributes
    ----------
    name : str
        ``'full'``, ``'coarse'``, ``'flip'`` or ``'tiles'``.
    detections : Detections
    small : bool
        True for passes meant for small faces (tiles).
    """

    name: str
    detections: Detections
    small: bool = False


def merge_passes(passes: list[Pass], *, threshold: float, overlap: float, nms_iou: float, fuse: bool,
                 min_face: float = 0.0) -> Detections:
    """One box per face from several passes' candidates.

    1. Clusters: one greedy NMS (IoU ``nms_iou``) over every pass's
       candidates. Boxes that reach ``threshold`` on their own lead; then
       tile boxes lead for faces up to ``overlap`` pixels (seen magnified
       and whole) and whole-frame boxes for larger faces; then the score.
       Each cluster keeps its leader's landmarks; its box is the union of
       the cluster's boxes that reach ``threshold`` on their own (the
       leader's box if none does): where passes place a face a few pixels
       apart, both placements are covered.
    2. Score fusion (``fuse``): a cluster scores ``1 - prod(1 - s_p)`` over
       the best score ``s_p`` each pass gave it -- a face two passes saw
       weakly is kept, a texture one pass saw weakly is not. Without
       fusion, its best score. Clusters below ``threshold`` go.
    3. A box lying >= 80% inside a kept box at least twice its area is
       dropped: a magnified pass sometimes finds a face's parts (an eye, the
       mouth) as faces, and the larger box's head region covers them.

    Parameters
    ----------
    passes : list of Pass
        Candidates of every pass, in picture pixels (not modified).
    threshold : float, keyword-only
        Final confidence a face needs.
    overlap : float, keyword-only
        Largest face (picture pixels, longer side) whose tile box leads its cluster.
    nms_iou : float, keyword-only
        IoU at which boxes count as one face.
    fuse : bool, keyword-only
        Fuse the scores of the passes (step 2).
    min_face : float, keyword-only
        Drop merged boxes narrower than this (:func:`veil.detect.base.select`).

    Returns
    -------
    Detections
        One box per face, in cluster-leader order, scores fused and at most 1.
    """
    passes = [p for p in passes if len(p.detections)]
    if not passes:
        return Detections.empty()
    dets = Detections.concatenate([p.detections for p in passes])
    small = np.concatenate([np.full(len(p.detections), p.small) for p in passes])
    source = np.concatenate([np.full(len(p.detections), k) for k, p in enumerate(passes)])
    scores = dets.scores.astype(np.float64)
    fits_tile = np.maximum(dets.widths, dets.heights) <= overlap
    priority = 2.0 * (scores >= threshold) + (small == fits_tile)
    keep, owner = nms_clusters(dets.xyxy, scores, iou=nms_iou, priority=priority)
    if fuse and len(passes) > 1:
        # best score of each pass within each cluster, then noisy-OR over passes
        best = np.zeros((len(dets), len(passes)))
        np.maximum.at(best, (owner, source), scores)
        fused = 1.0 - np.prod(1.0 - best[keep], axis=1)
    else:
        fused = np.zeros(len(dets))
        np.maximum.at(fused, owner, scores)
        fused = fused[keep]
    good = fused >= threshold
    keep, fused = keep[good], fused[good]
    order = np.argsort(keep, kind="stable")
    keep, fused = keep[order], np.minimum(fused[order], 1.0)
    xyxy = _cluster_boxes(dets.xyxy, keep, owner, np.nonzero(scores >= threshold)[0])
    dets = dets[keep].replace(xyxy=xyxy, scores=fused)
    dets = dets[~_nested(dets.xyxy)]
    return select(dets, threshold=threshold, min_face=min_face)


def only_in_tiles(passes: list[Pass], merged: Detections, *, smaller_than: float) -> int:
    """How many of ``merged``'s boxes under ``smaller_than`` pixels (longer side) only the tiles found.

    Such a box has no candidate of the other passes (any score) overlapping
    it at IoU >= 0.3 (see :meth:`veil.detect.MultiScaleDetector.tiles_only_small`).
    """
    small = merged[np.maximum(merged.widths, merged.heights) < smaller_than]
    if not len(small):
        return 0
    whole = Detections.concatenate([p.detections for p in passes if p.name != "tiles"])
    if not len(whole):
        return len(small)
    return int((box_iou(small.xyxy, whole.xyxy).max(axis=1) < 0.3).sum())


def _cluster_boxes(xyxy: np.ndarray, keep: np.ndarray, owner: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """(K, 4) float64: each kept cluster's box.

    The union of its boxes that reach the threshold on their own (``strong``;
    passes disagreeing by a few pixels both get covered), or the leader's box
    where none does.
    """
    out = xyxy[keep].astype(np.float64)
    if not len(strong):
        return out
    x1, y1 = out[:, 0].copy(), out[:, 1].copy()
    x2, y2 = out[:, 2].copy(), out[:, 3].copy()
    slot = np.full(len(xyxy), -1)
    slot[keep] = np.arange(len(keep))
    rows = slot[owner[strong]]
    ok = rows >= 0
    rows, members = rows[ok], strong[ok]
    b = xyxy[members]
    np.minimum.at(x1, rows, b[:, 0])
    np.minimum.at(y1, rows, b[:, 1])
    np.maximum.at(x2, rows, b[:, 2])
    np.maximum.at(y2, rows, b[:, 3])
    return np.stack([x1, y1, x2, y2], axis=1)


def _nested(xyxy: np.ndarray, *, inside: float = 0.8, area_ratio: float = 2.0) -> np.ndarray:
    """(N,) bool: box lies >= ``inside`` of its area within another box >= ``area_ratio`` times larger."""
    n = len(xyxy)
    if n < 2:
        return np.zeros(n, bool)
    b = xyxy.astype(np.float64)
    inter, area, _ = box_intersections(b, b)  # [j, i]: box j inside box i
    ioa = inter / np.maximum(area[:, None], 1e-9)
    bigger = area[None, :] >= area_ratio * area[:, None]
    return np.any((ioa >= inside) & bigger, axis=1)
