#!/usr/bin/env python
"""Face coverage of veil vs deface on WIDER FACE val (subset) and the face-mask set.

For every picture, each system produces the mask of pixels it anonymizes:

* ``deface``: deface 1.5's defaults (CenterFace at full resolution through its
  own ``deface.centerface.CenterFace``, threshold 0.2, ``mask_scale`` 1.3,
  ellipse), the mask replicated exactly from ``deface.deface.anonymize_frame``
  / ``scale_bb`` / ``draw_det`` (see ``benchlib.deface_mask``);
* ``veil``: ``veil.pipeline.anonymize_image(pixels, Config())`` and
  ``regions.mask(h, w)`` (verification off: it does not change the mask);
* ``veil-cf1x``: veil's pipeline/regions on deface's detector (one scale,
  full resolution, threshold 0.2): "same detector" comparison, and a stub
  that works before ``veil.detect`` lands;
* ``--plan LABEL:key=val,...``: veil with other ``Config`` fields, e.g.
  ``--plan notiles:tiles=false --plan half:detect_scale=0.5,tiles=false``,
  to reproduce a coverage-vs-time curve; ``detector=cf1x`` in a plan puts those
  settings on ``veil-cf1x`` instead (e.g. ``--plan rs1.6:detector=cf1x,region_scale=1.6``).

Metrics (definitions in ``bench/benchlib.py``): a GT face is *protected* when
>= 80% of its box's pixels are anonymized; reported by GT box width
(<16, 16-32, 32-64, >=64 px) and totals >=16, >=32, all. WIDER boxes flagged
``invalid`` (205) and zero-size boxes (2) are not scored. Over-redaction = share of a
picture's pixels anonymized outside every GT box grown x1.5 (mean over
pictures, and p95). Time = wall ms (and process CPU ms, all threads) per picture for detection + mask, systems
run interleaved on the same decoded picture, order rotated per picture, after
one untimed warm-up each; ``ratio`` = system's total time / deface's.

Usage::

    nice -n 10 .venv/bin/python bench/coverage.py                      # both sets, deface + veil
    .venv/bin/python bench/coverage.py --limit 20                      # quick check
    .venv/bin/python bench/coverage.py --sets wider --systems deface,veil-cf1x,veil \\
        --plan notiles:tiles=false --plan s0.5:detect_scale=0.5

Writes ``bench/out/coverage-<set>.json`` (per-face coverage of every system,
so other thresholds/bins can be recomputed) and prints markdown tables.
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

SETS = {"wider": ("WIDER FACE val subset", B.load_wider), "face_mask": ("face-mask set", B.load_face_mask)}


def build_systems(names: list[str], plans: list[str]) -> list[B.System]:
    systems = []
    for name in names:
        if name == "deface":
            systems.append(B.make_deface_system())
        elif name == "veil":
            systems.append(B.make_veil_system("veil"))
        elif name in ("veil-cf1x", "stub"):
            systems.append(B.make_stub_system("veil-cf1x"))
        else:
            raise SystemExit(f"unknown system {name!r}: use deface, veil, veil-cf1x, or --plan")
    for plan in plans:
        label, sep, spec = plan.partition(":")
        if not sep:
            label, spec = plan.replace("=", "").replace(",", "_"), plan
        overrides = B.parse_overrides(spec)
        detector = overrides.pop("detector", None)
        if detector == "cf1x":  # veil's regions on deface's single-scale detector
            systems.append(B.make_stub_system(f"veil-cf1x[{label}]", overrides))
        elif detector is None:
            systems.append(B.make_veil_system(f"veil[{label}]", overrides))
        else:
            raise SystemExit(f"--plan {plan}: detector must be cf1x (or left out for veil's own)")
    return systems


def evaluate(set_name: str, systems: list[B.System], args) -> dict:
    title, loader = SETS[set_name]
    images, gt_stats = loader()
    if args.limit:
        images = images[args.offset:args.offset + args.limit]
    n_faces = sum(len(g.boxes) for g in images)
    print(f"\n## {title}: {len(images)} pictures, {n_faces} scored faces "
          f"(GT stats {gt_stats})", file=sys.stderr)

    # Warm-up (model load, first-run allocations): untimed.
    warm = B.read_rgb(images[0].path)
    for s in systems:
        s.ms, s.cpu_ms = [], []
        s.run(warm)

    faces = []  # per face: image index, box, width, attrs, coverage per system
    over = {s.name: [] for s in systems}
    ndet = {s.name: 0 for s in systems}
    prog = B.Progress(len(images), set_name)
    for i, gt in enumerate(images):
        rgb = B.read_rgb(gt.path)
        H, W = rgb.shape[:2]
        allow = B.allowance_mask(gt.allowance, (H, W), args.head_grow)
        covs = {}
        order = systems[i % len(systems):] + systems[:i % len(systems)]
        for s in order:
            t0, c0 = time.perf_counter(), time.process_time()
            mask, n = s.run(rgb)
            s.ms.append((time.perf_counter() - t0) * 1000)
            s.cpu_ms.append((time.process_time() - c0) * 1000)
            assert mask.shape == (H, W) and mask.dtype == bool, (s.name, mask.shape, mask.dtype)
            covs[s.name] = B.box_coverage(mask, gt.boxes)
            over[s.name].append(float((mask & ~allow).sum()) / (H * W))
            ndet[s.name] += n
        for k, (box, attrs) in enumerate(zip(gt.boxes, gt.attrs)):
            faces.append({"image": i, "box": box.tolist(), "w": int(box[2]), "attrs": attrs,
                          "cov": {name: (None if np.isnan(c[k]) else round(float(c[k]), 4))
                                  for name, c in covs.items()}})
        prog.update(i + 1, " ".join(f"{s.name}={B.median(s.ms):.0f}ms" for s in systems))

    widths = np.array([f["w"] for f in faces], float)
    results = {}
    for s in systems:
        cov = np.array([np.nan if f["cov"][s.name] is None else f["cov"][s.name] for f in faces], float)
        protected = np.nan_to_num(cov, nan=0.0) >= args.min_cover
        summary = B.summarize(widths, protected)
        by_attr = {}
        for key in ("label", "occlusion", "pose", "blur", "illumination"):
            vals = sorted({f["attrs"].get(key) for f in faces if key in f["attrs"]}, key=str)
            if not vals:
                continue
            by_attr[key] = {}
            for v in vals:
                sel = np.array([f["attrs"].get(key) == v for f in faces])
                big = sel & (widths >= 16)
                by_attr[key][str(v)] = {"all": [int(protected[sel].sum()), int(sel.sum())],
                                        ">=16": [int(protected[big].sum()), int(big.sum())]}
        o = np.array(over[s.name])
        results[s.name] = {
            "note": s.note, "protected": summary, "by_attribute": by_attr,
            "over_redaction_mean": float(o.mean()), "over_redaction_p95": float(np.percentile(o, 95)),
            "over_redaction_max": float(o.max()), "over_redaction_per_image": o.round(5).tolist(),
            "detections": ndet[s.name],
            "ms_median": B.median(s.ms), "ms_mean": float(np.mean(s.ms)), "ms_total": float(np.sum(s.ms)),
            "cpu_ms_mean": float(np.mean(s.cpu_ms)), "cpu_ms_total": float(np.sum(s.cpu_ms)),
        }
    return {"set": set_name, "title": title, "pictures": len(images), "faces_scored": len(faces),
            "gt_stats": gt_stats, "images": [str(g.path.relative_to(B.DATA)) for g in images],
            "results": results, "faces": faces}


def markdown(res: dict, ref: str | None) -> str:
    systems = list(res["results"])
    rows = []
    faces = res["faces"]
    widths = np.array([f["w"] for f in faces])
    for name, *_ in B.BINS + B.TOTALS:
        n = res["results"][systems[0]]["protected"][name][1]
        rows.append([f"faces {name}" + ("" if name == "all" else " px"), n] + [B.pct(*res["results"][s]["protected"][name]) for s in systems])
    rows.append(["over-redaction, mean / p95", ""] +
                [f"{100 * r['over_redaction_mean']:.2f}% / {100 * r['over_redaction_p95']:.2f}%"
                 for r in res["results"].values()])
    rows.append(["regions drawn", ""] + [r["detections"] for r in res["results"].values()])
    rows.append(["ms / picture, median (mean)", ""] +
                [f"{r['ms_median']:.0f} ({r['ms_mean']:.0f})" for r in res["results"].values()])
    if ref in res["results"]:
        t_ref = res["results"][ref]["ms_total"]
        rows.append([f"time ratio vs {ref}", ""] + [f"{r['ms_total'] / t_ref:.2f}x" for r in res["results"].values()])
    rows.append(["CPU ms / picture, mean (all threads)", ""] + [f"{r['cpu_ms_mean']:.0f}" for r in res["results"].values()])
    del widths
    out = [f"### {res['title']}: {res['pictures']} pictures, {res['faces_scored']} scored faces",
           "", B.md_table(["", "n"] + systems, rows)]
    # Breakdown by attribute (>= 16 px), compact.
    attr_rows = []
    for key, vals in res["results"][systems[0]]["by_attribute"].items():
        if key not in ("label", "occlusion", "pose"):
            continue
        for v in vals:
            n = vals[v][">=16"][1]
            attr_rows.append([f"{key}={v}", n] + [B.pct(*res["results"][s]["by_attribute"][key][v][">=16"])
                                                   for s in systems])
    if attr_rows:
        out += ["", "Faces >= 16 px by attribute:", "", B.md_table(["", "n"] + systems, attr_rows)]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="wider,face_mask", help="comma list of: wider, face_mask")
    ap.add_argument("--systems", default="deface,veil", help="comma list of: deface, veil, veil-cf1x")
    ap.add_argument("--plan", action="append", default=[], metavar="LABEL:K=V,...",
                    help="extra veil system with Config overrides (repeatable), e.g. notiles:tiles=false")
    ap.add_argument("--limit", type=int, default=0, help="only the first N pictures of each set (quick check)")
    ap.add_argument("--offset", type=int, default=0, help="with --limit: start at picture K")
    ap.add_argument("--min-cover", type=float, default=0.8, help="share of a GT box that must be anonymized")
    ap.add_argument("--head-grow", type=float, default=1.5, help="GT box growth allowed for over-redaction")
    ap.add_argument("--ref", default="deface", help="system that time ratios are taken against")
    ap.add_argument("--out", type=Path, default=B.OUT, help="folder for coverage-<set>.json")
    ap.add_argument("--tag", default="", help="suffix for the JSON file names (coverage-<set><tag>.json)")
    args = ap.parse_args(argv)

    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    try:
        systems = build_systems(names, args.plan)
    except ImportError as exc:
        raise SystemExit(f"cannot build a system: {exc}\n(veil.detect not landed yet? try --systems deface,veil-cf1x)")
    info = B.machine_info()
    started = time.time()
    md = []
    for set_name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        t0 = time.perf_counter()
        res = evaluate(set_name, systems, args)
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        res["machine"] = info
        res["loadavg_end"] = B.loadavg()
        res["command"] = " ".join(map(shlex.quote, [sys.executable.split("/")[-1], *sys.argv]))
        res["started"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        res["min_cover"], res["head_grow"] = args.min_cover, args.head_grow
        path = args.out / f"coverage-{set_name}{args.tag}{'-limit' + str(args.limit) if args.limit else ''}.json"
        B.write_json(path, res)
        table = markdown(res, args.ref)
        md.append(table)
        print(table + f"\n\n({res['wall_s']} s; load avg {info.get('loadavg_start')} -> {res['loadavg_end']}; "
              f"JSON: {path.relative_to(B.REPO) if path.is_relative_to(B.REPO) else path})\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
