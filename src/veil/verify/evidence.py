"""What verification can say about one face: an evidence class, with a number.

Raw scores come from :mod:`veil.verify.measure` (``FaceVerdict.distance``,
the strongest attack; ``FaceVerdict.control``, the original against the
closest flat patch), the face width in picture pixels, the detector's score and
the landmarks the covered region misses (``FaceVerdict.uncovered``). This
module only *decides*, with pure functions over those numbers, in the manner
of ``face_recognition.face_distance`` (scores) / ``compare_faces`` (decision);
:class:`veil.verify.verdicts.FaceVerdict` and ``TrackVerdict`` derive their
``evidence``, ``leaks`` and ``status`` from :func:`classify`.

Classes (each with its number):

``leak``
    The strongest attack's distance is under the *leak line*:
    ``min(size_threshold(w), control - LEAK_MARGIN)``. Under the size
    threshold, the covered face is as close to its original as fewer than 1
    in 1,000 pairs of different people of that size are; ``LEAK_MARGIN``
    under the control, it is closer to the original than "no face at all" by
    more than a face-free cover ever came (veil's fill and noise, measured:
    ``bench/verification_evidence.py``). Number: ``distance - line`` (< 0).
``pass``
    Measured, not under the line, and the line is at least ``MIN_LINE``:
    high enough that a cover which keeps the face (a Gaussian blur of 2% of
    the face width) is caught. Number: ``distance - line``.
``indistinct``
    Measured, not under the line, but the line is under ``MIN_LINE``: the
    recognizer barely tells the original from a flat patch (a low control:
    dark, masked, turned away, or not a face), so only a cover that leaves
    almost all of the face could be caught. Number: the control distance.
``too_small``
    Narrower than veil measures (``MIN_FACE_PX``). Number: how often even the
    UNCOVERED face at this width matches another photo of the same person
    (:func:`match_rate`, LFW scaled down: ``bench/calibrate_sizes.py``).
``low_confidence``
    The detector is not sure it is a face (score < ``MIN_DETECTOR_SCORE``):
    covered, not measured. Number: the score.
A face whose eyes or nose lie outside the covered region (its 5-point
landmarks on the ORIGINAL, :func:`uncovered_landmarks`) is a ``leak`` with
reason ``partly_covered`` whatever the distances say: a region that misses
the eyes shows them. Number: how many parts (an eye, the nose) it misses.

``not_measurable``
    Landmarks failed, the face is mostly outside the picture, or the original
    is flat. Number: none; the reason is kept.

Size tables (:mod:`veil.verify.size_calibration`) are interpolated linearly in
``log(width)`` between calibrated widths and clamped outside them (below the
smallest row a match rate is an upper bound: fewer pixels never help).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from . import size_calibration as _cal

__all__ = [
    "LEAK", "PASS", "INDISTINCT", "TOO_SMALL", "LOW_CONFIDENCE", "NOT_MEASURABLE", "EVIDENCE_CLASSES",
    "MEASURED", "LEAK_MARGIN", "MIN_LINE", "MIN_DETECTOR_SCORE", "MIN_FACE_PX", "RECOGNIZABLE_MATCH_RATE",
    "Evidence", "classify", "size_threshold", "match_rate", "leak_line", "recognizable",
    "uncovered_landmarks", "LANDMARK_PARTS", "PARTLY_COVERED", "LOW_CONFIDENCE_REASON", "SIZE_BINS", "size_bin",
    "tally", "rule_text", "combine",
]

LEAK, PASS, INDISTINCT, TOO_SMALL, LOW_CONFIDENCE, NOT_MEASURABLE = (
    "leak", "pass", "indistinct", "too_small", "low_confidence", "not_measurable")
#: Every class, most serious first (reports list them in this order).
EVIDENCE_CLASSES = (LEAK, PASS, INDISTINCT, TOO_SMALL, LOW_CONFIDENCE, NOT_MEASURABLE)
# A not-measurable face's reason code (FaceVerdict.unverifiable) in words, for its note.
_REASON_WORDS = {
    "outside_picture": "less than half of the face box lies in the picture",
    "landmarks_failed": "the recognizer could not place the eyes and nose",
    "no_face_texture": "the original face is flat (no detail to recognise)",
    "no_distance": "no distance was measured",
    "no_usable_frame": "no frame of the track could be measured",
    "face_too_small": "too small to measure",
}
#: Classes that carry a measured distance.
MEASURED = frozenset({LEAK, PASS, INDISTINCT})

#: A leak is also this far under the control. Face-free covers (veil's fill and
#: noise) came at most 0.161 under it on the dev sets (noise; fill 0.123), so
#: 0.18 keeps a 0.02 buffer; a 2%-of-face-width blur came >= 0.23 under it on
#: faces whose control clears the size threshold by the margin
#: (bench/RESULTS.md, issue 13).
LEAK_MARGIN = 0.18
#: A measured face whose leak line is under this is ``indistinct``, not a pass:
#: a 2%-of-face-width blur was caught on 99.6% of the faces whose line reached
#: 0.40 (547 faces, dev sets and scaled LFW), on fewer under it.
MIN_LINE = 0.40
#: Detections under this confidence are covered but not measured: a distance
#: to something that may not be a face (a hand, a lamp) means nothing.
MIN_DETECTOR_SCORE = 0.5
#: Faces narrower or shorter than this (picture pixels) are not measured.
MIN_FACE_PX = 20
#: ``FaceVerdict.unverifiable`` of a box under :data:`MIN_DETECTOR_SCORE` (covered, not measured).
LOW_CONFIDENCE_REASON = "low_confidence"
#: A width is "recognizable" when uncovered faces of that width match another
#: photo of the same person at least this often: one time in four is a real risk
#: to the person (weak covers must be caught there). On LFW: from ~15 px up.
RECOGNIZABLE_MATCH_RATE = 0.25

#: Face-width bins (picture pixels, half-open) of the report's headline.
SIZE_BINS = ((0.0, float(MIN_FACE_PX)), (float(MIN_FACE_PX), 32.0), (32.0, 64.0), (64.0, math.inf))

#: dlib's 5 points: two corners of each eye, then the base of the nose
#: (the names of ``face_recognition.face_landmarks(model='small')``).
LANDMARK_PARTS = {"right_eye": (0, 1), "left_eye": (2, 3), "nose": (4,)}
#: ``Evidence.reason`` of a leak found by the landmarks, not the recognizer.
PARTLY_COVERED = "partly_covered"

_LOG_W = np.log(np.asarray(_cal.SIZES_PX, np.float64))


def _interp(table, face_width: float) -> float:
    w = float(face_width)
    if not math.isfinite(w) or w <= 0:
        raise ValueError(f"face width must be a positive number of pixels, not {face_width!r}")
    return float(np.interp(math.log(w), _LOG_W, np.asarray(table, np.float64)))


def size_threshold(face_width: float) -> float:
    """Impostor threshold (0.1% quantile) for a face this many pixels wide.

    Parameters
    ----------
    face_width : float
        Width of the face box on the ORIGINAL picture, pixels (> 0).

    Returns
    -------
    float
        Interpolated in log(width) between calibrated rows; the nearest row
        outside them.
    """
    return _interp(_cal.THRESHOLDS, face_width)


def match_rate(face_width: float) -> float:
    """Share of same-person pairs of UNCOVERED faces of this width under its threshold (0-1)."""
    return _interp(_cal.MATCH_RATES, face_width)


def recognizable(face_width: float) -> bool:
    """True where uncovered faces of this width match another photo of the same person often enough."""
    return match_rate(face_width) >= RECOGNIZABLE_MATCH_RATE


def leak_line(control: float | None, face_width: float, *, margin: float | None = None) -> float:
    """Distance under which a covered face leaks: ``min(size threshold, control - margin)``.

    ``margin`` defaults to :data:`LEAK_MARGIN`. Without a control (not
    measured), the size threshold alone.
    """
    thr = size_threshold(face_width)
    if control is None or not math.isfinite(control):
        return thr
    return min(thr, float(control) - (LEAK_MARGIN if margin is None else float(margin)))


def uncovered_landmarks(points: np.ndarray, covered: np.ndarray, *, tolerance: int = 1) -> tuple[str, ...]:
    """Parts of the face (eyes, nose) that the covered region misses.

    Parameters
    ----------
    points : (5, 2) array_like of float
        dlib's 5 landmarks ``(x, y)`` on the ORIGINAL picture, picture pixels
        (:data:`LANDMARK_PARTS` gives their order).
    covered : (H, W) ndarray of bool
        Pixels the anonymizer covered.
    tolerance : int, keyword-only
        A point counts as covered when any covered pixel lies within this many
        pixels of it (rounding of the landmarks and of the region's edge).

    Returns
    -------
    tuple of str
        Names of :data:`LANDMARK_PARTS` with at least one point uncovered, in
        that order; empty when all are covered. Points outside the picture
        show nothing and count as covered.

    Examples
    --------
    >>> m = np.zeros((100, 100), bool); m[40:80, 20:80] = True
    >>> uncovered_landmarks([[30, 35], [40, 35], [60, 35], [70, 35], [50, 55]], m)
    ('right_eye', 'left_eye')
    """
    p = np.asarray(points, np.float64)
    if p.shape != (5, 2) or not np.all(np.isfinite(p)):
        raise ValueError(f"points must be (5, 2) finite landmarks, got {p.shape}")
    m = np.asarray(covered)
    if m.ndim != 2 or m.dtype != bool:
        raise ValueError(f"covered must be an (H, W) bool mask, got {m.shape} {m.dtype}")
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    h, w = m.shape
    t = int(tolerance)
    seen = []
    for x, y in np.rint(p).astype(int):
        if not (0 <= x < w and 0 <= y < h):
            seen.append(False)
            continue
        seen.append(not m[max(y - t, 0):y + t + 1, max(x - t, 0):x + t + 1].any())
    return tuple(name for name, idx in LANDMARK_PARTS.items() if any(seen[i] for i in idx))


@dataclass(frozen=True)
class Evidence:
    """The evidence class of one face and its number (no pixels, no embeddings).

    Parameters
    ----------
    kind : str
        One of :data:`EVIDENCE_CLASSES`.
    value : float or None
        ``leak``/``pass``: ``distance - line``; ``indistinct``: the control;
        ``too_small``: the match rate at this width (0-1); ``low_confidence``:
        the detector score; ``not_measurable``: None.
    face_width : float
        Face box width on the original, pixels.
    distance, control, line, threshold : float or None
        The raw scores and the line they were judged against.
    match_rate : float
        Uncovered faces of this width matching another photo of the same person (0-1).
    reason : str or None
        Why a face is ``not_measurable`` (``landmarks_failed``, ...), or
        :data:`PARTLY_COVERED` for a leak found by the landmarks.
    parts : tuple of str
        Landmark parts the covered region misses (:func:`uncovered_landmarks`).
    """

    kind: str
    value: float | None
    face_width: float
    distance: float | None = None
    control: float | None = None
    line: float | None = None
    threshold: float | None = None
    match_rate: float = 0.0
    reason: str | None = None
    parts: tuple[str, ...] = ()

    @property
    def measured(self) -> bool:
        return self.kind in MEASURED

    @property
    def leaks(self) -> bool:
        return self.kind == LEAK

    @property
    def note(self) -> str:
        """One sentence for a person."""
        w, m = self.face_width, 100 * self.match_rate
        if self.reason == PARTLY_COVERED:
            misses = f"the covered region misses the {' and '.join(p.replace('_', ' ') for p in self.parts)}"
            if self.distance is None or self.line is None:
                return misses
            if self.distance < self.line:  # the stronger finding first
                return (f"it still matches its original (distance {self.distance:.3f} under the leak line "
                        f"{self.line:.3f}), and {misses}")
            return f"{misses} (its distance {self.distance:.3f} alone would pass the leak line {self.line:.3f})"
        if self.kind in (LEAK, PASS):
            rel = "under" if self.kind == LEAK else "above"
            control = "" if self.control is None else f", control {self.control:.3f}"
            return (f"distance {self.distance:.3f} is {abs(self.value):.3f} {rel} the leak line {self.line:.3f} "
                    f"(size threshold {self.threshold:.3f} at {w:.0f} px{control})")
        if self.kind == INDISTINCT and self.line is None:
            return f"the recognizer cannot tell this original from a flat patch (control {self.control:.3f})"
        if self.kind == INDISTINCT:
            return (f"the recognizer barely tells this original from a flat patch (control {self.control:.3f}): "
                    f"no leak down to {self.line:.3f}, too low a line to catch a weak cover (< {MIN_LINE:.2f})")
        if self.kind == TOO_SMALL:
            bound = "at most " if w < _cal.SIZES_PX[0] else ""
            return (f"{w:.0f} px wide: at this size even the uncovered face matches another photo of the same "
                    f"person only {bound}{m:.0f}% of the time; not measured")
        if self.kind == LOW_CONFIDENCE:
            score = "" if self.value is None else f" {self.value:.2f}"
            return f"detector confidence{score} < {MIN_DETECTOR_SCORE:.2f}: may not be a face; covered, not measured"
        return f"not measurable: {_REASON_WORDS.get(self.reason, self.reason or 'unknown')}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; floats rounded to 4 places."""
        out: dict[str, Any] = {"evidence": self.kind, "value": _r(self.value), "face_width": _r(self.face_width, 1),
                               "match_rate": _r(self.match_rate)}
        for key in ("distance", "control", "line", "threshold"):
            if getattr(self, key) is not None:
                out[key] = _r(getattr(self, key))
        if self.reason:
            out["reason"] = self.reason
        if self.parts:
            out["uncovered"] = list(self.parts)
        out["note"] = self.note
        return out


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def classify(*, distance: float | None, control: float | None, face_width: float, score: float | None = None,
             unverifiable: str | None = None, uncovered: tuple[str, ...] = (),
             margin: float | None = None) -> Evidence:
    """The evidence class of one face from its raw scores.

    Parameters
    ----------
    distance : float or None, keyword-only
        Strongest attack's embedding distance (``FaceVerdict.distance``); None when not measured.
    control : float or None, keyword-only
        Original vs the closest flat patch (``FaceVerdict.control``).
    face_width : float, keyword-only
        Face box width on the original, picture pixels (an empty box is ``too_small``).
    score : float or None, keyword-only
        Detector confidence; None when unknown (a face drawn by hand, another tool's output).
    unverifiable : str or None, keyword-only
        ``FaceVerdict.unverifiable`` (``face_too_small``, ``landmarks_failed``, ``low_confidence``, ...).
    uncovered : tuple of str, keyword-only
        :func:`uncovered_landmarks` of the face (empty: all covered, or not checked).
    margin : float or None, keyword-only
        The control margin; :data:`LEAK_MARGIN` when None (other values: benchmarks).

    Returns
    -------
    Evidence

    Examples
    --------
    >>> classify(distance=0.2, control=0.8, face_width=64).kind
    'leak'
    >>> classify(distance=0.45, control=0.52, face_width=30).kind  # a filled face the recognizer barely saw
    'indistinct'
    >>> classify(distance=None, control=None, face_width=12, unverifiable='face_too_small').kind
    'too_small'
    """
    w = float(face_width) if face_width is not None and math.isfinite(face_width) else 0.0
    rate = match_rate(max(w, 1.0))  # an empty box is "too small", not an error
    base = {"face_width": max(w, 0.0), "match_rate": rate}
    if (score is not None and score < MIN_DETECTOR_SCORE) or unverifiable == LOW_CONFIDENCE_REASON:
        return Evidence(LOW_CONFIDENCE, None if score is None else float(score), **base)
    if unverifiable == "face_too_small" or w < MIN_FACE_PX:
        return Evidence(TOO_SMALL, rate, **base)
    thr = size_threshold(w)
    if uncovered:  # a leak whatever the distance; the distance is kept to say whether it matches too
        scores = {}
        if distance is not None and unverifiable is None:
            scores = {"distance": float(distance), "control": control, "threshold": thr,
                      "line": leak_line(control, w, margin=margin)}
        return Evidence(LEAK, float(len(uncovered)), reason=PARTLY_COVERED, parts=tuple(uncovered), **scores, **base)
    if unverifiable == INDISTINCT and control is not None:  # reports of veil <= 0.1: attacks skipped
        return Evidence(INDISTINCT, float(control), control=float(control), threshold=thr, **base)
    if distance is None or unverifiable is not None:
        return Evidence(NOT_MEASURABLE, None, reason=unverifiable or "no_distance", **base)
    line = leak_line(control, w, margin=margin)
    d = float(distance)
    scores = {"distance": d, "control": control, "line": line, "threshold": thr}
    if d < line:
        return Evidence(LEAK, d - line, **scores, **base)
    if line < MIN_LINE:  # too low to catch even a weak cover: no evidence of a pass
        return Evidence(INDISTINCT, float(control) if control is not None else None, **scores, **base)
    return Evidence(PASS, d - line, **scores, **base)


def combine(frames: Sequence[Evidence], *, multi_frame: "float | Sequence[float | None] | None" = None
            ) -> Evidence:
    """The evidence of a video track from the evidence of its verified frames.

    A frame whose covered region misses the eyes or nose makes the track a
    leak (``partly_covered``). Otherwise each measured frame is judged against
    its own leak line, and so is the multi-frame attacks' distance to that
    frame's original (against its own control: a distance to one frame's
    original judged with another frame's control called a dark, barely
    visible face a leak); the track leaks when any of them does (the deepest
    leak is returned), else passes on its closest pass, else takes its first
    frame's class.

    Parameters
    ----------
    frames : sequence of Evidence
        One per representative frame, in the track's order.
    multi_frame : sequence of float or None, or float, keyword-only
        Per frame of ``frames``, the multi-frame attacks' smallest distance to
        that frame's original (None: not compared). A single float, as reports
        written before held it, is judged against the highest line of the
        frames (the one most ready to call a leak). None: not run.

    Returns
    -------
    Evidence
    """
    if not frames:
        return Evidence(NOT_MEASURABLE, None, face_width=0.0, reason="no_usable_frame")
    for e in frames:
        if e.reason == PARTLY_COVERED:
            return e
    judged = [e for e in frames if e.line is not None]
    if isinstance(multi_frame, (list, tuple)):
        judged += [classify(distance=d, control=e.control, face_width=e.face_width)
                   for e, d in zip(frames, multi_frame) if d is not None and e.line is not None]
    elif multi_frame is not None and judged:
        ref = max(judged, key=lambda e: e.line)
        judged.append(classify(distance=multi_frame, control=ref.control, face_width=ref.face_width))
    for kind in (LEAK, PASS):
        found = [e for e in judged if e.kind == kind]
        if found:
            return min(found, key=lambda e: e.value)
    return judged[0] if judged else frames[0]


def size_bin(face_width: float) -> str:
    """Name of the :data:`SIZE_BINS` bin of a width: ``'<20'``, ``'20-32'``, ``'32-64'``, ``'>=64'``."""
    w = float(face_width)
    for lo, hi in SIZE_BINS:
        if lo <= w < hi:
            return _bin_name(lo, hi)
    raise ValueError(f"face width must be >= 0, not {face_width!r}")


def _bin_name(lo: float, hi: float) -> str:
    return f"<{hi:g}" if lo == 0 else f">={lo:g}" if hi == math.inf else f"{lo:g}-{hi:g}"


def tally(evidence: Iterable[Evidence]) -> dict[str, Any]:
    """Faces by evidence class, overall and by size bin (for a report's headline).

    Returns
    -------
    dict
        ``{"faces": n, "by_class": {class: n}, "by_size": {bin: {class: n}}}``
        with every class and bin present (zeros included), in
        :data:`EVIDENCE_CLASSES` / :data:`SIZE_BINS` order.
    """
    by_size = {_bin_name(lo, hi): dict.fromkeys(EVIDENCE_CLASSES, 0) for lo, hi in SIZE_BINS}
    by_class = dict.fromkeys(EVIDENCE_CLASSES, 0)
    n = 0
    for e in evidence:
        by_class[e.kind] += 1
        by_size[size_bin(e.face_width)][e.kind] += 1
        n += 1
    return {"faces": n, "by_class": by_class, "by_size": by_size}


def rule_text() -> str:
    """One line on the leak rule and where its numbers come from, for reports."""
    p, sizes, thr = _cal.PROVENANCE, _cal.SIZES_PX, _cal.THRESHOLDS
    return (f"leak: distance under min(size threshold, control - {LEAK_MARGIN:.2f}), or eyes/nose outside the "
            f"covered region; size thresholds {thr[0]:.3f} at {sizes[0]} px to {thr[-1]:.3f} at {sizes[-1]} px "
            f"(0.1% impostor quantile, LFW scaled down, {p.get('identities')} identities, {p.get('date')}); "
            f"a measured face whose line is under {MIN_LINE:.2f} is indistinct, not a pass")
