"""Pass 1 over a video: detect on every frame, find the cuts, link the tracks.

Frames are decoded on the calling thread and detected ``workers`` at once (each
call on one onnxruntime thread). Results come back in frame order and do not
depend on ``workers``.

With ``config.tile_every`` N > 1 (and a multi-scale detector) the tiles, which
find small faces, run at first on every N-th frame and at shot changes only;
the whole-frame passes run on every frame. Frames are then decided in chunks
(16 frames, fewer where 16 would exceed 32 MB of pictures: 5 at 1080p): where
the tiles found a small face that only they see
(``MultiScaleDetector.tiles_only_small``) in a chunk or in a chunk either side,
the chunk's frames that skipped the tiles get them after all. So the tiles run
on every frame where such faces are about. A tiny face the tiles find on
skipped frames only is still lost (bench/RESULTS.md).

With ``config.scan == 'motion'``, or ``'auto'`` (the default) on frames the
whole-frame pass sees downscaled (longer side over 1280 px: 1080p, 1440p, 4K;
a multi-scale detector with tiles, without the flipped pass, ``tile_every`` 1;
plates and text, where covered, beside it on their own schedule), each frame's
face detection is planned by
:class:`veil.detect.scanplan.ScanPlanner`: the detector looks only where the
picture is new, changed or due (every pixel at least every ``max_interval``
frames) and around the faces found before, moved with the camera; the whole
frame at the first frame, at shot changes and where the motion cannot be
trusted. A frame's calls then run ``workers`` at once. ``scan='full'`` looks
at every frame whole (the reference).

With ``config.reuse_repeats`` (default) a frame that repeats the frame before
it, which the detector looked at, takes that frame's face detections
(:class:`Repeats`), and its plates and text where both frames get a full look
of their own (``OtherKindsStep.add``): the repeated frames of 24 -> 30 fps
pulldown (one in five) cost no detector call. Not with sparse tiles.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..detect import select_for
from ..detect.kinds import face_detector_for
from ..detections import Detections
from ..errors import UnsupportedMediaError
from .kinds import OtherKindsStep, follow_camera, hold_reach, hold_with_camera, link_by_kind, link_options
from .linker import TrackResult
from .scenecut import detect_cuts, frame_signature, signature_distance

__all__ = ["VideoScan", "Repeats", "scan_video", "detect_frames", "link_scan", "plans_motion", "SHOT_CHANGE_HINT"]

#: A frame-to-frame signature change above this (a cut, a flash, a fast pan)
#: runs the tiles on that frame too; lower than the cut detector's own bar.
SHOT_CHANGE_HINT = 0.1
# With tile_every > 1, frames are decided in chunks of at most this many
# frames or bytes of decoded pictures.
_CHUNK_FRAMES = 16
_CHUNK_BYTES = 32 << 20


@dataclass
class VideoScan:
    """What pass 1 found.

    Attributes
    ----------
    info : veil.media.video.VideoInfo
    raw : list of Detections
        The detector's boxes per frame (selected by ``threshold`` / ``min_face``).
    tracked : TrackResult
        Per-frame boxes including interpolated, padded and predicted ones.
    cuts : list of int
    repeated : list of int
        Frames that took the frame before's detections (:class:`Repeats`).
    """

    info: object
    raw: list[Detections]
    tracked: TrackResult
    cuts: list[int]
    repeated: list[int] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.raw)


class Repeats:
    """Which frames of a video may take the face detections of the frame before.

    A frame does when it shows the picture of the frame before
    (:func:`veil.detect.motion.repeats_picture` on their work copies), the
    detector looked at that frame, and it is not a key frame (a segment of a
    long video starts at a key frame with nothing before it, so a segment scan
    decides as the whole scan does). At most every other frame is spared, so
    a slow change never rides on one old look.

    Parameters
    ----------
    enabled : bool
        False: no frame is a repeat.
    into : list, optional, keyword-only
        Where the repeated frames' indices go (:attr:`frames`); default a new list.
    """

    def __init__(self, enabled: bool, *, into: list | None = None) -> None:
        self.enabled = enabled
        self.prev: np.ndarray | None = None  # work copy of the frame before, if the detector looked at it
        self.frames: list[int] = [] if into is None else into

    def check(self, frame) -> bool:
        """Whether ``frame`` (a :class:`veil.media.video.Frame`, the next one) takes the detections before it."""
        if not self.enabled:
            return False
        from ..detect.motion import repeats_picture, work_grey

        grey = work_grey(frame.rgb)
        repeat = self.prev is not None and not frame.key and repeats_picture(self.prev, grey)
        self.prev = None if repeat else grey
        if repeat:
            self.frames.append(frame.index)
        return repeat


@dataclass
class _Frame:
    """One frame of pass 1 in flight: its first look and what a second one needs."""

    rgb: np.ndarray | None  # kept for a second look: frames whose first look skipped the tiles
    look: concurrent.futures.Future  # -> (merged, passes or None, tiles found small faces)


class _Scheduler:
    """Detection of a video's frames in order, ``workers`` at once, with the sparse-tile rule."""

    def __init__(self, config, detector, workers: int, frame_bytes: int) -> None:
        self.config, self.detector = config, detector
        self.sparse = config.tile_every > 1 and hasattr(detector, "with_tiles")
        # The chunk length shapes the result when sparse: it depends on the frame size only.
        self.chunk_len = (int(np.clip(_CHUNK_BYTES // max(1, frame_bytes), 4, _CHUNK_FRAMES)) if self.sparse
                          else max(1, workers))
        self.pool = (concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="veil-detect")
                     if workers > 1 else None)
        # Chunks move from first looks in flight (deciding) to decided, with their
        # second looks in flight, to collected in order. A chunk is decided once
        # the next chunk's first looks are in; the pool has the chunks behind it meanwhile.
        self.deciding: collections.deque = collections.deque()
        self.decided: collections.deque = collections.deque()
        self.current: list[_Frame] = []
        self.prev_small = False
        self.raw: list[Detections] = []
        self.total: int | None = None  # frames, where the header says
        self.last: concurrent.futures.Future | None = None  # the frame before's first look

    def submit(self, fn, *args) -> concurrent.futures.Future:
        return _submit(self.pool, fn, *args)

    def first_look(self, rgb: np.ndarray, key: bool):
        if not self.sparse:
            return self.detector.detect(rgb), None, False
        d = self.detector
        passes = d.passes(rgb, tiles=None if key else "none")
        merged = d.merge(passes)
        return merged, None if key else passes, key and d.tiles_only_small(rgb.shape, passes, merged) > 0

    def second_look(self, rgb: np.ndarray, passes):
        return self.detector.merge(self.detector.with_tiles(rgb, passes)), None, False

    def add(self, rgb: np.ndarray, key: bool, progress, *, repeat: bool = False) -> None:
        """Detect the next frame (``repeat``: take the frame before's look; never with sparse tiles)."""
        if repeat and (self.sparse or self.last is None):
            raise ValueError("a repeated frame needs a frame before it, and no sparse tiles")
        look = self.last if repeat else self.submit(self.first_look, rgb, key)
        self.last = look
        self.current.append(_Frame(None if key or repeat else rgb, look))
        if len(self.current) == self.chunk_len:
            self.deciding.append(self.current)
            self.current = []
            if len(self.deciding) == 3:
                self._decide_oldest()
            if len(self.decided) == 2:
                self._collect_oldest(progress)

    def finish(self, progress) -> list[Detections]:
        if self.current:
            self.deciding.append(self.current)
            self.current = []
        while self.deciding:
            self._decide_oldest()
        while self.decided:
            self._collect_oldest(progress)
        return self.raw

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _decide_oldest(self) -> None:
        chunk = self.deciding.popleft()
        small = any(f.look.result()[2] for f in chunk)
        dense = (self.prev_small or small
                 or (bool(self.deciding) and any(f.look.result()[2] for f in self.deciding[0])))
        self.prev_small = small
        for f in chunk:
            if dense and f.rgb is not None:
                f.look = self.submit(self.second_look, f.rgb, f.look.result()[1])
            f.rgb = None
        self.decided.append(chunk)

    def _collect_oldest(self, progress) -> None:
        for f in self.decided.popleft():
            self.raw.append(select_for(f.look.result()[0], self.config))
            if progress:
                progress(len(self.raw), self.total * 2 if self.total else None)


def _submit(pool, fn, *args) -> concurrent.futures.Future:
    """``fn(*args)`` on ``pool``, or at once on this thread where there is none."""
    if pool is not None:
        return pool.submit(fn, *args)
    done = concurrent.futures.Future()
    done.set_result(fn(*args))  # an error raises here, on the calling thread
    return done


def scan_video(src: Path, config, detector, progress: Callable[[int, int | None], None] | None = None, *,
               workers: int = 1) -> VideoScan:
    """Pass 1: detect on every frame, find cuts, link tracks.

    Parameters
    ----------
    src : Path
    config : veil.config.Config
    detector : FaceDetector
        Called from ``workers`` threads at once when ``workers > 1``.
    progress : callable(done, total), optional
    workers : int, keyword-only
        Frames detected at once. Decoding stays on the calling thread; the
        results, and so the tracks, do not depend on it.

    Returns
    -------
    VideoScan
    """
    from ..media.video import iter_frames, probe_video

    info = probe_video(src, max_pixels=config.max_pixels)
    camera: list = []
    repeated: list = []
    raw, signatures = detect_frames(iter_frames(src, max_pixels=config.max_pixels), config, detector, progress,
                                    workers=workers, frame_bytes=info.width * info.height * 3,
                                    total=getattr(info, "frame_count_hint", None) or None, camera=camera,
                                    repeated=repeated)
    return link_scan(info, raw, signatures, config, camera=camera, repeated=repeated)


def detect_frames(frames, config, detector, progress: Callable[[int, int | None], None] | None = None, *,
                  workers: int = 1, frame_bytes: int, total: int | None = None, camera: list | None = None,
                  repeated: list | None = None) -> tuple[list[Detections], list[np.ndarray]]:
    """Pass 1's detection over consecutive frames (a whole video, or a segment of one).

    Parameters
    ----------
    frames : iterable of veil.media.video.Frame
        Consecutive frames; ``Frame.index`` is the frame's index in its video.
    frame_bytes : int, keyword-only
        Bytes of one decoded frame (the sparse-tile chunk length depends on it).
    total : int, optional, keyword-only
        Frames expected, for progress.
    camera : list, optional, keyword-only
        Filled with the camera's motion per frame where plates or text are
        covered (``OtherKindsStep.camera``; for :func:`link_scan`), else left empty.
    repeated : list, optional, keyword-only
        Filled with the indices of the frames that took the frame before's
        detections (:class:`Repeats`).

    Returns
    -------
    raw : list of Detections
        One per frame, selected by ``config``.
    signatures : list of ndarray
        :func:`~veil.track.scenecut.frame_signature` of each frame.

    Notes
    -----
    With ``config.tile_every == 1`` (the default) each frame's detections depend
    on that frame only with ``config.scan == 'full'``, so a video's segments
    scanned apart give what the whole scan gives (``veil.scale.segments``); the
    sparse tiles decide across frames. Motion-aware plans (``'motion'``) start
    each segment with a whole-frame scan: never less looked at than in the
    whole scan there, possibly more.
    """
    frames = iter(frames)
    first = next(frames, None)
    frames = itertools.chain([first], frames) if first is not None else iter(())
    if first is not None and plans_motion(config, detector, shape=first.rgb.shape):
        return _detect_planned(frames, config, detector, progress, workers=workers, total=total,
                               camera=camera, repeated=repeated)
    scheduler = _Scheduler(config, face_detector_for(config, detector), workers, frame_bytes)
    scheduler.total = total
    others = OtherKindsStep(config, scheduler.submit, workers=workers)  # plates and text (--cover), on their schedule
    repeats = Repeats(config.reuse_repeats and not scheduler.sparse, into=repeated)
    signatures = []
    try:
        for frame in frames:
            signature = frame_signature(frame.rgb)
            shot = bool(signatures) and signature_distance(signatures[-1], signature) > SHOT_CHANGE_HINT
            key = not scheduler.sparse or frame.index % config.tile_every == 0 or not signatures or shot
            signatures.append(signature)
            repeat = repeats.check(frame)
            others.add(frame.rgb, frame.index, shot_change=shot, repeat=repeat)
            scheduler.add(frame.rgb, key, progress, repeat=repeat)
        raw = others.join(scheduler.finish(progress))
        if camera is not None:
            camera.extend(others.camera)
    finally:
        scheduler.close()
        others.close()
    return raw, signatures


def plans_motion(config, detector, *, shape: tuple[int, ...] | None = None) -> bool:
    """Whether pass 1 plans its scans from motion for ``config``, ``detector`` and frames of ``shape``.

    ``config.scan`` ``'motion'``, or ``'auto'`` on frames the detector's
    whole-frame pass sees downscaled (:meth:`~veil.detect.MultiScaleDetector.downscales`;
    ``shape`` needed): there its candidates cannot point the tiles at every
    faint small face (a masked 34 px face at 1080p), so the full scan covers
    fewer (frame, face) pairs than every tile, and the plans, which look at
    every part of the picture at the tiles' scale at least every 15 frames
    and follow what they found, cover as many (bench/RESULTS.md, "`--scan auto`
    at 1080p"). ``tile_every`` 1, faces covered, and a multi-scale detector with
    tiles and without the flipped pass (another detector scans every frame whole).
    Plates and text (``--cover``) are detected beside either scan, on their own schedule.
    """
    from ..detect import MultiScaleDetector

    if config.tile_every != 1 or not config.covers_faces:
        return False
    if not isinstance(detector, MultiScaleDetector) or detector.flip:
        return False
    if config.scan == "auto":
        return shape is not None and bool(detector.upscale) and detector.downscales(shape)
    return config.scan == "motion"


def _detect_planned(frames, config, detector, progress, *, workers: int, total: int | None,
                    camera: list | None, repeated: list | None) -> tuple[list[Detections], list[np.ndarray]]:
    """:func:`detect_frames` with motion-aware plans (one planner per frame size) for faces."""
    from ..detect.scanplan import ScanPlanner

    pool = (concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="veil-detect")
            if workers > 1 else None)
    others = OtherKindsStep(config, lambda fn, *args: _submit(pool, fn, *args), workers=workers)
    planner, raw, signatures = None, [], []
    repeats = Repeats(config.reuse_repeats, into=repeated)
    try:
        for frame in frames:
            signature = frame_signature(frame.rgb)
            shot = bool(signatures) and signature_distance(signatures[-1], signature) > SHOT_CHANGE_HINT
            signatures.append(signature)
            repeat = repeats.check(frame)
            others.add(frame.rgb, frame.index, shot_change=shot, repeat=repeat)
            if repeat:
                # The planner never sees it: its next frame is planned from the picture it last saw, the same.
                raw.append(raw[-1])
                if progress:
                    progress(len(raw), total * 2 if total else None)
                continue
            if planner is None or (planner.height, planner.width) != frame.rgb.shape[:2]:
                planner = ScanPlanner(detector, frame.rgb.shape)
            found, _ = planner.detect(frame.rgb, shot_change=shot, pool=pool)
            raw.append(select_for(found, config))
            if progress:
                progress(len(raw), total * 2 if total else None)
        raw = others.join(raw)
        if camera is not None:
            camera.extend(others.camera)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        others.close()
    return raw, signatures


def link_scan(info, raw: list[Detections], signatures: list[np.ndarray], config, *,
              camera: list | None = None, repeated: list | None = None) -> VideoScan:
    """The rest of pass 1 over a whole video's detections: cuts and tracks (``camera``: see
    :func:`detect_frames`; plate and text boxes between looks also follow it; ``repeated``:
    the frames that took the frame before's detections, for the report)."""
    if not raw:
        raise UnsupportedMediaError("video has no decodable frames")
    cuts = detect_cuts(signatures)
    # min_hits=1: a face seen on one frame only is padded too (privacy first;
    # a false positive costs a few frames of extra cover, a miss costs a face).
    # Each plate/text look's box is also held, moved with the camera (hold_with_camera): under a
    # schedule until the looks either side, else a frame either side.
    other = link_options(config)
    tracked = link_by_kind(raw, cuts=cuts, pad_frames=config.pad_frames, min_hits=1,
                          frame_size=(info.width, info.height), other_options=other)
    tracked = hold_with_camera(follow_camera(tracked, camera), camera, hold_reach(config),
                               frame_size=(info.width, info.height))
    return VideoScan(info, raw, tracked, list(map(int, cuts)), sorted(map(int, repeated or ())))
