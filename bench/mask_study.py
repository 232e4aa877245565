#!/usr/bin/env python
"""The mask study: how much of a face must be hidden before dlib's recognizer stops matching it.

Method (``docs/mask-study.md`` has the full account and the results):

1. **Gallery.** Every LFW photo (158 people x 10, ``../shared/data/lfw``) is
   located and aligned as ``calibrate_threshold.py`` does (dlib HOG nearest the
   centre, else the LFW centre box; 5-point landmarks) and embedded once,
   uncovered. Embeddings stay in memory.
2. **Probes.** The first ``--probes`` photos of each person are covered by each
   occlusion (``mask_occlusion``: MaskTheFace templates, bands from the chin up
   and from the forehead down), placed with the photo's own landmarks. The
   covered photo is located and aligned again, as an attacker would; where HOG
   finds no face there, or its landmarks are off by more than
   ``--max-landmark-error`` of the eye distance, the uncovered original's
   landmarks are used (this favours the attacker; counted and reported).
3. **Filling in** (``mask_fill``), told which pixels are hidden: OpenCV
   inpainting of the aligned crop, and an eigenface completion fitted on the
   uncovered faces of the *other* identity folds (``--folds``; a person's own
   photos never enter the model that completes them). Its size and ridge are
   chosen on held-out people of the first fold's training identities.
4. **Scores** (``mask_metrics``): each probe against every other photo of the
   same person (genuine) and every photo of everyone else (impostor): TAR at
   veil's calibrated threshold (``veil.verify.threshold.IMPOSTOR_THRESHOLD``)
   and at this protocol's own FAR 0.1%, the ROC, look-alikes, with 95%
   bootstrap-over-identities intervals.
5. **veil's regions**: veil's default detector and head regions on every
   covered photo; the share of the visible face (the face oval minus the
   occlusion) that the regions cover.

No person is named: identities are indices, file names are never printed or
stored. Output: markdown tables on stdout, JSON under ``bench/out/``, plots and
pictures under ``docs/mask-study/``.

Usage::

    nice -n 10 .venv/bin/python bench/mask_study.py                      # the full study
    .venv/bin/python bench/mask_study.py --limit-identities 12 --bootstrap 100 --figures ''   # quick look
    .venv/bin/python bench/mask_study.py --replot          # tables and plots again from the last run's JSON
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # a shared 2-core machine: one BLAS thread (the ResNet loses ~3%)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import mask_metrics as mm  # noqa: E402
from calibrate_threshold import CENTRE_BOX, centre_face, load_manifest  # noqa: E402
from mask_fill import FaceCompletion, downsample_chip, inpaint  # noqa: E402
from mask_report import tables, write_figures  # noqa: E402
from mask_occlusion import (Occlusion, band, chip_affine, chip_coords, landmarks_visible,  # noqa: E402
                            load_templates, oval_mask)
from veil.verify.recognizer import get_recognizer, inner_chip, make_shape, shape_points  # noqa: E402
from veil.verify.threshold import IMPOSTOR_THRESHOLD  # noqa: E402

RECONS = mm.RECONS
LEVELS = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
#: Numbers of other people in the gallery for the search view (all of them is added).
GALLERY_SIZES = (5, 10, 20, 40, 80)


@dataclass
class Options:
    """What one run measures (the CLI's flags)."""

    probes: int = 2
    levels: tuple = LEVELS
    folds: int = 5
    components: int | None = None  # None: chosen on held-out people
    shrink: float | None = None
    grid_components: tuple = (50, 100, 200)
    grid_shrink: tuple = (10.0, 100.0, 1000.0)
    bootstrap: int = 1000
    seed: int = 0
    max_landmark_error: float = 0.25
    veil_check: bool = True


@dataclass
class Face:
    """One located face of the data set (no name: ``label`` is an identity index)."""

    label: int
    slot: int
    box: tuple
    points: np.ndarray
    from_hog: bool

    @property
    def shape(self):
        return make_shape(self.points, self.box)


@dataclass
class Gallery:
    faces: list = field(default_factory=list)
    items: list = field(default_factory=list)  # what to read each face's picture from
    emb: np.ndarray | None = None
    small: np.ndarray | None = None
    chip_sum: np.ndarray | None = None
    unreadable: int = 0

    @property
    def labels(self) -> np.ndarray:
        return np.array([f.label for f in self.faces], int)


def read_rgb(item) -> np.ndarray | None:
    """An item is a path or an (H, W, 3) uint8 RGB array."""
    if isinstance(item, np.ndarray):
        return item
    bgr = cv2.imread(str(item), cv2.IMREAD_COLOR)
    return None if bgr is None else np.ascontiguousarray(bgr[:, :, ::-1])


def progress(msg: str) -> None:
    print(f"[mask-study {time.process_time():7.1f} cpu-s] {msg}", file=sys.stderr, flush=True)


def build_gallery(items, rec, detector) -> Gallery:
    """Locate, align and embed every uncovered photo once."""
    g = Gallery()
    chips, smalls, slots = [], [], {}
    for n, (item, label) in enumerate(items):
        rgb = read_rgb(item)
        if rgb is None:
            g.unreadable += 1
            continue
        box = centre_face(rgb, detector)
        shape = rec.landmarks(rgb, box if box is not None else CENTRE_BOX)
        slot = slots[label] = slots.get(label, -1) + 1
        g.faces.append(Face(int(label), slot, tuple(box or CENTRE_BOX), shape_points(shape), box is not None))
        g.items.append(item)
        chip = rec.chip(rgb, shape)
        chips.append(chip)
        smalls.append(downsample_chip(chip))
        g.chip_sum = chip.astype(np.float64) if g.chip_sum is None else g.chip_sum + chip
        if (n + 1) % 200 == 0:
            progress(f"gallery: located {n + 1} of {len(items)}")
    g.emb = np.concatenate([rec.embed(chips[i:i + 32]) for i in range(0, len(chips), 32)]) if chips else None
    g.small = np.array(smalls)
    progress(f"gallery: {len(g.faces)} faces embedded ({sum(f.from_hog for f in g.faces)} found by HOG)")
    return g


def fold_of_identity(n_ids: int, folds: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n_ids) % folds


def select_completion(g: Gallery, fold_of: np.ndarray, opts: Options) -> tuple[int, float, list]:
    """Choose the eigenface model's size and ridge on people the test folds never see.

    Among fold 0's *training* identities, a quarter is held out; the model is
    fitted on the rest and scored by the RMS error of the hidden face-oval
    pixels under a chin-up and a forehead-down band leaving half the face. The
    first row is the mean face (no model), for scale.
    """
    if opts.components is not None and opts.shrink is not None:
        return opts.components, opts.shrink, []
    labels = g.labels
    train_ids = np.flatnonzero(fold_of != 0)
    inner = np.isin(labels, train_ids[np.arange(len(train_ids)) % 4 != 0])
    held = np.flatnonzero(np.isin(labels, train_ids[np.arange(len(train_ids)) % 4 == 0]))[::3]
    side = g.small.shape[1]
    uv = np.stack(np.meshgrid(np.arange(side) * 2 + 0.5, np.arange(side) * 2 + 0.5), -1)
    oval = oval_mask(uv)
    def rmse(fill) -> float:
        errs = []
        for occ in (band("chin-up", 0.5), band("forehead-down", 0.5)):
            hs = occ.chip_hidden.reshape(side, 2, side, 2).any(axis=(1, 3))
            sel = hs & oval
            errs += [np.mean((fill(g.small[i], hs)[sel] - g.small[i][sel] / 255.0) ** 2) for i in held]
        return float(255 * np.sqrt(np.mean(errs)))

    mean_face = g.small[inner].mean(axis=0) / 255.0
    rows = [{"components": 0, "shrink": 0.0, "rmse": rmse(lambda small, hs: mean_face)}]  # no model: the mean face
    ks = opts.grid_components if opts.components is None else (opts.components,)
    for k in sorted({min(k, int(inner.sum()) - 1) for k in ks}):  # small runs: fewer faces than the grid asks
        base = FaceCompletion.fit(g.small[inner], components=k)
        for shrink in opts.grid_shrink if opts.shrink is None else (opts.shrink,):
            rows.append({"components": int(k), "shrink": float(shrink),
                         "rmse": rmse(base.with_shrink(shrink).complete_small)})
    best = min(rows[1:], key=lambda r: r["rmse"])
    progress(f"eigenface model: {best['components']} components, ridge x{best['shrink']:g} "
             f"(held-out RMSE {best['rmse']:.1f} of 255)")
    return best["components"], best["shrink"], rows


def conditions(templates, levels) -> list[Occlusion]:
    occ = [Occlusion("none")] + [Occlusion("mask", template=t) for t in templates]
    for fam in ("chin-up", "forehead-down"):
        occ += [band(fam, lv) for lv in levels]
    return occ


class VeilCheck:
    """veil's default detector and head regions on a covered photo."""

    def __init__(self) -> None:
        from veil.config import Config
        from veil.detect import default_detector

        self.config = Config()
        self.detector = default_detector(self.config, threads=1)

    def __call__(self, covered: np.ndarray, target: np.ndarray, points: np.ndarray, visible: np.ndarray) -> dict:
        """``target``: the visible face pixels that must be covered; ``points``: the 5 landmarks, ``visible`` (5,) bool."""
        from veil.region import head_regions

        dets = self.detector.detect(covered)
        regions = head_regions(dets, scale=self.config.region_scale, shape=self.config.region_shape)
        mask = regions.mask(*covered.shape[:2])
        n = int(target.sum())
        h, w = mask.shape
        inside = [bool(mask[y, x]) if 0 <= x < w and 0 <= y < h else False
                  for (x, y), seen in zip(np.rint(points).astype(int), visible) if seen]
        return {"detected": bool(len(dets)), "covered": float((mask & target).sum() / n) if n else float("nan"),
                "landmarks_inside": bool(all(inside))}


def align_probe(covered: np.ndarray, face: Face, rec, detector, max_error: float):
    """Landmarks of a covered photo, as an attacker would find them; the original's where that fails."""
    box = centre_face(covered, detector, near=face.box)
    if box is None:
        return face.shape, "no_detection"
    shape = rec.landmarks(covered, box)
    pts = shape_points(shape)
    iod = np.linalg.norm(face.points[:2].mean(0) - face.points[2:4].mean(0))
    if np.mean(np.linalg.norm(pts - face.points, axis=1)) > max_error * max(iod, 1.0):
        return face.shape, "landmarks_off"
    return shape, "own"


def study_probe(face: Face, rgb: np.ndarray, occs, model: FaceCompletion, rec, detector, veil, opts: Options):
    """Chips (in ``occs`` x RECONS order, 'none' occlusion: one chip) and per-occlusion records."""
    affine = chip_affine(face.shape)
    oval = oval_mask(chip_coords(affine, *rgb.shape[:2]))
    chips, records = [], []
    for occ in occs:
        covered, hidden = occ.apply(rgb, affine)
        if occ.family == "none":
            shape, status = face.shape, "own"
        else:
            shape, status = align_probe(covered, face, rec, detector, opts.max_landmark_error)
        crop = rec.aligned_crop(covered, shape)
        chip = np.ascontiguousarray(inner_chip(crop))
        chips.append(chip)
        if occ.family != "none":
            crop_hidden = rec.align_mask(hidden, shape)
            chips.append(np.ascontiguousarray(inner_chip(inpaint(crop, crop_hidden))))
            chips.append(model.complete(chip, np.ascontiguousarray(inner_chip(crop_hidden))))
        target = oval & ~hidden
        seen = landmarks_visible(face.points, hidden)
        rec_ = {"oval_visible": float(target.sum() / max(oval.sum(), 1)), "landmarks_visible": seen.tolist(),
                "align": status}
        if veil is not None:
            rec_["veil"] = veil(covered, target, face.points, seen)
        records.append(rec_)
    return chips, records


def probe_faces(g: Gallery, probes: int) -> list[int]:
    """Gallery indices of the probes: the first ``probes`` photos of each person."""
    return [i for i, f in enumerate(g.faces) if f.slot < probes]


def run_study(items, templates, opts: Options) -> dict:
    """The whole study on ``items`` ((path or RGB array, identity index) pairs); a JSON-ready dict."""
    import dlib

    t0 = time.process_time()
    rec, detector = get_recognizer(), dlib.get_frontal_face_detector()
    g = build_gallery(items, rec, detector)
    labels = g.labels
    n_ids = int(labels.max()) + 1
    fold_of = fold_of_identity(n_ids, opts.folds, opts.seed)
    k, shrink, grid = select_completion(g, fold_of, opts)
    train = [fold_of[labels] != f for f in range(opts.folds)]
    models = [FaceCompletion.fit(g.small[t], components=min(k, int(t.sum()) - 1), shrink=shrink) for t in train]
    occs = conditions(templates, opts.levels)
    veil = VeilCheck() if opts.veil_check else None
    probes = probe_faces(g, opts.probes)
    emb = np.full((len(occs), len(RECONS), len(probes), 128), np.nan, np.float32)
    records = [[None] * len(probes) for _ in occs]
    for j, gi in enumerate(probes):
        face = g.faces[gi]
        chips, recs = study_probe(face, read_rgb(g.items[gi]), occs, models[fold_of[face.label]],
                                  rec, detector, veil, opts)
        e = rec.embed(chips)
        row = 0
        for o, occ in enumerate(occs):
            n = 1 if occ.family == "none" else len(RECONS)
            emb[o, :n, j] = e[row:row + n]
            row += n
            records[o][j] = recs[o]
        if (j + 1) % 20 == 0 or j + 1 == len(probes):
            progress(f"probes: {j + 1} of {len(probes)}")
    result = score(g, probes, occs, emb, records, opts)
    result["pca"] = {"components": k, "shrink": shrink, "folds": opts.folds, "grid": grid}
    result["data"] = {"identities": n_ids, "photos": len(g.faces), "unreadable": g.unreadable,
                      "hog": int(sum(f.from_hog for f in g.faces)), "probes": len(probes)}
    result["cpu_s"] = round(time.process_time() - t0, 1)
    result["_mean_chip"] = g.chip_sum / max(len(g.faces), 1)
    result["_models"] = models
    return result


def _veil_summary(recs: list[dict]) -> dict | None:
    v = [r["veil"] for r in recs if "veil" in r]
    if not v:
        return None
    cov = np.array([x["covered"] for x in v], np.float64)
    cov = cov[np.isfinite(cov)]
    return {"faces": len(v), "detected": float(np.mean([x["detected"] for x in v])),
            "covered_mean": float(cov.mean()) if len(cov) else float("nan"),
            "covered_p05": float(np.quantile(cov, 0.05)) if len(cov) else float("nan"),
            "covered_min": float(cov.min()) if len(cov) else float("nan"),
            "covered_99": float(np.mean(cov >= 0.99)) if len(cov) else float("nan"),
            "landmarks_inside": float(np.mean([x["landmarks_inside"] for x in v]))}


def _occlusion_entry(occ: Occlusion, recs: list[dict]) -> dict:
    lm = np.array([r["landmarks_visible"] for r in recs], bool)
    align = [r["align"] for r in recs]
    return {"occlusion": occ.name, "family": occ.family, "level": occ.level,
            "visible_share": occ.visible_share,
            "oval_visible": float(np.mean([r["oval_visible"] for r in recs])),
            "eyes_visible": float(lm[:, :4].sum(1).mean()), "nose_visible": float(lm[:, 4].mean()),
            "align": {k: align.count(k) for k in ("own", "no_detection", "landmarks_off")},
            "veil": _veil_summary(recs), "recon": {}}


def score(g: Gallery, probes: list[int], occs, emb: np.ndarray, records, opts: Options) -> dict:
    """Every condition's scores, intervals, ROC; crossings of the band curves."""
    labels = g.labels
    pid, own = labels[probes], np.array(probes)
    n_ids = int(labels.max()) + 1
    boot = mm.Bootstrap(n_ids, labels, reps=opts.bootstrap, seed=opts.seed)
    protocol = mm.own_threshold(mm.pairs(emb[0, 0], pid, own, g.emb, labels))
    entries, reps = [], {}
    for o, occ in enumerate(occs):
        entry = _occlusion_entry(occ, records[o])
        for r, name in enumerate(RECONS[:1] if occ.family == "none" else RECONS):
            p = mm.pairs(emb[o, r], pid, own, g.emb, labels)
            s = mm.summary(p, threshold=IMPOSTOR_THRESHOLD, protocol_threshold=protocol)
            rep = reps[occ.name, name] = boot.replicates(p, threshold=IMPOSTOR_THRESHOLD)
            s["ci"] = {k: mm.ci(v) for k, v in rep.items()}
            s["roc"] = mm.roc(p)
            sizes = [m for m in GALLERY_SIZES if m < n_ids - 1] + [n_ids - 1]
            s["by_gallery"] = mm.by_gallery_size(p, sizes, threshold=IMPOSTOR_THRESHOLD, seed=opts.seed)
            if name != "none":
                for key in ("tar", "lookalike"):
                    s[f"delta_{key}"] = s[key] - entry["recon"]["none"][key]
                    s["ci"][f"delta_{key}"] = mm.ci(rep[key] - reps[occ.name, "none"][key])
            entry["recon"][name] = s
        entries.append(entry)
        progress(f"scored {occ.name}")
    crossings = {}
    for fam in ("chin-up", "forehead-down"):
        fam_entries = [e for e in entries if e["family"] == fam]
        levels = [1.0] + [e["level"] for e in fam_entries]
        for name in RECONS:
            keys = [("none", "none")] + [(e["occlusion"], name) for e in fam_entries]
            for target in (0.5, 0.1):
                point = mm.crossing(levels, [entries[0]["recon"]["none"]["tar"]] +
                                    [e["recon"][name]["tar"] for e in fam_entries], target)
                per_rep = [mm.crossing(levels, [reps[k]["tar"][i] for k in keys], target) for i in range(opts.bootstrap)]
                crossings[f"{fam}/{name}/{target}"] = {"visible": point, "ci": mm.ci(np.array(per_rep))}
    return {"thresholds": {"veil": IMPOSTOR_THRESHOLD, "protocol": protocol,
                           "protocol_ci": mm.ci(reps["none", "none"]["own_threshold"])},
            "far_grid": mm.FAR_GRID.tolist(), "conditions": entries, "crossings": crossings,
            "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()}}


def to_json(res: dict) -> dict:
    """The result without in-memory objects (keys starting with '_')."""
    return {k: v for k, v in res.items() if not k.startswith("_")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "data" / "lfw")
    ap.add_argument("--masktheface", type=Path, default=REPO.parent / "shared" / "data" / "masktheface")
    ap.add_argument("--templates", default="surgical,cloth,N95,KN95")
    ap.add_argument("--probes", type=int, default=Options.probes, help="probe photos per person")
    ap.add_argument("--levels", default=",".join(f"{v:g}" for v in LEVELS), help="band visible shares")
    ap.add_argument("--folds", type=int, default=Options.folds)
    ap.add_argument("--components", type=int, default=None, help="eigenfaces (default: chosen on held-out people)")
    ap.add_argument("--shrink", type=float, default=None, help="ridge factor (default: chosen on held-out people)")
    ap.add_argument("--bootstrap", type=int, default=Options.bootstrap)
    ap.add_argument("--seed", type=int, default=Options.seed)
    ap.add_argument("--limit-identities", type=int, default=None, help="quick runs: the first N identities")
    ap.add_argument("--no-veil-check", action="store_true")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "out" / "mask-study.json")
    ap.add_argument("--figures", default=str(REPO / "docs" / "mask-study"), help="folder for plots ('' for none)")
    ap.add_argument("--replot", action="store_true",
                    help="no run: print the tables and redraw the plots from --json (pictures need a run)")
    args = ap.parse_args(argv)
    if args.replot:
        res = json.loads(args.json.read_text())
        print(tables(res))
        for path in write_figures(res, [], Path(args.figures)) if args.figures else []:
            progress(f"wrote {path.name}")
        return 0

    opts = Options(probes=args.probes, levels=tuple(float(v) for v in args.levels.split(",")), folds=args.folds,
                   components=args.components, shrink=args.shrink, bootstrap=args.bootstrap, seed=args.seed,
                   veil_check=not args.no_veil_check)
    items, n_ids = load_manifest(args.lfw, args.limit_identities)
    templates = load_templates(args.masktheface, [t for t in args.templates.split(",") if t])
    progress(f"LFW: {len(items)} photos of {n_ids} identities; templates: {', '.join(t.name for t in templates)}")
    res = run_study(items, templates, opts)
    res["command"] = "python bench/mask_study.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                                       else sys.argv[1:]))
    res["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(tables(res))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(to_json(res), indent=1, default=float))
    progress(f"wrote {args.json.relative_to(REPO) if args.json.is_relative_to(REPO) else args.json.name}")
    if args.figures:
        for path in write_figures(res, templates, Path(args.figures)):
            progress(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
