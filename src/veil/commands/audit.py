"""``veil audit``: what in a file identifies people, before anything is published.

An audit writes no media. For each file it lists the faces found (size,
confidence, and whether a recognizer could use them), with ``config.cover``
naming them the licence plates and text found (veil's plate/text detector;
nothing is read), the metadata that locates, names or dates the people or the
device, and the audio streams (voices identify people). It never names anyone: the recognizer is only asked
whether a face is usable, never whom it resembles. Its output goes to the
person who runs it, so it shows metadata values (escaped on the terminal).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, config_or_default
from ..errors import ExitCode, VeilError
from ..verify.kinds import KIND_LABELS

__all__ = ["FaceAudit", "OtherAudit", "FileAudit", "AuditResult", "audit_file", "audit_paths", "recognizability",
           "on_flat_patch", "on_noise", "AUDIT_EVERY_SECONDS", "RISK_LEVELS", "FLAT_LEVELS",
           "NOISE_CORRELATION", "neighbour_correlation"]

#: Sampling of video frames for the face inventory: one frame per this many seconds.
AUDIT_EVERY_SECONDS = 1.0
#: Risk levels, highest first (faces and metadata use the same scale).
RISK_LEVELS = ("high", "medium", "low")
#: Faces narrower than this are unlikely to be recognized (the verifier's own floor).
_RECOGNIZABLE_PX = 20
_LIKELY_PX = 40
#: A face whose eyes and nose lie in one patch of a single grey level (give or take this many
#: levels) covering a quarter of its box or more shows nothing a recognizer could use: a solid
#: fill (veil's own output audited -- the detector takes a filled head with its neck and collar for
#: a face) or a blank, dark area the detector took for one. A blur or a mosaic varies across the
#: face by far more, so it is never taken for one.
FLAT_LEVELS = 3
_FLAT_SHARE = 0.25
#: ``FaceAudit.why`` of such a face.
FLAT_PATCH = "eyes and nose on one flat patch (a solid fill, or nothing visible)"
#: A face whose eyes and nose each lie on pixels whose neighbours correlate less than this
#: (the larger of across and down, around each point) is under pixel noise (``--mode noise``).
#: Measured: the faces of 20 px and more the detector finds on 207 face-mask and 99 WIDER
#: pictures score 0.60 at least (1,741 faces, 5th percentile 0.83); heads veil covered with noise,
#: in photos and in H.264 video, 0.09 in the median.
NOISE_CORRELATION = 0.3
#: ``FaceAudit.why`` of a face under noise.
NOISE_PATCH = "eyes and nose on pixel noise (a noise cover)"


@dataclass(frozen=True)
class FaceAudit:
    """One face an audit found: where, how sure, and how usable to a recognizer."""

    box: tuple[float, float, float, float]
    score: float
    width: float
    level: str  #: "high" (likely recognizable), "medium" (possibly) or "low" (unlikely)
    why: str
    frame: int | None = None

    @property
    def blank(self) -> bool:
        """Its eyes and nose show no picture: one flat patch (:func:`on_flat_patch`) or noise (:func:`on_noise`)."""
        return self.why in (FLAT_PATCH, NOISE_PATCH)

    def to_dict(self) -> dict[str, Any]:
        out = {"box": [round(v, 1) for v in self.box], "score": round(self.score, 3),
               "width": round(self.width, 1), "level": self.level, "why": self.why, "blank": self.blank}
        if self.frame is not None:
            out["frame"] = self.frame
        return out


@dataclass(frozen=True)
class OtherAudit:
    """A licence plate or a line of text an audit found (never read: veil has no OCR)."""

    kind: str  #: "plate" or "text"
    box: tuple[float, float, float, float]
    score: float
    frame: int | None = None

    #: A plate names a car's owner; a line of text may carry a name, a badge number or an address.
    LEVELS = {"plate": "high", "text": "medium"}

    @property
    def level(self) -> str:
        return self.LEVELS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "box": [round(v, 1) for v in self.box], "score": round(self.score, 3),
               "height": round(self.box[3] - self.box[1], 1), "level": self.level}
        if self.frame is not None:
            out["frame"] = self.frame
        return out


@dataclass
class FileAudit:
    """What one file reveals (what :func:`veil.audit_file` returns); ``error`` is set (and nothing
    else) when it could not be read.

    Attributes
    ----------
    input : str
        The path as given.
    kind : str or None
        ``image`` or ``video``.
    media : dict
        Facts read from the file (size, frames, rates), JSON-ready.
    faces : list of FaceAudit
        Each face found, with how usable it is to a recognizer (``level``, ``why``).
    others : list of OtherAudit
        Plates and text found, where ``looked_for`` names them.
    findings : list of dict
        Identifying metadata and audio streams (``veil.media.metadata``), values included: an
        audit goes to the person who runs it.
    sampled_frames : int or None
        Video: frames looked at (one per :data:`AUDIT_EVERY_SECONDS`).
    error : str or None
        The one-line reason the file could not be read.
    looked_for : tuple of str
        ``config.cover``.
    """

    input: str
    kind: str | None = None
    media: dict = field(default_factory=dict)
    faces: list[FaceAudit] = field(default_factory=list)
    others: list[OtherAudit] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)  #: metadata findings (veil.media.metadata)
    sampled_frames: int | None = None
    error: str | None = None
    looked_for: tuple[str, ...] = ("faces",)  #: ``config.cover``: what the audit looked for

    @property
    def risk(self) -> str:
        levels = {f.get("risk") for f in self.findings} | {f.level for f in (*self.faces, *self.others)}
        return next((r for r in RISK_LEVELS if r in levels), "none")

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"input": self.input, "error": self.error}
        out = {"input": self.input, "kind": self.kind, "media": self.media, "looked_for": list(self.looked_for),
               "faces": [f.to_dict() for f in self.faces], "metadata": {"findings": self.findings},
               "risk": self.risk,
               "counts": {"faces": len(self.faces),
                          "recognizable_faces": sum(1 for f in self.faces if f.level == "high"),
                          "blank_faces": sum(1 for f in self.faces if f.blank),
                          "metadata_findings": len(self.findings),
                          "high_risk_metadata": sum(1 for f in self.findings if f.get("risk") == "high")}}
        looked_for = [k for k in self.looked_for if k in KIND_LABELS]
        if looked_for:
            out["others"] = [o.to_dict() for o in self.others]
            out["counts"].update({k: sum(1 for o in self.others if o.kind == KIND_LABELS[k]) for k in looked_for})
        if self.sampled_frames is not None:
            out.update(sampled_frames=self.sampled_frames,
                       sampling=f"one frame every {AUDIT_EVERY_SECONDS:g} s")
        return out


@dataclass
class AuditResult:
    """The result of ``veil audit`` over many files."""

    files: list[FileAudit]

    @property
    def exit_code(self) -> int:
        return ExitCode.FILE_ERROR if any(f.error for f in self.files) else ExitCode.OK

    def to_json(self) -> str:
        return json.dumps({"files": [f.to_dict() for f in self.files]}, default=str)


def on_flat_patch(rgb: np.ndarray, box, landmarks) -> bool:
    """Whether a face's eyes and nose lie on one flat patch (see :data:`FLAT_LEVELS`).

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    box : (4,) array_like of float
        The face's box ``x0, y0, x1, y1``.
    landmarks : (5, 2) array_like of float
        The detector's landmarks (left eye, right eye, nose, mouth corners); NaN: unknown.
    """
    import cv2

    pts = _eyes_nose(landmarks)
    if pts is None:
        return False
    h, w = rgb.shape[:2]
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return False
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.int16)
    at = [(min(max(int(round(x)) - x0, 0), x1 - x0 - 1), min(max(int(round(y)) - y0, 0), y1 - y0 - 1)) for x, y in pts]
    level = grey[at[2][1], at[2][0]]  # the nose's
    flat = (np.abs(grey - level) <= FLAT_LEVELS).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=4)
    label = labels[at[2][1], at[2][0]]
    same = all(labels[y, x] == label for x, y in at)
    return bool(same and stats[label, cv2.CC_STAT_AREA] >= _FLAT_SHARE * flat.size)


def on_noise(rgb: np.ndarray, box, landmarks) -> bool:
    """Whether a face's eyes and nose lie on pixel noise (see :data:`NOISE_CORRELATION`).

    Around each point, a square window of an eighth of the box's width each side
    (3 px at least); False where a window has under 3 x 3 pixels or a landmark is
    unknown. Parameters as :func:`on_flat_patch`.
    """
    import cv2

    pts = _eyes_nose(landmarks)
    if pts is None:
        return False
    r = max(3, int(round((float(box[2]) - float(box[0])) / 8)))
    for x, y in np.round(pts).astype(int):
        window = np.ascontiguousarray(rgb[max(0, y - r):max(0, y + r + 1), max(0, x - r):max(0, x + r + 1)])
        if window.shape[0] < 3 or window.shape[1] < 3:
            return False
        if neighbour_correlation(cv2.cvtColor(window, cv2.COLOR_RGB2GRAY).astype(np.float64)) >= NOISE_CORRELATION:
            return False
    return True


def neighbour_correlation(grey: np.ndarray) -> float:
    """The larger of the correlations of a grey patch's neighbouring pixels across and down:
    under :data:`NOISE_CORRELATION` on pixel noise; 1 where the patch is constant.

    Parameters
    ----------
    grey : (H, W) ndarray, H and W >= 2
    """
    grey = np.asarray(grey, np.float64)
    return max(_correlation(grey[:, :-1], grey[:, 1:]), _correlation(grey[:-1], grey[1:]))


def _eyes_nose(landmarks) -> np.ndarray | None:
    """The (3, 2) eyes and nose of a detector's landmarks; None where any is unknown."""
    pts = np.asarray(landmarks, np.float64).reshape(-1, 2)[:3]
    return pts if len(pts) == 3 and np.isfinite(pts).all() else None


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-shaped arrays (1 where either is constant: no noise there)."""
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 1e-9 else 1.0


def recognizability(rgb: np.ndarray, box, *, landmarks=None, recognizer=None) -> tuple[str, str]:
    """How usable a face is to a recognizer, from its size and landmarks: ``(level, why)``.

    ``landmarks``: the detector's (optional); where its eyes and nose lie on one
    flat patch (:func:`on_flat_patch`) nothing of the face shows, whatever its size,
    nor where a face 20 px wide or more has them on noise (:func:`on_noise`).
    """
    from ..verify import check_landmarks
    from ..verify.recognizer import get_recognizer, shape_points

    width = float(box[2]) - float(box[0])
    if landmarks is not None and on_flat_patch(rgb, box, landmarks):
        return "low", FLAT_PATCH
    if width < _RECOGNIZABLE_PX:
        return "low", f"under {_RECOGNIZABLE_PX} px wide"
    if landmarks is not None and on_noise(rgb, box, landmarks):
        return "low", NOISE_PATCH
    rec = recognizer or get_recognizer()
    problem = check_landmarks(shape_points(rec.landmarks(rgb, box)), box)
    if problem:
        return "medium", problem
    if width >= _LIKELY_PX:
        return "high", "landmarks found; large enough to match"
    return "medium", "landmarks found; small"


def _faces(dets, rgb: np.ndarray, frame: int | None = None) -> list[FaceAudit]:
    from ..verify.evidence import MIN_DETECTOR_SCORE

    out = []
    for box, score, landmarks in zip(dets.xyxy, dets.scores, dets.landmarks):
        level, why = recognizability(rgb, box, landmarks=landmarks)
        if level == "high" and score < MIN_DETECTOR_SCORE:
            # the detector is not sure it is a face at all (a dark corner, a covered head's collar):
            # possibly, as anonymize calls it "low confidence", not likely
            level, why = "medium", f"landmarks found, but the detector is not sure it is a face ({score:.2f})"
        out.append(FaceAudit(tuple(float(v) for v in box), float(score), float(box[2] - box[0]), level, why, frame))
    return out


def _others(detector, rgb: np.ndarray, frame: int | None = None) -> list[OtherAudit]:
    if detector is None:
        return []
    from ..detections import Kind

    dets = detector.detect(rgb)
    return [OtherAudit(Kind(int(k)).label, tuple(float(v) for v in box), float(score), frame)
            for box, score, k in zip(dets.xyxy, dets.scores, dets.kind)]


def audit_file(path: str | os.PathLike, config: Config | None = None, *, detector=None) -> FileAudit:
    """What one photo or video reveals about people (``veil audit``); writes nothing.

    Parameters
    ----------
    path : str or os.PathLike
        A photo or video.
    config : Config, optional
        What to look for (``config.cover``) and the detection settings (default ``Config()``).
    detector : optional
        A face detector to use instead of the one ``config`` makes.

    Returns
    -------
    FileAudit
        Faces with how usable each is to a recognizer (size, landmarks), plates and
        text when looked for, identifying metadata, audio streams. A video is sampled
        once every ``AUDIT_EVERY_SECONDS`` (1 s) of its frames (``sampled_frames``).

    Raises
    ------
    veil.errors.VeilError
        The file cannot be read or is not a photo or video.
    """
    from ..detect import find
    from ..detect.kinds import face_detector_for, other_kinds_for
    from ..media.sniff import require_media

    config = config_or_default(config)
    path = Path(path)
    kind = require_media(path)
    detector = face_detector_for(config, detector)
    other = other_kinds_for(config)
    result = FileAudit(input=str(path), kind=kind, looked_for=config.cover)
    if kind == "image":
        from ..media.image import read_image, to_rgb8
        from ..media.metadata import image_metadata

        picture = read_image(path, max_pixels=config.max_pixels)
        rgb = to_rgb8(picture.pixels)
        result.media = dict(picture.facts, format=picture.format)
        result.faces = _faces(find(rgb, config, detector=detector), rgb)
        result.others = _others(other, rgb)
        result.findings = image_metadata(path)["findings"]
        return result
    from ..media.video import iter_frames, probe_video
    from ..media.video.tags import video_metadata

    info = probe_video(path, max_pixels=config.max_pixels)
    result.media = info.to_dict()
    result.findings = video_metadata(info)["findings"]
    sampled, last = 0, None
    for frame in iter_frames(path, max_pixels=config.max_pixels):
        t = float(frame.time)
        if last is not None and t - last < AUDIT_EVERY_SECONDS:
            continue
        last = t
        sampled += 1
        result.faces.extend(_faces(find(frame.rgb, config, detector=detector), frame.rgb, frame.index))
        result.others.extend(_others(other, frame.rgb, frame.index))
    result.sampled_frames = sampled
    return result


def audit_paths(inputs: list[str], config: Config | None = None, *, notify=lambda line: None) -> AuditResult:
    """Audit files and folders (recursive); an unreadable file is an entry with its ``error``.

    Inside a folder, files that are not photos or videos are left out, as
    ``veil anonymize`` leaves them (e.g. an output folder's own report); a file
    named on its own is audited or is an error.
    """
    from ..errors import shown
    from ..plan import folder_media

    paths: list[Path] = []
    skipped = 0
    for item in map(Path, inputs):
        if item.is_dir():
            media, others = folder_media(item)
            paths.extend(media)
            skipped += len(others)
        else:
            paths.append(item)
    if skipped:
        notify(f"{skipped} file{'s' if skipped != 1 else ''} in the folders not photos or videos: not audited")
    files = []
    for path in paths:
        try:
            files.append(audit_file(path, config))
        except VeilError as exc:
            files.append(FileAudit(input=str(path), error=str(exc)))
            notify(f"{shown(path)}: {exc}")
    return AuditResult(files)
