"""Apply one file's edits to what the run found: a pure function on per-frame boxes.

The pipeline calls :func:`apply_edits` on a photo's detections (after
detection) or a video's tracked boxes (after tracking), before head regions
are made; everything downstream (regions, cover, verification, report) then
sees the edited boxes. :func:`excuse_left_visible` takes faces a person chose
to leave visible out of the residual-face check, which would otherwise flag
them as missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import RegionShape
from ..detections import Detections, Kind, Source, box_iou
from ..errors import VeilError
from ..region import head_regions
from .model import SCHEMA, AddedRegion, FileEdits, ItemRef

__all__ = ["MATCH_IOU", "AppliedEdits", "apply_edits", "excuse_left_visible", "LEFT_VISIBLE_NOTE", "REMOVED_NOTE"]

#: An edit holds when the run's box overlaps the box it was made on this much.
#: The same settings give the same boxes (rounded to 0.1 px in the files), so
#: anything lower means the detections changed and the edit could hit another face.
MATCH_IOU = 0.9
LEFT_VISIBLE_NOTE = "left visible by a person: not covered, not verified"
REMOVED_NOTE = "removed by a person as a false detection: not covered"
# A drawn box covered in an ellipse run: the ellipse through the box's corners
# (semi-axes times sqrt(2)) is the smallest with the box's centre and aspect that holds it.
_CIRCUMSCRIBE = float(np.sqrt(2.0))


@dataclass(frozen=True, eq=False)
class AppliedEdits:
    """What :func:`apply_edits` returns.

    Attributes
    ----------
    frames : list of Detections
        Per frame, the boxes to cover: the run's boxes less those removed or
        left visible, then extension boxes (``PADDED``), then drawn regions
        (``MANUAL``, last on every frame, covered as drawn).
    left_visible : list of Detections
        Per frame, the run's boxes a person chose to leave visible.
    removed : list of Detections
        Per frame, the run's boxes a person removed (false detections: not a face, plate or text).
    kinds : tuple of int
        What is covered after the edits, one :class:`~veil.detections.Kind` per
        thing: each track, box in no track (photo: detection) and drawn region.
    record : dict
        The report's ``review`` record (see docs/REPORT.md).
    """

    frames: list
    left_visible: list
    removed: list
    kinds: tuple
    record: dict

    @property
    def faces(self) -> int:
        """Faces covered after the edits (plates and text are counted apart: ``kinds``)."""
        return sum(k == Kind.FACE for k in self.kinds)


def _fail(ref: ItemRef, message: str):
    raise VeilError(f"edits: {ref.key} {message}; the detections differ from those the edits were made on: "
                    "review this file again")


def _track_rows(frames: Sequence[Detections]) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Per track id, its [(frame, row indices)] in frame order: one pass over the boxes, so that
    matching many edits (every plate of a long video deleted at once) does not scan every frame each."""
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    lens = np.fromiter((len(d) for d in frames), np.int64, len(frames))
    if not lens.sum():
        return out
    ids = np.concatenate([d.track_id for d in frames])
    frame = np.repeat(np.arange(len(frames)), lens)
    row = np.arange(len(ids)) - np.repeat(np.cumsum(lens) - lens, lens)
    tracked = ids >= 0
    ids, frame, row = ids[tracked], frame[tracked], row[tracked]
    order = np.lexsort((row, frame, ids))
    ids, frame, row = ids[order], frame[order], row[order]
    cut = np.flatnonzero((np.diff(ids) != 0) | (np.diff(frame) != 0)) + 1
    for a, b in zip(np.r_[0, cut].tolist(), np.r_[cut, len(ids)].tolist()):
        out.setdefault(int(ids[a]), []).append((int(frame[a]), row[a:b]))
    return out


def _match(frames: Sequence[Detections], ref: ItemRef, kind: str,
           tracks: dict[int, list[tuple[int, np.ndarray]]] | None = None) -> list[tuple[int, np.ndarray]]:
    """Rows ``ref`` names: [(frame, row indices)], after checking its box still matches.

    ``tracks``: :func:`_track_rows` of ``frames`` (made here if None)."""
    if kind == "image":
        dets = frames[0]
        if ref.detection >= len(dets):
            _fail(ref, f"is not among the {len(dets)} detections of this photo")
        iou = float(box_iou(dets.xyxy[ref.detection], ref.box)[0, 0])
        if iou < MATCH_IOU:
            _fail(ref, f"lies elsewhere now (IoU {iou:.2f})")
        return [(0, np.array([ref.detection]))]
    if ref.frame >= len(frames):
        _fail(ref, f"names frame {ref.frame}, but the video has {len(frames)}")
    dets = frames[ref.frame]
    want = -1 if ref.track is None else ref.track
    rows = np.flatnonzero(dets.track_id == want)
    iou = box_iou(dets.xyxy[rows], ref.box)[:, 0] if len(rows) else np.zeros(0)
    if not len(rows) or iou.max() < MATCH_IOU:
        _fail(ref, f"is not on frame {ref.frame} where it was (best IoU {iou.max() if len(rows) else 0:.2f})")
    if ref.track is None:
        return [(ref.frame, rows[[int(np.argmax(iou))]])]
    return list((tracks if tracks is not None else _track_rows(frames))[ref.track])


def _as_run_shape(box: np.ndarray, drawn: RegionShape, run: RegionShape) -> np.ndarray:
    """The run-shaped region box that holds a region drawn as ``drawn`` (no-op when alike).

    Regions of one picture share one shape; an ellipse drawn in a box run is
    covered by its box, a box drawn in an ellipse run by the ellipse through its corners.
    """
    if drawn is run or run is RegionShape.BOX:
        return box
    centre = (box[:2] + box[2:]) / 2
    half = (box[2:] - box[:2]) / 2 * _CIRCUMSCRIBE
    return np.concatenate([centre - half, centre + half])


def _extension_rows(frames: Sequence[Detections], ext, track_rows) -> dict[int, Detections]:
    """Boxes that cover a track on the frames it is extended to: its box held at its nearest end."""
    present = [i for i, _ in track_rows]
    lo, hi = present[0], present[-1]
    if ext.last >= len(frames):
        raise VeilError(f"edits: {ext.item.key} is extended to frame {ext.last}, but the video has {len(frames)}")
    out: dict[int, Detections] = {}
    for end, span in ((lo, range(ext.first, lo)), (hi, range(hi + 1, ext.last + 1))):
        rows = dict(track_rows)[end]
        d = frames[end][rows]
        hull = np.concatenate([d.xyxy[:, :2].min(axis=0), d.xyxy[:, 2:].max(axis=0)])
        held = Detections(hull[None], scores=[float(d.scores.max())], track_id=[ext.item.track],
                          source=[int(Source.PADDED)], kind=[int(d.kind[0])])
        for i in span:
            out[i] = held
    return out


def _added_rows(region: AddedRegion, n_frames: int, track: int, run_shape: RegionShape) -> dict[int, Detections]:
    if region.last >= n_frames:
        raise VeilError(f"edits: drawn region {region.id} has a key frame {region.last}, "
                        f"but the file has {n_frames} frame{'s' * (n_frames != 1)}")
    out = {}
    for i in range(region.first, region.last + 1):
        box = _as_run_shape(region.box_at(i), region.shape, run_shape)
        out[i] = Detections(box[None], scores=[1.0], track_id=[track], source=[int(Source.MANUAL)],
                            kind=[int(region.kind)])
    return out


def apply_edits(frames: Sequence[Detections], edits: FileEdits, *,
                region_shape: RegionShape | str = RegionShape.ELLIPSE) -> AppliedEdits:
    """Apply one file's edits to the boxes the run found.

    Parameters
    ----------
    frames : sequence of Detections
        A photo's detections as a one-item list, or a video's tracked boxes per
        frame (``TrackResult.frames``). Not modified.
    edits : FileEdits
    region_shape : RegionShape, keyword-only
        The run's region shape: a region drawn in the other shape is covered
        by the smallest region of the run's shape that holds it.

    Returns
    -------
    AppliedEdits

    Raises
    ------
    VeilError
        An edit names a detection, track or frame the run does not have, or
        one whose box no longer matches (IoU < ``MATCH_IOU``): one line, and
        nothing is applied.
    """
    kind, run_shape = edits.kind, RegionShape(region_shape)
    if kind == "image" and len(frames) != 1:
        raise ValueError("a photo's edits apply to exactly one set of detections")
    dropped = [np.zeros(len(d), bool) for d in frames]
    visible = [np.zeros(len(d), bool) for d in frames]
    tracks = _track_rows(frames) if kind == "video" else {}
    decided: dict[str, int] = {}  # the kind of what each removed or left-visible item names
    for refs, also_visible in ((edits.removed, False), (edits.left_visible, True)):
        for ref in refs:
            matched = _match(frames, ref, kind, tracks)
            for i, rows in matched:
                dropped[i][rows] = True
                visible[i][rows] |= also_visible
            i, rows = matched[0]  # a track holds one kind
            decided.setdefault(ref.key, int(frames[i].kind[rows[0]]))
    for ref in edits.reviewed:  # a mark must name something the run has, like any edit
        if not ref.residual:
            _match(frames, ref, kind, tracks)
    extra: list[dict[int, Detections]] = []
    for ext in edits.extended:
        extra.append(_extension_rows(frames, ext, _match(frames, ext.item, kind, tracks)))
    next_track = 1 + max((int(d.track_id.max()) for d in frames if len(d)), default=-1)
    assigned = []
    for region in edits.added:
        track = next_track if kind == "video" else -1
        next_track += kind == "video"
        assigned.append(track)
        extra.append(_added_rows(region, len(frames), track, run_shape))
    out_frames, out_visible, out_removed = [], [], []
    none = Detections.empty()  # Detections are immutable: frames without an edit share it, and keep theirs
    for i, d in enumerate(frames):
        touched = bool(dropped[i].any())
        parts = [d[~dropped[i]] if touched else d] + [rows[i] for rows in extra if i in rows]
        # Drawn regions go last: a photo's found faces stay a prefix, one per verdict.
        parts.sort(key=lambda p: bool(len(p)) and bool((p.source == Source.MANUAL).all()))
        out_frames.append(Detections.concatenate(parts) if len(parts) > 1 else parts[0])
        gone = dropped[i] & ~visible[i]
        out_visible.append(d[visible[i]] if touched and visible[i].any() else none)
        out_removed.append(d[gone] if touched and gone.any() else none)
    return AppliedEdits(frames=out_frames, left_visible=out_visible, removed=out_removed,
                        kinds=_covered_kinds(out_frames), record=_record(edits, assigned, decided))


def _covered_kinds(frames: list[Detections]) -> tuple[int, ...]:
    """One kind per covered thing: each track (a track holds one kind) and each box in no track."""
    tracks: dict[int, int] = {}
    loose: list[int] = []
    for d in frames:
        for t, k in zip(d.track_id.tolist(), d.kind.tolist()):
            if t >= 0:
                tracks.setdefault(int(t), int(k))
            else:
                loose.append(int(k))
    return tuple(tracks.values()) + tuple(loose)


def _with_kind(ref: ItemRef, decided: dict[str, int]) -> dict:
    """An item of the review record: the edit's ref, and the kind it names unless a face (as the report's boxes)."""
    entry = ref.to_dict()
    if decided.get(ref.key, Kind.FACE) != Kind.FACE:
        entry["kind"] = Kind(decided[ref.key]).label
    return entry


def _record(edits: FileEdits, assigned: list[int], decided: dict[str, int]) -> dict:
    added = []
    for region, track in zip(edits.added, assigned):
        entry = {"id": region.id, "kind": region.kind.label, "shape": region.shape.value,
                 "first": region.first, "last": region.last, "keyframes": len(region.keyframes)}
        if track >= 0:
            entry["track"] = track
        added.append(entry)
    record = {
        "edits": SCHEMA,
        "edits_sha256": edits.sha256,
        "reviewed": [r.to_dict() for r in edits.reviewed],
        "removed": [_with_kind(r, decided) for r in edits.removed],
        "left_visible": [dict(_with_kind(r, decided), note=LEFT_VISIBLE_NOTE) for r in edits.left_visible],
        "extended": [{"track": e.item.track, "first": e.first, "last": e.last} for e in edits.extended],
        "added": added,
    }
    record["counts"] = {k: len(record[k]) for k in ("reviewed", "removed", "left_visible", "extended", "added")}
    return record


def excuse_left_visible(verification, applied: AppliedEdits, *, height: int, width: int,
                        region_scale: float, region_shape: RegionShape | str = RegionShape.ELLIPSE):
    """The verification record with a person's decisions taken out of the residual check.

    A face left visible (or a box removed as not a face) is still found on
    the output, and the residual check would flag it as missed. Residual
    findings lying mostly (more than half) inside the head region of such a box
    move from ``residual`` to ``excused`` (each with its ``reason``; findings
    already excused stay), and the
    faces left visible are listed under ``left_visible``. Nothing is hidden:
    the report lists both.

    Parameters
    ----------
    verification : veil.verify.VerificationRecord or None
        None when verification did not run: returned as is.
    applied : AppliedEdits
    height, width : int, keyword-only
        Picture size.
    region_scale : float, keyword-only
    region_shape : RegionShape, keyword-only
        The run's region settings, which make a face's head region.

    Returns
    -------
    VerificationRecord or None
        A new record; the input is not modified.
    """
    import dataclasses

    from ..verify.residual import inside_fraction

    if verification is None:
        return None
    kept, excused = [], []
    for r in verification.residual:
        frame = r.frame or 0
        reason = None
        for decided, note in ((applied.left_visible, LEFT_VISIBLE_NOTE), (applied.removed, REMOVED_NOTE)):
            boxes = decided[frame] if frame < len(decided) else Detections.empty()
            if len(boxes) and reason is None:
                mask = head_regions(boxes, scale=region_scale, shape=region_shape).mask(height, width)
                if inside_fraction(np.asarray([r.box], np.float64), mask)[0] > 0.5:
                    reason = note
        if reason is None:
            kept.append(r)
        else:
            excused.append(dataclasses.replace(r, reason=reason))
    return dataclasses.replace(verification, residual=tuple(kept), excused=tuple(verification.excused) + tuple(excused),
                               left_visible=tuple(applied.record["left_visible"]))
