"""The boxes a track adds (step 4 of :mod:`veil.track.linker`): INTERPOLATED, PADDED, PREDICTED.

:func:`track_boxes` and its :class:`Added` serve :mod:`veil.track.linker`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..detections import Detections, Source
from .chains import Chain, limit_speed

_GROWTH_PER_FRAME = 0.03  # uncertainty margin per frame away from a detection (box sizes, each side)
_MAX_GROWTH = 0.25
_VEL_WINDOW = 5  # frames of history for the padding velocity
_MIN_EXTRA = 0.5  # px: a PREDICTED box must exceed its detection by this much somewhere
# Detections each side of a gap whose median size an interpolated box keeps at least: a face's size
# changes smoothly, and a box of part of a small face (the eyes above a mask) at one end of a gap
# would shrink the boxes between (bench/RESULTS.md, "The plans' flash frames on the 1080p crowd").
_SIZE_WINDOW = 3
_EDGE_PAD_MAX = 60  # frames: padding of a face leaving (entering) across the edge, at most
# Box sizes: a box this close to the picture's edge counts as cut by it. The detector's box of a
# face half out can stop short of the edge: 3 px (5.7%) for a 56 px face leaving a 1080p crowd clip,
# whose track then ended five frames before the face had left (bench/RESULTS.md, "Below 2048 px").
_EDGE_NEAR = 0.1
_EDGE_SHRUNK = 0.5  # area ratio: a box cut by the edge this much smaller than the whole face gets a band


@dataclass
class Added:
    """Boxes a track adds, as columns (one row per box)."""

    frame: np.ndarray  # (K,) int64
    xyxy: np.ndarray  # (K, 4) float64
    score: np.ndarray  # (K,) float64
    landmarks: np.ndarray  # (K, 5, 2) float64
    source: int


@dataclass(frozen=True, eq=False)
class _Seen:
    """A track's detections as columns."""

    frames: np.ndarray  # (n,) int64
    boxes: np.ndarray  # (n, 4) float64
    scores: np.ndarray  # (n,) float64
    lms: np.ndarray  # (n, 5, 2) float64
    centres: np.ndarray  # (n, 2)
    steps: np.ndarray  # (n - 1, 2) centre displacement, px per frame

    @classmethod
    def of(cls, chain: Chain, per_frame: Sequence[Detections]) -> _Seen:
        frames = np.array(chain.frames, np.int64)
        boxes = np.stack(chain.boxes)
        scores = np.array([per_frame[f].scores[r] for f, r in zip(chain.frames, chain.rows)], np.float64)
        lms = np.stack([per_frame[f].landmarks[r] for f, r in zip(chain.frames, chain.rows)]).astype(np.float64)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        steps = np.diff(centres, axis=0) / np.diff(frames)[:, None]  # (n-1, 2) px per frame
        return cls(frames, boxes, scores, lms, centres, steps)


def track_boxes(chain: Chain, per_frame: Sequence[Detections], *, lo: int, hi: int, pad_frames: int,
                motion_margin: float, frame_size: tuple[int, int] | None = None) -> list[Added]:
    """A track's PREDICTED, INTERPOLATED and PADDED boxes; ``lo..hi-1`` is its shot."""
    seen = _Seen.of(chain, per_frame)
    # The track's box on each frame it reaches (detected, interpolated, padded).
    track_box = {int(f): box for f, box in zip(seen.frames, seen.boxes)}
    out = []
    interpolated = _interpolated(seen, motion_margin)
    padded = _padded(seen, lo=lo, hi=hi, pad_frames=pad_frames, frame_size=frame_size)
    for part in ([] if interpolated is None else [interpolated]) + padded:
        track_box.update(zip(part.frame.tolist(), part.xyxy))
        out.append(part)
    predicted = _predicted(seen, chain.preds, track_box, motion_margin)
    if predicted is not None:
        out.append(predicted)
    if frame_size is not None:
        out.extend(_edge_bands(track_box, seen.frames, seen.boxes, seen.scores, frame_size))
    return out


def _interpolated(seen: _Seen, motion_margin: float) -> Added | None:
    """INTERPOLATED: every frame inside a gap (None: no gap)."""
    frames, boxes, lms, scores, steps = seen.frames, seen.boxes, seen.lms, seen.scores, seen.steps
    n = len(frames)
    lengths = np.diff(frames) - 1
    if not lengths.sum() > 0:
        return None
    k = np.repeat(np.arange(n - 1), lengths)
    a, b = frames[k], frames[k + 1]
    f = a + 1 + (np.arange(len(k)) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    t = ((f - a) / (b - a))[:, None]
    box = _at_least(((1 - t) * boxes[k] + t * boxes[k + 1]), _local_size(boxes)[k])
    hull = _extend(box, [-motion_margin * steps[k], motion_margin * steps[k]])
    lm = (1 - t[:, :, None]) * lms[k] + t[:, :, None] * lms[k + 1]
    grown = _grow_rows(hull, box, np.minimum(f - a, b - f))
    return Added(f, grown, np.minimum(scores[k], scores[k + 1]), lm, Source.INTERPOLATED)


def _local_size(boxes: np.ndarray) -> np.ndarray:
    """(n - 1, 2): median width and height of the detections around each gap (``_SIZE_WINDOW`` a side)."""
    wh = boxes[:, 2:] - boxes[:, :2]
    n = len(boxes)
    return np.array([np.median(wh[max(0, k - _SIZE_WINDOW + 1):k + 1 + _SIZE_WINDOW], axis=0) for k in range(n - 1)])


def _at_least(box: np.ndarray, size: np.ndarray) -> np.ndarray:
    """``box`` (K, 4) grown about its centre to at least ``size`` (K, 2) wide and tall."""
    grow = np.maximum(size - (box[:, 2:] - box[:, :2]), 0) / 2
    return np.concatenate([box[:, :2] - grow, box[:, 2:] + grow], axis=1)


def _padded(seen: _Seen, *, lo: int, hi: int, pad_frames: int, frame_size: tuple[int, int] | None) -> list[Added]:
    """PADDED: before the first and after the last detection, inside the shot ``lo..hi-1``."""
    frames, boxes, lms, scores, centres = seen.frames, seen.boxes, seen.lms, seen.scores, seen.centres
    n = len(frames)
    out = []
    first_k1 = int(np.searchsorted(frames, frames[0] + _VEL_WINDOW, "right")) - 1
    last_k1 = int(np.searchsorted(frames, frames[-1] - _VEL_WINDOW, "left"))
    for k0, k1, step in ((0, max(first_k1, 1), -1), (n - 1, min(last_k1, n - 2), 1)):
        v = np.zeros(2)
        if n > 1:  # velocity over up to _VEL_WINDOW frames of the track's end
            v = limit_speed((centres[k1] - centres[k0]) / (frames[k1] - frames[k0]), boxes[k0])
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
        out.append(Added(span, grown, np.full(len(span), scores[k0]), lms[k0][None] + d[:, None, :],
                         Source.PADDED))
    return out


def _predicted(seen: _Seen, preds: list[np.ndarray | None], track_box: dict, motion_margin: float) -> Added | None:
    """PREDICTED: each detection widened along its motion, the motion
    prediction, and the mean of the track's boxes on the frames either side.

    A small face's box jitters in size and place (and lags on the frame a
    track starts), and one shrunken or misplaced box between two good ones
    would be a flash. None where no box exceeds its detection.
    """
    frames, boxes, steps = seen.frames, seen.boxes, seen.steps
    n = len(frames)
    back, fwd = np.zeros((n, 2)), np.zeros((n, 2))
    back[1:], fwd[:-1] = -motion_margin * steps, motion_margin * steps
    hull = _extend(boxes, [back, fwd])
    predicted = np.array([p if p is not None else b for p, b in zip(preds, boxes)])
    neighbours = np.array([(track_box[f - 1] + track_box[f + 1]) / 2 if f - 1 in track_box and f + 1 in track_box
                           else box for f, box in zip(frames.tolist(), boxes)])
    for extra in (predicted, neighbours):
        hull = np.concatenate([np.minimum(hull[:, :2], extra[:, :2]), np.maximum(hull[:, 2:], extra[:, 2:])], axis=1)
    moving = np.max(np.abs(hull - boxes), axis=1) > _MIN_EXTRA
    if not moving.any():
        return None
    return Added(frames[moving], hull[moving], seen.scores[moving],
                 np.full((int(moving.sum()), 5, 2), np.nan), Source.PREDICTED)


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


def _cut_by_edge(boxes: np.ndarray, frame_size: tuple[int, int], *, face: float | None = None) -> np.ndarray:
    """(K, 4) bool: which picture edges (left, top, right, bottom) each box reaches or nearly does.

    "Nearly": within ``_EDGE_NEAR`` of the face's size, ``face`` px where the
    face's whole size is known, else each box's own longer side.
    """
    w, h = frame_size
    size = np.max(boxes[:, 2:] - boxes[:, :2], axis=1) if face is None else np.full(len(boxes), float(face))
    near = np.maximum(2.0, _EDGE_NEAR * size)
    return np.stack([boxes[:, 0] < near, boxes[:, 1] < near, boxes[:, 2] > w - near, boxes[:, 3] > h - near], axis=1)


def _edge_bands(track_box: dict, frames: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                frame_size: tuple[int, int]) -> list[Added]:
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
    # The face's whole size: the track's largest detection that no edge cuts
    # (boxes of a face partly out, or partly boxed, only shrink).
    whole = ~_cut_by_edge(boxes, frame_size).any(axis=1)
    if not whole.any():
        return []
    sizes = (boxes[:, 2:] - boxes[:, :2])[whole]
    rw, rh = (float(v) for v in sizes[int(np.argmax(sizes[:, 0] * sizes[:, 1]))])
    # A shrunk box (the chin of a face half out) can stop short of the edge by
    # a tenth of the whole face, many times its own tenth.
    cut = _cut_by_edge(box, frame_size, face=max(rw, rh))
    rows = np.flatnonzero(cut.any(axis=1))
    if not len(rows):
        return []
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
            out.append(Added(at[rows][on], band[on], score[on], np.full((int(on.sum()), 5, 2), np.nan),
                              Source.PREDICTED))
    return out
