"""The units of work a run hands out: one file, wherever it runs (this process, a worker
process, a Dask worker). Module-level functions, so that they pickle by reference."""

from __future__ import annotations

from ..config import Config
from ..plan import Job
from .journal import output_digest

__all__ = ["file_task"]


def file_task(job: Job, config: Config, progress=None):
    """Anonymize one planned file; returns ``(FileReport, (output size, output SHA-256))``.

    The output is hashed where it was written (for the journal), so the driver
    of a cluster run never reads outputs back.
    """
    from ..pipeline import run_file

    report = run_file(job, config, progress=progress)
    return report, output_digest(report, job)
