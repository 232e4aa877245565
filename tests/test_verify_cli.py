"""Verification in the pipeline, ``veil verify`` and ``veil audit`` end to end."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from veil.cli import main
from veil.config import Config
from veil.errors import ExitCode
from veil.pipeline import anonymize_file


def _numbers_in_lists(value, longest=0):
    """Longest list of numbers anywhere in a JSON value (pixels would be long)."""
    if isinstance(value, dict):
        return max([longest] + [_numbers_in_lists(v) for v in value.values()])
    if isinstance(value, list):
        numeric = sum(isinstance(v, (int, float)) for v in value)
        return max([longest, numeric] + [_numbers_in_lists(v) for v in value])
    return longest


def test_fill_output_verified_and_report_has_no_pixels(tmp_path, face_photo):
    out = tmp_path / "out"
    assert main(["anonymize", str(face_photo), "-o", str(out)]) == ExitCode.OK
    report = json.loads((out / "veil-report.json").read_text())
    assert report["summary"]["verdict"] == "verified"
    v = report["files"][0]["verification"]
    assert v["verdict"] == "pass" and v["counts"]["faces"] >= 1
    face = v["faces"][0]
    assert face["distance"] > v["threshold"] and face["margin"] > 0
    assert face["strongest_attack"]
    assert _numbers_in_lists(report) <= 16, "the report holds geometry and scores, never pixels"


def test_weak_blur_is_escalated_until_it_passes(tmp_path, face_photo):
    report = anonymize_file(face_photo, tmp_path / "p.jpg", Config(mode="blur", blur_strength=0.01))
    assert report.ok
    record = report.verification
    steps = record.escalations[0]
    assert steps, "the leaking face was re-rendered stronger"
    assert str(steps[0]).endswith(")") and "leak" in str(steps[0])
    assert not record.verdicts[0].leaks and record.verdict == "pass"
    face = record.to_dict()["faces"][0]
    assert face["escalation"] == [str(s) for s in steps] and not face["leaks"]
    assert any("reversible" in w for w in report.warnings)


class _SkipLargest:
    """A detector that deliberately misses the largest face."""

    def __init__(self):
        from veil.detect import CenterFace

        self.inner = CenterFace(threshold=0.2)

    def detect(self, rgb):
        dets = self.inner.detect(rgb)
        if len(dets) == 0:
            return dets
        keep = np.ones(len(dets), bool)
        keep[int(np.argmax(dets.widths))] = False
        return dets[keep]


def test_skipped_face_is_caught_by_the_residual_check(tmp_path, face_photo):
    report = anonymize_file(face_photo, tmp_path / "p.jpg", Config(), detector=_SkipLargest())
    assert report.ok
    assert report.verification.verdict == "leak"
    assert report.verification.residual, "the uncovered face is reported with its box"
    assert report.verification.to_dict()["residual"][0]["box"]


def test_verify_copy_of_original_leaks(tmp_path, face_photo, capsys):
    copy = tmp_path / "copy.jpg"
    shutil.copy(face_photo, copy)
    assert main(["verify", str(face_photo), str(copy)]) == ExitCode.LEAK
    assert "LEAK" in capsys.readouterr().err


def test_verify_veil_output_passes_json(tmp_path, face_photo, capsys):
    out = tmp_path / "out"
    assert main(["anonymize", str(face_photo), "-o", str(out), "--no-verify"]) == 0
    capsys.readouterr()
    assert main(["verify", str(face_photo), str(out / face_photo.name), "--json"]) == ExitCode.OK
    record = json.loads(capsys.readouterr().out)
    assert record["verification"]["verdict"] == "pass"
    assert record["verification"]["faces"][0]["distances"], "every attack's distance is reported"


def test_verify_bad_input_is_a_file_error(tmp_path, face_photo, capsys):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"nope")
    assert main(["verify", str(face_photo), str(bad)]) == ExitCode.FILE_ERROR
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# -- audit --------------------------------------------------------------------
def _with_gps(src: Path, dst: Path) -> None:
    image = Image.open(src)
    exif = image.getexif()
    exif[0x010F] = "VeilTestCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    image.save(dst, exif=exif)


def test_audit_finds_gps_and_device(tmp_path, face_photo, capsys):
    src = tmp_path / "gps.jpg"
    _with_gps(face_photo, src)
    assert main(["audit", str(src), "--json"]) == ExitCode.OK
    result = json.loads(capsys.readouterr().out)["files"][0]
    kinds = {f["kind"] for f in result["metadata"]["findings"]}
    assert {"gps", "device"} <= kinds
    assert result["risk"] == "high"
    assert result["counts"]["faces"] >= 1 and result["faces"][0]["level"] == "high"


def test_audit_rotated_phone_video(tmp_path, capsys):
    import av

    path = tmp_path / "phone.mov"
    with av.open(str(path), "w") as c:
        c.metadata.update({"creation_time": "2026-05-01T10:00:00Z", "location": "+48.8584+002.2945/",
                           "make": "Apple", "model": "iPhone 15"})
        s = c.add_stream("libx264", rate=Fraction(30))
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        s.set_display_rotation(90)
        for i in range(10):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((96, 160, 3), i * 20, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    assert main(["audit", str(path), "--json"]) == ExitCode.OK
    result = json.loads(capsys.readouterr().out)["files"][0]
    fields = {f["kind"]: f for f in result["metadata"]["findings"]}
    assert "gps" in fields and "time" in fields and "device" in fields
    assert any(f["field"] == "display rotation" for f in result["metadata"]["findings"])
    assert result["media"]["rotation"] in (90, -90, 270)


def test_audit_never_writes(tmp_path, face_photo, capsys):
    src = tmp_path / "a.jpg"
    shutil.copy(face_photo, src)
    main(["audit", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]
    assert "a.jpg" in capsys.readouterr().out
