"""Residual check for plates and text: their detector run again on the output.

The face recognizer measures faces only. For the plates and text a run
covers (``--cover``), verification runs the same plate/text detector on the
output: a box it finds with a confidence of at least :data:`RESIDUAL_MIN_SCORE`
(PaddleOCR's own box threshold; runs cover from 0.3) that lies mostly outside
every covered region (at most half of it inside, as for faces) is a finding
of that kind (``ResidualFinding.kind``), counted per kind in
``Counts.residual_plate`` / ``residual_text``; it makes the file's verdict a
leak.

Covering changes the detector's view of what surrounds a region: on a busy
synthetic texture DBNet reported "text" (scores 0.4-0.8) beside a filled
plate where it reported nothing at 0.3 on the input (the moving-plate clip of
tests/test_cover_kinds.py). So where the input's boxes are given (``found``: what the
run decided to cover, after a person's edits), a finding must overlap one of
them (a third of its box): what the detector saw on the input and the output
does not cover, i.e. a box lost on its way from detection to the written
pixels (regions, masks, rendering, frame order). Plates or text a person
removed are not findings.

Where the input picture is given (``original``), a box the detector finds
*inside* a cover is a finding too when the cover keeps the input's fine edges
there (:func:`follows`, :data:`FOLLOWS_ORIGINAL`): a tint or a light blur,
which ``veil verify`` meets in other tools' output. A fill or noise keeps none,
nor does a mosaic whose block edges the detector reads as text, so neither
counts this way; a blur or mosaic in between is not judged (it may or may not
be legible). The check says the detector finds no more plates or text, as
published; it does not say that what is covered is illegible after an attack
(``fill`` and ``noise`` leave nothing to read; ``blur`` and ``pixelate`` of
text are reversible, as for faces, and deblurring makes the detector see text
even on a fill: bench/RESULTS.md, "Reversible covers of plates and text").
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..detect import OnPool, SideCalls
from ..detect.kinds import other_kinds_for
from ..detections import Detections, Kind, box_intersections
from ..region import box_pixels
from .residual import found_again, inside_fraction, residual_faces
from .verdicts import FILL_EDGE, ResidualFinding, VerificationRecord

__all__ = ["RESIDUAL_MIN_SCORE", "FOLLOWS_ORIGINAL", "RELOOK_MIN_SCORE", "CHECK_EVERY_LOOKS", "KIND_LABELS",
           "follows", "other_residual", "smooth_covered", "check_other_kinds", "with_findings", "OtherKindsChecks"]

#: A plate or text box on the output is a finding from this confidence on.
RESIDUAL_MIN_SCORE = 0.5
_SEEN_OVERLAP = 1 / 3  # share of a finding's box an input detection must overlap
#: A box found mostly inside a cover is a finding where the cover keeps at least this much of the
#: input's fine edges there (:func:`follows`; a fill or noise: about 0, a tint: 1).
FOLLOWS_ORIGINAL = 0.7
_MIN_PIXELS = 16  # covered pixels under a box below which nothing is judged
#: Under a plate/text schedule (``kinds_every`` > 1) the video check runs once every this many looks.
CHECK_EVERY_LOOKS = 2
#: The look without the fill's edge keeps a box from this confidence on: the detector's own
#: threshold (what a run covers from), so a finding stays on the least sign of what made it.
RELOOK_MIN_SCORE = 0.3
_SMOOTH_SIDE = 512  # the smooth fill is grown at this size (its long side), then scaled up
_SMOOTH_BLUR = 3.0  # and blurred there (Gaussian sigma, small pixels) inside the covered part
#: ``--cover`` names -> the labels findings and counts carry.
KIND_LABELS = {"plates": "plate", "text": "text"}


def other_residual(anonymized_rgb: np.ndarray, covered_mask: np.ndarray | None, config, *,
                   frame: int | None = None, found=None, pool=None, original=None) -> list:
    """The plates and text ``config`` covers that its detector still finds outside ``covered_mask``,
    or, with ``original``, under a cover that still follows it.

    Parameters
    ----------
    anonymized_rgb : (H, W, 3) ndarray of uint8
        The output picture or frame.
    covered_mask : (H, W) ndarray of bool or None
        Everything covered on it.
    config : veil.config.Config
    frame : int, optional, keyword-only
    found : Detections, optional, keyword-only
        What the run covers on the input picture (any kinds, after edits); None: every finding counts.
    pool : concurrent.futures.Executor, optional, keyword-only
        The detector's calls run side by side on it, one onnxruntime thread
        each (a video's check on a thread beside encoding); without it each
        call uses every core (a photo, ``veil verify``).
    original : (H, W, 3) ndarray of uint8, optional, keyword-only
        The input picture or frame; given, a box found mostly inside the
        covered mask is a finding where the output there still follows it
        (:data:`FOLLOWS_ORIGINAL`).

    Returns
    -------
    list of ResidualFinding
        With ``kind`` ``plate`` or ``text``.
    """
    detector = other_kinds_for(config, single=pool is not None)
    if detector is None:
        return []
    seen = _Last(OnPool(detector, pool))

    def on_input(boxes):  # what the run saw on the input (see the module's note)
        if found is None or not len(boxes):
            return boxes
        inputs = found.xyxy[found.kind != Kind.FACE]
        inter, area, _ = box_intersections(boxes.xyxy.astype(np.float64), inputs.astype(np.float64))
        overlap = inter.max(axis=1) if inter.size else np.zeros(len(boxes))
        return boxes[np.flatnonzero(overlap >= _SEEN_OVERLAP * np.maximum(area, 1e-9))]

    def look(rgb: np.ndarray, min_score: float):
        return on_input(residual_faces(rgb, covered_mask, seen, min_score=min_score))

    residual = look(anonymized_rgb, RESIDUAL_MIN_SCORE)
    under = on_input(_under_cover(seen.last, covered_mask, anonymized_rgb, original))
    findings = ResidualFinding.from_detections(residual, frame=frame)
    if findings and covered_mask is not None and np.any(covered_mask):
        again = look(smooth_covered(anonymized_rgb, covered_mask), RELOOK_MIN_SCORE)
        still = found_again(residual.xyxy, again.xyxy)
        findings = [f if kept else dataclasses.replace(f, reason=FILL_EDGE) for f, kept in zip(findings, still)]
    return findings + ResidualFinding.from_detections(under, frame=frame, under_cover=True)


class _Last:
    """A detector that keeps its last answer (the boxes inside covers are judged on the same look)."""

    def __init__(self, detector) -> None:
        self.detector, self.last = detector, None

    def detect(self, rgb: np.ndarray):
        self.last = self.detector.detect(rgb)
        return self.last


def _under_cover(dets, covered_mask, anonymized_rgb: np.ndarray, original) -> "Detections":
    """The boxes of ``dets`` (score >= :data:`RESIDUAL_MIN_SCORE`) mostly inside ``covered_mask`` whose
    covered pixels still follow ``original`` (:func:`follows`); none without ``original``."""
    if original is None or dets is None or not len(dets) or covered_mask is None:
        return Detections.empty()
    mask = np.asarray(covered_mask, bool)
    shares = inside_fraction(dets.xyxy, mask)  # one pass over the mask for every box
    keep = [i for i, (box, score, share) in enumerate(zip(dets.xyxy, dets.scores, shares))
            if score >= RESIDUAL_MIN_SCORE and share > 0.5
            and follows(original, anonymized_rgb, box, mask) >= FOLLOWS_ORIGINAL]
    return dets[np.asarray(keep, np.intp)]


def follows(original: np.ndarray, anonymized: np.ndarray, box, mask: np.ndarray) -> float:
    """How much of ``original``'s fine edges ``anonymized`` keeps over the pixels of ``box`` that
    ``mask`` holds: the correlation of their grey levels' Laplacian (of a Gaussian, sigma 1 px).

    About 0 under a fill or noise, and under a mosaic or blur coarse enough to hide strokes
    (veil's ``blur`` and ``pixelate`` on the plate set: medians 0.01 and 0.05, 95th percentiles
    0.27 and 0.55; ten blocks over the smallest regions reach 0.88, where the detector finds
    nothing); near 1 under a tint or a light blur (sigma 1.5 px: median 0.81). A mosaic's own
    block edges, which DBNet can read as text, do not follow the original's edges
    (bench/under_cover.py).

    Parameters
    ----------
    original, anonymized : (H, W, 3) ndarray of uint8
    box : (4,) array_like of float
        ``x0, y0, x1, y1`` in picture pixels.
    mask : (H, W) ndarray of bool

    Returns
    -------
    float
        In [-1, 1]; 0 where either side is flat there or under
        :data:`_MIN_PIXELS` pixels are covered.
    """
    import cv2

    # 3 px of margin around the box keep the filter's border out of it
    crop = box_pixels(np.asarray(box, np.float64) + (-3, -3, 3, 3), *mask.shape)
    if not crop:
        return 0.0
    _, rows, cols = crop[0]
    # The pixels the cover changed (a grown mask holds some it did not), less its rim (where it meets
    # the picture, an edge on both sides): 3 px in.
    changed = np.abs(np.asarray(original[rows, cols], np.int16)
                     - np.asarray(anonymized[rows, cols], np.int16)).max(axis=2) > 2
    held = (mask[rows, cols] & changed).astype(np.uint8)
    inside = cv2.erode(held, np.ones((7, 7), np.uint8), borderValue=1) > 0
    if inside.sum() < _MIN_PIXELS:
        return 0.0

    def edges(rgb):
        grey = cv2.cvtColor(np.ascontiguousarray(rgb[rows, cols], np.uint8), cv2.COLOR_RGB2GRAY)
        return cv2.Laplacian(cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0), cv2.CV_32F)[inside]

    a, b = edges(original).astype(np.float64), edges(anonymized).astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 1e-6 else 0.0


def smooth_covered(rgb: np.ndarray, covered_mask: np.ndarray) -> np.ndarray:
    """``rgb`` with its covered pixels replaced by a smooth fill grown from the pixels around them.

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    covered_mask : (H, W) ndarray of bool

    Returns
    -------
    (H, W, 3) ndarray of uint8
        A new picture: the same pixels outside the mask; inside it, colours
        inpainted (OpenCV's Telea) at most :data:`_SMOOTH_SIDE` pixels on the
        long side, blurred, and scaled up, so no edge is left where the cover
        met the picture.
    """
    import cv2

    rgb = np.ascontiguousarray(rgb, np.uint8)
    mask = np.asarray(covered_mask, bool)
    h, w = mask.shape
    if rgb.shape[:2] != (h, w):
        raise ValueError(f"covered mask {mask.shape} does not match the picture {rgb.shape[:2]}")
    scale = min(1.0, _SMOOTH_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    # a small pixel is a hole when any of the covered pixels went into it: no fill colour survives the scaling
    holes = (cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    grown = cv2.inpaint(small, holes, 3, cv2.INPAINT_TELEA)
    # Telea leaves streaks where its fronts meet, which DBNet can read as lines: soften them
    grown = np.where(holes[..., None] > 0, cv2.GaussianBlur(grown, (0, 0), _SMOOTH_BLUR), grown)
    out = rgb.copy()
    out[mask] = cv2.resize(grown, (w, h), interpolation=cv2.INTER_LINEAR)[mask]
    return out


def check_other_kinds(record: VerificationRecord | None, anonymized_rgb: np.ndarray,
                      covered_mask: np.ndarray | None, config, *, found=None, original=None) -> VerificationRecord:
    """``record`` with the plate/text residual findings of a photo added (and the kinds checked);
    ``found`` and ``original`` as in :func:`other_residual`."""
    record = record if record is not None else VerificationRecord()
    findings = other_residual(anonymized_rgb, covered_mask, config, found=found, original=original)
    return with_findings(record, findings, config)


def with_findings(record: VerificationRecord, found: list, config) -> VerificationRecord:
    """``record`` with plate/text ``found`` added and ``config``'s other kinds marked as checked;
    a finding with a ``reason`` (:data:`FILL_EDGE`) goes to ``excused`` (the record's own rule)."""
    checked = tuple(KIND_LABELS[k] for k in config.other_kinds)
    return dataclasses.replace(record, residual=tuple(record.residual) + tuple(found),
                               checked_kinds=tuple(dict.fromkeys(record.checked_kinds + checked)))


class OtherKindsChecks:
    """A video's plate/text residual check on every ``every``-th output frame (as the faces'), or
    sparser under a plate/text schedule (:attr:`every`, :meth:`wants`).

    With ``config.kinds_every`` k > 1 the check runs on every
    ``max(every, CHECK_EVERY_LOOKS * k)``-th frame, half-way between two
    looks (``k // 2`` past a multiple of it): it costs a look, and a frame
    the tracker carried the boxes to is where a lost box would show.

    ``pool`` runs each check on a thread beside the caller; ``tile_pool``
    runs a check's network calls side by side (see :func:`other_residual`).
    """

    def __init__(self, config, *, every: int, pool=None, tile_pool=None) -> None:
        k = config.kinds_every
        self.config, self.tile_pool = config, tile_pool
        self.every = max(int(every), CHECK_EVERY_LOOKS * k) if every and k > 1 else int(every)
        self.offset = k // 2 if self.every and k > 1 else 0
        self.found: list = []
        self._calls = SideCalls(pool, self.found.extend)

    def wants(self, index: int) -> bool:
        """Whether output frame ``index`` is checked (callers skip making its mask otherwise)."""
        return bool(self.every) and index % self.every == self.offset

    def observe(self, index: int, anonymized_rgb: np.ndarray, mask: np.ndarray, *, found=None,
                original=None) -> None:
        """One output frame; ``found``: the run's boxes on that input frame, ``original``: that
        frame (see :func:`other_residual`)."""
        if self.wants(index):
            self._calls.call(other_residual, anonymized_rgb, mask, self.config, frame=index, found=found,
                             pool=self.tile_pool, original=original)

    def finish(self) -> list:
        """Every finding, in frame order (waits for checks still running)."""
        self._calls.finish()
        return self.found

