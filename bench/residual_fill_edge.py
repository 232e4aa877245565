#!/usr/bin/env python
"""The plate/text residual check against veil's own fill: what the fill-edge look (``veil.verify.kinds``) keeps.

A word is drawn (``bench/synth_text.py``) into a real picture (the street
photo, White House frames, face-mask photos; 1280x720), the run's detector
looks at the input (``found``), and then the left ``share`` of the word's
glyph box stays covered by veil's fill (``--mode fill``). The residual
check (:func:`veil.verify.kinds.other_residual`) runs on that output:

* ``share`` 1.0: the picture as veil covers it (its regions of every box
  the detector found, filled); nothing legible is left where the word was, so
  a finding there is a **false alarm** (veil's edge read as a line);
* ``share`` < 1: the word's right part (from ``share`` of its glyph box on,
  with its region's margin) is left visible, as if its box had been lost or
  cut short: a finding at the word is **true**, and the check must keep it.

Only words veil covers (>= 80% of the glyph box in its regions) count.

Each finding is counted as the check made it before the fill-edge look
(``residual`` + ``excused``) and after it (``residual`` only).

Usage::

    nice -n 10 .venv/bin/python bench/residual_fill_edge.py            # 48 words x 5 shares
    .venv/bin/python bench/residual_fill_edge.py --words 8             # quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import synth_text as S  # noqa: E402
from plates_coverage import backgrounds  # noqa: E402

SHARES = (0.25, 0.5, 0.75, 0.9, 1.0)
HEIGHTS = (12, 20, 32)


def cases(n: int, seed: int):
    """(picture, xyxy glyph box, word, height) of ``n`` words, one per picture, on light or dark panels or bare."""
    rng = np.random.default_rng(seed)
    bgs = [cv2.resize(b, (1280, 720), interpolation=cv2.INTER_AREA) for b in backgrounds()]
    for i in range(n):
        bg = bgs[i % len(bgs)]
        text, h = S.WORDS[i % len(S.WORDS)], HEIGHTS[i % len(HEIGHTS)]
        panel = S.PANELS[int(rng.integers(len(S.PANELS)))] if i % 4 else None
        light = (sum(panel) > 380) if panel is not None else bg.mean() > 110
        pic, item = S.render(bg, text, height=h, angle=float(rng.uniform(-8, 8)),
                             center=(float(rng.uniform(250, 1030)), float(rng.uniform(120, 600))),
                             font=S.FONTS[i % len(S.FONTS)], color=(15, 15, 15) if light else (245, 245, 245),
                             panel=panel)
        yield pic, item.ink, text, h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", type=int, default=48)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", help="write each input picture to this folder")
    ap.add_argument("--out", default=str(B.OUT / "residual_fill_edge.json"))
    args = ap.parse_args()

    from veil.config import Config
    from veil.detect.kinds import other_kinds_for
    from veil.region import regions_for
    from veil.verify.kinds import other_residual

    config = Config(cover="faces,plates,text")
    detector = other_kinds_for(config)
    rows, t0 = [], time.perf_counter()
    for k, (pic, ink, text, h) in enumerate(cases(args.words, args.seed)):
        found = detector.detect(pic)
        covered = regions_for(found, config).mask(*pic.shape[:2])  # what veil covers on this picture
        x0, y0, x1, y1 = ink
        for share in SHARES:
            mask = covered.copy()
            # the rest of the word and its region's margin left visible: a box lost or cut short
            mask[max(int(y0 - h), 0):int(y1 + h), max(int(np.ceil(x0 + share * (x1 - x0))), 0):int(x1 + h)] = False
            out = pic.copy()
            out[mask] = 0
            findings = other_residual(out, mask, config, found=found)
            near = [f for f in findings if f.box[2] >= x0 - h and f.box[0] <= x1 + h and f.box[3] >= y0 - h
                    and f.box[1] <= y1 + h]  # about this word (not some other text of the picture)
            rows.append({"word": text, "height": h, "share": share, "found_word": bool(covered[
                int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))].mean() >= 0.8), "before": len(findings),
                "after": sum(f.reason is None for f in findings), "near_before": len(near),
                "near_after": sum(f.reason is None for f in near),
                "boxes": [[round(v, 1) for v in f.box] + [f.reason is None] for f in findings]})
        print(f"{k + 1}/{args.words} {time.perf_counter() - t0:.0f} s", flush=True)
        if args.keep:
            cv2.imwrite(f"{args.keep}/{k:03d}.png", pic[:, :, ::-1])

    table = []
    for share in SHARES:
        sel = [r for r in rows if r["share"] == share and r["found_word"]]
        table.append([f"{share:.2f}", "false alarm" if share == 1.0 else "true (letters left)", len(sel),
                      sum(r["before"] > 0 for r in sel), sum(r["after"] > 0 for r in sel),
                      sum(r["near_before"] > 0 for r in sel), sum(r["near_after"] > 0 for r in sel)])
    print(B.md_table(["share covered", "a finding is", "words (found by veil)", "pictures flagged before",
                      "after", "at the word before", "after"], table))
    B.write_json(Path(args.out), {"machine": B.machine_info(), "words": args.words, "seed": args.seed, "rows": rows,
                            "table": table})


if __name__ == "__main__":
    main()
