#!/usr/bin/env python
"""Why the motion-aware plans lose a (frame, face) pair that every tile on every frame covers.

Reads a ``motion_scan.py`` JSON holding ``every`` and a motion system, replays
that system's planner over the same frames (same detector, same planner
settings: its boxes must equal the stored ones, checked), and for each
reference pair of at least ``--min-width`` px that ``every``'s masks cover and
the system's do not, prints what the plan did there:

* ``frame``: frame index; ``since_full``: frames since the last whole-frame scan;
* ``cover``: the system's mask coverage of the box (0: no region at all);
* ``every`` / ``plan``: best merged score on the face (IoU >= 0.3 with the
  reference box; ``-`` none) under every tile and under the plan;
* ``fresh``: which passes ran a call holding the box whole this frame
  (``f`` full, ``c`` coarse, ``t`` tiles); ``cand``: the plan's candidates
  on the face (IoU >= 0.3), fresh or carried, per pass, with their scores;
* ``class``: a first classification (see :func:`classify`).

Usage::

    .venv/bin/python bench/motion_misses.py bench/out/ms_crowd4k_base.json --clip crowd4k
    .venv/bin/python bench/motion_misses.py OUT.json --clip handheld4k --system r10 --motion "relook_below=0.1"
    .venv/bin/python bench/motion_misses.py --bins A.json B.json   # the bar, per size bin, per clip and system

The replay costs what the system's pass 1 cost (one detector run per call).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import motion_scan as MS  # noqa: E402
import video_coverage as VC  # noqa: E402
from veil.config import Config  # noqa: E402
from veil.detections import box_iou  # noqa: E402
from veil.detect import default_detector  # noqa: E402
from veil.detect.scanplan import ScanPlanner, join_passes, run_plan  # noqa: E402
from veil.detect.scancalls import still_valid  # noqa: E402
from veil.detect.scanwindows import held_by  # noqa: E402
from veil.track import frame_signature, signature_distance  # noqa: E402


class CachedBase:
    """The network, each (crop, scale) of the current frame computed once (the replay runs a plan twice)."""

    def __init__(self, base):
        self.base, self.threshold, self.cache = base, base.threshold, {}

    def detect(self, rgb, *, scale=1.0, threshold=None):
        key = (rgb.__array_interface__["data"][0], rgb.shape, scale, threshold)
        if key not in self.cache:
            self.cache[key] = self.base.detect(rgb, scale=scale, threshold=threshold)
        return self.cache[key]


def best(boxes: np.ndarray, scores: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """(IoU, score) of the best-scoring box with IoU >= 0.3 on ``gt``, or (0, nan)."""
    if not len(boxes):
        return 0.0, float("nan")
    iou = box_iou(np.asarray(gt, np.float32)[None], np.asarray(boxes, np.float32))[0]
    ok = iou >= 0.3
    if not ok.any():
        return float(iou.max()), float("nan")
    k = np.flatnonzero(ok)[np.argmax(np.asarray(scores)[ok])]
    return float(iou[k]), float(scores[k])


def classify(row: dict, threshold: float) -> str:
    """A first reading of one lost pair."""
    if row["cover"] > 0:
        return "region too small/misplaced" + (" (carried box)" if row["carried_only"] else "")
    if row["full"]:
        return "whole-frame scan, scored under threshold"
    if not row["cand"]:
        return "not looked at, no candidate" if not row["fresh"] else "looked at, nothing found"
    if row["carried_only"]:
        return "carried candidate under threshold"
    return "looked at, scored under threshold" + ("" if "t" in row["fresh"] else " (no tile call)")


def replay(name: str, args, system: dict, clip: Path, ref: dict) -> list[dict]:
    det = default_detector(Config(), threads=1)
    det.base = CachedBase(det.base)
    planner = ScanPlanner(det, _shape(clip), **args.motion)
    stored = system["motion"]
    plan_rows, last_full, signatures = [], -1, []
    for i, rgb in VC.iter_rgb(clip, len(ref["frames"])):
        det.base.cache = {}
        sig = frame_signature(rgb)
        change = bool(signatures) and signature_distance(signatures[-1], sig) > args.shot_hint
        signatures.append(sig)
        plan = planner.plan(rgb, shot_change=change)
        fresh = run_plan(det, rgb, plan)
        extra = planner.follow_up(plan, fresh)
        calls = plan.calls + extra
        if extra:
            fresh = join_passes(fresh, run_plan(det, rgb, extra))
        kept = still_valid(plan.carried, calls)
        merged = planner.run(rgb, plan)
        got = np.round(np.hstack([merged.xyxy, merged.scores[:, None]]), 2).tolist()
        if got != stored["raw"][i]:
            print(f"  frame {i}: replay differs from the stored run", file=sys.stderr)
        last_full = i if plan.full else last_full
        plan_rows.append({"plan": plan, "calls": calls, "fresh": fresh, "kept": kept, "merged": merged,
                          "since_full": i - last_full})
    return plan_rows


def _shape(clip: Path) -> tuple[int, int]:
    for _, rgb in VC.iter_rgb(clip, 1):
        return rgb.shape
    raise SystemExit(f"{clip}: no frames")


def lost_pairs(name: str, res: dict, ref: dict, sysname: str, min_width: float) -> list[tuple[int, int]]:
    cov_e = res["systems"]["every"]["coverage"]["reference"]["per_frame"]
    cov_m = res["systems"][sysname]["coverage"]["reference"]["per_frame"]
    out = []
    for k, f in enumerate(ref["frames"]):
        for j, b in enumerate(f["boxes"]):
            if b[2] - b[0] < min_width:
                continue
            e, m = cov_e[k][j], cov_m[k][j]
            if e is not None and e >= 0.8 and (m is None or m < 0.8):
                out.append((k, j))
    return out


def bins_table(paths: list[Path]) -> str:
    """(frame, face) pairs covered per size bin, flash frames, every's confident boxes covered and cost, per
    clip and system of ``motion_scan.py`` runs (a system in several files: the last one's)."""
    rows = []
    for path in paths:
        for name, res in json.loads(Path(path).read_text())["clips"].items():
            for s, r in res["systems"].items():
                ref, conf = r["coverage"]["reference"], r["coverage"]["every_confident"]
                rows.append([name, s] + [B.pct(*ref["pairs"][k]) if ref["pairs"][k][1] else "–"
                                         for k in ("<16", "16-32", "32-64", ">=64", ">=16")]
                            + [ref["flash_frames"], ref["gap_frames"], B.pct(*conf["pairs"]["all"]),
                               r.get("mpx") or "", r.get("cpu_ms") or "", Path(path).name])
    return B.md_table(["clip", "system", "< 16 px", "16-32", "32-64", ">= 64", ">= 16", "flash", "gap",
                       "every's confident covered", "network Mpx/frame", "CPU ms/frame", "run"], rows)


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--bins":
        print(bins_table([Path(p) for p in sys.argv[2:]]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", type=Path)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--system", default="motion", help="the motion system in the JSON to explain")
    ap.add_argument("--motion", default="", help="that system's planner settings (key=value,...)")
    ap.add_argument("--min-width", type=float, default=16.0)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--shot-hint", type=float, default=0.1)
    ap.add_argument("--out", type=Path, help="write the rows as JSON")
    args = ap.parse_args(argv)
    args.size = tuple(int(v) for v in args.size.split("x"))
    args.motion = B.parse_overrides(args.motion) if args.motion else {}
    res = json.loads(args.json.read_text())["clips"][args.clip]
    clip, ref = MS.clip_and_reference(args.clip, args)
    ref = {**ref, "frames": ref["frames"][:res["frames"]]}
    system = {"every": res["systems"]["every"], "motion": res["systems"][args.system]}
    lost = lost_pairs(args.clip, res, ref, args.system, args.min_width)
    print(f"{len(lost)} pairs >= {args.min_width:g} px covered by every, not by {args.system}", file=sys.stderr)
    plans = replay(args.clip, args, system, clip, ref)
    thr = default_detector(Config(), threads=1).threshold
    rows, names = [], {"full": "f", "coarse": "c", "tiles": "t"}
    cov_m = res["systems"][args.system]["coverage"]["reference"]["per_frame"]
    for k, j in lost:
        gt = np.array(ref["frames"][k]["boxes"][j], float)
        p = plans[k]
        e = np.asarray(system["every"]["raw"][k], float).reshape(-1, 5)
        _, e_score = best(e[:, :4], e[:, 4], gt)
        m = p["merged"]
        _, m_score = best(m.xyxy, m.scores, gt)
        fresh = "".join(names[c.layer] for c in p["calls"] if held_by(gt[None], [c.window])[0])
        cand = []
        for tag, passes in (("", p["fresh"]), ("carried ", p["kept"])):
            for q in passes:
                _, s = best(q.detections.xyxy, q.detections.scores, gt)
                if not np.isnan(s):
                    cand.append(f"{tag}{q.name} {s:.2f}")
        row = {"frame": k, "track": ref["frames"][k]["track"][j], "width": round(float(gt[2] - gt[0]), 1),
               "box": [round(float(v)) for v in gt], "since_full": p["since_full"], "full": p["plan"].full,
               "reason": p["plan"].reason, "cover": round(float(cov_m[k][j] or 0.0), 2),
               "every": round(e_score, 2), "plan": round(m_score, 2), "fresh": "".join(sorted(set(fresh))),
               "cand": cand, "carried_only": bool(cand) and all(c.startswith("carried") for c in cand)}
        row["class"] = classify(row, thr)
        rows.append(row)
    head = ["frame", "track", "width", "box", "since_full", "reason", "cover", "every", "plan", "fresh", "cand",
            "class"]
    print(B.md_table(head, [[r[h] if h != "cand" else "; ".join(r[h]) for h in head] for r in rows]))
    print()
    print(B.md_table(["class", "pairs"], sorted(Counter(r["class"] for r in rows).items(), key=lambda x: -x[1])))
    if args.out:
        B.write_json(args.out, {"json": str(args.json), "clip": args.clip, "system": args.system, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
