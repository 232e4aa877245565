"""Verdicts: the raw scores of a face or track and the decision derived from them.

Raw scores are kept apart from decisions, in the manner of
``face_recognition.face_distance`` / ``compare_faces``: a verdict stores the
distance of every attack candidate, the control, the detector score and the
landmarks the covered region misses; ``evidence`` (:func:`veil.verify.evidence.classify`:
size-calibrated threshold and control margin), ``leaks``, ``margin`` and
``status`` are derived from them. :class:`VerificationRecord` gathers a file's
verdicts, its residual findings and its escalation steps; it becomes JSON only
at the report's boundary (:meth:`VerificationRecord.to_dict`).

No verdict holds pixels or embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from . import evidence as _ev
from .threshold import IMPOSTOR_THRESHOLD

__all__ = ["PASS", "LEAK", "UNVERIFIABLE", "FILL_EDGE", "NOT_ON_ORIGINAL", "MADE_BY_COVER", "FaceVerdict",
           "TrackVerdict", "ResidualFinding", "VerificationRecord", "summarize", "provenance_text"]

PASS, LEAK, UNVERIFIABLE = "pass", "leak", "unverifiable"
#: ``ResidualFinding.reason`` of a plate/text finding gone once veil's fill is smoothed into its
#: surroundings (``veil.verify.kinds``): the detector read the fill's edge, not uncovered text.
FILL_EDGE = "gone without the edge of veil's fill"
#: ``ResidualFinding.reason`` of a face finding the same detector does not report on the original
#: (``veil.verify.residual``): the covering made it (a cover's rim beside a hand, the gaps between
#: covered heads), not a face left uncovered.
NOT_ON_ORIGINAL = "no face there on the original"
#: The reasons of findings veil's own cover made: listed with the residual detections, not counted.
MADE_BY_COVER = (FILL_EDGE, NOT_ON_ORIGINAL)


def _scores(verdict) -> dict[str, Any]:
    """The raw scores and the decision of a face or track verdict, JSON-ready."""
    return {
        "leaks": verdict.leaks,
        "distance": _r(verdict.distance),
        "threshold": _r(verdict.threshold),
        "margin": _r(verdict.margin),
        "strongest_attack": verdict.strongest_attack,
        "distances": {k: _r(v) for k, v in verdict.distances.items()},
    }


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def _held_scores(scores: Mapping[str, float | None]) -> dict[str, float]:
    """Raw scores as a report holds them; a non-finite score (a failed measurement) is no score."""
    held = {k: _r(v) for k, v in scores.items()}
    return {k: v for k, v in held.items() if v is not None}


# =============================================================================
# Verdicts (no pixels, no embeddings)
# =============================================================================
class _Decision:
    """The decision, derived from raw scores: one rule for faces and tracks.

    Subclasses provide ``evidence`` (a :class:`veil.verify.evidence.Evidence`).
    """

    @property
    def margin(self) -> float | None:
        """``distance - leak line``: positive is safe, negative leaks (None when not measured)."""
        e = self.evidence
        return None if e.distance is None or e.line is None else e.distance - e.line

    @property
    def leaks(self) -> bool:
        """True when the evidence is a leak: under the leak line, or partly covered."""
        return self.evidence.leaks

    @property
    def status(self) -> str:
        """``'pass'``, ``'leak'`` or ``'unverifiable'`` (every evidence class but leak and pass)."""
        kind = self.evidence.kind
        return LEAK if kind == _ev.LEAK else PASS if kind == _ev.PASS else UNVERIFIABLE


@dataclass(frozen=True)
class FaceVerdict(_Decision):
    """Verification of one face on one picture or frame.

    Parameters
    ----------
    box : (x1, y1, x2, y2)
        The face box on the ORIGINAL, picture pixels.
    distances : dict of str -> float
        Raw scores: embedding distance between the original and each attack
        candidate (``identity`` is the anonymized face as published).
    threshold : float
        The population threshold the face was measured with (reports); the
        decision uses the size-calibrated leak line (``evidence``).
    frame : int or None
        Frame index (video) or None (image).
    unverifiable : str or None
        Why the face could not be verified (``face_too_small``,
        ``outside_picture``, ``landmarks_failed``, ``no_face_texture``); never
        counted as a pass.
    note : str
        Human-readable detail of ``unverifiable``.
    region : {'given', 'inferred', 'none'}
        Where the covered-region mask used by the inpainting attack came from.
    elapsed_ms : float
        Time spent (alignment, attacks, embeddings).
    """

    box: tuple[float, float, float, float]
    distances: Mapping[str, float]
    threshold: float
    frame: int | None = None
    unverifiable: str | None = None
    note: str = ""
    region: str = "none"
    elapsed_ms: float = 0.0
    #: Distance between the original and a flat patch of its mean colour: the
    #: recognizer's own baseline for "no face here" (None when not measured).
    control: float | None = None
    #: Parts (``right_eye``, ``left_eye``, ``nose``) of the ORIGINAL's 5 landmarks
    #: outside the covered region (:func:`veil.verify.evidence.uncovered_landmarks`).
    uncovered: tuple[str, ...] = ()
    #: Detector confidence of the box (None: unknown, e.g. a box drawn by a person).
    score: float | None = None
    #: A video track's representative: the closest multi-frame attack's distance to THIS frame's
    #: original, judged against this frame's own control (None: no multi-frame attack).
    multi_frame: float | None = None

    def __post_init__(self) -> None:
        # Decisions are made on the scores as the report holds them (4 places, boxes 0.1 px: the
        # measurement's precision), so a decision read back from a report or a resumed run's
        # journal is the decision made.
        object.__setattr__(self, "box", tuple(round(float(v), 1) for v in self.box))
        object.__setattr__(self, "distances", _held_scores(self.distances))
        object.__setattr__(self, "threshold", float(_r(self.threshold)))
        for name, nd in (("control", 4), ("score", 3), ("multi_frame", 4)):
            object.__setattr__(self, name, _r(getattr(self, name), nd))

    # -- decisions, derived from the raw scores --------------------------------
    @property
    def evidence(self) -> "_ev.Evidence":
        """The evidence class and its number (:func:`veil.verify.evidence.classify`)."""
        return _ev.classify(distance=self.distance, control=self.control, face_width=self.box[2] - self.box[0],
                            score=self.score, unverifiable=self.unverifiable, uncovered=self.uncovered)

    @property
    def distance(self) -> float | None:
        """Smallest distance over all candidates (the strongest attack), or None."""
        return min(self.distances.values()) if self.distances else None

    @property
    def strongest_attack(self) -> str | None:
        """Name of the candidate with the smallest distance."""
        return min(self.distances, key=self.distances.get) if self.distances else None

    @property
    def verified(self) -> bool:
        return self.unverifiable is None and bool(self.distances)

    @property
    def track_id(self) -> None:
        """A photo's face belongs to no track (see :class:`TrackVerdict`)."""
        return None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FaceVerdict":
        """The inverse of :meth:`to_dict`: the raw scores back (decisions are derived again)."""
        return cls(box=tuple(float(v) for v in d["box"]), distances=dict(d.get("distances") or {}),
                   threshold=float(d["threshold"]), frame=d.get("frame"), unverifiable=d.get("unverifiable"),
                   note=d.get("note", ""), region=d.get("region", "none"), elapsed_ms=float(d.get("elapsed_ms", 0)),
                   control=d.get("control_distance"), uncovered=tuple(d.get("uncovered") or ()),
                   score=d.get("score"), multi_frame=d.get("multi_frame_distance"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, flat (the report reads these keys); never pixels or embeddings.

        ``distances`` holds the raw scores (one per attack candidate); the
        decision is ``status`` / ``leaks``, derived from ``distance`` (their
        minimum) and ``threshold``; ``margin = distance - threshold``.
        """
        out: dict[str, Any] = {"status": self.status}
        if self.frame is not None:
            out["frame"] = int(self.frame)
        out["box"] = [round(float(v), 1) for v in self.box]
        out.update(_scores(self))
        if self.unverifiable:
            out["unverifiable"] = self.unverifiable
            out["note"] = self.note
        out["region"] = self.region
        if self.control is not None:
            out["control_distance"] = _r(self.control)
        if self.uncovered:
            out["uncovered"] = list(self.uncovered)
        if self.score is not None:
            out["score"] = _r(self.score, 3)
        if self.multi_frame is not None:
            out["multi_frame_distance"] = _r(self.multi_frame)
        out["evidence"] = self.evidence.to_dict()
        out["elapsed_ms"] = round(float(self.elapsed_ms), 1)
        return out


@dataclass(frozen=True)
class TrackVerdict(_Decision):
    """Verification of one video track.

    Parameters
    ----------
    faces : tuple of FaceVerdict
        Single-frame verdicts of the representative frames.
    multi_frame : dict of str -> float
        Raw scores of the multi-frame attacks (distance to the closest
        representative original).
    frames_total, frames_usable, frames_combined : int
        Frames with a box; of them, frames whose original face was usable; of
        them, frames combined by the multi-frame attack.
    threshold : float
    track_id : int or None
    elapsed_ms : float
    """

    faces: tuple[FaceVerdict, ...]
    multi_frame: Mapping[str, float]
    threshold: float
    frames_total: int
    frames_usable: int
    frames_combined: int
    track_id: int | None = None
    elapsed_ms: float = 0.0

    def __post_init__(self) -> None:
        # As FaceVerdict: held as the report writes them.
        object.__setattr__(self, "multi_frame", _held_scores(self.multi_frame))
        object.__setattr__(self, "threshold", float(_r(self.threshold)))

    def _all_scores(self) -> list[tuple[float, str, int | None]]:
        out = [(d, name, f.frame) for f in self.faces if f.verified for name, d in f.distances.items()]
        out += [(d, name, None) for name, d in self.multi_frame.items()]
        return out

    @property
    def distance(self) -> float | None:
        s = self._all_scores()
        return min(s)[0] if s else None

    @property
    def strongest_attack(self) -> str | None:
        s = self._all_scores()
        return min(s, key=lambda t: t[0])[1] if s else None

    @property
    def strongest_frame(self) -> int | None:
        """Frame of the strongest attack (None for a multi-frame attack)."""
        s = self._all_scores()
        return min(s, key=lambda t: t[0])[2] if s else None

    @property
    def verified(self) -> bool:
        return any(f.verified for f in self.faces)

    @property
    def frame(self) -> int | None:
        """The frame the verdict shows: the strongest attack's, or the first representative's."""
        if self.strongest_frame is not None:
            return self.strongest_frame
        return self.faces[0].frame if self.faces else None

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        """The face box on :attr:`frame`, original picture pixels."""
        boxes = {f.frame: f.box for f in self.faces}
        return boxes.get(self.strongest_frame) or (self.faces[0].box if self.faces else None)

    @property
    def unverifiable(self) -> str | None:
        if self.verified:
            return None
        reasons = [f.unverifiable for f in self.faces if f.unverifiable]
        return reasons[0] if reasons else "no_usable_frame"

    @property
    def distances(self) -> dict[str, float]:
        """Raw scores per attack: the smallest over the representative frames, plus the multi-frame attacks."""
        out: dict[str, float] = {}
        for d, name, _frame in self._all_scores():
            out[name] = min(d, out.get(name, math.inf))
        return out

    @property
    def evidence(self) -> "_ev.Evidence":
        """The track's evidence, judged on its verified frames (:func:`veil.verify.evidence.combine`)."""
        per_frame = [f.multi_frame for f in self.faces if f.verified]
        if any(d is not None for d in per_frame):  # each frame's original against its own control
            return _ev.combine([f.evidence for f in self.faces], multi_frame=[f.multi_frame for f in self.faces])
        multi = min(self.multi_frame.values()) if self.multi_frame else None  # reports written before
        return _ev.combine([f.evidence for f in self.faces], multi_frame=multi)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrackVerdict":
        """The inverse of :meth:`to_dict`."""
        frames = d.get("frames") or {}
        return cls(faces=tuple(FaceVerdict.from_dict(f) for f in d.get("representatives", [])),
                   multi_frame=dict(d.get("multi_frame") or {}), threshold=float(d["threshold"]),
                   frames_total=int(frames.get("with_box", 0)), frames_usable=int(frames.get("usable", 0)),
                   frames_combined=int(frames.get("combined", 0)), track_id=d.get("track"),
                   elapsed_ms=float(d.get("elapsed_ms", 0)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, flat like :meth:`FaceVerdict.to_dict` (``frame`` is the
        frame of the strongest attack), with the representative frames and the
        multi-frame scores; never pixels or embeddings."""
        out: dict[str, Any] = {"status": self.status}
        if self.track_id is not None:
            out["track"] = int(self.track_id)
        if self.strongest_frame is not None:
            out["frame"] = int(self.strongest_frame)
        if self.box is not None:
            out["box"] = [round(float(v), 1) for v in self.box]
        out.update(_scores(self))
        if self.unverifiable:
            out["unverifiable"] = self.unverifiable
            notes = [f.note for f in self.faces if f.note]
            out["note"] = notes[0] if notes else "no frame of the track has a usable face"
        out["frames"] = {"with_box": self.frames_total, "usable": self.frames_usable,
                         "combined": self.frames_combined}
        out["multi_frame"] = {k: _r(v) for k, v in self.multi_frame.items()}
        out["evidence"] = self.evidence.to_dict()
        out["representatives"] = [f.to_dict() for f in self.faces]
        out["elapsed_ms"] = round(float(self.elapsed_ms), 1)
        return out


def provenance_text() -> str:
    """One line on where the threshold comes from, for reports."""
    from .threshold import PROVENANCE as p

    ci = p.get("ci95_bootstrap_identities") or [None, None]
    return (f"0.1% impostor quantile of {p.get('impostor_pairs', 0):,} different-person pairs "
            f"({p.get('identities')} LFW identities, dlib ResNet), 95% CI {ci[0]}-{ci[1]}, {p.get('date')}")


@dataclass(frozen=True)
class ResidualFinding:
    """A face the detector still finds in an output, outside every covered region.

    Attributes
    ----------
    box : (x1, y1, x2, y2)
        Output picture pixels.
    score : float
        Detector confidence.
    frame : int or None
        Video frame index; None for a photo.
    """

    box: tuple[float, float, float, float]
    score: float
    frame: int | None = None
    #: Why it is not counted as missed: a person decided on this face (left it visible, removed it).
    reason: str | None = None
    #: What was found: ``face``, or ``plate`` / ``text`` (their own detector's residual check).
    kind: str = "face"
    #: Found inside a cover whose pixels still follow the input's (a weak blur, a mosaic, a
    #: tint: ``veil.verify.kinds``), not outside every covered region.
    under_cover: bool = False

    @classmethod
    def from_detections(cls, dets, *, frame: int | None = None, under_cover: bool = False) -> "list[ResidualFinding]":
        """One finding per box of a :class:`veil.detections.Detections` (with its kind)."""
        from ..detections import Kind

        return [cls(tuple(float(v) for v in box), float(score), frame, kind=Kind(int(k)).label,
                    under_cover=under_cover)
                for box, score, k in zip(dets.xyxy, dets.scores, dets.kind)]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ResidualFinding":
        return cls(tuple(float(v) for v in d["box"]), float(d["score"]), d.get("frame"), d.get("reason"),
                   d.get("kind", "face"), bool(d.get("under_cover", False)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"box": [round(v, 1) for v in self.box], "score": round(self.score, 3),
                               "source": "detected"}
        if self.frame is not None:
            out["frame"] = int(self.frame)
        if self.reason is not None:
            out["reason"] = self.reason
        if self.kind != "face":
            out["kind"] = self.kind
        if self.under_cover:
            out["under_cover"] = True
        return out

    @property
    def what(self) -> str:
        """How a report names it: ``possible missed plate``, ``text still found under its cover``."""
        return f"{self.kind} still found under its cover" if self.under_cover else f"possible missed {self.kind}"


@dataclass(frozen=True)
class Counts:
    """How many faces (or tracks) got each status, and the residual findings."""

    faces: int
    passed: int
    leaked: int
    unverifiable: int
    residual: int  #: every residual finding, of any kind
    #: Residual plates / text (their detector on the output), where the run covered
    #: and checked that kind; None where it did not.
    residual_plate: int | None = None
    residual_text: int | None = None

    @property
    def measured(self) -> int:
        return self.passed + self.leaked

    def to_dict(self) -> dict[str, int]:
        out = {"faces": self.faces, "pass": self.passed, "leak": self.leaked,
               "unverifiable": self.unverifiable, "residual": self.residual}
        for name in ("residual_plate", "residual_text"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class VerificationRecord:
    """What verification found for one file: a verdict per face or track, residual
    findings, and the escalation steps of faces re-rendered stronger.

    Attributes
    ----------
    verdicts : tuple of FaceVerdict or TrackVerdict
        One per face (photo) or track (video), in report order.
    residual : tuple of ResidualFinding
    threshold : float
    escalations : mapping of int -> tuple of EscalationStep
        Index into ``verdicts`` -> the steps tried for it, in order.
    attacks : tuple of str or None
        The attacks run on each face (photos), when one set applies to all.
    excused : tuple of ResidualFinding
        Residual findings on faces a person left visible or removed, and
        findings veil's own cover made (:data:`MADE_BY_COVER`: a plate/text
        box of its fill's edge, a face not on the original), each with its
        ``reason``: listed, not counted as missed. A finding given in
        ``residual`` with a ``reason`` is moved here.
    left_visible : tuple of dict
        The faces a person left visible (``veil review``), as the edits record names them.
    """

    verdicts: tuple = ()
    residual: tuple = ()
    threshold: float = IMPOSTOR_THRESHOLD
    escalations: Mapping[int, tuple] = field(default_factory=dict)
    attacks: tuple[str, ...] | None = None
    excused: tuple = ()
    left_visible: tuple = ()
    #: Kinds beyond faces whose residual check ran (``plate``, ``text``).
    checked_kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A finding that carries a reason (the cover made it, a person decided on it) is listed,
        # never counted: given among the residual ones, it moves to the excused.
        reasoned = tuple(r for r in self.residual if r.reason is not None)
        if reasoned:
            object.__setattr__(self, "residual", tuple(r for r in self.residual if r.reason is None))
            object.__setattr__(self, "excused", tuple(self.excused) + reasoned)

    @property
    def counts(self) -> Counts:
        statuses = [v.status for v in self.verdicts]
        leaked, unverifiable = statuses.count(LEAK), statuses.count(UNVERIFIABLE)
        per_kind = {k: sum(1 for r in self.residual if r.kind == k) if k in self.checked_kinds else None
                    for k in ("plate", "text")}
        return Counts(len(self.verdicts), len(self.verdicts) - leaked - unverifiable, leaked, unverifiable,
                      len(self.residual), per_kind["plate"], per_kind["text"])

    @property
    def evidence(self) -> dict[str, Any]:
        """Faces (or tracks) by evidence class, overall and by size (:func:`veil.verify.evidence.tally`)."""
        return _ev.tally(v.evidence for v in self.verdicts)

    @property
    def verdict(self) -> str:
        """:data:`LEAK` when any face leaks or any residual face was found;
        :data:`UNVERIFIABLE` when faces exist but none could be measured;
        :data:`PASS` otherwise (faces that could not be measured are counted, never hidden)."""
        counts = self.counts
        if counts.leaked or counts.residual:
            return LEAK
        if counts.faces and counts.unverifiable == counts.faces:
            return UNVERIFIABLE
        return PASS

    @property
    def leaks(self) -> bool:
        return self.verdict == LEAK

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "VerificationRecord":
        """The inverse of :meth:`to_dict`. Escalation steps come back as their text."""
        verdicts = tuple((TrackVerdict if "representatives" in f else FaceVerdict).from_dict(f) for f in d["faces"])
        escalations = {i: tuple(f["escalation"]) for i, f in enumerate(d["faces"]) if f.get("escalation")}
        attacks = tuple(d["attacks"]) if d.get("attacks") is not None else None
        return cls(verdicts, tuple(ResidualFinding.from_dict(r) for r in d.get("residual", [])),
                   float(d["threshold"]), escalations, attacks,
                   tuple(ResidualFinding.from_dict(r) for r in d.get("excused", [])),
                   tuple(d.get("left_visible", [])), tuple(d.get("checked_kinds", [])))

    def to_dict(self) -> dict[str, Any]:
        """The report's ``verification`` object (docs/REPORT.md)."""
        faces = [v.to_dict() for v in self.verdicts]
        for index, steps in self.escalations.items():
            faces[index]["escalation"] = [str(step) for step in steps]
        out = {
            "verdict": self.verdict,
            "threshold": _r(self.threshold),
            "threshold_provenance": provenance_text(),
            "leak_rule": _ev.rule_text(),
            "counts": self.counts.to_dict(),
            "evidence": self.evidence,
            "faces": faces,
            "residual": [r.to_dict() for r in self.residual],
        }
        if self.attacks is not None:
            out["attacks"] = list(self.attacks)
        if self.checked_kinds:
            out["checked_kinds"] = list(self.checked_kinds)
        if self.excused or self.left_visible:
            out["counts"].update(excused=len(self.excused), left_visible=len(self.left_visible))
            out["excused"] = [r.to_dict() for r in self.excused]
            out["left_visible"] = [dict(entry) for entry in self.left_visible]
        return out


def summarize(verdicts: Sequence["FaceVerdict | TrackVerdict"], *, residual: Sequence[ResidualFinding] = (),
              threshold: float | None = None) -> VerificationRecord:
    """A file's :class:`VerificationRecord` from its verdicts and residual findings."""
    return VerificationRecord(tuple(verdicts), tuple(residual),
                              IMPOSTOR_THRESHOLD if threshold is None else float(threshold))
