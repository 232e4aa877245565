"""Files on a Dask cluster (issue 16): a LocalCluster of 2 worker processes gives the local
run's media and report; a worker killed mid-task has its file retried; workers that cannot
see the output folder are one clear line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from veil.cli import main
from veil.errors import ExitCode
from veil.media.atomic import TEMP_PREFIX

from synthetic_video import write_clip

pytest.importorskip("distributed")

DATA = Path(__file__).parent / "data"


def _folder(root: Path) -> Path:
    src = root / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(DATA / "face_mask" / "maksssksksss343.jpg", src / "face.jpg")
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(src / "sub" / "n.png")
    write_clip(src / "short.mp4", frames=20)
    write_clip(src / "sub" / "long.mp4")  # 4.4 s: four segments of about 1 s
    return src


def _untimed(value):
    """A report entry less its timings (seconds and milliseconds differ run to run)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in ("timings", "elapsed_ms")}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _entries(out: Path) -> dict:
    report = json.loads((out / "veil-report.json").read_text())
    return {f["input"]: _untimed(f) for f in report["files"]}


def _pts(path: Path) -> list:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return sorted(p.pts * Fraction(v.time_base) for p in c.demux(v) if p.size)


def _tree(out: Path) -> dict:
    return {str(p.relative_to(out)): p for p in sorted(out.rglob("*")) if p.is_file() and not p.name.startswith(".")
            and not p.name.startswith("veil-report")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    src = _folder(root)
    common = ["anonymize", str(src), "--masks", "--seed", "5", "--segment-seconds", "1", "--threads", "1"]
    assert main([*common, "-o", str(root / "here")]) == ExitCode.OK
    assert main([*common, "-o", str(root / "cluster"), "--cluster", "local:2"]) == ExitCode.OK
    return root


def test_a_local_cluster_gives_the_media_and_report_of_a_local_run(runs):
    here, cluster = _tree(runs / "here"), _tree(runs / "cluster")
    assert sorted(here) == sorted(cluster) and "sub/long.mp4" in here and "masks/sub/long.mp4/65.png" in here
    for name, path in here.items():
        if path.suffix == ".mp4":
            # x264 does not give the same bytes twice here, not even in one process (see
            # bench/results-scale.md): the frames, their instants and the regions must agree.
            assert _pts(path) == _pts(cluster[name])
        else:  # photos and masks: byte for byte
            assert path.read_bytes() == cluster[name].read_bytes(), name
    entries_here, entries_cluster = _entries(runs / "here"), _entries(runs / "cluster")
    assert entries_here == entries_cluster
    assert entries_here["sub/long.mp4"]["media"]["segments"] == 4
    assert entries_here["sub/long.mp4"]["verification"]["verdict"] == "pass"


def _holder(path_prefix: str) -> int | None:
    """The process that has a file open whose name starts with ``path_prefix``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd).startswith(path_prefix):
                    return int(proc.name)
        except OSError:
            continue
    return None


def test_a_worker_killed_mid_task_has_its_file_retried(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "v.mp4", frames=45)
    out = tmp_path / "out"
    done = {}
    run = threading.Thread(target=lambda: done.setdefault("code", main(
        ["anonymize", str(src), "-o", str(out), "--no-verify", "--cluster", "local:2", "--threads", "1"])))
    run.start()
    deadline, killed = time.monotonic() + 300, None
    while killed is None:
        assert run.is_alive(), "the run ended before a worker wrote anything"
        assert time.monotonic() < deadline, "no worker wrote a temporary video"
        pid = _holder(str(out / TEMP_PREFIX)) if out.exists() else None
        if pid is not None:
            os.kill(pid, 9)  # SIGKILL mid-video: the nanny starts a new worker, the scheduler reruns the task
            killed = pid
        time.sleep(0.02)
    run.join(600)
    assert done.get("code") == ExitCode.OK
    report = json.loads((out / "veil-report.json").read_text())
    assert report["files"][0]["status"] == "ok" and report["files"][0]["frames"] == 45
    assert _pts(out / "v.mp4") == _pts(src / "v.mp4")
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_workers_that_cannot_see_the_output_folder_are_one_line(tmp_path, capsys):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to give a worker its own view of the file system")
    hidden = tmp_path / "shared"
    hidden.mkdir()
    port = _free_port()
    dask = [sys.executable, "-m", "distributed.cli"]
    scheduler = subprocess.Popen([sys.executable, "-c", "from distributed.cli.dask_scheduler import main; main()",
                                  "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The worker sees an empty file system where the driver's output folder lies.
    worker = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               f"mount -t tmpfs tmpfs '{hidden}' && exec {sys.executable} -c "
                               f"'from distributed.cli.dask_worker import main; main()' tcp://127.0.0.1:{port} "
                               "--nthreads 1 --no-dashboard --no-nanny"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    del dask
    try:
        photo = tmp_path / "p.png"
        Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(photo)
        from distributed import Client

        # Wait for the worker to join (a loaded machine takes its time), not a fixed sleep.
        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 90
            while not client.scheduler_info()["workers"]:
                if worker.poll() is not None:
                    pytest.skip("this machine cannot mount a private file system for the worker")
                assert time.monotonic() < deadline, "the worker never joined the scheduler"
                time.sleep(0.2)
        code = main(["anonymize", str(photo), "-o", str(hidden / "out"), "--no-verify",
                     "--cluster", f"tcp://127.0.0.1:{port}"])
        err = capsys.readouterr().err
        assert code == ExitCode.FILE_ERROR
        assert err.count("\n") == 1 and "cannot see" in err and "file system every worker shares" in err, err
        assert not (hidden / "out" / "p.png").exists()
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.parametrize("args, message", [(["--cluster", "local:0"], "local:N needs N"),
                                           (["--cluster", "local:2", "--jobs", "2"], "choose one")])
def test_cluster_options_are_checked(tmp_path, args, message, capsys):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(photo)
    assert main(["anonymize", str(photo), "-o", str(tmp_path / "out"), *args]) == ExitCode.USAGE
    assert message in capsys.readouterr().err
