"""Plates and text held between looks with the camera (``veil.track.kinds.hold_with_camera``).

Synthetic tracks and camera paths only; the clips and timings are in bench/kinds_schedule.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from veil.config import Config
from veil.detections import Detections, Kind, Source
from veil.track.kinds import FLICKER_HOLD, follow_camera, hold_reach, hold_with_camera, link_by_kind, link_options

EVERY = 12
SIZE = (600, 200)  # width, height


def _shift(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _pan(n: int, speed: float = -10.0, shake: float = 5.0):
    """A camera panning ``speed`` px a frame with a vertical shake: (offset per frame, camera steps)."""
    offset = np.array([[speed * i, shake * np.sin(1.3 * i)] for i in range(n)])
    camera = [None] + [_shift(*(offset[i] - offset[i - 1])) for i in range(1, n)]
    return offset, camera


def _link(per_frame: list[Detections], config: Config, cuts=()):
    return link_by_kind(per_frame, cuts=cuts, pad_frames=config.pad_frames, min_hits=1, frame_size=SIZE,
                        other_options=link_options(config))


def _covers(d: Detections, box) -> bool:
    x0, y0, x1, y1 = box
    return bool(((d.xyxy[:, 0] <= x0 + 1e-3) & (d.xyxy[:, 1] <= y0 + 1e-3) & (d.xyxy[:, 2] >= x1 - 1e-3)
                 & (d.xyxy[:, 3] >= y1 - 1e-3)).any())


def _standing_word(n: int, seen_on, offset, box=(300.0, 80.0, 350.0, 100.0), kind=Kind.TEXT):
    """Where a word standing in the scene is on each frame, and the looks that see it."""
    truth = [np.array(box) + np.tile(o, 2) for o in offset]
    per_frame = [Detections([truth[i]], kind=[kind]) if i in seen_on else Detections.empty() for i in range(n)]
    return truth, per_frame


def test_a_word_between_looks_stays_covered_when_the_tracker_links_it_to_another():
    # Word A is seen by the look at frame 12 only, word B, 80 px away, by the looks at 0 and 24:
    # the tracker bridges the long gap and links A to B at 24, so the track's boxes between
    # those looks (interpolated, moved with the camera) slide from A to B; A's own box, held
    # in place, is 10 px a frame off what the panning camera shows.
    config = Config(cover="text", kinds_every=EVERY)
    n = 25
    offset, camera = _pan(n)
    truth, seen_a = _standing_word(n, {12}, offset)
    _, seen_b = _standing_word(n, {0, 24}, offset, box=(380.0, 80.0, 430.0, 100.0))
    per_frame = [Detections.concatenate([a, b]) for a, b in zip(seen_a, seen_b)]
    linked = follow_camera(_link(per_frame, config), camera)
    ids = {f: set(linked.frames[f].track_id[:len(per_frame[f])].tolist()) for f in (12, 24)}
    assert ids[12] & ids[24]  # the wrong link this guards against
    assert not all(_covers(linked.frames[i], truth[i]) for i in range(n))
    held = hold_with_camera(linked, camera, EVERY, frame_size=SIZE)
    assert all(_covers(held.frames[i], truth[i]) for i in range(n))
    assert all(len(a) >= len(b) for a, b in zip(held.frames, linked.frames))  # only ever adds
    added = [d[len(b):] for d, b in zip(held.frames, linked.frames)]
    assert all(set(a.source.tolist()) <= {int(Source.PADDED)} for a in added)
    track = {t.id for t in held.tracks}
    assert all(set(a.track_id.tolist()) <= track for a in added)
    assert all(set(a.kind.tolist()) <= {int(Kind.TEXT)} for a in added)


def test_a_held_box_is_exact_on_the_look_and_grows_with_the_distance_from_it():
    config = Config(cover="plates", kinds_every=EVERY)
    n = 13
    offset, camera = _pan(n, shake=0.0)
    truth, per_frame = _standing_word(n, {0}, offset, kind=Kind.PLATE)
    held = hold_with_camera(_link(per_frame, config), camera, EVERY)
    linked = _link(per_frame, config)
    for f in (1, 6, 12):
        extra = held.frames[f][len(linked.frames[f]):]
        assert len(extra) == 1
        centre = (extra.xyxy[0, :2] + extra.xyxy[0, 2:]) / 2
        np.testing.assert_allclose(centre, (truth[f][:2] + truth[f][2:]) / 2, atol=1e-3)
        width = extra.xyxy[0, 2] - extra.xyxy[0, 0]
        assert width == pytest.approx(50 * (1 + 2 * min(0.25, 0.03 * f)), abs=1e-3)


def _held(result, linked, f):
    return result.frames[f][len(linked.frames[f]):]


def test_where_the_camera_is_not_followed_the_box_is_held_in_place_and_never_across_a_cut():
    config = Config(cover="text", kinds_every=EVERY)
    n = 25
    offset, camera = _pan(n)
    truth, per_frame = _standing_word(n, {12}, offset)
    linked = _link(per_frame, config)
    look = per_frame[12].xyxy[0]
    broken = camera[:8] + [None] + camera[9:]  # a flash at frame 8: frames 0-7 are another path
    held = hold_with_camera(linked, broken, EVERY)
    for f in range(8):  # in place, grown
        box = _held(held, linked, f).xyxy
        assert len(box) == 1 and _covers(_held(held, linked, f), look)
        np.testing.assert_allclose((box[0, :2] + box[0, 2:]) / 2, (look[:2] + look[2:]) / 2, atol=1e-3)
    assert all(_covers(held.frames[f], truth[f]) for f in range(8, n))  # moved with the camera
    unknown = hold_with_camera(linked, None, EVERY)  # no camera at all: every box held in place
    assert all(len(_held(unknown, linked, f)) == 1 for f in range(n) if f != 12)
    assert _covers(_held(unknown, linked, 0), look)
    cut = link_by_kind(per_frame, cuts=[18], pad_frames=config.pad_frames, min_hits=1, frame_size=SIZE,
                       other_options=link_options(config))
    held = hold_with_camera(cut, camera, EVERY)
    assert [len(d) for d in held.frames[18:]] == [len(d) for d in cut.frames[18:]]
    assert len(_held(held, cut, 17)) == 1
    wide = hold_with_camera(linked, camera, 3)
    assert [f for f in range(n) if len(_held(wide, linked, f))] == [9, 10, 11, 13, 14, 15]


def test_faces_and_a_reach_of_zero_are_left_as_they_are():
    n = 25
    offset, camera = _pan(n)
    faces = [Detections([[100 + o[0], 50, 140 + o[0], 90]]) for o in offset]
    tracked = link_by_kind(faces, pad_frames=5, min_hits=1, frame_size=SIZE)
    assert hold_with_camera(tracked, camera, EVERY) .frames[3] is tracked.frames[3]
    config = Config(cover="text", kinds_every=EVERY)
    truth, per_frame = _standing_word(n, {0, 12, 24}, offset)
    linked = _link(per_frame, config)
    assert hold_with_camera(linked, camera, 0) is linked
    with pytest.raises(RuntimeError):
        hold_with_camera(linked, camera[:-1], EVERY)


def test_looking_at_every_frame_each_box_is_held_one_frame_either_side_with_the_camera():
    # Every frame looked at (kinds_every 1): DBNet's line is a little longer or shorter from
    # frame to frame, so each frame also gets its neighbours' boxes, moved with the camera
    # (bench/plates_video.py: boxes that came out short left part of a plate bare).
    config = Config(cover="text")
    n = 15
    offset, camera = _pan(n)
    truth, per_frame = _standing_word(n, set(range(n)), offset)
    short = truth[7] + np.array([0.0, 0.0, -15.0, 0.0])  # 15 px short of the word's end
    per_frame[7] = Detections([short], kind=[Kind.TEXT])
    linked = _link(per_frame, config)
    held = hold_with_camera(linked, camera, hold_reach(config))
    assert hold_reach(config) == FLICKER_HOLD == 1
    assert all(len(_held(held, linked, f)) == (1 if f in (0, n - 1) else 2) for f in range(n))
    grown = 0.03 * 50, 0.03 * 20  # the tracker's margin for one frame away
    for neighbour in (6, 8):
        moved = truth[neighbour] + np.tile(offset[7] - offset[neighbour], 2)
        expected = moved + np.array([-grown[0], -grown[1], grown[0], grown[1]])
        assert any(np.allclose(b, expected, atol=1e-3) for b in _held(held, linked, 7).xyxy)
    assert _covers(held.frames[7], truth[7])
    assert (_held(held, linked, 7).source == Source.PADDED).all()

def test_held_boxes_are_clipped_to_the_picture_and_the_input_is_not_changed():
    config = Config(cover="text", kinds_every=EVERY)
    n = 25
    offset, camera = _pan(n, speed=-40.0, shake=0.0)  # the word has left on the left by frame 12
    truth, per_frame = _standing_word(n, {0}, offset)
    linked = _link(per_frame, config)
    before = [d.xyxy.copy() for d in linked.frames]
    held = hold_with_camera(linked, camera, EVERY, frame_size=SIZE)
    for d in held.frames:
        assert (d.xyxy[:, [0, 2]] >= 0).all() and (d.xyxy[:, [0, 2]] <= SIZE[0]).all()
        assert (d.xyxy[:, 2] > d.xyxy[:, 0]).all()
    assert all(np.array_equal(a, d.xyxy) for a, d in zip(before, linked.frames))
    assert len(held.frames[12]) == len(linked.frames[12])  # wholly outside the picture: nothing held


def test_the_hold_reaches_the_looks_either_side_under_a_schedule_else_a_frame():
    assert hold_reach(Config(cover="text")) == FLICKER_HOLD
    assert hold_reach(Config(cover="text", kinds_every=EVERY)) == EVERY
    # the tracker pads plates and text at least pad_frames: the hold reaches as far
    assert hold_reach(Config(cover="text", kinds_every=2, pad_frames=5)) == 5
    assert hold_reach(Config(cover="text", kinds_every=2, pad_frames=0)) == 2
