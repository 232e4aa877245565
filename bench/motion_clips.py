#!/usr/bin/env python
"""Synthetic clips with camera motion and known faces, for motion-aware scanning (issue #14).

Every clip is a still scene (the crowd clip's procedural, face-free
background with face-mask faces pasted on it, ``bench/video_coverage.py``)
filmed by a virtual camera: each frame is the scene seen through a moving
window (shift, rotation, zoom; bilinear), encoded with x264 as a phone would
(CRF 20). Ground truth is exact: each face's box in the scene mapped through
the camera into the frame (the bounding box of its four corners).

Clips (``make(name, ...)``, cached in ``bench/out/clips/``):

* ``handheld``: camera shake as recorded by hand -- a slow wander (filtered
  random walk, ~1% of the width), sway at 0.8-2.5 Hz (amplitude ~0.6% of the
  width), tremor at 7-11 Hz (~0.1%), roll of +-0.6 degrees, 0.5% zoom
  breathing, plus a slow pan through the middle of the clip; motion blur
  along each frame's movement (half-frame exposure). 20 faces of 12-120 px
  stand, 4 walk.
* ``pan_enter``: a steady pan (8 px/frame at 1280 wide) across a wide scene
  whose one face lies beyond the first frame: it is seen only once it
  enters.
* ``pan_cut``: a pan that cuts, mid-pan, to another scene (other faces),
  and pans on.
* ``walk_in``: a still camera; one person walks in from the left edge.
* ``flash_zoom``: a still camera on a few faces; a flash on one frame
  (exposure x1.8 for one frame), then a fast zoom in (5%/frame for 8 frames).

Usage::

    .venv/bin/python bench/motion_clips.py --clips handheld --size 1920x1080   # writes the clip, prints its GT path
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import video_coverage as VC  # noqa: E402

VERSION = 1
FPS = 30
CLIPS = ("handheld", "pan_enter", "pan_cut", "walk_in", "flash_zoom")


# -- scene ---------------------------------------------------------------------------------
class Scene:
    """A background and faces; ``render(t)`` gives the scene at frame ``t`` and its face boxes."""

    def __init__(self, rng: np.random.Generator, width: int, height: int):
        self.bg = np.clip(VC.background(rng, width, height), 0, 255).astype(np.uint8)
        self.faces: list[dict] = []

    def add(self, sprite: tuple, centre, velocity=(0.0, 0.0), *, face_id: int, start: int = 0) -> None:
        crop, alpha, face = sprite
        self.faces.append({"crop": crop, "alpha": alpha, "face": face, "c0": np.asarray(centre, float),
                           "v": np.asarray(velocity, float), "id": face_id, "start": start})

    def render(self, t: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        frame = self.bg.copy()
        H, W = frame.shape[:2]
        boxes = []
        for f in sorted(self.faces, key=lambda f: f["face"][2] - f["face"][0]):  # small (far) first
            if t < f["start"]:
                continue
            ch, cw = f["crop"].shape[:2]
            pos = f["c0"] + f["v"] * (t - f["start"])
            ox, oy = int(round(pos[0] - cw / 2)), int(round(pos[1] - ch / 2))
            x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + cw, W), min(oy + ch, H)
            if x1 <= x0 or y1 <= y0:
                continue
            a = f["alpha"][y0 - oy:y1 - oy, x0 - ox:x1 - ox]
            patch = frame[y0:y1, x0:x1].astype(np.float32)
            frame[y0:y1, x0:x1] = np.clip(patch * (1 - a) + f["crop"][y0 - oy:y1 - oy, x0 - ox:x1 - ox] * a,
                                          0, 255).astype(np.uint8)
            boxes.append((f["id"], f["face"] + np.array([ox, oy, ox, oy], float)))
        return frame, boxes


def sprites(rng: np.random.Generator, widths) -> list[tuple]:
    """Face sprites (crop, alpha, face box) of the given widths, from face-mask faces CenterFace finds."""
    sources = VC.detectable(VC.face_sources())
    out = []
    for w in widths:
        ok = [s for s in sources if s[1][2] >= w] or [max(sources, key=lambda s: s[1][2])]
        path, box, _ = ok[int(rng.integers(len(ok)))]
        out.append(VC.face_sprite(path, box, float(w)))
    return out


# -- camera --------------------------------------------------------------------------------
def camera_matrix(centre, angle_deg: float, zoom: float, size: tuple[int, int]) -> np.ndarray:
    """(2, 3) affine taking frame pixels to scene pixels (for ``cv2.WARP_INVERSE_MAP``)."""
    W, H = size
    a = math.radians(angle_deg)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) / zoom
    t = np.asarray(centre, float) - r @ np.array([W / 2, H / 2])
    return np.hstack([r, t[:, None]])


def shake_path(n: int, rng: np.random.Generator, width: int) -> dict:
    """A hand-held camera's wander, sway, tremor, roll and zoom breathing over ``n`` frames (30 fps)."""
    t = np.arange(n) / FPS
    walk = np.cumsum(rng.normal(0, 1, (n + 60, 2)), axis=0)
    k = np.exp(-0.5 * (np.arange(-30, 31) / 10.0) ** 2)
    walk = np.stack([np.convolve(walk[:, i], k / k.sum(), mode="valid")[:n] for i in range(2)], 1)
    walk = (walk - walk.mean(0)) / max(walk.std(), 1e-9) * 0.01 * width
    sway = sum(a * np.sin(2 * np.pi * f * t[:, None] + rng.uniform(0, 2 * np.pi, 2))
               for a, f in ((0.006 * width, rng.uniform(0.8, 1.4)), (0.003 * width, rng.uniform(1.8, 2.5))))
    tremor = 0.001 * width * np.sin(2 * np.pi * rng.uniform(7, 11) * t[:, None] + rng.uniform(0, 2 * np.pi, 2))
    roll = 0.6 * np.sin(2 * np.pi * rng.uniform(0.5, 1.0) * t + rng.uniform(0, 2 * np.pi))
    zoom = 1.0 + 0.005 * np.sin(2 * np.pi * rng.uniform(0.3, 0.6) * t)
    return {"offset": walk + sway + tremor, "roll": roll, "zoom": zoom}


def motion_blur(frame: np.ndarray, velocity) -> np.ndarray:
    """Blur along ``velocity`` (px/frame) as a half-frame exposure would."""
    length = 0.5 * float(np.hypot(*velocity))
    if length < 1.0:
        return frame
    size = int(math.ceil(length)) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    d = np.asarray(velocity, float) / max(np.hypot(*velocity), 1e-9) * length / 2
    cv2.line(kernel, (int(round(c - d[0])), int(round(c - d[1]))), (int(round(c + d[0])), int(round(c + d[1]))), 1.0, 1)
    return cv2.filter2D(frame, -1, kernel / kernel.sum())


# -- clips ---------------------------------------------------------------------------------
def _film(shots, size, n: int):
    """Frames and GT from ``shots``: (scene, camera(t) -> (centre, angle, zoom), first frame) in order."""
    W, H = size
    starts = [s[2] for s in shots] + [n]
    prev_centre = None
    for k, (scene, camera, first) in enumerate(shots):
        for t in range(first, starts[k + 1]):
            img, boxes = scene.render(t)
            centre, angle, zoom = camera(t)
            m = camera_matrix(centre, angle, zoom, size)
            frame = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REFLECT)
            if prev_centre is not None and t != first:
                frame = motion_blur(frame, (np.asarray(prev_centre) - np.asarray(centre)) * zoom)
            prev_centre = centre
            inv = cv2.invertAffineTransform(m)
            recs = []
            for face_id, b in boxes:
                corners = np.array([[b[0], b[1]], [b[2], b[1]], [b[0], b[3]], [b[2], b[3]]])
                p = corners @ inv[:, :2].T + inv[:, 2]
                x0, y0, x1, y1 = p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()
                area = (x1 - x0) * (y1 - y0)
                inside = max(min(x1, W) - max(x0, 0), 0) * max(min(y1, H) - max(y0, 0), 0) / max(area, 1e-9)
                if inside > 0:
                    recs.append({"id": face_id, "box": [round(float(v), 2) for v in (x0, y0, x1, y1)],
                                 "inside": round(float(inside), 3), "hidden": 0.0, "label": "face"})
            yield frame, recs


def _build(name: str, size: tuple[int, int], n: int, seed: int):
    W, H = size
    rng = np.random.default_rng(seed)
    u = W / 1280  # faces scale with the frame: the same shot at another resolution
    if name == "handheld":
        scene = Scene(rng, int(W * 1.3), int(H * 1.3))
        widths = np.exp(rng.uniform(np.log(12), np.log(120), 24)) * min(u, 1.5)  # a crowd, not close-ups, at 4K
        for k, sp in enumerate(sprites(rng, widths)):
            walking = k >= 20
            v = (rng.choice([-1, 1]) * rng.uniform(1, 3) * u, 0.0) if walking else (0.0, 0.0)
            scene.add(sp, (rng.uniform(0.1, 0.9) * W * 1.3, rng.uniform(0.1, 0.9) * H * 1.3), v, face_id=k)
        path = shake_path(n, rng, W)
        pan = np.clip((np.arange(n) - n / 3) / (n / 3), 0, 1) * 0.08 * W  # a slow pan in the middle third
        centre0 = np.array([W * 0.65, H * 0.65])

        def camera(t):
            return centre0 + path["offset"][t] + [pan[t] - 0.04 * W, 0], path["roll"][t], path["zoom"][t]
        return [(scene, camera, 0)]
    if name in ("pan_enter", "pan_cut"):
        speed = 8 * u
        shots = []
        cuts = [0, n // 2] if name == "pan_cut" else [0]
        for k, first in enumerate(cuts):
            scene = Scene(rng, int(W + speed * n + W), H)
            w_face = (40 if k == 0 else 70) * u
            x_face = W * 1.1 + speed * 6  # off the first frame of its shot: enters ~20 frames in
            scene.add(sprites(rng, [w_face])[0], (x_face, H * 0.45), face_id=k)

            def camera(t, first=first):
                return np.array([W / 2 + speed * (t - first), H / 2]), 0.0, 1.0
            shots.append((scene, camera, first))
        return shots
    if name == "walk_in":
        scene = Scene(rng, W, H)
        sp = sprites(rng, [60 * u])[0]
        scene.add(sp, (-sp[0].shape[1] / 2, H * 0.5), (6 * u, 0.0), face_id=0)
        return [(scene, lambda t: (np.array([W / 2, H / 2]), 0.0, 1.0), 0)]
    if name == "flash_zoom":
        scene = Scene(rng, W, H)
        for k, (sp, x) in enumerate(zip(sprites(rng, [24 * u, 40 * u, 64 * u]), (0.3, 0.5, 0.7))):
            scene.add(sp, (W * x, H * 0.5), face_id=k)
        z0 = n // 2

        def camera(t):
            zoom = 1.05 ** min(max(t - z0, 0), 8)
            return np.array([W / 2, H / 2]), 0.0, zoom
        return [(scene, camera, 0)]
    raise SystemExit(f"unknown clip {name!r}; choose from {', '.join(CLIPS)}")


def make(name: str, *, size: tuple[int, int] = (1280, 720), frames: int = 90, seed: int = 3) -> tuple[Path, dict]:
    """The clip ``name`` (cached) and its ground truth (video_coverage's crowd format)."""
    W, H = size
    stem = f"motion_{name}_{W}x{H}_f{frames}_s{seed}_v{VERSION}"
    clip, gt_path = B.OUT / "clips" / f"{stem}.mp4", B.OUT / "clips" / f"{stem}.json"
    if clip.exists() and gt_path.exists():
        return clip, json.loads(gt_path.read_text())
    clip.parent.mkdir(parents=True, exist_ok=True)
    print(f"  generating {clip.name} ...", file=sys.stderr, flush=True)
    proc = subprocess.Popen([VC.ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                             "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "medium",
                             "-crf", "20", "-pix_fmt", "yuv420p", "-threads", "1", "-fflags", "+bitexact",
                             "-map_metadata", "-1", str(clip) + ".tmp.mp4"], stdin=subprocess.PIPE)
    gt_frames = []
    flash = frames // 3 if name == "flash_zoom" else -1
    for t, (frame, recs) in enumerate(_film(_build(name, size, frames, seed), size, frames)):
        if t == flash:
            frame = np.clip(frame.astype(np.float32) * 1.8 + 20, 0, 255).astype(np.uint8)
        gt_frames.append(recs)
        proc.stdin.write(np.ascontiguousarray(frame).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"ffmpeg failed to encode {clip.name}")
    Path(str(clip) + ".tmp.mp4").replace(clip)
    cuts = [frames // 2] if name == "pan_cut" else []
    gt = {"version": VERSION, "name": name, "seed": seed, "size": [W, H], "fps": FPS, "frames": gt_frames,
          "cuts": cuts, "flash": flash if flash >= 0 else None}
    B.write_json(gt_path, gt)
    return clip, gt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)
    W, H = (int(v) for v in args.size.split("x"))
    for name in args.clips.split(","):
        clip, gt = make(name.strip(), size=(W, H), frames=args.frames, seed=args.seed)
        pairs = sum(len(f) for f in gt["frames"])
        print(f"{clip}  ({len(gt['frames'])} frames, {pairs} (frame, face) pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
