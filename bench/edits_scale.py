#!/usr/bin/env python
"""How long applying a person's edits takes on a long video's boxes (veil review checks them on every change).

``veil review`` runs :func:`veil.edits.apply_edits` on a file's boxes each time
an edit is saved (the check Apply makes), and Apply runs it again. Deleting
every plate or line of text of a long video at once ("Delete every plate")
makes one edit per track. This times that on synthetic boxes: ``--minutes`` of
video at 30 fps, a track starting every 15 frames and lasting 300 (20 alive on
any frame), every other track deleted. Median of ``--repeats`` runs, CPU
seconds of this process.

Usage::

    .venv/bin/python bench/edits_scale.py --minutes 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from veil.detections import Detections
from veil.edits import FileEdits, ItemRef, apply_edits


def boxes(frames: int, *, every: int = 15, length: int = 300) -> list[Detections]:
    tracks = (frames + length) // every
    out = []
    for i in range(frames):
        alive = [t for t in range(max(0, (i - length) // every), tracks) if t * every <= i < t * every + length]
        xy = np.array([[10 + 3 * (t % 100), 10 + 2 * (t // 100), 40 + 3 * (t % 100), 50 + 2 * (t // 100)]
                       for t in alive], float).reshape(-1, 4)
        out.append(Detections(xy, scores=np.full(len(alive), 0.9), track_id=np.array(alive, int)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    frames = boxes(int(args.minutes * 60 * 30))
    seen = sorted({int(t) for d in frames for t in d.track_id})
    refs = []
    for t in seen[::2]:
        i = next(k for k, d in enumerate(frames) if t in d.track_id)
        row = int(np.flatnonzero(frames[i].track_id == t)[0])
        refs.append(ItemRef(tuple(frames[i].xyxy[row].tolist()), track=t, frame=i))
    edits = FileEdits("ab" * 32, "video", removed=tuple(refs))
    times = []
    for _ in range(args.repeats):
        t0 = time.process_time()
        applied = apply_edits(frames, edits)
        times.append(time.process_time() - t0)
    assert len({int(t) for d in applied.frames for t in d.track_id}) == len(seen) - len(refs)
    print(f"{len(frames)} frames, {len(seen)} tracks, {len(refs)} deleted: apply_edits "
          f"{statistics.median(times):.2f} s CPU (median of {args.repeats})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
