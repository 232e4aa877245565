"""Change looks for plates and text between full looks (``veil.detect.changewatch``): what is new
or changed is looked at on its own frame; what stood still is not; unfollowed motion asks for a
full look; a held box stays where a wrong link would take it. Inputs are generated here."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from veil.cli import main
from veil.detect.changewatch import ChangeWatch
from veil.detect.motion import Motion
from veil.detect.scanwindows import held_by
from veil.detections import Detections, Kind, Source
from veil.track.kinds import hold_with_camera
from veil.track.linker import TrackResult, TrackSummary

from synthetic_video import write_frames
from synthetic_text import background, draw, needs_model


STILL = Motion(np.eye(3), True, "ok")


def _scene(h: int = 360, w: int = 640, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (5, 5), 0)


def _holds(windows, box) -> bool:
    return bool(windows) and bool(held_by(np.asarray([box], float), windows)[0])


def test_nothing_new_nothing_to_look_at_and_the_input_is_not_changed():
    frame = _scene()
    watch = ChangeWatch(frame.shape, margin=48)
    grey = watch.grey(frame)
    before = grey.copy()
    watch.full(0, grey)
    for t in range(1, 5):
        assert watch.windows(t, watch.grey(frame), STILL) == []
    noisy = np.clip(frame.astype(int) + np.random.default_rng(0).integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
    assert watch.windows(5, watch.grey(noisy), STILL) == []  # compression-like noise is no change
    assert np.array_equal(grey, before)


def test_what_appears_is_looked_at_on_its_frame_with_the_margin_and_then_known():
    frame = _scene()
    watch = ChangeWatch(frame.shape, margin=48)
    watch.full(0, watch.grey(frame))
    later = frame.copy()
    later[200:220, 300:380] = 255  # a plate appears
    windows = watch.windows(1, watch.grey(later), STILL)
    assert windows and _holds(windows, (300 - 40, 200 - 40, 380 + 40, 220 + 40))
    assert all(x1 - x0 < 640 and y1 - y0 < 360 for x0, y0, x1, y1 in windows)  # not the whole frame
    watch.looked(1, windows)
    assert watch.windows(2, watch.grey(later), STILL) == []  # looked at: known as it is now
    # It leaves again: its place changed against the look that saw it.
    assert _holds(watch.windows(3, watch.grey(frame), STILL), (300, 200, 380, 220))


def test_a_pan_brings_in_a_strip_and_the_known_scene_moves_with_the_camera():
    wide = _scene(360, 900)
    watch = ChangeWatch((360, 640), margin=48)
    watch.full(0, watch.grey(wide[:, :640].copy()))
    step = 12  # picture pixels a frame, the view moving right: content moves left
    moved = Motion(np.array([[1.0, 0, -step * watch.scale], [0, 1.0, 0], [0, 0, 1.0]]), True, "ok")
    total = []
    for t in range(1, 8):
        view = wide[:, t * step:t * step + 640].copy()
        windows = watch.windows(t, watch.grey(view), moved)
        assert windows is not None
        for x0, y0, x1, y1 in windows:
            assert x0 >= 640 - 48 - 64  # only at the right edge, where the scene enters
        watch.looked(t, windows)
        total += windows
    assert total  # the entering strip was looked at


def test_a_shaking_pan_brings_in_two_edges_as_two_thin_windows_not_the_whole_frame():
    wide = _scene(400, 700)
    watch = ChangeWatch((360, 640), margin=48)
    watch.full(0, watch.grey(wide[20:380, 0:640].copy()))
    # The view moves 12 px right and 9 px up: new content along the right and the top edge.
    moved = Motion(np.array([[1.0, 0, -12 * watch.scale], [0, 1.0, 9 * watch.scale], [0, 0, 1.0]]), True, "ok")
    windows = watch.windows(1, watch.grey(wide[11:371, 12:652].copy()), moved)
    assert windows is not None and len(windows) >= 2
    assert sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in windows) < 0.5 * 640 * 360
    assert any(x0 >= 640 - 128 for x0, y0, x1, y1 in windows) and any(y1 <= 128 for x0, y0, x1, y1 in windows)


def test_motion_not_followed_or_too_much_change_asks_for_a_full_look():
    frame = _scene()
    watch = ChangeWatch(frame.shape, margin=48)
    assert watch.windows(0, watch.grey(frame), STILL) is None  # no full look yet
    watch.full(0, watch.grey(frame))
    assert watch.windows(1, watch.grey(frame), Motion(np.eye(3), False, "lost")) is None
    watch.full(1, watch.grey(frame))
    assert watch.windows(2, watch.grey(_scene(seed=2)), STILL) is None  # another picture


@pytest.mark.parametrize("bad", [dict(margin=-1), dict(margin=8, change_levels=0), dict(margin=8, full_share=0),
                                 dict(margin=8, quantum=0)])
def test_invalid_options(bad):
    with pytest.raises(ValueError):
        ChangeWatch((90, 160), **bad)


# ------------------------------------------------------------------ holding boxes between looks
def _plate(x: float, track: int = 0) -> Detections:
    return Detections([[x, 50.0, x + 40.0, 62.0]], kind=[Kind.PLATE], track_id=[track],
                      source=[int(Source.DETECTED)])


def _result(frames: list[Detections]) -> TrackResult:
    n = len(frames)
    track = TrackSummary(id=0, first=0, last=n - 1, detected=list(range(n)), interpolated=[], padded=[],
                         max_width=40.0, kind=Kind.PLATE)
    return TrackResult(frames=frames, tracks=[track], cuts=[])


def test_a_box_stays_held_when_the_tracker_links_it_to_another_change_look():
    # A standing plate (frame 0) that the tracker linked to a plate a change look found far away.
    linked = _result([_plate(10.0)] + [_plate(300.0) for _ in range(1, 10)])
    held = hold_with_camera(linked, None, 12, frame_size=(400, 100))
    for d in held.frames[1:]:
        assert any(b[0] <= 10.0 and b[2] >= 50.0 and b[1] <= 50.0 and b[3] >= 62.0 for b in d.xyxy)


# ------------------------------------------------------------------ end to end
@needs_model
@pytest.mark.slow
def test_a_plate_visible_only_between_two_full_looks_is_covered(tmp_path):
    src = tmp_path / "in" / "cars.mp4"
    src.parent.mkdir()

    def pictures():
        for i in range(24):
            picture, box = background(240, 400, seed=5), None
            if 3 <= i <= 9:  # never on a full look (0, 12, 23)
                picture, box = draw(picture, "MH 12 4471", height=24, angle=0, center=(250, 120), plate=True)
            yield picture, (box,)

    boxes = [b[0] for b in write_frames(src, pictures())]
    assert main(["anonymize", str(src.parent), "-o", str(tmp_path / "out"), "--cover", "plates",
                 "--kinds-every", "12", "--masks"]) == 0
    entry = json.loads((tmp_path / "out" / "veil-report.json").read_text())["files"][0]
    for i, box in enumerate(boxes):
        if box is not None:
            mask = cv2.imread(str(tmp_path / "out" / "masks" / "cars.mp4" / f"{i}.png"), cv2.IMREAD_GRAYSCALE) > 0
            x0, y0, x1, y1 = (int(v) for v in box)
            assert mask[y0:y1, x0:x1].mean() >= 0.9, i
    assert entry["verification"]["counts"]["residual_plate"] == 0
