"""Fault injection around the files: disk full, signals, parallel workers, an unwritable
or locked output folder, hostile names, and reports that must keep the secrets veil stripped.

Each test here failed on v0.1 (issue #10). Runs that need a real process (file-size
limits, signals) start ``python -m veil.cli`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from metadata_samples import SECRETS, laden_jpeg
from veil.cli import main
from veil.errors import ExitCode
from veil.media.atomic import LOCK_NAME, TEMP_PREFIX
from veil.scale.journal import JOURNAL_NAME

DATA = Path(__file__).parent / "data"
CLIP = DATA / "short_hamilton_clip.mp4"
REPORTS = {"veil-report.json", "veil-report.html"}


def _veil(*args: str, preexec=None, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, ORT_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "veil.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, preexec_fn=preexec, **kwargs)


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def _media_outputs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name not in REPORTS and p.name not in (LOCK_NAME, JOURNAL_NAME))


def _first_frames(path: Path, n: int) -> None:
    """The first ``n`` frames of the bundled clip, as a short H.264 file."""
    with av.open(str(CLIP)) as src, av.open(str(path), "w") as dst:
        stream = dst.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i, frame in enumerate(src.decode(video=0)):
            if i == n:
                break
            frame.pts = None
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    _first_frames(path, 40)
    return path


# -- 1. disk full --------------------------------------------------------------
def _noise_inputs(folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    im = Image.fromarray(pixels)
    names = []
    for name, fmt, options in [("a.jpg", "JPEG", {"quality": 95}), ("b.png", "PNG", {}),
                               ("c.webp", "WEBP", {"lossless": True}), ("d.tiff", "TIFF", {}),
                               ("e.bmp", "BMP", {})]:
        im.save(folder / name, format=fmt, **options)
        names.append(name)
    from veil.media.image import write_image

    write_image(folder / "f.heic", pixels, format="HEIF", quality=95)
    names.append("f.heic")
    with av.open(str(folder / "g.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.options = {"crf": "0", "preset": "ultrafast"}
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    names.append("g.mp4")
    return names


def test_disk_full_fails_every_format_and_leaves_no_output(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    names = _noise_inputs(src)
    out = tmp_path / "out"
    limit = 64 << 10  # every noise output is larger; the reports are smaller

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run = _veil("anonymize", src, "-o", out, "--no-verify", "--threads", "1", preexec=small_files)
    _, err = run.communicate(timeout=300)
    err = err.decode()
    assert run.returncode == ExitCode.FILE_ERROR, err
    assert _media_outputs(out) == [], err
    assert _temporaries(out) == []
    for name in names:
        assert any(line.startswith(f"veil: {name}: ") for line in err.splitlines()), (name, err)
    assert "Traceback" not in err
    report = json.loads((out / "veil-report.json").read_text())
    assert {f["input"]: f["status"] for f in report["files"]} == dict.fromkeys(names, "failed")


# -- 2. signals, with and without worker processes --------------------------------
def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _all_gone(pids: list[int], *, within: float = 10.0) -> bool:
    # multiprocessing's resource tracker leaves once it sees its parent's pipe close.
    deadline = time.monotonic() + within
    while not all(_gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_stop_that_strikes_where_python_cannot_raise_arrives_again():
    """A handler's Interrupted raised in a weakref callback (as in the import machinery's lock
    cleanup) is swallowed by Python; veil sends the signal again so the run still stops."""
    import weakref

    from veil.commands.signals import interruptible
    from veil.errors import Interrupted

    class Thing:
        pass

    def struck(_ref):  # what the handler does when the signal lands in this callback
        raise Interrupted(signal.SIGTERM)

    before = sys.unraisablehook
    with pytest.raises(Interrupted) as stopped:
        with interruptible():
            thing = Thing()
            ref = weakref.ref(thing, struck)
            del thing  # the callback runs; its exception cannot propagate
            for _ in range(1000):  # the signal sent again is raised at the next bytecode
                time.sleep(0.001)
    assert stopped.value.signum == signal.SIGTERM and ref() is None
    assert sys.unraisablehook is before


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_a_video_leaves_no_partial_output_nor_process(tmp_path, short_clip, face_photo,
                                                                    signum, jobs):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(face_photo, src / "a.jpg")
    shutil.copy(short_clip, src / "b.mp4")
    if jobs > 1:
        shutil.copy(short_clip, src / "c.mp4")
    out = tmp_path / "out"
    run = _veil("anonymize", src, "-o", out, "--no-verify", "--jobs", jobs, "--threads", 2)
    deadline = time.monotonic() + 240
    while not any(p.suffix == ".mp4" for p in _temporaries(out)) if out.exists() else True:
        assert run.poll() is None, run.communicate()[1].decode()
        assert time.monotonic() < deadline, "no temporary video output appeared"
        time.sleep(0.01)
    workers = _children(run.pid)
    run.send_signal(signum)
    _, err = run.communicate(timeout=120)
    err = err.decode()
    assert run.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert _temporaries(out) == []
    assert _all_gone(workers), "a worker process outlived the run"
    assert not (out / LOCK_NAME).exists()
    report = json.loads((out / "veil-report.json").read_text())
    assert report["interrupted"] == signal.Signals(signum).name
    assert report["summary"]["verdict"] == "interrupted"
    by_name = {f["input"]: f for f in report["files"]}
    assert set(by_name) == {p.name for p in src.iterdir()}
    for name, entry in by_name.items():
        # What the report says finished is there, whole; nothing else is.
        assert (entry["status"] == "ok") == (out / name).is_file(), (name, entry)
        if entry["status"] != "ok":
            assert "interrupted" in entry["error"]
    assert not (out / "b.mp4").exists() or by_name["b.mp4"]["status"] == "ok"
    assert any(e["status"] != "ok" for e in by_name.values())
    # Counted apart from failures: they failed nothing, they were not done.
    undone = sum(e["status"] != "ok" for e in by_name.values())
    assert report["summary"]["unfinished"] == report["summary"]["failed"] == undone
    line = next(x for x in err.splitlines() if "not done (interrupted)" in x)
    assert f"{undone} not done (interrupted)" in line and " failed" not in line


def _wait_for_lock(run, out: Path, timeout: float = 240) -> None:
    """Until the veil process ``run`` has locked ``out`` (its run has started)."""
    deadline = time.monotonic() + timeout
    while not (out / LOCK_NAME).exists():
        assert run.poll() is None, run.communicate()[1].decode()
        assert time.monotonic() < deadline, "the run never locked its output folder"
        time.sleep(0.01)


def test_ctrl_c_pressed_twice_stops_once_and_cleanly(tmp_path, hamilton_clip):
    # The second Ctrl-C, a moment after the first, must not cut the first one's cleanup short
    # (during pass 1 it aborted the process with exit 134, the detector's threads still running).
    out = tmp_path / "out"
    run = _veil("anonymize", hamilton_clip, "-o", out, "--no-verify")
    _wait_for_lock(run, out)
    time.sleep(2.0)  # detecting: pass 1
    run.send_signal(signal.SIGINT)
    time.sleep(0.02)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    err = err.decode()
    assert run.returncode == 130, err
    assert "Traceback" not in err and "terminate called" not in err
    assert _temporaries(out) == [] and not (out / hamilton_clip.name).exists()
    assert json.loads((out / "veil-report.json").read_text())["interrupted"] == "SIGINT"


def test_a_killed_run_leaves_temporaries_that_the_next_run_removes(tmp_path, short_clip, capsys):
    out = tmp_path / "out"
    run = _veil("anonymize", short_clip, "-o", out, "--no-verify")
    deadline = time.monotonic() + 240
    while not (out.exists() and _temporaries(out)):
        assert run.poll() is None, run.communicate()[1].decode()
        assert time.monotonic() < deadline, "no temporary output appeared"
        time.sleep(0.01)
    run.kill()  # SIGKILL: no clean-up possible
    run.communicate(timeout=60)
    assert _temporaries(out), "the killed run should have left its temporary file"
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(photo)
    assert main(["anonymize", str(photo), "-o", str(out), "--no-verify"]) == ExitCode.OK
    assert _temporaries(out) == []
    assert "temporary file left by an interrupted run" in capsys.readouterr().err


# -- 3. an output folder that cannot be written -------------------------------
def _plain_photo(path: Path) -> Path:
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(path)
    return path


def test_immutable_output_folder_is_one_line_exit_1(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        code = main(["anonymize", str(_plain_photo(tmp_path / "p.png")), "-o", str(out), "--no-verify"])
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)
    err = capsys.readouterr().err
    assert code == ExitCode.FILE_ERROR
    assert err.count("\n") == 1 and err.startswith("veil: cannot write to the output folder"), err
    assert list(out.iterdir()) == []


@pytest.fixture
def read_only_folder(tmp_path):
    """An empty folder this process cannot write: a read-only file system where root
    (who ignores permissions) may mount one, else a folder without write permission."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"root cannot mount a read-only file system here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("where", ["folder", "parent"])
def test_read_only_output_folder_is_one_line_exit_1(tmp_path, read_only_folder, where, capsys):
    out = read_only_folder if where == "folder" else read_only_folder / "out"
    code = main(["anonymize", str(_plain_photo(tmp_path / "p.png")), "-o", str(out), "--no-verify"])
    err = capsys.readouterr().err
    assert code == ExitCode.FILE_ERROR
    assert err.count("\n") == 1 and err.startswith("veil: cannot write to the output folder"), err
    assert list(read_only_folder.iterdir()) == []


# -- 4. hostile file names ------------------------------------------------------
HOSTILE = ["x\nveil: 0 files failed; all good.jpg", "\x1b[2J\x1b[31mred.jpg", "tab\there.jpg",
           os.fsdecode(b"caf\xe9-latin1.jpg"), "bidi\u202egpj.exe.jpg"]


def _assert_clean(stream: str) -> None:
    assert "\x1b" not in stream and "\u202e" not in stream
    for line in stream.splitlines():
        assert not line.startswith("veil: 0 files failed"), line


def test_hostile_names_are_escaped_in_every_message(tmp_path, face_photo, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for name in HOSTILE:
        (src / name).write_bytes(b"not a picture at all")  # each fails: its name is printed
    shutil.copy(face_photo, src / HOSTILE[1].replace("red", "good"))
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out), "--no-verify"]) == ExitCode.FILE_ERROR
    err = capsys.readouterr().err
    _assert_clean(err)
    assert err.count("\n") == len(HOSTILE) + 2  # one line per failure, the summary, the report line
    assert "'x\\nveil: 0 files failed; all good.jpg'" in err
    assert "'caf\\xe9-latin1.jpg'" in err
    report = json.loads((out / "veil-report.json").read_text())
    assert report["summary"]["failed"] == len(HOSTILE) and report["summary"]["ok"] == 1
    html = (out / "veil-report.html").read_text(encoding="utf-8", errors="replace")
    assert "\x1b" not in html

    assert main(["audit", str(src)]) == ExitCode.FILE_ERROR
    captured = capsys.readouterr()
    _assert_clean(captured.out + captured.err)


# -- 5. veil verify names the file that is wrong ----------------------------------
@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_verify_blames_the_broken_original(tmp_path, face_photo, damage, capsys):
    original = tmp_path / "original.jpg"
    data = face_photo.read_bytes()
    original.write_bytes(b"" if damage == "empty" else data[: len(data) // 3])
    anonymized = tmp_path / "anonymized.jpg"
    shutil.copy(face_photo, anonymized)
    assert main(["verify", str(original), str(anonymized)]) == ExitCode.FILE_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"veil: {original}: ") and str(anonymized) not in err


def test_verify_refuses_two_unrelated_pictures(tmp_path, data_dir, capsys):
    a, b = data_dir / "face_mask" / "maksssksksss343.jpg", data_dir / "face_mask" / "maksssksksss109.jpg"
    same_size = tmp_path / "other.jpg"
    with Image.open(a) as im_a, Image.open(b) as im_b:
        im_b.convert("RGB").resize(im_a.size).save(same_size, quality=95)
    assert main(["verify", str(a), str(same_size)]) == ExitCode.FILE_ERROR
    err = capsys.readouterr().err
    assert "does not show the same scene" in err and err.startswith(f"veil: {same_size}: ")


# -- 6. two runs into one folder --------------------------------------------------
def test_a_second_run_into_a_busy_folder_fails_at_once(tmp_path, short_clip, capsys):
    out = tmp_path / "out"
    first = _veil("anonymize", short_clip, "-o", out, "--no-verify")
    _wait_for_lock(first, out)
    photo = _plain_photo(tmp_path / "p.png")
    assert main(["anonymize", str(photo), "-o", str(out), "--no-verify"]) == ExitCode.FILE_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "in use by another veil run" in err
    _, first_err = first.communicate(timeout=240)
    assert first.returncode == ExitCode.OK, first_err.decode()
    report = json.loads((out / "veil-report.json").read_text())
    assert [f["input"] for f in report["files"]] == ["clip.mp4"]
    assert not (out / "p.png").exists()


def test_runs_one_after_the_other_keep_every_output_in_the_report(tmp_path):
    out = tmp_path / "out"
    a, b = _plain_photo(tmp_path / "a.png"), _plain_photo(tmp_path / "b.png")
    assert main(["anonymize", str(a), "-o", str(out), "--no-verify"]) == ExitCode.OK
    assert main(["anonymize", str(b), "-o", str(out), "--no-verify", "--mode", "noise"]) == ExitCode.OK
    report = json.loads((out / "veil-report.json").read_text())
    assert [f["input"] for f in report["files"]] == ["b.png"]
    earlier = report["earlier_runs"]
    assert [f["input"] for f in earlier] == ["a.png"] and earlier[0]["settings"]["mode"] == "fill"
    page = (out / "veil-report.html").read_text()  # the page names it too: publishing the folder publishes it
    assert "Also in this folder: 1 output of earlier runs" in page and '<span class="mono">a.png</span>' in page
    # Redoing a file replaces its earlier entry.
    assert main(["anonymize", str(a), "-o", str(out), "--no-verify"]) == ExitCode.OK
    report = json.loads((out / "veil-report.json").read_text())
    assert [f["input"] for f in report["files"]] == ["a.png"]
    assert [f["input"] for f in report["earlier_runs"]] == ["b.png"]


# -- 7. reports keep no secret --------------------------------------------------
QT_SECRETS = {"com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
              "com.apple.quicktime.make": "VeilQTMake", "com.apple.quicktime.model": "VeilQTModel-77",
              "com.apple.quicktime.author": "Jane QT Author", "com.apple.quicktime.creationdate":
              "2023-07-14T10:22:33+0200", "artist": "Jane Container Artist", "title": "Meeting at the cafe",
              "comment": "Interview with Jane", "creation_time": "2021-03-04T05:06:07.000000Z"}
STREAM_SECRETS = {"handler_name": "Jane Stream Handler", "title": "Jane stream title"}
PNG_SECRETS = {"Author": "Jane PNG Author", "Location": "Rue de Rivoli 12", "Comment": "Jane's secret place"}


def _png_with_text(path: Path) -> None:
    buf = path.with_suffix(".tmp.png")
    Image.fromarray(np.full((60, 80, 3), 120, np.uint8)).save(buf)
    data = buf.read_bytes()
    buf.unlink()
    chunks = b""
    for key, value in PNG_SECRETS.items():
        body = key.encode() + b"\0" + value.encode()
        chunks += len(body).to_bytes(4, "big") + b"tEXt" + body + zlib.crc32(b"tEXt" + body).to_bytes(4, "big")
    end = data.index(b"IDAT") - 4
    path.write_bytes(data[:end] + chunks + data[end:])


def _quicktime_with_tags(path: Path) -> None:
    with av.open(str(path), "w", format="mov", options={"movflags": "use_metadata_tags"}) as c:
        c.metadata.update(QT_SECRETS)
        s = c.add_stream("libx264", rate=Fraction(30))
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        s.metadata.update(STREAM_SECRETS)
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((96, 160, 3), i * 20, np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_reports_hold_no_stripped_value_nor_absolute_path(tmp_path):
    src = tmp_path / "Jane Doe's photos"
    src.mkdir()
    (src / "laden.jpg").write_bytes(laden_jpeg())
    _png_with_text(src / "text.png")
    _quicktime_with_tags(src / "phone.mov")
    from veil.media.video import probe_video

    tags = probe_video(src / "phone.mov", max_pixels=10**9).tags
    assert QT_SECRETS["com.apple.quicktime.author"] in json.dumps(tags)  # the input does carry them
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out)]) in (ExitCode.OK, ExitCode.LEAK)
    secrets = [*SECRETS, *QT_SECRETS.values(), *STREAM_SECRETS.values(), *PNG_SECRETS.values(),
               "48.8584", "48.85822", "2023", str(tmp_path), "Jane Doe"]
    for name in ("veil-report.json", "veil-report.html"):
        text = (out / name).read_text(encoding="utf-8")
        for secret in secrets:
            assert secret not in text, (name, secret)
    report = json.loads((out / "veil-report.json").read_text())
    removed = {f["input"]: {m["kind"] for m in f["metadata_removed"]} for f in report["files"]}
    assert {"gps", "device", "person", "time"} <= removed["laden.jpg"]
    assert {"gps", "device", "person", "time", "comment"} <= removed["phone.mov"]
    assert "comment" in removed["text.png"] or "person" in removed["text.png"]
    assert all(f["input_sha256"] for f in report["files"])


def test_input_hash_can_be_left_out(tmp_path):
    out = tmp_path / "out"
    photo = _plain_photo(tmp_path / "p.png")
    assert main(["anonymize", str(photo), "-o", str(out), "--no-verify", "--no-input-hash"]) == ExitCode.OK
    report = json.loads((out / "veil-report.json").read_text())
    assert report["files"][0]["input_sha256"] is None
    import hashlib

    digest = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert digest not in (out / "veil-report.json").read_text()
    assert digest not in (out / "veil-report.html").read_text()


def test_audit_names_quicktime_authors_and_custom_handler_names(tmp_path, capsys):
    path = tmp_path / "phone.mov"
    _quicktime_with_tags(path)
    assert main(["audit", str(path), "--json"]) == ExitCode.OK
    findings = json.loads(capsys.readouterr().out)["files"][0]["metadata"]["findings"]
    kinds = {f["field"].rsplit(":", 1)[-1]: f["kind"] for f in findings}
    assert kinds["com.apple.quicktime.author"] == "person"
    assert kinds["com.apple.quicktime.creationdate"] == "time"
    assert kinds["com.apple.quicktime.location.ISO6709"] == "gps"
    assert kinds["handler_name"] == "comment"  # free text in a structural slot: it can hold a name


def test_links_planted_in_the_output_folder_lead_nowhere(tmp_path, capsys):
    # A lock or journal planted as a link had its target truncated or appended to; a folder link named
    # like an output's folder had the output written outside OUTDIR.
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep").write_text("PRECIOUS")
    (tmp_path / "in" / "sub").mkdir(parents=True)
    _plain_photo(tmp_path / "in" / "a.png")
    _plain_photo(tmp_path / "in" / "sub" / "b.png")
    for name in (LOCK_NAME, ".veil-journal.jsonl"):
        out = tmp_path / f"out{name}"
        out.mkdir()
        (out / name).symlink_to(victim / "keep")
        assert main(["anonymize", str(tmp_path / "in"), "-o", str(out), "--no-verify"]) == ExitCode.FILE_ERROR
        assert "is a link" in capsys.readouterr().err
        assert (victim / "keep").read_text() == "PRECIOUS" and (out / name).is_symlink()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(victim / "sub", target_is_directory=True)
    assert main(["anonymize", str(tmp_path / "in"), "-o", str(out), "--no-verify"]) == ExitCode.FILE_ERROR
    assert "sub is a link leading out of it" in capsys.readouterr().err
    assert list((victim / "sub").iterdir()) == [] and (out / "a.png").is_file()  # the other file went on


def test_a_journal_line_never_keeps_an_output_identical_to_its_input(tmp_path, capsys):
    # A journal line edited to name the original's hash kept the original as the "anonymized" output.
    from veil.media import file_sha256

    photo = tmp_path / "p.jpg"
    shutil.copyfile(Path(__file__).parent / "data" / "face_mask" / "maksssksksss109.jpg", photo)
    out = tmp_path / "out"
    assert main(["anonymize", str(photo), "-o", str(out), "--no-verify"]) == ExitCode.OK
    journal = out / ".veil-journal.jsonl"
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    for line in lines:
        if line.get("output"):
            line.update(output_sha256=file_sha256(photo), output_size=photo.stat().st_size)
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    shutil.copyfile(photo, out / "p.jpg")
    capsys.readouterr()
    assert main(["anonymize", str(photo), "-o", str(out), "--no-verify"]) == ExitCode.OK
    assert "resuming" not in capsys.readouterr().err
    assert file_sha256(out / "p.jpg") != file_sha256(photo)


def test_a_failed_file_carries_no_hash(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.jpg").write_bytes(b"root:x:0:0:not a picture\n" * 20)
    assert main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == ExitCode.FILE_ERROR
    entry = json.loads((tmp_path / "out" / "veil-report.json").read_text())["files"][0]
    assert entry["status"] == "failed" and entry["input_sha256"] is None
