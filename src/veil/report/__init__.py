"""Reports: what veil did to each file, as JSON (and HTML, for people).

The JSON report (``veil-report.json``) has a versioned schema, ``veil-report/1``.
It holds hashes, geometry, counts, timings, settings and verdicts, and never
face pixels. Field meanings are documented in ``docs/REPORT.md``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..media.atomic import atomic_output

__all__ = ["SCHEMA", "FileReport", "RunReport", "write_json"]

SCHEMA = "veil-report/1"


@dataclass
class FileReport:
    """The outcome for one input file."""

    input: str
    output: str | None
    kind: str  #: "image", "video" or "unknown"
    rel: str | None = None
    status: str = "failed"  #: "ok" or "failed"
    error: str | None = None
    input_sha256: str | None = None
    media: dict = field(default_factory=dict)
    faces: int = 0
    frames: int | None = None
    regions: dict = field(default_factory=dict)
    tracks: list = field(default_factory=list)
    cuts: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    verification: dict | None = None
    #: A person's edits applied to this file (``veil review``, ``--edits``); see docs/REPORT.md.
    review: dict | None = None
    #: In-process data for later stages (verification). Never serialized.
    extra: dict = field(default_factory=dict, repr=False)

    def fail(self, message: str) -> None:
        self.status = "failed"
        self.error = " ".join(str(message).split())
        self.output = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def leaked(self) -> bool:
        return bool(self.verification and self.verification.get("verdict") == "leak")

    def to_dict(self) -> dict:
        out = {
            "input": self.input,
            "relative_path": self.rel,
            "input_sha256": self.input_sha256,
            "kind": self.kind,
            "status": self.status,
            "output": self.output,
        }
        if self.error:
            out["error"] = self.error
        out.update(media=self.media, faces=self.faces)
        if self.frames is not None:
            out["frames"] = self.frames
            out["tracks"] = self.tracks
            out["cuts"] = self.cuts
        out.update(regions=self.regions, timings=self.timings, warnings=self.warnings)
        if self.verification is not None:
            out["verification"] = self.verification
        if self.review is not None:
            out["review"] = self.review
        return out


@dataclass
class RunReport:
    """The outcome of one ``veil`` run over many files."""

    command: str
    settings: dict
    files: list[FileReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    verified: bool = False

    def summary(self) -> dict:
        ok = [f for f in self.files if f.ok]
        leaks = [f for f in ok if f.leaked]
        # "verified" only when every output carries a passing verdict.
        checked = [f for f in ok if f.verification and f.verification.get("verdict") == "pass"]
        if leaks:
            verdict = "leak"
        elif not self.verified or not ok or len(checked) < len(ok):
            verdict = "not verified" if not checked else "partly verified"
        elif len(ok) < len(self.files):
            verdict = "verified (failed files excluded)"
        else:
            verdict = "verified"
        return {
            "files": len(self.files),
            "ok": len(ok),
            "failed": len(self.files) - len(ok),
            "skipped": len(self.skipped),
            "faces": sum(f.faces for f in ok),
            "frames": sum((f.frames or 1) for f in ok),
            "seconds": round(self.seconds, 2),
            "warnings": sorted(set(self.warnings) | {w for f in self.files for w in f.warnings}),
            "verdict": verdict,
            "leaks": len(leaks),
            # How much the verdict rests on: faces (or tracks) measured vs. not measurable.
            "faces_verified": sum((f.verification or {}).get("counts", {}).get("pass", 0)
                                  + (f.verification or {}).get("counts", {}).get("leak", 0) for f in ok),
            "faces_unverifiable": sum((f.verification or {}).get("counts", {}).get("unverifiable", 0)
                                      for f in ok),
        }

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "veil_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": self.command,
            "platform": {"python": platform.python_version(), "machine": platform.machine()},
            "settings": self.settings,
            "summary": self.summary(),
            "skipped": self.skipped,
            "files": [f.to_dict() for f in self.files],
        }


def _default(value: Any):
    # numpy scalars and Paths sneak into reports; make them plain JSON.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_json(report: RunReport, path: str | os.PathLike) -> Path:
    """Write the report atomically; returns its path."""
    path = Path(path)
    text = json.dumps(report.to_dict(), indent=1, default=_default, allow_nan=False)
    with atomic_output(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path
