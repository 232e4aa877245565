"""Offline linking of per-frame face detections into tracks.

The video pipeline runs the detector on every frame first (pass 1), then calls
:func:`link_tracks` once over the whole sequence, then anonymizes every frame
with the boxes returned for it (pass 2). Because the tracker sees the future as
well as the past, it can cover the frames the detector missed.

Algorithm
---------
1. **Shots.** The sequence is split at the scene cuts; each shot is tracked on
   its own, so no track, interpolation or padding crosses a cut.
2. **Association** (frame by frame, online within a shot). Every live track
   predicts its box on the current frame with a constant-velocity model (centre
   velocity smoothed over detections, size held). A pair (track, detection)
   may match when the predicted box overlaps the detection with IoU >=
   ``iou_threshold``, or, for small or fast faces whose boxes do not overlap,
   when the centre distance is at most ``max_distance`` box sizes (the limit
   grows by 10 % per missed frame); in both cases the sizes must agree within
   a factor of 2. Pairs are then taken greedily, best first (IoU matches before
   distance matches, ties broken by track age and detection order), which is
   deterministic and, with motion prediction, keeps crossing faces apart. An
   unmatched detection starts a new track; a track that has not been matched
   for more than ``max_gap`` frames ends.
3. **Tracks** are the chains with at least ``min_hits`` detections. Their
   detections get the track's id; any other detection keeps ``track_id`` -1.
4. **Boxes added** per track (raw detections are never changed nor dropped):

   * ``INTERPOLATED`` on every frame inside a gap (at most ``max_gap`` missed
     frames): box and landmarks linearly interpolated between the detections
     on each side, widened by the motion (as below) and by an uncertainty
     margin of 3 % of the box size per frame away from the nearest detection
     (at most 25 %), on each side.
   * ``PADDED`` on the ``pad_frames`` frames before the first and after the
     last detection, within the shot and the video: the hull of the box held
     where it was seen and the box extrapolated with the track's velocity
     (estimated over up to 5 frames, limited to 1.5 box sizes per frame), plus
     the same uncertainty margin. So it covers a face that stops as well as
     one that keeps moving (out of the picture, typically). A face cut by the
     picture's edge and moving out of it (before its first detection: into
     it) is padded until it has wholly left the picture (``frame_size``).
   * ``PREDICTED`` on each detected frame of a moving or jittering track: the
     hull of the detection, the track's motion prediction for that frame, the
     detection shifted back and forth by ``motion_margin`` times the per-frame
     displacement towards the previous and next positions, and the mean of
     the track's boxes (detected, interpolated or padded) on the frames either
     side. A face smeared by motion blur, a detector box that lags a fast head
     or a track's start, or one small box between two larger ones stays
     covered; the union with the raw box is never less than the detection.
     It is only added where it exceeds the detection by more than half a
     pixel. Where a track's box reaches the picture's edge and has shrunk
     below half its largest uncut detection (a face partly out, boxed by a
     corner of what is left), a band along that edge one such face deep and
     two wide is added too (``frame_size``).

Complexity is O(frames x live tracks x detections per frame) with small
constants (numpy per frame); memory is linear in the number of boxes.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..detections import Detections, Source, box_iou

__all__ = ["TrackSummary", "TrackResult", "link_tracks"]

_MAX_SPEED = 1.5  # box sizes per frame, for prediction and extrapolation
_MAX_SIZE_RATIO = 2.0  # width (and height) ratio allowed between a track and a detection
_GAP_LOOSEN = 0.10  # distance gate grows by this share per missed frame
_GROWTH_PER_FRAME = 0.03  # uncertainty margin per frame away from a detection (box sizes, each side)
_MAX_GROWTH = 0.25
_VEL_WINDOW = 5  # frames of history for the padding velocity
_MIN_EXTRA = 0.5  # px: a PREDICTED box must exceed its detection by this much somewhere
_EDGE_PAD_MAX = 60  # frames: padding of a face leaving (entering) across the edge, at most
_EDGE_NEAR = 0.05  # box sizes: a box this close to the picture's edge counts as cut by it
_EDGE_SHRUNK = 0.5  # area ratio: a box cut by the edge this much smaller than the whole face gets a band


@dataclass(frozen=True)
class TrackSummary:
    """One track, for the report's timeline.

    Attributes
    ----------
    id : int
        The ``track_id`` its boxes carry.
    first, last : int
        First and last frame on which the track has a box (padding included).
    detected, interpolated, padded : list of int
        Increasing frame indices with a detection, an interpolated box, a padded
        box (listed even where ``frame_size`` clipping left no box: one wholly
        outside the picture covers nothing).
    max_width : float
        Widest detected box, in pixels.
    """

    id: int
    first: int
    last: int
    detected: list[int]
    interpolated: list[int]
    padded: list[int]
    max_width: float

    def to_dict(self) -> dict:
        """JSON-ready summary; frame lists as inclusive runs ``[[start, end], ...]``.

        Examples
        --------
        >>> TrackSummary(0, 3, 9, [5, 6, 8], [7], [3, 4, 9], 41.26).to_dict()["detected"]
        [[5, 6], [8, 8]]
        """
        return {
            "id": self.id,
            "first": self.first,
            "last": self.last,
            "max_width": round(float(self.max_width), 1),
            "detected": _runs(self.detected),
            "interpolated": _runs(self.interpolated),
            "padded": _runs(self.padded),
        }


@dataclass(frozen=True, eq=False)
class TrackResult:
    """What the tracker returns for a whole video.

    Attributes
    ----------
    frames : list of Detections
        One per input frame. ``frames[i][:len(per_frame[i])]`` are frame i's raw
        detections, unchanged and in order except for their ``track_id``; the
        INTERPOLATED, PADDED and PREDICTED boxes follow, ordered by track.
    tracks : list of TrackSummary
        Ordered by id (the order of each track's first detection).
    cuts : tuple of int
        The scene cuts used (frames that start a shot), increasing.
    """

    frames: list[Detections]
    tracks: list[TrackSummary] = field(default_factory=list)
    cuts: tuple[int, ...] = ()


def _runs(frames: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for f in frames:
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


class _Chain:
    """A track under construction: its detections and motion state."""

    __slots__ = ("frames", "rows", "boxes", "preds", "vel", "last")

    def __init__(self, frame: int, row: int, box: np.ndarray) -> None:
        self.frames = [frame]
        self.rows = [row]
        self.boxes = [box]
        self.preds: list[np.ndarray | None] = [None]
        self.vel = np.zeros(2)  # centre velocity, px per frame
        self.last = frame

    def predict(self, frame: int) -> np.ndarray:
        return _shift(self.boxes[-1], self.vel * (frame - self.last))

    def add(self, frame: int, row: int, box: np.ndarray, pred: np.ndarray) -> None:
        step = (_centre(box) - _centre(self.boxes[-1])) / (frame - self.last)
        self.vel = step if len(self.frames) == 1 else 0.5 * self.vel + 0.5 * step
        self.vel = _limit(self.vel, box)
        self.frames.append(frame)
        self.rows.append(row)
        self.boxes.append(box)
        self.preds.append(pred)
        self.last = frame


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _size(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


def _shift(box: np.ndarray, d: np.ndarray) -> np.ndarray:
    return box + np.array([d[0], d[1], d[0], d[1]])


def _limit(v: np.ndarray, box: np.ndarray) -> np.ndarray:
    speed, cap = float(np.hypot(*v)), _MAX_SPEED * _size(box)
    return v * (cap / speed) if speed > cap else v


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _associate(chains: list[_Chain], frame: int, xyxy: np.ndarray, *, iou_threshold: float,
               max_distance: float) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Greedy best-first matching of live chains to this frame's detections."""
    preds = np.stack([c.predict(frame) for c in chains])
    gaps = np.array([frame - c.last for c in chains], np.float64)
    iou = box_iou(preds, xyxy).astype(np.float64)
    pc = (preds[:, :2] + preds[:, 2:]) / 2
    dc = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    dist = np.hypot(pc[:, None, 0] - dc[None, :, 0], pc[:, None, 1] - dc[None, :, 1])
    pw = np.maximum(preds[:, 2] - preds[:, 0], 1.0)
    ph = np.maximum(preds[:, 3] - preds[:, 1], 1.0)
    dw = np.maximum(xyxy[:, 2] - xyxy[:, 0], 1.0)
    dh = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1.0)
    scale = np.maximum(np.maximum(pw, ph)[:, None], np.maximum(dw, dh)[None, :])
    rel = dist / scale
    gate = max_distance * (1.0 + _GAP_LOOSEN * (gaps - 1.0))[:, None]
    log_ratio = np.maximum(np.abs(np.log(pw[:, None] / dw[None, :])), np.abs(np.log(ph[:, None] / dh[None, :])))
    by_iou = iou >= iou_threshold
    ok = (by_iou | (rel <= gate)) & (log_ratio <= np.log(_MAX_SIZE_RATIO))
    cost = np.where(by_iou, 1.0 - iou, 1.0 + rel / gate) + 0.05 * log_ratio + 0.01 * (gaps[:, None] - 1.0)
    ti, di = np.nonzero(ok)
    order = np.lexsort((di, ti, cost[ti, di]))
    used_t, used_d, pairs = set(), set(), []
    for k in order:
        t, d = int(ti[k]), int(di[k])
        if t not in used_t and d not in used_d:
            used_t.add(t)
            used_d.add(d)
            pairs.append((t, d))
    return pairs, preds


def _link_shot(per_frame: Sequence[Detections], start: int, stop: int, *, max_gap: int,
               iou_threshold: float, max_distance: float) -> list[_Chain]:
    done: list[_Chain] = []
    live: list[_Chain] = []
    for f in range(start, stop):
        still = []
        for c in live:
            (still if f - c.last - 1 <= max_gap else done).append(c)
        live = still
        dets = per_frame[f]
        if not len(dets):
            continue
        xyxy = dets.xyxy.astype(np.float64)
        matched: set[int] = set()
        if live:
            pairs, preds = _associate(live, f, xyxy, iou_threshold=iou_threshold, max_distance=max_distance)
            for t, d in pairs:
                live[t].add(f, d, xyxy[d], preds[t])
                matched.add(d)
        live.extend(_Chain(f, d, xyxy[d]) for d in range(len(dets)) if d not in matched)
    return done + live


@dataclass
class _Added:
    """Boxes a track adds, as columns (one row per box)."""

    frame: np.ndarray  # (K,) int64
    xyxy: np.ndarray  # (K, 4) float64
    score: np.ndarray  # (K,) float64
    landmarks: np.ndarray  # (K, 5, 2) float64
    source: int


def _extend(boxes: np.ndarray, deltas: list[np.ndarray]) -> np.ndarray:
    """Hull of ``boxes`` (K, 4) and of the boxes shifted by each (K, 2) delta."""
    d = np.stack([np.zeros_like(deltas[0]), *deltas])  # (M, K, 2)
    lo, hi = d.min(axis=0), d.max(axis=0)
    return np.concatenate([boxes[:, :2] + lo, boxes[:, 2:] + hi], axis=1)


def _grow_rows(hull: np.ndarray, face: np.ndarray, frames_away: np.ndarray) -> np.ndarray:
    """``hull`` grown on each side by the uncertainty margin of a ``face`` box."""
    g = np.minimum(_MAX_GROWTH, _GROWTH_PER_FRAME * np.abs(frames_away))[:, None]
    w, h = face[:, 2:3] - face[:, 0:1], face[:, 3:4] - face[:, 1:2]
    return hull + g * np.concatenate([-w, -h, w, h], axis=1)


def _frames_to_leave(box: np.ndarray, v: np.ndarray, frame_size: tuple[int, int] | None) -> int:
    """Frames until ``box``, cut by the picture's edge and moving at ``v``, is wholly outside (0: not leaving)."""
    if frame_size is None:
        return 0
    # The detector boxes the visible part of a face leaving the picture: its box
    # reaches the edge or stops just short of it.
    if not _cut_by_edge(np.asarray(box, np.float64)[None], frame_size).any():
        return 0
    w, h = frame_size
    x1, y1, x2, y2 = box
    # Per axis: frames until the box is past the edge it moves towards.
    times = []
    for lo_edge, hi_edge, a, b, speed in ((0, w, x1, x2, v[0]), (0, h, y1, y2, v[1])):
        if speed < -1e-6:
            times.append((b - lo_edge) / -speed)
        elif speed > 1e-6:
            times.append((hi_edge - a) / speed)
    if not times:
        return 0
    t = int(np.ceil(min(times)))
    return t if t <= _EDGE_PAD_MAX else 0


def _track_boxes(chain: _Chain, per_frame: Sequence[Detections], *, lo: int, hi: int, pad_frames: int,
                 motion_margin: float, frame_size: tuple[int, int] | None = None) -> list[_Added]:
    """A track's PREDICTED, INTERPOLATED and PADDED boxes; ``lo..hi-1`` is its shot."""
    frames = np.array(chain.frames, np.int64)
    boxes = np.stack(chain.boxes)
    scores = np.array([per_frame[f].scores[r] for f, r in zip(chain.frames, chain.rows)], np.float64)
    lms = np.stack([per_frame[f].landmarks[r] for f, r in zip(chain.frames, chain.rows)]).astype(np.float64)
    n = len(frames)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    steps = np.diff(centres, axis=0) / np.diff(frames)[:, None]  # (n-1, 2) px per frame
    out = []

    # The track's box on each frame it reaches (detected, interpolated, padded).
    track_box = {int(f): box for f, box in zip(frames, boxes)}

    # INTERPOLATED: every frame inside a gap.
    lengths = np.diff(frames) - 1
    if lengths.sum() > 0:
        k = np.repeat(np.arange(n - 1), lengths)
        a, b = frames[k], frames[k + 1]
        f = a + 1 + (np.arange(len(k)) - np.repeat(np.cumsum(lengths) - lengths, lengths))
        t = ((f - a) / (b - a))[:, None]
        box = (1 - t) * boxes[k] + t * boxes[k + 1]
        hull = _extend(box, [-motion_margin * steps[k], motion_margin * steps[k]])
        lm = (1 - t[:, :, None]) * lms[k] + t[:, :, None] * lms[k + 1]
        grown = _grow_rows(hull, box, np.minimum(f - a, b - f))
        track_box.update(zip(f.tolist(), grown))
        out.append(_Added(f, grown, np.minimum(scores[k], scores[k + 1]), lm, Source.INTERPOLATED))

    # PADDED: before the first and after the last detection, inside the shot.
    first_k1 = int(np.searchsorted(frames, frames[0] + _VEL_WINDOW, "right")) - 1
    last_k1 = int(np.searchsorted(frames, frames[-1] - _VEL_WINDOW, "left"))
    for k0, k1, step in ((0, max(first_k1, 1), -1), (n - 1, min(last_k1, n - 2), 1)):
        v = np.zeros(2)
        if n > 1:  # velocity over up to _VEL_WINDOW frames of the track's end
            v = _limit((centres[k1] - centres[k0]) / (frames[k1] - frames[k0]), boxes[k0])
        # A face cut by the picture's edge and moving out (or, before the first
        # detection, in) stays covered until it has wholly left the picture: the
        # detector loses a face once its eyes are outside, its chin is not.
        reach = max(pad_frames, _frames_to_leave(boxes[k0], v * step, frame_size)) if pad_frames else 0
        f0 = int(frames[k0])
        span = (np.arange(max(lo, f0 - reach), f0) if step < 0 else np.arange(f0 + 1, min(hi, f0 + reach + 1)))
        if not len(span):
            continue
        away = span - frames[k0]
        d = away[:, None] * v[None, :]
        face = np.repeat(boxes[k0][None], len(span), axis=0)
        grown = _grow_rows(_extend(face, [d]), face, away)
        track_box.update(zip(span.tolist(), grown))
        out.append(_Added(span, grown, np.full(len(span), scores[k0]), lms[k0][None] + d[:, None, :],
                          Source.PADDED))

    # PREDICTED: each detection widened along its motion, the motion
    # prediction, and the mean of the track's boxes on the frames either side:
    # a small face's box jitters in size and place (and lags on the frame a
    # track starts), and one shrunken or misplaced box between two good ones
    # would be a flash.
    back, fwd = np.zeros((n, 2)), np.zeros((n, 2))
    back[1:], fwd[:-1] = -motion_margin * steps, motion_margin * steps
    hull = _extend(boxes, [back, fwd])
    preds = np.array([p if p is not None else b for p, b in zip(chain.preds, boxes)])
    neighbours = np.array([(track_box[f - 1] + track_box[f + 1]) / 2 if f - 1 in track_box and f + 1 in track_box
                           else box for f, box in zip(frames.tolist(), boxes)])
    for extra in (preds, neighbours):
        hull = np.concatenate([np.minimum(hull[:, :2], extra[:, :2]), np.maximum(hull[:, 2:], extra[:, 2:])], axis=1)
    moving = np.max(np.abs(hull - boxes), axis=1) > _MIN_EXTRA
    if moving.any():
        out.append(_Added(frames[moving], hull[moving], scores[moving],
                          np.full((int(moving.sum()), 5, 2), np.nan), Source.PREDICTED))
    if frame_size is not None:
        out.extend(_edge_bands(track_box, frames, boxes, scores, frame_size))
    return out


def _cut_by_edge(boxes: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(K, 4) bool: which picture edges (left, top, right, bottom) each box reaches or nearly does."""
    w, h = frame_size
    near = np.maximum(2.0, _EDGE_NEAR * np.max(boxes[:, 2:] - boxes[:, :2], axis=1))
    return np.stack([boxes[:, 0] < near, boxes[:, 1] < near, boxes[:, 2] > w - near, boxes[:, 3] > h - near], axis=1)


def _edge_bands(track_box: dict, frames: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                frame_size: tuple[int, int]) -> list[_Added]:
    """Bands along the picture's edge where a track's box is cut by it.

    Part of a face beyond the edge, the detector boxes what it sees of the
    rest, and that box shrinks, lags and drifts (a corner of the visible
    part) while the face itself keeps its size. Whatever is still visible of
    it lies within one face height of the edge (width, for the side edges):
    on each frame where the track's box reaches an edge and has shrunk below
    ``_EDGE_SHRUNK`` of the face's whole size (the track's largest detection
    that no edge cuts), a band one whole face deep and two faces wide,
    centred on the box (which lags), is covered too.
    """
    at = np.array(sorted(track_box), np.int64)
    box = np.stack([track_box[int(f)] for f in at]).astype(np.float64)
    cut = _cut_by_edge(box, frame_size)
    rows = np.flatnonzero(cut.any(axis=1))
    if not len(rows):
        return []
    # The face's whole size: the track's largest detection that no edge cuts
    # (boxes of a face partly out, or partly boxed, only shrink).
    whole = ~_cut_by_edge(boxes, frame_size).any(axis=1)
    if not whole.any():
        return []
    sizes = (boxes[:, 2:] - boxes[:, :2])[whole]
    rw, rh = (float(v) for v in sizes[int(np.argmax(sizes[:, 0] * sizes[:, 1]))])
    # Only where the box has shrunk: a face resting at the edge, boxed whole, needs no band.
    rows = rows[(box[rows, 2] - box[rows, 0]) * (box[rows, 3] - box[rows, 1]) < _EDGE_SHRUNK * rw * rh]
    if not len(rows):
        return []
    cx, cy = (box[rows, 0] + box[rows, 2]) / 2, (box[rows, 1] + box[rows, 3]) / 2
    w, h = frame_size
    lo, full = np.zeros_like(cx), np.ones_like(cx)
    score = scores[np.abs(frames[None, :] - at[rows, None]).argmin(axis=1)]
    out = []
    for side, band in enumerate((  # left, top, right, bottom
            np.stack([lo, cy - rh, rw * full, cy + rh], axis=1),
            np.stack([cx - rw, lo, cx + rw, rh * full], axis=1),
            np.stack([(w - rw) * full, cy - rh, w * full, cy + rh], axis=1),
            np.stack([cx - rw, (h - rh) * full, cx + rw, h * full], axis=1))):
        on = cut[rows, side]
        if on.any():
            out.append(_Added(at[rows][on], band[on], score[on], np.full((int(on.sum()), 5, 2), np.nan),
                              Source.PREDICTED))
    return out


def link_tracks(per_frame: Sequence[Detections], *, cuts: Iterable[int] = (), pad_frames: int = 5,
                max_gap: int = 15, iou_threshold: float = 0.3, max_distance: float = 1.5,
                motion_margin: float = 0.5, min_hits: int = 2,
                frame_size: tuple[int, int] | None = None) -> TrackResult:
    """Link a video's per-frame detections into tracks and fill in the frames between.

    Parameters
    ----------
    per_frame : sequence of Detections
        Raw detections of every frame, in order (``source`` all DETECTED; the
        incoming ``track_id`` is ignored).
    cuts : iterable of int, keyword-only
        Frames that start a new shot (from :func:`veil.track.detect_cuts`), in
        0..len(per_frame). No track, gap filling or padding crosses a cut.
    pad_frames : int, keyword-only
        Frames of padding before a track's first and after its last detection, >= 0.
    max_gap : int, keyword-only
        Most consecutive frames without a detection that a track bridges
        (interpolated), >= 0. The default, 15, is half a second at 30 fps: long
        enough for a head that turns away or is briefly hidden, short enough
        that another person is rarely mistaken for it.
    iou_threshold : float, keyword-only
        IoU between a track's predicted box and a detection that makes them a
        candidate pair, in (0, 1].
    max_distance : float, keyword-only
        Otherwise, the largest centre distance of a candidate pair, in box
        sizes (the larger side of the larger box), > 0; it grows by 10 % per
        missed frame. Covers small and fast faces whose boxes do not overlap.
    motion_margin : float, keyword-only
        Share of the per-frame displacement by which PREDICTED and
        INTERPOLATED boxes extend towards the previous and next positions, >= 0.
        0.5 covers the path halfway to each neighbouring frame's position (a
        frame's exposure); 0 keeps only the motion prediction.
    min_hits : int, keyword-only
        Detections a chain needs to be a track (ids, padding, predicted boxes), >= 1.
        With the default 2 a lone detection, far in time or space from any
        other, stays a plain box with ``track_id`` -1 (still returned and
        anonymized) instead of becoming ``2 * pad_frames + 1`` frames of boxes;
        1 pads it too.
    frame_size : (int, int), optional, keyword-only
        ``(width, height)`` of the frames. When given, added boxes are clipped
        to the picture and those left empty are dropped (raw detections are
        never changed), and a track whose first or last box is cut by the
        picture's edge, moving in or out, is padded until its extrapolated box
        has wholly left the picture (at most 60 frames; never less than
        ``pad_frames``), and shrunken boxes at the edge get a band (see
        ``PREDICTED`` above).

    Returns
    -------
    TrackResult
        ``frames[i]`` holds every raw detection of frame i, unchanged except for
        ``track_id``, followed by the added boxes; ``tracks`` summarizes each track.

    Raises
    ------
    TypeError
        If an item of ``per_frame`` is not a :class:`Detections`.
    ValueError
        On an out-of-range option or cut, or a raw box whose source is not DETECTED.
    """
    per_frame = list(per_frame)
    for i, d in enumerate(per_frame):
        if not isinstance(d, Detections):
            raise TypeError(f"per_frame[{i}] is {type(d).__name__}, not Detections")
        if np.any(d.source != Source.DETECTED):
            raise ValueError(f"per_frame[{i}] holds boxes that are not raw detections")
    for name, value, low in (("pad_frames", pad_frames, 0), ("max_gap", max_gap, 0), ("min_hits", min_hits, 1)):
        if not _is_int(value) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
    if not (isinstance(iou_threshold, numbers.Real) and 0.0 < iou_threshold <= 1.0):
        raise ValueError(f"iou_threshold must be in (0, 1], not {iou_threshold!r}")
    if not (isinstance(max_distance, numbers.Real) and 0.0 < max_distance < np.inf):
        raise ValueError(f"max_distance must be a positive number, not {max_distance!r}")
    if not (isinstance(motion_margin, numbers.Real) and 0.0 <= motion_margin < np.inf):
        raise ValueError(f"motion_margin must be a number >= 0, not {motion_margin!r}")
    if frame_size is not None:
        if len(frame_size) != 2 or not all(_is_int(v) and v > 0 for v in frame_size):
            raise ValueError(f"frame_size must be two positive integers (width, height), not {frame_size!r}")
    n = len(per_frame)
    cut_list = []
    for c in cuts:
        if not _is_int(c) or not 0 <= c <= n:
            raise ValueError(f"a cut must be an integer frame index in 0..{n}, not {c!r}")
        cut_list.append(int(c))
    used_cuts = tuple(sorted(set(c for c in cut_list if 0 < c < n)))

    bounds = [0, *used_cuts, n]
    shots = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1) if bounds[k] < bounds[k + 1]]
    track_ids = [np.full(len(d), -1, np.int64) for d in per_frame]
    added: list[tuple[int, _Added]] = []
    summaries: list[TrackSummary] = []
    next_id = 0
    for lo, hi in shots:
        chains = _link_shot(per_frame, lo, hi, max_gap=max_gap, iou_threshold=float(iou_threshold),
                            max_distance=float(max_distance))
        chains = sorted((c for c in chains if len(c.frames) >= min_hits), key=lambda c: (c.frames[0], c.rows[0]))
        for chain in chains:
            tid, next_id = next_id, next_id + 1
            for f, r in zip(chain.frames, chain.rows):
                track_ids[f][r] = tid
            parts = _track_boxes(chain, per_frame, lo=lo, hi=hi, pad_frames=int(pad_frames),
                                 motion_margin=float(motion_margin), frame_size=frame_size)
            added.extend((tid, p) for p in parts)
            by = {s: sorted(int(f) for p in parts if p.source == s for f in p.frame)
                  for s in (Source.INTERPOLATED, Source.PADDED)}
            covered = [chain.frames[0], chain.frames[-1], *by[Source.PADDED]]
            summaries.append(TrackSummary(
                id=tid, first=min(covered), last=max(covered), detected=list(chain.frames),
                interpolated=by[Source.INTERPOLATED], padded=by[Source.PADDED],
                max_width=float(max(b[2] - b[0] for b in chain.boxes))))

    # All added boxes as columns, ordered by (frame, track, source), then split by frame.
    if added:
        frame = np.concatenate([p.frame for _, p in added])
        xyxy = np.concatenate([p.xyxy for _, p in added])
        score = np.concatenate([p.score for _, p in added])
        lm = np.concatenate([p.landmarks for _, p in added])
        tids = np.concatenate([np.full(len(p.frame), t, np.int64) for t, p in added])
        src = np.concatenate([np.full(len(p.frame), int(p.source), np.int8) for _, p in added])
        if frame_size is not None:
            xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, frame_size[0])
            xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, frame_size[1])
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1]) if frame_size is not None else slice(None)
        frame, xyxy, score, lm, tids, src = frame[keep], xyxy[keep], score[keep], lm[keep], tids[keep], src[keep]
        order = np.lexsort((src, tids, frame))
        frame, xyxy, score, lm, tids, src = frame[order], xyxy[order], score[order], lm[order], tids[order], src[order]
        starts = np.searchsorted(frame, np.arange(n + 1))
    else:
        starts = np.zeros(n + 1, np.int64)

    frames = []
    for f in range(n):
        raw, s0, s1 = per_frame[f], int(starts[f]), int(starts[f + 1])
        if s0 == s1:
            frames.append(raw.replace(track_id=track_ids[f]) if len(raw) else Detections.empty())
            continue
        frames.append(Detections(  # one construction (and validation) per frame
            np.concatenate([raw.xyxy, xyxy[s0:s1].astype(np.float32)]),
            scores=np.concatenate([raw.scores, score[s0:s1].astype(np.float32)]),
            landmarks=np.concatenate([raw.landmarks, lm[s0:s1].astype(np.float32)]),
            track_id=np.concatenate([track_ids[f], tids[s0:s1]]),
            source=np.concatenate([raw.source, src[s0:s1]]),
        ))
    return TrackResult(frames=frames, tracks=summaries, cuts=used_cuts)
