"""Verdicts of a track verified in pieces (a long video's segments), merged into one.

Each segment of a video split by ``veil.scale.segments`` verifies the part of
each track that lies in it, as a whole run verifies a whole track: its
representative frames and the multi-frame attack over that part. A track
that crosses a boundary is therefore measured on more representatives than
in one piece; :func:`merge_track_verdicts` keeps every measurement, so the
merged verdict leaks when any piece leaks (its distance is the smallest of all).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from .verdicts import TrackVerdict

__all__ = ["merge_track_verdicts"]


def merge_track_verdicts(pieces: Sequence[TrackVerdict]) -> TrackVerdict:
    """One verdict from the verdicts of one track's pieces, in frame order.

    Representatives are all kept (in order), multi-frame attacks keep their
    smallest distance per attack, frame counts add up.
    """
    if not pieces:
        raise ValueError("no verdicts to merge")
    if len(pieces) == 1:
        return pieces[0]
    multi: dict[str, float] = {}
    for p in pieces:
        for name, d in p.multi_frame.items():
            multi[name] = min(d, multi.get(name, d))
    return dataclasses.replace(
        pieces[0], faces=tuple(f for p in pieces for f in p.faces), multi_frame=multi,
        frames_total=sum(p.frames_total for p in pieces), frames_usable=sum(p.frames_usable for p in pieces),
        frames_combined=sum(p.frames_combined for p in pieces), elapsed_ms=sum(p.elapsed_ms for p in pieces))
