"""Pass 1's scan modes: motion-aware plans, every frame whole (``scan='full'``), and ``auto`` (the
default: plans on frames the whole-frame pass sees downscaled, the full scan below).

The detector's network is the marker stub of ``test_scanplan`` (boxes around
magenta squares), so the two modes can be compared exactly; the planner's own
guarantees (entering content, cuts, walk-in, flash and zoom fallbacks) are
tested in ``test_scanplan``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from veil.cli import _config_from, build_parser
from veil.config import SCAN_FIELDS, Config
from veil.detect import MultiScaleDetector, default_detector
from veil.detections import Detections, Kind
from veil.errors import UsageError
from veil.media.video.base import Frame
from veil.track import kinds as track_kinds
from veil.track.scan import detect_frames, plans_motion

from test_scanplan import MARK, MarkerNet, _mark, _scene

W, H = 640, 360


def _frames(pictures):
    return [Frame(k, k, Fraction(1, 25), rgb) for k, rgb in enumerate(pictures)]


def _pan_with_entering_face(n: int = 12, step: int = 8) -> list[np.ndarray]:
    """A pan to the right over a wide scene; a face only in the part that enters last."""
    wide = _scene(W + n * step, H, seed=3)
    _mark(wide, W + (n - 3) * step, 150, 24)  # enters the view on frame n - 3 or so
    _mark(wide, 120, 60, 12)  # a small one seen from the start
    return [wide[:, k * step:k * step + W].copy() for k in range(n)]


def _detector(counter: list | None = None) -> MultiScaleDetector:
    net = MarkerNet()
    if counter is not None:
        counter.append(net)
    return MultiScaleDetector(net, threshold=0.5, probe_threshold=0.05)


def test_scan_is_a_validated_setting_that_binds_edits():
    assert Config().scan == "auto"  # plans only where the full scan would run every tile
    assert Config(scan="motion").scan == "motion"
    assert "scan" in SCAN_FIELDS
    with pytest.raises(UsageError, match=r"scan \(--scan\) must be one of"):
        Config(scan="sometimes")


def test_cli_scan_option():
    args = build_parser().parse_args(["anonymize", "x.mp4", "-o", "out", "--scan", "motion"])
    assert _config_from(args).scan == "motion"
    args = build_parser().parse_args(["anonymize", "x.mp4", "-o", "out"])
    assert _config_from(args).scan == "auto"


def test_motion_plans_only_where_they_apply():
    det = default_detector(Config(), threads=1)
    motion = Config(scan="motion")
    assert plans_motion(motion, det)
    assert not plans_motion(Config(scan="full"), det, shape=(2160, 3840, 3))
    assert not plans_motion(Config(scan="motion", tile_every=2), det)  # sparse tiles keep their own rule
    assert plans_motion(Config(scan="motion", cover="faces,plates"), det)  # plates and text beside the plans
    assert not plans_motion(Config(scan="motion", cover="plates"), det)  # no faces to plan for
    assert not plans_motion(motion, MultiScaleDetector(MarkerNet(), flip=True))
    assert not plans_motion(motion, MarkerNet())  # another detector scans every frame whole


@pytest.mark.parametrize("shape, planned", [((360, 640, 3), False), ((720, 1280, 3), False),
                                            ((1080, 1920, 3), True), ((1920, 1080, 3), True),
                                            ((1440, 2560, 3), True), ((2160, 3840, 3), True),
                                            ((3840, 2160, 3), True)])
def test_auto_plans_where_the_whole_frame_pass_downscales(shape, planned):
    # There the full scan's candidates miss faint small faces every tile finds (bench/RESULTS.md).
    det = default_detector(Config(), threads=1)
    assert det.downscales(shape) == planned
    assert plans_motion(Config(), det, shape=shape) == planned
    assert not plans_motion(Config(), det)  # no frame size known: the full scan
    no_tiles = default_detector(Config(tiles=False), threads=1)
    assert not plans_motion(Config(tiles=False), no_tiles, shape=shape)


def test_auto_scan_of_a_large_clip_is_the_motion_scan():
    wide = _scene(2400 + 6 * 16, 1200, seed=5)
    _mark(wide, 1900, 300, 40)
    frames = [wide[:, k * 16:k * 16 + 2400].copy() for k in range(6)]
    nets: list = []
    auto, _ = detect_frames(_frames(frames), Config(threshold=0.5), _detector(nets), frame_bytes=2400 * 1200 * 3)
    calls_auto = nets[-1].calls
    motion, _ = detect_frames(_frames(frames), Config(threshold=0.5, scan="motion"), _detector(nets),
                              frame_bytes=2400 * 1200 * 3)
    assert nets[-1].calls == calls_auto
    assert [d.xyxy.tolist() for d in auto] == [d.xyxy.tolist() for d in motion]
    assert all(len(d) for d in auto)


@pytest.mark.parametrize("workers", [1, 2])
def test_motion_scan_finds_what_the_full_scan_finds_on_a_pan(workers):
    frames = _pan_with_entering_face()
    config = Config(threshold=0.5, scan="motion")
    nets = []
    planned, sig_a = detect_frames(_frames(frames), config, _detector(nets), workers=workers,
                                   frame_bytes=W * H * 3)
    full, sig_b = detect_frames(_frames(frames), config.replace(scan="full"), _detector(nets), workers=workers,
                                frame_bytes=W * H * 3)
    assert len(planned) == len(full) == len(frames)
    for k, (a, b) in enumerate(zip(planned, full)):
        assert len(a) == len(b), k
        order = lambda d: np.lexsort(d.xyxy.T[::-1])  # noqa: E731
        np.testing.assert_allclose(a.xyxy[order(a)], b.xyxy[order(b)], atol=0.5)
    # The entering face is found on the first frame it is whole in the picture.
    entering = [k for k, d in enumerate(full) if len(d) == 2]
    assert entering and all(len(planned[k]) == 2 for k in entering)
    for a, b in zip(sig_a, sig_b):
        np.testing.assert_array_equal(a, b)
    # ... for a fraction of the network's work.
    planned_px = sum(h * w * s * s for (h, w), s in nets[0].calls)
    full_px = sum(h * w * s * s for (h, w), s in nets[1].calls)
    assert planned_px < 0.6 * full_px


def test_motion_scan_results_do_not_depend_on_workers():
    frames = _pan_with_entering_face(8)
    config = Config(threshold=0.5, scan="motion")
    one, _ = detect_frames(_frames(frames), config, _detector(), workers=1, frame_bytes=W * H * 3)
    two, _ = detect_frames(_frames(frames), config, _detector(), workers=2, frame_bytes=W * H * 3)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_frames_are_not_mutated():
    frames = _pan_with_entering_face(4)
    copies = [f.copy() for f in frames]
    detect_frames(_frames(frames), Config(threshold=0.5, scan="motion"), _detector(), frame_bytes=W * H * 3)
    for a, b in zip(frames, copies):
        np.testing.assert_array_equal(a, b)
    assert (frames[0] == MARK).all(axis=2).any()


def test_auto_scan_of_a_small_clip_is_the_full_scan():
    frames = _pan_with_entering_face()
    nets: list = []
    auto, _ = detect_frames(_frames(frames), Config(threshold=0.5), _detector(nets), frame_bytes=W * H * 3)
    full, _ = detect_frames(_frames(frames), Config(threshold=0.5, scan="full"), _detector(nets),
                            frame_bytes=W * H * 3)
    assert nets[0].calls == nets[1].calls
    assert [d.xyxy.tolist() for d in auto] == [d.xyxy.tolist() for d in full]


@pytest.mark.parametrize("shape, photo", [((360, 640, 3), None), ((720, 1280, 3), None), ((1080, 1920, 3), "all"),
                                          ((1536, 2048, 3), "all"), ((2160, 3840, 3), "all")])
def test_photos_the_whole_frame_pass_downscales_get_every_tile(shape, photo):
    det = _detector()
    assert det.downscales(shape) is (photo is not None)
    assert det.photo_tiles(shape) == photo
    assert MultiScaleDetector(MarkerNet(), upscale=None).photo_tiles(shape) is None  # --no-tiles: none
    assert MultiScaleDetector(MarkerNet(), full_scale=0.5).photo_tiles((360, 640, 3)) == "all"  # --scale 0.5


def test_a_1080p_photo_gets_every_tile_and_a_1080p_video_frame_the_pointed_ones():
    from veil.detect import find

    picture = _scene(1920, 1080, seed=4)
    nets: list = []
    find(picture, Config(threshold=0.5), detector=_detector(nets))
    det = _detector(nets)
    assert len(nets[0].calls) == 2 + len(det.tiles(picture.shape))  # whole frame, coarse, every tile
    detect_frames(_frames([picture]), Config(threshold=0.5, scan="full"), det, frame_bytes=1920 * 1080 * 3)
    assert len(nets[1].calls) == 2  # no candidate: no tile (the video scan's speed; bench/RESULTS.md)
    small: list = []
    find(picture[:720, :1280].copy(), Config(threshold=0.5), detector=_detector(small))
    assert len(small[0].calls) == 2  # seen at its own size: the candidates choose


class _PlateStub:
    """A plate/text detector that finds one plate on every frame it looks at, whole or in windows."""

    window_margin = 16

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, rgb, *, pool=None):
        self.calls += 1
        return Detections([[1, 1, 20, 8]], kind=[Kind.PLATE])

    def detect_windows(self, rgb, windows, *, pool=None):
        return Detections.empty()


@pytest.mark.parametrize("workers", [1, 2])
def test_plates_and_text_are_found_beside_the_motion_plans(monkeypatch, workers):
    frames = _pan_with_entering_face(8)
    stub = _PlateStub()
    monkeypatch.setattr(track_kinds, "other_kinds_for", lambda config, single=False: stub if config.other_kinds else None)
    nets: list = []
    camera: list = []
    both, _ = detect_frames(_frames(frames), Config(threshold=0.5, scan="motion", cover="faces,plates"),
                            _detector(nets), workers=workers, frame_bytes=W * H * 3, camera=camera)
    faces, _ = detect_frames(_frames(frames), Config(threshold=0.5, scan="motion"), _detector(nets),
                             workers=workers, frame_bytes=W * H * 3)
    assert sorted(nets[0].calls) == sorted(nets[1].calls)  # the same planned face looks
    assert stub.calls == len(frames) and len(camera) == len(frames)
    for d, f in zip(both, faces):
        np.testing.assert_array_equal(d[d.kind == Kind.FACE].xyxy, f.xyxy)
        assert (d.kind == Kind.PLATE).sum() == 1
