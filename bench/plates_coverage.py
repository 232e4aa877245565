#!/usr/bin/env python
"""Licence plates and text: coverage, over-redaction and time of veil's plate and text detectors.

Sets (``--sets``):

* ``plates``: ``../shared/data/plates`` (Pascal VOC, ``<name>licence</name>``,
  206 photos 282-600 px wide, 234 plates). A plate is *covered* when >= 80%
  of its box's pixels lie inside the covered region (the detector's boxes,
  filled). Reported by plate height (< 12, 12-24, >= 24 px, totals >= 12 and
  all). Over-redaction: covered pixels outside every plate box grown x1.5,
  as a share of the picture (mean and p95 over pictures) -- the set's boxes
  are not exhaustive (background cars, signs), so part of it is real text.
* ``synth-plates``: plates rendered (``bench/synth_text.py``) 8-48 px high,
  angled up to 30 degrees, into 1920x1080 frames (street photo, White House
  clip frames, face-mask photos, upscaled). Binned by the plate's own height.
* ``synth-text``: words 5-40 px high (glyph height, top of ascenders to
  bottom of descenders), angled up to 30 degrees, 3/4 on signs/labels and 1/4
  bare, into the same photos at their own size and into 1080p frames. A word
  is covered when >= 80% of its glyph box is. Over-redaction: outside the
  glyph boxes grown x1.5.
* ``timing``: 1080p frames with plates and text; CPU time per frame of the
  face detector (``veil.detect.default_detector(Config())``), the plate
  detector, the text detector, and plates + text sharing one text pass,
  interleaved in one process (order rotated), as ratios to the faces' time.

Each detector *plan* (``--plan SET:LABEL:key=value,...``, ``TextDetector``
keywords: ``min_side``, ``upscale``, ``tile_size``, ...) runs the network once
per picture at a low box threshold; thresholds, growth and the plate-shape
rules are then replayed offline on the same lines (exact: they only filter
and grow them), which gives the coverage-vs-threshold curves.

``--haar`` adds OpenCV 4's Russian plate cascades on the ``plates`` set (they
need an OpenCV with ``CascadeClassifier`` and ``cv2.data``: OpenCV 5 has
neither; run this script with an OpenCV 4 environment, see the results file).

Usage::

    nice -n 10 .venv/bin/python bench/plates_coverage.py              # every set, default plans
    .venv/bin/python bench/plates_coverage.py --sets plates --limit 30   # quick check

Writes ``bench/out/plates-<set>.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

LOW = 0.3  # box threshold the network pass keeps; replays filter above it
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
PLATE_BINS = [("<12", 0, 12), ("12-24", 12, 24), (">=24", 24, float("inf"))]
PLATE_TOTALS = [(">=12", 12), ("all", 0)]
TEXT_BINS = [("<8", 0, 8), ("8-12", 8, 12), ("12-24", 12, 24), (">=24", 24, float("inf"))]
TEXT_TOTALS = [(">=8", 8), ("all", 0)]
PLANS = {
    "plates": ["1x:min_side=32,upscale=None", "default:", "min1024:min_side=1024", "min1472:min_side=1472"],
    "synth-plates": ["s1280:upscale=None,max_side=1280", "notiles:upscale=None", "up1.5:upscale=1.5", "default:",
                     "up2.5:upscale=2.5"],
    "synth-text": ["s1280:upscale=None,max_side=1280", "notiles:upscale=None", "default:"],
}
# (grow_height, grow_length) of plates, and grow of text, replayed (the defaults among them)
PLATE_GROWS = ((0.35, 0.5), (0.5, 1.0), (0.7, 1.5))
TEXT_GROWS = (0.0, 0.15, 0.3)


# -- data ---------------------------------------------------------------------------
def load_plates(limit: int = 0) -> list[tuple[Path, np.ndarray]]:
    """(image, (N, 4) x y w h plate boxes) of the plate set, by natural name order."""
    import xml.etree.ElementTree as ET

    root = B.DATA / "plates"
    out = []
    for xml in sorted((root / "annotations").glob("*.xml"), key=lambda p: B._natural(p.stem)):
        boxes = []
        for obj in ET.parse(xml).getroot().iter("object"):
            if obj.findtext("name") != "licence":
                continue
            bb = obj.find("bndbox")
            x1, y1, x2, y2 = (int(float(bb.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax"))
            if x2 > x1 and y2 > y1:
                boxes.append((x1, y1, x2 - x1, y2 - y1))
        out.append((root / "images" / f"{xml.stem}.png", np.array(boxes, int).reshape(-1, 4)))
    return out[:limit] if limit else out


def backgrounds() -> list[np.ndarray]:
    """Photos to draw into: the street photo, 4 White House frames, 6 face-mask photos."""
    import av

    bgs = [B.read_rgb(B.DATA / "street" / "city.jpg")]
    with av.open(str(B.WHITE_HOUSE)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 70 == 10:
                bgs.append(f.to_ndarray(format="rgb24"))
    masks = sorted((B.DATA / "face_mask" / "images").glob("*.jpg"), key=lambda p: B._natural(p.stem))
    bgs += [B.read_rgb(p) for p in masks[:60:10]]
    return bgs


def synthetic(set_name: str, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(picture, (N, 4) x y w h GT boxes, (N,) heights) of a synthetic set."""
    import cv2
    import synth_text as S

    rng = np.random.default_rng(seed)
    bgs = backgrounds()
    out = []
    for i in range(n):
        bg = bgs[i % len(bgs)]
        if set_name == "synth-plates" or i % 2:
            bg = cv2.resize(bg, (1920, 1080), interpolation=cv2.INTER_CUBIC)
        if set_name == "synth-plates":
            pic, items = S.scatter(bg, rng, heights=(8, 10, 11, 12, 14, 16, 20, 24, 32, 48), count=8, plates=True)
            boxes = [it.plate for it in items]
        else:
            pic, items = S.scatter(bg, rng, heights=(5, 6, 7, 8, 10, 12, 16, 20, 28, 40), count=8, plates=False)
            boxes = [it.ink for it in items]
        xywh = np.array([[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes], float).reshape(-1, 4)
        out.append((pic, xywh, np.array([it.height for it in items], float)))
    return out


# -- detection, once per plan; replays -------------------------------------------------
def parse_plan(spec: str) -> tuple[str, dict]:
    label, _, kw = spec.partition(":")
    return label, B.parse_overrides(kw)


def run_plan(kwargs: dict, pictures, prog_label: str) -> dict:
    """Lines (quads, scores) of every picture at box threshold LOW, and CPU ms per picture."""
    from veil.detect.text import TextDetector

    det = TextDetector(threshold=LOW, **kwargs)
    det.all_quads(pictures[0][0])  # warm-up: model load
    quads, scores, cpu = [], [], []
    prog = B.Progress(len(pictures), prog_label)
    for i, (rgb, *_) in enumerate(pictures):
        c0 = time.process_time()
        q, s = det.all_quads(rgb)
        cpu.append((time.process_time() - c0) * 1000)
        quads.append(q)
        scores.append(s)
        prog.update(i + 1)
    return {"quads": quads, "scores": scores, "cpu_ms": cpu}


def fill(shape, xyxy) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in np.asarray(xyxy).reshape(-1, 4):
        mask[int(np.floor(y0)):int(np.ceil(y1)), int(np.floor(x0)):int(np.ceil(x1))] = True
    return mask


def replay(kind: str, run: dict, pictures, *, threshold: float, grow, rules: bool = True, rim: bool = True) -> dict:
    """Coverage per GT box, over-redaction per picture and CPU ms per picture of the post-processing
    (plates: shape rules, growth and the rim search) of one setting."""
    from veil.detect.plates import PlateDetector, PlateRules
    from veil.detect.text import TextDetector

    if kind == "plate":
        det = PlateDetector(threshold=threshold, grow_height=grow[0], grow_length=grow[1],
                            rules=PlateRules() if rules else PlateRules(0.01, 1e9, 90, 1), rim=rim)
    else:
        det = TextDetector(threshold=threshold, grow=grow)
    cover, over, cpu, n = [], [], [], []
    for (rgb, xywh, _), q, s in zip(pictures, run["quads"], run["scores"]):
        keep = s >= threshold
        c0 = time.process_time()
        if kind == "plate":
            dets = det.plates_from_quads(q[keep], s[keep], rgb.shape, rgb=rgb)
        else:
            dets = det.boxes_from_quads(q[keep], s[keep], rgb.shape)
        cpu.append((time.process_time() - c0) * 1000)
        mask = fill(rgb.shape, dets.xyxy)
        cover.append(B.box_coverage(mask, xywh))
        allow = B.allowance_mask(xywh, rgb.shape[:2], 1.5)
        over.append(float((mask & ~allow).sum()) / mask.size)
        n.append(len(dets))
    return {"cover": np.concatenate(cover) if cover else np.zeros(0), "over": np.array(over), "boxes": np.array(n),
            "post_cpu_ms": np.array(cpu)}


def _defaults(kind: str) -> tuple[float, object]:
    """The detector's default box threshold and growth."""
    from veil.detect.plates import PlateDetector
    from veil.detect.text import TextDetector

    if kind == "plate":
        p = PlateDetector()
        return p.text.threshold, (p.grow_height, p.grow_length)
    t = TextDetector()
    return t.threshold, t.grow


def summarize(heights: np.ndarray, covered: np.ndarray, bins, totals) -> dict:
    out = {}
    for name, lo, hi in bins:
        sel = (heights >= lo) & (heights < hi)
        out[name] = [int(covered[sel].sum()), int(sel.sum())]
    for name, lo in totals:
        sel = heights >= lo
        out[name] = [int(covered[sel].sum()), int(sel.sum())]
    return out


def haar_run(pictures, min_side: int = 736, grow: float = 1.0) -> dict:
    """OpenCV 4's plate cascades (both, union) on pictures magnified like the default plan, boxes
    grown ``grow`` times about their centres."""
    import cv2

    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data") or not hasattr(cv2.data, "haarcascades"):
        raise SystemExit(f"--haar needs OpenCV 4 with its cascades; this is OpenCV {cv2.__version__}")
    names = ("haarcascade_russian_plate_number.xml", "haarcascade_license_plate_rus_16stages.xml")
    cascades = [cv2.CascadeClassifier(cv2.data.haarcascades + n) for n in names]
    boxes, cpu = [], []
    for rgb, *_ in pictures:
        c0 = time.process_time()
        k = max(1.0, min_side / min(rgb.shape[:2]))
        gray = cv2.cvtColor(cv2.resize(rgb, None, fx=k, fy=k) if k > 1 else rgb, cv2.COLOR_RGB2GRAY)
        found = [c.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3) for c in cascades]
        b = np.concatenate([np.asarray(f, float).reshape(-1, 4) for f in found]) / k
        b[:, :2] -= b[:, 2:] * (grow - 1) / 2
        b[:, 2:] *= grow
        boxes.append(np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1))
        cpu.append((time.process_time() - c0) * 1000)
    cover, over = [], []
    for (rgb, xywh, _), b in zip(pictures, boxes):
        mask = fill(rgb.shape, b)
        cover.append(B.box_coverage(mask, xywh))
        over.append(float((mask & ~B.allowance_mask(xywh, rgb.shape[:2], 1.5)).sum()) / mask.size)
    return {"cover": np.concatenate(cover), "over": np.array(over), "boxes": np.array([len(b) for b in boxes]),
            "cpu_ms": cpu}


# -- sets ---------------------------------------------------------------------------------
def evaluate(set_name: str, args) -> tuple[dict, str]:
    kind = "text" if set_name == "synth-text" else "plate"
    if set_name == "plates":
        pictures = [(B.read_rgb(p), xywh, xywh[:, 3].astype(float)) for p, xywh in load_plates(args.limit)]
    else:
        pictures = synthetic(set_name, args.limit or args.synthetic, args.seed)
    bins, totals = (TEXT_BINS, TEXT_TOTALS) if kind == "text" else (PLATE_BINS, PLATE_TOTALS)
    heights = np.concatenate([h for *_, h in pictures])
    n_boxes = len(heights)
    # dev / held-out halves of the plate set: photos CarsN with N even / odd (one value per picture)
    halves = (np.array([int("".join(filter(str.isdigit, p.stem))) % 2 for p, _ in load_plates(args.limit)])
              if set_name == "plates" and args.split else None)
    plans = [] if args.no_plans else [parse_plan(p) for p in PLANS[set_name] + [
        p.partition(":")[2] for p in args.plan if p.partition(":")[0] == set_name]]
    if args.only:
        plans = [p for p in plans if p[0] in args.only.split(",")]
    grows = PLATE_GROWS if kind == "plate" else TEXT_GROWS
    default_t, default_grow = _defaults(kind)
    rows, curve, raw, split_rows = [], [], {}, []

    def one_row(label, res, cpu_ms, pics):
        """One table row over the pictures ``pics`` (bool, one per picture)."""
        boxes = np.repeat(pics, [len(p[1]) for p in pictures])
        covered = np.nan_to_num(res["cover"][boxes], nan=0.0) >= args.min_cover
        s = summarize(heights[boxes], covered, bins, totals)
        over, cpu = res["over"][pics], np.asarray(cpu_ms)[pics] + res.get("post_cpu_ms", np.zeros(len(pics)))[pics]
        raw[label] = {"summary": s, "over_mean": float(over.mean()), "over_p95": float(np.percentile(over, 95)),
                      "boxes": int(np.sum(res["boxes"][pics])), "cpu_ms_mean": float(np.mean(cpu)),
                      "cover": res["cover"][boxes].round(4).tolist()}
        return [label] + [B.pct(*s[name]) for name, *_ in bins + totals] + [
            f"{100 * raw[label]['over_mean']:.2f}% / {100 * raw[label]['over_p95']:.2f}%", raw[label]["boxes"],
            f"{np.mean(cpu):.0f}"]

    def row(label, res, cpu_ms):
        """The row of every picture; with ``--split`` (plate set) also the dev and held-out halves'."""
        every = np.ones(len(pictures), bool)
        if halves is None:
            return one_row(label, res, cpu_ms, every)
        split_rows.extend([one_row(f"{label} [dev]", res, cpu_ms, halves == 0),
                           one_row(f"{label} [held-out]", res, cpu_ms, halves == 1)])
        return one_row(label, res, cpu_ms, every)

    for label, kwargs in plans:
        run = run_plan(kwargs, pictures, f"{set_name}/{label}")
        rows.append(row(label, replay(kind, run, pictures, threshold=default_t, grow=default_grow), run["cpu_ms"]))
        if label != "default":
            continue
        for t in THRESHOLDS:
            for g in grows:
                curve.append(row(f"t={t} grow={g}", replay(kind, run, pictures, threshold=t, grow=g), run["cpu_ms"]))
        if kind == "plate":
            curve.append(row(f"no shape rules (t={default_t})", replay(kind, run, pictures, threshold=default_t,
                                                                    grow=default_grow, rules=False), run["cpu_ms"]))
            curve.append(row(f"no rim search (t={default_t})", replay(kind, run, pictures, threshold=default_t,
                                                                   grow=default_grow, rim=False), run["cpu_ms"]))
    if args.haar and kind == "plate":
        for grow in (1.0, 1.4):
            res = haar_run(pictures, grow=grow)
            rows.append(row(f"OpenCV 4 Haar (2 plate cascades), boxes x{grow}", res, res["cpu_ms"]))
        raw["haar_opencv"] = __import__("cv2").__version__
    header = ["plan", *[n + " px" for n, *_ in bins], *[n for n, *_ in totals], "over-redaction mean / p95",
              "boxes", "CPU ms / picture"]
    what = {"plates": f"{len(pictures)} photos of ../shared/data/plates, {n_boxes} plates; bins by plate box height",
            "synth-plates": f"{len(pictures)} synthetic 1080p frames, {n_boxes} plates; bins by plate height",
            "synth-text": f"{len(pictures)} synthetic pictures, {n_boxes} words; bins by glyph height"}[set_name]
    md = [f"### {set_name}: {what}", "", f"Detector plans (threshold {default_t}, grow {default_grow}):", "",
          B.md_table(header, rows)]
    if curve:
        md += ["", "Default plan, threshold and growth replayed:", "", B.md_table(header, curve)]
    if split_rows:
        md += ["", "Dev half (CarsN, N even) and held-out half (N odd) of each row above:", "",
               B.md_table(header, split_rows)]
    return {"set": set_name, "boxes": n_boxes, "heights": heights.tolist(), "plans": dict(plans),
            "results": raw}, "\n".join(md)


def timing(args) -> tuple[dict, str]:
    """CPU ms per 1080p frame: faces, plates, text, plates+text (one shared text pass), interleaved."""
    from veil.config import Config
    from veil.detect import default_detector
    from veil.detect.plates import PlateDetector
    from veil.detect.text import TextDetector

    frames = [p for p, *_ in synthetic("synth-plates", args.frames, args.seed + 1)]
    faces, plates, text = default_detector(Config()), PlateDetector(), TextDetector()

    def both(text):
        def run(rgb):  # one text pass serves both kinds
            q, s = text.all_quads(rgb)
            return plates.plates_from_quads(q, s, rgb.shape), text.boxes_from_quads(q, s, rgb.shape)
        return run

    systems = {"faces": faces.detect, "plates": plates.detect, "text": text.detect, "plates+text": both(text),
               "plates+text, no tiles": both(TextDetector(upscale=None)),
               "plates+text, no tiles, 1280 px": both(TextDetector(upscale=None, max_side=1280))}
    for fn in systems.values():
        fn(frames[0])  # warm-up
    cpu = {k: [] for k in systems}
    names = list(systems)
    prog = B.Progress(len(frames), "timing")
    for i, rgb in enumerate(frames):
        for k in names[i % len(names):] + names[:i % len(names)]:
            c0 = time.process_time()
            systems[k](rgb)
            cpu[k].append((time.process_time() - c0) * 1000)
        prog.update(i + 1)
    ref = np.sum(cpu["faces"])
    rows = [[k, f"{np.mean(v):.0f}", f"{np.sum(v) / ref:.2f}x", f"{(np.sum(v) + ref) / ref:.2f}x" if k != "faces" else "-"]
            for k, v in cpu.items()]
    md = [f"### timing: {len(frames)} synthetic 1920x1080 frames, CPU time (all threads), interleaved", "",
          B.md_table(["detector", "CPU ms / frame", "ratio to faces", "faces + this, ratio to faces"], rows)]
    return {"frames": len(frames), "cpu_ms": cpu}, "\n".join(md)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="plates,synth-plates,synth-text,timing",
                    help="comma list of: plates, synth-plates, synth-text, timing")
    ap.add_argument("--plan", action="append", default=[], metavar="SET:LABEL:K=V,...",
                    help="extra detector plan for a set (repeatable), e.g. plates:min2048:min_side=2048")
    ap.add_argument("--limit", type=int, default=0, help="only the first N pictures of each set")
    ap.add_argument("--synthetic", type=int, default=24, help="pictures of each synthetic set")
    ap.add_argument("--frames", type=int, default=8, help="1080p frames of the timing set")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--min-cover", type=float, default=0.8, help="share of a GT box that must be covered")
    ap.add_argument("--haar", action="store_true", help="also OpenCV 4's Haar plate cascades (needs OpenCV 4)")
    ap.add_argument("--only", default="", help="comma list of plan labels to run (e.g. default)")
    ap.add_argument("--no-plans", action="store_true", help="skip veil's plans (with --haar in an OpenCV 4 venv)")
    ap.add_argument("--split", action="store_true",
                    help="plate set: also report its dev (CarsN, N even) and held-out (N odd) halves")
    ap.add_argument("--out", type=Path, default=B.OUT)
    args = ap.parse_args(argv)
    info = B.machine_info()
    print(f"machine: {info}", file=sys.stderr)
    for set_name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        if set_name == "timing":
            data, md = timing(args)
        elif set_name in PLANS:
            data, md = evaluate(set_name, args)
        else:
            raise SystemExit(f"unknown set {set_name!r}")
        data["machine"], data["loadavg_end"], data["argv"] = info, B.loadavg(), sys.argv
        B.write_json(args.out / f"plates-{set_name}.json", data)
        print(md + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
