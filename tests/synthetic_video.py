"""A synthetic video for tests: a CC0 head (tests/data/face_mask) moving over a textured
background, H.264 with B-frames and a key frame every second; optional AAC audio."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

DATA = Path(__file__).parent / "data"
FPS = 15
FRAMES = 66  # 4.4 s: with 1-s segments, cuts at the key frames of 1, 2, 3 s (frames 15, 30, 45)


def _face() -> np.ndarray:
    """A CC0 head (tests/data/face_mask), 96 px wide."""
    with Image.open(DATA / "face_mask" / "maksssksksss343.jpg") as im:
        head = np.asarray(im.convert("RGB"))[60:300, 55:265]
    return cv2.resize(head, (96, 110), interpolation=cv2.INTER_AREA)


def face_x(i: int) -> int:
    return 8 + 3 * i  # left edge of the head on frame i: it crosses every segment boundary


def write_clip(path: Path, *, frames: int = FRAMES, audio: bool = False, keyint: int = FPS) -> Path:
    """A head moving left to right over a textured background; H.264 with B-frames, an IDR every second."""
    head = _face()
    rng = np.random.default_rng(7)
    background = cv2.GaussianBlur(rng.integers(60, 200, (240, 400, 3), dtype=np.uint8), (0, 0), 3)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 400, 240, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "20", "g": str(keyint), "keyint_min": str(keyint),
                     "sc_threshold": "0", "bf": "2"}
        a = None
        if audio:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i in range(frames):
            picture = background.copy()
            x = face_x(i)
            picture[60:170, x:x + 96] = head
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a is not None:
            t = np.arange(16000 * frames // FPS) / 16000
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]),
                                                   format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                for p in a.encode(chunk):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path




def write_frames(path: Path, frames, *, fps: int = FPS, crf: int = 12, options: dict | None = None) -> list:
    """H.264 (ultrafast) of ``frames`` (an iterable of (H, W, 3) uint8 RGB pictures, all one size)
    into ``path``; returns what each item of ``frames`` yields after its picture (``(picture, extra)``
    items: the extras, in order), so a generator may hand back its ground truth."""
    extras = []
    with av.open(str(path), "w") as c:
        s = None
        for i, item in enumerate(frames):
            picture, extra = item if isinstance(item, tuple) else (item, None)
            extras.append(extra)
            if s is None:
                s = c.add_stream("libx264", rate=fps)
                s.height, s.width = picture.shape[:2]
                s.pix_fmt = "yuv420p"
                s.options = {"preset": "ultrafast", "crf": str(crf), **(options or {})}
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return extras
