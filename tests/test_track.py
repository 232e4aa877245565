"""Tracking: scene cuts and offline linking (synthetic detections, no images or models)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.detections import Detections, Source
from veil.track import (SIGNATURE_SIZE, TrackSummary, detect_cuts, frame_signature,
                        link_tracks, signature_distance)


# -- helpers ------------------------------------------------------------------

def box_at(cx: float, cy: float, size: float) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def frames_of(n: int, faces: dict[int, list[list[float]]] | None = None) -> list[Detections]:
    """``faces[f]`` lists frame f's boxes; other frames are empty."""
    faces = faces or {}
    return [Detections(faces[f]) if faces.get(f) else Detections.empty() for f in range(n)]


def coverage(true_box, dets: Detections) -> float:
    """Share of ``true_box`` (sampled every 0.5 px) inside the union of ``dets``' boxes."""
    x1, y1, x2, y2 = true_box
    xs = np.arange(x1 + 0.25, x2, 0.5)
    ys = np.arange(y1 + 0.25, y2, 0.5)
    gx, gy = np.meshgrid(xs, ys)
    inside = np.zeros(gx.shape, bool)
    b = dets.xyxy
    near = (b[:, 0] < x2) & (b[:, 2] > x1) & (b[:, 1] < y2) & (b[:, 3] > y1)
    for bx1, by1, bx2, by2 in b[near]:
        inside |= (gx >= bx1) & (gx <= bx2) & (gy >= by1) & (gy <= by2)
    return float(inside.mean())


def of_source(d: Detections, source: Source) -> Detections:
    return d[d.source == source]


# -- linking ------------------------------------------------------------------

def test_missed_frames_are_interpolated_and_covered():
    n, k = 30, 12
    truth = {f: box_at(100 + 12 * f, 200 + 3 * f, 50) for f in range(n)}
    per_frame = frames_of(n, {f: [b] for f, b in truth.items() if f not in (k, k + 1, k + 2)})
    result = link_tracks(per_frame)
    assert len(result.tracks) == 1
    track = result.tracks[0]
    assert track.interpolated == [k, k + 1, k + 2]
    assert track.detected == [f for f in range(n) if f not in (k, k + 1, k + 2)]
    for f in (k, k + 1, k + 2):
        interp = of_source(result.frames[f], Source.INTERPOLATED)
        assert len(interp) == 1 and interp.track_id[0] == track.id
        assert coverage(truth[f], result.frames[f]) >= 0.99
    for f in range(n):  # every frame of the sequence is covered
        assert coverage(truth[f], result.frames[f]) >= 0.8


def test_interpolated_landmarks_are_linear():
    lm0 = np.array([[10, 10], [30, 10], [20, 20], [12, 30], [28, 30]], np.float32)
    per_frame = [Detections([[0, 0, 40, 40]], landmarks=[lm0]), Detections.empty(), Detections.empty(),
                 Detections([[30, 0, 70, 40]], landmarks=[lm0 + [30, 0]])]
    result = link_tracks(per_frame, pad_frames=0)
    for f in (1, 2):
        interp = of_source(result.frames[f], Source.INTERPOLATED)
        np.testing.assert_allclose(interp.landmarks[0], lm0 + [10 * f, 0], atol=1e-4)


def test_gap_longer_than_max_gap_splits_the_track():
    per_frame = frames_of(20, {0: [[0, 0, 40, 40]], 1: [[0, 0, 40, 40]],
                               6: [[0, 0, 40, 40]], 7: [[0, 0, 40, 40]]})
    assert len(link_tracks(per_frame, max_gap=4).tracks) == 1
    split = link_tracks(per_frame, max_gap=3, pad_frames=0)
    assert len(split.tracks) == 2
    assert all(not t.interpolated for t in split.tracks)
    assert all(len(split.frames[f]) == 0 for f in range(2, 6))


def test_face_entering_and_leaving_is_padded():
    n = 60
    truth = {f: box_at(50 + 5 * f, 300, 60) for f in range(10, 41)}
    per_frame = frames_of(n, {f: [b] for f, b in truth.items()})
    result = link_tracks(per_frame, pad_frames=5)
    (track,) = result.tracks
    assert track.padded == [5, 6, 7, 8, 9, 41, 42, 43, 44, 45]
    assert (track.first, track.last) == (5, 45)
    for f in range(n):
        padded = of_source(result.frames[f], Source.PADDED)
        assert len(padded) == (1 if f in track.padded else 0)
    # the extrapolated boxes follow the motion: the face 2 frames outside still covered
    for f in (8, 42):
        assert coverage(box_at(50 + 5 * f, 300, 60), result.frames[f]) >= 0.99


def test_padding_stops_at_the_ends_of_the_video():
    n = 12
    per_frame = frames_of(n, {f: [box_at(100, 100, 40)] for f in range(2, n)})
    result = link_tracks(per_frame, pad_frames=5)
    (track,) = result.tracks
    assert track.padded == [0, 1]
    assert (track.first, track.last) == (0, n - 1)
    assert len(result.frames) == n
    assert len(link_tracks(per_frame, pad_frames=0).tracks[0].padded) == 0


@pytest.mark.parametrize("speed", [40, 80])
def test_fast_face_is_one_track_and_covered_between_frames(speed):
    n, size = 20, 60
    centre = lambda t: (30 + speed * t, 400 - 0.25 * speed * t)  # noqa: E731
    per_frame = frames_of(n, {f: [box_at(*centre(f), size)] for f in range(n)})
    result = link_tracks(per_frame)
    assert len(result.tracks) == 1
    assert all(result.frames[f].track_id[0] == 0 for f in range(n))
    for f in range(n):
        assert np.any(result.frames[f].source == Source.PREDICTED)
        union = result.frames[f]
        if f > 0:  # halfway back to the previous frame's position
            assert coverage(box_at(*centre(f - 0.5), size), union) >= 0.99
        if f < n - 1:
            assert coverage(box_at(*centre(f + 0.5), size), union) >= 0.99


def test_predicted_region_is_never_less_than_the_detection():
    n = 10
    per_frame = frames_of(n, {f: [box_at(100 + 7 * f * f, 100, 50)] for f in range(n)})  # accelerating
    result = link_tracks(per_frame)
    for f in range(n):
        raw = per_frame[f].xyxy[0]
        for box in of_source(result.frames[f], Source.PREDICTED).xyxy:
            assert box[0] <= raw[0] and box[1] <= raw[1] and box[2] >= raw[2] and box[3] >= raw[3]


def test_a_lagging_box_where_a_track_starts_is_widened_to_what_its_neighbours_imply():
    # A small face moving right: the detector first sees it on frame 10 with a
    # box that lags behind and is too small, then well on frames 12 and 14.
    n, speed, size = 20, 3.5, 14
    face = lambda f: box_at(100 + speed * f, 300, size)  # noqa: E731
    boxes = {12: [face(12)], 14: [face(14)], 16: [face(16)]}
    boxes[10] = [[100 + speed * 10 - 12, 296.0, 100 + speed * 10 - 1, 306.0]]
    result = link_tracks(frames_of(n, boxes))
    assert len(result.tracks) == 1
    before = of_source(result.frames[9], Source.PADDED).xyxy[0]
    after = of_source(result.frames[11], Source.INTERPOLATED).xyxy[0]
    assert coverage((before + after) / 2, result.frames[10]) >= 0.99
    assert coverage(face(10), result.frames[10]) > 0.7 > coverage(face(10), Detections(boxes[10]))


def test_static_face_gets_no_predicted_boxes():
    per_frame = frames_of(8, {f: [[10, 10, 50, 50]] for f in range(8)})
    result = link_tracks(per_frame)
    assert not any(np.any(d.source == Source.PREDICTED) for d in result.frames)


def test_no_track_crosses_a_scene_cut():
    n, cut = 40, 20
    still = box_at(300, 200, 80)  # the same spot in both shots
    faces = {f: [still] for f in range(n)}
    for f in range(15, 18):  # a second face leaving just before the cut...
        faces[f] = faces[f] + [box_at(600, 200, 50)]
    for f in range(22, 26):  # ...and a third entering just after it
        faces[f] = faces[f] + [box_at(900, 200, 50)]
    per_frame = frames_of(n, faces)
    result = link_tracks(per_frame, cuts=[cut], pad_frames=5)
    assert result.cuts == (cut,)
    for t in result.tracks:
        assert t.last < cut or t.first >= cut, t
    ids_before = {int(i) for f in range(cut) for i in result.frames[f].track_id if i >= 0}
    ids_after = {int(i) for f in range(cut, n) for i in result.frames[f].track_id if i >= 0}
    assert ids_before and ids_after and not ids_before & ids_after
    leaving = next(t for t in result.tracks if t.detected == [15, 16, 17])
    entering = next(t for t in result.tracks if t.detected == [22, 23, 24, 25])
    assert leaving.padded == [10, 11, 12, 13, 14, 18, 19]
    assert entering.padded == [20, 21, 26, 27, 28, 29, 30]
    # without the cut the still face is one track
    assert len([t for t in link_tracks(per_frame).tracks if 0 in t.detected]) == 1


def test_gap_across_a_cut_is_not_interpolated():
    per_frame = frames_of(10, {f: [[0, 0, 40, 40]] for f in (0, 1, 2, 3, 7, 8, 9)})
    result = link_tracks(per_frame, cuts=[5], pad_frames=0)
    assert len(result.tracks) == 2
    assert len(result.frames[4]) == 0 and len(result.frames[5]) == 0 and len(result.frames[6]) == 0


def test_lone_detection_is_kept():
    per_frame = frames_of(30, {f: [box_at(100, 100, 40)] for f in range(20)})
    per_frame[25] = Detections([[500, 500, 512, 512]], scores=[0.21])
    result = link_tracks(per_frame)
    lone = result.frames[25]
    assert len(lone) == 1
    np.testing.assert_array_equal(lone.xyxy, per_frame[25].xyxy)
    assert lone.track_id[0] == -1 and lone.source[0] == Source.DETECTED and lone.scores[0] == pytest.approx(0.21)
    assert len(result.tracks) == 1
    assert all(f < 25 for f in range(30) if len(result.frames[f]) and np.all(result.frames[f].track_id == 0))
    # min_hits=1 makes it a track of its own, padded like any other
    padded = link_tracks(per_frame, min_hits=1)
    assert len(padded.tracks) == 2 and padded.tracks[1].detected == [25]
    assert padded.tracks[1].padded == [20, 21, 22, 23, 24, 26, 27, 28, 29]


@pytest.mark.parametrize("dy", [0, 15])
def test_crossing_faces_keep_their_tracks(dy):
    n = 30
    a = {f: box_at(100 + 20 * f, 300, 60) for f in range(n)}
    b = {f: box_at(680 - 20 * f, 300 + dy, 60) for f in range(n)}
    # b listed first on some frames: order in the frame must not matter
    per_frame = frames_of(n, {f: ([a[f], b[f]] if f % 3 else [b[f], a[f]]) for f in range(n)})
    result = link_tracks(per_frame)
    assert len(result.tracks) == 2
    ids_a = {int(result.frames[f].track_id[0 if f % 3 else 1]) for f in range(n)}
    ids_b = {int(result.frames[f].track_id[1 if f % 3 else 0]) for f in range(n)}
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_crossing_faces_with_one_missed_at_the_crossing():
    n = 30
    a = {f: box_at(100 + 20 * f, 300, 60) for f in range(n)}
    b = {f: box_at(680 - 20 * f, 310, 60) for f in range(n)}
    faces = {f: [a[f], b[f]] for f in range(n)}
    for f in (13, 14, 15):  # the front face hides the other one
        faces[f] = [a[f]]
    result = link_tracks(frames_of(n, faces))
    assert len(result.tracks) == 2
    tb = next(t for t in result.tracks if t.id == result.frames[0].track_id[1])
    assert tb.interpolated == [13, 14, 15] and tb.first == 0 and tb.last == n - 1
    for f in (13, 14, 15):
        assert coverage(b[f], result.frames[f]) >= 0.99


def test_many_faces_in_a_crowd():
    rng = np.random.default_rng(3)
    n, grid = 25, [(x, y) for x in range(100, 1900, 120) for y in range(100, 1000, 120)]
    vel = rng.uniform(-4, 4, (len(grid), 2))
    faces = {}
    for f in range(n):
        boxes = [box_at(x + vx * f, y + vy * f, 40) for (x, y), (vx, vy) in zip(grid, vel)]
        faces[f] = [b for i, b in enumerate(boxes) if (i + f) % 7]  # each face missed every 7th frame
    result = link_tracks(frames_of(n, faces))
    assert len(result.tracks) == len(grid)
    for f in range(n):
        for (x, y), (vx, vy) in zip(grid, vel):
            assert coverage(box_at(x + vx * f, y + vy * f, 40), result.frames[f]) >= 0.99


def test_jittery_curved_motion_with_random_misses():
    rng = np.random.default_rng(5)
    n = 120
    truth = {f: box_at(400 + 150 * np.sin(f / 10), 300 + 50 * np.cos(f / 7), 60 * (1 + f / 200)) for f in range(n)}
    faces = {}
    for f in range(n):
        if f in (0, n - 1) or rng.random() > 0.25:  # a quarter of the frames missed
            x1, y1, x2, y2 = truth[f]
            faces[f] = [[x1, y1, x2, y2] + rng.normal(0, 2, 4)]
    result = link_tracks(frames_of(n, faces))
    assert len(result.tracks) == 1
    assert all(coverage(truth[f], result.frames[f]) >= 0.8 for f in range(n))


def test_empty_inputs():
    result = link_tracks([])
    assert result.frames == [] and result.tracks == [] and result.cuts == ()
    result = link_tracks([Detections.empty()] * 4, cuts=[0, 2, 4])
    assert len(result.frames) == 4 and all(len(d) == 0 for d in result.frames)
    assert result.tracks == [] and result.cuts == (2,)


def test_frame_size_clips_added_boxes():
    n = 20
    per_frame = frames_of(n, {f: [box_at(20 + 30 * f, 100, 60)] for f in range(5, n)})
    result = link_tracks(per_frame, frame_size=(640, 360))
    for f in range(n):
        added = result.frames[f][len(per_frame[f]):]
        assert np.all(added.xyxy[:, [0, 2]] >= 0) and np.all(added.xyxy[:, [0, 2]] <= 640)
        assert np.all(added.widths > 0)
        # the raw detection, partly outside the picture, is not clipped
        np.testing.assert_array_equal(result.frames[f][: len(per_frame[f])].xyxy, per_frame[f].xyxy)


def test_track_summary_to_dict():
    per_frame = frames_of(20, {f: [[0, 0, 40 + f, 40]] for f in (6, 7, 8, 10, 11)})
    (track,) = link_tracks(per_frame, pad_frames=2).tracks
    assert isinstance(track, TrackSummary)
    d = track.to_dict()
    assert d == {"id": 0, "first": 4, "last": 13, "max_width": 51.0, "detected": [[6, 8], [10, 11]],
                 "interpolated": [[9, 9]], "padded": [[4, 5], [12, 13]]}


def test_deterministic():
    rng = np.random.default_rng(7)
    per_frame = []
    for _ in range(40):
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, 300, (k, 2))
        per_frame.append(Detections(np.hstack([xy, xy + rng.uniform(20, 60, (k, 1))]) if k else np.zeros((0, 4))))
    r1, r2 = link_tracks(per_frame, cuts=[17]), link_tracks(per_frame, cuts=[17])
    assert [t.to_dict() for t in r1.tracks] == [t.to_dict() for t in r2.tracks]
    for a, b in zip(r1.frames, r2.frames):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.track_id, b.track_id)
        np.testing.assert_array_equal(a.source, b.source)


@pytest.mark.parametrize("kwargs", [
    {"pad_frames": -1}, {"pad_frames": 2.5}, {"pad_frames": True}, {"max_gap": -1}, {"min_hits": 0},
    {"iou_threshold": 0.0}, {"iou_threshold": 1.5}, {"max_distance": 0}, {"motion_margin": -0.1},
    {"motion_margin": float("nan")}, {"cuts": [-1]}, {"cuts": [11]}, {"cuts": [2.0]},
    {"frame_size": (640,)}, {"frame_size": (0, 360)},
])
def test_invalid_options(kwargs):
    with pytest.raises(ValueError):
        link_tracks([Detections.empty()] * 10, **kwargs)


def test_invalid_frames():
    with pytest.raises(TypeError):
        link_tracks([np.zeros((1, 4))])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="raw detections"):
        link_tracks([Detections([[0, 0, 10, 10]], source=[Source.PREDICTED])])


boxes_strategy = st.lists(
    st.tuples(st.floats(-50, 400), st.floats(-50, 400), st.floats(0, 80), st.floats(0, 80),
              st.floats(0, 1), st.booleans()),
    max_size=4)


@settings(max_examples=60, deadline=None)
@given(frames=st.lists(boxes_strategy, max_size=14), pad=st.integers(0, 4), data=st.data())
def test_every_raw_detection_is_returned_unchanged(frames, pad, data):
    per_frame = []
    for boxes in frames:
        if not boxes:
            per_frame.append(Detections.empty())
            continue
        xyxy = [[x, y, x + w, y + h] for x, y, w, h, _, _ in boxes]
        lms = [np.full((5, 2), np.nan) if not has else np.tile([x + w / 2, y + h / 2], (5, 1))
               for x, y, w, h, _, has in boxes]
        per_frame.append(Detections(xyxy, scores=[s for *_, s, _ in boxes], landmarks=lms,
                                    track_id=np.full(len(boxes), 99)))
    cuts = data.draw(st.lists(st.integers(0, len(frames)), max_size=3))
    min_hits = data.draw(st.integers(1, 3))
    result = link_tracks(per_frame, cuts=cuts, pad_frames=pad, min_hits=min_hits)
    assert len(result.frames) == len(per_frame)
    tracked = {t.id: t for t in result.tracks}
    for f, raw in enumerate(per_frame):
        out = result.frames[f]
        head = out[: len(raw)]
        np.testing.assert_array_equal(head.xyxy, raw.xyxy)
        np.testing.assert_array_equal(head.scores, raw.scores)
        np.testing.assert_array_equal(head.landmarks, raw.landmarks)
        assert np.all(head.source == Source.DETECTED)
        assert np.all(out.source[len(raw):] != Source.DETECTED)
        for tid in head.track_id:
            assert tid == -1 or f in tracked[int(tid)].detected
        for tid in out.track_id[len(raw):]:
            t = tracked[int(tid)]
            assert t.first <= f <= t.last and (f in t.interpolated or f in t.padded or f in t.detected)
    for t in result.tracks:
        assert len(t.detected) >= min_hits
        for c in result.cuts:
            assert t.last < c or t.first >= c


# -- scene cuts ---------------------------------------------------------------

def scene(seed: int, width: int = 320, height: int = 180) -> np.ndarray:
    """A synthetic picture: smooth colour field with a few discs."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (6, max(2, width // 50), 3)).astype(np.uint8)
    img = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(8):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(img, centre, int(rng.integers(5, 40)), colour, -1)
    return img


def test_frame_signature_shape_and_validation():
    sig = frame_signature(scene(1))
    assert sig.shape == (SIGNATURE_SIZE,) and sig.dtype == np.float32
    assert frame_signature(np.zeros((2160, 3840, 3), np.uint8)).shape == (SIGNATURE_SIZE,)
    assert frame_signature(np.zeros((1, 1, 3), np.uint8)).shape == (SIGNATURE_SIZE,)
    with pytest.raises(ValueError):
        frame_signature(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        frame_signature(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError):
        detect_cuts([sig, sig[:10]])
    with pytest.raises(ValueError):
        detect_cuts([sig], threshold=0)
    assert signature_distance(sig, sig) == 0.0


def test_hard_cut_is_found():
    rng = np.random.default_rng(0)
    a, b = scene(1), scene(2)
    frames = [a] * 20 + [b] * 20
    frames = [np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8) for f in frames]  # sensor noise
    assert detect_cuts([frame_signature(f) for f in frames]) == [20]
    assert detect_cuts([frame_signature(f) for f in [a] * 5 + [b] * 5 + [scene(3)] * 5]) == [5, 10]


def test_brightness_ramp_flash_and_fast_pan_are_not_cuts():
    a = scene(1)
    ramp = [np.clip(a * (0.4 + 0.03 * k), 0, 255).astype(np.uint8) for k in range(40)]
    assert detect_cuts([frame_signature(f) for f in ramp]) == []
    flash = [a] * 10 + [np.clip(a.astype(int) + 150, 0, 255).astype(np.uint8)] * 2 + [a] * 10
    assert detect_cuts([frame_signature(f) for f in flash]) == []
    long_flash = [a] * 10 + [np.clip(a.astype(int) + 150, 0, 255).astype(np.uint8)] * 4 + [a] * 10
    assert detect_cuts([frame_signature(f) for f in long_flash]) == []
    assert detect_cuts([frame_signature(f) for f in long_flash], flash_frames=0) == [10, 14]
    white = [a] * 10 + [np.full_like(a, 255)] + [a] * 10
    assert detect_cuts([frame_signature(f) for f in white]) == []
    wide = scene(9, width=2000)
    pan = [wide[:, x:x + 320] for x in range(0, 1600, 40)]
    assert detect_cuts([frame_signature(f) for f in pan]) == []
    sudden = [wide[:, :320]] * 10 + pan  # a still shot that starts panning fast
    assert detect_cuts([frame_signature(f) for f in sudden]) == []
    # a cut in the middle of panning is still found
    other = scene(11, width=2000)
    pan_cut = pan[:20] + [other[:, x:x + 320] for x in range(0, 800, 40)]
    assert detect_cuts([frame_signature(f) for f in pan_cut]) == [20]


def test_cuts_feed_the_tracker():
    frames = [scene(1)] * 12 + [scene(2)] * 12
    cuts = detect_cuts([frame_signature(f) for f in frames])
    per_frame = frames_of(24, {f: [[100, 50, 140, 90]] for f in range(24)})
    result = link_tracks(per_frame, cuts=cuts)
    assert [(t.first, t.last) for t in result.tracks] == [(0, 11), (12, 23)]


def test_cuts_of_the_white_house_clip():
    """The public-domain test clip has three hard cuts, and nothing else that looks like one."""
    path = Path(__file__).parent / "data" / "short_hamilton_clip.mp4"
    capture = cv2.VideoCapture(str(path))
    signatures = []
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            signatures.append(frame_signature(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    finally:
        capture.release()
    assert len(signatures) == 275
    assert detect_cuts(signatures) == [20, 82, 211]


def test_a_face_leaving_across_the_edge_stays_covered_until_it_has_left():
    # A 60 px face drifts up out of a 640x360 picture at 1.5 px/frame; the
    # detector loses it once its eyes are out (box cut at the top), 40 frames
    # before its chin leaves.
    n, size = 80, 60.0
    top = lambda f: 30 - 1.5 * f  # noqa: E731
    faces = {f: [[300, top(f), 300 + size, top(f) + size]] for f in range(n) if top(f) > -15}
    last = max(faces)
    result = link_tracks(frames_of(n, faces), pad_frames=5, frame_size=(640, 360))
    for f in range(last + 1, n):
        box = [300, top(f), 300 + size, top(f) + size]
        if box[3] > 0:  # some of the face still inside the picture
            visible = [300, 0, 300 + size, box[3]]
            assert coverage(visible, result.frames[f]) >= 0.99, f
    (track,) = result.tracks
    assert track.padded[-1] > last + 5
    # Without the picture's size the padding is the usual 5 frames.
    plain = link_tracks(frames_of(n, faces), pad_frames=5)
    assert plain.tracks[0].padded[-1] == last + 5
    # The same film run backwards: a face entering across the edge is covered before it is found.
    reverse = {n - 1 - f: boxes for f, boxes in faces.items()}
    back = link_tracks(frames_of(n, reverse), pad_frames=5, frame_size=(640, 360))
    assert back.tracks[0].padded[0] < n - 1 - last - 5
    # Its box may stop a few pixels short of the edge (a 56 px face leaving a 1080p clip was boxed
    # from 3 px down): still leaving.
    up = lambda f: 30 - 2.0 * f  # noqa: E731
    short = {f: [[300, max(up(f), 3.0), 300 + size, up(f) + size]] for f in range(n) if up(f) > -15}
    gap = link_tracks(frames_of(n, short), pad_frames=5, frame_size=(640, 360))
    assert gap.tracks[0].padded[-1] > max(short) + 5
    # A face resting at the edge (not moving out) gets the usual padding only.
    still = {f: [[300, -20, 360, 40]] for f in range(10)}
    rest = link_tracks(frames_of(40, still), pad_frames=5, frame_size=(640, 360))
    assert rest.tracks[0].padded[-1] == 14


@pytest.mark.parametrize("edge", ["top", "left", "bottom", "right"])
def test_a_face_leaving_whose_box_shrinks_to_a_corner_stays_covered(edge):
    # A 60 px face leaves across an edge of a 640x360 picture, drifting along
    # it too. Once cut, the detector boxes only a lagging corner of what is
    # still visible (as CenterFace does): the band along the edge covers the rest.
    w, h, n, size = 640, 360, 60, 60.0

    def true_box(f):  # leaving across the top, drifting right; other edges by symmetry
        x, y = 300 + 2.0 * f, 40 - 1.5 * f
        return np.array([x, y, x + size, y + size])

    def turn(b):  # the top-edge scene, rotated / mirrored onto ``edge``
        x1, y1, x2, y2 = b
        return {"top": [x1, y1, x2, y2], "bottom": [x1, h - y2, x2, h - y1],
                "left": [y1, x1 * h / w, y2, x2 * h / w], "right": [w - y2, x1 * h / w, w - y1, x2 * h / w]}[edge]

    faces, visible = {}, {}
    for f in range(n):
        b = true_box(f)
        seen_h = b[3] - max(b[1], 0.0)
        if seen_h < 12:
            break
        visible[f] = [b[0], max(b[1], 0.0), b[2], b[3]]
        if b[1] >= 3:  # whole: boxed right
            faces[f] = [turn(b)]
        else:  # cut: a lagging corner of the visible part, shrinking with it
            faces[f] = [turn([b[0] - 6, 0.0, b[0] - 6 + 0.75 * seen_h, 0.6 * seen_h])]
    result = link_tracks(frames_of(n, faces), pad_frames=5, frame_size=(w, h))
    for f, v in visible.items():
        assert coverage(turn(v), result.frames[f]) >= 0.95, (edge, f)
    # The corner boxes alone cover little of it: the band is what covers.
    assert min(coverage(turn(v), frames_of(n, faces)[f]) for f, v in visible.items()) < 0.5


def test_a_face_at_the_edge_boxed_whole_gets_no_band():
    # Seen whole, then touching the top edge at the same size: nothing has
    # shrunk, so nothing beyond its own boxes is covered.
    faces = {f: [[300, 10 - f, 360, 70 - f]] for f in range(10)}
    faces.update({f: [[300, 0, 360, 60]] for f in range(10, 20)})
    result = link_tracks(frames_of(20, faces), pad_frames=2, frame_size=(640, 360))
    for f in range(10, 20):
        d = result.frames[f]
        assert d.xyxy[:, 0].min() >= 299 and d.xyxy[:, 2].max() <= 361, f


def test_a_shrunk_box_short_of_the_edge_by_a_tenth_of_the_face_gets_a_band():
    # A 60 px face rising to the top edge: once cut, the detector boxes what it sees of it, a box
    # shrinking to 30 px that stops 5 px short of the edge -- a sixth of its own size, under a
    # tenth of the face's.
    faces = {f: [[300, 40 - 3 * f, 360, 100 - 3 * f]] for f in range(10)}
    faces.update({10: [[305, 5, 355, 50]], 11: [[310, 5, 350, 40]], 12: [[312, 5, 348, 34]]})
    faces.update({f: [[315, 5, 345, 28]] for f in range(13, 20)})
    result = link_tracks(frames_of(22, faces), pad_frames=2, frame_size=(640, 360))
    assert len(result.tracks) == 1
    for f in range(13, 20):
        # The band: one whole face deep along the top edge, about the box.
        assert coverage([300, 0, 360, 40], result.frames[f]) >= 0.99, f


def test_a_gap_after_a_box_of_part_of_a_face_keeps_the_faces_size():
    # A 16 px face moving up; on frame 11 the detector boxes its upper half (a masked face's
    # eyes), then misses it for two frames: the frames between keep the track's size.
    true = lambda f: [100, 200 - f, 116, 216 - f]  # noqa: E731
    faces = {f: [true(f)] for f in range(11)}
    faces[11] = [[100, 189, 116, 197]]
    faces.update({f: [true(f)] for f in range(14, 20)})
    result = link_tracks(frames_of(20, faces), pad_frames=2)
    for f in (12, 13):
        box = result.frames[f].xyxy
        assert (box[:, 3] - box[:, 1]).max() >= 16, f
        assert coverage(true(f), result.frames[f]) >= 0.85, f
