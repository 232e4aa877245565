"""veil.detect.scanplan: motion-aware scan plans and their guarantees.

Most tests drive a :class:`MultiScaleDetector` whose network is a stub that
"finds" magenta squares exactly (in any window that holds them whole), so a
plan's result can be compared, frame by frame, with a look at everything.
The last tests run the real CenterFace on short synthetic clips: a face
entering a pan, a person walking in, a cut in the middle of a pan.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import cv2
import numpy as np
import pytest

from veil.config import Config
from veil.detections import Detections, box_iou
from veil.detect import MultiScaleDetector, default_detector
from veil.detect.scanplan import FramePlan, ScanPlanner, network_pixels, run_plan
from veil.detect.scanwindows import (align_quantum, cap_windows, grow_window, held_by, lattice_window, merge_windows,
                                    split_patch, windows_holding)

MARK = np.array([255, 0, 255], np.uint8)
W, H = 640, 360


class MarkerNet:
    """A stand-in for CenterFace: boxes around magenta squares of at least 8 network pixels."""

    threshold = 0.2

    def __init__(self):
        self.calls = []

    def detect(self, rgb, *, scale=1.0, threshold=None):
        self.calls.append((rgb.shape[:2], scale))
        hit = np.all(rgb == MARK, axis=2).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(hit, connectivity=4)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:] if max(w, h) * scale >= 8]
        if not boxes:
            return Detections.empty()
        return Detections(np.array(boxes, np.float32), scores=np.full(len(boxes), 0.9, np.float32))


def _detector(**kw) -> MultiScaleDetector:
    return MultiScaleDetector(MarkerNet(), threshold=0.5, probe_threshold=0.05, **kw)


def _scene(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = cv2.resize(rng.uniform(0, 200, (h // 16, w // 16, 3)).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    for _ in range(w * h // 4000):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(float(c) for c in rng.uniform(0, 200, 3))
        cv2.rectangle(low, (x, y), (x + int(rng.integers(4, 30)), y + int(rng.integers(4, 30))), colour, -1)
    return np.clip(low, 0, 200).astype(np.uint8)  # never magenta


def _mark(img: np.ndarray, x: int, y: int, size: int) -> np.ndarray:
    img[y:y + size, x:x + size] = MARK
    return img


def _run(det, frames, **kw) -> tuple[list[FramePlan], list[Detections]]:
    planner = ScanPlanner(det, frames[0].shape, **kw)
    plans, found = [], []
    for k, rgb in enumerate(frames):
        dets, plan = planner.detect(rgb, shot_change=kw.pop("cut_at", None) == k)
        plans.append(plan)
        found.append(dets)
    return plans, found


def _everything(det, rgb) -> Detections:
    return det.merge(det.passes(rgb, tiles="all"))


def _same(a: Detections, b: Detections, px: float = 1e-3) -> bool:
    """The same boxes (each within ``px`` pixels) and scores."""
    order = lambda d: np.lexsort(np.round(d.xyxy.T[::-1] / 8))  # noqa: E731
    return len(a) == len(b) and np.allclose(a.xyxy[order(a)], b.xyxy[order(b)], atol=px) and \
        np.allclose(a.scores[order(a)], b.scores[order(b)])


def _covered(calls, layer: str, rect) -> bool:
    """Every pixel of ``rect`` lies inside a window of ``layer``."""
    x0, y0, x1, y1 = rect
    hit = np.zeros((H, W), bool)
    for c in calls:
        if c.layer == layer:
            hit[c.window[1]:c.window[3], c.window[0]:c.window[2]] = True
    return bool(hit[y0:y1, x0:x1].all())


# -- whole-frame scans -----------------------------------------------------------------------
def test_first_frame_and_reported_cut_scan_everything():
    det = _detector()
    scene = _scene(W, H)
    planner = ScanPlanner(det, scene.shape)
    plan = planner.plan(scene)
    assert plan.full and plan.reason == "first"
    layers = {c.layer for c in plan.calls}
    assert layers == {"full", "coarse", "tiles"}
    assert sorted(c.window for c in plan.calls if c.layer == "tiles") == sorted(det.tiles(scene.shape))
    assert all(c.window == (0, 0, W, H) for c in plan.calls if c.layer != "tiles")
    planner.record(plan, run_plan(det, scene, plan))
    plan = planner.plan(scene, shot_change=True)
    assert plan.full and plan.reason == "cut"


def test_full_scan_equals_every_tile_pass():
    det = _detector()
    scene = _mark(_mark(_scene(W, H), 100, 100, 10), 400, 200, 30)
    planner = ScanPlanner(det, scene.shape)
    plan = planner.plan(scene)
    passes = run_plan(det, scene, plan)
    expected = det.passes(scene, tiles="all")
    assert [p.name for p in passes] == [p.name for p in expected]
    for p, q in zip(passes, expected):
        assert _same(p.detections, q.detections) and p.small == q.small


def test_cut_mid_pan_is_scanned_whole_without_a_hint():
    det = _detector()
    a, b = _scene(W + 200, H, seed=1), _scene(W + 200, H, seed=2)
    frames = [a[:, 5 * k:5 * k + W].copy() for k in range(5)] + [b[:, 5 * k:5 * k + W].copy() for k in range(5)]
    plans, _ = _run(det, frames)
    assert plans[5].full and plans[5].reason == "lost"
    assert not any(p.full for p in plans[1:5]) and not any(p.full for p in plans[6:])


def test_static_scene_is_rescanned_within_max_interval():
    det = _detector()
    scene = _mark(_scene(W, H), 200, 100, 20)
    plans, found = _run(det, [scene] * 13, max_interval=4)
    assert [p.full for p in plans] == [k % 4 == 0 for k in range(13)]
    # Nothing new, nothing changed: no call; what was found is carried.
    assert all(not p.calls for k, p in enumerate(plans) if k % 4)
    assert all(_same(dets, _everything(det, scene)) for dets in found)


def test_carried_boxes_are_looked_at_again_after_max_carry_frames():
    det = _detector()
    scene = _mark(_scene(W, H), 200, 100, 20)
    plans, found = _run(det, [scene] * 8, max_interval=30, max_carry=2)
    assert [bool(p.calls) for p in plans] == [True, False, False, True, False, False, True, False]
    for p in (plans[3], plans[6]):  # a window around the face, by every pass that scores its size
        assert not p.full and all(c.window[0] <= 200 and c.window[2] >= 220 for c in p.calls)
        assert {c.layer for c in p.calls} == {"full", "tiles"}
    assert all(_same(dets, _everything(det, scene)) for dets in found)


def test_boxes_are_looked_at_again_where_the_motion_is_only_coarse(monkeypatch):
    # A 'coarse' motion (veil.detect.motion.estimate_motion(coarse=True)) moves what was seen only
    # roughly: every box is looked at again, none carried (on a still scene an 'ok' motion carries it).
    import veil.detect.scanplan as SP
    from veil.detect.motion import COARSE, Motion

    det = _detector()
    scene = _mark(_scene(W, H), 200, 100, 20)
    monkeypatch.setattr(SP, "estimate_motion", lambda prev, cur, **kw: Motion(np.eye(3), True, COARSE, 99, 1.0))
    plans, found = _run(det, [scene] * 4, max_interval=30)
    for p in plans[1:]:
        assert not p.full and p.calls and not any(len(c.detections) for c in p.carried)
        assert all(c.window[0] <= 200 and c.window[2] >= 220 for c in p.calls)
    assert all(_same(dets, _everything(det, scene)) for dets in found)


class _UnsureNet(MarkerNet):
    """MarkerNet whose boxes all score 0.3: candidates under the detector's threshold (0.5)."""

    def detect(self, rgb, *, scale=1.0, threshold=None):
        dets = super().detect(rgb, scale=scale, threshold=threshold)
        return dets.replace(scores=np.full(len(dets), 0.3, np.float32)) if len(dets) else dets


def test_candidates_under_the_threshold_are_looked_at_again_every_frame():
    det = MultiScaleDetector(_UnsureNet(), threshold=0.5, probe_threshold=0.05)
    scene = _mark(_scene(W, H), 200, 100, 20)
    plans, _ = _run(det, [scene] * 5, max_interval=30)
    # Carrying an unsure candidate's score would keep it under the threshold until the next
    # full look; every tile on every frame scores it anew each frame.
    assert all(p.calls and not p.full for p in plans[1:])
    assert all(any(c.window[0] <= 200 and c.window[2] >= 220 for c in p.calls) for p in plans[1:])
    plans, _ = _run(det, [scene] * 5, max_interval=30, relook_below=None)
    assert not any(p.calls for p in plans[1:])


class _GridNet(MarkerNet):
    """MarkerNet sure of its boxes only in crops the shape of the detector's own tiles (344x360 here).

    A stand-in for a face near the threshold, whose score depends on where the
    window was cut and how it was resampled: every tile on every frame sees it
    in the grid's tiles, a plan's window elsewhere.
    """

    def detect(self, rgb, *, scale=1.0, threshold=None):
        dets = super().detect(rgb, scale=scale, threshold=threshold)
        score = 0.9 if rgb.shape[:2] == (360, 344) else 0.07
        return dets.replace(scores=np.full(len(dets), score, np.float32)) if len(dets) else dets


def test_unsure_candidates_are_looked_at_in_the_detectors_own_tiles():
    det = MultiScaleDetector(_GridNet(), threshold=0.5, probe_threshold=0.05)
    scene = _scene(W, H, seed=9)
    frames = [_mark(scene.copy(), 150 + 4 * k, 120, 14) for k in range(5)]  # a small face moving on its own
    grid = set(det.tiles(scene.shape))
    assert all(len(_everything(det, rgb)) == 1 for rgb in frames)
    plans, found = _run(det, frames, max_interval=30, grid_relook="all", relook_every=1)
    # The moved face is looked at in a window of the plan's (unsure there), then in the grid's tile holding it.
    assert all(len(d) == 1 and d.scores[0] > 0.5 for d in found)
    assert all(not p.full and not any(c.window in grid for c in p.calls) for p in plans[1:])
    plans, found = _run(det, frames, max_interval=30, grid_relook=None)
    assert all(len(d) == 0 for d in found[1:])


def test_carried_unsure_candidates_are_looked_at_again_in_the_grids_tiles():
    det = _detector()
    scene = _scene(W, H, seed=10)
    planner = ScanPlanner(det, scene.shape, max_interval=30, grid_relook="all", relook_every=1)
    plan = planner.plan(scene)
    unsure = Detections(np.array([[100, 100, 114, 114]], np.float32), scores=np.array([0.2], np.float32))
    planner.record(plan, [p if p.name != "tiles" else p.__class__("tiles", unsure, True)
                          for p in run_plan(det, scene, plan)])
    plan = planner.plan(scene)
    tiles = [c.window for c in plan.calls if c.layer == "tiles"]
    holding = [t for t in det.tiles(scene.shape) if held_by(unsure.xyxy, [t])[0]]
    assert holding and all(t in tiles for t in holding)
    # and in a window of its own, as before
    assert any(w not in holding and held_by(unsure.xyxy, [w])[0] for w in tiles)
    planner = ScanPlanner(det, scene.shape, max_interval=30, grid_relook=None)
    plan = planner.plan(scene)
    planner.record(plan, [p if p.name != "tiles" else p.__class__("tiles", unsure, True)
                          for p in run_plan(det, scene, plan)])
    assert not any(c.window in holding for c in planner.plan(scene).calls)


@pytest.mark.parametrize("grid", ["all", "one", "local"])
def test_grid_relook_takes_every_tile_holding_the_candidate_or_the_nearest(grid):
    det = _detector()
    scene = _scene(W, H, seed=11)
    unsure = Detections(np.array([[300, 100, 314, 114]], np.float32), scores=np.array([0.2], np.float32))
    left, right = det.tiles(scene.shape)  # (0, 0, 344, 360) and (296, 0, 640, 360): both hold it
    planner = ScanPlanner(det, scene.shape, max_interval=30, grid_relook=grid, relook_every=1)
    plan = planner.plan(scene)
    planner.record(plan, [p if p.name != "tiles" else p.__class__("tiles", unsure, True)
                          for p in run_plan(det, scene, plan)])
    tiles = [c.window for c in planner.plan(scene).calls if c.layer == "tiles"]
    if grid == "local":  # a window on each holding tile's grid, not the tile
        q = align_quantum(det.upscale)
        for t in (left, right):
            assert t not in tiles
            assert any(held_by(unsure.xyxy, [w])[0] and (w[0] - t[0]) % q == 0 and (w[1] - t[1]) % q == 0
                       and t[0] <= w[0] and w[2] <= t[2] for w in tiles)
    else:
        assert left in tiles and (right in tiles) == (grid == "all")


def test_grid_relook_by_default_only_where_the_plans_stand_in_for_every_tile():
    det = _detector()
    # 640x360 frames: --scan full runs adaptive tiles; the plans too (tiles='auto'), without grid relooks
    assert ScanPlanner(det, (H, W)).grid_relook is None
    assert ScanPlanner(det, (H, W), tiles="all").grid_relook == "all"
    assert ScanPlanner(det, (2160, 3840)).grid_relook == "all"  # over 2048 px: every tile on every frame
    assert ScanPlanner(det, (H, W), grid_relook="local").grid_relook == "local"
    # and unsure candidates looked at again every other frame there, every frame elsewhere
    assert ScanPlanner(det, (H, W)).relook_every == 1
    assert ScanPlanner(det, (H, W), tiles="all").relook_every == 2
    assert ScanPlanner(det, (2160, 3840)).relook_every == 2
    assert ScanPlanner(det, (2160, 3840), relook_every=3).relook_every == 3


def test_carried_unsure_candidates_every_other_frame_with_relook_every_2():
    det = _detector()
    scene = _scene(W, H, seed=12)
    unsure = Detections(np.array([[100, 100, 114, 114]], np.float32), scores=np.array([0.2], np.float32))
    holding = [t for t in det.tiles(scene.shape) if held_by(unsure.xyxy, [t])[0]]
    planner = ScanPlanner(det, scene.shape, max_interval=30, grid_relook="all", relook_every=2)
    looked = []
    for t in range(5):
        plan = planner.plan(scene)
        looked.append(any(held_by(unsure.xyxy, [c.window])[0] for c in plan.calls if c.layer == "tiles"))
        passes = run_plan(det, scene, plan)
        # The network finds the candidate wherever a call holds it; carried otherwise.
        planner.record(plan, [p if p.name != "tiles" else p.__class__("tiles", unsure, True) for p in passes])
    assert holding and looked == [True, False, True, False, True]  # frame 0: the whole frame
    found = planner.run(scene, planner.plan(scene))  # carried on frame 5 with its score: still not a face
    assert not len(found)


def test_flash_and_fast_zoom_scan_everything():
    det = _detector()
    scene = _scene(W, H, seed=3)
    flash = np.clip(scene.astype(np.float32) * 1.8 + 20, 0, 255).astype(np.uint8)
    m = cv2.getRotationMatrix2D((W / 2, H / 2), 0, 1.08)
    zoom = cv2.warpAffine(scene, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    plans, _ = _run(det, [scene, scene, flash, scene, zoom])
    assert [p.reason for p in plans] == ["first", "partial", "flash", "flash", "zoom"]


# -- partial plans ------------------------------------------------------------------------------
@pytest.mark.parametrize("tiles", ["all", "auto"])
def test_content_entering_a_pan_is_scanned_by_every_pass(tiles):
    det = _detector()
    wide = _scene(W + 300, H, seed=4)
    frames = [wide[:, 7 * k:7 * k + W].copy() for k in range(8)]
    planner = ScanPlanner(det, frames[0].shape, tiles=tiles)
    # With 'auto' (frames up to 2048 px) tiles run where the other passes find small candidates.
    layers = ("full", "coarse", "tiles") if tiles == "all" else ("full", "coarse")
    for k, rgb in enumerate(frames):
        dets, plan = planner.detect(rgb)
        if k == 0:
            continue
        assert not plan.full
        for layer in layers:
            margin = int(planner.margins[layer])
            # The new strip, and the largest face of this pass reaching into it, lie inside its windows.
            assert _covered(plan.calls, layer, (W - 7 - margin, 0, W, H)), (k, layer)
        # A pan costs far less than looking everywhere.
        assert plan.network_pixels < 0.6 * sum(planner.whole_cost.values())


def test_tracked_faces_are_looked_at_by_the_passes_that_score_them():
    det = _detector()
    scene = _scene(W, H, seed=5)
    frames = []
    for k in range(6):  # a small and a large marker, both moving on a still background
        f = _mark(scene.copy(), 100 + 3 * k, 120, 12)
        frames.append(_mark(f, 380 - 2 * k, 150, 40))
    planner = ScanPlanner(det, frames[0].shape)
    looked = 0
    for k, rgb in enumerate(frames):
        dets, plan = planner.detect(rgb)
        truth = np.array([[100 + 3 * k, 120, 112 + 3 * k, 132], [380 - 2 * k, 150, 420 - 2 * k, 190]], np.float32)
        # Both are found on every frame, the moved boxes within the change tolerance (a work pixel, 2 px)
        # plus one frame's motion of where they are.
        assert len(dets) == 2 and np.abs(np.sort(dets.xyxy, axis=0) - np.sort(truth, axis=0)).max() <= 2 + 3
        if k:
            small, large = (truth + [-3, -3, 3, 3]).astype(int)
            looked += _covered(plan.calls, "full", small) and _covered(plan.calls, "tiles", small)
            assert _covered(plan.calls, "full", large) and _covered(plan.calls, "tiles", large)
    assert looked >= 3  # the small one moves under a work pixel a frame: looked at when that adds up


@pytest.mark.parametrize("clip", ["pan", "walk_in", "cut", "shake"])
def test_plans_find_what_looking_everywhere_finds(clip):
    det = _detector()
    wide = _scene(W + 400, H + 60, seed=6)
    frames = []
    rng = np.random.default_rng(1)
    for k in range(24):
        if clip == "pan":  # markers fixed in the scene, entering from the right
            f = _mark(_mark(wide.copy(), W + 60, 200, 10), W + 150, 80, 30)[30:30 + H, 9 * k:9 * k + W]
        elif clip == "walk_in":  # a still camera, a marker walking in from the left edge
            f = _mark(wide[30:30 + H, :W].copy(), max(0, -20 + 8 * k), 150, 20)
        elif clip == "cut":
            src = wide if k < 12 else _scene(W + 400, H + 60, seed=7)
            f = _mark(src.copy(), 300, 100 + (k % 12), 14)[30:30 + H, 6 * k:6 * k + W]
        else:  # hand-held: integer jitter around a still scene
            dx, dy = (int(v) for v in rng.integers(-6, 7, 2))
            f = _mark(wide.copy(), 200, 200, 16)[30 + dy:30 + dy + H, 40 + dx:40 + dx + W]
        frames.append(np.ascontiguousarray(f))
    plans, found = _run(det, frames)
    # A box carried from a frame where its surroundings look the same (to a work pixel: 2 px here) moves
    # with the camera's estimated motion, so it may lag a face moving on its own by that much.
    for k, (rgb, dets) in enumerate(zip(frames, found)):
        assert _same(dets, _everything(det, rgb), px=2.5), (clip, k, plans[k].reason)
    assert sum(p.network_pixels for p in plans) < 0.9 * len(plans) * plans[0].network_pixels


def test_calls_side_by_side_give_the_same_passes():
    det = _detector()
    scene = _mark(_scene(W, H, seed=8), 300, 100, 20)
    planner = ScanPlanner(det, scene.shape)
    plan = planner.plan(scene)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        parallel = run_plan(det, scene, plan, pool=pool)
    serial = run_plan(det, scene, plan)
    assert all(_same(a.detections, b.detections) and a.name == b.name for a, b in zip(parallel, serial))


def test_tiles_side_by_side_find_the_same_faces():
    det = _detector()
    scene = _scene(W, H, seed=9)
    for x, y, size in ((30, 40, 12), (300, 100, 20), (500, 300, 14), (610, 20, 30)):
        _mark(scene, x, y, size)
    serial = det.detect(scene, tiles="all")
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        parallel = det.detect(scene, tiles="all", pool=pool)
        assert len(det.tiles(scene.shape)) > 1
        assert _same(parallel, serial) and len(serial) == 4
        assert _same(det.tile_pass(scene, pool=pool), det.tile_pass(scene))


def test_network_pixels_pads_to_32():
    assert network_pixels((0, 0, 640, 360), 1.0) == 640 * 384
    assert network_pixels((10, 10, 42, 42), 1.5) == 64 * 64


def test_misuse_is_refused():
    det = _detector()
    scene = _scene(W, H)
    with pytest.raises(ValueError):
        ScanPlanner(_detector(flip=True), scene.shape)
    with pytest.raises(ValueError):
        ScanPlanner(det, scene.shape, max_interval=0)
    with pytest.raises(ValueError):
        ScanPlanner(det, scene.shape, max_carry=0)
    with pytest.raises(ValueError):
        ScanPlanner(det, scene.shape, grid_relook=True)
    with pytest.raises(ValueError):
        ScanPlanner(det, scene.shape, relook_every=0)
    planner = ScanPlanner(det, scene.shape)
    with pytest.raises(ValueError):
        planner.plan(scene[:100])
    plan = planner.plan(scene)
    with pytest.raises(RuntimeError):
        planner.plan(scene)
    planner.record(plan, run_plan(det, scene, plan))
    with pytest.raises(RuntimeError):
        planner.record(plan, [])


def test_frame_not_mutated():
    det = _detector()
    scene = _mark(_scene(W, H, seed=9), 50, 50, 20)
    copy = scene.copy()
    _run(det, [scene, scene])
    assert np.array_equal(scene, copy)


# -- the real detector ---------------------------------------------------------------------------
FACE = Path(__file__).parent / "data" / "face_mask" / "maksssksksss343.jpg"


def _face(width: int) -> np.ndarray:
    """The fixture's face with some head around it, ``width`` pixels wide (RGB)."""
    rgb = np.ascontiguousarray(cv2.imread(str(FACE))[:, :, ::-1])
    dets = default_detector(Config(), threads=1).detect(rgb)
    x0, y0, x1, y1 = dets.xyxy[np.argmax(dets.scores)]
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, 0.8 * max(x1 - x0, y1 - y0)
    crop = rgb[int(cy - s):int(cy + s), int(cx - s):int(cx + s)]
    return cv2.resize(crop, (width, width), interpolation=cv2.INTER_AREA)


def _found_on(frames, det, planner_kw=None):
    planner = ScanPlanner(det, frames[0].shape, **(planner_kw or {}))
    plans, mine, every = [], [], []
    for rgb in frames:
        dets, plan = planner.detect(rgb)
        plans.append(plan)
        mine.append(dets)
        every.append(_everything(det, rgb))
    return plans, mine, every


def _has(dets: Detections, box) -> bool:
    return bool(len(dets)) and box_iou(np.array([box], np.float32), dets.xyxy).max() > 0.3


@pytest.fixture(scope="module")
def real():
    return default_detector(Config(), threads=1)


def test_face_entering_a_pan_is_found_from_its_first_frame(real):
    face = _face(64)
    wide = _scene(480 + 200, 270, seed=10)
    wide[100:164, 500:564] = face  # beyond the first frame's right edge, whole in view from frame 11
    frames = [np.ascontiguousarray(wide[:, 8 * k:8 * k + 480]) for k in range(16)]
    plans, mine, every = _found_on(frames, real)
    boxes = [(500 - 8 * k + 12, 112, 500 - 8 * k + 52, 152) for k in range(16)]
    seen_every = [_has(d, b) for d, b in zip(every, boxes)]
    seen_mine = [_has(d, b) for d, b in zip(mine, boxes)]
    assert any(seen_every) and seen_mine == seen_every
    first = seen_every.index(True)
    assert not plans[first].full  # found by the partial plan of the entering strip


def test_person_walking_in_is_found_on_entry(real):
    face = _face(56)
    scene = _scene(480, 270, seed=11)
    frames = []
    for k in range(12):
        f = scene.copy()
        x = -40 + 10 * k
        left = max(0, -x)
        f[100:156, max(x, 0):x + 56] = face[:, left:]
        frames.append(f)
    plans, mine, every = _found_on(frames, real)
    boxes = [(-40 + 10 * k + 10, 110, -40 + 10 * k + 45, 145) for k in range(12)]
    seen_every = [_has(d, b) for d, b in zip(every, boxes)]
    assert any(seen_every) and [_has(d, b) for d, b in zip(mine, boxes)] == seen_every
    assert sum(p.full for p in plans) == 1


# -- window geometry ------------------------------------------------------------------------------
def test_merged_windows_hold_every_window_whole():
    rng = np.random.default_rng(0)
    for _ in range(200):
        windows = []
        for _ in range(int(rng.integers(1, 40))):
            x0, y0 = (int(v) for v in rng.integers(0, 600, 2))
            w, h = (int(v) for v in rng.integers(8, 200, 2))
            windows.append((x0, y0, x0 + w, y0 + h))
        merged = merge_windows(windows)
        assert len(merged) <= len(set(windows))
        assert held_by(np.array(windows, float), merged).all()
    assert merge_windows([(0, 0, 10, 10), (10, 0, 20, 10)]) == [(0, 0, 20, 10)]  # touching: one window
    assert merge_windows([(0, 0, 10, 10), (100, 100, 110, 110)]) == [(0, 0, 10, 10), (100, 100, 110, 110)]


def test_split_patch_covers_every_pixel_with_mostly_full_rectangles():
    patch = np.zeros((60, 80), bool)
    patch[:3, :] = True  # an L: content entering across two edges
    patch[:, :3] = True
    rects = split_patch(patch, 4)
    covered = np.zeros_like(patch)
    for x0, y0, x1, y1 in rects:
        covered[y0:y1, x0:x1] = True
    assert covered[patch].all() and covered.sum() < 0.2 * patch.size


def test_capped_windows_hold_every_small_face_of_the_window_whole():
    rng = np.random.default_rng(5)
    window, side, overlap, q = (64, 128, 3840, 2160), 852, 48, 64
    pieces = cap_windows([window], side, overlap, q)
    assert len(pieces) > 1
    assert all(p[2] - p[0] <= side and p[3] - p[1] <= side for p in pieces)
    assert all(p[0] % q == 0 and p[1] % q == 0 for p in pieces)
    assert all(window[0] <= p[0] and window[1] <= p[1] and p[2] <= window[2] and p[3] <= window[3] for p in pieces)
    x, y = rng.uniform(window[0], window[2] - overlap, 500), rng.uniform(window[1], window[3] - overlap, 500)
    size = rng.uniform(4, overlap, 500)
    faces = np.stack([x, y, x + size, y + size], axis=1)
    assert held_by(faces, pieces).all()
    assert cap_windows([(0, 0, 500, 400)], side, overlap, q) == [(0, 0, 500, 400)]
    with pytest.raises(ValueError):
        cap_windows([window], 100, overlap, q)


def test_windows_holding_boxes_whole_all_or_the_nearest():
    windows = [(0, 0, 100, 100), (80, 0, 180, 100), (160, 0, 260, 100)]
    boxes = np.array([[82, 10, 92, 20], [168, 10, 178, 20]])  # each in two windows, nearer the outer one
    assert windows_holding(boxes, windows) == windows
    assert windows_holding(boxes, windows, nearest=True) == [windows[0], windows[2]]
    assert windows_holding(np.array([[90, 10, 200, 20]]), windows) == []
    assert windows_holding(np.zeros((0, 4)), windows) == []


def test_lattice_window_lies_on_the_tiles_grid_inside_it():
    tile = (345, 10, 738, 410)
    w = lattice_window((500, 200, 520, 222), 32, tile, 64)
    assert (w[0] - 345) % 64 == 0 and (w[1] - 10) % 64 == 0
    assert w[0] <= 500 - 32 and w[1] <= 200 - 32 and w[2] >= 520 + 32 and w[3] >= 222 + 32
    assert tile[0] <= w[0] and tile[1] <= w[1] and w[2] <= tile[2] and w[3] <= tile[3]
    assert lattice_window((350, 15, 370, 35), 32, tile, 64)[:2] == (345, 10)  # clipped to the tile


def test_windows_grow_onto_the_alignment_grid():
    assert align_quantum(1.0) == 32 and align_quantum(0.5) == 64 and align_quantum(1.5) == 64
    assert align_quantum(1280 / 3840) == 96 and align_quantum(2 / 3) == 48
    assert grow_window((100, 100, 120, 130), 10, 32, 640, 360) == (64, 64, 160, 160)
    assert grow_window((5, 300, 20, 350), 48, 32, 640, 360) == (0, 224, 96, 360)  # clipped to the picture


def test_a_clip_gives_the_same_faces_on_any_number_of_threads():
    det = _detector()
    wide = _mark(_mark(_scene(W + 200, H, seed=12), 500, 100, 12), 700, 250, 30)
    frames = [np.ascontiguousarray(wide[:, 6 * k:6 * k + W]) for k in range(12)]
    results = []
    for workers in (0, 1, 3):
        planner = ScanPlanner(det, frames[0].shape)
        pool = concurrent.futures.ThreadPoolExecutor(workers) if workers else None
        try:
            results.append([planner.detect(rgb, pool=pool)[0] for rgb in frames])
        finally:
            if pool is not None:
                pool.shutdown()
    for other in results[1:]:
        assert all(_same(a, b, px=0) for a, b in zip(results[0], other))
