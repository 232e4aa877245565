"""Match an edits file to the files of a run (``veil anonymize --edits``)."""

from __future__ import annotations

import dataclasses
import os

from ..config import Config
from ..errors import shown
from ..media import file_sha256
from ..plan import PlanError
from .model import load_edits

__all__ = ["attach_edits"]


def attach_edits(jobs: list, path: str | os.PathLike, config: Config, *,
                 strict: bool = True) -> tuple[list, list, list]:
    """Give each planned job the edits made for its input, matched by SHA-256.

    Parameters
    ----------
    jobs : list of veil.plan.Job
    path : path
        The edits file.
    config : Config
        The run's settings: edits made with other detection settings are refused.
    strict : bool, keyword-only
        Refuse an input whose relative path has edits made for another version of it (the
        default: edits named on purpose); else run it without them, with a warning (the output
        folder's own edits file, when its inputs changed since the review).

    Returns
    -------
    jobs : list of Job
        The jobs to run, each with its ``edits`` (None where there are none).
    errors : list of veil.plan.PlanError
        Inputs refused: the edits name a file at the same relative path whose
        SHA-256 differs (another version of the file), so they apply to no file.
    warnings : list of str

    Raises
    ------
    UsageError
        The file is not a valid edits file, or was made for other detection settings.
    """
    edits = load_edits(path)
    edits.check_settings(config)
    by_path = {f.relative_path: sha for sha, f in edits.files.items() if f.relative_path}
    out, errors, used, changed = [], [], set(), []
    for job in jobs:
        sha = file_sha256(job.src) if job.src.is_file() else None
        mine = edits.files.get(sha)
        if mine is None and str(job.rel) in by_path:
            used.add(by_path[str(job.rel)])
            if not strict:
                out.append(job)
                changed.append(shown(job.rel))
                continue
            errors.append(PlanError(str(job.src), str(job.rel),
                                    f"the edits for {shown(job.rel)} were made for another version of this file "
                                    "(SHA-256 differs); refusing it"))
            continue
        if mine is not None:
            used.add(sha)
        out.append(dataclasses.replace(job, edits=mine))
    warnings = []
    if changed:
        warnings.append(f"{len(changed)} input{'s' * (len(changed) != 1)} changed since the review (e.g. "
                        f"{changed[0]}): run{'s' * (len(changed) == 1)} without the edits made for the old version; "
                        "review again")
    unused = len(set(edits.files) - used)
    if unused:
        warnings.append(f"the edits file has entries for {unused} file{'s' * (unused != 1)} "
                        "that are not among the inputs")
    return out, errors, warnings
