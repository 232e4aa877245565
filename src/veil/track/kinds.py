"""Plates and text in pass 1: their detection beside the faces', and tracks per kind.

:class:`OtherKindsStep` runs the plate/text detector (:mod:`veil.detect.kinds`)
on every frame of a video, on the face scheduler's threads, and appends its
boxes to each frame's faces. Every frame: the plate detector's tiles are what
find small plates and its map gives no hint where to run them, so a sampled
schedule would let a plate the detector finds go out uncovered on the frames
it skipped (bench/RESULTS.md, Licence plates and text).

:func:`link_by_kind` links each kind on its own with
:func:`veil.track.linker.link_tracks` (gap filling, padding, predicted boxes),
so a plate never joins a face's track; face tracks keep the ids a faces-only
run gives them, plate and text tracks follow.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..detect.kinds import other_kinds_for
from ..detections import Detections, Kind
from .linker import TrackResult, link_tracks

__all__ = ["OtherKindsStep", "link_by_kind"]


class OtherKindsStep:
    """The plate/text detection of a run's frames, in order (nothing when it covers faces only).

    Parameters
    ----------
    config : veil.config.Config
    submit : callable(fn, *args) -> Future
        Where a frame's detection runs (the face scheduler's pool).
    """

    def __init__(self, config, submit) -> None:
        self.detector = other_kinds_for(config, single=True)
        self.submit = submit
        self.futures: list = []

    def add(self, rgb: np.ndarray) -> None:
        if self.detector is not None:
            self.futures.append(self.submit(self.detector.detect, rgb))

    def join(self, faces: list[Detections]) -> list[Detections]:
        """Each frame's ``faces`` followed by its plates and text."""
        if self.detector is None:
            return faces
        if len(self.futures) != len(faces):
            raise RuntimeError("plate/text detection lost a frame")  # never seen; fail closed
        return [Detections.concatenate([f, fut.result()]) if len(f) else fut.result()
                for f, fut in zip(faces, self.futures)]


def link_by_kind(per_frame: list[Detections], **options) -> TrackResult:
    """:func:`~veil.track.linker.link_tracks` for each kind on its own, joined.

    Parameters
    ----------
    per_frame : list of Detections
        Raw detections of every frame, any kinds.
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
        result = link_tracks(mine, **options)
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

