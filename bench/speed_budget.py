#!/usr/bin/env python
"""What 2x deface's frames/s leaves for finding faces: the CPU budget of pass 1's detector, per clip.

Issue 14 asks veil for 2x deface's frames/s on every clip with the defaults.
veil does more than detect (decode, track, cover, encode, verify), and that
work does not shrink with a smarter detection plan. This script measures, on
each clip, in one session (runs interleaved clip by clip):

* ``deface`` and ``veil`` with their defaults (CPU seconds of the whole process
  tree, as ``throughput.py`` measures them);
* veil **without pass 1's detection**: the same ``veil anonymize`` with pass 1
  (``veil.pipeline.video.scan_video``) replaced by the scan the veil run above
  made (pickled by it), so pass 2, the verification and the report run on the
  very same tracks; plus pass 1's own decoding, scene signatures and repeated-
  frame check without a detector (``iter_frames``, ``frame_signature``,
  ``Repeats``). Their sum is veil's *work outside detection*;
* one whole-frame look at native resolution, deface's only look: CenterFace at
  scale 1 on the clip's first frame, one onnxruntime thread (as pass 1 runs
  each frame), median of 5 after a warm-up.

Per frame: ``budget = deface CPU / 2 - veil outside detection`` is the CPU
pass 1's detection may take for veil to use half deface's CPU; frames/s follow
CPU where both keep the cores equally busy (both do here: 1.7-1.9 cores of 2,
``cpu_trace.py``). ``veil's detection`` is veil's CPU minus its work outside
detection. The outside-detection runs load their models like any run, but the
scan is unpickled rather than computed, so that share is if anything low and
the budget if anything high.

Usage::

    .venv/bin/python bench/speed_budget.py                       # whitehouse, 1080p, handheld, 4k, crowd4k
    .venv/bin/python bench/speed_budget.py --clips whitehouse --limit 60

Writes ``bench/out/speed_budget.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import throughput as TP  # noqa: E402

#: ``python -c`` body: ``veil`` with pass 1 recorded to (``record``) or replayed from (``replay``) a pickle.
_PATCHED_VEIL = """
import pickle, sys
import veil.pipeline.video as V
mode, path = sys.argv[1], sys.argv[2]
if mode == "record":
    real = V.scan_video
    def scan(*a, **k):
        s = real(*a, **k)
        with open(path, "wb") as f:
            pickle.dump(s, f)
        return s
else:
    with open(path, "rb") as f:
        made = pickle.load(f)
    def scan(*a, **k):
        return made
V.scan_video = scan
from veil.cli import main
sys.exit(main(sys.argv[3:]))
"""

#: ``python -c`` body: pass 1 without a detector (decode, signatures, repeated-frame check).
_PASS1_PLUMBING = """
import sys
from veil.config import Config
from veil.media.video import iter_frames
from veil.track import frame_signature
from veil.track.scan import Repeats
repeats = Repeats(Config().reuse_repeats)
for frame in iter_frames(sys.argv[1], max_pixels=Config().max_pixels):
    frame_signature(frame.rgb)
    repeats.check(frame)
"""

#: ``python -c`` body: CPU ms of one native-resolution CenterFace look (one thread) on the first frame.
_ONE_LOOK = """
import json, statistics, sys, time
from veil.config import Config
from veil.detect import default_detector
from veil.detect.scanplan import network_pixels
from veil.media.video import iter_frames
rgb = next(iter(iter_frames(sys.argv[1], max_pixels=Config().max_pixels))).rgb
base = default_detector(Config(), threads=1).base
base.detect(rgb, scale=1.0)
ms = []
for _ in range(5):
    c0 = time.process_time()
    base.detect(rgb, scale=1.0)
    ms.append((time.process_time() - c0) * 1000)
print(json.dumps({"ms": statistics.median(ms),
                  "mpx": network_pixels((0, 0, rgb.shape[1], rgb.shape[0]), 1.0) / 1e6}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default="whitehouse,1080p,handheld,4k,crowd4k",
                    help="comma list, as throughput.py takes them")
    ap.add_argument("--limit", type=int, default=0, help="first N frames of each clip")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--out", type=Path, default=B.OUT / "speed_budget.json")
    args = ap.parse_args(argv)

    py = sys.executable
    clips = TP.clip_paths([c.strip() for c in args.clips.split(",") if c.strip()], args.limit)
    results = {"machine": B.machine_info(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
               "command": " ".join(map(shlex.quote, [Path(py).name, *sys.argv])), "clips": {}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="veil-budget-") as tmp:
        work = Path(tmp)
        for name, clip in clips.items():
            src = TP.probe(clip)
            n = src["frames"]
            print(f"\n## {name}: {clip.name} {src['width']}x{src['height']}, {n} frames", file=sys.stderr)
            scan = work / f"{name}-scan.pickle"
            deface = TP.run_tool("deface", clip, work / name, [], args.timeout)
            veil = TP.run_tool("veil", clip, work / name, [], args.timeout,
                               veil=[py, "-c", _PATCHED_VEIL, "record", str(scan)])
            outside = TP.run_tool("veil-replayed", clip, work / name, [], args.timeout,
                                  veil=[py, "-c", _PATCHED_VEIL, "replay", str(scan)])
            plumbing = TP.measure([py, "-c", _PASS1_PLUMBING, str(clip)], args.timeout)
            look = TP.measure([py, "-c", _ONE_LOOK, str(clip)], args.timeout)
            for rec in (deface, veil, outside, plumbing, look):
                if rec["rc"] != 0:
                    print(f"  failed: {rec['cmd'][:120]}\n  {rec['log_tail']}", file=sys.stderr)
                    return 1
            one = json.loads(look["log_tail"].strip().splitlines()[-1])
            per = {k: 1000 * v / n for k, v in (("deface", deface["cpu_s"]), ("veil", veil["cpu_s"]),
                                                ("outside", outside["cpu_s"] + plumbing["cpu_s"]))}
            per["detection"] = per["veil"] - per["outside"]
            per["budget"] = per["deface"] / 2 - per["outside"]
            per["one_look"] = one["ms"]
            results["clips"][name] = {"input": {**src, "path": str(clip)}, "per_frame_cpu_ms": per,
                                      "one_look_mpx": one["mpx"], "runs": {
                                          "deface": deface, "veil": veil, "veil_replayed": outside,
                                          "pass1_plumbing": plumbing}}
            print("  " + ", ".join(f"{k} {v:.1f}" for k, v in per.items()), file=sys.stderr, flush=True)
            rows.append([f"{name} ({src['width']}x{src['height']}, {n} frames)", f"{per['deface']:.0f}",
                         f"{per['veil']:.0f}", f"{per['outside']:.0f}", f"{per['detection']:.0f}",
                         f"**{per['budget']:.0f}**", f"{per['one_look']:.0f} ({one['mpx']:.2f} Mpx)",
                         f"{per['budget'] / per['one_look']:.2f}"])
    results["loadavg_end"] = B.loadavg()
    B.write_json(args.out, results)
    print(B.md_table(["clip", "deface CPU ms / frame", "veil", "veil outside detection",
                      "veil's detection", "budget for detection at 2x deface", "one native look (1 thread)",
                      "budget / one look"], rows))
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
