#!/usr/bin/env python
"""How tall are the plate detector's lines, against the picture, on the real plate set?

Every line the text detector finds in ``../shared/data/plates`` that passes the
plate-shape rules (``PlateRules``), tallest first: its height as a share of the
picture's, in pixels, the share of its box inside an annotated plate (``inGT``),
whether the rim search (``plate_rim``) finds its plate, and its score. Used to ask
whether a size bound can drop false plate lines on real footage without dropping
plate close-ups (bench/RESULTS.md, "A hand taken for a plate").

Usage: ``.venv/bin/python bench/plate_line_heights.py [N]`` (N tallest lines, default 40).
"""

import sys

import numpy as np

import benchlib as B
import plates_coverage as P
from veil.config import Config
from veil.detect import default_plate_detector
from veil.detect.plates import plate_rim
from veil.detect.text import quad_boxes
from veil.detections import box_intersections


def main() -> None:
    pd = default_plate_detector(Config())
    rows = []
    for path, xywh in P.load_plates():
        rgb = B.read_rgb(path)
        plates = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]].astype(np.float64)
        q, s = pd.text.all_quads(rgb)
        keep = pd.rules.select(q, rgb.shape)
        q, s = q[keep], s[keep]
        heights = np.minimum(np.linalg.norm(q[:, 1] - q[:, 0], axis=1), np.linalg.norm(q[:, 3] - q[:, 0], axis=1))
        inter, area, _ = box_intersections(quad_boxes(q).astype(np.float64), plates)
        inside = (inter / np.maximum(area, 1e-9)[:, None]).max(axis=1, initial=0.0)  # share of the line in a plate
        for quad, score, h, ins in zip(q, s, heights, inside):
            rows.append((path.stem, h / rgb.shape[0], h, ins, plate_rim(rgb, quad) is not None, float(score)))
    rows.sort(key=lambda r: -r[1])
    print('lines', len(rows))
    for r in rows[:int(sys.argv[1]) if len(sys.argv) > 1 else 40]:
        print(r[0], 'share %.3f h %.0f inGT %.2f rim %s score %.2f' % r[1:])


if __name__ == '__main__':
    main()
