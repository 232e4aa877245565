#!/usr/bin/env python
"""Plates and text under a cover: which covers the residual check calls "still found" (issue 15).

veil's plate/text residual check counts a box the detector still finds *inside*
a cover when the cover keeps the input's fine edges there
(``veil.verify.kinds.follows`` >= ``FOLLOWS_ORIGINAL``). This script measures
that rule on the real plate photos (``../shared/data/plates``, every
``--every``-th picture): veil's detector finds the plates and lines of text on
each photo (``--cover plates,text``), every found box is covered at once by
each cover below, and the check runs on the result with the input given, as
``veil anonymize`` and ``veil verify`` run it.

Covers: veil's own (``fill``, ``noise``, ``blur``, ``pixelate``, defaults),
and what another tool may hand in: a tint (x0.8 + 40 grey levels), Gaussian
blurs of sigma 1, 1.5, 2.5 and 4 px, a 6 px mosaic. Printed per cover: the
pictures with a finding under a cover (veil's own should have none), the
boxes' ``follows`` values (median, 95th percentile, max), and the share of
boxes at or above the line.

Usage::

    .venv/bin/python bench/under_cover.py [--every 2] [--out bench/out/under_cover.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import benchlib as B  # noqa: E402

from veil.anonymize import cover  # noqa: E402
from veil.config import Config, RegionShape  # noqa: E402
from veil.detect.kinds import other_kinds_for  # noqa: E402
from veil.region import Regions  # noqa: E402
from veil.verify import VerificationRecord  # noqa: E402
from veil.verify.kinds import FOLLOWS_ORIGINAL, check_other_kinds, follows  # noqa: E402

VEIL = ("fill", "noise", "blur", "pixelate")
OTHER = ("tint", "blur 1", "blur 1.5", "blur 2.5", "blur 4", "mosaic 6")


def covered(rgb: np.ndarray, regions: Regions, how: str) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    mask = regions.mask(*rgb.shape[:2])
    if how in VEIL:
        return cover(rgb, regions, Config(mode=how, seed=0), np.random.default_rng(0)), mask
    out = rgb.copy()
    if how == "tint":
        changed = np.clip(rgb.astype(np.float64) * 0.8 + 40, 0, 255).astype(np.uint8)
    elif how.startswith("blur"):
        changed = cv2.GaussianBlur(rgb, (0, 0), float(how.split()[1]))
    else:
        block = int(how.split()[1])
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
        changed = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    out[mask] = changed[mask]
    return out, mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=2, help="every N-th plate photo (default 2)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "under_cover.json")
    args = ap.parse_args()
    images = sorted((B.DATA / "plates" / "images").glob("*.png"), key=lambda p: B._natural(p.name))[::args.every]
    config = Config(cover="plates,text")
    detector = other_kinds_for(config)
    stats = {how: {"pictures": 0, "flagged_pictures": 0, "boxes": 0, "follows": []} for how in VEIL + OTHER}
    started = time.time()
    for path in images:
        rgb = B.read_rgb(path)
        found = detector.detect(rgb)
        if not len(found):
            continue
        regions = Regions(found.xyxy, RegionShape.BOX, found.kind)
        for how in VEIL + OTHER:
            out, mask = covered(rgb, regions, how)
            record = check_other_kinds(VerificationRecord(), out, mask, config, found=found, original=rgb)
            s = stats[how]
            s["pictures"] += 1
            s["flagged_pictures"] += any(r.under_cover for r in record.residual)
            s["boxes"] += len(found)
            s["follows"] += [follows(rgb, out, box, mask) for box in found.xyxy]
    rows, result = [], {}
    for how, s in stats.items():
        f = np.array(s["follows"]) if s["follows"] else np.zeros(1)
        at_line = float(np.mean(f >= FOLLOWS_ORIGINAL))
        result[how] = {"pictures": s["pictures"], "flagged_pictures": s["flagged_pictures"], "boxes": s["boxes"],
                       "follows_median": float(np.median(f)), "follows_p95": float(np.percentile(f, 95)),
                       "follows_max": float(f.max()), "boxes_at_line": at_line}
        rows.append([("veil " if how in VEIL else "other: ") + how, f"{s['flagged_pictures']}/{s['pictures']}",
                     s["boxes"], f"{np.median(f):.2f}", f"{np.percentile(f, 95):.2f}", f"{f.max():.2f}",
                     f"{100 * at_line:.1f}%"])
    print(B.md_table(["cover", "pictures with a finding under a cover", "boxes", "follows median", "p95", "max",
                      f"boxes >= {FOLLOWS_ORIGINAL}"], rows))
    print(f"\n{len(images)} photos, {time.time() - started:.0f} s")
    B.write_json(args.out, {"machine": B.machine_info(), "every": args.every, "line": FOLLOWS_ORIGINAL,
                            "src_sha256": B.src_tree_sha256(REPO / "src" / "veil"), "covers": result})


if __name__ == "__main__":
    main()
