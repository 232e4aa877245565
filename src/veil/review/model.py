"""What a person reviews in one file, built from its report entry: items, flags, boxes.

Pure functions over the JSON report (``veil-report/1``). Every item is named
as the edits file names it (:class:`veil.edits.ItemRef`), and the items are
ordered by what needs a person's eyes first: possible missed faces, leaks,
faces that could not be measured, tracks with gaps, then everything else.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from ..config import Config, RegionShape
from ..detections import Detections, Kind, Source
from ..edits import ItemRef
from ..region import head_regions
from ..verify.evidence import LOW_CONFIDENCE
from ..verify.verdicts import FILL_EDGE, MADE_BY_COVER, NOT_ON_ORIGINAL

__all__ = ["PRIORITIES", "NEEDS_EYES_BELOW", "base_frames", "frame_rows", "items_for", "ReportError"]

#: Flag -> rank: lower needs a person's eyes first.
#: Items below 4 need a person's eyes (listed first); "unsure" (a detection the detector doubts is a
#: face: covered, not measured) is listed with the rest: deleting a hand is tidying, not checking,
#: and on crowd photos such detections are most of the items.
PRIORITIES = {"residual": 0, "leak": 1, "partly_covered": 1, "unverifiable": 2, "gaps": 3, "unsure": 4, "other": 4}
#: An item (or a file) whose priority is under this needs a person's eyes; the page reads the
#: ``needs_eyes`` the model sets from it, never the number.
NEEDS_EYES_BELOW = 4


class ReportError(ValueError):
    """A report entry that the review app cannot use (too old, incomplete)."""


def _detections(records: Sequence[dict]) -> Detections:
    if not records:
        return Detections.empty()
    return Detections([r["box"] for r in records], scores=[r.get("score", 1.0) for r in records],
                      track_id=[r.get("track", -1) for r in records],
                      source=[int(Source[r.get("source", "detected").upper()]) for r in records],
                      kind=[int(Kind.parse(r.get("kind", "face"))) for r in records])


def base_frames(entry: dict) -> list[Detections]:
    """What the run found in one file, per frame (a photo: one), before any edit.

    Raises
    ------
    ReportError
        The entry lacks the detections (a report older than the review app).
    """
    regions = entry.get("regions") or {}
    if entry.get("kind") == "image":
        if "detections" not in regions:
            raise ReportError("the report lists no detections for this photo")
        return [_detections(regions["detections"])]
    if "detections_by_frame" not in regions:
        raise ReportError("the report was made by an older veil (no detections per frame): run veil anonymize again")
    frames = [Detections.empty()] * int(entry["frames"])
    for key, records in regions["detections_by_frame"].items():
        frames[int(key)] = _detections(records)
    return frames


def _round(values) -> list[float]:
    return [round(float(v), 1) for v in values]


def frame_rows(dets: Detections, config: Config) -> list[list]:
    """One frame's boxes for the page: ``[box (4), region box (4), track, source, score, kind]``
    (kind: a :class:`~veil.detections.Kind` value; plates and text are covered as boxes).

    A track's region drawn as a rectangle (plates and text; faces with ``--shape box``) that lies
    inside another of the same track's on that frame is left out: the tracker's and the held
    boxes around a detection add nothing to what is covered there, only lines on the page.
    """
    regions = head_regions(dets, scale=config.region_scale, shape=config.region_shape)
    boxes = regions.boxes.astype(np.float64)
    rect = (dets.kind != Kind.FACE) | (config.region_shape == RegionShape.BOX)
    inside = ((boxes[:, None, :2] >= boxes[None, :, :2]) & (boxes[:, None, 2:] <= boxes[None, :, 2:])).all(axis=2)
    same = (dets.track_id[:, None] == dets.track_id[None, :]) & (dets.track_id[:, None] >= 0) & rect[:, None] & rect
    np.fill_diagonal(same, False)
    # i is left out when inside a j of its track; of two equal rectangles the first stays
    hidden = (same & inside & (~inside.T | (np.arange(len(dets))[None, :] < np.arange(len(dets))[:, None]))).any(axis=1)
    return [_round(dets.xyxy[i]) + _round(regions.boxes[i]) + [int(dets.track_id[i]), int(dets.source[i]),
                                                               round(float(dets.scores[i]), 3), int(dets.kind[i])]
            for i in np.flatnonzero(~hidden)]


def _verdict(face: dict | None) -> dict | None:
    if not face:
        return None
    out = {k: face.get(k) for k in ("status", "distance", "margin", "threshold", "note", "strongest_attack",
                                    "unverifiable", "uncovered") if face.get(k) is not None}
    evidence = face.get("evidence") or {}  # veil >= 0.2: the evidence class and its sentence
    if evidence.get("evidence"):
        out.update(evidence=evidence["evidence"], evidence_note=evidence.get("note", ""))
    return out


def _flags(verdict: dict | None, gaps: int = 0) -> list[str]:
    flags = []
    if verdict and verdict.get("status") == "leak":
        flags.append("leak")
        if verdict.get("uncovered"):  # the region misses an eye or the nose: redraw it
            flags.append("partly_covered")
    elif verdict and verdict.get("status") == "unverifiable":
        flags.append("unsure" if verdict.get("evidence") == LOW_CONFIDENCE else "unverifiable")
    if gaps:
        flags.append("gaps")
    return flags or ["other"]


def _item(ref: ItemRef, kind: str, label: str, flags: list[str], region, **extra) -> dict:
    flags = sorted(flags, key=PRIORITIES.__getitem__)  # the first says why it is listed where it is
    item = {"key": ref.key, "ref": ref.to_dict(), "kind": kind, "label": label, "flags": flags,
            "priority": PRIORITIES[flags[0]], "needs_eyes": PRIORITIES[flags[0]] < NEEDS_EYES_BELOW,
            "frame": ref.frame, "box": list(ref.to_dict()["box"]),
            "region": _round(region)}
    item.update(extra)
    return item


def _photo_items(entry: dict, dets: Detections, config: Config) -> list[dict]:
    # Verdicts name their face by its box (after edits, not every detection has one).
    faces = {tuple(_round(f["box"])): f for f in (entry.get("verification") or {}).get("faces") or []
             if f.get("box")}
    regions = head_regions(dets, scale=config.region_scale, shape=config.region_shape)
    items = []
    for i in range(len(dets)):
        if dets.source[i] == Source.MANUAL:
            continue
        verdict = _verdict(faces.get(tuple(_round(dets.xyxy[i]))))
        ref = ItemRef(tuple(float(v) for v in dets.xyxy[i]), detection=i)
        what = Kind(int(dets.kind[i])).label
        items.append(_item(ref, "detection", f"{what} {i + 1}", _flags(verdict), regions.boxes[i],
                           score=round(float(dets.scores[i]), 3), verdict=verdict, what=what))
    return items


def _track_items(entry: dict, frames: list[Detections], config: Config) -> list[dict]:
    verdicts = {f.get("track"): f for f in (entry.get("verification") or {}).get("faces") or []}
    items = []
    for track in entry.get("tracks") or []:
        tid = int(track["id"])
        # The track's largest detected box names it (and is where to look).
        best = None
        for runs in track.get("detected") or [[track["first"], track["last"]]]:
            for i in range(runs[0], runs[1] + 1):
                d = frames[i]
                rows = np.flatnonzero((d.track_id == tid) & (d.source == Source.DETECTED))
                for r in rows:
                    area = float(d.widths[r] * d.heights[r])
                    if best is None or area > best[0]:
                        best = (area, i, r)
        if best is None:
            continue
        _, frame, row = best
        d = frames[frame]
        region = head_regions(d[[row]], scale=config.region_scale, shape=config.region_shape).boxes[0]
        verdict = _verdict(verdicts.get(tid))
        gaps = sum(b - a + 1 for a, b in track.get("interpolated") or [])
        ref = ItemRef(tuple(float(v) for v in d.xyxy[row]), track=tid, frame=frame)
        what = Kind.parse(track.get("kind", "face")).label
        items.append(_item(ref, "track", f"track {tid}" if what == "face" else f"{what} track {tid}",
                           _flags(verdict, gaps), region, what=what,
                           track=tid, first=int(track["first"]), last=int(track["last"]), gaps=gaps,
                           score=round(float(d.scores[row]), 3), verdict=verdict))
    for i, d in enumerate(frames):  # boxes that joined no track
        for r in np.flatnonzero((d.track_id < 0) & (d.source != Source.MANUAL)):
            ref = ItemRef(tuple(float(v) for v in d.xyxy[r]), frame=i)
            region = head_regions(d[[r]], scale=config.region_scale, shape=config.region_shape).boxes[0]
            what = Kind(int(d.kind[r])).label
            items.append(_item(ref, "box", f"{'' if what == 'face' else what + ' '}box on frame {i}", ["other"], region,
                               score=round(float(d.scores[r]), 3), what=what))
    return items


def _residual_items(entry: dict, config: Config) -> list[dict]:
    video = entry.get("kind") == "video"
    verification = entry.get("verification") or {}
    # Findings veil's own cover made are not counted but shown (last); a person's own
    # decisions (the other excused findings) are not asked again.
    # Which findings the cover made is verdicts.MADE_BY_COVER's rule; here only their words:
    # (label, the short tag drawn on the picture).
    made = {FILL_EDGE: ("{} at the edge of veil's fill{} (not counted)", "fill edge?"),
            NOT_ON_ORIGINAL: ("{} not on the original{} (not counted)", "not on original?")}
    shown = [(r, ("{} still found under its cover{}", "legible {}?") if r.get("under_cover") else
              ("possible missed {}{}", "missed {}?"), ["residual"]) for r in verification.get("residual") or []]
    shown += [(r, made[r["reason"]], ["other"]) for r in verification.get("excused") or []
              if r.get("reason") in MADE_BY_COVER]
    items = []
    for r, (label, tag), flags in shown:
        ref = ItemRef(tuple(float(v) for v in r["box"]), frame=r.get("frame") if video else None, residual=True)
        what = r.get("kind", "face")
        region = head_regions(Detections([r["box"]], kind=[Kind.parse(what)]), scale=config.region_scale,
                              shape=config.region_shape).boxes[0]
        where = f" on frame {r['frame']}" if video else ""
        items.append(_item(ref, "residual", label.format(what, where), flags, region, score=r.get("score"), what=what,
                           tag=tag.format(what), under_cover=bool(r.get("under_cover"))))
    return items


def items_for(entry: dict, frames: list[Detections], config: Config) -> list[dict]:
    """Every item of one file, ordered by what needs a person's eyes first.

    Parameters
    ----------
    entry : dict
        The file's report entry.
    frames : list of Detections
        :func:`base_frames` of it.
    config : Config
        The run's settings (head regions are drawn with its scale and shape).

    Returns
    -------
    list of dict
        ``key`` (as in edits), ``ref`` (the edits item), ``kind`` (``detection``,
        ``track``, ``box``, ``residual``), ``label``, ``flags``, ``priority``,
        ``frame``, ``box``, ``region``, ``what`` (``face``, ``plate``, ``text``), and
        per kind ``track``, ``first``, ``last``, ``gaps``, ``score``, ``verdict``.
    """
    if entry.get("kind") == "image":
        items = _photo_items(entry, frames[0], config)
    else:
        items = _track_items(entry, frames, config)
    items = _residual_items(entry, config) + items
    return sorted(items, key=lambda it: (it["priority"], it.get("frame") or 0, _natural(it["key"])))


def _natural(key: str) -> tuple:
    """``det:2`` before ``det:10`` (a list of faces reads 1, 2, ... 10, not 1, 10, 11, ... 2)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key))
