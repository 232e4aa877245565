"""Apply: re-render the files whose edits changed, through the pipeline, then rewrite the report.

Each such file goes through ``anonymize_file(..., edits=...)`` with the run's
own settings (detection, cover, metadata stripping, verification), into a
staging folder inside OUTDIR. Only when every re-rendered file is done are the
new outputs moved over the old ones and the report (JSON and HTML) rewritten,
so an interrupted Apply leaves the run as it was: no partial output, and a
report that describes the files beside it. A file that fails keeps its old
output and report entry; the page says why.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..media.atomic import TEMP_PREFIX, OutputLock, remove_stale_temporaries
from ..report import FileReport, RunReport, write_json
from .session import Refused

__all__ = ["ApplyResult", "Cancelled", "apply_pending", "Applier"]


class Cancelled(BaseException):
    """Apply was stopped (server shutting down). A BaseException: nothing may swallow it."""


@dataclass
class ApplyResult:
    rendered: list = field(default_factory=list)  #: relative paths re-rendered
    recorded: list = field(default_factory=list)  #: relative paths whose review marks were recorded
    failed: list = field(default_factory=list)  #: (relative path, one-line reason)
    seconds: float = 0.0


def apply_pending(session, *, progress: Callable[[dict], None] | None = None,
                  cancelled: Callable[[], bool] = lambda: False) -> ApplyResult:
    """Re-render every file whose edits changed; record changed review marks; rewrite the report.

    Parameters
    ----------
    session : ReviewSession
    progress : callable(dict), optional
        Called with ``{"file", "index", "total", "fraction"}`` as work goes on.
    cancelled : callable() -> bool, optional
        Polled while rendering; when it returns True, Apply stops and leaves
        the run unchanged (raises :class:`Cancelled`).
    """
    started = time.perf_counter()
    result = ApplyResult()
    # Another veil run into the same folder would race Apply's moves and report.
    lock = OutputLock(session.outdir).acquire()
    try:
        # One that ran since the page was drawn rewrote outputs and report: the page must show them
        # before anything is applied to them (the report would otherwise be rewritten from old entries).
        if session.refresh():
            raise Refused("the output folder changed since this page was drawn (another veil run?): the page "
                          "now shows it; check your edits there and Apply again")
        if session.edits_problem:
            raise Refused(session.edits_problem)
        with session.lock:
            files = list(session.files)
            todo = [f for f in files if session.needs_render(f)]
            marks = [f for f in files if f not in todo and session.needs_record(f)]
            edits = {f.id: session.file_edits(f) for f in todo + marks}
        if not todo and not marks:
            return result
        remove_stale_temporaries(session.outdir)  # a killed Apply's or run's, now that no one else writes here
        _render_and_write(session, files, todo, marks, edits, result, progress=progress, cancelled=cancelled)
    finally:
        lock.release()
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def _render_and_write(session, files: list, todo: list, marks: list, edits: dict, result: ApplyResult, *,
                      progress, cancelled) -> None:
    """Render ``todo`` into a staging folder, record ``marks``, then move everything into place and
    rewrite the report and journal (the caller holds the folder's lock)."""
    from ..edits import apply_edits
    from ..pipeline import anonymize_file

    config = session.config
    staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + "apply-", dir=session.outdir))
    entries = {f.id: f.entry for f in files}
    staged: list[tuple[Path, Path, Path | None, Path | None]] = []
    written: list = []  # the files whose output or entry Apply changes
    try:
        for n, f in enumerate(todo):
            rel = Path(f.entry.get("relative_path") or f.output.name)
            out = staging / "out" / str(n) / f.output.name
            out.parent.mkdir(parents=True, exist_ok=True)
            mask = staging / "masks" / rel if config.write_masks else None

            def step(done, total, _n=n, _name=str(rel)):
                if cancelled():
                    raise Cancelled()
                if progress:
                    share = done / total if total else 0.0
                    progress({"file": _name, "index": _n, "total": len(todo), "fraction": (_n + share) / len(todo)})

            step(0, 1)
            report = anonymize_file(f.input, out, config, edits=edits[f.id], mask_dir=mask, progress=step)
            if cancelled():
                raise Cancelled()
            if not report.ok:
                result.failed.append((str(rel), report.error))
                continue
            # The report names files relative to the input root and OUTDIR, as the run did.
            report.rel, report.output_rel = f.entry.get("relative_path"), f.entry.get("output")
            entries[f.id] = report.to_dict()
            final_mask = session.outdir / "masks" / rel if mask is not None else None
            staged.append((out, f.output, mask, final_mask))
            written.append(f)
            result.rendered.append(str(rel))
        for f in marks:  # the marks change no pixel: only the report's review record
            # Same geometric edits as rendered (or none): the record differs in its marks only.
            entries[f.id] = dict(f.entry, review=apply_edits(f.frames, edits[f.id],
                                                             region_shape=config.region_shape).record)
            written.append(f)
            result.recorded.append(f.entry.get("relative_path"))
        if cancelled():
            raise Cancelled()
        # Everything is rendered and verified: now move it into place, then the report.
        for out, final, mask, final_mask in staged:
            os.replace(out, final)
            if mask is not None:
                _replace_mask(mask, final_mask)
        # Under the session's lock: a page asking meanwhile sees the report before or after, never
        # this Apply's rewrite as another run's (ReviewSession.refresh).
        with session.lock:
            _rewrite_report(session, [entries[f.id] for f in files])
            _journal(session, [(f, entries[f.id], edits[f.id]) for f in written])
            session.load_report()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_mask(staged: Path, final: Path) -> None:
    png = Path(str(staged) + ".png")
    if png.is_file():  # a photo's mask
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(png, Path(str(final) + ".png"))
    elif staged.is_dir():  # a video's folder of masks
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)


def _journal(session, done: list[tuple]) -> None:
    """The output folder's journal lines of what Apply wrote, with the edits they were made with: a
    rerun of ``veil anonymize`` (which applies the folder's edits file) keeps these files as they are."""
    from ..plan import Job
    from ..scale.resume import Resume

    config = session.config
    input_hash = any(e.get("input_sha256") for e in session.report.get("files") or [])
    with Resume(session.outdir, config, masks=config.write_masks, input_hash=input_hash, restart=False) as resume:
        for f, entry, edits in done:
            rel = Path(f.entry.get("relative_path") or f.output.name)
            job = Job(src=f.input, rel=rel, dst=f.output, out_rel=Path(f.entry.get("output") or f.output.name),
                      mask=session.outdir / "masks" / rel if config.write_masks else None, edits=edits)
            resume.record(job, FileReport.from_dict(entry))


def _rewrite_report(session, entries: list[dict]) -> None:
    from ..report.html import write_html

    old = session.report
    files = [FileReport.from_dict(e) for e in entries]
    file_warnings = {w for e in old.get("files", []) for w in e.get("warnings", [])}
    run = RunReport(command=old.get("command", "veil anonymize"), settings=session.config, files=files,
                    skipped=old.get("skipped", []),
                    warnings=[w for w in (old.get("summary") or {}).get("warnings", []) if w not in file_warnings],
                    seconds=float((old.get("summary") or {}).get("seconds", 0.0)),
                    verified=bool(session.config.verify), input_hash=any(e.get("input_sha256") for e in entries),
                    earlier=list(old.get("earlier_runs", [])))
    write_json(run, session.report_path)
    # Thumbnails are read from the outputs, which the entries name relative to OUTDIR.
    for f in run.files:
        if f.output is not None:
            f.output = str(session.outdir / f.output)
    write_html(run, session.outdir / "veil-report.html")


class Applier:
    """Runs :func:`apply_pending` on a thread of its own and tells the page how it goes."""

    def __init__(self, session) -> None:
        self.session = session
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.state: dict = {"state": "idle"}

    def start(self) -> bool:
        """Start Apply; False when one is running already."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self.state = {"state": "running", "fraction": 0.0, "file": None}
            self._thread = threading.Thread(target=self._run, name="veil-apply", daemon=True)
            self._thread.start()
            return True

    def status(self) -> dict:
        with self._lock:
            return dict(self.state)

    def _update(self, info: dict) -> None:
        with self._lock:
            self.state = dict(self.state, **info)

    def _run(self) -> None:
        try:
            result = apply_pending(self.session, progress=self._update, cancelled=self._cancel.is_set)
            state = {"state": "done", "fraction": 1.0, "rendered": result.rendered, "recorded": result.recorded,
                     "failed": [{"file": f, "error": e} for f, e in result.failed], "seconds": result.seconds}
        except Cancelled:
            state = {"state": "cancelled"}
        except Refused as exc:  # said for the person, as it is
            state = {"state": "failed", "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the page shows one line; the run is unchanged
            state = {"state": "failed", "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
        with self._lock:
            self.state = state

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel a running Apply and wait for it to leave the run as it was."""
        self._cancel.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
