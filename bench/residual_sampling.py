#!/usr/bin/env python
"""How often must a video's residual-face check run to catch a face left uncovered?

veil's residual check runs its detector on some output frames (every
``RESIDUAL_EVERY``-th) and flags a confident face outside every covered region.
This script measures what each sampling interval catches. On a clip, veil's own
pass 1 gives the tracks and regions; then *holes* are made on purpose: one
track's region is left out for ``k`` consecutive frames (k = 1, 2, 3, 5, 10, 20)
at many positions, the rest of the frame covered as veil covers it. A hole is
caught at interval N when a frame of the hole with ``index % N == 0`` gets a
residual finding overlapping the uncovered face (IoU >= 0.3 with its box).

Only tracks the detector sees with median confidence >= 0.5 are used (what the
check can see at all: it flags detections of confidence >= 0.5). The detector
runs once per (track, frame) inside any hole; a hole's rate at interval N is
averaged over its start positions, so it does not depend on where the sampling
grid falls. Cost is the detector time on one frame, times 1/N of the frames.

Usage::

    .venv/bin/python bench/residual_sampling.py [--clip PATH ...] [--crowd] [--holes 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import benchlib as B  # noqa: E402

from veil.anonymize import cover  # noqa: E402
from veil.config import Config  # noqa: E402
from veil.detect import detector_for  # noqa: E402
from veil.detections import box_iou  # noqa: E402
from veil.media.video import iter_frames  # noqa: E402
from veil.region import regions_for  # noqa: E402
from veil.track.scan import scan_video  # noqa: E402
from veil.verify.residual import residual_faces  # noqa: E402
from veil.verify.video import RESIDUAL_EVERY  # noqa: E402

HOLE_LENGTHS = (1, 2, 3, 5, 10, 20)
INTERVALS = (1, 2, 3, 5, 10, 20)
MATCH_IOU = 0.3


def visible_tracks(scan, min_median: float = 0.5, min_frames: int = 20) -> list[int]:
    """Tracks the residual check could see: confident and long enough to hold a hole."""
    scores: dict[int, list[float]] = {}
    for dets in scan.tracked.frames:
        detected = dets.source == 0
        for t, s in zip(dets.track_id[detected], dets.scores[detected]):
            if t >= 0:
                scores.setdefault(int(t), []).append(float(s))
    return [t for t, s in sorted(scores.items()) if len(s) >= min_frames and np.median(s) >= min_median]


def track_frames(scan, track: int) -> list[int]:
    return [i for i, d in enumerate(scan.tracked.frames) if np.any(d.track_id == track)]


def plan_holes(scan, tracks: list[int], holes: int, rng) -> list[tuple[int, int, int]]:
    """(track, first frame, length) holes, inside stretches where the track has a box."""
    out = []
    for track in tracks:
        frames = track_frames(scan, track)
        for k in HOLE_LENGTHS:
            starts = [f for f in frames if all(f + j in set(frames) for j in range(k))]
            for s in rng.choice(starts, size=min(holes, len(starts)), replace=False) if starts else []:
                out.append((track, int(s), k))
    return out


def findings(clip: Path, scan, config: Config, wanted: dict[int, set[int]]) -> tuple[dict, float, int]:
    """(track, frame) -> caught?, for every frame of a hole; and seconds per detector call."""
    detector = detector_for(config)
    caught: dict[tuple[int, int], bool] = {}
    seconds, calls = 0.0, 0
    rng = np.random.default_rng(0)
    for frame in iter_frames(clip, max_pixels=config.max_pixels):
        tracks = wanted.get(frame.index)
        if not tracks:
            continue
        dets = scan.tracked.frames[frame.index]
        for track in sorted(tracks):
            keep = dets.track_id != track
            regions = regions_for(dets[keep], config)
            mask = regions.mask(*frame.rgb.shape[:2])
            out = cover(frame.rgb, regions, config, rng, mask=mask)
            t0 = time.perf_counter()
            found = residual_faces(out, mask, detector)
            seconds += time.perf_counter() - t0
            calls += 1
            face = dets.xyxy[dets.track_id == track]
            caught[(track, frame.index)] = bool(len(found) and len(face)
                                                and box_iou(face, found.xyxy).max() >= MATCH_IOU)
    return caught, seconds / max(calls, 1), calls


def rates(holes, caught: dict) -> dict[int, dict[int, float]]:
    """Interval -> hole length -> share of holes caught, averaged over the sampling grid's phase."""
    out: dict[int, dict[int, float]] = {}
    for n in INTERVALS:
        out[n] = {}
        for k in HOLE_LENGTHS:
            shares = []
            for track, start, length in holes:
                if length != k:
                    continue
                frames = range(start, start + k)
                # Every phase of the grid: the hole is caught where a sampled frame of it is caught.
                phases = [any(caught[(track, f)] for f in frames if (f + phase) % n == 0) for phase in range(n)]
                shares.append(np.mean(phases))
            out[n][k] = float(np.mean(shares)) if shares else float("nan")
    return out


def evaluate(clip: Path, args) -> dict:
    config = Config(verify=False)
    t0 = time.perf_counter()
    scan = scan_video(clip, config, detector_for(config, single=True), workers=config.cpu_threads)
    tracks = visible_tracks(scan)
    holes = plan_holes(scan, tracks, args.holes, np.random.default_rng(args.seed))
    wanted: dict[int, set[int]] = {}
    for track, start, k in holes:
        for f in range(start, start + k):
            wanted.setdefault(f, set()).add(track)
    caught, per_call, calls = findings(clip, scan, config, wanted)
    single = float(np.mean(list(caught.values()))) if caught else float("nan")
    print(f"  {clip.name}: {scan.frames} frames, {len(tracks)} visible tracks, {len(holes)} holes, "
          f"{calls} detector calls, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return {"clip": clip.name, "frames": scan.frames, "tracks": tracks, "holes": len(holes),
            "single_frame_catch": single, "ms_per_check": 1000 * per_call, "rates": rates(holes, caught)}


def markdown(res: dict) -> str:
    header = ["checked every", *[f"hole of {k} frame{'s' * (k > 1)}" for k in HOLE_LENGTHS], "check cost per frame"]
    rows = []
    for n in INTERVALS:
        r = res["rates"][n]
        rows.append([f"{n}{' (default)' if n == RESIDUAL_EVERY else ''}",
                     *[("n/a" if np.isnan(r[k]) else f"{100 * r[k]:.0f}%") for k in HOLE_LENGTHS],
                     f"{res['ms_per_check'] / n:.0f} ms"])
    return (f"**{res['clip']}** ({res['frames']} frames, {len(res['tracks'])} confident tracks, {res['holes']} holes; "
            f"a single uncovered frame is flagged {100 * res['single_frame_catch']:.0f}% of the time)\n\n"
            + B.md_table(header, rows))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, nargs="*",
                        default=[B.DATA / "videos" / "hamilton_whitehouse" / "short_hamilton_clip.mp4"])
    parser.add_argument("--crowd", action="store_true", help="also the synthetic 1080p crowd clip (90 frames)")
    parser.add_argument("--holes", type=int, default=12, help="hole positions per track and length")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    clips = list(args.clip)
    if args.crowd:
        import video_coverage

        clips.append(video_coverage.make_crowd_clip(frames=90)[0])
    results = [evaluate(clip, args) for clip in clips]
    B.write_json(B.OUT / "residual_sampling.json", {"machine": B.machine_info(), "results": results})
    print(f"command: {' '.join(['bench/residual_sampling.py', *(argv or sys.argv[1:])])}")
    for res in results:
        print(markdown(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
