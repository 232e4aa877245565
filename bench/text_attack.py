#!/usr/bin/env python
"""Can a text detector tell legible from illegible plates after an attack? (issue 15, measured: no)

Issue 15 suggests an OCR-free check of reversible covers of plates and text:
the detector still finding text inside a covered region after deblurring (or
de-pixelation) would mean it is still legible. This script measures that
signal before building on it. A synthetic plate (``KA 02 N 6852``, 14, 24 and
40 px high, on the textured backgrounds of ``tests/test_plates_text.py``) is
found by veil's plate/text detector, covered by veil (``cover``) in each mode
and strength, and then attacked as the face verification attacks blur and
pixelation (``deblur_wiener``, ``deblur_rl``; ``depixelate``), with the
covered box's width in place of the face width. Printed: the detector's best
score on a box overlapping the plate, as published and after the strongest
attack. A useful signal would be high for weak covers and near 0 for veil's
defaults (``--mode blur``: sigma 25% of the width; ``pixelate``: 10 blocks)
and for fill.

Usage::

    .venv/bin/python bench/text_attack.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import benchlib as B  # noqa: E402

from veil.anonymize import cover  # noqa: E402
from veil.config import Config  # noqa: E402
from veil.detect.kinds import other_kinds_for  # noqa: E402
from veil.region import regions_for  # noqa: E402
from veil.verify.attacks import ATTACKS, AttackContext  # noqa: E402

_spec = importlib.util.spec_from_file_location("plates_text_helpers", REPO / "tests" / "test_plates_text.py")
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

COVERS = (("fill", {}), ("noise", {}), ("blur", {"blur_strength": 0.25}), ("blur", {"blur_strength": 0.05}),
          ("blur", {"blur_strength": 0.02}), ("pixelate", {"pixelate_blocks": 10}),
          ("pixelate", {"pixelate_blocks": 30}))
HEIGHTS = (14, 24, 40)
SEEDS = (1, 2, 3)


def best_overlapping(dets, box) -> float:
    x0, y0, x1, y1 = box
    hits = [float(s) for b, s in zip(dets.xyxy, dets.scores) if b[0] < x1 and b[2] > x0 and b[1] < y1 and b[3] > y0]
    return max(hits, default=0.0)


def measure(mode: str, options: dict, height: int, seed: int) -> tuple[float, float, float]:
    rgb, _ = H.draw(H.background(seed=seed), "KA 02 N 6852", height=height, angle=0, center=(200, 150), plate=True)
    config = Config(cover="plates,text", mode=mode, seed=0, **options)
    detector = other_kinds_for(config)
    found = detector.detect(rgb)
    if len(found) == 0:
        return float("nan"), float("nan"), float("nan")
    regions = regions_for(found, config)
    out = cover(rgb, regions, config, config.rng(), mask=regions.mask(*rgb.shape[:2]))
    box = found.xyxy[np.argmax(found.xyxy[:, 2] - found.xyxy[:, 0])]
    ctx = AttackContext(face_width=float(box[2] - box[0]))
    attacks = {"blur": ("deblur_wiener", "deblur_rl"), "pixelate": ("depixelate",)}.get(mode, ("deblur_wiener",))
    attacked = 0.0
    for name in attacks:
        for _, candidate in ATTACKS[name].fn(out.astype(np.float32), ctx):
            attacked = max(attacked, best_overlapping(detector.detect(np.clip(candidate, 0, 255).astype(np.uint8)), box))
    return best_overlapping(detector.detect(rgb), box), best_overlapping(detector.detect(out), box), attacked


def main() -> int:
    rows = []
    for mode, options in COVERS:
        label = mode + "".join(f" {v:g}" for v in options.values())
        for height in HEIGHTS:
            scores = np.array([measure(mode, options, height, seed) for seed in SEEDS])
            rows.append([label, f"{height} px", *[f"{np.nanmean(scores[:, i]):.2f}" for i in range(3)]])
    print(f"machine: {B.machine_info()}")
    print(B.md_table(["cover", "plate height", "uncovered", "as published", "after the strongest attack"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
