"""veil.detect.motion: global motion between frames, its reliability and its fallbacks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from veil.detect.motion import (MAX_ZOOM, Motion, estimate_motion, to_picture, transform_boxes, work_grey,
                                work_scale, zoom_of)


def _texture(h: int = 270, w: int = 480, seed: int = 0) -> np.ndarray:
    """Smooth random texture with corners to follow (uint8 grey)."""
    rng = np.random.default_rng(seed)
    low = cv2.resize(rng.uniform(0, 255, (h // 8, w // 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(40):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.rectangle(low, (x, y), (x + int(rng.integers(5, 40)), y + int(rng.integers(5, 40))),
                      float(rng.uniform(0, 255)), -1)
    return np.clip(low, 0, 255).astype(np.uint8)


def _similarity(dx: float, dy: float, angle: float = 0.0, zoom: float = 1.0, centre=(240, 135)) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, angle, zoom)
    m[:, 2] += (dx, dy)
    return np.vstack([m, [0, 0, 1]])


def _moved(grey: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(grey, matrix[:2], grey.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("dx, dy", [(0.0, 0.0), (3.0, -2.0), (0.4, 0.7), (-11.5, 6.25), (25.0, 0.0)])
def test_shifts_are_measured_to_a_tenth_of_a_pixel(dx, dy):
    prev = _texture()
    motion = estimate_motion(prev, _moved(prev, _similarity(dx, dy)))
    assert motion.reliable and motion.reason == "ok"
    assert motion.shift == pytest.approx((dx, dy), abs=0.1)
    assert motion.zoom == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("angle, zoom", [(0.8, 1.0), (-0.5, 1.02), (0.0, 0.985)])
def test_roll_and_slow_zoom_are_followed(angle, zoom):
    prev = _texture(seed=1)
    truth = _similarity(2.0, 1.0, angle, zoom)
    motion = estimate_motion(prev, _moved(prev, truth))
    assert motion.reliable
    assert np.allclose(motion.matrix, truth, atol=0.15) and motion.zoom == pytest.approx(zoom, abs=2e-3)
    # The residual after motion compensation is small where both frames see the scene.
    back = _moved(_moved(prev, truth), np.linalg.inv(motion.matrix))
    assert np.abs(back[20:-20, 20:-20].astype(int) - prev[20:-20, 20:-20]).mean() < 2.0


def test_flash_is_not_trusted():
    prev = _texture(seed=2)
    flash = np.clip(prev.astype(np.float32) * 1.8 + 20, 0, 255).astype(np.uint8)
    motion = estimate_motion(prev, flash)
    assert not motion.reliable and motion.reason == "flash"


def test_fast_zoom_is_not_trusted():
    prev = _texture(seed=3)
    motion = estimate_motion(prev, _moved(prev, _similarity(0, 0, 0, 1.0 + 2 * MAX_ZOOM)))
    assert not motion.reliable and motion.reason == "zoom"
    assert motion.zoom == pytest.approx(1.0 + 2 * MAX_ZOOM, abs=5e-3)


def test_cut_to_another_scene_is_not_trusted():
    motion = estimate_motion(_texture(seed=4), _texture(seed=5))
    assert not motion.reliable and motion.reason == "lost"


def test_untextured_frames_count_as_still_only_when_unchanged():
    flat = np.full((270, 480), 90, np.uint8)
    still = estimate_motion(flat, flat)
    assert still.reliable and still.reason == "still" and np.array_equal(still.matrix, np.eye(3))
    dimmer = flat.copy()
    dimmer[100:200, 100:300] = 60  # a shape appears on a flat wall: nothing to follow, something changed
    motion = estimate_motion(flat, dimmer)
    assert not motion.reliable


def test_unknown_motion_is_an_unreliable_identity():
    m = Motion.unknown()
    assert not m.reliable and m.reason == "first" and np.array_equal(m.matrix, np.eye(3)) and m.zoom == 1.0


def test_work_grey_and_scale():
    assert work_scale((360, 640)) == work_scale((720, 1280)) == 0.5
    assert work_scale((1080, 1920)) == pytest.approx(1 / 3) and work_scale((1920, 1080)) == pytest.approx(1 / 3)
    assert work_scale((2160, 3840)) == 0.25 and work_scale((4320, 7680)) == 0.125
    rgb = np.zeros((2160, 3840, 3), np.uint8)
    rgb[:, 1920:] = 255
    grey = work_grey(rgb)
    assert grey.shape == (540, 960) and grey.dtype == np.uint8
    assert grey[:, :470].max() == 0 and grey[:, 490:].min() == 255
    assert work_grey(rgb[:360, :640], 0.5).shape == (180, 320)
    assert work_grey(rgb[:1080, :1920]).shape == (360, 640)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 np.zeros((0, 10, 3), np.uint8)])
def test_work_grey_rejects_non_rgb8(bad):
    with pytest.raises(ValueError):
        work_grey(bad)


def test_estimate_rejects_mismatched_frames():
    with pytest.raises(ValueError):
        estimate_motion(np.zeros((10, 10), np.uint8), np.zeros((10, 12), np.uint8))
    with pytest.raises(ValueError):
        estimate_motion(np.zeros((10, 10), np.float32), np.zeros((10, 10), np.float32))


def test_inputs_not_mutated():
    prev = _texture(seed=6)
    cur = _moved(prev, _similarity(2, 3))
    a, b = prev.copy(), cur.copy()
    estimate_motion(prev, cur)
    assert np.array_equal(a, prev) and np.array_equal(b, cur)


def test_picture_conversion_and_box_transform():
    work = _similarity(5.0, -2.0, 0.0, 1.0, centre=(0, 0))
    pic = to_picture(work, 0.25)
    assert pic[0, 2] == pytest.approx(20.0) and pic[1, 2] == pytest.approx(-8.0)
    boxes = transform_boxes(np.array([[0, 0, 10, 20], [5, 5, 6, 6]], float), pic)
    assert np.allclose(boxes, [[20, -8, 30, 12], [25, -3, 26, -2]])
    rotated = transform_boxes(np.array([[-10, -10, 10, 10]], float), _similarity(0, 0, 45, 1.0, centre=(0, 0)))
    assert np.allclose(np.abs(rotated), 10 * np.sqrt(2))  # the bounding box of the rotated square
    assert zoom_of(_similarity(0, 0, 30, 1.5)) == pytest.approx(1.5)


def test_a_coarse_fit_is_tried_only_on_request_only_where_the_fine_one_fails_and_on_large_copies(monkeypatch):
    # A blurred 4K work copy (960 px: corners followed on a 480 px copy) whose corners agree only
    # within two work pixels: stand in for the one-pixel fit failing by refusing it.
    import veil.detect.motion as M

    real = M._similarity

    def fine_fails(src, dst, tolerance=M._RANSAC_PX):
        return real(src, dst, tolerance) if tolerance > M._RANSAC_PX else (None, 0)

    prev = _texture(540, 960, seed=3)
    cur = _moved(prev, _similarity(4.0, -2.0, centre=(480, 270)))
    assert estimate_motion(prev, cur, coarse=True).reason == "ok"  # the fine fit first
    monkeypatch.setattr(M, "_similarity", fine_fails)
    assert estimate_motion(prev, cur).reason == "lost"
    motion = estimate_motion(prev, cur, coarse=True)
    assert motion.reliable and motion.reason == M.COARSE
    assert motion.shift == pytest.approx((4.0, -2.0), abs=0.5)
    # 1080p's work copy (640 px): corners followed again on a 320 px copy for the coarse fit.
    hd_prev, hd_cur = prev[:360, :640], cur[:360, :640]
    motion = estimate_motion(hd_prev, hd_cur, coarse=True)
    assert motion.reliable and motion.reason == M.COARSE
    assert motion.shift == pytest.approx((4.0, -2.0), abs=0.5)
    small_prev, small_cur = prev[:180, :320], cur[:180, :320]  # 640x360's work copy: too small to halve
    assert estimate_motion(small_prev, small_cur, coarse=True).reason == "lost"
