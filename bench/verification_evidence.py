#!/usr/bin/env python
"""Verification evidence: false leaks, caught leaks and measured faces, before and after.

Issue 13. For every face veil's detector finds, the raw scores that
``veil.verify.verify_face`` produces -- the distance of every attack
candidate, the control (original vs the closest flat patch), the face width
and the detector score -- are collected once per cover, and then judged by
two rules:

* **before**: the rule of ``veil.verify`` before issue 13 (one threshold 0.5293;
  faces whose control is under it are "indistinct", not measured; detector
  score < 0.5 is "low_confidence"; faces under 20 px are "too small");
* **after**: ``veil.verify.evidence.classify`` (size-calibrated threshold and
  the control margin; every face gets an evidence class with a number).

Sets
----
* ``face_mask``: the first 150 photos of ``../shared/data/face_mask`` (natural
  order, as ``benchlib.load_face_mask``) -- the dev set of issue 13;
* ``wider``: every 4th photo of ``../shared/data/widerface_val`` (its GT file
  order: parade, interview, couple, family, dancing);
* ``face_mask_holdout``: photos 150-299 of face_mask (held out: the rule's
  margin was chosen on the two dev sets; this set checks it);
* ``lfw``: image _0001 of the first ``--lfw-identities`` LFW identities,
  scaled so that veil's face box is 20 ... 128 px wide (the calibrated sizes
  of ``bench/calibrate_sizes.py``), detection score taken as 1.

Covers
------
``veil-fill`` and ``veil-noise`` (veil's ``anonymize`` on veil's head
regions, attacks of the mode as ``veil anonymize`` runs them, region mask
given): the false-leak target is 0. Weak covers that must be caught, judged
as ``veil verify`` judges another tool's output (region mask from the changed
pixels): ``blur-2%``/``5%``/``10%`` (veil's blur, Gaussian sigma that share
of the FACE width, on veil's head region), ``pixelate-16``/``10``/``6``
(veil's pixelate, blocks across the head region), ``deface-blur`` and
``deface-mosaic`` (deface 1.5 defaults: its own detector on the dev sets; on
``lfw`` its cover on the known box, so that the cover, not its detector, is
measured). Weak covers run the attacks that invert them (blur: deblurring and
inpainting; pixelate/mosaic: de-pixelation, denoising, inpainting) -- a subset
of ``veil verify``'s, so their detection rates are lower bounds -- or, with
``--weak-attacks none``, none (the face as published: a lower bound again). On
the dev sets weak covers are verified on at most ``--per-bin`` faces of each
width bin (>= 20 px, score >= 0.5), in photo order, the same faces for every
weak cover.

Detections under score 0.5 are ``low_confidence`` under both rules and are
not verified. The raw scores are ``veil.verify.measure.evaluate``'s, the path
of ``verify_face`` (which attacks every usable face, so both rules read the
same scores), with the landmarks the covered region misses (``uncovered``;
JSON written before the port onto ``veil.verify.verdicts`` lacks them).

Ethics: the recognizer only compares a face with its own covered version.
No embedding or pixel is stored; the JSON holds boxes, widths and distances.

Usage::

    nice -n 10 .venv/bin/python bench/verification_evidence.py --sets face_mask --covers veil-fill,veil-noise
    nice -n 10 .venv/bin/python bench/verification_evidence.py --sets lfw
    .venv/bin/python bench/verification_evidence.py --report bench/out/verification_evidence-*.json
    nice -n 10 .venv/bin/python bench/verification_evidence.py --sets face_mask --covers veil-fill --limit 20 \
        --out bench/out/ve-rerun.json
    .venv/bin/python bench/verification_evidence.py --compare bench/out/verification_evidence-face_mask+wider-2covers.json \
        bench/out/ve-rerun.json
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402  (also puts src/ on sys.path)
import calibrate_sizes as cs  # noqa: E402

SETS = ("face_mask", "wider", "face_mask_holdout", "lfw")
VEIL_COVERS = ("veil-fill", "veil-noise")
WEAK_COVERS = ("blur-2%", "blur-5%", "blur-10%", "pixelate-16", "pixelate-10", "pixelate-6",
               "deface-blur", "deface-mosaic")
COVERS = VEIL_COVERS + WEAK_COVERS
LFW_SIZES = tuple(s for s in cs.SIZES if s >= 20)
BINS = ((0, 12), (12, 16), (16, 20), (20, 24), (24, 32), (32, 48), (48, 64), (64, 96), (96, 128),
        (128, float("inf")))
SEED0 = 1000
from veil.verify.evidence import MIN_DETECTOR_SCORE as MIN_SCORE  # noqa: E402  (0.5 in both rules)


def width_bin(w: float) -> str:
    for lo, hi in BINS:
        if lo <= w < hi:
            return f"{lo}-{hi}" if hi != float("inf") else f">={lo}"
    return "?"


# -- photos ----------------------------------------------------------------------------
def photos(name: str) -> list[Path]:
    if name == "face_mask":
        return [g.path for g in bl.load_face_mask()[0][:150]]
    if name == "face_mask_holdout":
        return [g.path for g in bl.load_face_mask()[0][150:300]]
    if name == "wider":
        return [g.path for g in bl.load_wider()[0][::4]]
    raise ValueError(name)


# -- covers ------------------------------------------------------------------------------
def cover_spec(cover: str):
    """(veil Config changes or None, attacks) of a cover."""
    from veil.verify.photo import ATTACKS_FOR_MODE
    from veil.config import Mode

    if cover == "veil-fill":
        return {"mode": "fill"}, ATTACKS_FOR_MODE[Mode.FILL]
    if cover == "veil-noise":
        return {"mode": "noise"}, ATTACKS_FOR_MODE[Mode.NOISE]
    if cover.startswith("blur-"):
        return {"mode": "blur", "blur_frac": float(cover[5:-1]) / 100}, ATTACKS_FOR_MODE[Mode.BLUR]
    if cover.startswith("pixelate-"):
        return {"mode": "pixelate", "pixelate_blocks": int(cover[9:])}, ATTACKS_FOR_MODE[Mode.PIXELATE]
    if cover == "deface-blur":
        return None, ATTACKS_FOR_MODE[Mode.BLUR]
    if cover == "deface-mosaic":
        return None, ATTACKS_FOR_MODE[Mode.PIXELATE]
    raise ValueError(cover)


def render(cover: str, rgb: np.ndarray, dets, seed: int, cf, *, known_boxes: bool):
    """The covered picture and the region mask verification is given (veil's own, or the changed pixels)."""
    from leak_rate import deface_render

    from veil.anonymize import anonymize
    from veil.commands.verify import changed_mask
    from veil.config import Config
    from veil.region import head_regions

    spec, _ = cover_spec(cover)
    if spec is None:
        mode = cover.split("-")[1]
        if known_boxes:  # the cover on the given boxes, not deface's detections
            from deface.deface import anonymize_frame

            out = rgb.copy()
            d5 = np.hstack([dets.xyxy, np.ones((len(dets), 1), np.float32)])
            anonymize_frame(d5, out, mask_scale=bl.DEFACE_MASK_SCALE, replacewith=mode, ellipse=True,
                            draw_scores=False, replaceimg=None, mosaicsize=20)
        else:
            out, _ = deface_render(cf, rgb, mode)
        return out, changed_mask(rgb, out)
    cfg = Config()
    regions = head_regions(dets, scale=cfg.region_scale, shape=cfg.region_shape)
    mode = spec["mode"]
    out = anonymize(rgb, regions, mode=mode, rng=np.random.default_rng(seed),
                    blur_strength=spec.get("blur_frac", 0.25) / cfg.region_scale,
                    pixelate_blocks=spec.get("pixelate_blocks", 10))
    if cover in VEIL_COVERS:
        return out, regions.mask(*rgb.shape[:2])
    return out, changed_mask(rgb, out)


def _scores_of(v) -> dict:
    """The raw scores of a ``FaceVerdict`` as this benchmark stores them (no pixels, no embeddings)."""
    out = {"distances": {k: round(float(x), 4) for k, x in v.distances.items()}}
    if v.control is not None:
        out["control"] = round(float(v.control), 4)
    if v.unverifiable:
        out["unverifiable"] = v.unverifiable
    if v.uncovered:
        out["uncovered"] = list(v.uncovered)
    return out


def raw_scores_many(orig, box, renders: dict) -> dict:
    """``veil.verify``'s raw scores of one face under several covers.

    ``renders``: cover -> (covered picture, region mask, attacks). Each cover
    goes through ``veil.verify.samples.prepare_sample`` and
    ``veil.verify.measure.evaluate``, the very path of ``verify_face`` (every
    usable face is attacked whatever its control: the rule decides later).
    """
    from veil.verify.attacks import resolve_attacks
    from veil.verify.measure import evaluate
    from veil.verify.recognizer import get_recognizer
    from veil.verify.samples import prepare_sample, rgb8

    rec = get_recognizer()
    o = rgb8(orig)
    out = {}
    for c, (a, m, attacks) in renders.items():
        sample = prepare_sample(o, rgb8(a), box, region_mask=m, rec=rec, frame=None)
        out[c] = _scores_of(evaluate([sample], resolve_attacks(attacks), rec, 0.0)[0][0])
    return out


def attacks_for(cover: str, weak_attacks: str):
    return cover_spec(cover)[1] if cover in VEIL_COVERS or weak_attacks == "mode" else "none"


# -- collection -----------------------------------------------------------------------
def collect_photos(name: str, covers: list[str], per_bin: int, weak_attacks: str,
                   limit: int | None = None) -> list[dict]:
    from veil.config import Config
    from veil.detect import default_detector
    from veil.media.image import to_rgb8

    detector = default_detector(Config())
    cf = bl.deface_centerface() if any(c.startswith("deface") for c in covers) else None
    paths = photos(name)[:limit]
    faces, taken = [], {}
    prog = bl.Progress(len(paths), name, every=30)
    for n, path in enumerate(paths):
        rgb = to_rgb8(bl.read_rgb(path))
        dets = detector.detect(rgb)
        dets = dets[dets.scores >= Config().threshold] if len(dets) else dets
        recs = [{"set": name, "photo": n, "face": j, "box": [round(float(v), 1) for v in box],
                 "width": round(float(box[2] - box[0]), 1), "height": round(float(box[3] - box[1]), 1),
                 "score": round(float(s), 3), "covers": {}} for j, (box, s) in enumerate(zip(dets.xyxy, dets.scores))]
        # Low-confidence detections are covered, never measured (both rules): no embeddings spent.
        # Weak covers: at most per_bin faces of each width bin, the same faces for every weak cover.
        weak_faces = []
        for j, r in enumerate(recs):
            if r["score"] < MIN_SCORE:
                for cover in covers:
                    if cover in VEIL_COVERS:
                        r["covers"][cover] = {"distances": {}, "unverifiable": "low_confidence"}
            elif r["width"] >= 20 and taken.get(width_bin(r["width"]), 0) < per_bin:
                taken[width_bin(r["width"])] = taken.get(width_bin(r["width"]), 0) + 1
                weak_faces.append(j)
        renders = {c: render(c, rgb, dets, SEED0 + n, cf, known_boxes=False) + (attacks_for(c, weak_attacks),)
                   for c in covers if c in VEIL_COVERS or weak_faces}
        for j, r in enumerate(recs):
            if r["score"] < MIN_SCORE:
                continue
            mine = {c: x for c, x in renders.items() if c in VEIL_COVERS or j in weak_faces}
            if mine:
                r["covers"].update(raw_scores_many(rgb, dets.xyxy[j], mine))
        faces += recs
        prog.update(n + 1, f"{len(faces)} faces")
    return faces


def partly_covered_census(name: str, limit: int | None = None) -> dict:
    """veil's default regions on a dev set: faces whose eyes or nose fall outside them.

    No cover, no embedding: the detector, veil's head regions and the landmarks
    of ``veil.verify.samples.prepare_sample`` (faces it would measure: score >=
    0.5, >= 20 px, plausible landmarks). A false ``partly_covered`` leak of
    veil's own regions would show here.
    """
    from veil.config import Config
    from veil.detect import default_detector
    from veil.media.image import to_rgb8
    from veil.region import head_regions
    from veil.verify.recognizer import get_recognizer
    from veil.verify.samples import prepare_sample

    cfg, rec = Config(), get_recognizer()
    detector = default_detector(cfg)
    paths = photos(name)[:limit]
    out = {"set": name, "photos": len(paths), "faces_checked": 0, "partly_covered": [], "photos_flagged": 0}
    prog = bl.Progress(len(paths), f"{name} landmarks", every=30)
    for n, path in enumerate(paths):
        rgb = to_rgb8(bl.read_rgb(path))
        dets = detector.detect(rgb)
        dets = dets[dets.scores >= cfg.threshold] if len(dets) else dets
        mask = head_regions(dets, scale=cfg.region_scale, shape=cfg.region_shape).mask(*rgb.shape[:2])
        flagged = False
        for box, score in zip(dets.xyxy, dets.scores):
            if score < MIN_SCORE:
                continue
            s = prepare_sample(rgb, rgb, box, region_mask=mask, rec=rec, frame=None)
            if not s.usable:
                continue
            out["faces_checked"] += 1
            if s.uncovered:
                flagged = True
                out["partly_covered"].append({"photo": n, "box": [round(float(v), 1) for v in box],
                                              "uncovered": list(s.uncovered)})
        out["photos_flagged"] += flagged
        prog.update(n + 1, f"{len(out['partly_covered'])} partly covered")
    return out


def collect_lfw(covers: list[str], identities: int, weak_attacks: str) -> list[dict]:
    from veil.config import Config
    from veil.detect import default_detector
    from veil.detections import Detections

    rows = list(csv.DictReader(open(bl.DATA / "lfw" / "manifest.csv", newline="")))
    first: dict[str, Path] = {}
    for r in sorted(rows, key=lambda r: (r["identity"], r["path"])):
        first.setdefault(r["identity"], bl.DATA / "lfw" / r["path"])
    paths = [first[k] for k in sorted(first)][:identities]
    boxes, _fallback = cs.native_boxes([(p, 0) for p in paths], default_detector(Config()))
    faces = []
    prog = bl.Progress(len(paths) * len(LFW_SIZES), "lfw", every=30)
    for n, (path, box) in enumerate(zip(paths, boxes)):
        native = bl.read_rgb(path)
        for k, width in enumerate(LFW_SIZES):
            rgb, b = cs.scaled(native, box, float(width))
            dets = Detections([b], scores=[1.0])
            renders = {c: render(c, rgb, dets, SEED0 + n, None, known_boxes=True) + (attacks_for(c, weak_attacks),)
                       for c in covers}
            scores = raw_scores_many(rgb, b, renders)
            faces.append({"set": "lfw", "photo": n, "face": 0, "size": width, "box": [round(float(v), 1) for v in b],
                          "width": round(float(b[2] - b[0]), 1), "height": round(float(b[3] - b[1]), 1),
                          "score": 1.0, "covers": scores})
            prog.update(n * len(LFW_SIZES) + k + 1)
    return faces


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="face_mask,wider", help="comma-separated: " + ",".join(SETS))
    ap.add_argument("--covers", default=",".join(COVERS), help="comma-separated: " + ",".join(COVERS))
    ap.add_argument("--per-bin", type=int, default=25, help="dev sets: faces per width bin for weak covers")
    ap.add_argument("--lfw-identities", type=int, default=30)
    ap.add_argument("--weak-attacks", choices=("mode", "none"), default="mode",
                    help="weak covers: the attacks that invert them, or none (as published: a lower bound)")
    ap.add_argument("--limit", type=int, default=None, help="dev sets: only the first N photos (quick checks)")
    ap.add_argument("--compare", type=Path, nargs=2, metavar=("EARLIER", "NOW"),
                    help="only compare the decisions of two JSON files on the faces they share")
    ap.add_argument("--partly-only", action="store_true",
                    help="only count faces whose eyes or nose fall outside veil's default regions (no embeddings)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--report", type=Path, nargs="*", help="only print the tables of JSON files written earlier")
    args = ap.parse_args(argv)
    import evidence_tables as et

    if args.partly_only:
        rows = [partly_covered_census(s, args.limit) for s in args.sets.split(",") if s != "lfw"]
        print(bl.md_table(["set", "photos", "faces checked (score >= 0.5, >= 20 px, landmarks)",
                           "eyes or nose outside veil's region", "photos flagged"],
                          [[r["set"], r["photos"], r["faces_checked"], len(r["partly_covered"]), r["photos_flagged"]]
                           for r in rows]))
        bl.write_json(args.out or bl.OUT / "verification_partly_covered.json", {"command": " ".join(sys.argv),
                                                                               "machine": bl.machine_info(),
                                                                               "sets": rows})
        return 0
    if args.compare:
        print(et.compare([json.loads(p.read_text()) for p in args.compare]))
        return 0
    if args.report:
        print(et.report([json.loads(p.read_text()) for p in args.report]))
        return 0
    sets, covers = args.sets.split(","), args.covers.split(",")
    for s in sets:
        if s not in SETS:
            ap.error(f"unknown set {s!r}")
    for c in covers:
        if c not in COVERS:
            ap.error(f"unknown cover {c!r}")
    t0 = time.perf_counter()
    result = {"machine": bl.machine_info(), "command": "python " + " ".join(map(shlex.quote, sys.argv)),
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "sets": sets, "covers": covers,
              "per_bin": args.per_bin, "weak_attacks": args.weak_attacks, "faces": []}
    out = args.out or bl.OUT / f"verification_evidence-{'+'.join(sets)}-{len(covers)}covers.json"
    for s in sets:
        result["faces"] += collect_lfw(covers, args.lfw_identities, args.weak_attacks) if s == "lfw" else \
            collect_photos(s, covers, args.per_bin, args.weak_attacks, args.limit)
        bl.write_json(out, result)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["loadavg_end"] = bl.loadavg()
    bl.write_json(out, result)
    print(et.report([result]))
    print(f"JSON: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
