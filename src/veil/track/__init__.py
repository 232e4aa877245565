"""Tracking for video: scene cuts, then offline linking of detections into tracks.

Pass 1 of the video pipeline keeps, for every frame, the raw detections and a
:func:`frame_signature`; then::

    cuts = detect_cuts(signatures)
    result = link_tracks(per_frame, cuts=cuts, pad_frames=config.pad_frames,
                         frame_size=(width, height))

and pass 2 anonymizes frame ``i`` with ``head_regions(result.frames[i], ...)``:
the raw detections plus the INTERPOLATED, PADDED and PREDICTED boxes of the
tracks. ``result.tracks`` feeds the report's timeline (``to_dict()``).
"""

from __future__ import annotations

from .linker import TrackResult, TrackSummary, link_tracks
from .scenecut import SIGNATURE_SIZE, detect_cuts, frame_signature, signature_distance

__all__ = [
    "link_tracks",
    "TrackResult",
    "TrackSummary",
    "frame_signature",
    "detect_cuts",
    "signature_distance",
    "SIGNATURE_SIZE",
]
