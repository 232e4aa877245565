"""veil.detect.text and veil.detect.plates: DBNet text lines and licence plates.

Plates and words are rendered here with OpenCV's built-in Hershey fonts into
generated pictures and a tests/data photo, at several sizes and angles; the
tests check that the detector's boxes enclose the drawn glyphs.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.config import Config
from veil.detections import Kind, box_intersections
from veil.detect import (FaceDetector, PlateDetector, PlateRules, TextDetector, default_plate_detector,
                         default_text_detector)
from veil.detect import onnx as onnx_mod
from veil.detect.plates import MERGE_MAX_SPREAD, merge_overlapping
from veil.detect.text import grow_quads, merge_boxes, quad_boxes
from veil.models import text_detector_onnx_path

from synthetic_text import PHOTO, background, draw, needs_model


def covered(dets, box) -> float:
    """Share of ``box``'s pixels inside the union of ``dets``' boxes."""
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = np.zeros((y1, x1), bool)
    for bx0, by0, bx1, by1 in dets.xyxy:
        mask[int(np.floor(by0)):int(np.ceil(by1)), int(np.floor(bx0)):int(np.ceil(bx1))] = True
    return float(mask[y0:y1, x0:x1].mean())


@pytest.fixture(scope="module")
def text_det() -> TextDetector:
    return TextDetector()


@pytest.fixture(scope="module")
def plate_det() -> PlateDetector:
    return PlateDetector()


# ------------------------------------------------------------------ import, protocol, model path
def test_import_loads_no_model():
    code = ("import sys, veil.detect as d; from veil.config import Config; d.TextDetector(); d.PlateDetector(); "
            "d.default_plate_detector(Config()); d.default_text_detector(Config()); "
            "print('onnxruntime' in sys.modules, 'rapidocr_onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_protocol_and_factories():
    for det in (TextDetector(), PlateDetector(), default_plate_detector(Config()), default_text_detector(Config())):
        assert isinstance(det, FaceDetector)
    assert default_text_detector(Config(tiles=False)).upscale is None
    assert default_plate_detector(Config(tiles=False)).text.upscale is None
    assert default_plate_detector(Config()).text.upscale == PlateDetector().text.upscale


@needs_model
def test_model_path_without_importing_rapidocr():
    code = ("import sys; from veil.models import text_detector_onnx_path as p; "
            "print(p().name, p().is_file(), 'rapidocr_onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ch_PP-OCRv4_det_infer.onnx", "True", "False"]


def test_missing_package_is_a_model_error(monkeypatch):
    from veil.errors import ModelError
    from veil import models

    real = importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a))
    with pytest.raises(ModelError, match="rapidocr-onnxruntime"):
        text_detector_onnx_path()


# ------------------------------------------------------------------ text
@needs_model
@pytest.mark.parametrize("height, angle", [(10, 0), (16, 12), (24, -25), (40, 30)])
def test_text_found_and_glyphs_enclosed(text_det, height, angle):
    rgb, glyphs = draw(background(), "Exit 42", height=height, angle=angle, center=(200, 150), plate=False)
    dets = text_det.detect(rgb)
    assert covered(dets, glyphs) >= 0.98
    assert np.all(dets.kind == Kind.TEXT)
    assert np.all((dets.scores >= 0) & (dets.scores <= 1))
    assert np.isnan(dets.landmarks).all()
    # boxes stay inside the picture and do not swallow it
    assert dets.xyxy.min() >= 0 and np.all(dets.xyxy[:, 2] <= 400) and np.all(dets.xyxy[:, 3] <= 300)
    assert (dets.widths * dets.heights).sum() < 0.3 * 400 * 300


@needs_model
def test_text_in_photo(text_det):
    photo = np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1])
    h, w = photo.shape[:2]
    rgb, glyphs = draw(photo, "ID 88213", height=14, angle=-8, center=(w * 0.3, h * 0.8), plate=False)
    assert covered(text_det.detect(rgb), glyphs) >= 0.98


@needs_model
def test_input_not_mutated_and_read_only_ok(text_det):
    rgb, _ = draw(background(), "EXIT", height=20, angle=0, center=(200, 150), plate=False)
    before = rgb.copy()
    rgb.setflags(write=False)
    a = text_det.detect(rgb)
    assert np.array_equal(rgb, before)
    b = text_det.detect(np.ascontiguousarray(before))
    assert np.array_equal(a.xyxy, b.xyxy)


@needs_model
def test_blank_picture_has_no_text(text_det, plate_det):
    for rgb in (np.zeros((64, 64, 3), np.uint8), np.full((1, 1, 3), 200, np.uint8), background(120, 90)):
        assert len(text_det.detect(rgb)) == 0
        assert len(plate_det.detect(rgb)) == 0


# ------------------------------------------------------------------ plates
@needs_model
@pytest.mark.parametrize("height, angle", [(12, 0), (20, 15), (36, -20), (56, 8)])
def test_plate_found_and_covered(plate_det, height, angle):
    rgb, plate = draw(background(seed=1), "KA 02 N 6852", height=height, angle=angle, center=(200, 150), plate=True)
    dets = plate_det.detect(rgb)
    assert covered(dets, plate) >= 0.9
    assert np.all(dets.kind == Kind.PLATE)
    assert np.all((dets.scores >= 0) & (dets.scores <= 1))
    assert np.isnan(dets.landmarks).all()


@needs_model
@pytest.mark.slow
def test_small_plates_in_1080p_frame(plate_det):
    """Plates 11-12 px high in a 1920x1080 frame: found by the magnified tiles only."""
    frame = cv2.resize(np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1]), (1920, 1080))
    targets = []
    for i, (x, y, h, a) in enumerate([(300, 900, 12, 0), (1000, 700, 11, 10), (1600, 950, 12, -15)]):
        frame, box = draw(frame, ["MH12 DE", "LX09 MZJ", "B 4471"][i], height=h, angle=a, center=(x, y), plate=True)
        targets.append(box)
    assert len(plate_det.text.tiles(frame.shape)) > 0
    dets = plate_det.detect(frame)
    assert [covered(dets, box) >= 0.8 for box in targets] == [True] * 3
    assert np.all(dets.kind == Kind.PLATE)


@needs_model
def test_plate_in_photo(plate_det):
    photo = np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1])
    h, w = photo.shape[:2]
    rgb, plate = draw(photo, "AB12 CDE", height=18, angle=6, center=(w * 0.7, h * 0.85), plate=True)
    assert covered(plate_det.detect(rgb), plate) >= 0.9


def test_plate_rules_select_plate_shapes():
    def rect(cx, cy, w, h, angle):
        return cv2.boxPoints(((cx, cy), (w, h), angle))

    quads = np.stack([rect(100, 100, 80, 20, 0),     # plate line
                      rect(100, 100, 80, 20, 60),    # tilted too far
                      rect(100, 100, 20, 20, 0),     # one character, or a two-line plate's group
                      rect(100, 100, 900, 30, 0),    # long sentence
                      rect(100, 100, 400, 200, 0)])  # huge lettering (picture 300 px high)
    assert PlateRules().select(quads, (300, 1000, 3)).tolist() == [True, False, True, False, False]
    assert PlateRules(min_aspect=1.5).select(quads, (300, 1000, 3)).tolist() == [True, False, False, False, False]
    assert PlateRules().select(np.zeros((0, 4, 2)), (10, 10, 3)).shape == (0,)


def test_plates_from_quads_grows_and_labels():
    det = PlateDetector(grow_height=0.5, grow_length=1.0)
    line = cv2.boxPoints(((200, 100), (80, 20), 0))[None]
    dets = det.plates_from_quads(line, [0.9], (300, 400, 3))
    assert len(dets) == 1 and dets.kind[0] == Kind.PLATE
    np.testing.assert_allclose(dets.xyxy[0], [200 - 40 - 20, 100 - 10 - 10, 200 + 40 + 20, 100 + 10 + 10], atol=1e-3)
    assert det.plates_from_quads(np.zeros((0, 4, 2)), [], (10, 10, 3)).kind.shape == (0,)
    # a two-row plate's lines (and groups of one row) come out as one box
    rows = np.stack([cv2.boxPoints(((200, 100), (40, 12), 0)), cv2.boxPoints(((200, 116), (40, 12), 0)),
                     cv2.boxPoints(((250, 100), (30, 12), 0))])
    one = det.plates_from_quads(rows, [0.9, 0.8, 0.7], (300, 400, 3))
    assert len(one) == 1 and one.scores[0] == pytest.approx(0.9)


# ------------------------------------------------------------------ geometry and decoding
def test_grow_quads_along_own_axes():
    q = cv2.boxPoints(((50, 40), (60, 10), 30))[None]
    g = grow_quads(q, height=0.5, length=0.25)
    (cx, cy), (w, h), _ = cv2.minAreaRect(g[0])
    assert (cx, cy) == pytest.approx((50, 40), abs=1e-3)
    assert sorted((w, h)) == pytest.approx([20, 65], abs=1e-3)  # 10 + 2*0.5*10, 60 + 2*0.25*10
    assert grow_quads(np.zeros((0, 4, 2))).shape == (0, 4, 2)


def test_text_max_height_share_keeps_signage():
    lines = np.stack([cv2.boxPoints(((100, 50), (200, 40), 0)), cv2.boxPoints(((100, 150), (60, 8), 10))])
    shape = (300, 400, 3)
    assert len(TextDetector().boxes_from_quads(lines, [0.9, 0.8], shape)) == 2
    kept = TextDetector(max_height_share=0.05).boxes_from_quads(lines, [0.9, 0.8], shape)
    assert len(kept) == 1 and kept.xyxy[0, 1] > 100  # the 40 px line (13% of the height) is left
    assert kept.kind.tolist() == [Kind.TEXT]


def test_quad_boxes_clip():
    q = np.array([[[-5, 2], [20, 2], [20, 30], [-5, 30]]], np.float32)
    assert quad_boxes(q, (25, 15)).tolist() == [[0, 2, 15, 25]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(1, 30), st.integers(1, 30),
                          st.floats(0, 1)), min_size=0, max_size=12))
def test_merge_boxes_never_covers_less(boxes):
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in boxes], np.float32).reshape(-1, 4)
    scores = np.array([s for *_, s in boxes], np.float32)
    merged, best = merge_boxes(xyxy, scores)
    assert len(merged) <= len(xyxy) and len(best) == len(merged)

    def mask(b):
        m = np.zeros((90, 90), bool)
        for x0, y0, x1, y1 in b.astype(int):
            m[y0:y1, x0:x1] = True
        return m

    assert not (mask(xyxy) & ~mask(merged)).any()
    if len(best):
        assert set(best.tolist()) <= set(scores.tolist())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(1, 30), st.integers(1, 30),
                          st.floats(0, 1)), min_size=0, max_size=12))
def test_merge_overlapping_leaves_unions_that_would_not_spread_further(boxes):
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in boxes], np.float32).reshape(-1, 4)
    for spread in (np.inf, MERGE_MAX_SPREAD):
        merged, best = merge_overlapping(xyxy, [s for *_, s in boxes], max_spread=spread)
        m = merged.astype(np.float64)
        inter, area, _ = box_intersections(m, m)
        np.fill_diagonal(inter, 0)
        hull = np.prod(np.maximum(m[:, None, 2:], m[None, :, 2:]) - np.minimum(m[:, None, :2], m[None, :, :2]), axis=2)
        assert not ((inter > 0) & (hull <= spread * (area[:, None] + area[None, :] - inter))).any()
        assert len(best) == len(merged)
        for b in xyxy:  # every input box lies inside one output box
            assert np.any((merged[:, 0] <= b[0]) & (merged[:, 1] <= b[1]) & (merged[:, 2] >= b[2])
                          & (merged[:, 3] >= b[3]))


def test_a_plates_rows_merge_and_lines_touching_corner_to_corner_do_not():
    rows = [[100, 50, 160, 62], [100, 60, 160, 72]]  # a two-row plate's rows, grown: one box
    merged, _ = merge_overlapping(rows, [0.9, 0.8])
    assert merged.tolist() == [[100, 50, 160, 72]]
    chain = [[0, 0, 60, 12], [55, 10, 115, 22], [110, 20, 170, 32]]  # lines of signage, stepping down
    merged, best = merge_overlapping(chain, [0.5, 0.9, 0.7])
    assert len(merged) == 3 and sorted(best.tolist()) == pytest.approx([0.5, 0.7, 0.9])
    merged, _ = merge_overlapping(chain, [0.5, 0.9, 0.7], max_spread=np.inf)  # every overlap merges
    assert merged.tolist() == [[0, 0, 170, 32]]


def test_decode_unclips_kernel():
    prob = np.zeros((100, 200), np.float32)
    prob[45:55, 50:150] = 0.9  # a 100 x 10 kernel
    quads, scores = TextDetector.decode(prob, threshold=0.5, unclip=1.6)
    assert len(quads) == 1 and 0.75 < scores[0] <= 0.9  # mean over the dilated rectangle
    (_, _), (w, h), _ = cv2.minAreaRect(quads[0])
    d = 100 * 10 * 1.6 / (2 * (100 + 10))  # the kernel's rectangle, grown by A * r / L
    assert sorted((w, h)) == pytest.approx(sorted((10 + 2 * d, 100 + 2 * d)), abs=1.5)
    assert len(TextDetector.decode(prob * 0.5, threshold=0.5)[0]) == 0  # below the pixel threshold


# ------------------------------------------------------------------ invalid inputs
@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                 np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8),
                                 [[0, 0, 0]], None])
def test_invalid_pictures_raise(bad):
    for det in (TextDetector(), PlateDetector()):
        with pytest.raises(ValueError):
            det.detect(bad)


@pytest.mark.parametrize("kwargs", [dict(threshold=0), dict(threshold=1.5), dict(pixel_threshold=1),
                                    dict(unclip=-1), dict(grow=-0.1), dict(min_side=2000, max_side=1000),
                                    dict(max_height_share=0), dict(max_height_share=2),
                                    dict(upscale=0), dict(upscale=float("nan")), dict(overlap=2000)])
def test_invalid_text_options(kwargs):
    with pytest.raises(ValueError):
        TextDetector(**kwargs)


@pytest.mark.parametrize("kwargs", [dict(grow_height=-1), dict(grow_length=9), dict(rules="strict"),
                                    dict(threshold=2)])
def test_invalid_plate_options(kwargs):
    with pytest.raises(ValueError):
        PlateDetector(**kwargs)


def test_invalid_rules():
    for kwargs in (dict(min_aspect=5, max_aspect=2), dict(max_tilt=100), dict(max_height_share=0)):
        with pytest.raises(ValueError):
            PlateRules(**kwargs)


def test_invalid_scale(text_det):
    with pytest.raises(ValueError):
        text_det.quads(np.zeros((8, 8, 3), np.uint8), scale=0)


# ------------------------------------------------------------------ no network, threads
@needs_model
def test_no_socket_opened_while_loading_and_detecting(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(onnx_mod, "_CACHE", {})  # load the network again, under the guard
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    rgb, plate = draw(background(), "KA 02 N 6852", height=24, angle=0, center=(200, 150), plate=True)
    assert text_detector_onnx_path().is_file()
    assert len(TextDetector().detect(rgb)) >= 1
    assert covered(PlateDetector().detect(rgb), plate) >= 0.9
    assert len(onnx_mod._CACHE) == 1  # one network for both kinds


@needs_model
def test_threads_share_one_detector(plate_det):
    rgb, _ = draw(background(seed=2), "LX09 MZJ", height=22, angle=5, center=(200, 150), plate=True)
    expected = plate_det.detect(rgb).xyxy
    results = [None] * 3

    def work(i):
        results[i] = plate_det.detect(rgb).xyxy

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)


@needs_model
def test_calls_side_by_side_find_the_same_plates_and_text():
    import concurrent.futures

    from veil.detect.kinds import OtherKinds

    frame = cv2.resize(np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1]), (1024, 768))
    for text, x, y in (("MH12 DE", 200, 600), ("LX09 MZJ", 800, 200), ("B 4471", 520, 700)):
        frame, _ = draw(frame, text, height=14, angle=0, center=(x, y), plate=True)
    other = OtherKinds(("plates", "text"), threads=1)
    assert len(other.text.tiles(frame.shape)) > 1
    serial = other.detect(frame)
    windows = [(0, 0, 512, 400), (400, 300, 1024, 768)]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        parallel = other.detect(frame, pool=pool)
        np.testing.assert_array_equal(parallel.xyxy, serial.xyxy)
        np.testing.assert_array_equal(parallel.kind, serial.kind)
        np.testing.assert_array_equal(other.detect_windows(frame, windows, pool=pool).xyxy,
                                      other.detect_windows(frame, windows).xyxy)
    assert np.sum(serial.kind == Kind.PLATE) >= 3
