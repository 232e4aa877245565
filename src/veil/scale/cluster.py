"""Files on a Dask cluster: ``veil anonymize ... --cluster ADDRESS`` or ``--cluster local:N``.

Each file is one Dask task running :func:`veil.scale.tasks.file_task` on a
worker; long videos (``Config.segment_seconds``) are split into segment tasks
by :mod:`veil.scale.segments`, driven from this process. The cluster changes
where work runs, never what is done: the same ``Config``, the same functions,
the same bytes and the same report as a run on one machine.

* Inputs and OUTDIR must be on a file system every worker sees, at the same
  absolute paths; :func:`check_shared` proves it at start (a file veil writes
  into OUTDIR is read back by every worker, and every worker sees the inputs).
* A worker that dies has its task rerun elsewhere by the scheduler (Dask's
  ``distributed.scheduler.allowed-failures``, 3 by default); a file whose
  workers keep dying fails, closed, with one line. A dead worker's temporary
  output is removed at the end of the run, when no task writes any more.
* A stop signal sets a Dask ``Event`` that running tasks poll between frames:
  they remove their temporary output and stop; the run waits for them.
* ``local:N`` starts a ``LocalCluster`` of N worker processes bound to
  127.0.0.1 (its dashboard too, when bokeh is installed), each with
  ``usable_cpus() // N`` detection threads unless ``--threads`` says otherwise.

Needs the optional extra ``veil[cluster]`` (``dask[distributed]``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import importlib.util
import logging
import os
import secrets
import signal
import queue
import time
from pathlib import Path
from typing import Callable

from ..config import Config, usable_cpus
from ..errors import Interrupted, UsageError, VeilError, shown
from ..media.atomic import TEMP_PREFIX
from ..report import FileReport
from .tasks import file_task

__all__ = ["LOCAL_PREFIX", "parse_cluster", "connect", "check_shared", "run_on_cluster", "cluster_file_task",
           "STOP_GRACE_SECONDS"]

LOCAL_PREFIX = "local:"
#: Seconds the run waits, after a stop signal, for running tasks to stop and clean up.
STOP_GRACE_SECONDS = 30.0
#: Seconds between two looks at the stop event from a running task.
_POLL_SECONDS = 0.5


def parse_cluster(text: str) -> tuple[str | None, int | None]:
    """``'local:N'`` -> ``(None, N)``; a scheduler address -> ``(address, None)``."""
    if text.startswith(LOCAL_PREFIX):
        try:
            n = int(text[len(LOCAL_PREFIX):])
        except ValueError:
            n = 0
        if not 1 <= n <= 256:
            raise UsageError(f"--cluster local:N needs N from 1 to 256, not {text[len(LOCAL_PREFIX):]!r}")
        return None, n
    if not text.strip():
        raise UsageError("--cluster needs a scheduler address (tcp://host:8786) or local:N")
    return text.strip(), None


def _distributed():
    try:
        import distributed
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install 'veil[cluster]'") from None
    return distributed


def connect(text: str, *, notify: Callable[[str], None] = lambda line: None):
    """A Dask client for ``--cluster`` (and the LocalCluster it started, or None)."""
    address, local = parse_cluster(text)
    distributed = _distributed()
    from .dask_plugins import VeilWorkerSetup

    cluster = None
    try:
        if local is not None:
            # The dashboard needs bokeh; on loopback only, like veil review.
            dashboard = "127.0.0.1:0" if importlib.util.find_spec("bokeh") is not None else None
            cluster = distributed.LocalCluster(n_workers=local, threads_per_worker=1, processes=True,
                                               host="127.0.0.1", dashboard_address=dashboard,
                                               silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        raise VeilError(f"cannot reach the Dask scheduler {shown(text)}: {exc}") from None
    client.register_plugin(VeilWorkerSetup(one_thread_per_process=local is not None), name="veil-setup")
    if local is not None and dashboard:  # a scheduler of one's own has its dashboard where one started it
        notify(f"Dask dashboard: {client.dashboard_link}")
    return client, cluster


def _probe(outdir: str, probe: str, token: str, inputs: list[tuple[str, int]]) -> list[str]:
    """On a worker: what of OUTDIR and the inputs it cannot see as the driver does."""
    problems = []
    try:
        if Path(outdir, probe).read_text() != token:
            problems.append("the output folder")
    except OSError:
        problems.append("the output folder")
    if not os.access(outdir, os.W_OK):
        problems.append("the output folder (not writable)")
    for path, size in inputs:
        try:
            if os.stat(path).st_size != size:
                problems.append(path)
        except OSError:
            problems.append(path)
    return problems


def check_shared(client, outdir: Path, jobs: list) -> None:
    """Every worker sees OUTDIR (a file written here is read back there) and the inputs.

    Raises
    ------
    veil.errors.VeilError
        One line naming what a worker cannot see.
    """
    token = secrets.token_hex(16)
    probe = f"{TEMP_PREFIX}{os.getpid()}-probe-{token[:8]}"
    outdir = outdir.resolve()
    (outdir / probe).write_text(token)
    try:
        sample = [(str(j.src), j.src.stat().st_size) for j in jobs[:16]]  # a few inputs are enough to tell
        seen = client.run(_probe, str(outdir), probe, token, sample)
    finally:
        (outdir / probe).unlink(missing_ok=True)
    if not seen:
        raise VeilError("the Dask cluster has no workers")
    for worker, problems in sorted(seen.items()):
        if problems:
            what = problems[0]
            name = shown(outdir) if what.startswith("the output folder") else shown(what)
            raise VeilError(f"a Dask worker ({worker}) cannot see {name}: inputs and the output folder must be "
                            "on a file system every worker shares, at the same path")


def cluster_file_task(job, config: Config, stop_name: str):
    """:func:`file_task` on a worker, stopping (and cleaning up) when the run's stop event is set.

    Returns None when stopped.
    """
    from distributed import Event

    stop = Event(stop_name)
    last = [time.monotonic()]

    def progress(done, total):
        now = time.monotonic()
        if now - last[0] >= _POLL_SECONDS:
            last[0] = now
            if stop.is_set():
                raise Interrupted(signal.SIGTERM)

    if stop.is_set():
        return None
    try:
        return file_task(job, config, progress)
    except Interrupted:
        return None  # its temporary output is gone (atomic_output)


def _absolute(job):
    # Workers have other working folders: they get absolute paths (the report keeps relative ones).
    return dataclasses.replace(job, src=job.src.resolve(), dst=job.dst.resolve(),
                               mask=job.mask.resolve() if job.mask is not None else None)


def run_on_cluster(todo: list, config: Config, address: str, record, *, outdir: Path,
                   notify: Callable[[str], None] = lambda line: None) -> None:
    """Run ``todo`` (``[(plan index, Job)]``) on the cluster; ``record(index, report, digest)`` per file.

    Long videos (``config.segment_seconds``) are driven from threads of this
    process, their segments tasks of the cluster (:mod:`veil.scale.segments`).
    """
    from .segments import run_segmented, wants_segments

    distributed = _distributed()
    _, local = parse_cluster(address)
    client, cluster = connect(address, notify=notify)
    jobs = [(i, _absolute(j)) for i, j in todo]
    if local and not config.threads:  # share this machine's CPUs among the worker processes
        config = config.replace(threads=max(1, usable_cpus() // local))
    token = secrets.token_hex(6)
    stop = distributed.Event(f"veil-stop-{token}", client=client)
    futures: dict = {}
    recorded: set = set()
    driver = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="veil-segments")

    def submit(fn, *args, key: str):
        return client.submit(fn, *args, key=f"{key}-{token}", pure=False)

    def one_task(index, job):
        return client.submit(cluster_file_task, job, config, stop.name, key=f"veil-file-{index}-{token}",
                             pure=False)

    try:
        check_shared(client, outdir, [j for _, j in jobs])
        for index, job in jobs:
            if wants_segments(job, config):
                whole = functools.partial(_whole, one_task, index, job)
                futures[driver.submit(run_segmented, job, config, submit, whole=whole)] = (index, job)
            else:
                futures[one_task(index, job)] = (index, job)
        _collect(futures, record, recorded)
    except BaseException:
        stop.set()  # running tasks clean up and stop
        _drain(futures, record, recorded)
        raise
    finally:
        client.close()
        driver.shutdown(wait=True, cancel_futures=True)
        if cluster is not None:
            cluster.close()


def _whole(one_task, index, job):
    result = one_task(index, job).result()
    if result is None:
        raise Interrupted(signal.SIGTERM)
    return result


def _failed(job, exc: BaseException) -> FileReport:
    report = FileReport(input=str(job.src), output=None, kind="unknown", rel=str(job.rel))
    reason = "its worker died too often" if type(exc).__name__ == "KilledWorker" else f"{type(exc).__name__}: {exc}"
    report.fail(f"worker failed: {reason}")
    return report


def _collect(futures: dict, record, recorded: set) -> None:
    """Record each file as its future completes (Dask futures and driver-thread futures alike)."""
    done: queue.Queue = queue.Queue()
    for future in futures:
        future.add_done_callback(done.put)
    for _ in range(len(futures)):
        while True:
            try:
                future = done.get(timeout=1.0)  # a timeout keeps the wait open to signals
                break
            except queue.Empty:
                continue
        index, job = futures[future]
        try:
            result = future.result()
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker died too often, or a task could not run: that file
            result = (_failed(job, exc), None)
        recorded.add(future)
        if result is not None:
            record(index, *result)


def _drain(futures: dict, record, recorded: set) -> None:
    """After a stop: record the files that still finished whole; give the rest a while to clean up."""
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for future, (index, job) in futures.items():
        if future in recorded:
            continue
        try:
            result = future.result(timeout=max(0.1, deadline - time.monotonic()))
        except BaseException:  # noqa: BLE001 - stopped, cancelled, or out of time: no output to record
            continue
        if result is not None and result[0].ok:
            record(index, *result)
    for future in futures:
        if not future.done():
            future.cancel()
