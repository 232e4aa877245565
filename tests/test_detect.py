"""veil.detect: CenterFace, multi-scale tiling, NMS and the configured default."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from veil.config import Config
from veil.detections import Detections, box_iou
from veil.detect import CenterFace, FaceDetector, MultiScaleDetector, Pass, default_detector, nms, tile_grid
from veil.detect.centerface import has_onnxruntime
from veil.detect.nms import nms_clusters

DATA = Path(__file__).parent / "data" / "face_mask"
HAS_ORT = has_onnxruntime()


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """RGB picture and its (N, 4) xyxy ground-truth face boxes."""
    rgb = np.ascontiguousarray(cv2.imread(str(DATA / f"maksssksksss{name}.jpg"))[:, :, ::-1])
    boxes = []
    for obj in ET.parse(DATA / f"maksssksksss{name}.xml").getroot().iter("object"):
        b = obj.find("bndbox")
        boxes.append([float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")])
    return rgb, np.array(boxes, np.float32)


@pytest.fixture(scope="module")
def cf() -> CenterFace:
    return CenterFace()


# ------------------------------------------------------------------ import
def test_import_loads_no_model():
    code = ("import sys, veil.detect; from veil.detect import centerface as c; "
            "veil.detect.CenterFace(); veil.detect.MultiScaleDetector(veil.detect.CenterFace()); "
            "print(len(c.loaded_models()), 'onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"]


# ------------------------------------------------------------------ CenterFace
@pytest.mark.parametrize("name", ["343", "609"])
def test_known_face_found(cf, name):
    rgb, gt = load(name)
    dets = cf.detect(rgb)
    assert len(dets) >= 1
    best = int(np.argmax(box_iou(gt, dets.xyxy)[0]))
    assert box_iou(gt, dets.xyxy)[0, best] > 0.5
    assert dets.scores[best] > 0.5
    # Landmarks lie inside the face box: eyes above the mouth, left eye left of the right one.
    lm = dets.landmarks[best]
    x1, y1, x2, y2 = dets.xyxy[best]
    assert np.all((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2))
    assert lm[0, 0] < lm[1, 0] and lm[0, 1] < lm[3, 1] and lm[1, 1] < lm[4, 1]


def test_masked_faces_found(cf):
    rgb, gt = load("230")
    dets = cf.detect(rgb)
    iou = box_iou(gt, dets.xyxy)
    assert (iou.max(axis=1) > 0.4).sum() >= 4, iou.max(axis=1)
    assert len(dets) <= len(gt) + 1


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_coordinates_follow_offset_exactly(cf, scale):
    """Pasted at a stride-aligned offset into a black canvas (black = the padding), the
    network sees the same pixels shifted, so every box shifts by the offset. Not to the
    bit: the network's own zero padding at its input's edges falls elsewhere; within
    1% of the face (a 32-px misalignment or a stretched input would be off by 5-30 px)."""
    rgb, gt = load("609")
    rgb = np.ascontiguousarray(rgb[:, :300])  # even size: at scale 0.5 both pictures sample alike
    ref = cf.detect(rgb, scale=scale)
    dx, dy = 128, 64  # multiples of 32 / scale
    canvas = np.zeros((rgb.shape[0] + 2 * dy + 96, rgb.shape[1] + dx + 224, 3), np.uint8)
    canvas[dy:dy + rgb.shape[0], dx:dx + rgb.shape[1]] = rgb
    moved = cf.detect(canvas, scale=scale)
    assert len(ref) == len(moved) == 1
    assert box_iou(gt, ref.xyxy)[0, 0] > 0.5
    tol = 0.01 * ref.widths[0]
    np.testing.assert_allclose(moved.xyxy[0] - [dx, dy, dx, dy], ref.xyxy[0], atol=tol)
    np.testing.assert_allclose(moved.landmarks[0] - [dx, dy], ref.landmarks[0], atol=tol)


class _FakeModel:
    """Stands in for the network: one face centred at network pixel (cx, cy), size (bw, bh)."""

    def __init__(self, cx, cy, bw, bh):
        self.face = (cx, cy, bw, bh)
        self.blobs = []

    def run(self, blob):
        self.blobs.append(blob)
        _, _, h, w = blob.shape
        heat = np.zeros((1, 1, h // 4, w // 4), np.float32)
        size = np.zeros((1, 2, h // 4, w // 4), np.float32)
        offset = np.zeros((1, 2, h // 4, w // 4), np.float32)
        lms = np.zeros((1, 10, h // 4, w // 4), np.float32)
        cx, cy, bw, bh = self.face
        r, c = int(cy // 4), int(cx // 4)
        heat[0, 0, r, c] = 0.9
        heat[0, 0, r, c + 1] = 0.5  # a neighbour cell: the same face, suppressed by NMS
        size[0, :, r, c:c + 2] = np.log(np.array([bh, bw]) / 4)[:, None]
        offset[0, :, r, c] = [cy / 4 - r - 0.5, cx / 4 - c - 0.5]
        offset[0, :, r, c + 1] = [cy / 4 - r - 0.5, cx / 4 - c - 1.5]
        lms[0, :, r, c] = np.tile([0.5, 0.25], 5)  # (y, x) fractions of the box
        return [heat, size, offset, lms]


class _FakeCenterFace(CenterFace):
    def __init__(self, fake):
        super().__init__()
        self.fake = fake

    @property
    def model(self):
        return self.fake


@pytest.mark.parametrize("scale", [1.0, 0.5, 1.37])
def test_pad_not_stretch_and_map_back(scale):
    """The network input is the resized picture padded to multiples of 32 (never
    stretched), and a box decoded in network pixels maps back exactly."""
    rgb = np.random.default_rng(0).integers(0, 255, (203, 301, 3), dtype=np.uint8)
    fake = _FakeModel(cx=101.0, cy=61.0, bw=40.0, bh=48.0)
    dets = _FakeCenterFace(fake).detect(rgb, scale=scale)
    (blob,) = fake.blobs
    nh, nw = round(203 * scale), round(301 * scale)
    assert blob.shape == (1, 3, -(-nh // 32) * 32, -(-nw // 32) * 32)
    assert np.all(blob[:, :, nh:, :] == 0) and np.all(blob[:, :, :, nw:] == 0)
    assert blob[0, :, :nh, :nw].std() > 30  # the picture itself, channels first
    if scale == 1.0:
        assert np.array_equal(blob[0, :, :nh, :nw].transpose(1, 2, 0), rgb)
    sx, sy = nw / 301, nh / 203
    assert len(dets) == 1
    np.testing.assert_allclose(dets.xyxy[0], [(101 - 20) / sx, (61 - 24) / sy, (101 + 20) / sx, (61 + 24) / sy], rtol=1e-5)
    np.testing.assert_allclose(dets.landmarks[0], np.tile([(81 + 10) / sx, (37 + 24) / sy], (5, 1)), rtol=1e-5)
    assert dets.scores[0] == pytest.approx(0.9)


@pytest.mark.parametrize("scale", [1.0, 0.75, 1.5])
def test_coordinates_follow_offset(cf, scale):
    """Any offset, odd canvas size, other surroundings: the box follows the face."""
    rgb, gt = load("609")
    canvas = np.full((733, 1011, 3), 90, np.uint8)  # not multiples of 32
    dx, dy = 437, 251
    canvas[dy:dy + rgb.shape[0], dx:dx + rgb.shape[1]] = rgb
    moved = cf.detect(canvas, scale=scale)
    assert len(moved) == 1
    assert box_iou(gt + [dx, dy, dx, dy], moved.xyxy)[0, 0] > 0.6


def test_scale_keeps_picture_coordinates(cf):
    rgb, gt = load("343")
    for scale in (0.5, 0.8, 1.3, 2.0):
        dets = cf.detect(rgb, scale=scale)
        assert box_iou(gt, dets.xyxy).max() > 0.5, scale


def test_empty_pictures(cf):
    for rgb in (np.zeros((480, 640, 3), np.uint8), np.full((37, 53, 3), 255, np.uint8), np.zeros((1, 1, 3), np.uint8)):
        dets = cf.detect(rgb)
        assert isinstance(dets, Detections) and len(dets) == 0
        assert dets.landmarks.shape == (0, 5, 2)


@pytest.mark.parametrize("bad", [
    np.zeros((32, 32, 3), np.float32),
    np.zeros((32, 32, 3), np.uint16),
    np.zeros((32, 32), np.uint8),
    np.zeros((32, 32, 4), np.uint8),
    np.zeros((0, 32, 3), np.uint8),
    [[0, 0, 0]],
])
def test_invalid_input(cf, bad):
    with pytest.raises(ValueError):
        cf.detect(bad)
    with pytest.raises(ValueError):
        MultiScaleDetector(cf).detect(bad)


def test_invalid_options():
    with pytest.raises(ValueError):
        CenterFace(threshold=1.5)
    with pytest.raises(ValueError):
        CenterFace(backend="tensorflow")
    with pytest.raises(ValueError):
        CenterFace().detect(np.zeros((8, 8, 3), np.uint8), scale=0)
    with pytest.raises(ValueError):
        MultiScaleDetector(CenterFace(), tile_size=100)


def test_input_not_mutated(cf):
    rgb, _ = load("343")
    before = rgb.copy()
    rgb.setflags(write=False)
    cf.detect(rgb, scale=1.5)
    MultiScaleDetector(cf, upscale=2, tile_size=320, overlap=40, flip=True).detect(rgb)
    assert np.array_equal(rgb, before)


@pytest.mark.parametrize("backend", ["opencv", pytest.param("onnxruntime", marks=pytest.mark.skipif(
    not HAS_ORT, reason="onnxruntime not installed"))])
def test_threads_share_one_detector(backend):
    from concurrent.futures import ThreadPoolExecutor

    cf = CenterFace(backend=backend)
    pictures = [load(n)[0] for n in ("343", "609", "230", "110")] * 2
    alone = [cf.detect(p) for p in pictures]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(cf.detect, pictures))
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_backends_agree():
    rgb, _ = load("110")
    a = CenterFace(backend="opencv").detect(rgb)
    b = CenterFace(backend="onnxruntime").detect(rgb)
    assert len(a) == len(b) > 10
    iou = box_iou(a.xyxy, b.xyxy)
    assert np.all(iou.max(axis=1) > 0.95)


def test_threshold_filters(cf):
    rgb, _ = load("110")
    low = CenterFace(threshold=0.1).detect(rgb)
    high = CenterFace(threshold=0.5).detect(rgb)
    assert len(high) < len(low)
    assert np.all(high.scores > 0.5) and np.all(low.scores > 0.1)


# ------------------------------------------------------------------ NMS and tiles
def test_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.5, 0.9, 0.3, 0.1])
    assert nms(boxes, scores, iou=0.5).tolist() == [1, 2]
    assert nms(boxes, scores, iou=0.5, priority=[0, 0, 0, 1]).tolist() == [3, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []
    keep, owner = nms_clusters(boxes, scores, iou=0.5)
    assert keep.tolist() == [1, 2] and owner.tolist() == [1, 1, 2, 1]
    many = np.random.default_rng(0).uniform(0, 1000, (3000, 2))
    boxes = np.concatenate([many, many + 20], axis=1)
    keep = nms(boxes, np.random.default_rng(1).uniform(size=3000), iou=0.3)
    assert box_iou(boxes[keep], boxes[keep])[~np.eye(len(keep), dtype=bool)].max() < 0.3


def test_tile_grid_covers_with_overlap():
    for length in (1, 100, 479, 480, 481, 1080, 1920, 3840):
        for tile, overlap in ((480, 48), (320, 40), (960, 100)):
            grid = tile_grid(length, tile, overlap)
            assert grid[0][0] == 0 and grid[-1][1] == length
            assert all(b - a <= tile for a, b in grid)
            assert all(grid[i][1] - grid[i + 1][0] >= overlap for i in range(len(grid) - 1))


# ------------------------------------------------------------------ multi-scale
def _face_crops() -> list[np.ndarray]:
    """Faces cut from the fixtures with a margin around the box (width of face = crop width / 1.6)."""
    crops = []
    for name in ("343", "609", "109", "230"):
        rgb, gt = load(name)
        for x1, y1, x2, y2 in gt:
            w, h = x2 - x1, y2 - y1
            m = 0.3
            c = rgb[max(0, int(y1 - m * h)):int(y2 + m * h), max(0, int(x1 - m * w)):int(x2 + m * w)]
            if min(c.shape[:2]) > 40 and abs((c.shape[1] / (1 + 2 * m)) - w) < 2:
                crops.append(c)
    return crops


def _paste_faces(sizes: list[float], canvas: np.ndarray, centers: list[tuple[float, float]]) -> np.ndarray:
    """Paste face crops scaled to the given face widths; returns the (N, 4) true face boxes."""
    crops = _face_crops()
    truth = []
    for k, (fw, (cx, cy)) in enumerate(zip(sizes, centers)):
        crop = crops[k % len(crops)]
        scale = fw * 1.6 / crop.shape[1]
        small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
        canvas[y0:y0 + h, x0:x0 + w] = small
        truth.append([x0 + 0.3 * w / 1.6, y0 + 0.3 * h / 1.6, x0 + w - 0.3 * w / 1.6, y0 + h - 0.3 * h / 1.6])
    return np.array(truth, np.float32)


def _background(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    base = np.linspace(70, 150, w, dtype=np.float32)[None, :, None] + rng.normal(0, 6, (h, w, 1))
    return np.clip(np.repeat(base, 3, axis=2), 0, 255).astype(np.uint8)


def _found(truth: np.ndarray, dets: Detections, iou: float = 0.3) -> np.ndarray:
    if not len(dets):
        return np.zeros(len(truth), bool)
    return box_iou(truth, dets.xyxy).max(axis=1) > iou


def test_tiles_find_small_faces_a_full_pass_misses(cf):
    canvas = _background(1080, 1920)
    rng = np.random.default_rng(3)
    sizes = list(rng.uniform(12, 16, 40))
    centers = [(80 + 220 * (k % 8) + rng.uniform(-30, 30), 100 + 190 * (k // 8) + rng.uniform(-30, 30)) for k in range(40)]
    truth = _paste_faces(sizes, canvas, centers)
    single = _found(truth, cf.detect(canvas))
    tiled_dets = MultiScaleDetector(cf, upscale=2.0, adaptive=False).detect(canvas)
    tiled = _found(truth, tiled_dets)
    assert single.mean() < 0.5, single.mean()
    assert tiled.mean() >= 0.9, tiled.mean()
    # One box per face: no two boxes of the result overlap much.
    iou = box_iou(tiled_dets.xyxy, tiled_dets.xyxy)
    assert iou[~np.eye(len(iou), dtype=bool)].max(initial=0) < 0.3


def test_faces_on_tile_borders_come_out_once_and_whole(cf):
    det = MultiScaleDetector(cf, upscale=2.0, tile_size=640, overlap=48, adaptive=False)
    canvas = _background(720, 1280)
    windows = det.tiles(canvas.shape)
    assert len(windows) > 4
    xs = sorted({x1 for _, _, x1, _ in windows if x1 < 1280})
    ys = sorted({y1 for _, _, _, y1 in windows if y1 < 720})
    # Small faces centred on inner tile edges, a large face across a tile corner.
    centers = [(xs[0], 150), (xs[1], 600), (200, ys[0]), (1100, ys[0]), (xs[2], 500)]
    truth = _paste_faces([24, 30, 36, 26, 180], canvas, centers)
    dets = det.detect(canvas)
    iou = box_iou(truth, dets.xyxy)
    assert np.all((iou > 0.2).sum(axis=1) == 1), iou
    assert iou[-1].max() > 0.5  # the large face: whole, not a tile's piece
    pair = box_iou(dets.xyxy, dets.xyxy)
    assert pair[~np.eye(len(pair), dtype=bool)].max(initial=0) < 0.3


def test_large_face_not_split(cf):
    rgb, gt = load("609")
    big = cv2.resize(rgb, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_LINEAR)
    dets = MultiScaleDetector(cf, upscale=2.0, tile_size=640, overlap=48, flip=True).detect(big)
    assert len(dets) == 1
    assert box_iou(gt * 2.5, dets.xyxy)[0, 0] > 0.5


def test_adaptive_tiles_run_only_near_small_candidates(cf):
    det = MultiScaleDetector(cf, upscale=2.0, tile_size=640, overlap=48)
    shape = (720, 1280, 3)
    windows = det.tiles(shape)
    probes = Detections([[100, 100, 120, 124], [900, 500, 1100, 740]], scores=[0.06, 0.9])  # small, large
    chosen = det.select_tiles(shape, probes)
    assert chosen and len(chosen) < len(windows)
    assert all(x0 <= 110 < x1 and y0 <= 112 < y1 for x0, y0, x1, y1 in chosen)
    assert det.select_tiles(shape, Detections.empty()) == []
    assert MultiScaleDetector(cf, adaptive=False).select_tiles(shape, Detections.empty()) == MultiScaleDetector(cf).tiles(shape)
    # A picture with one large face only: no tile runs, the face comes out once.
    rgb, gt = load("609")
    passes = det.passes(rgb)
    assert [p.name for p in passes] == ["full", "coarse", "tiles"] and len(passes[2].detections) == 0
    assert len(det.detect(rgb)) == 1
    with pytest.raises(ValueError):
        det.detect(rgb, tiles="some")


@pytest.mark.parametrize(("size", "adaptive"), [((360, 640), True), ((1080, 1920), True), ((1152, 2048), True),
                                              ((1440, 2560), False), ((2160, 3840), False)])
def test_large_pictures_run_every_tile(cf, size, adaptive):
    # The whole-frame pass is capped at 1280 px; above 2048 px it sees a 16 px
    # face under 10 px, too small to be a candidate, so candidates cannot choose
    # the tiles (at 4K they found 41% of 16-32 px faces; bench/large_frames.py).
    det = MultiScaleDetector(cf)
    shape = (*size, 3)
    assert det.adaptive_for(shape) is adaptive
    assert det.select_tiles(shape, Detections.empty()) == ([] if adaptive else det.tiles(shape))
    assert not MultiScaleDetector(cf, adaptive=False).adaptive_for(shape)
    assert not MultiScaleDetector(cf, upscale=None).adaptive_for(shape)
    # A lower whole-frame resolution (--scale) moves the limit with it.
    assert MultiScaleDetector(cf, full_scale=0.5).adaptive_for((360, 640, 3)) is False


def test_with_tiles_adds_the_tiles_a_first_look_skipped(cf):
    det = MultiScaleDetector(cf, upscale=2.0, tile_size=640, overlap=48)
    rgb, _ = load("110")
    whole = det.passes(rgb, tiles="none")
    names = [p.name for p in whole]
    later = det.with_tiles(rgb, whole)
    assert [p.name for p in whole] == names, "passes not modified"
    at_once = det.passes(rgb)
    assert [p.name for p in later] == [p.name for p in at_once] == ["full", "coarse", "tiles"]
    np.testing.assert_array_equal(later[-1].detections.xyxy, at_once[-1].detections.xyxy)
    assert len(det.merge(later)) == len(det.detect(rgb))
    assert MultiScaleDetector(cf, upscale=None).with_tiles(rgb, whole) == whole


def test_tiles_only_small_counts_small_faces_no_whole_frame_candidate_saw():
    det = MultiScaleDetector(CenterFace(threshold=0.2), threshold=0.1, upscale=2.0, overlap=48)
    tiny = [100, 100, 114, 116]  # 16 px: only the tiles found it
    seen = [400, 400, 414, 416]  # 16 px: a weak whole-frame candidate too
    medium = [700, 300, 736, 340]  # 40 px: only the tiles, but the whole-frame pass sees such faces
    full = Pass("full", Detections([[401, 401, 415, 417]], scores=[0.06]))
    tiles = Pass("tiles", Detections([tiny, seen, medium], scores=[0.5, 0.5, 0.5]), small=True)
    merged = det.merge([full, tiles])
    assert len(merged) == 3
    assert det.tiles_only_small((720, 1280, 3), [full, tiles], merged) == 1
    # Twice the size: the whole-frame pass (capped at 1280 px) sees it at half
    # size, so the 40 px face is small to it too.
    assert det.tiles_only_small((1440, 2560, 3), [full, tiles], merged) == 2
    assert det.tiles_only_small((720, 1280, 3), [full], det.merge([full])) == 0
    assert det.tiles_only_small((720, 1280, 3), [tiles], det.merge([tiles])) == 2


def test_merge_fuses_scores_and_drops_nested():
    det = MultiScaleDetector(CenterFace(threshold=0.2), upscale=2.0, overlap=48)
    weak_full = Detections([[10, 10, 30, 34]], scores=[0.12])
    weak_tile = Detections([[11, 10, 31, 35]], scores=[0.12])
    lone = Detections([[300, 300, 320, 324]], scores=[0.12])
    out = det.merge([Pass("full", Detections.concatenate([weak_full, lone])), Pass("tiles", weak_tile, small=True)])
    assert len(out) == 1  # seen weakly twice: kept once (the tile's box); seen weakly once: dropped
    np.testing.assert_allclose(out.xyxy[0], weak_tile.xyxy[0])
    assert out.scores[0] == pytest.approx(1 - 0.88 * 0.88, abs=1e-6)
    nofuse = MultiScaleDetector(CenterFace(threshold=0.2), upscale=2.0, fuse=False)
    assert len(nofuse.merge([Pass("full", weak_full), Pass("tiles", weak_tile, small=True)])) == 0
    # A face's part found in a magnified tile, inside the face's whole-frame box.
    face = Detections([[100, 100, 300, 360]], scores=[0.9])
    part = Detections([[150, 150, 190, 180]], scores=[0.4])
    out = det.merge([Pass("full", face), Pass("tiles", part, small=True)])
    assert len(out) == 1 and out.scores[0] == pytest.approx(0.9)
    assert len(det.merge([])) == 0
    # Two passes place one face a few pixels apart, both confidently: one box covering both.
    a = Detections([[100, 100, 140, 150]], scores=[0.8])
    b = Detections([[104, 96, 146, 148]], scores=[0.6])
    out = det.merge([Pass("full", a), Pass("flip", b)])
    assert len(out) == 1
    np.testing.assert_allclose(out.xyxy[0], [100, 96, 146, 150])
    assert out.scores[0] == pytest.approx(1 - 0.2 * 0.4)


def test_coarse_pass_boxes_a_close_up_the_full_pass_boxes_badly(cf):
    # A face filling the picture (about 800 px): beyond what the network sees
    # whole at full resolution; the half-resolution pass sees it whole.
    rgb, gt = load("230")
    x1, y1, x2, y2 = gt[1].astype(int)
    w, h = x2 - x1, y2 - y1
    top, left = max(0, y1 - h // 4), max(0, x1 - w // 8)
    crop = rgb[top:y2 + h // 8, left:x2 + w // 8]
    s = 900 / crop.shape[0]
    big = np.ascontiguousarray(cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC))
    face = np.array([[(x1 - left) * s, (y1 - top) * s, (x2 - left) * s, (y2 - top) * s]])
    without = MultiScaleDetector(cf, coarse=None, upscale=None, threshold=0.1).detect(big)
    with_coarse = MultiScaleDetector(cf, upscale=None, threshold=0.1).detect(big)
    assert box_iou(face, without.xyxy).max() < 0.5
    assert box_iou(face, with_coarse.xyxy).max() > 0.7
    # Small boxes of the coarse pass are dropped: small faces are the other passes' job.
    det = MultiScaleDetector(cf, upscale=None, threshold=0.1, coarse_min_face=10_000)
    assert len(det.coarse_pass(big)) == 0
    assert len(MultiScaleDetector(cf, coarse=0).coarse_pass(big)) == 0
    with pytest.raises(ValueError):
        MultiScaleDetector(cf, coarse=1.5)


def test_flip_pass_mirrors(cf):
    rgb, gt = load("343")
    w = rgb.shape[1]
    det = MultiScaleDetector(cf, upscale=None)
    direct = det.full_pass(rgb)
    flipped = det.full_pass(rgb, flip=True)  # network sees the mirror; boxes come back in rgb's pixels
    assert box_iou(gt, flipped.xyxy)[0, 0] > 0.5
    mirrored = det.full_pass(np.ascontiguousarray(rgb[:, ::-1]), flip=True)  # network sees rgb itself
    assert len(direct) == len(mirrored) == 1
    expect = np.array([w - direct.xyxy[0, 2], direct.xyxy[0, 1], w - direct.xyxy[0, 0], direct.xyxy[0, 3]])
    np.testing.assert_allclose(mirrored.xyxy[0], expect, atol=1e-3)
    lm = mirrored.landmarks[0]
    np.testing.assert_allclose(w - lm[[1, 0, 2, 4, 3], 0], direct.landmarks[0, :, 0], atol=1e-3)
    assert lm[0, 0] < lm[1, 0]  # left eye still left of the right eye


def test_multiscale_on_crowd_fixture(cf):
    rgb, gt = load("110")
    single = _found(gt, cf.detect(rgb)).mean()
    multi = _found(gt, default_detector(Config()).detect(rgb)).mean()
    assert multi >= single and multi >= 0.9


# ------------------------------------------------------------------ configured default
def test_default_detector_follows_config():
    det = default_detector(Config())
    assert isinstance(det, FaceDetector) and isinstance(det, MultiScaleDetector)
    assert det.threshold == det.base.threshold == Config().threshold
    assert det.tiles((1080, 1920, 3)) and det.upscale > 1
    assert det.full_max_side == 1280
    plain = default_detector(Config(tiles=False, threshold=0.4, detect_scale=0.5, min_face=12))
    assert isinstance(plain, FaceDetector)
    assert plain.threshold == 0.4 and plain.full_scale == 0.5 and plain.full_max_side is None
    assert not plain.tiles((1080, 1920, 3))
    assert plain.min_face == 12
    rgb, gt = load("343")
    dets = plain.detect(rgb)
    assert box_iou(gt, dets.xyxy).max() > 0.5 and np.all(dets.widths >= 12)
    assert default_detector(Config(detect_scale=2.0)).full_max_side == 2560


# ------------------------------------------------------------------ calls beside the caller
def test_side_calls_keep_call_order_bound_what_is_in_flight_and_raise_at_finish():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from veil.detect import SideCalls

    inline: list = []
    calls = SideCalls(None, inline.extend)
    calls.call(lambda x: [x, x], 3)
    assert inline == [3, 3]  # without a pool: at once

    gate, running, most = threading.Event(), [0], [0]
    lock = threading.Lock()

    def slow(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(5)
        with lock:
            running[0] -= 1
        return [x]

    got: list = []
    with ThreadPoolExecutor(4) as pool:
        calls = SideCalls(pool, got.extend, in_flight=2)
        releaser = threading.Timer(0.2, gate.set)
        releaser.start()
        for i in range(6):
            calls.call(slow, i)
        calls.finish()
        assert got == list(range(6)) and most[0] <= 2

        def boom():
            raise RuntimeError("check failed")

        calls.call(boom)
        with pytest.raises(RuntimeError, match="check failed"):
            calls.finish()


def test_find_faces_refuses_what_anonymize_image_refuses_with_a_named_error():
    # A pipeline user passed a dict for the config and got "'dict' object has no attribute 'cpu_threads'";
    # find_faces ran a 400 Mpx array for minutes where anonymize_image refused it at once.
    import veil
    from veil.errors import TooLargeError

    picture = np.zeros((200, 200, 3), np.uint8)
    with pytest.raises(TooLargeError):
        veil.find_faces(picture, Config(max_pixels=1000))
    with pytest.raises(TooLargeError):
        veil.anonymize_image(picture, Config(max_pixels=1000))
    with pytest.raises(TypeError, match="config must be a veil.Config, not dict"):
        veil.find_faces(picture, {"threshold": 0.5})
    with pytest.raises(TypeError, match="config must be a veil.Config"):
        veil.anonymize_image(picture, "fill")
    with pytest.raises(TypeError, match="detect"):
        veil.anonymize_image(picture, detector=object())

    class ListDetector:
        def detect(self, rgb):
            return [[0, 0, 10, 10]]

    with pytest.raises(TypeError, match="must return veil.Detections, not list"):
        veil.find_faces(picture, detector=ListDetector())
    with pytest.raises(TypeError, match="joins Detections, not str"):
        Detections.concatenate([Detections.empty(), "x"])
    with pytest.raises(ValueError, match="empty picture"):
        veil.find_faces(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match=r"astype\(np.uint8\)"):
        veil.find_faces(np.zeros((4, 4, 3), np.float32))
    assert {"find_faces", "anonymize_image", "verify_file"} <= set(dir(veil))  # tab completion


def test_config_errors_name_the_keyword_and_the_option():
    from veil.errors import UsageError

    with pytest.raises(UsageError, match=r"^text_max_share \(--text-max-share\) must be a number, not nan$"):
        Config(text_max_share=float("nan"))
    with pytest.raises(UsageError, match=r"^region_scale \(--region-scale\) must be between 1 and 4$"):
        Config(region_scale=0)
    with pytest.raises(UsageError, match=r"^pixelate_blocks must be between 2 and 64$"):  # no option
        Config(pixelate_blocks=1)
