"""A file a run took from its journal: its report entry as written when it was done.

A resumed run (``veil.scale.journal``) does not redo files an interrupted run
finished; their entries come back as :class:`StoredFile` records, which the
summary, the JSON report and the HTML report read like a
:class:`~veil.report.FileReport` (the HTML shows them in brief; the JSON entry
is exactly the one written then).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..verify.verdicts import Counts

__all__ = ["StoredFile", "StoredVerification"]


@dataclass(frozen=True)
class _StoredVerdict:
    unverifiable: str | None
    distance: None = None  #: not drawn again (the distance plot leaves stored files out)


@dataclass(frozen=True)
class StoredVerification:
    """What the summary reads of a stored ``verification`` object."""

    verdict: str
    counts: Counts
    verdicts: tuple = ()  #: one per face or track: only ``unverifiable`` (the HTML's reasons)

    @property
    def leaks(self) -> bool:
        from ..verify import LEAK

        return self.verdict == LEAK

    @classmethod
    def from_dict(cls, v: dict) -> "StoredVerification":
        c = v.get("counts") or {}
        counts = Counts(int(c.get("faces", 0)), int(c.get("pass", 0)), int(c.get("leak", 0)),
                        int(c.get("unverifiable", 0)), int(c.get("residual", 0)))
        faces = tuple(_StoredVerdict(f.get("unverifiable")) for f in v.get("faces", []) if isinstance(f, dict))
        return cls(str(v.get("verdict")), counts, faces)


@dataclass(frozen=True)
class StoredFile:
    """A report entry (JSON, as ``FileReport.to_dict`` made it) taken back from the journal."""

    entry: dict
    stored = True  #: the HTML report draws these in brief

    @property
    def ok(self) -> bool:
        return self.entry.get("status") == "ok"

    @property
    def name(self) -> str:
        return str(self.entry.get("input"))

    @property
    def rel(self) -> str | None:
        return self.entry.get("relative_path")

    @property
    def kind(self) -> str:
        return str(self.entry.get("kind", "unknown"))

    @property
    def error(self) -> str | None:
        return self.entry.get("error")

    @property
    def shown_output(self) -> str | None:
        return self.entry.get("output")

    @property
    def input_sha256(self) -> str | None:
        return self.entry.get("input_sha256")

    @property
    def faces(self) -> int:
        return int(self.entry.get("faces", 0))

    @property
    def frames(self) -> int | None:
        frames = self.entry.get("frames")
        return int(frames) if frames is not None else None

    @property
    def warnings(self) -> list[str]:
        return list(self.entry.get("warnings", []))

    @property
    def verification(self) -> StoredVerification | None:
        v = self.entry.get("verification")
        return StoredVerification.from_dict(v) if isinstance(v, dict) else None

    @property
    def leaked(self) -> bool:
        v = self.verification
        return bool(v is not None and v.leaks)

    def to_dict(self, *, input_hash: bool = True) -> dict[str, Any]:
        out = dict(self.entry)
        if not input_hash:
            out["input_sha256"] = None
        return out
