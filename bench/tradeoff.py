#!/usr/bin/env python
"""Coverage vs. over-redaction: what veil's detection threshold and head regions trade.

Issue #3 asks for faces >= 16 px >= 99%, >= 32 px >= 99.5% and over-redaction
<= 2% at once. This script measures how far apart those are with the models
veil has. It runs veil's default detector once per picture, keeping every pass's
candidates (``MultiScaleDetector.passes``: the whole-frame pass and the adaptive
tiles, at the probe threshold 0.05), then replays ``MultiScaleDetector.merge``
offline for each point of a grid:

* ``thr``: the final threshold, for every box, or per box size (``thr_tiny``
  for boxes < 16 px, ``thr_big`` for boxes >= 64 px; those points merge at the
  lowest of their thresholds, then filter by size);
* ``scale``: the head region size (``Config.region_scale``);
* ``coarse``: false drops the half-resolution pass's candidates (veil before it).

The replay is exact for veil's pipeline on photos: the default point reproduces
``bench/coverage.py``'s veil column (same metrics from ``benchlib``: protected =
>= 80% of a ground-truth box anonymized; over-redaction = share of the picture
anonymized outside every ground-truth box grown 1.5x).

Usage::

    .venv/bin/python bench/tradeoff.py                 # both sets, the default grid (~3 min + ~6 min)
    .venv/bin/python bench/tradeoff.py --sets wider --grid '[{"thr": 0.2, "scale": 1.5}]'

Candidates are cached in ``bench/out/tradeoff-passes-<set>.npz`` (keyed by the
source tree hash); results go to ``bench/out/tradeoff.json`` and stdout (markdown).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from veil.config import Config  # noqa: E402
from veil.detect import default_detector  # noqa: E402
from veil.detect.multiscale import Pass  # noqa: E402
from veil.detections import Detections  # noqa: E402
from veil.region import head_regions  # noqa: E402

SETS = {"wider": B.load_wider, "face_mask": B.load_face_mask}
#: The source tree this process imported (hashed once: later edits do not change what runs).
TREE = B.src_tree_sha256(ROOT / "src" / "veil")

#: The default grid: veil's defaults first, then one lever at a time, then combinations.
GRID = [
    {"label": "veil defaults", "thr": 0.1, "scale": 1.6},
    {"thr": 0.1, "scale": 1.6, "coarse": False},
    {"thr": 0.1, "scale": 1.8}, {"thr": 0.1, "scale": 1.7}, {"thr": 0.1, "scale": 1.5}, {"thr": 0.1, "scale": 1.4},
    {"thr": 0.15, "scale": 1.6}, {"thr": 0.2, "scale": 1.6}, {"thr": 0.3, "scale": 1.6},
    {"thr": 0.1, "thr_tiny": 0.3, "scale": 1.6}, {"thr": 0.1, "thr_big": 0.3, "scale": 1.6},
    {"thr": 0.1, "thr_tiny": 0.3, "thr_big": 0.3, "scale": 1.5},
    {"thr": 0.2, "scale": 1.5}, {"thr": 0.2, "scale": 1.4}, {"thr": 0.3, "scale": 1.4},
    {"thr": 0.1, "thr_tiny": 0.5, "thr_big": 0.3, "scale": 1.4},
]


#: The passes veil's detector may run (``MultiScaleDetector.passes``), as cached.
PASS_NAMES = ("full", "coarse", "flip", "tiles")


def cache_passes(set_name: str, items, out: Path, *,
                 reuse: bool = False) -> tuple[list[list[Pass]], list[tuple[int, int]], str]:
    """Every picture's passes at the probe threshold, its size, and the source tree hash that found them.

    Cached by source tree hash; ``reuse`` takes a cache from another tree (e.g.
    after edits that do not touch detection) and says so.
    """
    path = out / f"tradeoff-passes-{set_name}.npz"
    z = np.load(path) if path.exists() else None
    fresh = (z is not None and (reuse or str(z["tree"]) == TREE) and int(z["n"]) == len(items)
             and "0/shape" in z)
    if not fresh:
        detector = default_detector(Config())
        store: dict[str, np.ndarray] = {"tree": np.array(TREE), "n": np.array(len(items))}
        t0 = time.perf_counter()
        for k, item in enumerate(items):
            rgb = B.read_rgb(item.path)
            store[f"{k}/shape"] = np.array(rgb.shape[:2])
            for p in detector.passes(rgb):
                if p.name not in PASS_NAMES:
                    raise SystemExit(f"tradeoff.py does not know the pass {p.name!r}: add it to PASS_NAMES")
                store[f"{k}/{p.name}/xyxy"] = p.detections.xyxy
                store[f"{k}/{p.name}/scores"] = p.detections.scores
                store[f"{k}/{p.name}/landmarks"] = p.detections.landmarks
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **store)
        print(f"{set_name}: {len(items)} pictures detected in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        z = np.load(path)
    elif str(z["tree"]) != TREE:
        print(f"{set_name}: reusing candidates found by source tree {z['tree']} (now {TREE})", file=sys.stderr)
    passes = [_passes_from(z, k) for k in range(len(items))]
    shapes = [tuple(int(v) for v in z[f"{k}/shape"]) for k in range(len(items))]
    return passes, shapes, str(z["tree"])


def _passes_from(z, k: int) -> list[Pass]:
    out = []
    for name in PASS_NAMES:
        if f"{k}/{name}/xyxy" in z:
            d = Detections(z[f"{k}/{name}/xyxy"], scores=z[f"{k}/{name}/scores"],
                           landmarks=z[f"{k}/{name}/landmarks"])
            out.append(Pass(name, d, small=name == "tiles"))
    return out


def evaluate(items, passes, shapes, point: dict) -> dict:
    """Protected shares and over-redaction for one grid point."""
    thr = point["thr"]
    lowest = min(thr, point.get("thr_tiny", thr), point.get("thr_big", thr))
    merger = default_detector(Config(threshold=lowest))
    widths, protected, over = [], [], []
    for item, ps, (h, w) in zip(items, passes, shapes):
        dets = merger.merge(ps if point.get("coarse", True) else [p for p in ps if p.name != "coarse"])
        if len(dets):
            size = np.maximum(dets.widths, dets.heights)
            need = np.where(size < 16, point.get("thr_tiny", thr), np.where(size >= 64, point.get("thr_big", thr), thr))
            dets = dets[dets.scores >= need]
        mask = head_regions(dets, scale=point["scale"]).mask(h, w)
        if len(item.boxes):
            widths.append(item.boxes[:, 2])
            protected.append(B.box_coverage(mask, item.boxes) >= 0.8)
        over.append(float((mask & ~B.allowance_mask(item.allowance, (h, w))).mean()))
    widths, protected = np.concatenate(widths), np.concatenate(protected)
    rows = B.summarize(widths, protected)
    return {"rows": rows, "over_mean": float(np.mean(over)), "over_p95": float(np.percentile(over, 95))}


def describe(point: dict) -> str:
    if "label" in point:
        return f"{point['label']} (threshold {point['thr']}, regions {point['scale']}x)"
    parts = [f"threshold {point['thr']}"]
    if "thr_tiny" in point:
        parts.append(f"{point['thr_tiny']} for boxes < 16 px")
    if "thr_big" in point:
        parts.append(f"{point['thr_big']} for boxes >= 64 px")
    if not point.get("coarse", True):
        parts.append("no coarse pass")
    return ", ".join(parts) + f", regions {point['scale']}x"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="wider,face_mask")
    ap.add_argument("--grid", default=None, help="JSON list of points (keys thr, thr_tiny, thr_big, scale)")
    ap.add_argument("--out", type=Path, default=B.OUT)
    ap.add_argument("--reuse", action="store_true",
                    help="use cached candidates even if found by another source tree (recorded in the JSON)")
    args = ap.parse_args(argv)
    grid = json.loads(args.grid) if args.grid else GRID
    result = {"machine": B.machine_info(), "command": "python bench/tradeoff.py " + " ".join(argv or sys.argv[1:]),
              "sets": {}}
    for set_name in args.sets.split(","):
        items, _ = SETS[set_name]()
        passes, shapes, tree = cache_passes(set_name, items, args.out, reuse=args.reuse)
        result.setdefault("candidates_tree", {})[set_name] = tree
        table = []
        for point in grid:
            r = evaluate(items, passes, shapes, point)
            table.append({"point": point, **r})
        result["sets"][set_name] = table
        print(f"\n### {set_name} ({len(items)} pictures; candidates from source tree {tree})\n")
        header = ["plan", ">=16 px", ">=32 px", "all", "over-redaction mean / p95"]
        lines = []
        for row in table:
            rows = row["rows"]
            lines.append([describe(row["point"]), B.pct(*rows[">=16"]), B.pct(*rows[">=32"]), B.pct(*rows["all"]),
                          f"{100 * row['over_mean']:.2f}% / {100 * row['over_p95']:.2f}%"])
        print(B.md_table(header, lines))
    B.write_json(args.out / "tradeoff.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
