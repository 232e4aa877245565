"""Resuming a run: which planned files the output folder's journal says are done.

:class:`Resume` is what ``veil anonymize`` holds for one run: it finds the
files an earlier run finished with the same input and settings (for a photo, the video-only
settings aside; their report entries come back as :class:`veil.report.FileReport` records
marked ``resumed``) and records each file this run finishes (:mod:`veil.scale.journal`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..config import Config, usable_cpus
from ..errors import VeilError
from ..report import FileReport
from .journal import Journal, entry_for, journal_key, settings_fingerprints

__all__ = ["Resume"]


class Resume:
    """The journal of one run into ``outdir`` (use as a context manager around the files)."""

    def __init__(self, outdir: Path, config: Config, *, masks: bool, input_hash: bool, restart: bool,
                 notify: Callable[[str], None] = lambda line: None) -> None:
        self.journal = Journal(outdir, restart=restart)
        self.notify = notify
        self.broken = False
        self.fingerprints = settings_fingerprints(config, masks=masks, input_hash=input_hash)
        self.input_hash = input_hash
        # Without input hashes the journal names inputs by a keyed hash (its key outside OUTDIR).
        self.key = None if input_hash else journal_key()

    def done(self, jobs: list) -> dict[int, FileReport]:
        """Plan index -> stored report entry, for every job already done (inputs and outputs hashed again)."""
        found = self.journal.candidates(jobs, self.fingerprints)
        if not found:
            return {}
        confirmed = Journal.confirm(jobs, found, input_hash=self.input_hash, key=self.key,
                                    threads=min(4, 2 * usable_cpus()))
        done = {i: _resumed(e.entry, jobs[i]) for i, e in confirmed.items()}
        return {i: report for i, report in done.items() if report is not None}

    def record(self, job, report, digest=None) -> None:
        """Append a finished file's line (flushed and fsynced); a journal that cannot be written
        costs only the resume (said once), never the run."""
        if self.broken:
            return
        try:
            self.journal.append(entry_for(report, job, fingerprints=self.fingerprints, input_hash=self.input_hash,
                                          key=self.key, digest=digest))
        except (VeilError, OSError) as exc:
            self.broken = True
            self.notify(f"{exc}; a rerun after an interruption redoes the files from here on")

    def __enter__(self) -> "Resume":
        self.journal.open()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.journal.close()
        except OSError as error:  # a full disk at the last flush: the resume suffers, not the report
            if not self.broken:
                self.broken = True
                self.notify(f"cannot finish the run's journal: {error.strerror or error}; a rerun redoes "
                            "the files of this run")


def _resumed(entry: dict, job) -> FileReport | None:
    """A journal entry as the record it was written from, with this run's paths
    (None for an entry this veil cannot read back: that file is done again)."""
    try:
        report = FileReport.from_dict(entry)
    except (KeyError, TypeError, ValueError):
        return None
    report.input = str(job.src)
    report.output = str(job.dst) if report.output is not None else None
    report.resumed = True
    return report
