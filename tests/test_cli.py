"""End-to-end: the ``veil`` command in-process, on real fixtures and bad inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from veil.cli import main
from veil.scale.journal import JOURNAL_NAME
from veil.errors import ExitCode
from veil.media.atomic import TEMP_PREFIX


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> list[str]:
    """Files under ``root``, less the run journal (hidden: veil's own, see docs/REPORT.md)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != JOURNAL_NAME)


def _report(outdir: Path) -> dict:
    return json.loads((outdir / "veil-report.json").read_text())


# -- usage --------------------------------------------------------------------
def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("veil ")


@pytest.mark.parametrize("argv", [[], ["anonymize"], ["anonymize", "x.jpg"], ["frobnicate"],
                                  ["anonymize", "x.jpg", "-o", "o", "--mode", "smudge"],
                                  ["anonymize", "x.jpg", "-o", "o", "--threshold", "7"],
                                  ["anonymize", "x.jpg", "-o", "o", "--jobs", "0"],
                                  ["anonymize", "x.jpg", "-o", "o", "--threads", "0"],
                                  ["anonymize", "x.jpg", "-o", "o", "--residual-every", "0"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.strip(), "a usage error says why"


# -- photos -------------------------------------------------------------------
def test_photo_end_to_end(tmp_path, face_photo, capsys):
    src = tmp_path / "in" / face_photo.name
    src.parent.mkdir()
    shutil.copy(face_photo, src)
    before = _sha(src)
    out = tmp_path / "out"
    code = main(["anonymize", str(src.parent), "-o", str(out), "--no-verify", "--json"])
    assert code == ExitCode.OK, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["files"] == 1 and summary["ok"] == 1 and summary["faces"] >= 1
    assert _sha(src) == before
    result = out / face_photo.name
    assert result.is_file()
    report = _report(out)
    assert report["schema"] == "veil-report/1"
    entry = report["files"][0]
    assert entry["status"] == "ok" and entry["input_sha256"] == before
    assert entry["faces"] >= 1
    # Every reported region is changed in the output.
    original = np.asarray(Image.open(src).convert("RGB"), np.int16)
    anonymized = np.asarray(Image.open(result).convert("RGB"), np.int16)
    from veil.region import union_mask
    for box in entry["regions"]["boxes"]:
        mask = union_mask(np.array([box]), entry["regions"]["shape"], *original.shape[:2])
        diff = np.abs(original - anonymized).max(axis=2)[mask]
        assert (diff > 8).mean() > 0.9
    assert "veil" not in json.dumps(report["files"][0]["regions"])  # geometry only


@pytest.mark.parametrize("setting", [["--threshold", "0.99"], ["--min-face", "5000"]])
def test_settings_that_leave_faces_uncovered_are_never_verified(tmp_path, face_photo, capsys, setting):
    # The residual check looks with veil's default detection, whatever found the faces: a face the
    # run's own settings skipped is a possible missed face (exit 3), never "verified".
    src = tmp_path / "in" / face_photo.name
    src.parent.mkdir()
    shutil.copy(face_photo, src)
    code = main(["anonymize", str(src.parent), "-o", str(tmp_path / "out"), *setting, "--json"])
    assert code == ExitCode.LEAK, capsys.readouterr().err
    entry = _report(tmp_path / "out")["files"][0]
    assert entry["faces"] == 0 and entry["verification"]["counts"]["residual"] >= 1


def test_cover_without_faces_warns_that_faces_stay_visible(tmp_path, face_photo, capsys):
    pytest.importorskip("rapidocr_onnxruntime", reason="the text detector's weights are not installed")
    src = tmp_path / "in" / face_photo.name
    src.parent.mkdir()
    shutil.copy(face_photo, src)
    assert main(["anonymize", str(src.parent), "-o", str(tmp_path / "out"), "--cover", "text"]) == ExitCode.OK
    assert "leaves every face uncovered and unchecked" in capsys.readouterr().err
    assert any("uncovered and unchecked" in w for w in _report(tmp_path / "out")["summary"]["warnings"])


def test_folder_tree_mirrored_and_non_media_skipped(tmp_path, data_dir):
    src = tmp_path / "photos"
    (src / "a" / "b").mkdir(parents=True)
    shutil.copy(data_dir / "face_mask" / "maksssksksss109.jpg", src / "a" / "one.jpg")
    shutil.copy(data_dir / "face_mask" / "maksssksksss230.jpg", src / "a" / "b" / "two.jpeg")
    (src / "notes.txt").write_text("not a picture")
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out), "--no-verify", "--masks"]) == ExitCode.OK
    files = _tree(out)
    assert "a/one.jpg" in files and "a/b/two.jpeg" in files
    assert "masks/a/one.jpg.png" in files and "masks/a/b/two.jpeg.png" in files
    assert not any(f.endswith(".txt") for f in files)
    assert _report(out)["summary"]["skipped"] == 1
    mask = np.asarray(Image.open(out / "masks" / "a" / "one.jpg.png"))
    assert mask.shape == np.asarray(Image.open(out / "a" / "one.jpg")).shape[:2]
    assert set(np.unique(mask)) <= {0, 255} and mask.max() == 255


def test_output_inside_input_folder_is_not_reprocessed(tmp_path, face_photo):
    src = tmp_path / "photos"
    src.mkdir()
    shutil.copy(face_photo, src / "p.jpg")
    out = src / "anon"
    assert main(["anonymize", str(src), "-o", str(out), "--no-verify"]) == 0
    assert main(["anonymize", str(src), "-o", str(out), "--no-verify"]) == 0
    assert _tree(out) == ["p.jpg", "veil-report.html", "veil-report.json"] or _tree(out) == ["p.jpg", "veil-report.json"]


def test_a_file_named_twice_is_anonymized_once(tmp_path, face_photo):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(face_photo, src / "a.jpg")
    out = tmp_path / "out"
    assert main(["anonymize", str(src / "a.jpg"), str(src), str(src / "a.jpg"), "-o", str(out), "--no-verify"]) == 0
    assert [f["input"] for f in _report(out)["files"]] == ["a.jpg"]


def test_refuses_to_overwrite_input(tmp_path, face_photo, capsys):
    src = tmp_path / "p.jpg"
    shutil.copy(face_photo, src)
    before = _sha(src)
    # The output folder is the input's: refused before anything is written (no report, no journal there).
    assert main(["anonymize", str(src), "-o", str(tmp_path), "--no-verify"]) == ExitCode.USAGE
    assert "holds the inputs" in capsys.readouterr().err
    assert _sha(src) == before and [p.name for p in tmp_path.iterdir()] == ["p.jpg"]
    assert main(["anonymize", str(tmp_path), "-o", str(tmp_path), "--no-verify"]) == ExitCode.USAGE
    assert [p.name for p in tmp_path.iterdir()] == ["p.jpg"]


def test_no_input_found_is_a_usage_error_that_writes_nothing(tmp_path, face_photo, capsys):
    out = tmp_path / "out"
    assert main(["anonymize", str(tmp_path / "typo.jpg"), "-o", str(out)]) == ExitCode.USAGE
    assert "no such file or folder" in capsys.readouterr().err and not out.exists()
    assert main(["anonymize", str(tmp_path / "a.jpg"), str(tmp_path / "b"), "-o", str(out)]) == ExitCode.USAGE
    assert "nor 1 more" in capsys.readouterr().err and not out.exists()
    shutil.copy(face_photo, tmp_path / "c.jpg")  # one of them there: it runs, the missing one fails alone
    assert main(["anonymize", str(tmp_path / "a.jpg"), str(tmp_path / "c.jpg"), "-o", str(out),
                 "--no-verify"]) == ExitCode.FILE_ERROR
    assert [f["status"] for f in _report(out)["files"]] == ["failed", "ok"]


# -- bad inputs: fail closed, one line, others go on ---------------------------
def _bad_inputs(folder: Path, face_photo: Path) -> dict[str, bytes]:
    good = face_photo.read_bytes()
    bad = {
        "empty.jpg": b"",
        "truncated.jpg": good[: len(good) // 3],
        "text.jpg": b"hello, this is not a picture\n",
        "text.mp4": b"hello, this is not a video either\n" * 10,
    }
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    return bad


def test_bad_inputs_fail_clearly_and_others_continue(tmp_path, face_photo, capsys):
    src = tmp_path / "in"
    src.mkdir()
    bad = _bad_inputs(src, face_photo)
    shutil.copy(face_photo, src / "good.jpg")
    before = {p.name: _sha(p) for p in src.iterdir()}
    out = tmp_path / "out"
    inputs = [str(src / name) for name in sorted(bad)] + [str(src / "good.jpg")]
    code = main(["anonymize", *inputs, "-o", str(out), "--no-verify"])
    assert code == ExitCode.FILE_ERROR
    err_lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("veil: report")]
    for name in bad:
        lines = [line for line in err_lines if name in line]
        assert len(lines) == 1, (name, err_lines)
        assert not (out / name).exists()
    assert (out / "good.jpg").is_file()
    assert {p.name: _sha(p) for p in src.iterdir()} == before
    assert not any(p.name.startswith(TEMP_PREFIX) for p in out.rglob("*"))
    report = _report(out)
    assert report["summary"]["failed"] == len(bad) and report["summary"]["ok"] == 1
    assert all("\n" not in f.get("error", "") for f in report["files"])


def test_a_folder_run_reads_what_it_can_and_says_what_it_left_out(tmp_path, face_photo, capsys, monkeypatch):
    # An unreadable file or subfolder fails alone (the run goes on); links to folders are followed,
    # once; hidden photos and folders are left out with a warning, never silently.
    import os

    from veil.errors import MediaError
    from veil.media import sniff

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "locked").mkdir()
    (src / ".hidden").mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for where in (src / "ok.jpg", src / "sub" / "deep.jpg", src / "bad.jpg", src / ".x.jpg", outside / "linked.jpg",
                  src / "locked" / "gone.jpg", src / ".hidden" / "h.jpg"):
        shutil.copy(face_photo, where)
    (src / ".DS_Store").write_bytes(b"\0")
    (src / "link").symlink_to(outside, target_is_directory=True)
    (src / "sub" / "loop").symlink_to(src, target_is_directory=True)
    real_kind, real_scandir = sniff.media_kind, os.scandir

    def media_kind(path):  # root reads a chmod 000 file anyway: say it as the OS would
        if Path(path).name == "bad.jpg":
            raise MediaError(f"cannot read {Path(path).name}: Permission denied")
        return real_kind(path)

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(sniff, "media_kind", media_kind)
    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "out"
    code = main(["anonymize", str(src), "-o", str(out), "--no-verify"])
    err = capsys.readouterr().err
    assert code == ExitCode.FILE_ERROR, err
    assert (out / "ok.jpg").is_file() and (out / "sub" / "deep.jpg").is_file() and (out / "link" / "linked.jpg").is_file()
    assert not (out / "bad.jpg").exists() and not (out / ".x.jpg").exists() and not (out / "locked").exists()
    assert "bad.jpg: cannot read" in err and "locked: folder cannot be read: Permission denied" in err
    report = _report(out)
    failed = {f["input"] for f in report["files"] if f["status"] == "failed"}
    assert failed == {"bad.jpg", "locked"}, failed
    warnings = " ".join(report["summary"]["warnings"])
    assert "left out 2 hidden files or folders" in warnings and ".DS_Store" not in warnings
    assert "link to a folder read already" in warnings and str(tmp_path) not in json.dumps(report)


def test_a_file_system_refusal_names_no_absolute_path(tmp_path, face_photo, capsys):
    # A PNG named *.j comes out as *.png: past 255 bytes, the file system refuses the name.
    # The failure is that file's alone, one line, and neither it nor the report holds a /path.
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    Image.open(face_photo).save(src / ("z" * 252 + ".j"), format="PNG")
    shutil.copy(face_photo, src / "ok.jpg")
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out), "--no-verify"]) == ExitCode.FILE_ERROR
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if not x.startswith("veil: report:")]  # stderr may name OUTDIR there
    assert any("zzz" in x and "File name too long" in x for x in lines), lines
    assert str(tmp_path) not in "\n".join(lines)
    assert (out / "ok.jpg").is_file() and str(tmp_path) not in (out / "veil-report.json").read_text()
    assert str(tmp_path) not in (out / "veil-report.html").read_text()


def test_a_file_warning_names_its_file(tmp_path, face_photo, capsys):
    # A phone's MPO JPEG holds a second picture: only the main one is written, and the run says
    # which file held more (a warning without its file's name sends the user through every file).
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    with Image.open(face_photo) as im:
        im.convert("RGB").save(src / "two.jpg", format="MPO", save_all=True, append_images=[im.convert("RGB").rotate(180)])
    shutil.copy(face_photo, src / "one.jpg")
    assert main(["anonymize", str(src), "-o", str(tmp_path / "out"), "--no-verify"]) == ExitCode.OK
    warnings = _report(tmp_path / "out")["summary"]["warnings"]
    assert warnings == ["two.jpg: the file held 1 further picture (a preview, depth map or second view); only the "
                        "main picture was anonymized and written"]
    assert "warning: two.jpg: the file held 1 further picture" in capsys.readouterr().err


def test_decompression_bomb_refused(tmp_path, capsys, monkeypatch):
    src = tmp_path / "big.png"
    Image.new("L", (5000, 5000)).save(src)
    from veil import cli

    parser_defaults = cli._config_from  # max-pixels is not a CLI flag: lower it under the CLI
    monkeypatch.setattr(cli, "_config_from", lambda args: parser_defaults(args).replace(max_pixels=1_000_000))
    code = main(["anonymize", str(src), "-o", str(tmp_path / "out"), "--no-verify"])
    assert code == ExitCode.FILE_ERROR
    assert "big.png" in capsys.readouterr().err
    assert not (tmp_path / "out" / "big.png").exists()


def test_interrupted_write_leaves_no_output(tmp_path, face_photo, monkeypatch):
    import veil.media.image as image_io

    real = image_io.write_image

    def crash(path, pixels, **kw):
        real(path, pixels, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(image_io, "write_image", crash)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        from veil.config import Config
        from veil.pipeline import anonymize_file
        anonymize_file(face_photo, out / "p.jpg", Config(verify=False))
    assert _tree(out) == [] if out.exists() else True


# -- video --------------------------------------------------------------------
def _synthetic_video(path: Path, face: np.ndarray, *, frames=24, size=(320, 240), rate=Fraction(30000, 1001)):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            canvas = np.full((size[1], size[0], 3), 90, np.uint8)
            x = 20 + i * 4
            canvas[40:40 + face.shape[0], x:x + face.shape[1]] = face
            frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def face_crop(data_dir):
    image = Image.open(data_dir / "face_mask" / "maksssksksss343.jpg").convert("RGB")
    import xml.etree.ElementTree as ET
    box = ET.parse(data_dir / "face_mask" / "maksssksksss343.xml").find("object/bndbox")
    x1, y1, x2, y2 = (int(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
    w, h = x2 - x1, y2 - y1
    crop = image.crop((x1 - w // 3, y1 - h // 3, x2 + w // 3, y2 + h // 4)).resize((110, 130))
    return np.asarray(crop)


def test_video_end_to_end_keeps_frames_and_timestamps(tmp_path, face_crop):
    import av

    src = tmp_path / "clip.mp4"
    _synthetic_video(src, face_crop)
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out), "--no-verify", "--masks"]) == 0
    result = out / "clip.mp4"

    def frames_of(path):
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            return [(f.pts, f.width, f.height) for f in c.decode(s)], s.time_base, len(c.streams.audio)

    a, tb_a, _ = frames_of(src)
    b, tb_b, audio = frames_of(result)
    assert len(b) == len(a) == 24
    assert [p * tb_b for p, _, _ in b] == [p * tb_a for p, _, _ in a]
    assert {(w, h) for _, w, h in b} == {(320, 240)}
    assert audio == 0
    masks = sorted((out / "masks" / "clip.mp4").iterdir())
    assert len(masks) == 24 and masks[0].name == "0.png"
    entry = _report(out)["files"][0]
    assert entry["frames"] == 24 and entry["faces"] >= 1
    covered = sum(1 for k in entry["regions"]["by_frame"])
    assert covered == 24, "the face is covered on every frame"


def test_content_decides_over_name(tmp_path, face_photo):
    src = tmp_path / "photo.mp4"
    Image.open(face_photo).save(src, format="PNG")
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out), "--no-verify"]) == ExitCode.OK
    assert (out / "photo.png").is_file() and not (out / "photo.mp4").exists()


def test_jobs_run_files_in_parallel_processes(tmp_path, data_dir):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("maksssksksss109.jpg", "maksssksksss343.jpg"):
        shutil.copy(data_dir / "face_mask" / name, src / name)
    (src / "broken.jpg").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out), "--jobs", "2", "--no-verify"]) == ExitCode.FILE_ERROR
    report = _report(out)
    assert report["summary"]["ok"] == 2 and report["summary"]["failed"] == 1
    assert (out / "maksssksksss109.jpg").is_file() and not (out / "broken.jpg").exists()


def test_frames_detected_in_parallel_give_the_same_tracks_and_regions(tmp_path, face_crop):
    from veil.config import Config
    from veil.detect import detector_for
    from veil.track.scan import scan_video

    src = tmp_path / "clip.mp4"
    _synthetic_video(src, face_crop, frames=12)
    config = Config(verify=False)
    one = scan_video(src, config, detector_for(config), workers=1)
    three = scan_video(src, config, detector_for(config, single=True), workers=3)
    assert len(one.raw) == len(three.raw) == 12
    for a, b in zip(one.raw, three.raw):  # raw detections, frame by frame, in order
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    for a, b in zip(one.tracked.frames, three.tracked.frames):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
        assert a.track_id.tolist() == b.track_id.tolist()


def test_a_detector_failing_on_one_frame_fails_the_video_and_writes_nothing(tmp_path, face_crop, monkeypatch):
    from veil.config import Config
    from veil.detect import MultiScaleDetector
    from veil.pipeline import anonymize_file

    src = tmp_path / "clip.mp4"
    _synthetic_video(src, face_crop, frames=12)
    calls = []
    real = MultiScaleDetector.full_pass  # every scan, planned or whole, runs it

    def flaky(self, rgb, **kw):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("boom")
        return real(self, rgb, **kw)

    monkeypatch.setattr(MultiScaleDetector, "full_pass", flaky)
    out = tmp_path / "out"
    out.mkdir()
    report = anonymize_file(src, out / "clip.mp4", Config(verify=False, threads=2))
    assert report.status == "failed" and "boom" in report.error
    assert list(out.iterdir()) == []


def test_tile_every_runs_tiles_on_every_nth_frame_and_the_other_passes_on_all(tmp_path, face_crop, monkeypatch):
    from veil.config import Config
    from veil.detect import MultiScaleDetector
    from veil.detect import detector_for
    from veil.track.scan import scan_video

    src = tmp_path / "clip.mp4"
    _synthetic_video(src, face_crop, frames=12)
    seen = []
    real = MultiScaleDetector.passes

    def spy(self, rgb, *, tiles=None):
        out = real(self, rgb, tiles=tiles)
        seen.append([p.name for p in out])
        return out

    monkeypatch.setattr(MultiScaleDetector, "passes", spy)
    config = Config(verify=False, tile_every=4, threads=1)
    scan = scan_video(src, config, detector_for(config), workers=1)
    raw, tracked = scan.raw, scan.tracked
    assert len(seen) == len(raw) == 12
    with_tiles = [i for i, names in enumerate(seen) if "tiles" in names]
    assert with_tiles == [0, 4, 8]  # one shot: no shot change adds any
    assert all({"full", "coarse"} <= set(names) for names in seen)
    assert all(len(d) for d in tracked.frames), "the face is covered on every frame"


@pytest.mark.parametrize("trigger, second_looks", [(None, 0), (36, 12), (10, 16)])
def test_tile_every_runs_the_skipped_tiles_where_the_tiles_find_small_faces(tmp_path, face_crop, monkeypatch,
                                                                             trigger, second_looks):
    from veil.config import Config
    from veil.detect import MultiScaleDetector
    from veil.detect import detector_for
    from veil.track.scan import scan_video

    src = tmp_path / "clip.mp4"
    _synthetic_video(src, face_crop, frames=40)  # 320x240: chunks of 16 frames
    keys, tile_calls = [], []
    real_small, real_tiles = MultiScaleDetector.tiles_only_small, MultiScaleDetector.tile_pass

    def small(self, shape, passes, merged):  # called on the frames whose tiles ran, in order
        keys.append(2 * len(keys))
        real_small(self, shape, passes, merged)
        return int(keys[-1] == trigger)

    def tiles(self, rgb, **kw):
        tile_calls.append(1)
        return real_tiles(self, rgb, **kw)

    monkeypatch.setattr(MultiScaleDetector, "tiles_only_small", small)
    monkeypatch.setattr(MultiScaleDetector, "tile_pass", tiles)
    config = Config(verify=False, tile_every=2, threads=1)
    raw = scan_video(src, config, detector_for(config), workers=1).raw
    assert len(raw) == 40 and len(keys) == 20
    # A small face on frame 36 (chunk 32-39): the skipped tiles of chunks 16-31
    # and 32-39 run; on frame 10 (chunk 0-15): those of chunks 0-15 and 16-31.
    assert len(tile_calls) == 20 + second_looks


def test_tile_every_with_small_faces_everywhere_gives_what_tiles_on_every_frame_give(tmp_path, face_crop,
                                                                                     monkeypatch):
    from veil.config import Config
    from veil.detect import MultiScaleDetector
    from veil.detect import detector_for
    from veil.track.scan import scan_video

    src = tmp_path / "clip.mp4"
    _synthetic_video(src, face_crop, frames=20)
    monkeypatch.setattr(MultiScaleDetector, "tiles_only_small", lambda self, shape, passes, merged: 1)
    every = Config(verify=False, threads=2, scan="full")
    dense = scan_video(src, every, detector_for(every, single=True), workers=2).raw
    sparse = Config(verify=False, threads=2, tile_every=2)
    raw = scan_video(src, sparse, detector_for(sparse, single=True), workers=2).raw
    assert len(raw) == len(dense) == 20
    for a, b in zip(raw, dense):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_the_input_folder_under_another_name_is_refused_too(tmp_path, face_photo):
    # A bind mount (or a case-insensitive file system) names one folder twice: compared by name, the
    # inputs were overwritten by their anonymized copies.
    import subprocess

    src, alias = tmp_path / "src", tmp_path / "alias"
    src.mkdir(), alias.mkdir()
    shutil.copy(face_photo, src / "a.jpg")
    before = _sha(src / "a.jpg")
    if subprocess.run(["mount", "--bind", str(src), str(alias)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here (needs root in a mount namespace)")
    try:
        assert main(["anonymize", str(src), "-o", str(alias), "--no-verify"]) == ExitCode.USAGE
        assert main(["anonymize", str(src / "a.jpg"), "-o", str(alias), "--no-verify"]) == ExitCode.USAGE
        assert _sha(src / "a.jpg") == before and sorted(p.name for p in src.iterdir()) == ["a.jpg"]
    finally:
        subprocess.run(["umount", str(alias)], check=True)


def test_photos_put_in_an_output_folder_inside_the_input_are_named_not_skipped_silently(tmp_path, face_photo,
                                                                                         capsys):
    # The input folder's walk leaves its output folder out (veil's own outputs are there): a photo a
    # person put there was never anonymized, without a word.
    src = tmp_path / "in"
    (src / "out").mkdir(parents=True)
    shutil.copy(face_photo, src / "a.jpg")
    shutil.copy(face_photo, src / "out" / "y.jpg")
    assert main(["anonymize", str(src), "-o", str(src / "out"), "--no-verify"]) == 0
    err = capsys.readouterr().err
    assert "holds 1 photo or video file veil did not write (e.g. y.jpg)" in err
    assert any("y.jpg" in w for w in _report(src / "out")["summary"]["warnings"])
    (src / "out" / "y.jpg").unlink()
    assert main(["anonymize", str(src), "-o", str(src / "out"), "--no-verify"]) == 0  # its own outputs: no word
    assert "did not write" not in capsys.readouterr().err


def test_a_usage_error_found_after_the_output_folder_was_made_leaves_none(tmp_path, face_photo, capsys):
    shutil.copy(face_photo, tmp_path / "a.jpg")
    out = tmp_path / "new-out"
    assert main(["anonymize", str(tmp_path / "a.jpg"), "-o", str(out), "--edits", str(tmp_path / "none.json")]) == 2
    assert "not found" in capsys.readouterr().err and not out.exists()
    out.mkdir()  # a folder the person made is theirs: kept
    assert main(["anonymize", str(tmp_path / "a.jpg"), "-o", str(out), "--edits", str(tmp_path / "none.json")]) == 2
    assert out.is_dir() and not any(out.iterdir())


def test_inputs_that_hold_no_photo_or_video_are_a_usage_error_and_write_nothing(tmp_path, capsys):
    # An empty or typo'd folder ran "0 files ... not verified", exit 0, and wrote a report.
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    for folder in ("empty", "notes"):
        out = tmp_path / f"out-{folder}"
        assert main(["anonymize", str(tmp_path / folder), "-o", str(out)]) == ExitCode.USAGE
        assert "no photo or video found in the inputs" in capsys.readouterr().err
        assert not out.exists()
