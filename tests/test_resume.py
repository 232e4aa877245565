"""Resume (issue 16): a run killed with SIGKILL mid-folder or mid-video reruns to complete
outputs and one whole report; the journal skips what was done with the same input and
settings, and holds nothing the report may not."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from veil.cli import main
from veil.errors import ExitCode
from veil.media.atomic import TEMP_PREFIX
from veil.scale.journal import JOURNAL_NAME

from synthetic_video import write_clip


def _veil(*args) -> subprocess.Popen:
    env = dict(os.environ, ORT_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "veil.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def _photo(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def _journal(out: Path) -> list[dict]:
    lines = (out / JOURNAL_NAME).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _report(out: Path) -> dict:
    return json.loads((out / "veil-report.json").read_text())


def _kill_when_a_video_is_written(run: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 240
    while not (out.exists() and any(p.suffix == ".mp4" for p in _temporaries(out))):
        assert run.poll() is None, run.communicate()[1].decode()
        assert time.monotonic() < deadline, "no temporary video output appeared"
        time.sleep(0.01)
    run.kill()  # SIGKILL: nothing can clean up
    run.communicate(timeout=60)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=30)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_folder_killed_mid_video_resumes_to_whole_outputs_and_one_report(tmp_path, clip, jobs, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _photo(src / "a.png", 1)
    _photo(src / "b.png", 2)
    (src / "c.mp4").write_bytes(clip.read_bytes())
    _photo(src / "d.png", 3)
    out = tmp_path / "out"
    args = [src, "-o", out, "--no-verify", "--threads", "1", "--jobs", jobs]
    _kill_when_a_video_is_written(_veil("anonymize", *args), out)
    assert not (out / "c.mp4").exists()  # a worker (--jobs) removes its temporary as its parent dies
    first = {e["output"]: e for e in _journal(out) if "output" in e}
    assert set(first) <= {"a.png", "b.png", "d.png"} and "a.png" in first
    before = {name: (out / name).stat().st_ino for name in first}

    assert main(["anonymize", *map(str, args)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert f"resuming: {len(first)} of 4 files already done" in err
    assert _temporaries(out) == []
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        ["a.png", "b.png", "c.mp4", "d.png", "veil-report.html", "veil-report.json"]
    for name, inode in before.items():  # skipped, not rewritten
        assert (out / name).stat().st_ino == inode
    report = _report(out)
    assert report["resumed"] == len(first)
    assert [f["input"] for f in report["files"]] == ["a.png", "b.png", "c.mp4", "d.png"]
    assert report["summary"]["ok"] == 4 and report["summary"]["files"] == 4
    by_name = {f["input"]: f for f in report["files"]}
    for name, line in first.items():
        assert by_name[name] == line["entry"]  # the entry as written when it was done
    assert by_name["c.mp4"]["frames"] == 30
    html = (out / "veil-report.html").read_text()
    assert "journal" in html and "c.mp4" in html
    # A third run does nothing again.
    assert main(["anonymize", *map(str, args)]) == ExitCode.OK
    assert "resuming: 4 of 4 files already done" in capsys.readouterr().err


def test_a_single_video_killed_mid_way_is_redone_whole(tmp_path, clip):
    out = tmp_path / "out"
    _kill_when_a_video_is_written(_veil("anonymize", clip, "-o", out, "--no-verify", "--threads", "1"), out)
    assert [e for e in _journal(out) if "output" in e] == []
    assert main(["anonymize", str(clip), "-o", str(out), "--no-verify", "--threads", "1"]) == ExitCode.OK
    assert _temporaries(out) == []
    report = _report(out)
    assert "resumed" not in report and report["files"][0]["status"] == "ok"
    with av.open(str(out / "clip.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30


def _photos(folder: Path, n: int = 3, suffix: str = ".png") -> list[Path]:
    folder.mkdir()
    return [_photo(folder / f"p{i}{suffix}", i) for i in range(n)]


def test_a_changed_setting_or_input_redoes_that_file(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    photos = _photos(src)
    base = ["anonymize", str(src), "-o", str(out), "--no-verify"]
    assert main(base) == ExitCode.OK
    assert main(base + ["--mode", "noise"]) == ExitCode.OK  # new settings: every file again
    assert "resumed" not in _report(out)
    assert main(base + ["--mode", "noise"]) == ExitCode.OK
    assert _report(out)["resumed"] == 3
    _photo(photos[1], 99)  # a changed input
    capsys.readouterr()
    assert main(base + ["--mode", "noise"]) == ExitCode.OK
    assert "resuming: 2 of 3" in capsys.readouterr().err
    report = _report(out)
    assert report["resumed"] == 2
    digest = hashlib.sha256(photos[1].read_bytes()).hexdigest()
    assert {f["input"]: f["input_sha256"] for f in report["files"]}["p1.png"] == digest
    # --threads changes no output: still resumed.
    assert main(base + ["--mode", "noise", "--threads", "1"]) == ExitCode.OK
    assert _report(out)["resumed"] == 3


# A value other than the default for each; a photo must come out byte for byte as with the defaults.
_VIDEO_ONLY = {"tile_every": 3, "scan": "full", "reuse_repeats": False, "pad_frames": 9, "audio": "keep", "crf": 30,
               "preset": "slow", "residual_every": 3, "segment_seconds": 5.0, "kinds_every": 4}


def test_video_only_settings_change_no_photo():
    # What lets a resumed run keep its photos when only these change: they change nothing in a photo.
    import dataclasses
    import tempfile

    from veil.config import VIDEO_ONLY_FIELDS, Config
    from veil.pipeline import anonymize_file

    assert set(_VIDEO_ONLY) == set(VIDEO_ONLY_FIELDS)
    src = Path(__file__).parent / "data" / "face_mask" / "maksssksksss343.jpg"

    def untimed(value):  # times and the output's own path differ from run to run
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if k not in ("timings", "elapsed_ms", "output")}
        return [untimed(v) for v in value] if isinstance(value, list) else value

    def run(config, dst):
        report = untimed(anonymize_file(src, dst, config).to_dict(input_hash=True))
        return dst.read_bytes(), report

    base = Config(cover=("faces", "plates", "text"), seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        expected = run(base, Path(tmp) / "a.jpg")
        assert expected[1]["faces"]  # a photo with a face, verified
        for field, value in _VIDEO_ONLY.items():
            assert value != getattr(base, field)
            assert run(dataclasses.replace(base, **{field: value}), Path(tmp) / f"{field}.jpg") == expected, field


def test_a_video_only_setting_keeps_the_photos_and_redoes_the_videos(tmp_path, clip, capsys):
    import shutil

    src, out = tmp_path / "in", tmp_path / "out"
    _photos(src)
    shutil.copy(clip, src / "clip.mp4")
    base = ["anonymize", str(src), "-o", str(out), "--no-verify"]
    assert main(base) == ExitCode.OK
    assert main(base + ["--crf", "30"]) == ExitCode.OK
    report = _report(out)
    assert report["resumed"] == 3 and not next(f for f in report["files"] if f["input"] == "clip.mp4").get("resumed")
    assert main(base + ["--crf", "30"]) == ExitCode.OK
    assert _report(out)["resumed"] == 4
    page = (out / "veil-report.html").read_text()
    assert '<b>4</b>done by an earlier run' in page and page.count("not redone") == 4
    assert main(base + ["--crf", "30", "--mode", "noise"]) == ExitCode.OK  # a setting photos have: all again
    assert "resumed" not in _report(out)


def test_a_changed_or_missing_output_is_redone(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    _photos(src)
    base = ["anonymize", str(src), "-o", str(out), "--no-verify"]
    assert main(base) == ExitCode.OK
    (out / "p0.png").unlink()
    data = bytearray((out / "p1.png").read_bytes())
    data[-20] ^= 0xFF  # same size, other bytes
    (out / "p1.png").write_bytes(bytes(data))
    assert main(base) == ExitCode.OK
    assert _report(out)["resumed"] == 1
    assert (out / "p0.png").is_file()


def test_restart_ignores_the_journal_and_later_runs_resume_from_it(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    _photos(src)
    base = ["anonymize", str(src), "-o", str(out), "--no-verify"]
    assert main(base) == ExitCode.OK
    inode = (out / "p0.png").stat().st_ino
    assert main(base + ["--restart"]) == ExitCode.OK
    assert "resumed" not in _report(out) and (out / "p0.png").stat().st_ino != inode
    assert {"restart": True} in _journal(out)
    capsys.readouterr()
    assert main(base) == ExitCode.OK
    assert "resuming: 3 of 3" in capsys.readouterr().err


def test_a_journal_that_cannot_be_closed_costs_the_resume_not_the_report(tmp_path, capsys, monkeypatch):
    # The disk fills up by the journal's last flush: every output and the report are in place.
    from veil.scale.journal import Journal

    src, out = tmp_path / "in", tmp_path / "out"
    _photos(src)

    close = Journal.close

    def full(self):
        close(self)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "close", full)
    assert main(["anonymize", str(src), "-o", str(out), "--no-verify"]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "cannot finish the run's journal: No space left on device" in err and "Traceback" not in err
    assert _report(out)["summary"]["ok"] == 3


def test_a_line_cut_by_a_kill_is_ignored(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    _photos(src)
    base = ["anonymize", str(src), "-o", str(out), "--no-verify"]
    assert main(base) == ExitCode.OK
    with open(out / JOURNAL_NAME, "a") as f:
        f.write('{"rel": "p0.png", "output": "p0.png", "inp')  # SIGKILL mid-line
    (out / "p0.png").unlink()
    assert main(base) == ExitCode.OK
    assert _report(out)["resumed"] == 2
    last = (out / JOURNAL_NAME).read_text().splitlines()[-1]
    assert json.loads(last)["output"] == "p0.png"  # the next line starts afresh


def test_the_journal_holds_nothing_the_report_may_not(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    src = tmp_path / "Jane Doe's photos"
    photos = _photos(src, suffix=".jpg")  # re-encoded: no output equals its input
    out = tmp_path / "out"
    base = ["anonymize", str(src), "-o", str(out), "--no-verify", "--no-input-hash"]
    assert main(base) == ExitCode.OK
    text = (out / JOURNAL_NAME).read_text()
    assert str(tmp_path) not in text and "Jane Doe" not in text
    for photo in photos:  # without input hashes, no plain hash of an input either
        assert hashlib.sha256(photo.read_bytes()).hexdigest() not in text
    assert (tmp_path / "state" / "veil" / "journal.key").stat().st_mode & 0o077 == 0
    assert main(base) == ExitCode.OK
    assert _report(out)["resumed"] == 3
    # With hashes on, entries made without them are not reused (their report entries differ).
    assert main(base[:-1]) == ExitCode.OK
    assert "resumed" not in _report(out)
