"""Reports: what veil did to each file, as JSON (and HTML, for people).

The JSON report (``veil-report.json``) has a versioned schema, ``veil-report/1``.
It holds hashes, geometry, counts, timings, settings and verdicts, and never
face pixels. Field meanings are documented in ``docs/REPORT.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..media.atomic import atomic_output
from .records import (SCHEMA, FileReport, FileStatus, PhotoCover, RunReport, RunSummary, RunVerdict,
                      UNFINISHED, VideoCover, covered_counts, entry_name_and_verdict)

__all__ = ["SCHEMA", "FileStatus", "RunVerdict", "PhotoCover", "VideoCover", "FileReport", "RunSummary",
           "RunReport", "covered_counts", "write_json", "UNFINISHED", "entry_name_and_verdict"]


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
