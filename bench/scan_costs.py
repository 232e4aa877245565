#!/usr/bin/env python
"""What one CenterFace call costs, by input size, alone or batched (issue #14, "do less work per scan").

CPU time (process time, one onnxruntime thread, veil's own session via
``CenterFace.model``) of one network run on a random ``(N, 3, H, W)`` input,
median of ``--repeats`` runs, sizes interleaved round by round. Rows: the
sizes a motion-aware plan produces (small windows around faces, tiles,
whole frames) and the batches of equal-sized windows onnxruntime could take
in one call. A batch is worth building only where the per-item time drops.

Usage::

    nice -n 10 .venv/bin/python bench/scan_costs.py
    .venv/bin/python bench/scan_costs.py --sizes 96,128,544 --batches 1,4,8 --repeats 9

Writes ``bench/out/scan_costs.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
from veil.detect import CenterFace  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="64,96,128,160,192,256,384,544,384x640,736x1280",
                    help="square sides or HxW, multiples of 32")
    ap.add_argument("--batches", default="1,2,4,8")
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--out", type=Path, default=B.OUT / "scan_costs.json")
    args = ap.parse_args(argv)
    shapes = [tuple(int(v) for v in s.split("x")) if "x" in s else (int(s), int(s)) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    model = CenterFace(threads=1).model
    rng = np.random.default_rng(0)
    cases = [(h, w, n) for h, w in shapes for n in batches if n == 1 or h * w <= 256 * 256]
    blobs = {c: rng.uniform(0, 255, (c[2], 3, c[0], c[1])).astype(np.float32) for c in cases}
    for blob in blobs.values():  # warm-up: onnxruntime plans each shape once
        model.run(blob)
    times = {c: [] for c in cases}
    for _ in range(args.repeats):
        for c in cases:
            t0 = time.process_time()
            model.run(blobs[c])
            times[c].append(time.process_time() - t0)
    rows, raw = [], []
    for h, w, n in cases:
        ms = 1000 * float(np.median(times[h, w, n])) / n
        single = 1000 * float(np.median(times[h, w, 1]))
        rows.append([f"{h}x{w}", n, f"{ms:.2f}", f"{1e6 * ms / (h * w):.0f}", f"{ms / single:.2f}"])
        raw.append({"h": h, "w": w, "batch": n, "ms_per_item": round(ms, 3)})
    print(B.md_table(["network input", "batch", "CPU ms per item", "ns per pixel", "vs one at a time"], rows))
    B.write_json(args.out, {"machine": B.machine_info(), "command": " ".join(map(shlex.quote, sys.argv)),
                            "rows": raw})
    return 0


if __name__ == "__main__":
    sys.exit(main())
