"""Thumbnails for the HTML report, cut from the ANONYMIZED output only.

The report must never carry original face pixels. This module therefore reads
exactly one file per report entry: ``FileReport.output``, the anonymized file
on disk. It never opens ``FileReport.input``.

A thumbnail is a covered region (of the file's ``PhotoCover``, or of one
representative frame per track of its ``VideoCover``) plus a small margin, downscaled to at most :data:`MAX_SIDE` pixels and
embedded as a base64 JPEG ``data:`` URI. Faces that verification says still
match their original are *withheld* by the caller: no pixels are read for them.
"""

from __future__ import annotations

import base64
import bisect
import io
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RegionShape
from ..detections import Detections, box_iou
from ..region import head_regions
from .html_svg import runs

__all__ = ["MAX_SIDE", "MARGIN", "Want", "Plan", "crop_box", "plan_thumbnails", "read_thumbnails"]

MAX_SIDE = 96  #: longest side of a thumbnail, pixels
MARGIN = 0.15  #: context kept around a region, as a fraction of its width/height
JPEG_QUALITY = 80
MAX_PER_FILE = 48  #: thumbnails per file at most (tracks beyond are listed without one)
_HEIF_SUFFIXES = {".heic", ".heif", ".hif", ".avif"}


@dataclass(frozen=True)
class Want:
    """One thumbnail to cut: which region of which output frame."""

    key: tuple  #: ("region", i) for a photo, ("track", id) or ("face", j) for a video
    frame: int | None  #: video frame index (decode order, from 0); None for a photo
    box: tuple[float, float, float, float]  #: the covered region, output pixels
    #: Boxes greyed out in the thumbnail: faces the output shows uncovered (possible misses, faces a
    #: person left visible), should the margin around the region reach them.
    hide: tuple = ()


# -- geometry -------------------------------------------------------------------
def _box(value: Any) -> tuple[float, float, float, float] | None:
    """A finite ``(x1, y1, x2, y2)`` with positive area, or None."""
    try:
        x1, y1, x2, y2 = (float(v) for v in list(value)[:4])
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None
    return (x1, y1, x2, y2)


def crop_box(box, width: int, height: int, *, margin: float = MARGIN) -> tuple[int, int, int, int] | None:
    """Integer crop ``(x1, y1, x2, y2)`` of a region plus margin, clipped to the picture.

    Returns None when the box is invalid or the clipped crop is under 2 x 2 pixels.
    """
    b = _box(box)
    if b is None:
        return None
    mx = (b[2] - b[0]) * margin
    my = (b[3] - b[1]) * margin
    x1 = max(0, int(math.floor(b[0] - mx)))
    y1 = max(0, int(math.floor(b[1] - my)))
    x2 = min(int(width), int(math.ceil(b[2] + mx)))
    y2 = min(int(height), int(math.ceil(b[3] + my)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return (x1, y1, x2, y2)


def _best_match(target, boxes: list) -> int | None:
    """Index of the box that overlaps ``target`` most (IoU; the first of equals), or None if none
    overlaps (``boxes`` may hold None for a box that is not one)."""
    if target is None or not boxes:
        return None
    iou = box_iou(np.asarray(target, np.float32), np.asarray([b or (0, 0, 0, 0) for b in boxes], np.float32))[0]
    best = int(np.argmax(iou))
    return best if iou[best] > 0 else None


# -- planning (no I/O) ----------------------------------------------------------
def _boxes(regions) -> list[tuple[float, float, float, float]]:
    return [b for b in map(_box, regions.boxes) if b is not None]


class _FrameBoxes:
    """A video's region boxes per frame, each frame's read once (tracks look at the same frames)."""

    def __init__(self, regions: list) -> None:
        self._regions = regions
        self._boxes: dict[int, list] = {}

    def __call__(self, frame: int) -> list[tuple[float, float, float, float]]:
        if frame not in self._boxes:
            self._boxes[frame] = _boxes(self._regions[frame]) if 0 <= frame < len(self._regions) else []
        return self._boxes[frame]


def _track_want(track, boxes_of: _FrameBoxes, region_frames: list[int], region_scale: float,
                hint) -> tuple[int, tuple] | None:
    """Pick one representative (frame, region box) for a track (a ``TrackSummary``).

    ``hint`` is a verification face ``(frame, box)`` for this track, if any:
    the thumbnail then shows the very frame verification looked at. Otherwise
    the frame whose region is closest in width to the track's largest face
    (``max_width * region_scale``) is used, preferring frames where the track
    was detected; in a frame with one region only, there is no ambiguity.
    """
    if hint is not None:
        frame, fbox = hint
        boxes = boxes_of(frame)
        i = _best_match(fbox, boxes)
        if i is not None:
            return frame, boxes[i]
    candidates: list[int] = []
    for spans in (runs(track.detected), [(track.first, track.last)] if track.first <= track.last else [],
                  runs(track.interpolated) + runs(track.padded)):
        for a, b in spans:  # frames of these runs that have regions, found by bisection
            candidates.extend(region_frames[bisect.bisect_left(region_frames, a):
                                            bisect.bisect_right(region_frames, b)])
        if candidates:
            break
    target = float(track.max_width) * region_scale
    target = target if math.isfinite(target) and target > 0 else None
    best, best_cost = None, math.inf
    for frame in candidates:
        boxes = boxes_of(frame)
        for b in boxes:
            cost = abs((b[2] - b[0]) - target) / target if target is not None else 0.0
            cost += 0.5 * (len(boxes) > 1)  # an unambiguous frame wins ties
            if cost < best_cost - 1e-9:
                best, best_cost = (frame, b), cost
    return best


@dataclass
class Plan:
    """What to cut for one file, and what is withheld."""

    wants: list[Want]  #: thumbnails to cut
    face_keys: dict[int, tuple]  #: verification verdict index -> key of the thumbnail that shows it
    withheld: set  #: keys never cut: their face still matches its original


def _uncovered_boxes(file):
    """``frame -> boxes`` (output pixels) of faces the output shows uncovered: the residual findings
    (counted or excused) and the faces a person left visible, grown to their heads."""
    from .records import VideoCover

    v = file.verification
    findings = [*v.residual, *v.excused] if v is not None else []
    review = file.review or {}
    visible = review.get("left_visible") or []
    tracks = {x["track"] for x in visible if x.get("track") is not None}
    cover = file.cover
    found = cover.found if isinstance(cover, VideoCover) else None

    def boxes(frame):
        out = [f.box for f in findings if f.frame == frame or frame is None]
        out += [x["box"] for x in visible if x.get("track") is None or frame is None]
        if tracks and found is not None and frame is not None and 0 <= frame < len(found):
            d = found[frame]
            out += [tuple(d.xyxy[i]) for i in range(len(d)) if int(d.track_id[i]) in tracks]
        faces = [b for b in map(_box, out) if b is not None]
        if not faces:
            return []
        # grown to their heads as a cover would be, and more (scale 2: hair, ears, a turned head)
        heads = head_regions(Detections(faces), scale=2.0, shape=RegionShape.BOX)
        return [tuple(float(v) for v in b) for b in heads.boxes]
    return boxes


def plan_thumbnails(file, *, region_scale: float = 1.5, limit: int = MAX_PER_FILE) -> Plan:
    """Decide which output regions to thumbnail; reads no pixels.

    A region whose verdict still leaks is withheld: a recognizable face has no
    place in a report. Residual detections (possible missed faces) are never
    thumbnailed.

    Parameters
    ----------
    file : FileReport
        Its ``cover`` (:class:`PhotoCover` / :class:`VideoCover`) and ``verification``.
    region_scale : float
        The run's region scale (to find a track's largest view).
    limit : int
        Thumbnails per file at most; faces with a verdict come first.
    """
    from ..verify.evidence import LOW_CONFIDENCE
    from .records import PhotoCover, VideoCover

    verdicts = list(file.verification.verdicts) if file.verification is not None else []
    wants: list[Want] = []
    face_keys: dict[int, tuple] = {}
    cover = file.cover
    if isinstance(cover, PhotoCover):
        boxes = _boxes(cover.regions)
        # A verdict's box is a face box: matched to the face boxes the regions were made from (one
        # each) where they line up, since heads overlap (a face matched to a neighbour's larger head
        # region showed that neighbour's thumbnail); else to the regions themselves.
        faces = [b for b in map(_box, cover.detections.xyxy)] if len(cover.detections) == len(boxes) else boxes
        for j, verdict in enumerate(verdicts):
            i = _best_match(verdict.box, faces)
            if i is not None:
                face_keys[j] = ("region", i)
        wants = [Want(("region", i), None, b) for i, b in enumerate(boxes)]
    elif isinstance(cover, VideoCover):
        region_frames = cover.covered_frames()
        boxes_of = _FrameBoxes(cover.regions)
        ids = {t.id for t in cover.tracks}
        hints: dict[int, tuple] = {}
        for j, verdict in enumerate(verdicts):
            tid, frame, fbox = verdict.track_id, verdict.frame, _box(verdict.box)
            if tid is not None and tid in ids:
                face_keys[j] = ("track", tid)
                if frame is not None and fbox is not None:
                    hints.setdefault(tid, (frame, fbox))
            elif frame is not None and fbox is not None:
                boxes = boxes_of(frame)
                i = _best_match(fbox, boxes)
                if i is not None:
                    face_keys[j] = ("face", j)
                    wants.append(Want(("face", j), frame, boxes[i]))
        for track in cover.tracks:
            pick = _track_want(track, boxes_of, region_frames, region_scale, hints.get(track.id))
            if pick is not None:
                wants.append(Want(("track", track.id), pick[0], pick[1]))
    withheld = {face_keys[j] for j, verdict in enumerate(verdicts) if j in face_keys and verdict.leaks}
    wants = [w for w in wants if w.key not in withheld]
    uncovered = _uncovered_boxes(file)
    wants = [replace(w, hide=tuple(uncovered(w.frame))) for w in wants]
    # The budget goes first to faces the recognizer measured, then to other faces with a verdict,
    # then to detections it is not sure are faces, then to regions without one (stable sort).
    rank: dict[tuple, int] = {}
    for j, key in face_keys.items():
        e = verdicts[j].evidence
        rank[key] = min(rank.get(key, 3), 0 if e.distance is not None else 2 if e.kind == LOW_CONFIDENCE else 1)
    wants.sort(key=lambda w: rank.get(w.key, 3))
    return Plan(wants[:max(0, limit)], face_keys, withheld)


# -- reading the output -----------------------------------------------------------
def _encode(rgb: np.ndarray) -> str:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _cut(rgb: np.ndarray, box, hide=()) -> str | None:
    c = crop_box(box, rgb.shape[1], rgb.shape[0])
    if c is None:
        return None
    return _encode(_greyed(rgb[c[1]:c[3], c[0]:c[2]], hide, c, 1.0, 1.0))


def _greyed(crop: np.ndarray, hide, origin, sx: float, sy: float) -> np.ndarray:
    """``crop`` with the ``hide`` boxes (picture pixels; the crop starts at ``origin``, scaled by
    ``sx``, ``sy``) painted neutral grey: a report never shows a face the output leaves uncovered."""
    if not hide:
        return crop
    crop = crop.copy()
    for b in hide:
        x1 = max(0, int(math.floor(b[0] * sx)) - origin[0])
        y1 = max(0, int(math.floor(b[1] * sy)) - origin[1])
        x2 = min(crop.shape[1], int(math.ceil(b[2] * sx)) - origin[0])
        y2 = min(crop.shape[0], int(math.ceil(b[3] * sy)) - origin[1])
        if x2 > x1 and y2 > y1:
            crop[y1:y2, x1:x2] = 128
    return crop


def _pil_to_rgb8(img) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img).astype(np.int64)
        a = np.clip(a >> 8 if a.max(initial=0) > 255 else a, 0, 255).astype(np.uint8)
        return np.dstack([a, a, a])
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        scale = 255.0 if a.max(initial=0.0) <= 1.0 else 1.0
        a = np.clip(np.nan_to_num(a * scale), 0, 255).astype(np.uint8)
        return np.dstack([a, a, a])
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        from PIL import Image

        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (128, 128, 128, 255))  # neutral grey under transparency
        return np.asarray(Image.alpha_composite(base, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def _read_image(path: Path, wants: list[Want], max_pixels: int) -> dict[tuple, str]:
    """Cut thumbnails from an output picture, upright (EXIF orientation applied).

    A JPEG is decoded at a reduced scale (1/2, 1/4, 1/8) when every crop is
    still at least :data:`MAX_SIDE` pixels there: a thumbnail of a 12 MP photo
    does not need the whole photo decoded at full size.
    """
    from PIL import Image, ImageOps

    if path.suffix.lower() in _HEIF_SUFFIXES:
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
        except ImportError:
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ValueError("output picture is larger than max_pixels")
            try:
                orientation = int(img.getexif().get(0x0112, 1))
            except (TypeError, ValueError):
                orientation = 1
            up_w, up_h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
            crops = {w.key: crop_box(w.box, up_w, up_h) for w in wants}
            hides = {w.key: w.hide for w in wants}
            sides = [max(c[2] - c[0], c[3] - c[1]) for c in crops.values() if c is not None]
            if not sides:
                return {}
            factor = min(sides) / MAX_SIDE
            if img.format == "JPEG" and factor >= 2:
                img.draft(img.mode, (int(math.ceil(width / factor)), int(math.ceil(height / factor))))
            upright = ImageOps.exif_transpose(img)
            rgb = _pil_to_rgb8(upright)
    sx, sy = rgb.shape[1] / up_w, rgb.shape[0] / up_h
    out: dict[tuple, str] = {}
    for key, c in crops.items():
        if c is None:
            continue
        x1, y1 = int(math.floor(c[0] * sx)), int(math.floor(c[1] * sy))
        x2, y2 = min(rgb.shape[1], int(math.ceil(c[2] * sx))), min(rgb.shape[0], int(math.ceil(c[3] * sy)))
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            out[key] = _encode(_greyed(rgb[y1:y2, x1:x2], hides[key], (x1, y1), sx, sy))
    return out


def _read_video(path: Path, wants: list[Want], max_pixels: int) -> dict[tuple, str]:
    from ..media.video import iter_frames

    by_frame: dict[int, list[Want]] = {}
    for w in wants:
        if w.frame is not None and w.frame >= 0:
            by_frame.setdefault(w.frame, []).append(w)
    if not by_frame:
        return {}
    last = max(by_frame)
    out: dict[tuple, str] = {}
    with iter_frames(path, max_pixels=max_pixels) as frames:
        for frame in frames:
            for w in by_frame.get(frame.index, ()):
                uri = _cut(frame.rgb, w.box, w.hide)
                if uri is not None:
                    out[w.key] = uri
            if frame.index >= last:
                break
    return out


def _same_as_input(file, path: Path) -> bool:
    """True when the output is the input file itself or a byte-identical copy.

    Only the output is read (hashed); the input's hash comes from the report.
    """
    from ..media import file_sha256

    try:
        if file.input and path.resolve() == Path(file.input).resolve():
            return True
    except (OSError, RuntimeError, ValueError):
        return True
    expected = file.input_sha256
    if not isinstance(expected, str) or len(expected) != 64:
        return False
    return file_sha256(path) == expected.lower()


def read_thumbnails(file, wants: list[Want], *, max_pixels: int = 178_956_970) -> tuple[dict[tuple, str], str | None]:
    """Cut the planned thumbnails from ``file.output`` (and from nothing else).

    Returns
    -------
    thumbs : dict
        Key -> ``data:image/jpeg;base64,...`` URI.
    problem : str or None
        Why no thumbnails could be made (missing or unreadable output), if so.
    """
    if not wants:
        return {}, None
    output = file.output
    if not output or not file.ok:
        return {}, None
    path = Path(output)
    if not path.is_file():
        return {}, "output file not found; no thumbnails"
    try:
        if _same_as_input(file, path):
            return {}, "output is identical to the input; no thumbnails"
        if file.kind == "image":
            return _read_image(path, wants, max_pixels), None
        if file.kind == "video":
            return _read_video(path, wants, max_pixels), None
    except MemoryError:
        return {}, "output too large to read for thumbnails"
    except Exception as exc:  # noqa: BLE001 - a report never fails on a thumbnail
        return {}, f"output could not be read for thumbnails ({type(exc).__name__})"
    return {}, None
