#!/usr/bin/env python
"""Cores a command keeps busy, interval by interval: where a run leaves CPUs idle.

Runs the command, samples the CPU time (user + system) of its whole process
tree every ``--every`` seconds and prints the cores used in each interval,
then the wall and CPU totals. A stretch at one core on a two-core machine is
a part of the run that does not use both (found this way: the residual check's
last frames after encoding, bench/RESULTS.md). ``py-spy dump --pid PID`` during
such a stretch says what runs there.

Usage::

    .venv/bin/python bench/cpu_trace.py -- .venv/bin/veil anonymize CLIP -o OUT
    .venv/bin/python bench/cpu_trace.py --every 0.5 --json out.json -- .venv/bin/veil anonymize CLIP -o OUT

A/B of two commits: a worktree of the older one and ``PYTHONPATH=WORKTREE/src``
before ``.venv/bin/python -m veil ...`` (the editable install is a plain path
entry, which ``PYTHONPATH`` precedes); interleave the runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil


def tree_cpu(proc: psutil.Process) -> float | None:
    """CPU seconds (user + system) of ``proc`` and its live children; None if it is gone."""
    try:
        procs = [proc, *proc.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs)
    except psutil.Error:
        return None


def trace(cmd: list[str], every: float) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    samples, last, last_t = [], 0.0, t0
    while child.poll() is None:
        time.sleep(every)
        cpu, now = tree_cpu(proc), time.perf_counter()
        if cpu is None:
            continue
        samples.append((round(now - t0, 2), round((cpu - last) / (now - last_t), 2)))
        last, last_t = cpu, now
    err = child.stderr.read() if child.stderr else ""
    child.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cmd": cmd, "rc": child.returncode, "wall_s": round(time.perf_counter() - t0, 2),
            "cpu_s": round(cpu, 2), "samples": samples, "stderr_tail": err[-400:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--json", type=Path, help="also write the samples here")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("give the command after --")
    out = trace(cmd, args.every)
    print(" ".join(f"{t:g}:{c:.2f}" for t, c in out["samples"]))
    print(f"rc {out['rc']}  wall {out['wall_s']} s  CPU {out['cpu_s']} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0 if out["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
