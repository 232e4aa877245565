"""``veil audit``: what in a file identifies people, before anything is published.

An audit writes no media. For each file it lists the faces found (size,
confidence, and whether a recognizer could use them), the metadata that
locates, names or dates the people or the device, and the audio streams
(voices identify people). It never names anyone: the recognizer is only asked
whether a face is usable, never whom it resembles.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .config import Config
from .errors import UnsupportedMediaError, VeilError

__all__ = ["audit_file", "recognizability"]

#: Sampling of video frames for the face inventory: one frame per this many seconds.
AUDIT_EVERY_SECONDS = 1.0


def recognizability(rgb: np.ndarray, box, *, recognizer=None) -> dict:
    """How usable a face is to a recognizer: size and landmark plausibility.

    Returns ``{"width": px, "level": "high"|"medium"|"low", "why": str}``.
    """
    from .verify.core import check_landmarks
    from .verify.recognizer import get_recognizer

    x1, y1, x2, y2 = (float(v) for v in box)
    width = x2 - x1
    if width < 20:
        return {"width": round(width, 1), "level": "low", "why": "under 20 px wide"}
    rec = recognizer or get_recognizer()
    shape = rec.landmarks(rgb, box)
    points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], np.float64)
    problem = check_landmarks(points, box)
    if problem:
        return {"width": round(width, 1), "level": "medium", "why": problem}
    level = "high" if width >= 40 else "medium"
    return {"width": round(width, 1), "level": level,
            "why": "landmarks found; large enough to match" if level == "high" else "landmarks found; small"}


def _faces_record(dets, rgb, frame=None) -> list[dict]:
    out = []
    for box, score in zip(dets.xyxy, dets.scores):
        rec = {"box": [round(float(v), 1) for v in box], "score": round(float(score), 3)}
        rec.update(recognizability(rgb, box))
        if frame is not None:
            rec["frame"] = int(frame)
        out.append(rec)
    return out


def audit_file(path: str | os.PathLike, config: Config | None = None, *, detector=None) -> dict:
    """Audit one file; raises :class:`~veil.errors.VeilError` for unreadable files.

    Returns
    -------
    dict
        ``{"input", "kind", "media", "faces": [...], "metadata": {"findings": [...]},
        "risk": "high"|"medium"|"low"|"none", "counts": {...}}``; no pixels.
    """
    from .media.image import read_image, to_rgb8
    from .media.metadata import image_metadata
    from .media.sniff import media_kind
    from .detect import detector_for, select_for

    config = config or Config()
    path = Path(path)
    if not path.is_file():
        raise VeilError("no such file")
    kind = media_kind(path)
    if kind is None:
        raise UnsupportedMediaError("not a photo or video veil can read")
    detector = detector or detector_for(config)
    record: dict = {"input": str(path), "kind": kind}
    if kind == "image":
        picture = read_image(path, max_pixels=config.max_pixels)
        rgb = to_rgb8(picture.pixels)
        record["media"] = dict(picture.facts, format=picture.format)
        record["faces"] = _faces_record(select_for(detector.detect(rgb), config), rgb)
        record["metadata"] = image_metadata(path)
    else:
        from .media.video import iter_frames, probe_video
        from .media.video.tags import video_metadata

        info = probe_video(path, max_pixels=config.max_pixels)
        record["media"] = info.to_dict()
        record["metadata"] = video_metadata(info)
        faces, sampled, last = [], 0, None
        for frame in iter_frames(path, max_pixels=config.max_pixels):
            t = float(frame.pts * frame.time_base) if frame.pts is not None else frame.index / 30
            if last is not None and t - last < AUDIT_EVERY_SECONDS:
                continue
            last = t
            sampled += 1
            faces.extend(_faces_record(select_for(detector.detect(frame.rgb), config), frame.rgb, frame.index))
        record["faces"] = faces
        record["sampled_frames"] = sampled
        record["sampling"] = f"one frame every {AUDIT_EVERY_SECONDS:g} s"
    findings = record["metadata"].get("findings", [])
    risks = [f.get("risk") for f in findings] + [
        {"high": "high", "medium": "medium", "low": "low"}[f["level"]] for f in record["faces"]]
    record["risk"] = next((r for r in ("high", "medium", "low") if r in risks), "none")
    record["counts"] = {
        "faces": len(record["faces"]),
        "recognizable_faces": sum(1 for f in record["faces"] if f["level"] == "high"),
        "metadata_findings": len(findings),
        "high_risk_metadata": sum(1 for f in findings if f.get("risk") == "high"),
    }
    return record
