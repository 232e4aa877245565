"""Scale (issue 16): throughput of a folder and of one long video with 1 and 2 workers, and
the scheduling overhead per file and per segment.

Every run is ``python -m veil.cli anonymize`` in a subprocess (so a Dask ``LocalCluster``
starts and stops as a user's would); the script records wall seconds, CPU seconds of the
whole process tree (``RUSAGE_CHILDREN``: the run, its worker processes, Dask's nannies)
and the load average before and after each run, since wall seconds on a shared machine
say little without it. It checks that every run's report has every file ``ok`` and that
the runs of one input covered the same regions.

Inputs (read in place from ../shared/data, written to a temporary folder):

* folder: ``--photos`` face-mask photos and two 3-s cuts of the Hamilton clip;
* long video: the Hamilton clip (10 s, 640x360, 29.97 fps, audio dropped) twice over,
  20 s re-encoded with a key frame every second, processed whole and in
  ``--segment-seconds`` segments (5 s: four);
* overhead: ``--tiny`` 32x32 pictures without faces (the work per file is near zero),
  run with 1 and with all of them: (T(n) - T(1)) / (n - 1) is the cost of one more file.

    nice -n 10 .venv/bin/python bench/scale.py            # ~20 min on the shared 2-core machine
    nice -n 10 .venv/bin/python bench/scale.py --quick    # fewer runs (no cluster of 1)

Raw numbers: bench/out/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"


def _cut(src: Path, dst: Path, *, start: float, seconds: float, keyint: int = 30) -> Path:
    """``seconds`` of ``src`` from ``start``, H.264 with a key frame every ``keyint`` frames, no audio."""
    import av

    with av.open(str(src)) as c, av.open(str(dst), "w") as out:
        v = c.streams.video[0]
        rate = v.average_rate or Fraction(30000, 1001)
        s = out.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = v.codec_context.width, v.codec_context.height, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "18", "g": str(keyint), "keyint_min": str(keyint),
                     "sc_threshold": "0"}
        n, want = 0, round(seconds * rate)
        while n < want:  # the clip again from the start, as often as it takes
            c.seek(0)
            for frame in c.decode(v):
                if float(frame.pts * v.time_base) < start:
                    continue
                if n == want:
                    break
                frame.pts, frame.time_base = n, 1 / Fraction(rate)
                n += 1
                for p in s.encode(frame.reformat(format="yuv420p")):
                    out.mux(p)
        for p in s.encode():
            out.mux(p)
    return dst


def _inputs(work: Path, photos: int, tiny: int) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    clip = SHARED / "videos" / "hamilton_whitehouse"
    clip = next(p for p in sorted(clip.iterdir()) if p.suffix in (".mp4", ".mov", ".mkv"))
    folder = work / "folder"
    folder.mkdir()
    for p in sorted((SHARED / "face_mask" / "images").iterdir())[:photos]:
        (folder / p.name).write_bytes(p.read_bytes())
    _cut(clip, folder / "a.mp4", start=0, seconds=3)
    _cut(clip, folder / "b.mp4", start=5, seconds=3)
    long = _cut(clip, work / "long.mp4", start=0, seconds=20)
    small = work / "tiny"
    small.mkdir()
    rng = np.random.default_rng(0)
    for i in range(tiny):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(small / f"t{i:03d}.png")
    one = work / "tiny1"
    one.mkdir()
    (one / "t000.png").write_bytes((small / "t000.png").read_bytes())
    return {"folder": folder, "long": long, "tiny": small, "tiny1": one, "clip": clip}


def _run(inputs: Path, out: Path, *args: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    env = dict(os.environ, ORT_DISABLE_TELEMETRY="1")
    proc = subprocess.run([sys.executable, "-m", "veil.cli", "anonymize", str(inputs), "-o", str(out), *args],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads((out / "veil-report.json").read_text())
    assert all(f["status"] == "ok" for f in report["files"]), proc.stderr
    return {"args": list(args), "wall_s": round(wall, 2),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
            "load_before": round(load0, 1), "load_after": round(os.getloadavg()[0], 1),
            "files": len(report["files"]), "frames": report["summary"]["frames"],
            "regions": {f["input"]: f.get("regions") for f in report["files"]},
            "segments": {f["input"]: f["media"].get("segments") for f in report["files"] if f["kind"] == "video"}}


def driver_costs(long: Path, frames: int = 18000, faces: int = 3) -> dict:
    """What the driver does alone for one long video, single-threaded: CPU seconds per frame of
    tracking and regions (synthetic detections: ``faces`` moving faces on each of ``frames``
    frames of 1080p), and MB/s of the packet scan (plan) and of the join (stream copy + check)."""
    import numpy as np

    from veil.config import Config
    from veil.detections import Detections
    from veil.media.video.segments import encode_segment, join_segments, plan_segments
    from veil.region import regions_for
    from veil.track import link_tracks

    rng = np.random.default_rng(0)
    start = rng.uniform(100, 1700, (faces, 2))
    per_frame = []
    for i in range(frames):
        xy = start + 2.0 * i % 200
        boxes = np.hstack([xy, xy + 80]).astype(np.float32)
        per_frame.append(Detections(boxes, scores=np.full(faces, 0.9, np.float32)))
    config = Config()
    t0 = time.process_time()
    tracked = link_tracks(per_frame, cuts=[], pad_frames=5, min_hits=1, frame_size=(1920, 1080))
    t1 = time.process_time()
    [regions_for(d, config) for d in tracked.frames]
    t2 = time.process_time()
    size = long.stat().st_size
    t3 = time.perf_counter()
    plan = plan_segments(long, seconds=5, max_pixels=10**9)
    t4 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="veil-bench-join-") as tmp:
        parts = [Path(tmp) / f"s{s.index}.mp4" for s in plan.segments]
        for s, part in zip(plan.segments, parts):
            result = encode_segment(long, part, s, lambda f: f.rgb, crf=18, preset="veryfast", max_pixels=10**9)
        joined_bytes = sum(p.stat().st_size for p in parts)
        t5 = time.perf_counter()
        join_segments(long, parts, Path(tmp) / "joined.mp4", pts=list(plan.pts), pix_fmt=result.pix_fmt,
                      max_pixels=10**9)
        t6 = time.perf_counter()
    return {"tracking_ms_per_frame": round(1000 * (t1 - t0) / frames, 3),
            "regions_ms_per_frame": round(1000 * (t2 - t1) / frames, 3),
            "plan_MB_per_s": round(size / 1e6 / (t4 - t3), 1), "join_MB_per_s": round(joined_bytes / 1e6 / (t6 - t5), 1),
            "join_ms_per_frame": round(1000 * (t6 - t5) / len(plan.pts), 3),
            "frames": frames, "faces_per_frame": faces, "load": round(os.getloadavg()[0], 1)}


MODES = {"here": [], "jobs 2": ["--jobs", "2"], "cluster local:1": ["--cluster", "local:1"],
         "cluster local:2": ["--cluster", "local:2"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--tiny", type=int, default=24)
    ap.add_argument("--segment-seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true", help="leave out the cluster of one worker")
    ap.add_argument("--verify", action="store_true", help="verify too (the default measures covering only)")
    ap.add_argument("--driver-only", action="store_true", help="only the driver's own costs (a minute)")
    args = ap.parse_args()
    if args.driver_only:
        with tempfile.TemporaryDirectory(prefix="veil-bench-scale-") as tmp:
            clip = next(p for p in sorted((SHARED / "videos" / "hamilton_whitehouse").iterdir()) if p.suffix == ".mp4")
            costs = driver_costs(_cut(clip, Path(tmp) / "long.mp4", start=0, seconds=20))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "scale-driver.json").write_text(json.dumps(costs, indent=1))
        print(json.dumps(costs, indent=1))
        return
    modes = {k: v for k, v in MODES.items() if not (args.quick and k == "cluster local:1")}
    common = [] if args.verify else ["--no-verify"]
    results: dict = {"machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0))},
                     "folder": {}, "long": {}, "tiny": {}}
    with tempfile.TemporaryDirectory(prefix="veil-bench-scale-") as tmp:
        work = Path(tmp)
        inputs = _inputs(work, args.photos, args.tiny)
        n = 0

        def run(what: str, src: Path, mode: str, *extra: str) -> dict:
            nonlocal n
            n += 1
            r = _run(src, work / f"out{n}", *common, *modes[mode], *extra)
            print(f"{what:>6} {mode:<16} {' '.join(extra):<22} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  "
                  f"load {r['load_before']}->{r['load_after']}", file=sys.stderr)
            return r

        for mode in modes:
            results["folder"][mode] = run("folder", inputs["folder"], mode)
        results["long"]["whole, here"] = run("long", inputs["long"], "here")
        for mode in modes:
            results["long"][f"segments, {mode}"] = run("long", inputs["long"], mode, "--segment-seconds",
                                                       str(args.segment_seconds))
        for mode in modes:
            results["tiny"][mode] = {"1": run("tiny", inputs["tiny1"], mode), "n": run("tiny", inputs["tiny"], mode)}
    # The cluster changes where work runs, never what is covered.
    for group in ("folder", "long"):
        regions = [r["regions"] for r in results[group].values()]
        results[f"{group}_same_regions"] = all(r == regions[0] for r in regions)
        for r in results[group].values():
            r.pop("regions")
    for r in results["tiny"].values():
        r["1"].pop("regions"), r["n"].pop("regions")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scale.json").write_text(json.dumps(results, indent=1))
    _print(results, args)


def _print(results: dict, args) -> None:
    print("| input | how | wall s | CPU s (all processes) | frames/s (wall) | load avg before -> after |")
    print("|---|---|---|---|---|---|")
    for group in ("folder", "long"):
        for how, r in results[group].items():
            print(f"| {group} | {how} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['frames'] / r['wall_s']:.2f} | "
                  f"{r['load_before']} -> {r['load_after']} |")
    print()
    print(f"Same regions in every run: folder {results['folder_same_regions']}, long video "
          f"{results['long_same_regions']}.")
    print()
    print("| how | start-up and one file: wall s | each further file: wall s | each further file: CPU s |")
    print("|---|---|---|---|")
    for how, r in results["tiny"].items():
        k = r["n"]["files"] - 1
        print(f"| {how} | {r['1']['wall_s']:.2f} | {(r['n']['wall_s'] - r['1']['wall_s']) / k:.3f} | "
              f"{(r['n']['cpu_s'] - r['1']['cpu_s']) / k:.3f} |")
    long = results["long"]
    whole = long["whole, here"]
    seg = long["segments, here"]
    segments = next(iter(seg["segments"].values())) or 1
    print()
    print(f"Per segment ({segments} segments of about {args.segment_seconds:g} s, one after the other in one "
          f"process, vs the whole video): {(seg['cpu_s'] - whole['cpu_s']) / segments:+.2f} CPU s, "
          f"{(seg['wall_s'] - whole['wall_s']) / segments:+.2f} wall s.")


if __name__ == "__main__":
    main()
