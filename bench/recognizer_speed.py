#!/usr/bin/env python
"""veil's numpy run of dlib's face-recognition ResNet against dlib's own, on LFW faces.

veil reads the ResNet's weights from dlib's model file and runs the layers
with numpy (``veil.verify.resnet``). This script shows that the two give the
same descriptors, and how long each takes:

1. faces of the LFW subset (``../shared/data/lfw``, first ``--identities``
   identities, all their images) aligned exactly as ``calibrate_threshold.py``
   aligns them (dlib HOG box or the LFW centre box, 5-point landmarks, the
   150x150 chip ``veil.verify`` embeds);
2. each chip embedded by ``dlib.face_recognition_model_v1.compute_face_descriptor``
   and by ``veil.verify.recognizer.Recognizer.embed`` (batches of 32), timed
   interleaved, ``--repeats`` times, median ms per chip;
3. agreement: the largest difference of any descriptor component, the largest
   difference of any pairwise distance (every pair of chips, same and different
   people) and the number of pairs that fall on different sides of veil's leak
   threshold.

Usage::

    .venv/bin/python bench/recognizer_speed.py [--identities 40] [--repeats 3]

Writes ``bench/out/recognizer_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calibrate_threshold as C  # noqa: E402
from veil.models import dlib_model_path  # noqa: E402
from veil.verify.recognizer import Recognizer, face_distance  # noqa: E402
from veil.verify.threshold import IMPOSTOR_THRESHOLD  # noqa: E402

BATCH = 32


def _timed(embed, chips) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = np.concatenate([embed(chips[i:i + BATCH]) for i in range(0, len(chips), BATCH)])
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=C.REPO.parent / "shared" / "data" / "lfw")
    ap.add_argument("--identities", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=C.REPO / "bench" / "out" / "recognizer_speed.json")
    args = ap.parse_args(argv)

    import dlib

    rec = Recognizer()
    items, n_ids = C.load_manifest(args.lfw, args.identities)
    chips, _labels, counts = C.aligned_chips(items, rec)
    theirs = dlib.face_recognition_model_v1(str(dlib_model_path("recognizer")))

    def dlib_embed(batch):
        return np.array([np.asarray(v) for v in theirs.compute_face_descriptor(batch)], np.float32)

    rec.embed(chips[:2])  # load outside the timing
    times = {"dlib": [], "veil": []}
    for rep in range(args.repeats):
        order = ["dlib", "veil"] if rep % 2 == 0 else ["veil", "dlib"]
        for name in order:
            embs, seconds = _timed(dlib_embed if name == "dlib" else rec.embed, chips)
            times[name].append(seconds)
            if name == "dlib":
                ref = embs
            else:
                ours = embs
    d_ref, d_ours = face_distance(ref, ref), face_distance(ours, ours)
    upper = np.triu_indices(len(chips), 1)
    flips = int(np.sum((d_ref[upper] < IMPOSTOR_THRESHOLD) != (d_ours[upper] < IMPOSTOR_THRESHOLD)))
    ms = {k: 1000 * float(np.median(v)) / len(chips) for k, v in times.items()}
    result = {
        "chips": len(chips), "identities": n_ids, "alignment": counts, "repeats": args.repeats,
        "ms_per_chip": ms, "speed_ratio": ms["dlib"] / ms["veil"],
        "max_component_diff": float(np.abs(ours - ref).max()),
        "max_distance_diff": float(np.abs(d_ours - d_ref)[upper].max()),
        "pairs": int(len(upper[0])), "pairs_on_other_side_of_threshold": flips,
        "threshold": IMPOSTOR_THRESHOLD, "cpus": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "dlib": dlib.__version__, "command": " ".join(sys.argv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"| {len(chips)} LFW chips ({n_ids} identities) | ms per chip | descriptors vs dlib |")
    print("|---|---:|---|")
    print(f"| dlib `compute_face_descriptor` | {ms['dlib']:.1f} | reference |")
    print(f"| veil (numpy, `veil.verify.resnet`) | {ms['veil']:.1f} ({result['speed_ratio']:.1f}x faster) | "
          f"max component diff {result['max_component_diff']:.1e}, max distance diff "
          f"{result['max_distance_diff']:.1e}, {flips} of {result['pairs']:,} pairs change side of "
          f"{IMPOSTOR_THRESHOLD} |")
    print(f"\n(JSON: {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
