#!/usr/bin/env python
"""Leak rate: how often an anonymized face still matches ITS OWN original.

Issue #4, "Benchmark": leak rate for veil's modes and for deface's defaults,
all judged by the same verifier (``veil.verify``, every attack); the impostor
threshold and its provenance; verification cost per face and per minute of video.

1. **LFW photos** (``../shared/data/lfw``, 250x250 deep-funneled). Sample: the
   identities of ``manifest.csv`` sorted by name, the first ``--limit`` of them,
   image ``_0001`` of each (one image per person, deterministic). The face box
   is veil's detector (``Config()`` defaults) on the original, largest face;
   where it finds none, the LFW centre box (70,70)-(180,180) (counted). Systems,
   all on the same decoded pixels:

   * ``veil-fill``, ``veil-noise``, ``veil-pixelate``, ``veil-blur``:
     ``veil.pipeline.anonymize_image(pixels, Config(mode=..., verify=False))``
     -- the raw anonymizer, no escalation (veil's own detections, computed once
     per picture and handed back through a fixed detector: same boxes, less time;
     ``seed`` = 1000 + picture index: ``noise`` and ``pixelate`` draw random
     numbers, so runs are reproducible and raw and escalated renders share the draw);
   * ``veil-pixelate+esc``, ``veil-blur+esc``: ``veil.pipeline.anonymize_file``
     with verification on (escalation), on a lossless PNG copy of the decoded
     pixels (a JPEG copy would add re-encoding noise that is not the
     anonymizer's); the output is read back. Where it is pixel-identical to the
     raw output (nothing escalated) the raw verdict is reused (no new embeddings);
   * ``deface-blur``, ``deface-mosaic``: deface 1.5 defaults -- its own
     CenterFace (threshold 0.2, full resolution) and ``deface.deface.anonymize_frame``
     (mask_scale 1.3, ellipse, ``replacewith`` blur / mosaic, mosaicsize 20).

   Every anonymized picture is checked with
   ``veil.verify.verify_face(original, anonymized, box, region_mask=changed_mask(...), attacks='all')``
   -- every attack, the same for every system, region mask from the pixels that
   changed (as ``veil verify`` does for any tool). A face **leaks** when its
   strongest-attack distance is below ``IMPOSTOR_THRESHOLD``. "As published" is
   the ``identity`` candidate's distance (``attacks='none'``) taken from the
   same verdict, at no extra cost. Leak rate = leaks / verified faces, with a
   95% Wilson interval; unverifiable faces are counted, never in the denominator.

2. **White House clip** (``--video``): ``veil anonymize CLIP -o OUT`` (defaults,
   verification on) and ``--no-verify`` (overhead), ``deface CLIP -o OUT.mp4``
   with its defaults and with ``--replacewith mosaic``, both outputs checked with
   ``veil verify CLIP DEFACE_OUT --json`` (every attack, multi-frame attack,
   residual check). deface writes 640x368 and re-times to 300 frames; ``veil
   verify`` pairs frames by time and scales back (it warns). ``--video-limit-frames N``
   cuts the first N frames (x264 CRF 18, no audio) into ``bench/out/clips/``.

3. The threshold and its provenance (``veil.verify.PROVENANCE``).

veil is imported from a copy of ``src/veil`` taken at start (its hash is in the
JSON and the first output line), in this process and in the CLIs it starts
(``PYTHONPATH``), so edits to the tree during a run cannot mix versions.

Ethics: the recognizer only ever compares a face with its own anonymized
version. No embedding and no pixel is stored; the JSON holds distances only.

Usage::

    nice -n 10 .venv/bin/python bench/leak_rate.py                    # 60 LFW faces + the whole clip
    .venv/bin/python bench/leak_rate.py --limit 5 --no-video           # quick check
    .venv/bin/python bench/leak_rate.py --limit 30 --video-limit-frames 90
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402  (also puts src/ on sys.path)


def _snapshot_src() -> tuple[Path, str]:
    """Copy ``src/veil`` to a temporary folder and import veil from there.

    A run takes ~15 minutes; the tree may be edited meanwhile. Every veil import
    of this process and of the CLIs it starts (``PYTHONPATH``) then reads one
    fixed copy, whose hash is recorded.
    """
    snap = Path(tempfile.mkdtemp(prefix="veil-leak-src-"))
    shutil.copytree(bl.REPO / "src" / "veil", snap / "veil",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = bl.src_tree_sha256(snap / "veil")
    sys.path.insert(0, str(snap))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(snap)] + [x for x in [os.environ.get("PYTHONPATH")] if x])
    return snap, digest

LFW = bl.DATA / "lfw"
CENTRE_BOX = (70.0, 70.0, 180.0, 180.0)
VEIL_MODES = ("fill", "noise", "pixelate", "blur")
ESCALATED = ("pixelate", "blur")
DEFACE_MODES = ("blur", "mosaic")
SYSTEMS = ([f"veil-{m}" for m in VEIL_MODES] + [f"veil-{m}+esc" for m in ESCALATED]
           + [f"deface-{m}" for m in DEFACE_MODES])
SEED0 = 1000
VENV_BIN = bl.REPO / ".venv" / "bin"


# -- statistics ------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def fmt_rate(k: int, n: int) -> str:
    if not n:
        return "-"
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {100 * k / n:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def fnum(x, nd=3) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


# -- LFW sample ------------------------------------------------------------------
def lfw_sample(limit: int) -> list[tuple[str, Path]]:
    """First ``limit`` identities (sorted by name), image _0001 of each."""
    rows = list(csv.DictReader(open(LFW / "manifest.csv", newline="")))
    first: dict[str, Path] = {}
    for r in sorted(rows, key=lambda r: (r["identity"], r["path"])):
        first.setdefault(r["identity"], LFW / r["path"])
    ids = sorted(first)[:limit]
    return [(i, first[i]) for i in ids]


class FixedDetector:
    """A veil ``FaceDetector`` that returns detections computed beforehand."""

    def __init__(self, dets):
        self.dets = dets

    def detect(self, rgb):
        return self.dets


# -- systems -------------------------------------------------------------------------
def deface_render(cf, rgb: np.ndarray, replacewith: str) -> tuple[np.ndarray, int]:
    from deface.deface import anonymize_frame

    dets, _ = cf(rgb, threshold=bl.DEFACE_THRESHOLD)
    frame = rgb.copy()
    anonymize_frame(dets, frame, mask_scale=bl.DEFACE_MASK_SCALE, replacewith=replacewith, ellipse=True,
                    draw_scores=False, replaceimg=None, mosaicsize=20)
    return frame, len(dets)


def escalated_render(rgb: np.ndarray, mode: str, detector, tmp: Path, seed: int) -> tuple[np.ndarray, dict]:
    """``anonymize_file`` with verification (escalation) on a PNG copy; output read back."""
    from PIL import Image

    from veil.config import Config
    from veil.pipeline import anonymize_file

    src, dst = tmp / "in.png", tmp / f"out-{mode}.png"
    Image.fromarray(rgb).save(src)
    if dst.exists():
        dst.unlink()
    t0 = time.perf_counter()
    report = anonymize_file(src, dst, Config(mode=mode, seed=seed), detector=detector)
    wall = time.perf_counter() - t0
    if not report.ok:
        raise RuntimeError(f"anonymize_file failed: {report.error}")
    out = bl.read_rgb(dst)
    v = report.verification
    steps = [[str(step) for step in s] for s in v.escalations.values()]
    info = {"veil_verdict": v.verdict, "veil_counts": v.counts.to_dict(), "escalation": steps,
            "anonymize_file_s": round(wall, 3), "timings": dict(report.timings)}
    return out, info


def verify(orig: np.ndarray, anon: np.ndarray, box) -> dict:
    from veil.commands.verify import changed_mask
    from veil.verify import verify_face

    t0 = time.perf_counter()
    v = verify_face(orig, anon, box, region_mask=changed_mask(orig, anon), attacks="all")
    wall_ms = 1000 * (time.perf_counter() - t0)
    d = v.to_dict()
    ident = v.distances.get("identity")
    return {"status": d["status"], "leaks": d["leaks"], "distance": d["distance"], "margin": d["margin"],
            "strongest_attack": d["strongest_attack"], "distances": d["distances"],
            "identity_distance": None if ident is None else round(float(ident), 4),
            "leaks_as_published": bool(v.verified and ident is not None and ident < v.threshold),
            "unverifiable": d.get("unverifiable"), "note": d.get("note", ""), "region": d["region"],
            "candidates": len(v.distances), "verify_ms": round(wall_ms, 1), "elapsed_ms": d["elapsed_ms"],
            "evidence": d.get("evidence")}


def run_lfw(limit: int, systems: list[str]) -> dict:
    from veil.config import Config
    from veil.detect import detector_for, select_for
    from veil.pipeline import anonymize_image
    from veil.verify import get_recognizer

    sample = lfw_sample(limit)
    detector = detector_for(Config())
    cf = bl.deface_centerface() if any(s.startswith("deface") for s in systems) else None
    get_recognizer()  # load models before timing
    images = []
    prog = bl.Progress(len(sample), "lfw", every=20)
    tmp = Path(tempfile.mkdtemp(prefix="veil-leak-"))
    try:
        for n, (_identity, path) in enumerate(sample):
            rgb = bl.read_rgb(path)
            t0 = time.perf_counter()
            dets = select_for(detector.detect(rgb), Config())
            detect_ms = 1000 * (time.perf_counter() - t0)
            if len(dets):
                areas = dets.widths * dets.heights
                box = tuple(float(v) for v in dets.xyxy[int(np.argmax(areas))])
                fallback = False
            else:
                box, fallback = CENTRE_BOX, True
            fixed = FixedDetector(dets)
            seed = SEED0 + n  # noise and pixelate draw random numbers: same draw raw and escalated
            # No person is named in the output: the record holds the sample's index (the
            # n-th identity of manifest.csv sorted by name), never the name or the file path.
            rec = {"person": n, "box": [round(v, 1) for v in box],
                   "fallback_box": fallback, "veil_faces": len(dets), "veil_detect_ms": round(detect_ms, 1),
                   "systems": {}}
            raw_out = {}
            for name in systems:
                family, _, variant = name.partition("-")
                info: dict = {}
                if family == "veil" and not variant.endswith("+esc"):
                    out, _ = anonymize_image(rgb, Config(mode=variant, verify=False, seed=seed), detector=fixed)
                    raw_out[variant] = out
                elif family == "veil":
                    mode = variant[:-4]
                    out, info = escalated_render(rgb, mode, fixed, tmp, seed)
                    same = mode in raw_out and np.array_equal(out, raw_out[mode])
                    info["identical_to_raw"] = bool(same)
                    if same and f"veil-{mode}" in rec["systems"]:
                        r = dict(rec["systems"][f"veil-{mode}"], **info, reused_verdict=True)
                        rec["systems"][name] = r
                        continue
                else:
                    out, k = deface_render(cf, rgb, variant)
                    info["deface_faces"] = k
                r = verify(rgb, out, box)
                r.update(info)
                r["changed_pixels"] = int(np.any(out != rgb, axis=2).sum())
                rec["systems"][name] = r
            images.append(rec)
            leaks = [s for s, r in rec["systems"].items() if r["leaks"]]
            prog.update(n + 1, f"leaks so far on this face: {','.join(leaks) or '-'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"sample": f"first {limit} identities of manifest.csv (sorted), image _0001 each",
            "n_images": len(images), "images": images}


def lfw_tables(lfw: dict, systems: list[str]) -> tuple[str, dict]:
    from veil.verify import IMPOSTOR_THRESHOLD

    images = lfw["images"]
    summary = {}
    rows, rows_pub = [], []
    for s in systems:
        recs = [im["systems"][s] for im in images if s in im["systems"]]
        ver = [r for r in recs if r["status"] != "unverifiable"]
        k = sum(r["leaks"] for r in ver)
        kp = sum(r["leaks_as_published"] for r in ver)
        kf = sum(r["leaks"] for r, im in zip(recs, images) if im["fallback_box"] and r["status"] != "unverifiable")
        dist = [r["distance"] for r in ver]
        marg = [r["margin"] for r in ver]
        idd = [r["identity_distance"] for r in ver if r["identity_distance"] is not None]
        fam = collections.Counter(r["strongest_attack"].split("/")[0] for r in ver if r["strongest_attack"])
        top = fam.most_common(1)[0] if fam else ("-", 0)
        fresh = [r for r in recs if not r.get("reused_verdict")]
        ms = [r["verify_ms"] for r in fresh]
        esc = sum(bool(r.get("escalation")) for r in recs)
        own_leak = sum(r.get("veil_verdict") == "leak" for r in recs)
        lo, hi = wilson(k, len(ver))
        summary[s] = {"faces": len(recs), "verified": len(ver), "leaks": k, "leak_rate": k / len(ver) if ver else None,
                      "wilson95": [lo, hi], "leaks_as_published": kp, "leaks_on_fallback_box": kf,
                      "median_distance": bl.median(dist), "median_margin": bl.median(marg),
                      "median_identity_distance": bl.median(idd), "closest_attack": dict(fam),
                      "unverifiable": len(recs) - len(ver), "verify_ms_median": bl.median(ms),
                      "verify_ms_mean": float(np.mean(ms)) if ms else None, "verified_fresh": len(fresh),
                      "escalated": esc, "veil_own_verdict_leak": own_leak}
        rows.append([s, fmt_rate(k, len(ver)), fnum(bl.median(dist)), fnum(bl.median(marg)),
                     f"{top[0]} ({top[1]})", len(recs) - len(ver), kf,
                     f"{bl.median(ms):.0f}" if ms else "-",
                     f"{esc} / {own_leak}" if s.endswith("+esc") else "-"])
        rows_pub.append([s, fmt_rate(kp, len(ver)), fnum(bl.median(idd)), fmt_rate(k, len(ver)),
                         f"+{k - kp}"])
    n_fb = sum(im["fallback_box"] for im in images)
    text = [f"### LFW: leak rate, every attack (threshold {IMPOSTOR_THRESHOLD})", "",
            f"{len(images)} faces ({lfw['sample']}); face box = veil's detector on the original "
            f"(largest face); {n_fb} fell back to the LFW centre box. Leak = strongest-attack distance "
            f"< threshold; [95% Wilson interval]. ms = wall ms per `verify_face(..., attacks='all')` "
            f"(machine busy: 2 shared cores).", "",
            bl.md_table(["system", "leaks / verified", "median distance", "median margin",
                         "closest attack (faces)", "unverifiable", "leaks on centre-box faces",
                         "verify ms/face (median)", "photos escalated / still leak"], rows), "",
            "`photos escalated / still leak` (+esc only): pictures where `anonymize_file` re-rendered a "
            "face (any face of the picture, not only the benchmarked one), and pictures whose own "
            "verdict (every face, the mode's attacks, after escalation up to fill) is still `leak`.", "",
            "### LFW: as published (attacks='none') vs every attack", "",
            bl.md_table(["system", "leaks as published", "median distance as published",
                         "leaks, every attack", "added by the attacks"], rows_pub)]
    return "\n".join(text), summary


# -- video ---------------------------------------------------------------------------
def _run(cmd: list[str], *, capture: bool = True) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=capture, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"  [{wall:.0f}s] {' '.join(shlex.quote(c) for c in cmd)} -> rc {p.returncode}", file=sys.stderr,
          flush=True)
    return {"cmd": " ".join(shlex.quote(c) for c in cmd), "rc": p.returncode, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "stdout": p.stdout or "", "stderr_tail": (p.stderr or "")[-2000:]}


def prepare_clip(limit_frames: int | None) -> Path:
    if not limit_frames:
        return bl.WHITE_HOUSE
    import imageio_ffmpeg

    dst = bl.OUT / "clips" / f"leak_whitehouse_first{limit_frames}.mp4"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name("tmp-" + dst.name)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(bl.WHITE_HOUSE),
                        "-frames:v", str(limit_frames), "-an", "-c:v", "libx264", "-crf", "18",
                        "-pix_fmt", "yuv420p", str(tmp)], check=True)
        os.replace(tmp, dst)
    return dst


def probe(path: Path) -> dict:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        dur = float(c.duration / 1e6) if c.duration else None
        return {"frames": n, "width": s.codec_context.width, "height": s.codec_context.height,
                "fps": str(s.average_rate), "duration_s": dur}


def _track(x: dict) -> dict:
    """A track verdict without its representatives' details, plus the face width."""
    out = {k: x.get(k) for k in ("track", "status", "frame", "box", "distance", "margin", "strongest_attack",
                                  "frames", "unverifiable", "note", "escalation", "elapsed_ms", "evidence") if k in x}
    box = x.get("box") or (x.get("representatives") or [{}])[0].get("box")
    if box:
        out["box"] = box
        out["face_width"] = round(box[2] - box[0], 1)
    ident = (x.get("distances") or {}).get("identity")
    out["identity_distance"] = ident
    return out


def cli_veil_location() -> str:
    """Where the CLIs started by this run import veil from (must be the snapshot)."""
    p = subprocess.run([str(VENV_BIN / "python"), "-c", "import veil; print(veil.__file__)"],
                       capture_output=True, text=True)
    return p.stdout.strip()


def veil_pair(clip: Path, work: Path) -> tuple[dict, dict]:
    """``veil anonymize CLIP`` with verification (defaults) and with ``--no-verify``."""
    veil = str(VENV_BIN / "veil")
    out_v, out_nv = work / "veil", work / "veil-noverify"
    r = _run([veil, "anonymize", str(clip), "-o", str(out_v)])
    rep = json.loads((out_v / "veil-report.json").read_text())
    f = rep["files"][0]
    v = f.get("verification") or {}
    r["report"] = {"verdict": v.get("verdict"), "counts": v.get("counts"), "timings": f.get("timings"),
                   "status": f.get("status"), "faces": f.get("faces"), "frames": f.get("frames"),
                   "leaking": [{k: x.get(k) for k in ("track", "frame", "distance", "margin",
                                                      "strongest_attack", "escalation")}
                               for x in v.get("faces", []) if x.get("leaks")],
                   "residual": v.get("residual", []),
                   "tracks": [_track(x) for x in v.get("faces", [])]}
    nv = _run([veil, "anonymize", str(clip), "-o", str(out_nv), "--no-verify"])
    rep = json.loads((out_nv / "veil-report.json").read_text())
    nv["report"] = {"timings": rep["files"][0].get("timings")}
    shutil.rmtree(out_v, ignore_errors=True)
    shutil.rmtree(out_nv, ignore_errors=True)
    return r, nv


def run_video(limit_frames: int | None, overhead_full: bool = True) -> dict:
    clip = prepare_clip(limit_frames)
    info = probe(clip)
    work = Path(tempfile.mkdtemp(prefix="veil-leak-video-"))
    res: dict = {"clip": str(clip), "input": info, "cli_imports_veil_from": cli_veil_location()}
    print(f"  CLIs import veil from {res['cli_imports_veil_from']}", file=sys.stderr)
    try:
        veil = str(VENV_BIN / "veil")
        res["veil"], res["veil_noverify"] = veil_pair(clip, work)
        if limit_frames and overhead_full:
            full_v, full_nv = veil_pair(bl.WHITE_HOUSE, work)
            res["full_clip"] = {"clip": str(bl.WHITE_HOUSE), "input": probe(bl.WHITE_HOUSE),
                                "veil": full_v, "veil_noverify": full_nv}
        res["deface"] = {}
        for mode in DEFACE_MODES:
            out = work / f"deface-{mode}.mp4"
            cmd = [str(VENV_BIN / "deface"), str(clip), "-o", str(out)]
            if mode != "blur":
                cmd += ["--replacewith", mode]
            r = _run(cmd)
            r["output"] = probe(out) if out.exists() else None
            rv = _run([veil, "verify", str(clip), str(out), "--json"])
            try:
                rec = json.loads(rv["stdout"])
            except json.JSONDecodeError:
                rec = {}
            rv["stdout"] = ""
            vv = rec.get("verification", {})
            rv["record"] = {"verdict": vv.get("verdict"), "counts": vv.get("counts"), "warnings": rec.get("warnings"),
                            "frames": rec.get("frames"), "faces": rec.get("faces"),
                            "tracks": [_track(x) for x in vv.get("faces", [])],
                            "residual": len(vv.get("residual", []))}
            res["deface"][mode] = {"anonymize": r, "verify": rv}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def _minutes(info: dict) -> float | None:
    if not info.get("fps") or not info.get("frames"):
        return None
    num, _, den = info["fps"].partition("/")
    return info["frames"] / (float(num) / float(den or 1)) / 60


def overhead(v: dict, nv: dict, info: dict) -> dict:
    """Verification overhead of one ``veil anonymize`` pair (with / without verification)."""
    t = v["report"].get("timings") or {}
    verify_s, total = t.get("verify"), t.get("total")
    minutes = _minutes(info)
    return {"frames": info.get("frames"), "minutes": minutes,
            "wall_overhead": (v["wall_s"] - nv["wall_s"]) / nv["wall_s"],
            "cpu_overhead": (v["cpu_s"] - nv["cpu_s"]) / nv["cpu_s"] if nv["cpu_s"] else float("nan"),
            "inrun_verify_share": verify_s / (total - verify_s) if verify_s is not None and total else float("nan"),
            "verify_s_per_min_wall": (v["wall_s"] - nv["wall_s"]) / minutes if minutes else float("nan"),
            "verify_s_per_min_cpu": (v["cpu_s"] - nv["cpu_s"]) / minutes if minutes else float("nan"),
            "stage_overhead": _stage_overhead(t, (nv["report"].get("timings") or {})),
            "verdict": v["report"].get("verdict"), "counts": v["report"].get("counts")}


def _stage_overhead(on: dict, off: dict) -> float:
    """(render_encode_verify with verification - without) / total without: the same
    detection pass is left out, so load swings during detection do not count."""
    a, b, total = on.get("render_encode_verify"), off.get("render_encode_verify"), off.get("total")
    return (a - b) / total if None not in (a, b, total) and total else float("nan")


def _veil_rows(label: str, v: dict, nv: dict) -> list[list]:
    rep = v["report"]
    counts = rep.get("counts") or {}
    return [[f"veil defaults (fill), verification on{label}", rep.get("verdict"),
             f"{counts.get('faces', '-')} ({counts.get('unverifiable', 0)} unverifiable)",
             counts.get("leak", "-"), counts.get("residual", "-"), f"{v['wall_s']:.1f}", f"{v['cpu_s']:.1f}",
             v["rc"]],
            [f"veil defaults, `--no-verify`{label}", "not verified", "-", "-", "-", f"{nv['wall_s']:.1f}",
             f"{nv['cpu_s']:.1f}", nv["rc"]]]


def video_tables(res: dict) -> tuple[str, dict]:
    info = res["input"]
    dur_min = _minutes(info)
    v, nv = res["veil"], res["veil_noverify"]
    rep = v["report"]
    summary = {"duration_min": dur_min, "clip": overhead(v, nv, info)}
    full = res.get("full_clip")
    if full:
        summary["full_clip"] = overhead(full["veil"], full["veil_noverify"], full["input"])
    rows = _veil_rows("", v, nv)
    for mode, d in res["deface"].items():
        rec = d["verify"]["record"]
        c = rec.get("counts") or {}
        out = d["anonymize"].get("output") or {}
        rows.append([f"deface {mode} -> `veil verify` ({out.get('width')}x{out.get('height')}, "
                     f"{out.get('frames')} frames)", rec.get("verdict"),
                     f"{c.get('faces', '-')} ({c.get('unverifiable', 0)} unverifiable)", c.get("leak", "-"),
                     c.get("residual", "-"), f"{d['anonymize']['wall_s']:.1f} + verify {d['verify']['wall_s']:.1f}",
                     f"{d['anonymize']['cpu_s']:.1f} + {d['verify']['cpu_s']:.1f}",
                     f"{d['anonymize']['rc']} / {d['verify']['rc']}"])
    if full:
        fi = full["input"]
        rows += _veil_rows(f" (whole clip, {fi['frames']} frames)", full["veil"], full["veil_noverify"])
    ver_min = [d["verify"]["wall_s"] / dur_min for d in res["deface"].values()] if dur_min else []
    cols = [("this clip", summary["clip"])] + ([("whole clip", summary["full_clip"])] if full else [])

    def row(name, fmt):
        return [name] + [fmt(o) for _, o in cols]

    pct_ = lambda x: f"{100 * x:+.0f}%" if math.isfinite(x) else "-"  # noqa: E731
    cost_rows = [
        row("frames", lambda o: str(o["frames"])),
        row("verification overhead, wall (verify run / `--no-verify` run - 1)", lambda o: pct_(o["wall_overhead"])),
        row("verification overhead, CPU s of the CLI and children (user+sys)", lambda o: pct_(o["cpu_overhead"])),
        row("verification overhead from stage timings: (render+encode+verify, on - off) / total off "
            "(leaves out the identical detection pass)", lambda o: pct_(o.get("stage_overhead", float("nan")))),
        row("in-run `timings.verify` / (total - verify): verdicts + escalation only (aligned crops and the "
            "residual check run while rendering, not in it)", lambda o: pct_(o["inrun_verify_share"])),
        row("verification cost per minute of video: wall s / CPU s (difference of the two runs)",
            lambda o: f"{o['verify_s_per_min_wall']:.0f} / {o['verify_s_per_min_cpu']:.0f}"),
        row("target: verification adds <= 50% (wall)", lambda o: "met" if o["wall_overhead"] <= 0.5 else "NOT met"),
        row("target: 0 leaks for veil defaults", lambda o: "met" if (o["counts"] or {}).get("leak", 1) == 0
            and not (o["counts"] or {}).get("residual") else
            f"NOT met ({(o['counts'] or {}).get('leak')} leaking tracks, {(o['counts'] or {}).get('residual')} residual)"),
        ["`veil verify` of a foreign file (every attack) per minute of video, wall s (deface blur, mosaic)",
         ", ".join(f"{x:.0f}" for x in ver_min) or "-"] + ([""] if full else []),
    ]
    text = [f"### White House clip: {info['frames']} frames {info['width']}x{info['height']} "
            f"({dur_min * 60:.1f} s), `{Path(res['clip']).name}`", "",
            bl.md_table(["system", "verdict", "tracks (unverifiable)", "leaking tracks", "residual faces",
                         "wall s", "CPU s", "rc"], rows), "",
            bl.md_table(["verification cost"] + [c for c, _ in cols], cost_rows)]
    warn = sorted({w for d in res["deface"].values() for w in (d["verify"]["record"].get("warnings") or [])})
    if warn:
        text += ["", "`veil verify` warnings on deface outputs: " + "; ".join(f"\"{w}\"" for w in warn)]

    def widths(tracks, status):
        w = sorted(t["face_width"] for t in tracks if t.get("status") == status and "face_width" in t)
        return ", ".join(f"{x:.0f}" for x in w) or "-"

    wrows = [["veil defaults", widths(rep.get("tracks", []), "leak"), widths(rep.get("tracks", []), "pass"),
              widths(rep.get("tracks", []), "unverifiable")]]
    for mode, d in res["deface"].items():
        tr = d["verify"]["record"].get("tracks", [])
        wrows.append([f"deface {mode}", widths(tr, "leak"), widths(tr, "pass"), widths(tr, "unverifiable")])
    if full:
        tr = full["veil"]["report"].get("tracks", [])
        wrows.append(["veil defaults, whole clip", widths(tr, "leak"), widths(tr, "pass"), widths(tr, "unverifiable")])
    text += ["", "Face width (px, original frame) of the tracks, by verdict:", "",
             bl.md_table(["system", "leak", "pass", "unverifiable"], wrows)]
    lk = rep.get("leaking") or []
    if lk or rep.get("residual"):
        text += ["", "veil defaults, what failed: " + "; ".join(
            f"track {x.get('track')} distance {x.get('distance')} ({x.get('strongest_attack')})" for x in lk)
            + (f"; {len(rep['residual'])} residual detection(s): "
               + ", ".join(f"frame {r.get('frame')} box {r.get('box')} score {r.get('score')}"
                           for r in rep["residual"][:8]) if rep.get("residual") else "")]
    return "\n".join(text), summary


def provenance_table() -> str:
    from veil.verify import IMPOSTOR_THRESHOLD, PROVENANCE as p

    rows = [["threshold", f"{IMPOSTOR_THRESHOLD}"], ["data", p.get("data")],
            ["identities / images", f"{p.get('identities')} / {p.get('images')}"],
            ["impostor pairs (different people)", f"{p.get('impostor_pairs'):,}"],
            ["genuine pairs (same person)", f"{p.get('genuine_pairs'):,}"],
            ["quantile", f"{p.get('quantile')} ({p.get('rule')})"],
            ["95% CI (bootstrap over identities)", f"{p.get('ci95_bootstrap_identities')} "
                                                   f"({p.get('bootstrap_replicates')} replicates)"],
            ["genuine pairs below the threshold", f"{100 * p.get('genuine_share_below', float('nan')):.1f}%"],
            ["detector / alignment / recognizer", f"{p.get('detector')}; {p.get('alignment')}; {p.get('recognizer')}"],
            ["date", p.get("date")], ["command", f"`{p.get('command')}`"]]
    return "### Impostor threshold (`veil.verify.PROVENANCE`)\n\n" + bl.md_table(["", "value"], rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=60, help="LFW identities (image _0001 each); 0 skips photos")
    ap.add_argument("--video", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--video-limit-frames", type=int, default=0, help="cut the clip to its first N frames")
    ap.add_argument("--overhead-full", action=argparse.BooleanOptionalAction, default=True,
                    help="with --video-limit-frames: also time veil with/without verification on the whole clip")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset of " + ",".join(SYSTEMS))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--report", type=Path, default=None, help="only reprint the tables of a JSON written earlier")
    args = ap.parse_args(argv)
    if args.report:
        result = json.loads(args.report.read_text())
        parts = []
        if "lfw" in result:
            parts.append(lfw_tables(result["lfw"], result["systems"])[0])
        if "video" in result:
            parts.append(video_tables(result["video"])[0])
        parts.append(provenance_table())
        print("\n\n".join(parts))
        return 0
    systems = [s for s in args.systems.split(",") if s]
    bad = [s for s in systems if s not in SYSTEMS]
    if bad:
        ap.error(f"unknown systems {bad}")
    # Escalated variants reuse the raw verdict when nothing changed: raw first.
    systems = [s for s in SYSTEMS if s in systems]
    out = args.out or bl.OUT / ("leak_rate.json" if (args.limit == 60 and not args.video_limit_frames)
                                else f"leak_rate-l{args.limit}-v{args.video_limit_frames if args.video else 'none'}.json")
    snap, snap_sha = _snapshot_src()
    import veil

    if not Path(veil.__file__).resolve().is_relative_to(snap.resolve()):
        raise SystemExit(f"veil imported from {veil.__file__}, not the snapshot {snap}")
    started = time.perf_counter()
    result: dict = {"machine": dict(bl.machine_info(), veil_src_snapshot_sha256_12=snap_sha), "command": "python " + " ".join(map(shlex.quote, sys.argv)),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "systems": systems}
    parts = []
    if args.limit > 0:
        t0 = time.perf_counter()
        result["lfw"] = run_lfw(args.limit, systems)
        result["lfw"]["wall_s"] = round(time.perf_counter() - t0, 1)
        text, result["lfw_summary"] = lfw_tables(result["lfw"], systems)
        parts.append(text)
        bl.write_json(out, result)
    if args.video:
        t0 = time.perf_counter()
        result["video"] = run_video(args.video_limit_frames or None, args.overhead_full)
        result["video"]["wall_s"] = round(time.perf_counter() - t0, 1)
        text, result["video_summary"] = video_tables(result["video"])
        parts.append(text)
    parts.append(provenance_table())
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["loadavg_end"] = bl.loadavg()
    bl.write_json(out, result)
    m = result["machine"]
    print(f"<!-- {result['command']} | {m.get('cpu')} x{m.get('cpus')} | load {m.get('loadavg_start')} -> "
          f"{result['loadavg_end']} | wall {result['wall_s']:.0f} s | git {m.get('git')} | veil src "
          f"{snap_sha} (snapshot) -->\n")
    shutil.rmtree(snap, ignore_errors=True)
    print("\n\n".join(parts))
    print(f"\nJSON: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
