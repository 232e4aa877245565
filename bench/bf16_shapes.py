#!/usr/bin/env python
"""--precision bf16 and input shapes: memory and CPU of OpenVINO's per-shape cache (issue 14).

OpenVINO prepares kernels for each input shape it meets and keeps them
(``veil.detect.bf16.SHAPE_CACHE`` entries, its own default 5000). The motion
plans send windows of many sizes, so this measures what that costs:

* ``random``: CenterFace on windows of random sizes (``--max-side``) of one
  picture, one process: resident memory and CPU seconds every ``--every``
  calls, for ``--precision`` fp32 (onnxruntime) or bf16 (OpenVINO).
* ``plans``: ``bench/motion_scan.py`` (its own arguments after ``--``) with
  ``SHAPE_CACHE`` set to ``--cache`` first: the plans' CPU per frame with a
  smaller cache.

Usage::

    .venv/bin/python bench/bf16_shapes.py random --precision bf16 --calls 2000
    .venv/bin/python bench/bf16_shapes.py random --precision bf16 --cache 64
    .venv/bin/python bench/bf16_shapes.py plans --cache 1024 -- --no-pass2 --precision bf16 \\
        --systems motion --clips handheld4k --frames 60 --limit 30 --out /tmp/cap.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def random_windows(args) -> None:
    from veil.detect import CenterFace

    det = CenterFace(precision=args.precision, threads=1)
    rng = np.random.default_rng(args.seed)
    picture = (rng.random((args.max_side, args.max_side, 3)) * 255).astype(np.uint8)
    print(f"| calls | RSS MB | CPU s | ({args.precision}, cache {args.cache}, sides 64-{args.max_side}) |")
    print("|---:|---:|---:|---|")
    cpu = time.process_time()
    for i in range(1, args.calls + 1):
        h, w = rng.integers(64, args.max_side, 2)
        det.detect(picture[:h, :w])
        if i % args.every == 0:
            print(f"| {i} | {rss_mb():.0f} | {time.process_time() - cpu:.1f} | |", flush=True)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["random", "plans"])
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--cache", type=int, default=None, help="SHAPE_CACHE (default: veil's)")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--max-side", type=int, default=1300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from veil.detect import bf16

    if args.cache is not None:
        bf16.SHAPE_CACHE = args.cache
    args.cache = bf16.SHAPE_CACHE
    if args.mode == "random":
        random_windows(args)
        return 0
    import motion_scan

    return motion_scan.main(rest)


if __name__ == "__main__":
    sys.exit(main())
