#!/usr/bin/env python
"""Replay a ``--kinds-every`` schedule on cached every-frame detections: what it loses, and why.

``cover_pipeline.py --sets schedule`` runs the whole command line (minutes per
run). This script makes a clip of ``kinds_schedule.py`` once (``bench/out/kinds-replay``),
runs the plate/text detector on every frame once (``kinds_schedule.every_frame_detections``,
cached, the same reference ``cover_pipeline.py`` uses), then replays pass
1's schedule in process: :class:`veil.track.kinds.OtherKindsStep` picks the
looked-at frames and measures the camera exactly as a run does, the looks get the
cached detections of their frames, :func:`veil.track.scan.link_scan` tracks them,
and :func:`veil.region.regions_for` makes the plate/text regions. So a change to
the tracking of plates and text is measured in seconds. With ``--list``, every
every-frame box left under-covered is listed (frame, the looks either side, kind,
score, box, share covered, and the best IoU of what each of those looks found,
moved to that frame by the camera), with how often the every-frame detector finds a
box on neither neighbouring frame, and what share of a frame a per-frame look
limited to windows around the held tracks would scan.

The face regions are the masks of one ``veil anonymize --cover faces --masks`` run
of the clip (cached): faces are tracked on their own, so a ``faces,plates,text``
run covers the same face regions. Scores as ``kinds_schedule.score`` (>= 80% of a
box inside the mask); on the commit before ``hold_with_camera`` this replay gave
exactly run P's and run S2's figures at k = 12 (bench/RESULTS.md, "Plates and text between looks").

Usage::

    nice -n 10 .venv/bin/python bench/kinds_replay.py --clips street,pan --every 1,12
    nice -n 10 .venv/bin/python bench/kinds_replay.py --clips pan --every 12 --variants main,in-place --list
"""

from __future__ import annotations

import argparse
import concurrent.futures
import pickle
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import kinds_schedule as K  # noqa: E402

CACHE = B.OUT / "kinds-replay"


def decode(clip: Path) -> list[np.ndarray]:
    from veil.config import Config
    from veil.media.video import iter_frames

    with iter_frames(clip, max_pixels=Config().max_pixels) as it:
        return [f.rgb for f in it]


def cached(name: str, n: int) -> dict:
    """The clip (made once under ``bench/out/kinds-replay``), its truth and every frame's
    plate/text detections (``kinds_schedule.every_frame_detections``, cached)."""
    path = CACHE / f"{name}-{n}.pkl"
    clip = CACHE / f"{name}-{n}.mp4"
    if not (path.exists() and clip.exists()):
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            made = Path(tmp) / "clip.mp4"
            items, truth = K.CLIPS[name](made, n)
            made.replace(clip)
        path.write_bytes(pickle.dumps({"items": items, "truth": truth}))
    data = pickle.loads(path.read_bytes())
    return {**data, "dets": K.every_frame_detections(clip), "faces": faces_masks(clip, n)}


def faces_masks(clip: Path, n: int) -> list[np.ndarray]:
    """The masks of ``veil anonymize --cover faces --masks`` on ``clip`` (cached beside it): the face
    regions of a ``faces,plates,text`` run are these (faces are tracked on their own)."""
    import subprocess

    import cv2

    path = clip.with_suffix(".faces.npz")
    if not path.exists():
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "in", Path(tmp) / "out"
            src.mkdir()
            (src / clip.name).symlink_to(clip.resolve())
            proc = subprocess.run([sys.executable, "-m", "veil.cli", "anonymize", str(src), "-o", str(out),
                                   "--cover", "faces", "--masks", "--no-verify"], capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"veil failed: {proc.stderr.strip()[-300:]}")
            masks = [cv2.imread(str(out / "masks" / clip.name / f"{i}.png"), cv2.IMREAD_GRAYSCALE) > 0
                     for i in range(n)]
        np.savez_compressed(path, masks=np.packbits(np.stack(masks), axis=-1), width=masks[0].shape[1])
    z = np.load(path)
    return list(np.unpackbits(z["masks"], axis=-1)[..., :int(z["width"])].astype(bool))


def _variants() -> dict:
    """Ways to hold a look's plate/text boxes between looks, in place of ``link_scan``'s
    ``hold_with_camera`` (``main``: the code as it is)."""
    from veil.track import kinds as T

    return {
        "main": T.hold_with_camera,
        "in-place": lambda t, cam, k, **kw: T.hold_with_camera(t, None, k, **kw),  # the camera not followed
        "no-hold": lambda t, cam, k, **kw: t,  # as commit 0694394 (run S1)
    }


def replay(frames: list[np.ndarray], dets: list, every: int, variant: str = "main", faces=None,
           live: bool = False, **config) -> tuple[list[np.ndarray], list[int], object, list]:
    """Pass 1 and the regions of ``--cover plates,text --kinds-every every``: (masks, looked, tracked)."""
    from veil.config import Config
    from veil.detect.scanwindows import held_by
    from veil.detections import Detections
    from veil.region import regions_for
    from veil.track.kinds import OtherKindsStep
    from veil.track.scan import SHOT_CHANGE_HINT, link_scan
    from veil.track.scenecut import frame_signature, signature_distance

    cfg = Config(cover="plates,text", kinds_every=every, **config)
    by_id = {}

    def submit(fn, rgb, windows=None):
        fut = concurrent.futures.Future()
        d = dets[by_id[id(rgb)]]
        found = Detections(d["xyxy"], scores=d["scores"], kind=d["kind"])
        if windows is not None and live:  # a change look, run for real
            found = fn(rgb, windows)
        elif windows is not None:  # a change look: the frame's every-frame boxes lying whole in its windows
            found = found[held_by(found.xyxy, windows)]
        fut.set_result(found)
        return fut

    step = OtherKindsStep(cfg, submit)
    signatures = []
    for i, rgb in enumerate(frames):
        by_id[id(rgb)] = i
        sig = frame_signature(rgb)
        shot = bool(signatures) and signature_distance(signatures[-1], sig) > SHOT_CHANGE_HINT
        signatures.append(sig)
        step.add(rgb, i, shot_change=shot)
    raw = step.join([Detections.empty() for _ in frames])
    h, w = frames[0].shape[:2]
    import veil.track.scan as scan_module

    kept, scan_module.hold_with_camera = scan_module.hold_with_camera, _variants()[variant]
    try:
        scan = link_scan(SimpleNamespace(width=w, height=h), raw, signatures, cfg, camera=list(step.camera))
    finally:
        scan_module.hold_with_camera = kept
    masks = [regions_for(d, cfg).mask(h, w) for d in scan.tracked.frames]
    if faces is not None:
        masks = [m | fm for m, fm in zip(masks, faces)]
    return masks, step.looked, scan.tracked, step.camera


def under_covered(masks, dets, looked, every_masks, camera) -> list[dict]:
    """Every-frame boxes the every-frame run covers and this one does not (>= 80%), with context:
    for the looks before and after, the best IoU of the box with what that look found, moved to
    this frame by the camera (0: the look saw nothing there), and that box's area ratio."""
    import bisect

    cum, chain = _path(camera, len(masks))
    out = []
    for f, (m, d, em) in enumerate(zip(masks, dets, every_masks)):
        if not len(d["xyxy"]):
            continue
        xywh = K._xywh(d["xyxy"])
        cov, ecov = B.box_coverage(m, xywh), B.box_coverage(em, xywh)
        i = bisect.bisect_left(looked, f)
        around = [g for g in (looked[i - 1] if i > 0 else None, looked[i] if i < len(looked) else None)
                  if g is not None]
        for j in np.flatnonzero((cov < K.MIN_COVER) & (ecov >= K.MIN_COVER)):
            box = np.asarray(d["xyxy"][j], float)
            seen = {}
            for g in around:
                if chain[g] != chain[f] or not len(dets[g]["xyxy"]):
                    continue
                moved = _moved(np.asarray(dets[g]["xyxy"], float), cum[f] @ np.linalg.inv(cum[g]))
                ious = _ious(box, moved)
                k = int(np.argmax(ious))
                seen[g] = (round(float(ious[k]), 2), round(float(_area(moved[k]) / max(_area(box), 1e-9)), 2))
            out.append({"frame": f, "looks": around, "kind": int(d["kind"][j]), "score": round(float(d["scores"][j]), 2),
                        "box": [round(float(v)) for v in box], "covered": round(float(cov[j]), 2),
                        "at_looks (iou, area ratio)": seen})
    return out


def flicker(dets, camera) -> dict:
    """How often the every-frame detector finds a box on one frame and nothing there (IoU >= 0.3,
    moved by the camera) on the frame before nor the frame after: boxes no schedule that skips
    frames can count on seeing."""
    cum, chain = _path(camera, len(dets))
    alone, total = 0, 0
    for f in range(1, len(dets) - 1):
        for box in np.asarray(dets[f]["xyxy"], float):
            total += 1
            near = [np.max(_ious(box, _moved(np.asarray(dets[g]["xyxy"], float),
                                             cum[f] @ np.linalg.inv(cum[g]))))
                    for g in (f - 1, f + 1) if chain[g] == chain[f] and len(dets[g]["xyxy"])]
            alone += int(not near or max(near) < 0.3)
    return {"boxes": total, "on_neither_neighbour": alone}


def window_share(tracked, looked, shape, grow: float) -> float:
    """Mean share of a non-looked-at frame inside the windows a per-frame look limited to the
    held tracks would scan: every plate/text box the run carries there, grown by ``grow`` of
    its size on each side (what such a look would cost, as a share of a full look)."""
    from veil.detections import Kind

    shares = []
    for f, d in enumerate(tracked.frames):
        if f in looked:
            continue
        win = np.zeros(shape, bool)
        b = d.xyxy[d.kind != Kind.FACE].astype(float)
        s = b[:, 2:] - b[:, :2]
        for x0, y0, x1, y1 in np.concatenate([b[:, :2] - grow * s, b[:, 2:] + grow * s], axis=1):
            win[max(0, int(y0)):max(0, int(np.ceil(y1))), max(0, int(x0)):max(0, int(np.ceil(x1)))] = True
        shares.append(win.mean())
    return float(np.mean(shares))


def _path(camera, n):
    cum, chain, m, cid = [], [], np.eye(3), 0
    for step in (camera or [None] * n):
        m, cid = (np.eye(3), cid + 1) if step is None else (step @ m, cid)
        cum.append(m)
        chain.append(cid)
    return cum, chain


def _moved(b, m):
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1)
    p = corners @ m[:2, :2].T + m[:2, 2]
    return np.concatenate([p.min(axis=1), p.max(axis=1)], axis=1)


def _area(b):
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _ious(box, o):
    ix = np.clip(np.minimum(box[2], o[:, 2]) - np.maximum(box[0], o[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], o[:, 3]) - np.maximum(box[1], o[:, 1]), 0, None)
    inter = ix * iy
    areas = (o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1])
    return inter / (_area(box) + areas - inter + 1e-9)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default="street,pan")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--every", default="1,12", help="--kinds-every values (1 is always run: the baseline)")
    ap.add_argument("--variants", default="main", help="comma-separated (see _variants)")
    ap.add_argument("--list", action="store_true", help="list every under-covered box")
    ap.add_argument("--live", action="store_true",
                    help="run the detector on change looks' windows (default: the cached boxes lying whole in them)")
    args = ap.parse_args(argv)
    rows = []
    for name in args.clips.split(","):
        data = cached(name, args.frames)
        frames = decode(CACHE / f"{name}-{args.frames}.mp4")
        reference = [d["xyxy"] for d in data["dets"]]
        every_masks = replay(frames, data["dets"], 1, faces=data["faces"])[0]
        every_score = K.score(every_masks, data["truth"], reference)
        runs = [(1, "main")] if "1" in args.every.split(",") else []
        runs += [(int(k), v) for k in args.every.split(",") if k != "1" for v in args.variants.split(",")]
        for k, variant in runs:
            masks, looked, tracked, camera = (every_masks, list(range(len(frames))), None, []) if k == 1 else \
                replay(frames, data["dets"], k, variant, faces=data["faces"], live=args.live)
            s = K.score(masks, data["truth"], reference)
            lost = K.lost_against(s, every_score)
            t = s["truth"]
            rows.append([name, k, variant, f"{int(np.nansum(t == 1))}/{int(np.sum(~np.isnan(t)))}",
                         f"{lost['truth']} / {lost['reference']}",
                         f"{sum(int(r.sum()) for r in s['reference'])}/{sum(len(r) for r in reference)}",
                         s["flash"], f"{100 * s['mask_share']:.2f}%"])
            if args.list and k != 1:
                print(f"\n{name} k={k} {variant}: looked at {looked}")
                print(f"every-frame detector, frames 1..n-2: {flicker(data['dets'], camera)}")
                print("windows around the held tracks, share of a non-looked-at frame: " + ", ".join(
                    f"grown {g:g}x: {100 * window_share(tracked, looked, frames[0].shape[:2], g):.1f}%"
                    for g in (0.5, 1.0)))
                found = under_covered(masks, data["dets"], looked, every_masks, camera)
                for u in found:
                    print(u)
                seen = [u for u in found if max([v[0] for v in u["at_looks (iou, area ratio)"].values()] or [0]) >= 0.3]
                print(f"{len(found)} under-covered: {len(found) - len(seen)} seen by neither look either side "
                      f"(IoU < 0.3 with every box of both, moved by the camera), {len(seen)} seen by one")
    print()
    print(B.md_table(["clip", "k", "variant", "truth covered", "lost vs k=1 (truth / reference)", "reference covered",
                      "flash", "plate/text mask share"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
