"""Frames that repeat the frame before (pulldown, a frozen picture) take its face detections.

The network is the marker stub of ``test_scanplan`` (boxes around magenta
squares), so what each frame was given, and how many calls it cost, is exact.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from veil.cli import _config_from, build_parser
from veil.config import SCAN_FIELDS, SETTINGS_BEFORE, Config
from veil.detect import MultiScaleDetector
from veil.detect.motion import REPEAT_LEVELS, repeats_picture, work_grey
from veil.edits.model import Edits, detection_settings
from veil.media.video.base import Frame
from veil.track.scan import Repeats, detect_frames

from test_scanplan import MarkerNet, _mark, _scene

W, H = 640, 360


def _frames(pictures, keys=()):
    return [Frame(k, k, Fraction(1, 25), rgb, k in keys) for k, rgb in enumerate(pictures)]


def _grey(seed=0):
    return work_grey(_scene(W, H, seed=seed))


def test_a_picture_repeats_itself_up_to_compression_noise():
    a = _grey()
    assert repeats_picture(a, a.copy())
    noise = np.random.default_rng(1).integers(-6, 7, a.shape)
    assert repeats_picture(a, np.clip(a + noise, 0, 255).astype(np.uint8))
    # One 5x5 work-pixel patch (a 10 px face at 640x360) changed by more than the bar: not a repeat.
    b = a.copy()
    b[40:45, 60:65] = np.clip(b[40:45, 60:65].astype(int) + REPEAT_LEVELS + 8, 0, 255)
    assert not repeats_picture(a, b)
    assert not repeats_picture(a, _grey(seed=2))
    assert not repeats_picture(a, a[:, :-1])  # another size: another picture
    for bad in (a.astype(np.float32), np.stack([a, a, a], -1)):
        with pytest.raises(ValueError):
            repeats_picture(bad, a)


def test_at_most_every_other_frame_is_spared_and_never_a_key_frame():
    scene = _scene(W, H)
    frames = _frames([scene] * 7, keys={0, 4})
    r = Repeats(True)
    assert [r.check(f) for f in frames] == [False, True, False, True, False, True, False]
    assert len(r.frames) == 3
    off = Repeats(False)
    assert not any(off.check(f) for f in frames) and not off.frames


def test_a_slow_change_is_compared_with_the_picture_the_detector_saw():
    scene = _scene(W, H).astype(int)
    # A fade, 7 levels a frame: each frame repeats the one before, not the one two before.
    fade = [np.clip(scene + 7 * k, 0, 255).astype(np.uint8) for k in range(6)]
    r = Repeats(True)
    assert [r.check(f) for f in _frames(fade)] == [False, True, False, True, False, True]
    assert not repeats_picture(work_grey(fade[0]), work_grey(fade[2]))


def _detector(nets: list) -> MultiScaleDetector:
    net = MarkerNet()
    nets.append(net)
    return MultiScaleDetector(net, threshold=0.5, probe_threshold=0.05)


def _pulldown_with_a_face_walking_in(n: int = 10) -> list[np.ndarray]:
    """A still scene where a face appears on frame 5; frames 2 and 7 repeat the frame before."""
    scene = _scene(W, H, seed=4)
    out = []
    for k in range(n):
        picture = scene.copy()
        if k >= 5:
            _mark(picture, 300 + 4 * (k - 5), 150, 20)
        out.append(picture)
    out[2] = out[1].copy()
    out[7] = out[6].copy()
    return out


@pytest.mark.parametrize("scan", ["full", "motion"])
@pytest.mark.parametrize("workers", [1, 2])
def test_repeated_frames_take_the_frame_before_and_new_faces_are_found(scan, workers):
    pictures = _pulldown_with_a_face_walking_in()
    config = Config(threshold=0.5, scan=scan)
    nets: list = []
    reused, _ = detect_frames(_frames(pictures), config, _detector(nets), workers=workers, frame_bytes=W * H * 3)
    looked, _ = detect_frames(_frames(pictures), config.replace(reuse_repeats=False), _detector(nets),
                              workers=workers, frame_bytes=W * H * 3)
    assert len(reused) == len(looked) == len(pictures)
    boxes = lambda d: sorted(map(tuple, np.round(d.xyxy).astype(int).tolist()))  # noqa: E731
    assert [boxes(d) for d in reused] == [boxes(d) for d in looked]  # the repeats hold what was there
    assert not len(reused[4]) and all(len(reused[k]) == 1 for k in range(5, 10))  # found on entry
    # Looked at: 0, 2, 4 (still: every other frame), 5 (the face), 6, 8, 9 (it moves); 7 repeats 6.
    r = Repeats(True)
    assert [k for k, f in enumerate(_frames(pictures)) if r.check(f)] == [1, 3, 7]
    assert len(nets[0].calls) < len(nets[1].calls)


def test_no_reuse_with_sparse_tiles():
    pictures = _pulldown_with_a_face_walking_in()
    nets: list = []
    config = Config(threshold=0.5, scan="full", tile_every=3)
    detect_frames(_frames(pictures), config, _detector(nets), frame_bytes=W * H * 3)
    detect_frames(_frames(pictures), config.replace(reuse_repeats=False), _detector(nets), frame_bytes=W * H * 3)
    assert nets[0].calls == nets[1].calls


@pytest.mark.parametrize("scan", ["full", "motion"])
def test_a_segment_from_a_key_frame_gives_what_the_whole_scan_gives(scan):
    """A long video's segments start at key frames; a key frame is always looked at."""
    scene = _scene(W, H, seed=6)
    pictures = [_mark(scene.copy(), 200, 100, 16)] * 4 + [_mark(scene.copy(), 210, 100, 16)] * 4
    frames = _frames(pictures, keys={0, 3, 6})
    config = Config(threshold=0.5, scan=scan)
    whole, _ = detect_frames(frames, config, _detector([]), frame_bytes=W * H * 3)
    for start in (3, 6):
        part, _ = detect_frames(frames[start:], config, _detector([]), frame_bytes=W * H * 3)
        assert [d.xyxy.tolist() for d in part] == [d.xyxy.tolist() for d in whole[start:]]


def test_the_setting_binds_edits_and_has_a_cli_switch():
    assert Config().reuse_repeats is True
    assert "reuse_repeats" in SCAN_FIELDS and SETTINGS_BEFORE["reuse_repeats"] is False  # older edits: every frame
    args = build_parser().parse_args(["anonymize", "x.mp4", "-o", "out", "--no-reuse-repeats"])
    assert _config_from(args).reuse_repeats is False
    assert _config_from(build_parser().parse_args(["anonymize", "x.mp4", "-o", "out"])).reuse_repeats is True


def test_edits_made_either_way_apply():
    """Each edit is matched to the run's boxes anyway; a repeated frame's boxes are the frame before's."""
    older = {"schema": "veil-edits/1", "veil_version": "0.1", "files": {},
             "detection": {k: v for k, v in detection_settings(Config()).items() if k != "reuse_repeats"}}
    edits = Edits.from_dict(older)
    assert edits.detection["reuse_repeats"] is False
    edits.check_settings(Config())
    edits.check_settings(Config(reuse_repeats=False))


def test_plates_and_text_of_a_repeated_frame_are_the_frame_befores():
    from test_kinds_schedule import _Stub, _now

    from veil.detections import Detections
    from veil.track.kinds import OtherKindsStep

    def run(every: int, repeats: set[int], n: int = 8):
        step = OtherKindsStep(Config(cover="faces,plates", kinds_every=every), _now)
        step.detector = _Stub()
        rgb = np.zeros((8, 8, 3), np.uint8)
        for i in range(n):
            step.add(rgb, i, repeat=i in repeats)
        return step, step.join([Detections.empty()] * n)

    step, out = run(1, {1, 3, 6})
    assert step.detector.calls == 5 and step.looked == [0, 2, 4, 5, 7]
    assert all(len(d) == 1 for d in out)  # every frame has the plate: its own look's or the frame before's
    # Only after a full look of the frame before: under a schedule a repeated frame between looks
    # is left to the change watch, and a repeated frame due a look after one that was not looked at is looked at.
    step, out = run(4, {4, 5})
    assert step.looked == [0, 4, 7] and len(out[5]) == 0


def _held_clip(path):
    """45 frames of H.264, a picture held three frames (2-4, 5-7, ...); key frames 0, 15 and 30 (which
    repeat frames 14 and 29)."""
    from synthetic_video import write_frames

    scene = _scene(320, 192, seed=8)
    pictures = [_mark(scene.copy(), 20 + 6 * ((k + 1) // 3), 60, 16) for k in range(45)]
    write_frames(path, pictures, options={"g": "15", "keyint_min": "15", "sc_threshold": "0", "bf": "0"})
    return path


def test_segments_of_a_real_clip_decide_repeats_as_the_whole_clip(tmp_path):
    """Decoded key frames carry their flag in both readers, so each segment's first frame -- a key
    frame with no frame before it in the segment -- is looked at in the whole scan too."""
    from veil.media.video import iter_frames
    from veil.media.video.segments import plan_segments, segment_frames

    clip = _held_clip(tmp_path / "repeats.mp4")
    whole = list(iter_frames(clip, max_pixels=10**8))
    assert [f.index for f in whole if f.key] == [0, 15, 30]
    r = Repeats(True)
    flags = [r.check(f) for f in whole]
    assert not flags[15] and flags[16] and not flags[30] and flags[31] and sum(flags) >= 12
    plan = plan_segments(clip, seconds=1.0, max_pixels=10**8)
    assert [s.start for s in plan.segments] == [0, 15, 30]
    parts = []
    for segment in plan.segments:
        r = Repeats(True)
        parts += [r.check(f) for f in segment_frames(clip, segment, max_pixels=10**8)]
    assert parts == flags


def test_the_report_names_the_repeated_frames(tmp_path):
    import json

    from veil.cli import main
    from veil.media.video import iter_frames
    from veil.report import FileReport
    from veil.track.scan import scan_video

    (tmp_path / "in").mkdir()
    clip = _held_clip(tmp_path / "in" / "held.mp4")
    scan = scan_video(clip, Config(threshold=0.5), _detector([]))
    r = Repeats(True)
    assert scan.repeated == [f.index for f in iter_frames(clip, max_pixels=10**8) if r.check(f)]
    assert main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-verify"]) == 0
    entry = json.loads((tmp_path / "out" / "veil-report.json").read_text())["files"][0]
    assert entry["repeated"] == scan.repeated
    assert FileReport.from_dict(entry).video.repeated == scan.repeated  # read back
    assert f"{len(scan.repeated)} frames repeated the frame before" in (tmp_path / "out" / "veil-report.html").read_text()
    assert main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "out2"), "--no-verify",
                 "--no-reuse-repeats"]) == 0
    assert "repeated" not in json.loads((tmp_path / "out2" / "veil-report.json").read_text())["files"][0]
