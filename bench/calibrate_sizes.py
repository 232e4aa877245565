#!/usr/bin/env python
"""Calibrate veil's recognizer by face size: impostor threshold and genuine-match rate.

``bench/calibrate_threshold.py`` measures one threshold on LFW's 250-px
pictures, where the face is ~100 px wide. Embeddings of small faces are not
distributed like that: a 20-px face leaves the recognizer little to tell
people apart, so different people come closer and the same person matches
less often. This script measures both as a function of the face width:

1. the face box on each native LFW picture (``../shared/data/lfw``, 158
   identities x 10) is veil's own detector (``default_detector(Config())``):
   the detection that overlaps the LFW centre box (70,70)-(180,180) most
   (IoU > 0.3); where there is none, that centre box (counted). The face
   *width* is that box's width, the quantity ``veil.verify`` sees;
2. each picture is scaled (``cv2.INTER_AREA`` down, ``INTER_LINEAR`` up) so
   that the face box is 12, 16, 20, 24, 32, 48, 64, 96 and 128 px wide
   (veil measures faces from ``MIN_FACE_PX`` = 20 px; the rows under it give
   the number of the ``too_small`` evidence), and goes
   through exactly the chip pipeline veil runs on an original of that size:
   5-point landmarks on the scaled picture in the scaled box, veil's
   landmark sanity check (``check_landmarks``), ``Recognizer.aligned_crop``
   -> ``inner_chip``, veil's flat-chip check, one embedding (the native
   pictures are a row too, at their median width);
3. per size: the **threshold** is the 0.1% impostor quantile of all
   different-identity pairs (the rule of ``calibrate_threshold.py``); the
   **match rate** is the share of same-identity pairs below that threshold:
   how often the *uncovered* face at that size matches another photo of the
   same person. Both get 95% CIs from one bootstrap over identities (pairs
   that share an identity are not independent);
4. per size, the **control**: distance from a sample of originals (the first
   ``--control-per-identity`` images of each identity) to a flat patch of
   their mean colour, or flat black, grey or white, whichever is closest --
   the recognizer's own "no face here" (``FaceVerdict.control``);
5. ``src/veil/verify/size_calibration.py`` is written (constants,
   provenance) and markdown tables are printed.

Ethics: as in ``calibrate_threshold.py``, different people are compared only
to get aggregate statistics. Embeddings live in memory; no name, picture or
embedding is printed or stored.

Usage::

    nice -n 10 .venv/bin/python bench/calibrate_sizes.py            # ~25 min CPU
    .venv/bin/python bench/calibrate_sizes.py --limit-identities 20 --no-write
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402  (also puts src/ on sys.path)
import calibrate_threshold as ct  # noqa: E402

from veil.verify.samples import MIN_CHIP_STD, check_landmarks  # noqa: E402
from veil.verify.recognizer import Recognizer, inner_chip, shape_points  # noqa: E402

SIZES = (12, 16, 20, 24, 32, 48, 64, 96, 128)
NATIVE = "native"
QUANTILE = ct.QUANTILE
FLATS = ((0, 0, 0), (128, 128, 128), (255, 255, 255))
CONTROL_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95)


# -- faces and chips -----------------------------------------------------------------
def native_boxes(items, detector) -> tuple[list[tuple[float, float, float, float]], int]:
    """veil's face box on each native picture (centre box where it finds none)."""
    boxes, fallback = [], 0
    prog = bl.Progress(len(items), "detect", every=20)
    for n, (path, _label) in enumerate(items):
        rgb = bl.read_rgb(path)
        dets = detector.detect(rgb)
        best, best_iou = None, 0.3
        for box in dets.xyxy:
            iou = ct._iou(tuple(float(v) for v in box), ct.CENTRE_BOX)
            if iou > best_iou:
                best, best_iou = tuple(float(v) for v in box), iou
        if best is None:
            best, fallback = tuple(float(v) for v in ct.CENTRE_BOX), fallback + 1
        boxes.append(best)
        prog.update(n + 1)
    return boxes, fallback


def scaled(rgb: np.ndarray, box, width: float | None) -> tuple[np.ndarray, tuple[float, ...]]:
    """The picture scaled so that ``box`` is ``width`` px wide (None: as is), and the scaled box."""
    if width is None:
        return rgb, tuple(box)
    s = width / (box[2] - box[0])
    h, w = rgb.shape[:2]
    # Round the picture up, so that the scaled box is never narrower than asked.
    size = (max(math.ceil(w * s), 1), max(math.ceil(h * s), 1))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(rgb, size, interpolation=interp)
    sx, sy = size[0] / w, size[1] / h
    return small, (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def original_chip(rgb: np.ndarray, box, rec: Recognizer) -> tuple[np.ndarray | None, str | None]:
    """The 150-px chip ``veil.verify`` embeds for an original with this box, or why it has none.

    The same steps and checks as ``veil.verify.samples`` applies to an original:
    5-point landmarks in the box, their sanity, the aligned crop, the
    flat-chip check. The minimum size (``MIN_FACE_PX``) is not applied here:
    the rows under it say what the recognizer could do on faces veil does
    not measure (their evidence is ``too_small``, with that number).
    """
    x1, y1, x2, y2 = box
    if min(x2 - x1, y2 - y1) < 4:
        return None, "face_too_small"
    shape = rec.landmarks(rgb, box)
    if check_landmarks(shape_points(shape), box):
        return None, "landmarks_failed"
    chip = np.ascontiguousarray(inner_chip(rec.aligned_crop(rgb, shape)))
    if float(cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).std()) < MIN_CHIP_STD:
        return None, "no_face_texture"
    return chip, None


def embed_size(items, boxes, width, rec: Recognizer) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Every picture at one face width: embeddings (N, 128) (NaN where none), ``ok`` (N,) bool,
    the chips' mean colours (N, 3) (the control's flat patch), and the failure counts."""
    chips, ok, means, reasons = [], np.zeros(len(items), bool), np.zeros((len(items), 3)), {}
    for i, ((path, _label), box) in enumerate(zip(items, boxes)):
        rgb, b = scaled(bl.read_rgb(path), box, width)
        chip, why = original_chip(rgb, b, rec)
        if chip is None:
            reasons[why] = reasons.get(why, 0) + 1
            continue
        chips.append(chip)
        ok[i] = True
        means[i] = chip.reshape(-1, 3).mean(axis=0).round()
    embs = np.concatenate([rec.embed(chips[i:i + 32]) for i in range(0, len(chips), 32)]) if chips \
        else np.zeros((0, 128), np.float32)
    full = np.full((len(items), 128), np.nan, np.float32)
    full[ok] = embs
    return full, ok, means, reasons


def control_distances(embs, ok, means, picks, rec: Recognizer, flat_embs: np.ndarray) -> np.ndarray:
    """``FaceVerdict.control`` of the picked originals: distance to the closest flat patch
    (a patch of the chip's mean colour, or flat black, grey or white)."""
    picks = [i for i in picks if ok[i]]
    if not picks:
        return np.zeros(0)
    patches = [np.full((150, 150, 3), means[i], np.uint8) for i in picks]
    e_mean = np.concatenate([rec.embed(patches[i:i + 32]) for i in range(0, len(patches), 32)]).astype(np.float64)
    orig = embs[picks].astype(np.float64)
    d_mean = np.linalg.norm(orig - e_mean, axis=1)
    d_flat = np.linalg.norm(orig[:, None, :] - flat_embs[None].astype(np.float64), axis=2).min(axis=1)
    return np.minimum(d_mean, d_flat)


# -- statistics -----------------------------------------------------------------------
def pair_distances(embs: np.ndarray, labels: np.ndarray, ok: np.ndarray):
    """Sorted impostor distances with their identity pairs, and genuine distances with their identity."""
    idx = np.flatnonzero(ok)
    e, lab = embs[idx].astype(np.float64), labels[idx]
    iu, ju = np.triu_indices(len(idx), k=1)
    d = np.empty(len(iu))
    for s in range(0, len(iu), 2_000_000):  # bounded memory
        sl = slice(s, s + 2_000_000)
        d[sl] = np.linalg.norm(e[iu[sl]] - e[ju[sl]], axis=1)
    same = lab[iu] == lab[ju]
    order = np.argsort(d[~same], kind="stable")
    imp = d[~same][order]
    return imp, lab[iu][~same][order], lab[ju][~same][order], d[same], lab[iu][same]


def bootstrap(imp, ia, ib, gen, gl, n_ids: int, *, reps: int, seed: int, q: float = QUANTILE):
    """Identity bootstrap of the threshold and of the match rate at that threshold.

    Each replicate draws identities with replacement; an impostor pair of
    identities (a, b) counts ``c_a * c_b`` times, a genuine pair of a ``c_a`` times.

    Returns
    -------
    thresholds, match_rates : (reps,) ndarrays of float64
    """
    rng = np.random.default_rng(seed)
    thr, tar = np.empty(reps), np.empty(reps)
    for r in range(reps):
        c = np.bincount(rng.integers(0, n_ids, n_ids), minlength=n_ids).astype(np.float64)
        cw = np.cumsum(c[ia] * c[ib])
        k = min(int(np.searchsorted(cw, q * cw[-1], side="left")), len(imp) - 1)
        thr[r] = imp[k]
        gw = c[gl]
        tar[r] = float(np.sum(gw * (gen < thr[r])) / max(gw.sum(), 1e-12))
    return thr, tar


def size_row(width_label, embs, labels, ok, reasons, controls, n_ids, *, reps, seed) -> dict:
    imp, ia, ib, gen, gl = pair_distances(embs, labels, ok)
    k = ct.threshold_index(len(imp))
    thr = float(imp[k])
    tar = float(np.mean(gen < round(thr, 4)))
    bt, bm = bootstrap(imp, ia, ib, gen, gl, n_ids, reps=reps, seed=seed)
    ci = lambda a: [round(float(np.quantile(a, 0.025)), 4), round(float(np.quantile(a, 0.975)), 4)]  # noqa: E731
    return {
        "width": width_label, "faces": int(ok.sum()), "faces_total": int(len(ok)), "excluded": dict(reasons),
        "impostor_pairs": int(len(imp)), "genuine_pairs": int(len(gen)),
        "threshold": round(thr, 4), "threshold_ci95": ci(bt),
        "match_rate": round(tar, 4), "match_rate_ci95": ci(bm),
        "impostor_quantiles": {str(p): round(float(np.quantile(imp, p)), 4) for p in (1e-4, 0.01, 0.05, 0.5)},
        "genuine_quantiles": {str(p): round(float(np.quantile(gen, p)), 4) for p in (0.05, 0.5, 0.95)},
        "match_rate_at_0.5293": round(float(np.mean(gen < 0.5293)), 4),
        "impostor_share_below_0.5293": round(float(np.mean(imp < 0.5293)), 6),
        "controls": int(len(controls)),
        "control_quantiles": {str(p): round(float(np.quantile(controls, p)), 4) for p in CONTROL_QUANTILES}
        if len(controls) else {},
        "control_share_below_threshold": round(float(np.mean(controls < thr)), 4) if len(controls) else None,
    }


def isotonic(values, weights) -> list[float]:
    """Least-squares non-decreasing fit (pool adjacent violators), weighted."""
    blocks: list[list[float]] = []  # [weighted mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, w1, n1), (m2, w2, n2) = blocks[-2], blocks[-1]
            blocks[-2:] = [[(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2]]
    return [m for m, _w, n in blocks for _ in range(n)]


def shipped(rows: list[dict]) -> list[dict]:
    """The rows as shipped: threshold and match rate made non-decreasing in the width.

    Fewer pixels can only bring different people closer and the same person
    further apart; a raw row that breaks this is sampling noise, pooled with
    its neighbours (weights: faces of the row). The raw rows stay in PROVENANCE.
    """
    weights = [r["faces"] for r in rows]
    thr = isotonic([r["threshold"] for r in rows], weights)
    tar = isotonic([r["match_rate"] for r in rows], weights)
    return [dict(r, threshold=round(t, 4), match_rate=round(m, 4)) for r, t, m in zip(rows, thr, tar)]


# -- output -----------------------------------------------------------------------------
def render_module(rows: list[dict], native: dict, provenance: dict) -> str:
    def tup(key, nd=4):
        return repr(tuple(round(float(r[key]), nd) for r in rows))

    def pairs(key):
        return repr(tuple(tuple(r[key]) for r in rows))

    controls = repr(tuple(r["control_quantiles"].get("0.5") for r in rows))
    body = "\n".join(f"    {key!r}: {val!r}," for key, val in provenance.items())
    return f'''"""Size calibration of ``veil.verify``: generated by ``bench/calibrate_sizes.py``.

Do not edit by hand; rerun the benchmark. LFW pictures scaled so that the
face box (veil's detector) is ``SIZES_PX`` wide, through veil's chip pipeline.
Per width: ``THRESHOLDS``, the 0.1% impostor quantile (different people
closer than this: fewer than 1 in 1,000 pairs); ``MATCH_RATES``, the share of
same-person pairs of UNCOVERED faces below it; both made non-decreasing in the
width (pooled adjacent violators; the raw rows are in ``PROVENANCE``); 95%
CIs from a bootstrap over identities; ``CONTROL_MEDIANS``, the median distance from an original to the
closest flat patch. ``veil.verify.evidence`` reads these tables.
``PROVENANCE`` records the data, the counts, the date and the command.
"""

from __future__ import annotations

__all__ = ["SIZES_PX", "THRESHOLDS", "THRESHOLD_CI95", "MATCH_RATES", "MATCH_RATE_CI95",
           "CONTROL_MEDIANS", "NATIVE", "PROVENANCE"]

#: Face-box widths (picture pixels) of the calibrated rows, increasing.
SIZES_PX: tuple[int, ...] = {tuple(int(r["width"]) for r in rows)!r}
#: 0.1% impostor quantile of the embedding distance at each width.
THRESHOLDS: tuple[float, ...] = {tup("threshold")}
THRESHOLD_CI95: tuple[tuple[float, float], ...] = {pairs("threshold_ci95")}
#: Share of same-person pairs (uncovered faces) below the threshold, at each width.
MATCH_RATES: tuple[float, ...] = {tup("match_rate")}
MATCH_RATE_CI95: tuple[tuple[float, float], ...] = {pairs("match_rate_ci95")}
#: Median distance from an original to the closest flat patch (``FaceVerdict.control``).
CONTROL_MEDIANS: tuple[float, ...] = {controls}
#: The native LFW pictures (not scaled), at their median face width.
NATIVE: dict = {{'width': {native["width"]!r}, 'threshold': {native["threshold"]!r}, 'match_rate': {native["match_rate"]!r}}}

PROVENANCE: dict = {{
{body}
}}
'''


def tables(rows: list[dict], native: dict) -> str:
    head = ["face width (px)", "faces", "threshold (0.1% impostor)", "95% CI", "match rate at threshold",
            "95% CI", "genuine median", "impostor 1%", "control 5% / median / 95%", "controls below threshold"]
    out = []
    for r in rows + [native]:
        cq = r["control_quantiles"]
        out.append([r["width"] if r is not native else f"native ({r['width']})", r["faces"],
                    f"**{r['threshold']:.4f}**", f"{r['threshold_ci95'][0]:.4f}-{r['threshold_ci95'][1]:.4f}",
                    f"**{100 * r['match_rate']:.1f}%**",
                    f"{100 * r['match_rate_ci95'][0]:.1f}-{100 * r['match_rate_ci95'][1]:.1f}%",
                    f"{r['genuine_quantiles']['0.5']:.3f}", f"{r['impostor_quantiles']['0.01']:.3f}",
                    f"{cq.get('0.05', float('nan')):.3f} / {cq.get('0.5', float('nan')):.3f} / "
                    f"{cq.get('0.95', float('nan')):.3f}",
                    f"{100 * r['control_share_below_threshold']:.0f}%" if r["control_share_below_threshold"]
                    is not None else "-"])
    return bl.md_table(head, out)


def publish(rows: list[dict], native: dict, provenance: dict, out: Path | None) -> None:
    """Print the tables; write the module (``out``) with the shipped (monotone) rows."""
    provenance = dict(provenance)
    provenance.pop("faces_per_row", None)  # written by runs before the raw rows were kept
    provenance["monotone"] = "THRESHOLDS and MATCH_RATES: weighted isotonic (non-decreasing) fits of raw_rows"
    provenance["raw_rows"] = [{k: r[k] for k in ("width", "faces", "threshold", "threshold_ci95", "match_rate",
                                                 "match_rate_ci95")} for r in rows]
    ship = shipped(rows)
    print(tables(rows, native))
    print("\nShipped (non-decreasing fits): thresholds " + ", ".join(f"{r['width']}: {r['threshold']}" for r in ship)
          + "; match rates " + ", ".join(f"{r['width']}: {r['match_rate']}" for r in ship))
    if out is not None:
        out.write_text(render_module(ship, native, provenance))
        print(f"wrote {out}", file=sys.stderr)


def rewrite(json_path: Path, out: Path) -> int:
    import json

    data = json.loads(json_path.read_text())
    if data["provenance"].get("identities", 0) < 100:
        raise SystemExit(f"{json_path}: a quick run (--limit-identities), never shipped")
    provenance = dict(data["provenance"], module_written_by=f"python bench/calibrate_sizes.py --from-json {json_path.name}")
    publish(data["rows"], data["native"], provenance, out)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=bl.DATA / "lfw")
    ap.add_argument("--out", type=Path, default=bl.REPO / "src" / "veil" / "verify" / "size_calibration.py")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--control-per-identity", type=int, default=3, help="originals per identity for the control")
    ap.add_argument("--limit-identities", type=int, default=None, help="quick runs only; never shipped")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="write size_calibration.py and print the tables from a JSON of an earlier run (no measuring)")
    args = ap.parse_args(argv)
    if args.from_json:
        return rewrite(args.from_json, args.out)

    from veil.config import Config
    from veil.detect import default_detector

    t_start = time.perf_counter()
    items, n_ids = ct.load_manifest(args.lfw, args.limit_identities)
    labels = np.array([lab for _, lab in items])
    print(f"LFW: {len(items)} images of {n_ids} identities", file=sys.stderr)
    boxes, fallback = native_boxes(items, default_detector(Config()))
    native_w = np.array([b[2] - b[0] for b in boxes])
    rec = Recognizer()
    flat_embs = rec.embed([np.full((150, 150, 3), c, np.uint8) for c in FLATS])
    seen: dict[int, int] = {}
    picks = []
    for i, lab in enumerate(labels):
        if seen.get(int(lab), 0) < args.control_per_identity:
            picks.append(i)
            seen[int(lab)] = seen.get(int(lab), 0) + 1

    rows, native = [], None
    for width in (*SIZES, NATIVE):
        t0 = time.perf_counter()
        w = None if width == NATIVE else float(width)
        embs, ok, means, reasons = embed_size(items, boxes, w, rec)
        controls = control_distances(embs, ok, means, picks, rec, flat_embs)
        label = int(round(float(np.median(native_w)))) if width == NATIVE else int(width)
        row = size_row(label, embs, labels, ok, reasons, controls, n_ids, reps=args.bootstrap, seed=args.seed)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"  width {width}: {row['faces']} faces, threshold {row['threshold']} {row['threshold_ci95']}, "
              f"match rate {row['match_rate']} {row['match_rate_ci95']}, control median "
              f"{row['control_quantiles'].get('0.5')} ({row['seconds']} s)", file=sys.stderr, flush=True)
        if width == NATIVE:
            native = row
        else:
            rows.append(row)

    command = "python bench/calibrate_sizes.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    provenance = {
        "data": "LFW deep-funneled subset (../shared/data/lfw): identities with >= 10 images, files _0001.._0010",
        "identities": int(n_ids),
        "images": int(len(items)),
        "face_box": f"veil default_detector(Config()) on the native picture, the detection overlapping the LFW "
                    f"centre box most (IoU > 0.3; {len(items) - fallback} images); the centre box "
                    f"(70,70)-(180,180) where none did ({fallback}); native widths {native_w.min():.0f}-"
                    f"{native_w.max():.0f} px, median {np.median(native_w):.0f}",
        "scaling": "whole picture scaled so the face box has the row's width: cv2.INTER_AREA down, INTER_LINEAR up",
        "pipeline": "as veil.verify does for an original (rows under MIN_FACE_PX too): dlib 5-point landmarks in the box "
                    "on the scaled picture, check_landmarks, Recognizer.aligned_crop -> inner_chip, flat-chip check",
        "quantile": QUANTILE,
        "threshold_rule": "k-th smallest impostor distance, k = ceil(q * n) - 1 (0-based)",
        "match_rate_rule": "share of same-identity pairs (both uncovered, same width) below the rounded threshold",
        "ci": f"2.5-97.5% percentiles of {args.bootstrap} identity-bootstrap replicates (seed {args.seed}); "
              "threshold and match rate from the same replicate",
        "control": f"distance from the first {args.control_per_identity} originals of each identity to the closest "
                   "of: a flat patch of the chip's mean colour, flat black, grey, white",
        "excluded_per_row": [r["excluded"] for r in rows],
        "native_row": {k: native[k] for k in ("width", "faces", "threshold", "threshold_ci95", "match_rate",
                                              "match_rate_ci95")},
        "recognizer": "dlib_face_recognition_resnet_model_v1 (face_recognition_models 0.3.0), num_jitters=0",
        "date": _dt.date.today().isoformat(),
        "command": command.strip(),
    }
    out_json = bl.OUT / "calibrate_sizes.json"
    bl.write_json(out_json, {"rows": rows, "native": native, "provenance": provenance,
                             "machine": bl.machine_info(), "wall_s": round(time.perf_counter() - t_start, 1)})
    print(f"JSON: {out_json}", file=sys.stderr)
    if args.limit_identities:
        print("--limit-identities given: size_calibration.py not written", file=sys.stderr)
    publish(rows, native, provenance, None if args.limit_identities or args.no_write else args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
