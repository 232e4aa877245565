"""veil.detect.plates.plate_rim: a plate line grown to the plate's rectangle by its colour.

The case it is for: a short word on a wide plate ("TAXI"), where growth by the
line's height stops short of the plate's ends. Pictures are generated here.
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from veil.detect import PlateDetector
from veil.detect.plates import plate_rim

needs_model = pytest.mark.skipif(importlib.util.find_spec("rapidocr_onnxruntime") is None,
                                 reason="rapidocr-onnxruntime (the text detector's weights) is not installed")


def wide_plate(word: str = "TAXI", *, plate=(115, 128, 305, 168), body: int = 45, seed: int = 0):
    """A dark car body (softly noisy) with a white plate (dark rim) holding a short ``word`` in its
    middle; returns the picture, the plate's xyxy and the word line's quad."""
    rng = np.random.default_rng(seed)
    rgb = np.clip(body + rng.normal(0, 3, (300, 420, 3)), 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = plate
    cv2.rectangle(rgb, (x0, y0), (x1 - 1, y1 - 1), (235, 235, 230), -1)
    cv2.rectangle(rgb, (x0, y0), (x1 - 1, y1 - 1), (30, 30, 30), 2)
    (tw, th), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    cv2.putText(rgb, word, (cx - tw // 2, cy + th // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (20, 20, 20), 2, cv2.LINE_AA)
    pad = 4  # DBNet's unclipped line reaches a little past the glyphs
    lx0, ly0, lx1, ly1 = cx - tw // 2 - pad, cy - th // 2 - pad, cx + tw // 2 + pad, cy + th // 2 + pad
    quad = np.array([[lx0, ly0], [lx1, ly0], [lx1, ly1], [lx0, ly1]], np.float32)
    return rgb, np.array(plate, np.float32), quad


def share_inside(xyxy, box) -> float:
    """Share of ``box`` inside the union of the ``xyxy`` boxes."""
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = np.zeros((y1, x1), bool)
    for bx0, by0, bx1, by1 in np.asarray(xyxy).reshape(-1, 4):
        mask[int(np.floor(by0)):int(np.ceil(by1)), int(np.floor(bx0)):int(np.ceil(bx1))] = True
    return float(mask[y0:y1, x0:x1].mean())


def test_rim_finds_the_wide_plate_around_a_short_word():
    rgb, plate, quad = wide_plate()
    before = rgb.copy()
    box = plate_rim(rgb, quad)
    np.testing.assert_array_equal(rgb, before)  # input never modified
    assert box is not None and box.dtype == np.float32
    assert share_inside(box, plate) >= 0.85  # all but the plate's 2 px dark frame
    # and no further than the plate: its frame is dark like the body
    assert box[0] >= plate[0] - 3 and box[2] <= plate[2] + 3 and box[1] >= plate[1] - 3 and box[3] <= plate[3] + 3


@pytest.mark.parametrize("colour", [(235, 235, 230), (230, 190, 20), (25, 25, 25)])
def test_rim_for_white_yellow_and_dark_plates(colour):
    rgb, plate, quad = wide_plate(body=120)
    x0, y0, x1, y1 = plate.astype(int)
    inner = rgb[y0 + 2:y1 - 2, x0 + 2:x1 - 2]
    ink = inner.mean(axis=2) < 100
    inner[:] = colour
    inner[ink] = (240, 240, 240) if sum(colour) < 200 else (20, 20, 20)
    box = plate_rim(rgb, quad)
    assert box is not None and share_inside(box, plate) >= 0.85


def test_rim_leaking_into_the_body_is_dropped():
    """A region of the plate's colour that is no rectangle (here a diagonal band joined to
    the plate) is not a plate: no box, the line's own growth stands."""
    rgb, plate, quad = wide_plate()
    band = np.zeros(rgb.shape[:2], np.uint8)
    cv2.line(band, (0, 300), (420, 0), 1, 8)
    rgb[band.astype(bool)] = (235, 235, 230)
    cv2.rectangle(rgb, tuple(int(v) for v in plate[:2]), tuple(int(v) - 1 for v in plate[2:]), (235, 235, 230), 2)
    assert plate_rim(rgb, quad, min_fill=0.6) is None


def test_rim_of_a_surface_of_the_plates_colour_is_none():
    """A plate the colour of the whole body around it ends nowhere inside the search
    window: no box (the line's own growth stands), never the window itself."""
    rgb, _, quad = wide_plate()
    rgb[:] = (235, 235, 230)
    cv2.putText(rgb, "TAXI", (170, 160), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (20, 20, 20), 2, cv2.LINE_AA)
    assert plate_rim(rgb, quad) is None


def test_rim_of_a_plate_cut_by_the_pictures_edge():
    """The picture's edge is not the window's: a plate cut by it is still found."""
    rgb, plate, quad = wide_plate()
    shift = int(plate[0]) + 20  # the plate's left 20 px lie outside the picture
    cut = np.ascontiguousarray(rgb[:, shift:])
    box = plate_rim(cut, quad - [shift, 0])
    visible = np.array([0, plate[1], plate[2] - shift, plate[3]])
    assert box is not None and box[0] == 0 and share_inside(box, visible) >= 0.85


@pytest.mark.parametrize("reach", [(0, 1), (2, -1), (np.nan, 1), (1,)])
def test_rim_rejects_bad_reach(reach):
    rgb, _, quad = wide_plate()
    with pytest.raises(ValueError):
        plate_rim(rgb, quad, reach=reach)


def test_rim_rejects_a_non_picture():
    _, _, quad = wide_plate()
    with pytest.raises(ValueError):
        plate_rim(np.zeros((10, 10), np.uint8), quad)


@pytest.mark.parametrize("quad", [np.zeros((4, 2)), np.array([[-50, -50], [-40, -50], [-40, -45], [-50, -45]])])
def test_rim_of_a_degenerate_or_outside_line_is_none(quad):
    rgb, _, _ = wide_plate()
    assert plate_rim(rgb, quad) is None


def test_plates_from_quads_rejects_a_picture_of_another_shape():
    rgb, _, quad = wide_plate()
    with pytest.raises(ValueError):
        PlateDetector().plates_from_quads(quad[None], [0.9], (100, 100, 3), rgb=rgb)


def test_plates_from_quads_uses_the_rim_only_with_the_picture():
    rgb, plate, quad = wide_plate()
    det = PlateDetector()
    without = det.plates_from_quads(quad[None], [0.9], rgb.shape)
    with_rim = det.plates_from_quads(quad[None], [0.9], rgb.shape, rgb=rgb)
    off = PlateDetector(rim=False).plates_from_quads(quad[None], [0.9], rgb.shape, rgb=rgb)
    assert share_inside(without.xyxy, plate) < 0.8  # growth by the line's height falls short
    np.testing.assert_array_equal(off.xyxy, without.xyxy)
    assert len(with_rim) == 1 and share_inside(with_rim.xyxy, plate) >= 0.85
    assert with_rim.scores[0] == pytest.approx(0.9)


@needs_model
@pytest.mark.parametrize("word", ["TAXI", "GOOD"])
def test_detector_covers_a_short_word_on_a_wide_plate(word):
    rgb, plate, _ = wide_plate(word)
    assert share_inside(PlateDetector().detect(rgb).xyxy, plate) >= 0.9
    assert share_inside(PlateDetector(rim=False).detect(rgb).xyxy, plate) < 0.8


@needs_model
def test_the_pipelines_plate_pass_uses_the_rim():
    """``--cover plates`` runs plates through OtherKinds (one text pass for both kinds): it
    hands the picture on, so the wide plate is covered there too."""
    from veil.detect.kinds import OtherKinds

    rgb, plate, _ = wide_plate("TAXI")
    assert share_inside(OtherKinds(["plates"]).detect(rgb).xyxy, plate) >= 0.9
