"""Residual-face check: faces still detectable in the output, outside what was covered.

A confident detection on the *anonymized* picture whose box lies mostly
outside every anonymized region is a face the pipeline may have missed (or one
it skipped on purpose, e.g. under ``--min-face``). It is flagged with its box;
the report shows it with its frame.

Covering changes what the detector sees around a cover: the rim of a noise
cover beside a hand holding a microphone read as a face (0.64-0.80 on a White
House frame), and on crowd photos the gaps between filled heads, a neck below
a filled head, score 0.45-0.68 where the input scores 0.07 at most (none of
them a face: bench/RESULTS.md). So where the original is given, each finding
is looked for on it, by the same detector: one it does not report there is
made by the covering, not a face left uncovered; it keeps its box in the
report with the reason :data:`~veil.verify.verdicts.NOT_ON_ORIGINAL` and is not
counted. A face the run left uncovered is a face on the original too, so it
stays a finding.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from ..detections import Detections, box_intersections

__all__ = ["FaceDetector", "residual_faces", "residual_findings", "inside_fraction", "found_again"]

_SAME_FINDING = 0.5  # share of the smaller of two boxes their overlap must reach


class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray) -> Detections: ...  # pragma: no cover


def inside_fraction(xyxy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Share of each box's pixels that the mask covers.

    Parameters
    ----------
    xyxy : (N, 4) array of float
        Boxes in picture pixels; the pixels a box touches count
        (``floor(x1) .. ceil(x2)``), clipped to the picture.
    mask : (H, W) bool

    Returns
    -------
    (N,) ndarray of float64
        0 for a box entirely outside the picture.
    """
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    integral = np.zeros((h + 1, w + 1), np.int64)
    integral[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1)
    out = np.zeros(len(xyxy), np.float64)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(xyxy, np.float64).reshape(-1, 4)):
        c0, c1 = min(max(int(np.floor(x1)), 0), w), min(max(int(np.ceil(x2)), 0), w)
        r0, r1 = min(max(int(np.floor(y1)), 0), h), min(max(int(np.ceil(y2)), 0), h)
        area = (c1 - c0) * (r1 - r0)
        if area <= 0:
            continue
        covered = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
        out[i] = covered / area
    return out


def residual_faces(anonymized_rgb: np.ndarray, covered_mask: np.ndarray | None, detector: FaceDetector, *,
                   min_score: float = 0.5, max_inside: float = 0.5) -> Detections:
    """Detections on the output that lie mostly outside the anonymized regions.

    Parameters
    ----------
    anonymized_rgb : (H, W, 3) uint8
        The output picture or frame.
    covered_mask : (H, W) bool or None
        Pixels the anonymizer covered (None: nothing covered).
    detector : FaceDetector
        Any object with ``detect(rgb) -> Detections`` (e.g. ``veil.detect.CenterFace``).
    min_score : float, keyword-only
        Detections below this confidence are ignored.
    max_inside : float, keyword-only
        A detection is kept (flagged) when at most this share of its box lies
        inside the covered mask.

    Returns
    -------
    Detections
        The possible missed faces, as the detector returned them.
    """
    rgb = np.asarray(anonymized_rgb)
    h, w = rgb.shape[:2]
    if covered_mask is None:
        covered_mask = np.zeros((h, w), bool)
    covered_mask = np.asarray(covered_mask, bool)
    if covered_mask.shape != (h, w):
        raise ValueError(f"covered mask {covered_mask.shape} does not match the picture {(h, w)}")
    dets = detector.detect(rgb)
    if len(dets) == 0:
        return Detections.empty()
    keep = dets.scores >= min_score
    if not np.any(keep):
        return Detections.empty()
    dets = dets[np.flatnonzero(keep)]
    inside = inside_fraction(dets.xyxy, covered_mask)
    flagged = inside <= max_inside
    # A face whose loose box lies mostly in covered pixels -- its neighbours' head regions, a caption's
    # box -- still shows when two of its eyes and nose lie clearly outside them, a tenth of its width
    # or more (a missed face between covered heads was "verified"; a covered face the detector
    # finds again, shifted, has them on the cover's rim, within a few pixels). Boxes without
    # landmarks (plates, text) are judged by the box alone.
    points = dets.landmarks[:, :3]  # the detector's right eye, left eye, nose
    candidates = ~flagged & np.isfinite(points).all(axis=(1, 2))
    if candidates.any():
        import cv2

        away = cv2.distanceTransform((~covered_mask).astype(np.uint8), cv2.DIST_L2, 3)
        xs = np.clip(np.nan_to_num(points[..., 0]).round().astype(int), 0, w - 1)
        ys = np.clip(np.nan_to_num(points[..., 1]).round().astype(int), 0, h - 1)
        clear = away[ys, xs] >= 0.1 * (dets.xyxy[:, 2:3] - dets.xyxy[:, 0:1])
        flagged |= candidates & (clear.sum(axis=1) >= 2)
    return dets[np.flatnonzero(flagged)]


def residual_findings(anonymized_rgb: np.ndarray, covered_mask: np.ndarray | None, detector: FaceDetector, *,
                      original_rgb: np.ndarray | None = None, frame: int | None = None) -> list:
    """:func:`residual_faces` as report records (:class:`~veil.verify.verdicts.ResidualFinding`).

    With ``original_rgb`` (the same picture before covering), a finding the
    detector does not report on the original carries the reason
    :data:`~veil.verify.verdicts.NOT_ON_ORIGINAL` (listed, not counted: see the
    module's notes).
    """
    from .verdicts import NOT_ON_ORIGINAL, ResidualFinding

    residual = residual_faces(anonymized_rgb, covered_mask, detector)
    findings = ResidualFinding.from_detections(residual, frame=frame)
    if not findings or original_rgb is None:
        return findings
    seen = detector.detect(np.asarray(original_rgb))
    still = found_again(residual.xyxy, seen.xyxy)
    return [f if kept else dataclasses.replace(f, reason=NOT_ON_ORIGINAL) for f, kept in zip(findings, still)]


def found_again(found: np.ndarray, again: np.ndarray) -> np.ndarray:
    """Which boxes of ``found`` a second look found again.

    Parameters
    ----------
    found, again : (N, 4), (M, 4) array_like of float
        Boxes of the first look and of the second, on the same picture's grid.

    Returns
    -------
    (N,) ndarray of bool
        True where a box of ``again`` overlaps it by half the smaller of the two or more.
    """
    found = np.asarray(found, np.float64).reshape(-1, 4)
    again = np.asarray(again, np.float64).reshape(-1, 4)
    if not len(found) or not len(again):
        return np.zeros(len(found), bool)
    inter, area, area_again = box_intersections(found, again)
    return (inter >= _SAME_FINDING * np.maximum(np.minimum(area[:, None], area_again[None, :]), 1e-9)).any(axis=1)
