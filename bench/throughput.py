#!/usr/bin/env python
"""Throughput (frames/s) and peak memory of ``veil anonymize`` vs ``deface``, same run.

Each repeat runs every tool once on the same clip, in an order rotated per
repeat (so neither always runs first on a warm cache); the table gives the
median over repeats and the veil/deface ratio. Every run is the whole CLI
end to end (start-up and model load included), as a user runs it:

* ``veil``          ``veil anonymize CLIP -o DIR``              (defaults, verification on)
* ``veil-noverify`` ``veil anonymize CLIP -o DIR --no-verify``
* ``deface``        ``deface CLIP -o OUT.mp4 --backend opencv`` (deface 1.5 as ``pip install deface`` runs it)
* ``deface-onnxrt``  ``deface CLIP -o OUT.mp4 --backend onnxrt`` (with ``onnx`` and ``onnxruntime`` installed)
* ``veil[LABEL]``   ``veil anonymize CLIP -o DIR ARGS``         (``--plan LABEL=ARGS``)

deface's ``--backend auto`` takes onnxruntime only where the ``onnx`` package is importable
too; ``pip install deface`` alone installs neither, so its users run OpenCV DNN. veil's
bench extra installs ``onnx`` (for ``quantize.py``), which silently switched the plain
``deface`` command of earlier runs to onnxruntime -- 0.72-0.84x OpenCV's speed here
(RESULTS.md, "deface's backend"). The reference is pinned to OpenCV DNN, the faster of the
two on this machine and what a plain install gives, so the ratios do not depend on what else
the venv holds.

frames/s = frames of the *input* clip (decoded with PyAV) / wall seconds.
CPU s = user + system time of the tool and all its children (getrusage),
less sensitive than wall time to other load on a shared machine. Peak RSS =
the largest sum of RSS over the tool's process tree, polled every 20 ms with
psutil (ffmpeg children included; shared pages counted once per process).
Exit code 3 (veil's verification found a leak) still writes the video and
counts as a completed run; the exit codes are listed. Each output is reopened with PyAV: its frame count and size are reported
(deface is known to write 300 frames of 640x368 for the 275-frame 640x360 clip).

Clips: (a) the White House clip ``../shared/data/videos/hamilton_whitehouse/
short_hamilton_clip.mp4`` (640x360, 275 frames); (b) the same clip upscaled to
1920x1080 with the ffmpeg bundled in imageio-ffmpeg (bicubic, x264 CRF 18
medium, audio copied), generated once into ``bench/out/clips/`` (sha256 in the JSON);
(c) clips built from the repository's own sources (:data:`SYNTHETIC`): ``4k``
(the White House clip upscaled to 3840x2160, first 30 frames), ``handheld``
and ``handheld4k`` (``motion_clips.py``: real camera shake over a still
scene with faces), ``crowd4k`` (``video_coverage.py``'s synthetic crowd).

Usage::

    nice -n 10 .venv/bin/python bench/throughput.py                 # both clips, 3 repeats
    .venv/bin/python bench/throughput.py --limit 60 --repeats 1     # quick: first 60 frames
    nice -n 10 .venv/bin/python bench/throughput.py --clips whitehouse,1080p,4k,handheld,crowd4k \
        --plan "full=--scan full" --short                        # issue 14's table, quick
    .venv/bin/python bench/throughput.py --clips whitehouse --tools veil-noverify,deface \\
        --veil-args "--no-tiles"
    .venv/bin/python bench/throughput.py --clips whitehouse --tools veil-noverify,deface \\
        --plan "te2=--no-verify --tile-every 2"     # one more veil configuration, same run

Writes ``bench/out/throughput.json``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
from veil.media import file_sha256  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(name: str, src: Path, *, size: tuple[int, int] | None, frames: int | None) -> Path:
    """Derived clip in bench/out/clips (cached): optional upscale, optional first N frames."""
    if size is None and frames is None:
        return src
    tag = (f"_{size[0]}x{size[1]}" if size else "") + (f"_first{frames}" if frames else "")
    dst = B.OUT / "clips" / f"{name}{tag}.mp4"
    if dst.exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src)]
    if size:
        cmd += ["-vf", f"scale={size[0]}:{size[1]}:flags=bicubic"]
    if frames:
        cmd += ["-frames:v", str(frames), "-an"]  # no audio: a longer audio track would lengthen the clip
    cmd += ["-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
            *([] if frames else ["-c:a", "copy"]), "-map_metadata", "-1", "-fflags", "+bitexact", str(dst) + ".tmp.mp4"]
    print("  generating", dst.name, "...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)
    os.replace(str(dst) + ".tmp.mp4", dst)
    return dst


#: Clips built from the repository's own sources (cached in bench/out/clips): name -> default frames.
SYNTHETIC = {"4k": 30, "handheld": 120, "handheld4k": 60, "crowd4k": 30}


def synthetic_clip(name: str, limit: int) -> Path:
    """``4k``: the White House clip upscaled to 3840x2160 (first 30 frames, as issue 14 measured);
    ``handheld``/``handheld4k``: ``motion_clips``' hand-held clip at 1920x1080 / 3840x2160;
    ``crowd4k``: ``video_coverage``'s synthetic crowd at 3840x2160 (30 faces)."""
    frames = limit or SYNTHETIC[name]
    if name == "4k":
        if frames > SYNTHETIC[name]:  # a longer stretch (--limit 275: the whole clip, as RESULTS times it)
            return make_clip("whitehouse", B.WHITE_HOUSE, size=(3840, 2160), frames=frames)
        up = make_clip("whitehouse", B.WHITE_HOUSE, size=(3840, 2160), frames=SYNTHETIC[name])
        return up if frames >= SYNTHETIC[name] else make_clip("whitehouse_3840x2160_first30", up, size=None,
                                                              frames=frames)
    if name == "crowd4k":
        import video_coverage as VC

        return VC.make_crowd_clip(frames=frames, faces=30, seed=7, W=3840, H=2160)[0]
    import motion_clips as MC

    size = (3840, 2160) if name == "handheld4k" else (1920, 1080)
    return MC.make("handheld", size=size, frames=frames)[0]


def probe(path: Path) -> dict:
    """Decode every frame with PyAV: count, size, and the stream's frame rate."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        n, w, h = 0, vs.codec_context.width, vs.codec_context.height
        for frame in c.decode(vs):
            n += 1
            w, h = frame.width, frame.height
        return {"frames": n, "width": w, "height": h, "fps": str(vs.average_rate),
                "audio": bool(c.streams.audio), "bytes": path.stat().st_size}


class TreeMonitor(threading.Thread):
    """Polls the RSS of a process and all its descendants; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.02):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak_tree = 0
        self.peak_single = 0
        self.stop = threading.Event()

    def run(self):
        import psutil

        while not self.stop.is_set():
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
            except psutil.Error:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.peak_single = max(self.peak_single, rss)
            self.peak_tree = max(self.peak_tree, total)
            self.stop.wait(self.interval)


#: deface's backend, pinned (module docstring: why).
DEFACE_BACKENDS = {"deface": ["--backend", B.DEFACE_BACKEND], "deface-onnxrt": ["--backend", "onnxrt"]}


def measure(cmd: list[str], timeout: float) -> dict:
    """Run ``cmd``: wall and CPU seconds (the whole process tree), peak memory, the log's tail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mon = TreeMonitor(proc.pid)
    mon.start()
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        log, _ = proc.communicate()
        log += "\n[timeout]"
    wall = time.perf_counter() - t0
    mon.stop.set()
    mon.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cmd": " ".join(map(shlex.quote, cmd)), "rc": proc.returncode, "wall_s": wall, "cpu_s": cpu,
            "peak_rss_tree_mb": mon.peak_tree / 2**20, "peak_rss_proc_mb": mon.peak_single / 2**20,
            "log_tail": log[-600:]}


def run_tool(tool: str, clip: Path, work: Path, veil_args: list[str], timeout: float, *,
             veil: list[str] | None = None) -> dict:
    """One run of ``tool`` on ``clip`` (``veil``: the command that stands for ``veil``, default the venv's)."""
    out_dir = work / f"{tool.replace('[', '-').replace(']', '')}-out"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    if tool in DEFACE_BACKENDS:
        out_file = out_dir / (clip.stem + ".mp4")
        cmd = [str(VENV_BIN / "deface"), str(clip), "-o", str(out_file), *DEFACE_BACKENDS[tool]]
    else:
        cmd = [*(veil or [str(VENV_BIN / "veil")]), "anonymize", str(clip), "-o", str(out_dir), *veil_args]
        if tool == "veil-noverify":
            cmd.append("--no-verify")
    rec = {"tool": tool, **measure(cmd, timeout)}
    outputs = [p for p in out_dir.rglob("*") if p.is_file() and p.suffix.lower() in (".mp4", ".mov", ".mkv")
               and "masks" not in p.parts]
    if outputs:
        rec["output"] = probe(outputs[0])
    return rec


def clip_paths(names: list[str], limit: int = 0) -> dict[str, Path]:
    """Clip name (whitehouse, 1080p, a SYNTHETIC name, or a path) -> its file, built and cached as needed."""
    clips = {}
    for c in names:
        if c == "whitehouse":
            clips[c] = make_clip("whitehouse", B.WHITE_HOUSE, size=None, frames=limit or None)
        elif c == "1080p":
            up = make_clip("whitehouse", B.WHITE_HOUSE, size=(1920, 1080), frames=None)
            clips[c] = make_clip("whitehouse_1920x1080", up, size=None, frames=limit or None)
        elif c in SYNTHETIC:
            clips[c] = synthetic_clip(c, limit)
        else:
            clips[Path(c).stem] = make_clip(Path(c).stem, Path(c), size=None, frames=limit or None)
    return clips


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default="whitehouse,1080p",
                    help=f"comma list of: whitehouse, 1080p, {', '.join(SYNTHETIC)}, or paths")
    ap.add_argument("--short", action="store_true",
                    help="quick look: first 30 frames of each clip, one repeat (unless --limit/--repeats say)")
    ap.add_argument("--tools", default="veil,veil-noverify,deface",
                    help="comma list of: veil, veil-noverify, deface, deface-onnxrt")
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool per clip (median reported)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N frames of each clip (quick check)")
    ap.add_argument("--veil-args", default="", help="extra arguments for veil anonymize, e.g. '--no-tiles'")
    ap.add_argument("--plan", action="append", default=[], metavar="LABEL=ARGS",
                    help="extra tool veil[LABEL]: veil anonymize with ARGS (and --veil-args), e.g. "
                         "'te2=--no-verify --tile-every 2' (repeatable)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument("--ref", default="deface")
    ap.add_argument("--keep", action="store_true", help="keep the outputs (in bench/out/throughput-work)")
    ap.add_argument("--out", type=Path, default=B.OUT / "throughput.json")
    args = ap.parse_args(argv)
    if args.short:
        args.limit = args.limit or 30
        args.repeats = 1 if "--repeats" not in (argv or sys.argv) else args.repeats

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    veil_args = shlex.split(args.veil_args)
    tool_args = {t: veil_args for t in tools}
    for tool, extra in B.cli_plans(args.plan).items():
        tools.append(tool)
        tool_args[tool] = veil_args + extra
    clips = clip_paths([c.strip() for c in args.clips.split(",") if c.strip()], args.limit)

    info = B.machine_info()
    work = B.OUT / "throughput-work" if args.keep else Path(tempfile.mkdtemp(prefix="veil-bench-"))
    results = {"machine": info, "command": " ".join(map(shlex.quote, [Path(sys.executable).name, *sys.argv])),
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "clips": {}}
    md = []
    try:
        for name, clip in clips.items():
            src = probe(clip)
            src["path"] = str(clip)
            src["sha256"] = file_sha256(clip)
            print(f"\n## {name}: {clip.name} {src['width']}x{src['height']}, {src['frames']} frames", file=sys.stderr)
            runs = {t: [] for t in tools}
            for rep in range(args.repeats):
                order = tools[rep % len(tools):] + tools[:rep % len(tools)]
                for tool in order:
                    rec = run_tool(tool, clip, work / name, tool_args[tool], args.timeout)
                    rec["repeat"], rec["load_before"] = rep, B.loadavg()
                    rec["fps"] = src["frames"] / rec["wall_s"]
                    runs[tool].append(rec)
                    o = rec.get("output", {})
                    print(f"  rep {rep} {tool:14s} rc={rec['rc']} {rec['wall_s']:7.1f}s {rec['fps']:6.2f} fps "
                          f"cpu {rec['cpu_s']:6.1f}s rss {rec['peak_rss_tree_mb']:6.0f} MB  out "
                          f"{o.get('frames')} fr {o.get('width')}x{o.get('height')}", file=sys.stderr, flush=True)
                    if rec["rc"] != 0:
                        print("    log:", rec["log_tail"].replace("\n", "\n    "), file=sys.stderr)
            summary = {}
            for tool, rs in runs.items():
                rs = [r for r in rs if r.get("output")] or rs  # timings of runs that wrote a video
                summary[tool] = {
                    "fps_median": B.median([r["fps"] for r in rs]),
                    "fps_all": [round(r["fps"], 3) for r in rs],
                    "wall_s_median": B.median([r["wall_s"] for r in rs]),
                    "cpu_s_median": B.median([r["cpu_s"] for r in rs]),
                    "peak_rss_tree_mb_max": max(r["peak_rss_tree_mb"] for r in rs),
                    "peak_rss_tree_mb_median": B.median([r["peak_rss_tree_mb"] for r in rs]),
                    "rcs": [r["rc"] for r in runs[tool]],
                    "output": next((r["output"] for r in reversed(rs) if r.get("output")), None),
                }
            results["clips"][name] = {"input": src, "runs": runs, "summary": summary}
            ref = summary.get(args.ref)
            if ref and not ref["output"]:
                ref = None
            rows = []
            for tool, s in summary.items():
                o = s["output"] or {}
                if not s["output"]:  # no run wrote a video (exit 3 = leak found by verification still writes)
                    rows.append([tool, "FAILED"] + [""] * 6 + [",".join(map(str, s["rcs"]))])
                    continue
                ratio = f"{s['fps_median'] / ref['fps_median']:.2f}x" if ref else "-"
                cpu_ratio = f"{ref['cpu_s_median'] / s['cpu_s_median']:.2f}x" if ref and s["cpu_s_median"] else "-"
                rows.append([tool, f"{s['fps_median']:.2f}", ratio, f"{s['wall_s_median']:.1f}",
                             f"{s['cpu_s_median']:.1f}", cpu_ratio, f"{s['peak_rss_tree_mb_max']:.0f}",
                             f"{o.get('frames')} @ {o.get('width')}x{o.get('height')}",
                             ",".join(map(str, s["rcs"]))])
            table = (f"### {name}: {src['width']}x{src['height']}, {src['frames']} frames, "
                     f"{args.repeats} repeat(s), interleaved\n\n" +
                     B.md_table(["tool", "frames/s (median)", f"fps vs {args.ref}", "wall s", "CPU s",
                                 f"CPU-efficiency vs {args.ref}", "peak RSS MB (tree)", "output frames @ size",
                                 "exit codes"], rows))
            md.append(table)
            print(table + "\n", flush=True)
            B.write_json(args.out, results)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["loadavg_end"] = B.loadavg()
    B.write_json(args.out, results)
    print(f"(load avg {info.get('loadavg_start')} -> {results['loadavg_end']}; JSON: {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
