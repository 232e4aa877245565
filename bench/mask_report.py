"""The mask study's tables (markdown), plots (SVG) and pictures (PNG).

Pictures show only the mean aligned face of the LFW subset (no one's face)
and a CC0 test photo (``tests/data/face_mask/maksssksksss343.jpg``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mask_fill import inpaint
from mask_metrics import RECONS
from mask_occlusion import FACE_ANCHORS, FACE_OVAL, Occlusion, band, chip_affine
from svgplot import PALETTE, Series, chart

__all__ = ["tables", "write_figures", "FIXTURE"]

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "face_mask" / "maksssksksss343.jpg"
_LABEL = {"none": "not filled in", "inpaint": "inpainted (OpenCV)", "pca": "eigenface-completed"}
_SHORT = {"none": "covered", "inpaint": "inpainted", "pca": "eigenfaces"}


def _pct(x, digits: int = 1) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def _pci(x, ci, digits: int = 1) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if ci is None or not all(np.isfinite(ci)):
        return _pct(x, digits)
    return f"{100 * x:.{digits}f}% [{100 * ci[0]:.{digits}f}, {100 * ci[1]:.{digits}f}]"


def _signed(x, ci) -> str:
    if not np.isfinite(x):
        return "n/a"
    inner = f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if all(np.isfinite(ci)) else ""
    return f"{100 * x:+.1f}{inner}"


def _share(v: float, lowest: float) -> str:
    """A crossing: 0.0 means the rate stayed above the target down to the lowest level measured."""
    return f"< {100 * lowest:.0f}%" if v == 0.0 else _pct(v, 0)


def tables(res: dict) -> str:
    """The study's markdown tables."""
    th, d, conds = res["thresholds"], res["data"], res["conditions"]
    out = [f"Data: {d['identities']} identities, {d['photos']} photos ({d['hog']} located by HOG, the rest by the "
           f"centre box), {d['probes']} probes; {res['options']['bootstrap']} bootstrap replicates over identities.",
           "", "| threshold | distance |", "|---|---|",
           f"| veil's calibrated threshold (`IMPOSTOR_THRESHOLD`, 0.1% of all LFW-subset impostor pairs) | {th['veil']:.4f} |",
           f"| this protocol's FAR 0.1% (uncovered probes vs other people's photos) [95% CI] | {th['protocol']:.4f} "
           f"[{th['protocol_ci'][0]:.4f}, {th['protocol_ci'][1]:.4f}] |", ""]
    out += ["| occlusion | face box visible | face oval visible | eye corners visible (of 4) | nose base visible "
            "| covered photo aligned by its own landmarks / original's (no face found, landmarks off) |",
            "|---|---:|---:|---:|---:|---|"]
    for e in conds:
        a = e["align"]
        out.append(f"| {e['occlusion']} | {_pct(e['visible_share'])} | {_pct(e['oval_visible'])} | "
                   f"{e['eyes_visible']:.2f} | {_pct(e['nose_visible'], 0)} | {a['own']} / "
                   f"{a['no_detection'] + a['landmarks_off']} ({a['no_detection']}, {a['landmarks_off']}) |")
    out += ["", f"| occlusion (not filled in) | face box visible | TAR at {th['veil']:.4f} [95% CI] | FAR at "
            f"{th['veil']:.4f} | TAR at the condition's own FAR 0.1% [CI] | found first | look-alike first [CI] |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for e in conds:
        s = e["recon"]["none"]
        out.append(f"| {e['occlusion']} | {_pct(e['visible_share'])} | {_pci(s['tar'], s['ci']['tar'])} | "
                   f"{_pct(s['far'], 3)} | {_pci(s['tar_own'], s['ci']['tar_own'])} ({s['own_threshold']:.3f}) | "
                   f"{_pct(s['found'])} | {_pci(s['lookalike'], s['ci']['lookalike'])} |")
    out += ["", f"| occlusion | face box visible | TAR at {th['veil']:.4f}: not filled | inpainted (change, "
            "points [CI]) | eigenface-completed (change [CI]) | look-alike: not filled | inpainted | completed |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for e in conds[1:]:
        n, i, p = (e["recon"][k] for k in RECONS)
        out.append(f"| {e['occlusion']} | {_pct(e['visible_share'])} | {_pct(n['tar'])} | {_pct(i['tar'])} "
                   f"({_signed(i['delta_tar'], i['ci']['delta_tar'])}) | {_pct(p['tar'])} "
                   f"({_signed(p['delta_tar'], p['ci']['delta_tar'])}) | {_pct(n['lookalike'])} | "
                   f"{_pct(i['lookalike'])} | {_pct(p['lookalike'])} |")
    out += ["", f"| band | filled in | TAR at {th['veil']:.4f} falls below 50% at a visible share of [CI] | "
            "below 10% at [CI] |", "|---|---|---:|---:|"]
    lowest = min(res["options"]["levels"])
    for fam in ("chin-up", "forehead-down"):
        for name in RECONS:
            cells = []
            for target in (0.5, 0.1):
                c = res["crossings"][f"{fam}/{name}/{target}"]
                cells.append(f"{_share(c['visible'], lowest)} [{_share(c['ci'][0], lowest)}, "
                             f"{_share(c['ci'][1], lowest)}]")
            out.append(f"| {fam} | {_LABEL[name]} | {cells[0]} | {cells[1]} |")
    out += ["", *_search_table(res)]
    if conds[0]["veil"] is not None:
        out += ["", "| occlusion | faces | veil found the face | visible face covered by veil's regions: mean / "
                "5th pct / min | faces >= 99% covered | every visible landmark inside |", "|---|---:|---:|---|---:|---:|"]
        for e in conds:
            v = e["veil"]
            out.append(f"| {e['occlusion']} | {v['faces']} | {_pct(v['detected'])} | {_pct(v['covered_mean'])} / "
                       f"{_pct(v['covered_p05'])} / {_pct(v['covered_min'])} | {_pct(v['covered_99'])} | "
                       f"{_pct(v['landmarks_inside'])} |")
    if res["pca"]["grid"]:
        out += ["", "| eigenface components | ridge factor | held-out RMSE of hidden face pixels (of 255) |",
                "|---:|---:|---:|"]
        for r in res["pca"]["grid"]:
            ridge = f"{r['shrink']:g}" if r["components"] else "-"
            out.append(f"| {r['components'] or 'none (the mean face)'} | {ridge} | {r['rmse']:.1f} |")
    return "\n".join(out) + "\n"


#: Conditions shown in the search-view table and plot.
SEARCH_ROWS = ("none", "mask:surgical", "mask:cloth", "mask:N95", "mask:KN95", "chin-up:60", "chin-up:50",
               "chin-up:40", "chin-up:30", "chin-up:20", "forehead-down:80", "forehead-down:70", "forehead-down:60",
               "forehead-down:50")


def _search_table(res: dict) -> list[str]:
    """Found first / look-alike first as the gallery grows, and where the look-alikes land."""
    picked = [e for e in res["conditions"] if e["occlusion"] in SEARCH_ROWS]
    sizes = list(picked[0]["recon"]["none"]["by_gallery"])
    out = ["| occlusion | filled in | probes with any other person under the threshold | look-alikes land on "
           "(photos; share of the most-hit photo) | " + " | ".join(
               f"found / look-alike, {m} other people" for m in sizes) + " |",
           "|---|---|---:|---:|" + "---:|" * len(sizes)]
    for e in picked:
        for name in ("none", "pca") if e["family"] != "none" else ("none",):
            s = e["recon"][name]
            cells = [f"{_pct(g['found'], 0)} / {_pct(g['lookalike'], 0)}" for g in s["by_gallery"].values()]
            out.append(f"| {e['occlusion']} | {_LABEL[name]} | {_pct(s['any_false_match'])} | "
                       f"{s['lookalike_photos']}; {_pct(s['lookalike_top_photo_share'], 0)} | {' | '.join(cells)} |")
    return out


def _band_series(conds: list[dict], fam: str, key: str, name: str, color: str, dash: bool) -> Series:
    rows = [conds[0]] + [e for e in conds if e["family"] == fam]
    recs = [e["recon"]["none" if e["family"] == "none" else name] for e in rows]
    ci = [r["ci"][key] for r in recs]
    band_ci = name == "none"
    return Series(_LABEL[name], [100 * e["visible_share"] for e in rows], [100 * r[key] for r in recs],
                  lo=[100 * c[0] for c in ci] if band_ci else None, hi=[100 * c[1] for c in ci] if band_ci else None,
                  color=color, dash=dash)


def _plots(res: dict, outdir: Path) -> list[Path]:
    conds, thr = res["conditions"], res["thresholds"]["veil"]
    masks = [e for e in conds if e["family"] == "mask"]
    paths = []
    for fam, what in (("chin-up", "a band from the chin up"), ("forehead-down", "a band from the forehead down")):
        series = [_band_series(conds, fam, "tar", name, PALETTE[i], i > 0) for i, name in enumerate(RECONS)]
        if fam == "chin-up" and masks:
            for i, name in enumerate(RECONS):
                series.append(Series(f"masks, {_LABEL[name]}", [100 * e["visible_share"] for e in masks],
                                     [100 * e["recon"][name]["tar"] for e in masks], color=PALETTE[3 + i],
                                     line=False))
        svg = chart(series, title=f"Genuine matches at FAR 0.1% (distance < {thr:.4f}): {what}",
                    xlabel="visible share of the face box (%)", ylabel="genuine pairs matched (TAR, %)",
                    xlim=(0, 100), ylim=(0, 100), hlines=[(50, "50%"), (10, "10%")])
        paths.append(outdir / f"tar-{fam}.svg")
        paths[-1].write_text(svg)
    series = []
    for j, fam in enumerate(("chin-up", "forehead-down")):
        for i, name in enumerate(RECONS):
            s = _band_series(conds, fam, "lookalike", name, PALETTE[3 * j + i], i > 0)
            s.label, s.lo, s.hi = f"{fam}, {_LABEL[name]}", None, None
            series.append(s)
    top = max(10.0, 10 * np.ceil(max(max(s.y) for s in series) / 10))
    paths.append(outdir / "lookalike.svg")
    paths[-1].write_text(chart(series, title=f"Probes whose closest match (< {thr:.4f}) is someone else",
                               xlabel="visible share of the face box (%)", ylabel="look-alike first (% of probes)",
                               xlim=(0, 100), ylim=(0, top)))
    picked = [e for e in conds if e["occlusion"] in SEARCH_ROWS and e["family"] != "none"]
    series = []
    for i, e in enumerate(picked):
        g = e["recon"]["none"]["by_gallery"]
        series.append(Series(e["occlusion"], [float(m) for m in g], [100 * v["lookalike"] for v in g.values()],
                             color=PALETTE[i % 8], dash=i >= 8))
    top = max(10.0, 10 * np.ceil(max(max(s.y) for s in series) / 10)) if series else 10.0
    paths.append(outdir / "gallery.svg")
    paths[-1].write_text(chart(series, title="Look-alike first as the gallery grows (not filled in)",
                               xlabel="other people in the gallery (10 photos each; log)",
                               ylabel="look-alike first (% of probes)", xlim=(3, 300), ylim=(0, top), xlog=True))
    pick = [conds[0]] + masks + [e for e in conds if e["occlusion"] in ("chin-up:50", "chin-up:30",
                                                                         "forehead-down:50")]
    far = [100 * f for f in res["far_grid"]]
    series = [Series(e["occlusion"], far, [100 * t for t in e["recon"]["none"]["roc"]], color=PALETTE[i % 8],
                     dash=i >= 8, markers=False) for i, e in enumerate(pick)]
    paths.append(outdir / "roc.svg")
    paths[-1].write_text(chart(series, title="ROC, not filled in (identity-disjoint probes vs all other photos)",
                               xlabel="false-match rate (%, log)", ylabel="genuine-match rate (%)",
                               xlim=(0.01, 100), ylim=(0, 100), xlog=True))
    return paths


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = np.vstack([np.full((18, img.shape[1], 3), 255, np.uint8), img])
    cv2.putText(out, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def _anchors_png(mean_chip: np.ndarray) -> np.ndarray:
    f = 3
    img = np.ascontiguousarray(cv2.resize(mean_chip.astype(np.uint8), None, fx=f, fy=f,
                                          interpolation=cv2.INTER_CUBIC))
    cx, cy, ax, ay = FACE_OVAL
    cv2.ellipse(img, (round(cx * f), round(cy * f)), (round(ax * f), round(ay * f)), 0, 0, 360, (255, 255, 0), 1,
                cv2.LINE_AA)
    for name, (x, y) in zip("abcdef", FACE_ANCHORS):
        cv2.circle(img, (round(x * f), round(y * f)), 4, (255, 0, 255), -1, cv2.LINE_AA)
        cv2.putText(img, name, (round(x * f) + 6, round(y * f) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255),
                    2, cv2.LINE_AA)
    return _label(img, "mean aligned face (face box = chip), face oval, MaskTheFace anchors a-f")


def _occlusions_png(mean_chip: np.ndarray, templates) -> np.ndarray:
    ident = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    occs = [Occlusion("mask", template=t) for t in templates]
    occs += [band("chin-up", v) for v in (0.7, 0.5, 0.3)] + [band("forehead-down", v) for v in (0.7, 0.5, 0.3)]
    tiles = [_label(occ.apply(mean_chip.astype(np.uint8), ident)[0], f"{occ.name} {100 * occ.visible_share:.0f}%")
             for occ in occs]
    while len(tiles) % 5:
        tiles.append(np.full_like(tiles[0], 255))
    return np.vstack([np.hstack(tiles[i:i + 5]) for i in range(0, len(tiles), 5)])


def _fills_png(templates, model) -> np.ndarray | None:
    import dlib

    from veil.verify.recognizer import get_recognizer, inner_chip

    bgr = cv2.imread(str(FIXTURE))
    if bgr is None:
        return None
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    rects = dlib.get_frontal_face_detector()(rgb, 0)
    if not rects:
        return None
    rec = get_recognizer()
    r = max(rects, key=lambda r: r.area())
    shape = rec.landmarks(rgb, (r.left(), r.top(), r.right(), r.bottom()))
    occs = [Occlusion("mask", template=t) for t in templates[:1]]
    occs += [band("chin-up", 0.5), band("chin-up", 0.3), band("forehead-down", 0.5)]
    rows = []
    for occ in occs:
        covered, hidden = occ.apply(rgb, chip_affine(shape))
        crop, crop_hidden = rec.aligned_crop(covered, shape), rec.align_mask(hidden, shape)
        chip, chip_hidden = np.ascontiguousarray(inner_chip(crop)), np.ascontiguousarray(inner_chip(crop_hidden))
        row = [chip, np.ascontiguousarray(inner_chip(inpaint(crop, crop_hidden))), model.complete(chip, chip_hidden)]
        row = [cv2.resize(c, (200, 200), interpolation=cv2.INTER_CUBIC) for c in row]
        rows.append(np.hstack([_label(c, f"{occ.name}: {_SHORT[n]}") for c, n in zip(row, RECONS)]))
    return np.vstack(rows)


def write_figures(res: dict, templates, outdir: Path) -> list[Path]:
    """Plots and pictures of one run into ``outdir``; the paths written.

    A result read back from its JSON has no mean face or models: only the plots are redrawn.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    paths = _plots(res, outdir)
    if "_mean_chip" not in res:  # a result read back from JSON: plots only
        return paths
    pictures = {"anchors.png": _anchors_png(res["_mean_chip"]),
                "occlusions.png": _occlusions_png(res["_mean_chip"], templates) if templates else None,
                "fills.png": _fills_png(templates, res["_models"][0])}
    for name, img in pictures.items():
        if img is not None:
            cv2.imwrite(str(outdir / name), np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
            paths.append(outdir / name)
    return paths
