"""``veil anonymize``: many files into one output folder, failing closed under every fault.

The run holds the output folder's lock (a second run into it fails at once),
removes temporaries a killed run left there, processes each file (in worker
processes with ``jobs > 1``), and writes one report. A signal (SIGTERM, SIGHUP,
SIGINT) stops it: the file in progress leaves nothing, worker processes stop
and clean up too, and the report says what was finished. An unwritable folder,
a full disk or a vanished folder are one line and exit status 1.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import json
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import ExitCode, Interrupted, OutputInUseError, UsageError, VeilError, shown
from ..media import inside
from ..media.atomic import OutputLock, remove_stale_temporaries
from ..report import UNFINISHED, FileReport, RunReport, write_json
from ..scale.resume import Resume
from .signals import deferred_signals, die_with_parent, interruptible, redeliver_swallowed_stops

__all__ = ["AnonymizeOptions", "RunOutcome", "run_anonymize", "REPORT_JSON", "REPORT_HTML"]

REPORT_JSON = "veil-report.json"
REPORT_HTML = "veil-report.html"
#: Seconds a worker process gets to clean up after SIGTERM before SIGKILL.
WORKER_GRACE_SECONDS = 20.0


@dataclass(frozen=True)
class AnonymizeOptions:
    """What ``veil anonymize`` does besides the :class:`~veil.config.Config`."""

    inputs: tuple[str, ...]
    outdir: Path
    jobs: int = 1
    masks: bool = False
    input_hash: bool = True  #: put each input's SHA-256 in the report
    edits: str | None = None  #: a person's edits file (``veil review``), matched to the inputs by SHA-256
    restart: bool = False  #: ignore the output folder's journal: redo every file
    cluster: str | None = None  #: a Dask scheduler address, or ``local:N`` (veil.scale.cluster)


@dataclass
class RunOutcome:
    """The result of a run, for the output layer."""

    run: RunReport
    exit_code: int
    report_path: Path | None = None
    html_path: Path | None = None
    notes: list[str] = field(default_factory=list)  #: one-line notices for stderr


def run_anonymize(options: AnonymizeOptions, config: Config, *,
                  notify: Callable[[str], None] = lambda line: None,
                  progress_for: Callable[[str], Callable] | None = None,
                  file_done: Callable[[FileReport], None] = lambda report: None,
                  files_planned: Callable[[int, int], None] = lambda todo, done: None) -> RunOutcome:
    """Anonymize every input into ``options.outdir`` and write the report.

    Parameters
    ----------
    options : AnonymizeOptions
    config : Config
    notify : callable(str), keyword-only
        Receives one-line messages as they happen (failures, warnings).
    progress_for : callable(name, index, total_files) -> callable(done, total), keyword-only
        Progress callback factory for files processed in this process.
    file_done : callable(FileReport), keyword-only
        Called after each file.
    files_planned : callable(todo, done), keyword-only
        Called once before the files: how many this run processes, how many the journal says are done.

    Raises
    ------
    veil.errors.UsageError
        The output path is not a folder.
    veil.errors.VeilError
        The output folder cannot be created, locked or written (one line).
    """
    from ..detect import bf16
    from ..detect.kinds import require_other_kinds

    outdir = options.outdir
    require_other_kinds(config)  # --cover plates/text without the text detector's package: one line, no output
    bf16.require(config)  # --precision bf16 without OpenVINO or a CPU with bf16: the same
    if options.cluster and options.jobs > 1:
        raise UsageError("--jobs and --cluster: choose one (a cluster runs as many files as it has workers)")
    _check_places(options.inputs, outdir)
    created = not os.path.lexists(outdir)
    lock = _lock_outdir(outdir)
    refused = False
    try:
        stale = remove_stale_temporaries(outdir)
        started = time.perf_counter()
        jobs, failed_plans, skipped, notes = _plan(options, config, notify)
        if not jobs and not failed_plans:  # an empty folder, a typo'd one holding other files: nothing to do
            left = f" ({len(skipped)} other file{'s' * (len(skipped) != 1)} left out)" if skipped else ""
            raise UsageError(f"no photo or video found in the inputs{left}; nothing written")
        run = RunReport(command="veil anonymize", settings=config, skipped=skipped,
                        verified=config.verify, input_hash=options.input_hash)
        outcome = RunOutcome(run=run, exit_code=ExitCode.OK)
        if stale:
            notify(f"removed {stale} temporary file{'s' * (stale != 1)} left by an interrupted run")
        from ..anonymize import run_warnings

        run.warnings.extend(run_warnings(config))
        run.warnings.extend(notes)
        run.earlier = _earlier_entries(outdir, {j.dst for j in jobs})
        resume = Resume(outdir, config, masks=options.masks, input_hash=options.input_hash,
                        restart=options.restart, notify=notify)
        results: dict[int, object] = resume.done(jobs)  # plan index -> report
        run.resumed = len(results)
        if results:
            notify(f"resuming: {len(results)} of {len(jobs)} file{'s' * (len(jobs) != 1)} already done "
                   "(the output folder's journal; --restart redoes them)")
        todo = [(i, job) for i, job in enumerate(jobs) if i not in results]
        files_planned(len(todo), len(results))

        def record(index: int, report: FileReport, digest=None) -> None:
            results[index] = report
            resume.record(jobs[index], report, digest)
            file_done(report)
            if not report.ok:
                notify(f"{shown(report.name)}: {report.error}")

        with interruptible(), resume:
            interrupted = _execute(options, config, todo, len(jobs), record, progress_for, notify)
        if interrupted is not None:
            run.interrupted = signal.Signals(interrupted.signum).name
            for index, job in todo:
                if index not in results:
                    report = FileReport(input=str(job.src), output=None, kind="unknown", rel=str(job.rel))
                    report.fail(UNFINISHED)
                    results[index] = report
            remove_stale_temporaries(outdir)  # what killed workers could not remove
            outcome.exit_code = interrupted.exit_code
            notify(f"interrupted by {run.interrupted}; unfinished files have no output")
        run.files = failed_plans + [results[i] for i in sorted(results)]
        from ..detect.providers import provider_notice

        if provider_notice():  # the GPU extra is installed, but detection ran on the CPU here
            notify(provider_notice())
        run.seconds = time.perf_counter() - started
        with deferred_signals():  # the report of what was done is written whole
            outcome.report_path, outcome.html_path = _write_reports(run, outdir)
    except UsageError:  # refused before any file ran (an edits file that does not fit): nothing is left
        refused = True
        raise
    finally:
        lock.release()
        if refused and created:
            try:
                os.rmdir(outdir)  # only if empty: made by this run, holding nothing
            except OSError:
                pass
    if outcome.exit_code == ExitCode.OK:
        summary = run.summary()
        if summary.failed:
            outcome.exit_code = ExitCode.FILE_ERROR
        elif summary.leaks:
            outcome.exit_code = ExitCode.LEAK
    return outcome


def _check_places(inputs, outdir: Path) -> None:
    """Refuse, before anything is written: no input exists (a typo), or the output folder is an input
    folder or an input file's folder (its report and journal would be written among the inputs)."""
    paths = [Path(p) for p in inputs]
    if paths and not any(p.exists() for p in paths):
        raise UsageError(f"no such file or folder: {shown(paths[0])}" + (f" (nor {len(paths) - 1} more)"
                                                                           if len(paths) > 1 else ""))
    if not os.path.exists(outdir):
        return  # not there yet: it holds nothing
    for p in paths:
        # By identity, not by name: a bind mount or a case-insensitive file system names one folder twice.
        if p.exists() and os.path.samefile(p if p.is_dir() else p.resolve().parent, outdir):
            raise UsageError(f"the output folder {shown(outdir)} holds the inputs ({shown(p)}): outputs go "
                             "elsewhere; choose another output folder")


def _lock_outdir(outdir: Path) -> OutputLock:
    """Create OUTDIR and hold its lock (one line if it cannot be written or another run holds it)."""
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"output {shown(outdir)} exists and is not a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        return OutputLock(outdir).acquire()
    except OutputInUseError:
        raise
    except OSError as exc:
        raise VeilError(f"cannot write to the output folder {shown(outdir)}: {exc.strerror or exc}") from None


def _plan(options: AnonymizeOptions, config: Config, notify) -> tuple[list, list[FileReport], list, list[str]]:
    """The jobs, the failed reports of inputs that cannot be planned, the inputs skipped, and the
    warnings about what input folders held and was left out (notified here)."""
    from ..plan import plan_run

    jobs, plan_errors, skipped, notes = plan_run(list(options.inputs), options.outdir, masks=options.masks,
                                          keep_audio=config.audio.value == "keep")
    strays = _not_written_here(options.inputs, Path(options.outdir))
    if strays:
        notes = notes + [f"the output folder {shown(Path(options.outdir).name)} lies inside an input folder, whose walk "
                         f"leaves it out, and holds {len(strays)} photo or video file{'s' * (len(strays) != 1)} veil "
                         f"did not write (e.g. {shown(strays[0])}): they are not anonymized; move them out, or "
                         "name them as inputs"]
    from ..edits import EDITS_NAME

    edits = options.edits
    saved = Path(options.outdir) / EDITS_NAME
    if edits is None and os.path.lexists(saved):  # a link to nowhere or a folder is refused, not passed over
        # A person's review of this folder's outputs: a rerun must not undo it.
        edits = saved
    elif edits is not None and os.path.lexists(saved):
        notify(f"warning: the output folder's {EDITS_NAME} (veil review's) is not applied: --edits names another")
    if edits:
        from ..edits import attach_edits

        try:
            # A changed input (another version of a reviewed file) is a new file to this folder's edits.
            jobs, edit_errors, edit_warnings = attach_edits(jobs, edits, config, strict=edits is not saved)
        except UsageError as exc:
            if edits is not saved:
                raise
            raise UsageError(f"the output folder's {EDITS_NAME} (edits made in veil review) cannot be applied: "
                             f"{exc}. Move it away to run without them") from None
        if edits is saved:
            notify(f"applying the edits made in veil review ({EDITS_NAME} in the output folder; move it away to "
                   "run without them)")
        plan_errors = plan_errors + edit_errors
        for message in edit_warnings:
            notify(f"warning: {message}")
    failed = []
    for item in plan_errors:
        report = FileReport(input=item.path, output=None, kind="unknown", rel=item.rel)
        report.fail(item.message)
        failed.append(report)
        notify(f"{shown(item.rel or item.path)}: {item.message}")
    for note in notes:
        notify(f"warning: {note}")
    return jobs, failed, skipped, notes


def _execute(options: AnonymizeOptions, config: Config, todo, total: int, record, progress_for,
             notify) -> Interrupted | None:
    """Run the files here, in worker processes or on the cluster; the signal that stopped it, if one did."""
    try:
        if options.cluster:
            from ..scale.cluster import run_on_cluster

            run_on_cluster(todo, config, options.cluster, record, outdir=options.outdir, notify=notify)
        elif options.jobs > 1 and len(todo) > 1:
            _run_in_workers(todo, config, options.jobs, record)
        else:
            _run_here(todo, config, record, progress_for, total)
        # Every file is done: what a worker that died left (a Dask worker killed
        # mid-file, its file retried elsewhere) can go; no one writes here any more.
        remove_stale_temporaries(options.outdir)
    except Interrupted as exc:
        return exc
    except KeyboardInterrupt:
        return Interrupted(signal.SIGINT)
    return None


def _run_here(todo, config: Config, record, progress_for, total: int) -> None:
    from ..scale.segments import inline_submit, run_segmented, wants_segments
    from ..scale.tasks import file_task

    for index, job in todo:
        progress = progress_for(job.rel.name, index, total) if progress_for else None
        if wants_segments(job, config):  # a long video: its segments one after the other, here
            record(index, *run_segmented(job, config, inline_submit, progress=progress,
                                         whole=functools.partial(file_task, job, config, progress)))
        else:
            record(index, *file_task(job, config, progress))


def _run_in_workers(todo, config: Config, workers: int, record) -> None:
    """Files in ``workers`` processes; on a stop signal the workers stop and clean up too."""
    from ..config import usable_cpus
    from ..scale.segments import run_segmented, wants_segments
    from ..scale.tasks import file_task

    if not config.threads:  # share the CPUs among the worker processes
        config = config.replace(threads=max(1, usable_cpus() // workers))
    # spawn: OpenCV and PyAV threads do not survive fork reliably.
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_worker_init)
    # Long videos are driven from threads here; their segments are tasks of the same workers.
    driver = cf.ThreadPoolExecutor(workers, thread_name_prefix="veil-segments")

    def submit(fn, *args, key=None):
        return pool.submit(_worker_run, fn, *args)

    try:
        futures = {}
        for index, job in todo:
            if wants_segments(job, config):
                whole = functools.partial(_result_of, submit, file_task, job, config)
                futures[driver.submit(run_segmented, job, config, submit, whole=whole)] = (index, job)
            else:
                futures[pool.submit(_worker_run, file_task, job, config)] = (index, job)
        for future in cf.as_completed(futures):
            index, job = futures[future]
            try:
                result = future.result()
            except Interrupted:
                raise
            except Exception as exc:  # a worker died: that file failed, the run goes on
                report = FileReport(input=str(job.src), output=None, kind="unknown", rel=str(job.rel))
                report.fail(f"worker failed: {type(exc).__name__}: {exc}")
                result = (report, None)
            record(index, *result)
    except BaseException:
        _stop_workers(pool)
        driver.shutdown(wait=True, cancel_futures=True)  # their segments failed with the workers
        raise
    driver.shutdown(wait=True)
    pool.shutdown(wait=True)


def _result_of(submit, fn, *args):
    return submit(fn, *args).result()


def _stop_workers(pool: cf.ProcessPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()  # SIGTERM: the worker removes its temporary output and exits
    deadline = time.monotonic() + WORKER_GRACE_SECONDS
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join()


# -- worker processes ---------------------------------------------------------
_busy = False


def _worker_stop(signum, _frame):
    if _busy:
        raise Interrupted(signum)
    os._exit(128 + signum)  # idle: nothing to clean up


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core; no oversubscription
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, _worker_stop)
    redeliver_swallowed_stops()
    die_with_parent(signal.SIGTERM)


def _worker_run(fn, *args):
    """Run one file; a stop signal during it cleans up (atomic outputs) and ends the worker."""
    global _busy
    _busy = True
    try:
        return fn(*args)
    except Interrupted as exc:
        os._exit(exc.exit_code)  # the temporaries are gone; never take another file
    finally:
        _busy = False


# -- reports ------------------------------------------------------------------
def _previous_report(outdir: Path) -> dict:
    """The folder's report as an earlier run left it; ``{}`` when there is none veil can read."""
    try:
        previous = json.loads((outdir / REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(previous, dict) or not str(previous.get("schema", "")).startswith("veil-report/"):
        return {}
    return previous


def _not_written_here(inputs, outdir: Path) -> list[Path]:
    """Photos and videos in an output folder inside an input folder that veil did not write (by the
    folder's report and journal), relative to it: that input folder's walk leaves them out."""
    out = outdir.resolve()
    if not any(Path(p).is_dir() and Path(p).resolve() in out.parents for p in inputs):
        return []
    from ..plan import folder_media
    from ..scale.journal import Journal

    try:
        known = set(Journal(outdir).latest)
    except VeilError:  # unreadable: the report alone says what veil wrote
        known = set()
    previous = _previous_report(outdir)
    known |= {e["output"] for e in [*previous.get("earlier_runs", []), *previous.get("files", [])]
              if isinstance(e, dict) and isinstance(e.get("output"), str)}
    media, _ = folder_media(outdir)
    rels = [p.relative_to(outdir) for p in media]
    return [r for r in rels if r.parts[0] != "masks" and r.as_posix() not in known]


def _earlier_entries(outdir: Path, this_run: set[Path]) -> list[dict]:
    """Entries of the folder's previous report whose outputs stay: the report covers every output."""
    previous = _previous_report(outdir)
    mine = {p.resolve() for p in this_run}
    kept = []
    for entry in [*previous.get("earlier_runs", []), *previous.get("files", [])]:
        path = inside(outdir, entry.get("output")) if isinstance(entry, dict) else None
        if path is None or entry.get("status") != "ok":
            continue
        target = path.resolve()
        if target in mine or not target.is_file():
            continue
        kept.append(dict(entry, settings=entry.get("settings") or previous.get("settings")))
        mine.add(target)
    return kept


def _write_reports(run: RunReport, outdir: Path) -> tuple[Path, Path]:
    from ..report.html import write_html

    try:
        return write_json(run, outdir / REPORT_JSON), write_html(run, outdir / REPORT_HTML)
    except OSError as exc:
        raise VeilError(f"cannot write the report into {shown(outdir)}: {exc.strerror or exc}") from None
