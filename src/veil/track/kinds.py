"""Plates and text in pass 1: their detection beside the faces', and tracks per kind.

:class:`OtherKindsStep` runs the plate/text detector (:mod:`veil.detect.kinds`,
whole frame and magnified tiles) on the face scheduler's threads. It looks in
full at the frames :func:`is_look` names: every ``config.kinds_every``-th
frame, a run's first frame, every shot change
(:data:`veil.track.scan.SHOT_CHANGE_HINT`, lower than any cut) and the frame
before it, and the run's last frame. So every stretch of a shot between two
full looks is at most ``kinds_every - 1`` frames long, and both of its ends
are looked at. On the frames between, a *change look*
(:class:`veil.detect.changewatch.ChangeWatch`) runs the detector on the
windows that are new or changed since it last looked there, with the camera's
motion followed: a plate that drives in, or appears and vanishes between two
full looks, is found on its own frames; a frame whose motion is not followed
(a flash, a fast zoom, lost features) gets a full look. What stood still keeps
what the last look found: the tracker carries it (:func:`link_options`:
interpolated between detections, padded ``kinds_every`` frames before a
track's first and after its last, moved with the camera,
:func:`follow_camera`), and each detection is held ``kinds_every`` frames
either side, moved with the camera (:func:`hold_with_camera`). With
``kinds_every`` 1 every frame is looked at in full, and each detection is
held :data:`FLICKER_HOLD` frame either side, with the camera.

:func:`link_by_kind` links each kind on its own with
:func:`veil.track.linker.link_tracks` (gap filling, padding, predicted boxes),
so a plate never joins a face's track; face tracks keep the ids a faces-only
run gives them, plate and text tracks follow.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools

import numpy as np

from ..detect.changewatch import ChangeWatch
from ..detect.kinds import other_kinds_for
from ..detect.motion import estimate_motion, to_picture
from ..detections import Detections, Kind, Source
from .linker import TrackResult, link_tracks

__all__ = ["OtherKindsStep", "is_look", "link_options", "link_by_kind", "follow_camera", "hold_reach", "hold_with_camera",
           "FLICKER_HOLD"]

#: The tracker bridges this many frames without a detection (its default); at least
#: twice ``kinds_every`` for plates and text (a look that misses one).
_MAX_GAP = 15
#: A look's box held with the camera grows by this share of its size per frame away from the
#: look, on each side, up to _HOLD_GROWTH_MAX (the tracker's own uncertainty margin).
_HOLD_GROWTH = 0.03
_HOLD_GROWTH_MAX = 0.25
#: With every frame looked at (``kinds_every`` 1) each detection is still held this many
#: frames either side: DBNet's line on a plate is a little longer or shorter from frame to
#: frame, and a frame whose box came out short left part of the plate bare between two
#: frames that covered it (bench/plates_video.py, real plates filmed: 42 such frames -> 19).
FLICKER_HOLD = 1


def is_look(index: int, every: int, *, first: bool = False, shot_change: bool = False) -> bool:
    """Whether the plate/text detector looks at frame ``index`` as it goes by.

    Parameters
    ----------
    index : int
        The frame's index in its video.
    every : int
        ``Config.kinds_every``.
    first : bool, keyword-only
        The frame is the first of the run (a video, or a segment of one).
    shot_change : bool, keyword-only
        The frame's signature changed by more than ``SHOT_CHANGE_HINT``.

    Notes
    -----
    :class:`OtherKindsStep` also looks at the frame *before* a shot change and
    at the run's last frame, which are known only one frame later.
    """
    return first or shot_change or index % every == 0


class OtherKindsStep:
    """The plate/text detection of a run's frames, in order (nothing when it covers faces only).

    Parameters
    ----------
    config : veil.config.Config
    submit : callable(fn, *args) -> Future
        Where a frame's detection runs (the face scheduler's pool).
    workers : int, keyword-only
        Threads for a frame's network calls side by side (1: one after the
        other), so the last frames of a run keep every core busy; call
        :meth:`close` when done.

    Attributes
    ----------
    looked : list of int
        The frame indices looked at in full, increasing (see :func:`is_look`).
    changes : list of int
        The frame indices given a change look (windows only), increasing.
    """

    def __init__(self, config, submit, *, workers: int = 1) -> None:
        self.detector = other_kinds_for(config, single=True)
        self.pool = (concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="veil-kinds")
                     if self.detector is not None and workers > 1 else None)
        self.every = config.kinds_every
        self.submit = submit
        self.futures: list = []  # per frame: a Future, or None where not looked at
        self.looked: list[int] = []
        self.changes: list[int] = []  # frames given a change look (windows only)
        self._previous = None  # (index, rgb) of the last frame, while it is not looked at in full
        # The camera's motion from each frame to the next (for follow_camera and hold_with_camera).
        self.camera: list = []
        self._grey = None
        self._watch: ChangeWatch | None = None

    def add(self, rgb: np.ndarray, index: int | None = None, *, shot_change: bool = False,
            repeat: bool = False) -> None:
        """The next frame (``index``: its index in the video; default: its place in this run).

        ``repeat``: it shows the picture of the frame before (:class:`veil.track.scan.Repeats`);
        where that frame was looked at in full and this one would be, it takes that look's plates
        and text instead.
        """
        if self.detector is None:
            return
        index = len(self.futures) if index is None else int(index)
        first = not self.futures
        motion = self._camera_step(rgb, shot_change)
        if shot_change and self._previous is not None:
            self._look(-1, *self._previous)  # the last frame of the shot before
        self.futures.append(None)
        windows = None
        if motion is not None and not is_look(index, self.every, first=first, shot_change=shot_change):
            windows = self._watch.windows(index, self._grey, motion)
        if windows is None:  # a scheduled look, or the watch cannot vouch for this frame: a full look
            if repeat and self.looked and self.looked[-1] == index - 1:  # the frame before, in full
                self.futures[-1] = self.futures[-2]
                self._previous = None
                return
            self._look(-1, index, rgb)
            if self.every > 1:
                self._watch.full(index, self._grey)
            return
        if windows:
            self.futures[-1] = self.submit(functools.partial(self.detector.detect_windows, pool=self.pool), rgb,
                                           windows)
            self._watch.looked(index, windows)
            self.changes.append(index)
        self._previous = (index, rgb)

    def _camera_step(self, rgb: np.ndarray, shot_change: bool):
        """The motion from the previous frame to this one (work pixels; None: not followed), and
        its picture-pixel matrix appended to ``camera``."""
        shape = rgb.shape[:2]
        if self._watch is None or (self._watch.height, self._watch.width) != shape:
            self._watch = ChangeWatch(shape, margin=self.detector.window_margin)
            self._grey = None
        grey = self._watch.grey(rgb)
        previous, self._grey = self._grey, grey
        motion = None if previous is None or shot_change else estimate_motion(previous, grey)
        followed = motion is not None and motion.reliable
        self.camera.append(to_picture(motion.matrix, self._watch.scale) if followed else None)
        return motion

    def _look(self, slot: int, index: int, rgb: np.ndarray) -> None:
        self.futures[slot] = self.submit(functools.partial(self.detector.detect, pool=self.pool), rgb)
        self.looked.append(index)
        self.looked.sort()
        self._previous = None

    def close(self) -> None:
        """Stop the threads of the network calls (waits for those running)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def join(self, faces: list[Detections]) -> list[Detections]:
        """Each frame's ``faces`` followed by its plates and text (none where not looked at)."""
        if self.detector is None:
            return faces
        if self._previous is not None:
            self._look(-1, *self._previous)  # the run's last frame
        if len(self.futures) != len(faces):
            raise RuntimeError("plate/text detection lost a frame")  # never seen; fail closed
        out = []
        for f, fut in zip(faces, self.futures):
            other = fut.result() if fut is not None else Detections.empty()
            out.append(Detections.concatenate([f, other]) if len(f) else other)
        return out


def link_options(config) -> dict:
    """The tracker's options for plates and text under ``config``'s schedule (see :func:`is_look`).

    Padding of ``kinds_every`` frames before a track's first look and after its
    last covers a plate that appeared or left since the look before (or until
    the look after); gaps of up to twice ``kinds_every`` are bridged (a look
    that misses the plate once).
    """
    every = config.kinds_every
    return {"pad_frames": max(config.pad_frames, every), "max_gap": max(_MAX_GAP, 2 * every)}


def link_by_kind(per_frame: list[Detections], *, other_options: dict | None = None, **options) -> TrackResult:
    """:func:`~veil.track.linker.link_tracks` for each kind on its own, joined.

    Parameters
    ----------
    per_frame : list of Detections
        Raw detections of every frame, any kinds.
    other_options : dict, optional, keyword-only
        Options that replace ``options`` for kinds other than faces (:func:`link_options`).
    **options
        As :func:`~veil.track.linker.link_tracks`.

    Returns
    -------
    TrackResult
        As :func:`link_tracks` gives for faces alone when every box is a face.
        Otherwise each frame holds its raw detections first (in their order),
        then the boxes each kind's tracks add; track ids are unique across
        kinds (faces first) and each :class:`TrackSummary` carries its kind.
    """
    kinds = sorted({int(k) for d in per_frame for k in d.kind})
    if kinds in ([], [int(Kind.FACE)]):
        return link_tracks(per_frame, **options)
    results, offset, summaries = {}, 0, []
    for kind in kinds:
        mine = [d[d.kind == kind] for d in per_frame]
        mine_options = options if kind == int(Kind.FACE) else {**options, **(other_options or {})}
        result = link_tracks(mine, **mine_options)
        results[kind] = (result, offset)
        summaries += [dataclasses.replace(t, id=t.id + offset, kind=Kind(kind)) for t in result.tracks]
        offset += len(result.tracks)
    frames = []
    for f, d in enumerate(per_frame):
        raw_ids = np.full(len(d), -1, np.int64)
        added = []
        for kind, (result, off) in results.items():
            rows = np.flatnonzero(d.kind == kind)
            got = result.frames[f]
            ids = got.track_id.astype(np.int64)
            ids = np.where(ids >= 0, ids + off, -1)
            raw_ids[rows] = ids[:len(rows)]
            extra = got[len(rows):]
            if len(extra):
                added.append(extra.replace(track_id=ids[len(rows):], kind=np.full(len(extra), kind)))
        frames.append(Detections.concatenate([d.replace(track_id=raw_ids), *added]))
    return TrackResult(frames=frames, tracks=sorted(summaries, key=lambda t: t.id),
                       cuts=next(iter(results.values()))[0].cuts)


def follow_camera(tracked: TrackResult, camera: list | None) -> TrackResult:
    """``tracked`` with the plate and text boxes between looks also moved with the camera.

    The tracker interpolates a box linearly in the picture between two looks
    (and extrapolates it before the first and after the last). Where the
    camera shakes or turns, a plate standing in the scene does not move
    linearly in the picture. So on every INTERPOLATED or PADDED frame of a
    plate or text track, a copy of its box is added, moved by the difference
    between the linear guess and the box interpolated in the scene's
    coordinates (the looks' boxes taken back through the camera's motion) and
    brought to that frame by it. The linear box stays (union: the camera's
    estimate may be wrong). Faces, and frames whose camera motion is not
    followed back to the looks (a cut, a flash, lost features), are left as they are.

    Parameters
    ----------
    tracked : TrackResult
    camera : list of (3, 3) ndarray or None, or None
        Per frame: the motion taking the previous frame onto it, picture pixels
        (:class:`OtherKindsStep`'s ``camera``); None where unknown. None or empty: nothing to do.

    Returns
    -------
    TrackResult
    """
    n = len(tracked.frames)
    if not camera:
        return tracked
    if len(camera) != n:
        raise RuntimeError("the camera path lost a frame")  # never seen; fail closed
    cum, chain = _camera_path(camera)
    added: list[list[Detections]] = [[] for _ in range(n)]
    for track in tracked.tracks:
        if track.kind == Kind.FACE or not track.detected:
            continue
        centre = {}
        for f in track.detected:
            d = tracked.frames[f]
            rows = (d.track_id == track.id) & (d.source == Source.DETECTED)
            b = d.xyxy[rows]
            centre[f] = (b[:, :2].min(axis=0) + b[:, 2:].max(axis=0)) / 2
        for f in track.interpolated + track.padded:
            delta = _camera_delta(f, track.detected, centre, cum, chain)
            if delta is None or np.abs(delta).max() <= 0.5:
                continue
            d = tracked.frames[f]
            rows = np.flatnonzero((d.track_id == track.id) & np.isin(d.source, (Source.INTERPOLATED, Source.PADDED)))
            if len(rows):
                moved = d[rows]
                added[f].append(moved.replace(xyxy=moved.xyxy + np.tile(delta, 2).astype(moved.xyxy.dtype)))
    frames = [Detections.concatenate([d, *extra]) if extra else d for d, extra in zip(tracked.frames, added)]
    return dataclasses.replace(tracked, frames=frames)


def _camera_delta(f: int, looks: list[int], centre: dict, cum: list, chain: list) -> np.ndarray | None:
    """Scene-interpolated minus picture-interpolated centre of a track's box on frame ``f``."""
    import bisect

    i = bisect.bisect_left(looks, f)
    a = looks[i - 1] if i > 0 else None
    b = looks[i] if i < len(looks) else None
    if a is None:  # before the first look: extrapolate from it and the next
        a, b = b, (looks[1] if len(looks) > 1 else None)
    elif b is None:  # after the last look: from it and the one before
        b = looks[-2] if len(looks) > 1 else None
    if chain[a] != chain[f] or (b is not None and chain[b] != chain[f]):
        return None

    def to_scene(g):
        return np.linalg.solve(cum[g], np.append(centre[g], 1.0))[:2]

    sa, ca = to_scene(a), centre[a]
    if b is None:
        scene, linear = sa, ca
    else:
        t = (f - a) / (b - a)
        scene = sa + t * (to_scene(b) - sa)
        linear = ca + t * (centre[b] - ca)
    return (cum[f] @ np.append(scene, 1.0))[:2] - linear


def _camera_path(camera: list) -> tuple[list[np.ndarray], list[int]]:
    """Per frame: the motion from its chain's first frame onto it, and the chain's number
    (a chain ends where a step is None: a cut, a flash, lost features)."""
    cum, chain, m, cid = [], [], np.eye(3), 0
    for step in camera:
        m, cid = (np.eye(3), cid + 1) if step is None else (step @ m, cid)
        cum.append(m)
        chain.append(cid)
    return cum, chain


def hold_reach(config) -> int:
    """Frames either side of its frame that each plate/text detection is held (:func:`hold_with_camera`).

    Under a schedule (``kinds_every`` > 1), until the looks either side: the
    tracker's padding of :func:`link_options`; where every frame is looked
    at, :data:`FLICKER_HOLD`.
    """
    return link_options(config)["pad_frames"] if config.kinds_every > 1 else FLICKER_HOLD


def hold_with_camera(tracked: TrackResult, camera: list | None, reach: int, *,
                     frame_size: tuple[int, int] | None = None) -> TrackResult:
    """``tracked`` with each detected plate and text box also held up to ``reach`` frames
    either side of its frame, moved with the camera.

    A look's box is carried to each frame within ``reach`` of its look by the
    camera's motion (its four corners, then their bounding box) and grown by the
    tracker's uncertainty margin (3% of its size per frame away, at most 25%),
    under its track's id, as PADDED. Where the camera's motion between the look
    and the frame is not followed (a flash, lost features; ``camera`` None) the
    box is held in place, as the tracker pads a box. So a plate or word standing
    in the scene stays covered between two looks even where the tracker links a
    look to another box (it bridges long gaps) or its linear interpolation misses
    a shaking camera; held in place only, the box slid off what it held under a
    pan (14 px a frame on the bench's pan; bench/RESULTS.md, "Plates and text in
    video on a schedule"). Change looks' boxes are held too: a moving plate
    leaves a trail of held boxes where it was (over-cover, never less cover:
    holding each box only until its track's next detection lost 40 of the
    every-frame detector's 835 boxes on the bench's street clip, where change
    looks re-found standing lines in part). Nothing is held across a cut;
    faces are left as they are.

    Parameters
    ----------
    tracked : TrackResult
        From :func:`link_by_kind` (its DETECTED plate/text boxes are the looks').
    camera : list of (3, 3) ndarray or None, or None
        Per frame, as :func:`follow_camera` takes it; None or empty: no motion is followed.
    reach : int
        Frames held either side of a look (:func:`hold_reach` of the run's
        configuration). 0: nothing to do.
    frame_size : (int, int), optional, keyword-only
        ``(width, height)``: held boxes are clipped to the picture, those left empty dropped.

    Returns
    -------
    TrackResult
        The same tracks; each frame's boxes followed by the held ones.
    """
    n = len(tracked.frames)
    reach = int(reach)
    if reach < 1:
        return tracked
    camera = list(camera) if camera else [None] * n
    if len(camera) != n:
        raise RuntimeError("the camera path lost a frame")  # never seen; fail closed
    cum, chain = _camera_path(camera)
    shot = np.searchsorted(np.asarray(tracked.cuts, np.int64), np.arange(n), side="right")
    added: list[list[Detections]] = [[] for _ in range(n)]
    for a, d in enumerate(tracked.frames):
        seen = d[(d.source == Source.DETECTED) & (d.kind != Kind.FACE)]
        if not len(seen):
            continue
        b = seen.xyxy.astype(np.float64)
        corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1)  # (K, 4, 2)
        size = np.concatenate([-(b[:, 2:] - b[:, :2]), b[:, 2:] - b[:, :2]], axis=1)
        back = np.linalg.inv(cum[a])
        for f in range(max(0, a - reach), min(n, a + reach + 1)):
            if f == a or shot[f] != shot[a]:
                continue
            m = cum[f] @ back if chain[f] == chain[a] else np.eye(3)
            p = corners @ m[:2, :2].T + m[:2, 2]
            box = np.concatenate([p.min(axis=1), p.max(axis=1)], axis=1)
            box += min(_HOLD_GROWTH_MAX, _HOLD_GROWTH * abs(f - a)) * size
            keep = np.ones(len(box), bool)
            if frame_size is not None:
                box[:, [0, 2]] = np.clip(box[:, [0, 2]], 0, frame_size[0])
                box[:, [1, 3]] = np.clip(box[:, [1, 3]], 0, frame_size[1])
                keep = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
            if keep.any():
                held = seen[keep]
                added[f].append(held.replace(xyxy=box[keep].astype(np.float32),
                                             source=np.full(len(held), int(Source.PADDED), np.int8)))
    frames = [Detections.concatenate([d, *extra]) if extra else d for d, extra in zip(tracked.frames, added)]
    return dataclasses.replace(tracked, frames=frames)

