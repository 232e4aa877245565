#!/usr/bin/env python
"""Scores the int8 detector gives the White House clip's reviewed faces, against fp32 (issue 14).

For every ``--every``-th frame of the clip, each reviewed reference face
(``bench/video_coverage.py``'s cached reference, after the review file) gets
the highest score of a detection overlapping it (IoU > 0.3) from one
whole-frame CenterFace call at each ``--scales`` value, for the float weights
and for each int8 model. Printed by face width: the median score and the share
scoring >= 0.1 (veil's threshold). This is how the first int8 build's loss on
the clip was found (faces of 32-64 px: median 0.10 against fp32's 0.46) and
how ``bench/quantize.py``'s float layers were chosen; the coverage the builds
give end to end is ``bench/video_coverage.py``'s.

Usage::

    .venv/bin/python bench/int8_scores.py                       # the shipped int8 model
    .venv/bin/python bench/int8_scores.py --model /tmp/q/centerface_int8.onnx --every 6
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import video_coverage as VC  # noqa: E402
from veil.detect import CenterFace  # noqa: E402
from veil.detections import box_iou  # noqa: E402

BINS = ((16, 32), (32, 64), (64, 10_000))


def best_scores(dets, boxes: np.ndarray) -> np.ndarray:
    if not len(dets) or not len(boxes):
        return np.zeros(len(boxes))
    iou = box_iou(boxes, dets.xyxy)
    return np.where(iou > 0.3, dets.scores[None, :], 0.0).max(axis=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", type=Path, default=[],
                    help="an int8 model to compare (repeatable; default: the one veil ships)")
    ap.add_argument("--every", type=int, default=3, help="every N-th frame")
    ap.add_argument("--scales", default="1,2", help="whole-frame scales, comma list")
    args = ap.parse_args(argv)
    models = {"fp32": CenterFace(threshold=0.02, precision="fp32")}
    if args.model:
        models.update({str(p): CenterFace(threshold=0.02, model_path=p) for p in args.model})
    else:
        models["int8 (shipped)"] = CenterFace(threshold=0.02, precision="int8")
    scales = [float(s) for s in args.scales.split(",")]
    ref = VC.reviewed_reference(B.WHITE_HOUSE)
    widths, scores = [], {(m, s): [] for m in models for s in scales}
    for i, rgb in VC.iter_rgb(B.WHITE_HOUSE):
        boxes = np.asarray(ref["frames"][i]["boxes"], float).reshape(-1, 4)
        if i % args.every or not len(boxes):
            continue
        widths.extend(boxes[:, 2] - boxes[:, 0])
        for name, model in models.items():
            for s in scales:
                scores[name, s].extend(best_scores(model.detect(rgb, scale=s), boxes))
    widths = np.asarray(widths)
    rows = []
    for s in scales:
        for lo, hi in BINS:
            m = (widths >= lo) & (widths < hi)
            if not m.any():
                continue
            label = f"{lo}-{hi} px" if hi < 10_000 else f">={lo} px"
            cells = []
            for name in models:
                v = np.asarray(scores[name, s])[m]
                cells.append(f"{np.median(v):.2f} / {100 * np.mean(v >= 0.1):.1f}%")
            rows.append([f"x{s:g}", label, int(m.sum()), *cells])
    print(B.md_table(["scale", "face width", "faces", *(f"{n}: median score / >= 0.1" for n in models)], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
