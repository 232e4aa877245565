"""A person's corrections to a run, as data: the edits file (schema ``veil-edits/1``).

The review app (``veil review``) writes ``OUTDIR/veil-edits.json``; ``veil
anonymize ... --edits FILE`` applies the same file without the app. Per input
file, keyed by its SHA-256, it holds regions **added** (drawn on key frames,
interpolated between them), found faces **removed** (a false detection) or
**left visible** (consent), tracks **extended** to more frames, and **review
marks**. Every item names what the run found by the run's own identifiers
(photo: detection index; video: track id, or frame for a box that joined no
track) *and* carries the box it was made on, so :func:`apply_edits` refuses,
rather than edit another face, when the detections no longer match. The file
also records the detection settings it was made for. ``docs/EDITS.md``
documents the schema; :mod:`veil.edits.apply` applies it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._version import __version__
from ..config import SCAN_FIELDS, SETTINGS_BEFORE, VIDEO_ONLY_FIELDS, Config, RegionShape
from ..detections import Kind
from ..errors import UsageError
from ..media.atomic import atomic_output

__all__ = ["SCHEMA", "EDITS_NAME", "DETECTION_FIELDS", "ItemRef", "KeyFrame", "AddedRegion", "Extension",
           "FileEdits", "Edits", "detection_settings", "load_edits", "save_edits"]

SCHEMA = "veil-edits/1"
#: Where ``veil review`` saves a person's edits, in the output folder; ``veil anonymize`` into
#: that folder applies them.
EDITS_NAME = "veil-edits.json"
#: The settings an edits file is bound to (what the run finds and how it tracks).
DETECTION_FIELDS = SCAN_FIELDS
#: Scans that look at a frame alike where ``auto`` scans in full (frames up to 1280 px; ``veil.track.scan.plans_motion``).
SAME_SCAN_UNPLANNED = frozenset({"auto", "full"})
#: Settings that change a run's boxes on few frames (``reuse_repeats``: a repeated frame takes the
#: boxes of the frame before, which shows the same picture): edits made either way apply, each
#: edit still matched to this run's boxes (``apply._match``), so a changed detection fails its file.
MATCHED_BY_BOX = frozenset({"reuse_repeats"})
_KINDS = ("image", "video")
_SHA_CHARS = frozenset("0123456789abcdef")


def detection_settings(config: Config) -> dict:
    """The settings an edits file is bound to, from ``config`` (JSON-ready)."""
    out = {name: list(v) if isinstance(v := getattr(config, name), tuple) else v for name in DETECTION_FIELDS}
    if not config.other_kinds:
        out["kinds_every"] = 1  # no plate/text schedule: faces-only edits hold for any
    return out


class _Reader:
    """Typed access to one JSON object, with the dotted path in every error."""

    def __init__(self, data, where: str, known: tuple[str, ...]) -> None:
        if not isinstance(data, dict):
            raise UsageError(f"{where}: expected an object")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise UsageError(f"{where}: unknown field {unknown[0]!r}")
        self.data, self.where = data, where

    def fail(self, key: str, message: str):
        raise UsageError(f"{self.where}.{key}: {message}")

    def int(self, key: str, *, optional: bool = False, minimum: int = 0):
        value = self.data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "expected an integer")
        if value < minimum:
            self.fail(key, f"must be >= {minimum}")
        return value

    def str(self, key: str, *, optional: bool = False):
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            self.fail(key, "expected a non-empty string")
        return value

    def list(self, key: str) -> list:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            self.fail(key, "expected a list")
        return value

    def box(self, key: str = "box") -> tuple[float, float, float, float]:
        value = self.data.get(key)
        if (not isinstance(value, list) or len(value) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            self.fail(key, "expected [x1, y1, x2, y2] in pixels")
        if not all(math.isfinite(v) for v in value):
            self.fail(key, "coordinates must be finite")
        x1, y1, x2, y2 = map(float, value)
        if x2 <= x1 or y2 <= y1:
            self.fail(key, "needs x2 > x1 and y2 > y1")
        return x1, y1, x2, y2


def _box_list(box) -> list[float]:
    return [round(float(v), 1) for v in box]


@dataclass(frozen=True)
class ItemRef:
    """Something the run found, by the run's identifier and the box it was seen with.

    Exactly one form applies:

    * photo: ``detection`` (index into the run's detections) and ``box``;
    * video track: ``track``, and ``frame`` and ``box`` of one of its boxes;
    * video box that joined no track: ``frame`` and ``box``;
    * possible missed face from verification (review marks only):
      ``residual=True``, ``box``, and ``frame`` for video.

    ``box`` is the detector's face box ``[x1, y1, x2, y2]`` in pixels of the
    upright picture, as the report lists it.
    """

    box: tuple[float, float, float, float]
    track: int | None = None
    frame: int | None = None
    detection: int | None = None
    residual: bool = False

    @property
    def key(self) -> str:
        """A short stable name: ``track:3``, ``det:2``, ``box:57:x1,y1,x2,y2``, ``residual:...``."""
        where = ",".join(f"{v:g}" for v in _box_list(self.box))
        if self.residual:
            return f"residual:{'' if self.frame is None else self.frame}:{where}"
        if self.track is not None:
            return f"track:{self.track}"
        if self.detection is not None:
            return f"det:{self.detection}"
        return f"box:{self.frame}:{where}"

    def to_dict(self) -> dict:
        out: dict = {}
        for name in ("track", "detection", "frame"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.residual:
            out["residual"] = True
        out["box"] = _box_list(self.box)
        return out

    @classmethod
    def from_dict(cls, data, where: str, *, kind: str, marks: bool = False) -> "ItemRef":
        r = _Reader(data, where, ("track", "detection", "frame", "residual", "box"))
        residual = data.get("residual", False)
        if not isinstance(residual, bool) or (residual and not marks):
            r.fail("residual", "only review marks may name a possible missed face"
                   if residual is True else "expected true or false")
        ref = cls(box=r.box(), track=r.int("track", optional=True), frame=r.int("frame", optional=True),
                  detection=r.int("detection", optional=True), residual=residual)
        if kind == "image":
            if ref.track is not None or ref.frame is not None:
                raise UsageError(f"{where}: a photo's items have no track or frame")
            if ref.detection is None and not residual:
                raise UsageError(f"{where}: a photo's item needs its detection index")
        else:
            if ref.detection is not None:
                raise UsageError(f"{where}: a video's items are named by track and frame, not detection")
            if ref.frame is None:
                raise UsageError(f"{where}: a video's item needs the frame its box was seen on")
            if residual and ref.track is not None:
                raise UsageError(f"{where}: a possible missed face has no track")
        return ref


@dataclass(frozen=True)
class KeyFrame:
    """Where a drawn region is on one frame (0 for a photo): the region to cover, as drawn."""

    frame: int
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class AddedRegion:
    """A region a person drew over something the run missed.

    Parameters
    ----------
    id : str
        Unique within its file (the app uses ``a1``, ``a2``, ...).
    keyframes : tuple of KeyFrame
        Increasing frames; the region exists from the first to the last, its
        box linearly interpolated in between (as CVAT does). A photo has one,
        on frame 0.
    shape : RegionShape
        As drawn: a box, or the ellipse inscribed in the box.
    kind : Kind
        What it covers (a face by default).
    """

    id: str
    keyframes: tuple[KeyFrame, ...]
    shape: RegionShape = RegionShape.BOX
    kind: Kind = Kind.FACE

    @property
    def first(self) -> int:
        return self.keyframes[0].frame

    @property
    def last(self) -> int:
        return self.keyframes[-1].frame

    def box_at(self, frame: int) -> np.ndarray | None:
        """(4,) float64 box on ``frame``, interpolated; None outside the key frames."""
        frames = [k.frame for k in self.keyframes]
        if frame < frames[0] or frame > frames[-1]:
            return None
        j = int(np.searchsorted(frames, frame, side="right")) - 1
        a = np.asarray(self.keyframes[j].box, np.float64)
        if frames[j] == frame:
            return a
        b = np.asarray(self.keyframes[j + 1].box, np.float64)
        t = (frame - frames[j]) / (frames[j + 1] - frames[j])
        return a + t * (b - a)

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind.label, "shape": self.shape.value,
                "keyframes": [{"frame": k.frame, "box": _box_list(k.box)} for k in self.keyframes]}

    @classmethod
    def from_dict(cls, data, where: str, *, kind: str) -> "AddedRegion":
        r = _Reader(data, where, ("id", "kind", "shape", "keyframes"))
        try:
            shape = RegionShape(data.get("shape", "box"))
            region_kind = Kind.parse(data.get("kind", "face"))
        except (ValueError, TypeError):
            raise UsageError(f"{where}: shape must be box or ellipse and kind one of "
                             f"{', '.join(k.label for k in Kind)}") from None
        keys = []
        for i, item in enumerate(r.list("keyframes")):
            k = _Reader(item, f"{where}.keyframes[{i}]", ("frame", "box"))
            keys.append(KeyFrame(k.int("frame"), k.box()))
        keys.sort(key=lambda k: k.frame)
        if not keys:
            r.fail("keyframes", "needs at least one key frame")
        if len({k.frame for k in keys}) != len(keys):
            r.fail("keyframes", "two key frames on one frame")
        if kind == "image" and [k.frame for k in keys] != [0]:
            r.fail("keyframes", "a photo's region has one key frame, on frame 0")
        return cls(id=r.str("id"), keyframes=tuple(keys), shape=shape, kind=region_kind)


@dataclass(frozen=True)
class Extension:
    """A video track covered on more frames: from ``first`` to ``last`` (inclusive)."""

    item: ItemRef
    first: int
    last: int

    def to_dict(self) -> dict:
        return dict(self.item.to_dict(), first=self.first, last=self.last)

    @classmethod
    def from_dict(cls, data, where: str) -> "Extension":
        r = _Reader(data, where, ("track", "frame", "box", "first", "last"))
        ref = ItemRef.from_dict({k: v for k, v in data.items() if k not in ("first", "last")}, where, kind="video")
        if ref.track is None:
            raise UsageError(f"{where}: only a track can be extended")
        first, last = r.int("first"), r.int("last")
        if last < first:
            r.fail("last", "must be >= first")
        return cls(ref, first, last)


@dataclass(frozen=True)
class FileEdits:
    """A person's edits of one input file (see the module docstring)."""

    input_sha256: str
    kind: str  #: "image" or "video"
    relative_path: str | None = None
    added: tuple[AddedRegion, ...] = ()
    removed: tuple[ItemRef, ...] = ()
    left_visible: tuple[ItemRef, ...] = ()
    extended: tuple[Extension, ...] = ()
    reviewed: tuple[ItemRef, ...] = ()

    @property
    def changes_media(self) -> bool:
        """True when applying these edits changes the output (review marks alone do not)."""
        return bool(self.added or self.removed or self.left_visible or self.extended)

    @property
    def sha256(self) -> str:
        """SHA-256 of the edits' canonical JSON (without the review marks): what was applied."""
        body = {k: v for k, v in self.to_dict().items() if k != "reviewed"}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict:
        out = {"relative_path": self.relative_path, "kind": self.kind,
               "added": [a.to_dict() for a in self.added],
               "removed": [r.to_dict() for r in self.removed],
               "left_visible": [r.to_dict() for r in self.left_visible],
               "extended": [e.to_dict() for e in self.extended],
               "reviewed": [r.to_dict() for r in self.reviewed]}
        if self.relative_path is None:
            del out["relative_path"]
        return out

    @classmethod
    def from_dict(cls, sha: str, data, where: str) -> "FileEdits":
        if not (isinstance(sha, str) and len(sha) == 64 and set(sha) <= _SHA_CHARS):
            raise UsageError(f"{where}: files are keyed by their SHA-256 (64 lower-case hex digits)")
        r = _Reader(data, where, ("relative_path", "kind", "added", "removed", "left_visible",
                                  "extended", "reviewed"))
        kind = r.str("kind")
        if kind not in _KINDS:
            r.fail("kind", "must be image or video")
        added = tuple(AddedRegion.from_dict(a, f"{where}.added[{i}]", kind=kind)
                      for i, a in enumerate(r.list("added")))
        if len({a.id for a in added}) != len(added):
            r.fail("added", "two regions with one id")

        def refs(name: str) -> tuple[ItemRef, ...]:
            return tuple(ItemRef.from_dict(x, f"{where}.{name}[{i}]", kind=kind, marks=name == "reviewed")
                         for i, x in enumerate(r.list(name)))

        removed, visible, reviewed = refs("removed"), refs("left_visible"), refs("reviewed")
        extended = tuple(Extension.from_dict(x, f"{where}.extended[{i}]") for i, x in enumerate(r.list("extended")))
        if extended and kind == "image":
            r.fail("extended", "only a video's tracks can be extended")
        both = {x.key for x in removed} & {x.key for x in visible}
        if both:
            raise UsageError(f"{where}: {sorted(both)[0]} is both removed and left visible")
        gone = {x.key for x in removed} | {x.key for x in visible}
        for e in extended:
            if e.item.key in gone:
                raise UsageError(f"{where}: {e.item.key} is extended but also removed or left visible")
        return cls(input_sha256=sha, kind=kind, relative_path=r.str("relative_path", optional=True),
                   added=added, removed=removed, left_visible=visible, extended=extended, reviewed=reviewed)


@dataclass(frozen=True)
class Edits:
    """A whole edits file: per input SHA-256, that file's edits."""

    detection: dict
    files: dict[str, FileEdits] = field(default_factory=dict)

    def check_settings(self, config: Config) -> None:
        """Refuse (``UsageError``) a run whose detection settings differ from the edits'
        (edits of photos only: the video-only settings aside, which change no photo)."""
        now = detection_settings(config)
        videos = any(f.kind == "video" for f in self.files.values())
        for name in DETECTION_FIELDS:
            if name in VIDEO_ONLY_FIELDS and not videos:
                continue
            if name == "scan" and {self.detection.get(name), now[name]} <= SAME_SCAN_UNPLANNED:
                # 'auto' is 'full' on frames up to 1280 px; on larger ones each edit's box is still
                # matched to this run's detections (apply._match), so a changed detection fails its file.
                continue
            if name in MATCHED_BY_BOX:
                continue
            if name in self.detection and self.detection[name] != now[name]:
                raise UsageError(f"the edits were made for {name.replace('_', '-')} {self.detection[name]!r}, "
                                 f"this run uses {now[name]!r}; run with the same detection settings")

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "veil_version": __version__, "detection": dict(self.detection),
                "files": {sha: self.files[sha].to_dict() for sha in sorted(self.files)}}

    @classmethod
    def from_dict(cls, data, where: str = "edits") -> "Edits":
        if not isinstance(data, dict):
            raise UsageError(f"{where}: expected a JSON object")
        schema = data.get("schema")
        if schema != SCHEMA:
            raise UsageError(f"{where}: schema {schema!r} is not {SCHEMA!r}")
        r = _Reader(data, where, ("schema", "veil_version", "detection", "files"))
        detection = data.get("detection")
        if isinstance(detection, dict):  # files written before --cover / --scan / --precision
            detection = {**{k: SETTINGS_BEFORE[k] for k in DETECTION_FIELDS if k in SETTINGS_BEFORE}, **detection}
        if not isinstance(detection, dict) or set(detection) != set(DETECTION_FIELDS):
            r.fail("detection", f"expected the detection settings {', '.join(DETECTION_FIELDS)}")
        files = data.get("files", {})
        if not isinstance(files, dict):
            r.fail("files", "expected an object keyed by SHA-256")
        return cls(detection=dict(detection),
                   files={sha: FileEdits.from_dict(sha, body, f"{where}.files.{sha[:12]}")
                          for sha, body in files.items()})


def load_edits(path: str | os.PathLike) -> Edits:
    """Read and validate an edits file; ``UsageError`` (one line) when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"edits file {path} not found") from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise UsageError(f"edits file {path} is not readable JSON: {' '.join(str(exc).split())}") from None
    return Edits.from_dict(data, where=path.name)


def save_edits(edits: Edits, path: str | os.PathLike) -> Path:
    """Write ``edits`` atomically (a reader never sees half a file); returns the path."""
    path = Path(path)
    text = json.dumps(edits.to_dict(), indent=1, allow_nan=False)
    with atomic_output(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path
