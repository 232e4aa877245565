#!/usr/bin/env python
"""Peak memory of ``veil anonymize`` on large pictures: bytes per pixel, for the README.

A large picture is decoded whole (RGB, plus a detection copy, the output and the
masks), so memory grows with its pixel count, not its file size: a one-bit PNG of
169 MP is 20 KB on disk. This script writes blank PNGs of several sizes, colour
or one-bit (the cheapest files that still decode to that many pixels), runs the CLI on each in a
subprocess and reads the child's peak resident memory.

Usage::

    .venv/bin/python bench/large_picture_memory.py [--mp 12 25 50] [--mode RGB|1] [--verify]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def run(megapixels: float, verify: bool, mode: str) -> dict:
    side = int((megapixels * 1e6) ** 0.5)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.png"
        Image.new(mode, (side, side), 1 if mode == "1" else (90, 120, 150)).save(src)
        args = [sys.executable, "-m", "veil.cli", "anonymize", str(src), "-o", str(Path(tmp) / "out")]
        if not verify:
            args.append("--no-verify")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        if peak_kib <= before:
            print("warning: an earlier child had a larger peak; run sizes in increasing order", file=sys.stderr)
        return {"mp": side * side / 1e6, "file_kb": src.stat().st_size / 1e3, "peak_gib": peak_kib / 2**20,
                "bytes_per_pixel": peak_kib * 1024 / (side * side), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, nargs="+", default=[12, 25, 50], help="sizes in megapixels (increasing)")
    parser.add_argument("--verify", action="store_true", help="with verification (default: --no-verify)")
    parser.add_argument("--mode", choices=["1", "RGB"], default="RGB", help="one-bit or colour pictures")
    args = parser.parse_args()
    rows = [run(mp, args.verify, args.mode) for mp in sorted(args.mp)]
    print(f"command: {' '.join(sys.argv)}")
    print(f"| {args.mode} picture | file size | peak memory | bytes per pixel | time |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mp']:.1f} MP | {r['file_kb']:.0f} KB | {r['peak_gib']:.2f} GiB | {r['bytes_per_pixel']:.1f} | "
              f"{r['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
