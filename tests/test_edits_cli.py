"""`veil anonymize --edits`: a person's edits applied through the pipeline, matched by SHA-256."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from veil.cli import main
from veil.errors import ExitCode

PHOTO = "maksssksksss230.jpg"  # five faces


@pytest.fixture(scope="module")
def photo(photo_run):
    """The shared photo run: (input, output folder, its report entry)."""
    out = photo_run / "out"
    entry = json.loads((out / "veil-report.json").read_text())["files"][0]
    return photo_run / "in" / PHOTO, out, entry


def _edits(entry: dict, **file) -> dict:
    from veil.config import Config
    from veil.edits import detection_settings

    body = {"kind": "image", "relative_path": entry["relative_path"]}
    body.update(file)
    return {"schema": "veil-edits/1", "detection": detection_settings(Config()), "files": {entry["input_sha256"]: body}}


def _dark(path, box) -> float:
    """Share of near-black pixels in ``box`` of a picture (fill mode covers with black)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("L"), np.int16)[y1:y2, x1:x2]
    return float((pixels < 24).mean())


def test_photo_edits_remove_leave_visible_and_draw(photo, tmp_path, capsys):
    src, _, entry = photo
    dets = entry["regions"]["detections"]
    assert len(dets) >= 3
    drawn = [5, 5, 45, 45]
    edits = _edits(entry,
                   removed=[{"detection": 0, "box": dets[0]["box"]}],
                   left_visible=[{"detection": 1, "box": dets[1]["box"]}],
                   reviewed=[{"detection": 2, "box": dets[2]["box"]}],
                   added=[{"id": "a1", "shape": "box", "keyframes": [{"frame": 0, "box": drawn}]}])
    path = tmp_path / "veil-edits.json"
    path.write_text(json.dumps(edits))
    out = tmp_path / "out"
    code = main(["anonymize", str(src), "-o", str(out), "--edits", str(path)])
    assert code in (ExitCode.OK, ExitCode.LEAK), capsys.readouterr().err
    report = json.loads((out / "veil-report.json").read_text())["files"][0]
    result = out / PHOTO
    assert _dark(result, dets[0]["box"]) < 0.3  # removed: shown as it was
    assert _dark(result, dets[1]["box"]) < 0.3  # left visible
    assert _dark(result, dets[2]["box"]) > 0.9  # still covered
    assert _dark(result, drawn) > 0.95  # drawn: covered as drawn
    review = report["review"]
    assert review["counts"] == {"reviewed": 1, "removed": 1, "left_visible": 1, "extended": 0, "added": 1}
    assert review["left_visible"][0]["note"].startswith("left visible by a person")
    assert report["regions"]["detections"] == dets  # what the detector found, before the edits
    assert report["faces"] == len(dets) - 2 + 1
    verification = report["verification"]
    assert verification["counts"]["faces"] == len(dets) - 2  # the drawn region is covered, not measured
    assert verification["counts"]["left_visible"] == 1
    # A person's decisions are not flagged as missed faces, but listed with the reason.
    assert not verification["residual"]
    assert {r["reason"].split(":")[0] for r in verification["excused"]} <= {
        "left visible by a person", "removed by a person as a false detection"}
    assert len(verification["excused"]) >= 1
    with Image.open(result) as a, Image.open(src) as b:
        assert a.size == b.size


def test_edits_for_another_version_of_the_file_are_refused(photo, tmp_path, capsys):
    src, _, entry = photo
    edits = _edits(entry, removed=[{"detection": 0, "box": entry["regions"]["detections"][0]["box"]}])
    other = dict(edits, files={hashlib.sha256(b"another file").hexdigest(): edits["files"][entry["input_sha256"]]})
    path = tmp_path / "veil-edits.json"
    path.write_text(json.dumps(other))
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out), "--edits", str(path)]) == ExitCode.FILE_ERROR
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if PHOTO in line and "another version" in line]
    assert len(lines) == 1
    assert not (out / PHOTO).exists()


def test_edits_that_name_another_face_fail_the_file(photo, tmp_path, capsys):
    src, _, entry = photo
    box = entry["regions"]["detections"][0]["box"]
    moved = [box[0] + 30, box[1], box[2] + 30, box[3]]
    path = tmp_path / "veil-edits.json"
    path.write_text(json.dumps(_edits(entry, removed=[{"detection": 0, "box": moved}])))
    out = tmp_path / "out"
    assert main(["anonymize", str(src), "-o", str(out), "--edits", str(path)]) == ExitCode.FILE_ERROR
    assert "det:0 lies elsewhere now" in capsys.readouterr().err
    assert not (out / PHOTO).exists()


def test_edits_for_other_detection_settings_are_a_usage_error(photo, tmp_path, capsys):
    src, _, entry = photo
    path = tmp_path / "veil-edits.json"
    path.write_text(json.dumps(_edits(entry)))
    code = main(["anonymize", str(src), "-o", str(tmp_path / "out"), "--edits", str(path), "--threshold", "0.4"])
    assert code == ExitCode.USAGE
    assert "threshold" in capsys.readouterr().err
    path.write_text("{}")
    assert main(["anonymize", str(src), "-o", str(tmp_path / "out"), "--edits", str(path)]) == ExitCode.USAGE


def test_edits_for_files_not_given_are_warned_about(photo, tmp_path, capsys):
    src, _, entry = photo
    edits = _edits(entry)
    edits["files"][hashlib.sha256(b"x").hexdigest()] = {"kind": "video", "relative_path": "elsewhere.mp4"}
    path = tmp_path / "veil-edits.json"
    path.write_text(json.dumps(edits))
    assert main(["anonymize", str(src), "-o", str(tmp_path / "out"), "--edits", str(path), "--no-verify"]) == 0
    assert "entries for 1 file that are not among the inputs" in capsys.readouterr().err
