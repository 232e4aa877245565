#!/usr/bin/env python
"""Calibrate veil's leak threshold: the recognizer's impostor level on LFW.

A face *leaks* when the distance between its original and its (attacked)
anonymized version is below the distance that fewer than 1 in 1,000 pairs of
*different* people reach. This script measures that level on the LFW subset
in ``../shared/data/lfw`` (158 identities x 10 images, deep-funneled, 250x250):

1. each image is detected once with dlib's frontal HOG detector (no upsampling;
   the detection nearest the centre is kept; where HOG finds nothing near the
   centre, the LFW centre box (70, 70)-(180, 180) is used -- counts printed);
2. 5-point landmarks, aligned exactly as ``veil.verify`` aligns an original
   (``Recognizer.aligned_crop`` -> ``inner_chip``), one 128-d embedding each;
3. the distances of ALL different-identity pairs (impostors) and all
   same-identity pairs (genuine) are computed in memory;
4. the threshold is the 0.1% quantile of impostor distances: the k-th smallest
   distance with ``k = ceil(0.001 * n) - 1`` (0-based), so that strictly fewer
   than 1 in 1,000 impostor pairs lie below it. Its 95% CI comes from a
   bootstrap over identities (pairs sharing an identity are not independent);
5. the constant and its provenance are written to
   ``src/veil/verify/threshold.py`` and a markdown table is printed for
   ``bench/RESULTS.md``.

Ethics: this is the only place where veil compares different people's faces,
and only to measure the recognizer's impostor distribution. Embeddings live in
memory only; nothing but aggregate statistics is stored.

Usage::

    .venv/bin/python bench/calibrate_threshold.py [--lfw ../shared/data/lfw] [--no-write]
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import math
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from veil.verify.recognizer import Recognizer, inner_chip  # noqa: E402

CENTRE_BOX = (70, 70, 180, 180)
QUANTILE = 0.001


def _iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def load_manifest(lfw: Path, limit: int | None):
    rows = list(csv.DictReader(open(lfw / "manifest.csv", newline="")))
    ids = sorted({r["identity"] for r in rows})
    if limit:
        ids = ids[:limit]
    keep = set(ids)
    rows = [r for r in rows if r["identity"] in keep]
    index = {name: i for i, name in enumerate(ids)}
    return [(lfw / r["path"], index[r["identity"]]) for r in rows], len(ids)


def centre_face(rgb: np.ndarray, detector, *, near=CENTRE_BOX, min_iou: float = 0.3):
    """The HOG face (xyxy, no upsampling) overlapping ``near`` most, if its IoU exceeds ``min_iou``; else None."""
    rects, _scores, _ = detector.run(rgb, 0, 0.0)
    best, best_iou = None, min_iou
    for r in rects:
        box = (r.left(), r.top(), r.right(), r.bottom())
        iou = _iou(box, near)
        if iou > best_iou:
            best, best_iou = box, iou
    return best


def aligned_chips(items, rec: Recognizer):
    """Each readable image's face as veil aligns an original: (chips, labels, counts)."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    chips, labels = [], []
    n_hog = n_centre = n_unreadable = 0
    t0 = time.perf_counter()
    for path, label in items:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            n_unreadable += 1
            continue
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        best = centre_face(rgb, detector)
        if best is None:
            best = CENTRE_BOX
            n_centre += 1
        else:
            n_hog += 1
        shape = rec.landmarks(rgb, best)
        chips.append(np.ascontiguousarray(inner_chip(rec.aligned_crop(rgb, shape))))
        labels.append(label)
    return chips, np.array(labels), dict(hog=n_hog, centre_box=n_centre, unreadable=n_unreadable,
                                         align_s=time.perf_counter() - t0)


def embed_all(items, rec: Recognizer):
    chips, labels, stats = aligned_chips(items, rec)
    t0 = time.perf_counter()
    embs = np.concatenate([rec.embed(chips[i:i + 32]) for i in range(0, len(chips), 32)])
    stats["embed_s"] = time.perf_counter() - t0
    return embs, labels, stats


def threshold_index(n: int, q: float = QUANTILE) -> int:
    """0-based index k: strictly fewer than q*n values lie below sorted[k] (ties aside)."""
    return max(int(math.ceil(q * n)) - 1, 0)


def bootstrap_ci(d_sorted, ia_sorted, ib_sorted, n_ids, *, reps, seed, q=QUANTILE):
    """Identity-level bootstrap of the q-quantile of impostor distances.

    Each replicate draws identities with replacement; an impostor pair of
    identities (a, b) then counts ``c_a * c_b`` times.
    """
    rng = np.random.default_rng(seed)
    out = np.empty(reps)
    for r in range(reps):
        counts = np.bincount(rng.integers(0, n_ids, n_ids), minlength=n_ids).astype(np.float64)
        w = counts[ia_sorted] * counts[ib_sorted]
        cw = np.cumsum(w)
        total = cw[-1]
        k = np.searchsorted(cw, q * total, side="left")
        out[r] = d_sorted[min(k, len(d_sorted) - 1)]
    return float(np.quantile(out, 0.025)), float(np.quantile(out, 0.975))


def render_threshold_module(value: float, provenance: dict) -> str:
    body = "\n".join(f"    {key!r}: {val!r}," for key, val in provenance.items())
    return f'''"""The leak threshold of ``veil.verify``: generated by ``bench/calibrate_threshold.py``.

Do not edit by hand; rerun the benchmark. A face *leaks* when the distance
between its original and its attacked, anonymized version is below
``IMPOSTOR_THRESHOLD``: the dlib-ResNet distance that fewer than 1 in 1,000
pairs of *different* people reach (0.1% impostor quantile, LFW subset).
``PROVENANCE`` records the data, the counts, the date and the command.
"""

from __future__ import annotations

__all__ = ["IMPOSTOR_THRESHOLD", "PROVENANCE"]

#: Embedding distance (dlib ResNet, 5-point alignment) below which a face leaks.
IMPOSTOR_THRESHOLD: float = {value!r}

PROVENANCE: dict = {{
{body}
}}
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "data" / "lfw")
    ap.add_argument("--out", type=Path, default=REPO / "src" / "veil" / "verify" / "threshold.py")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (identity level)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit-identities", type=int, default=None, help="quick runs only; never shipped")
    ap.add_argument("--no-write", action="store_true", help="print, do not update threshold.py")
    args = ap.parse_args(argv)

    items, n_ids = load_manifest(args.lfw, args.limit_identities)
    print(f"LFW: {len(items)} images of {n_ids} identities from {args.lfw}", file=sys.stderr)
    rec = Recognizer()
    embs, labels, stats = embed_all(items, rec)
    print(f"aligned in {stats['align_s']:.1f} s, embedded in {stats['embed_s']:.1f} s "
          f"({1000 * stats['embed_s'] / max(len(embs), 1):.0f} ms/face); HOG {stats['hog']}, "
          f"centre box {stats['centre_box']}, unreadable {stats['unreadable']}", file=sys.stderr)

    iu, ju = np.triu_indices(len(embs), k=1)
    dist = np.linalg.norm(embs[iu].astype(np.float64) - embs[ju].astype(np.float64), axis=1)
    same = labels[iu] == labels[ju]
    imp, gen = dist[~same], dist[same]
    order = np.argsort(imp, kind="stable")
    imp_sorted = imp[order]
    k = threshold_index(len(imp_sorted))
    thr = float(imp_sorted[k])
    below = int(np.sum(imp_sorted < thr))
    ia, ib = labels[iu][~same][order], labels[ju][~same][order]
    ci = bootstrap_ci(imp_sorted, ia, ib, n_ids, reps=args.bootstrap, seed=args.seed)
    shipped = round(thr, 4)

    gen_share = float(np.mean(gen < shipped)) if len(gen) else float("nan")
    dlib06_far = float(np.mean(imp < 0.6))
    dlib06_tar = float(np.mean(gen < 0.6)) if len(gen) else float("nan")
    q = lambda a, p: round(float(np.quantile(a, p)), 4)  # noqa: E731

    command = "python bench/calibrate_threshold.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    provenance = {
        "data": "LFW deep-funneled subset (../shared/data/lfw): identities with >= 10 images, files _0001.._0010",
        "identities": int(n_ids),
        "images": int(len(embs)),
        "impostor_pairs": int(len(imp)),
        "genuine_pairs": int(len(gen)),
        "quantile": QUANTILE,
        "rule": "k-th smallest impostor distance, k = ceil(q * n) - 1 (0-based): strictly fewer than q*n pairs below",
        "impostor_pairs_below": below,
        "raw_quantile": round(thr, 6),
        "ci95_bootstrap_identities": [round(ci[0], 4), round(ci[1], 4)],
        "bootstrap_replicates": int(args.bootstrap),
        "impostor_min": round(float(imp.min()), 4),
        "impostor_mean": round(float(imp.mean()), 4),
        "genuine_mean": round(float(gen.mean()), 4) if len(gen) else None,
        "genuine_share_below": round(gen_share, 4),
        "dlib_0.6_impostor_share_below": round(dlib06_far, 5),
        "dlib_0.6_genuine_share_below": round(dlib06_tar, 4),
        "detector": f"dlib HOG frontal detector, no upsampling, nearest the centre ({stats['hog']} images); "
                    f"LFW centre box (70,70)-(180,180) where HOG found none ({stats['centre_box']} images)",
        "alignment": "dlib 5-point landmarks; Recognizer.aligned_crop (250 px, padding 0.75) -> inner 150 px chip",
        "recognizer": "dlib_face_recognition_resnet_model_v1 (face_recognition_models 0.3.0), num_jitters=0",
        "date": _dt.date.today().isoformat(),
        "command": command.strip(),
    }

    rows = [
        ("images (identities)", f"{len(embs)} ({n_ids})"),
        ("detection", f"HOG {stats['hog']}, centre box {stats['centre_box']}"),
        ("impostor pairs (all different-identity pairs)", f"{len(imp):,}"),
        ("genuine pairs (all same-identity pairs)", f"{len(gen):,}"),
        ("impostor distance: min / 0.01% / 0.1% / 1% / 5% / mean",
         f"{imp.min():.4f} / {q(imp, 1e-4)} / {thr:.4f} / {q(imp, 0.01)} / {q(imp, 0.05)} / {imp.mean():.4f}"),
        ("**threshold** (0.1% impostor quantile), 95% CI (identity bootstrap, "
         f"{args.bootstrap} reps)", f"**{shipped}** [{ci[0]:.4f}, {ci[1]:.4f}]"),
        ("impostor pairs below threshold", f"{below:,} of {len(imp):,} ({below / len(imp):.4%})"),
        ("genuine distance: 5% / median / 95% / mean",
         f"{q(gen, 0.05)} / {q(gen, 0.5)} / {q(gen, 0.95)} / {gen.mean():.4f}" if len(gen) else "n/a"),
        ("genuine pairs below threshold (same person matched)", f"{gen_share:.2%}"),
        ("dlib's 0.6: impostor / genuine share below", f"{dlib06_far:.4%} / {dlib06_tar:.2%}"),
        ("embedding cost", f"{1000 * stats['embed_s'] / max(len(embs), 1):.0f} ms/face"),
    ]
    print("| LFW impostor calibration | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")

    if args.limit_identities:
        print("--limit-identities given: threshold.py not written", file=sys.stderr)
    elif not args.no_write:
        args.out.write_text(render_threshold_module(shipped, provenance))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
