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

Modules: step 2 is :mod:`veil.track.chains`, step 4 :mod:`veil.track.boxes`;
this module checks the options, runs the shots and assembles the result.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..detections import Detections, Source
from .boxes import Added, track_boxes
from .chains import link_shot

__all__ = ["TrackSummary", "TrackResult", "link_tracks"]


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

    @classmethod
    def from_dict(cls, d: dict) -> "TrackSummary":
        """The inverse of :meth:`to_dict` (runs back to frame lists)."""
        def frames(runs) -> list[int]:
            return [f for a, b in runs for f in range(int(a), int(b) + 1)]

        return cls(int(d["id"]), int(d["first"]), int(d["last"]), frames(d["detected"]), frames(d["interpolated"]),
                   frames(d["padded"]), float(d["max_width"]))

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


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


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
    used_cuts = _checked(per_frame, cuts=cuts, pad_frames=pad_frames, max_gap=max_gap, iou_threshold=iou_threshold,
                         max_distance=max_distance, motion_margin=motion_margin, min_hits=min_hits,
                         frame_size=frame_size)
    track_ids, added, summaries = _link(per_frame, used_cuts, pad_frames=int(pad_frames), max_gap=max_gap,
                                        iou_threshold=float(iou_threshold), max_distance=float(max_distance),
                                        motion_margin=float(motion_margin), min_hits=min_hits, frame_size=frame_size)
    frames = _assemble(per_frame, track_ids, added, frame_size=frame_size)
    return TrackResult(frames=frames, tracks=summaries, cuts=used_cuts)


def _checked(per_frame: list[Detections], *, cuts: Iterable[int], pad_frames: int, max_gap: int,
             iou_threshold: float, max_distance: float, motion_margin: float, min_hits: int,
             frame_size: tuple[int, int] | None) -> tuple[int, ...]:
    """The cuts strictly inside the video, increasing; raises on a bad input as :func:`link_tracks` says."""
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
    return tuple(sorted(set(c for c in cut_list if 0 < c < n)))


def _link(per_frame: list[Detections], cuts: tuple[int, ...], *, pad_frames: int, max_gap: int,
          iou_threshold: float, max_distance: float, motion_margin: float, min_hits: int,
          frame_size: tuple[int, int] | None) -> tuple[list[np.ndarray], list[tuple[int, Added]], list[TrackSummary]]:
    """Every shot's tracks: the track id of each raw detection, the boxes each track adds, the summaries."""
    bounds = [0, *cuts, len(per_frame)]
    shots = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1) if bounds[k] < bounds[k + 1]]
    track_ids = [np.full(len(d), -1, np.int64) for d in per_frame]
    added: list[tuple[int, Added]] = []
    summaries: list[TrackSummary] = []
    next_id = 0
    for lo, hi in shots:
        chains = link_shot(per_frame, lo, hi, max_gap=max_gap, iou_threshold=iou_threshold, max_distance=max_distance)
        chains = sorted((c for c in chains if len(c.frames) >= min_hits), key=lambda c: (c.frames[0], c.rows[0]))
        for chain in chains:
            tid, next_id = next_id, next_id + 1
            for f, r in zip(chain.frames, chain.rows):
                track_ids[f][r] = tid
            parts = track_boxes(chain, per_frame, lo=lo, hi=hi, pad_frames=pad_frames, motion_margin=motion_margin,
                                frame_size=frame_size)
            added.extend((tid, p) for p in parts)
            by = {s: sorted(int(f) for p in parts if p.source == s for f in p.frame)
                  for s in (Source.INTERPOLATED, Source.PADDED)}
            covered = [chain.frames[0], chain.frames[-1], *by[Source.PADDED]]
            summaries.append(TrackSummary(
                id=tid, first=min(covered), last=max(covered), detected=list(chain.frames),
                interpolated=by[Source.INTERPOLATED], padded=by[Source.PADDED],
                max_width=float(max(b[2] - b[0] for b in chain.boxes))))
    return track_ids, added, summaries


def _assemble(per_frame: list[Detections], track_ids: list[np.ndarray], added: list[tuple[int, Added]], *,
              frame_size: tuple[int, int] | None) -> list[Detections]:
    """Each frame's raw detections (with their track ids), then the boxes the tracks add to it."""
    n = len(per_frame)
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
    return frames
