"""Records of what a run did: typed until the JSON boundary (``to_dict``).

A :class:`FileReport` is what processing one input produced: its status, the
media facts, what was covered (:class:`PhotoCover` or :class:`VideoCover`: the
regions, the detections or tracks, the cuts) and what verification found
(:class:`veil.verify.VerificationRecord`). A :class:`RunReport` gathers a run's
files. The HTML report and the command line read these records; only
:meth:`RunReport.to_dict` makes JSON (schema in ``docs/REPORT.md``).
"""

from __future__ import annotations

import datetime as _dt
import enum
import os
import platform
from dataclasses import dataclass, field
from typing import Any

from .._version import __version__
from ..config import Config, RegionShape
from ..detections import Detections, Kind
from ..errors import shown
from ..region import Regions
from ..track import TrackSummary
from ..verify.evidence import tally

__all__ = ["SCHEMA", "FileStatus", "RunVerdict", "PhotoCover", "VideoCover", "FileReport", "RunSummary",
           "RunReport", "covered_counts", "UNFINISHED", "entry_name_and_verdict"]

SCHEMA = "veil-report/1"
#: The error of a file a signal stopped the run before (counted apart: ``RunSummary.unfinished``).
UNFINISHED = "interrupted before it was finished; no output"


def entry_name_and_verdict(entry: dict) -> tuple[str, str]:
    """How a report entry as written (e.g. one of ``earlier_runs``) is named to a person: its
    path and its verdict (its status where it has none)."""
    name = entry.get("relative_path") or entry.get("input") or entry.get("output") or "?"
    return name, (entry.get("verification") or {}).get("verdict") or entry.get("status") or "?"


def covered_counts(kinds, config: Config) -> dict[str, int]:
    """Plates and text covered, per kind ``--cover`` names beyond faces (``{"plate": 2, "text": 0}``).

    ``kinds``: a :class:`~veil.detections.Kind` per covered thing (a photo's box, a video's
    track or untracked box). Empty when the run covers faces only.
    """
    labels = {"plates": Kind.PLATE, "text": Kind.TEXT}
    values = [int(k) for k in kinds]
    return {labels[name].label: values.count(int(labels[name])) for name in config.other_kinds}


class FileStatus(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"  #: no output exists


class RunVerdict(str, enum.Enum):
    """The run's headline, from its files' verification records."""

    VERIFIED = "verified"
    VERIFIED_EXCEPT_FAILED = "verified (failed files excluded)"
    PARTLY_VERIFIED = "partly verified"
    NOT_VERIFIED = "not verified"
    LEAK = "leak"
    INTERRUPTED = "interrupted"


@dataclass
class PhotoCover:
    """What was covered on a photo: the boxes and their regions (one each).

    ``found`` is what the detector found, where a person's edits changed the
    boxes (the report lists the boxes edits name: the found ones).
    """

    detections: Detections
    regions: Regions
    found: Detections | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PhotoCover":
        """The inverse of :meth:`to_dict` (the detections are the found ones)."""
        found = Detections.from_records(d.get("detections", []))
        return cls(found, Regions(d.get("boxes") or [], RegionShape(d["shape"]), _kinds(d.get("kinds"))))

    def to_dict(self) -> dict[str, Any]:
        found = self.detections if self.found is None else self.found
        out = {"shape": self.regions.shape.value, "boxes": self.regions.to_records(),
               "detections": found.to_records()}
        kinds = self.regions.kind_records()
        if kinds is not None:  # plates or text: each region's kind (faces-only reports unchanged)
            out["kinds"] = kinds
        return out


def _kinds(labels) -> list[int] | None:
    return None if labels is None else [int(Kind.parse(k)) for k in labels]


@dataclass
class VideoCover:
    """What was covered on a video: regions per frame, the tracks and the scene cuts.

    Attributes
    ----------
    regions : list of Regions
        One per frame (frame ``i`` is ``regions[i]``), in the upright picture's pixels.
    tracks : list of TrackSummary
    cuts : list of int
        First frames of new shots.
    found : list of Detections or None
        Per frame, the boxes detection and tracking found (with track ids),
        before any edit: the boxes a person's edits name (``veil review``).
    repeated : list of int
        Frames that repeated the frame before and took its detections instead
        of a detector run (``veil.config.Config.reuse_repeats``).
    """

    shape: RegionShape
    regions: list[Regions]
    tracks: list[TrackSummary]
    cuts: list[int]
    found: list[Detections] | None = None
    repeated: list[int] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.regions)

    def covered_frames(self) -> list[int]:
        """Frames with at least one region."""
        return [i for i, r in enumerate(self.regions) if len(r)]

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, frames: int, tracks: list[dict], cuts: list[int],
                  repeated: list[int] = ()) -> "VideoCover":
        """The inverse of :meth:`to_dict` (with the entry's ``frames``, ``tracks``, ``cuts`` and ``repeated``)."""
        shape = RegionShape(d["shape"])
        by_frame = d.get("by_frame") or {}
        kinds = d.get("kinds_by_frame") or {}
        regions = [Regions(by_frame.get(str(i)) or [], shape, _kinds(kinds.get(str(i)))) for i in range(frames)]
        found = None
        if "detections_by_frame" in d:
            stored = d["detections_by_frame"]
            found = [Detections.from_records(stored.get(str(i), [])) for i in range(frames)]
        return cls(shape, regions, [TrackSummary.from_dict(t) for t in tracks], list(cuts), found=found,
                   repeated=[int(i) for i in repeated])

    def to_dict(self) -> dict[str, Any]:
        # Only frames that have regions, keyed by frame index: compact and exact.
        out = {"shape": RegionShape(self.shape).value,
               "by_frame": {str(i): self.regions[i].to_records() for i in self.covered_frames()}}
        kinds = {str(i): k for i in self.covered_frames() if (k := self.regions[i].kind_records()) is not None}
        if kinds:  # frames with plates or text: each region's kind
            out["kinds_by_frame"] = kinds
        if self.found is not None:
            out["detections_by_frame"] = {str(i): d.to_records() for i, d in enumerate(self.found) if len(d)}
        return out


@dataclass
class FileReport:
    """The outcome for one input file (what :func:`veil.anonymize_file` returns).

    ``input`` and ``output`` are the paths this process used (possibly
    absolute: a folder name often carries a person's name); the report shows
    ``rel`` (the input's path relative to its input root) and ``output_rel``
    (the output's path relative to the output folder) instead.

    Attributes
    ----------
    input, output : str
        Paths as given; ``output`` is None when the file failed (nothing written).
    kind : str
        ``image``, ``video`` or ``unknown`` (not read far enough to tell).
    rel, output_rel : str or None
        The paths a report shows (relative; see above).
    status : FileStatus
        ``ok`` or ``failed``; ``error`` holds the failure's one line.
    input_sha256 : str or None
        Hex SHA-256 of the input's bytes (None under ``--no-input-hash``).
    media : dict
        Facts read from the input (size, frames, rates), JSON-ready; docs/REPORT.md.
    metadata_removed : list of str
        Kinds of metadata the input had and the output does not (never values).
    faces : int
        Faces covered (photo: boxes; video: tracks and untracked boxes).
    covered : dict of str to int
        Plates and text covered, by kind label; empty for faces only.
    cover : PhotoCover or VideoCover or None
        Where each region was covered (boxes; a video's per-frame regions).
    timings : dict of str to float
        Seconds per stage.
    warnings : list of str
        One line each.
    verification : veil.verify.VerificationRecord or None
        None when verification was off (``verify=False``).
    review : dict or None
        The edits a person made in ``veil review`` that this run applied.
    resumed : bool
        Taken from an earlier, interrupted run's journal, not redone.
    """

    input: str
    output: str | None
    kind: str  #: "image", "video" or "unknown"
    rel: str | None = None
    output_rel: str | None = None
    status: FileStatus = FileStatus.FAILED
    error: str | None = None
    input_sha256: str | None = None
    media: dict = field(default_factory=dict)  #: facts read from the input (JSON-ready)
    #: Kinds of metadata the input had and the output does not (never values):
    #: ``veil.media.metadata.removed_summary``.
    metadata_removed: list = field(default_factory=list)
    faces: int = 0
    #: Plates and text covered (photo: boxes; video: tracks and untracked boxes), per
    #: kind the run covers beyond faces: :func:`covered_counts`. Empty for faces only.
    covered: dict = field(default_factory=dict)
    cover: PhotoCover | VideoCover | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verification: Any = None  #: veil.verify.VerificationRecord or None
    #: A person's edits applied to this file (``veil review``, ``--edits``): the
    #: edits record of ``veil.edits.apply_edits``; see docs/REPORT.md.
    review: dict | None = None
    #: Taken from OUTDIR's journal: an earlier, interrupted run finished this file
    #: (``veil.scale.resume``); not part of the entry (the run counts them).
    resumed: bool = False

    def fail(self, message: str) -> None:
        self.status = FileStatus.FAILED
        self.error = " ".join(str(message).split())
        self.output = None
        self.output_rel = None
        # No output ties it to the report: nor does a hash (the file may be no picture at all,
        # e.g. a link named x.jpg to a system file).
        self.input_sha256 = None

    @property
    def ok(self) -> bool:
        return self.status == FileStatus.OK

    @property
    def leaked(self) -> bool:
        return bool(self.verification is not None and self.verification.leaks)

    @property
    def video(self) -> VideoCover | None:
        return self.cover if isinstance(self.cover, VideoCover) else None

    @property
    def frames(self) -> int | None:
        """Frames of a video (equal to the output's); None for a photo."""
        return self.video.frames if self.video is not None else None

    @property
    def name(self) -> str:
        """The input as the report shows it: relative to its input root, or its file name."""
        return self.rel or os.path.basename(str(self.input)) or str(self.input)

    @property
    def shown_output(self) -> str | None:
        """The output as the report shows it: relative to the output folder, or its file name."""
        if self.output is None:
            return None
        return self.output_rel or os.path.basename(str(self.output))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FileReport":
        """A report entry read back (``to_dict``'s inverse): what a later run or ``veil review``
        keeps of a file it does not redo. ``input`` and ``output`` are then the shown names."""
        from ..verify import VerificationRecord

        report = cls(input=d["input"], output=d.get("output"), kind=d.get("kind", "unknown"),
                     rel=d.get("relative_path"), output_rel=d.get("output"), status=FileStatus(d["status"]),
                     error=d.get("error"), input_sha256=d.get("input_sha256"), media=dict(d.get("media") or {}),
                     metadata_removed=list(d.get("metadata_removed") or []), faces=int(d.get("faces", 0)),
                     timings=dict(d.get("timings") or {}), warnings=list(d.get("warnings") or []),
                     review=d.get("review"), covered=dict(d.get("covered") or {}))
        regions = d.get("regions") or {}
        if regions and "frames" in d:
            report.cover = VideoCover.from_dict(regions, frames=int(d["frames"]), tracks=d.get("tracks", []),
                                                cuts=d.get("cuts", []), repeated=d.get("repeated", []))
        elif regions:
            report.cover = PhotoCover.from_dict(regions)
        if d.get("verification") is not None:
            report.verification = VerificationRecord.from_dict(d["verification"])
        return report

    def to_dict(self, *, input_hash: bool = True) -> dict[str, Any]:
        """JSON-ready; ``input_hash=False`` leaves out the input's SHA-256."""
        out: dict[str, Any] = {
            "input": self.name,
            "relative_path": self.rel,
            "input_sha256": self.input_sha256 if input_hash else None,
            "kind": self.kind,
            "status": self.status.value,
            "output": self.shown_output,
        }
        if self.error:
            out["error"] = self.error
        out.update(media=self.media, metadata_removed=self.metadata_removed, faces=self.faces)
        if self.covered:
            out["covered"] = dict(self.covered)
        video = self.video
        if video is not None:
            out.update(frames=video.frames, tracks=[t.to_dict() for t in video.tracks], cuts=list(video.cuts))
            if video.repeated:
                out["repeated"] = list(video.repeated)
        out.update(regions=self.cover.to_dict() if self.cover is not None else {},
                   timings=self.timings, warnings=self.warnings)
        if self.verification is not None:
            out["verification"] = self.verification.to_dict()
        if self.review is not None:
            out["review"] = self.review
        return out


@dataclass(frozen=True)
class RunSummary:
    """The counts and the headline of a run."""

    files: int
    ok: int
    failed: int
    skipped: int
    faces: int
    frames: int
    seconds: float
    warnings: tuple[str, ...]
    verdict: RunVerdict
    leaks: int
    faces_verified: int  #: faces (photos) or tracks (video) measured
    faces_unverifiable: int  #: covered, but not measurable
    covered: dict = field(default_factory=dict)  #: plates and text covered (``FileReport.covered`` summed)
    #: Faces (photos) and tracks (video) by evidence class and size (``veil.verify.evidence.tally``).
    evidence: dict = field(default_factory=dict)
    leaked_faces: int = 0  #: faces and tracks that still match their original, over the files
    residual: int = 0  #: possible missed faces (plates, text) in the outputs, over the files
    unfinished: int = 0  #: of ``failed``, the files an interruption left undone (no error of their own)

    def to_dict(self) -> dict[str, Any]:
        out = {"files": self.files, "ok": self.ok, "failed": self.failed, "skipped": self.skipped,
               "faces": self.faces, "frames": self.frames, "seconds": round(self.seconds, 2),
               "warnings": list(self.warnings), "verdict": self.verdict.value, "leaks": self.leaks,
               "faces_verified": self.faces_verified, "faces_unverifiable": self.faces_unverifiable,
               "leaked_faces": self.leaked_faces, "residual": self.residual}
        if self.evidence:
            out["evidence"] = self.evidence
        if self.covered:
            out["covered"] = dict(self.covered)
        if self.unfinished:
            out["unfinished"] = self.unfinished
        return out


@dataclass
class RunReport:
    """The outcome of one ``veil`` run over many files."""

    command: str
    settings: Config
    files: list[FileReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    verified: bool = False
    #: Include each input's SHA-256 (ties an output to its original; documented).
    input_hash: bool = True
    #: The signal name when the run was stopped before the end.
    interrupted: str | None = None
    #: Entries of earlier runs into the same folder whose outputs this run kept (JSON as written then).
    earlier: list[dict] = field(default_factory=list)
    #: Files of ``files`` taken from the output folder's journal (done by an interrupted run).
    resumed: int = 0

    def summary(self) -> RunSummary:
        from ..verify import PASS

        ok = [f for f in self.files if f.ok]
        leaks = [f for f in ok if f.leaked]
        # "verified" only when every output carries a passing verdict.
        checked = [f for f in ok if f.verification is not None and f.verification.verdict == PASS]
        if self.interrupted:
            verdict = RunVerdict.INTERRUPTED
        elif leaks:
            verdict = RunVerdict.LEAK
        elif not self.verified or not ok or len(checked) < len(ok):
            verdict = RunVerdict.NOT_VERIFIED if not checked else RunVerdict.PARTLY_VERIFIED
        elif len(ok) < len(self.files):
            verdict = RunVerdict.VERIFIED_EXCEPT_FAILED
        else:
            verdict = RunVerdict.VERIFIED
        counts = [f.verification.counts for f in ok if f.verification is not None]
        covered: dict[str, int] = {}
        for f in ok:
            for kind, n in f.covered.items():
                covered[kind] = covered.get(kind, 0) + int(n)
        return RunSummary(
            files=len(self.files), ok=len(ok), failed=len(self.files) - len(ok), skipped=len(self.skipped),
            faces=sum(f.faces for f in ok), frames=sum((f.frames or 1) for f in ok), seconds=self.seconds,
            warnings=self._warnings(),
            verdict=verdict, leaks=len(leaks),
            faces_verified=sum(c.measured for c in counts),
            faces_unverifiable=sum(c.unverifiable for c in counts), covered=covered,
            leaked_faces=sum(c.leaked for c in counts), residual=sum(c.residual for c in counts),
            unfinished=sum(1 for f in self.files if not f.ok and f.error == UNFINISHED),
            evidence=tally(v.evidence for f in ok if f.verification is not None for v in f.verification.verdicts))

    def _warnings(self) -> tuple[str, ...]:
        """The run's warnings, then each file's that the run does not carry, named by the files
        that carry it (a warning about one file says which)."""
        run_level = set(self.warnings)
        by_text: dict[str, list[str]] = {}
        for f in self.files:
            for w in f.warnings:
                if w not in run_level:
                    by_text.setdefault(w, []).append(shown(f.name))
        named = []
        for w, names in by_text.items():
            who = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            named.append(f"{who}: {w}")
        return tuple(sorted(run_level) + sorted(named))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "veil_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": self.command,
            "platform": {"python": platform.python_version(), "machine": platform.machine()},
            "settings": self.settings.to_dict(),
            "summary": self.summary().to_dict(),
            "skipped": self.skipped,
            "files": [f.to_dict(input_hash=self.input_hash) for f in self.files],
            **({"interrupted": self.interrupted} if self.interrupted else {}),
            **({"earlier_runs": self.earlier} if self.earlier else {}),
            **({"resumed": self.resumed} if self.resumed else {}),
        }
