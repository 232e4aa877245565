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

import glob
import re
import sys

import cv2
import numpy as np

import benchlib as B
from veil.config import Config
from veil.detect import default_plate_detector
from veil.detect.plates import plate_rim


def main() -> None:
    D = str(B.DATA / 'plates') + '/'
    pd = default_plate_detector(Config())
    rows = []
    for img in sorted(glob.glob(D + 'images/*.png')):
        n = img.split('/')[-1][:-4]
        rgb = cv2.cvtColor(cv2.imread(img), cv2.COLOR_BGR2RGB)
        x = open(f'{D}annotations/{n}.xml').read()
        gts = np.array([list(map(int, b)) for b in re.findall(r'<xmin>(\d+)</xmin>\s*<ymin>(\d+)</ymin>\s*<xmax>(\d+)</xmax>\s*<ymax>(\d+)</ymax>', x)], float)
        q, s = pd.text.all_quads(rgb)
        keep = pd.rules.select(q, rgb.shape)
        for qq, ss in zip(q[keep], s[keep]):
            a, b = qq[1] - qq[0], qq[3] - qq[0]
            h = min(np.linalg.norm(a), np.linalg.norm(b))
            box = np.r_[qq.min(0), qq.max(0)]
            # overlap with a GT plate: share of line box inside a GT box
            ins = 0.0
            for g in gts:
                ix = max(0, min(box[2], g[2]) - max(box[0], g[0])) * max(0, min(box[3], g[3]) - max(box[1], g[1]))
                ins = max(ins, ix / max(1e-9, (box[2] - box[0]) * (box[3] - box[1])))
            rim = plate_rim(rgb, qq) is not None
            rows.append((n, h / rgb.shape[0], h, ins, rim, float(ss)))
    rows.sort(key=lambda r: -r[1])
    print('lines', len(rows))
    for r in rows[:int(sys.argv[1]) if len(sys.argv) > 1 else 40]:
        print(r[0], 'share %.3f h %.0f inGT %.2f rim %s score %.2f' % r[1:])


if __name__ == '__main__':
    main()
