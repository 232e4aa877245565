"""Unit tests: Detections, Config, regions, anonymizers, atomic output."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.anonymize import anonymize
from veil.config import Config, Mode
from veil.detections import Detections, Source, box_intersections, box_iou
from veil.errors import UsageError
from veil.media.atomic import TEMP_PREFIX, atomic_output
from veil.region import Regions, head_regions, union_mask


# -- Detections ---------------------------------------------------------------
def test_detections_defaults_and_indexing():
    d = Detections([[0, 0, 10, 20], [5, 5, 8, 9]], scores=[0.9, 0.3])
    assert len(d) == 2
    assert d.landmarks.shape == (2, 5, 2) and np.isnan(d.landmarks).all()
    assert d.track_id.tolist() == [-1, -1]
    assert d.source.tolist() == [Source.DETECTED] * 2
    assert d.widths.tolist() == [10, 3]
    high = d[d.scores > 0.5]
    assert len(high) == 1 and high.xyxy.tolist() == [[0, 0, 10, 20]]
    assert len(d[1]) == 1
    assert len(Detections.concatenate([d, Detections.empty(), high])) == 3


def test_detections_are_read_only_copies():
    boxes = np.array([[0, 0, 4, 4]], np.float32)
    d = Detections(boxes)
    boxes[0, 0] = 3
    assert d.xyxy[0, 0] == 0
    with pytest.raises(ValueError):
        d.xyxy[0, 0] = 1


@pytest.mark.parametrize("kwargs", [
    {"xyxy": [[10, 0, 5, 5]]},
    {"xyxy": [[0, 0, np.nan, 5]]},
    {"xyxy": [[0, 0, 5, 5]], "scores": [1, 2]},
    {"xyxy": [[0, 0, 5, 5]], "landmarks": np.zeros((1, 4, 2))},
    {"xyxy": [[0, 0, 5, 5]], "source": [9]},
    # each of these became something else silently (two boxes from eight numbers, one from a 2x2, ...)
    {"xyxy": [1, 2, 3, 4, 5, 6, 7, 8]}, {"xyxy": [[0, 0], [5, 5]]}, {"xyxy": None}, {"xyxy": np.zeros((2, 4, 1))},
    {"xyxy": [[0, 0, 5, 5]], "scores": [1.5]}, {"xyxy": [[0, 0, 5, 5]], "scores": [np.nan]},
    {"xyxy": [[0, 0, 5, 5]], "kind": [1.7]}, {"xyxy": [[0, 0, 5, 5]], "track_id": [2.9]},
])
def test_detections_invalid(kwargs):
    with pytest.raises(ValueError):
        Detections(**kwargs)


def test_detections_name_the_column_and_take_kind_labels():
    with pytest.raises(ValueError, match="track_id must have shape"):
        Detections([[0, 0, 5, 5]], track_id=[1, 2])
    assert Detections([[0, 0, 5, 5]], kind=["plate"]).kind.tolist() == [1]
    assert Detections([0, 0, 5, 5]).xyxy.shape == (1, 4)  # one box


def test_detections_compare_by_value():
    d = Detections([[0, 0, 10, 20], [5, 5, 8, 9]], scores=[0.9, 0.3])
    assert d == Detections([[0, 0, 10, 20], [5, 5, 8, 9]], scores=[0.9, 0.3])  # NaN landmarks alike
    assert d[[0, 1]] == d and d[0] == d[:1] and Detections.empty() == d[d.scores > 1]
    for other in (d.replace(scores=[0.9, 0.4]), d.replace(track_id=[1, -1]), d.replace(kind=["face", "text"]),
                  d[:1], d.replace(xyxy=[[0, 0, 10, 20], [5, 5, 8, 10]])):
        assert d != other
    assert d != d.xyxy.tolist() and d != None  # noqa: E711
    with pytest.raises(TypeError):  # equal by value: not a dict key
        hash(d)


def test_box_iou():
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]], rtol=1e-5)
    inter, area_a, area_b = box_intersections(np.array([[0.0, 0, 10, 10]]), np.array([[5.0, 0, 15, 10], [20, 20, 30, 30]]))
    assert inter.tolist() == [[50.0, 0.0]] and area_a.tolist() == [100.0] and area_b.tolist() == [100.0, 100.0]
    assert inter.dtype == np.float64


def test_records_hold_geometry_only():
    rec = Detections([[1, 2, 3, 4]], scores=[0.5], track_id=[7]).to_records()
    assert rec == [{"box": [1.0, 2.0, 3.0, 4.0], "score": 0.5, "source": "detected", "track": 7}]
    json.dumps(rec)


# -- Config -------------------------------------------------------------------
def test_config_defaults_are_privacy_first():
    c = Config()
    assert c.mode is Mode.FILL and not c.reversible
    assert c.audio.value == "drop" and c.verify
    assert Config(mode="blur").reversible
    json.dumps(c.to_dict())
    with pytest.raises(TypeError):  # keyword-only: Config("noise") must not quietly set the first field
        Config("noise")


@pytest.mark.parametrize("kwargs", [
    {"mode": "smudge"}, {"threshold": 0}, {"threshold": 1.5}, {"region_scale": 0.5},
    {"pad_frames": -1}, {"crf": 99}, {"fill_color": (0, 0, 300)}, {"audio": "mute"},
    # types, before ranges: each of these ran as something else than asked, or failed later with a raw error
    {"tiles": "no"}, {"verify": "false"}, {"threads": 1.5}, {"pad_frames": 2.5}, {"crf": 18.7},
    {"max_pixels": float("inf")}, {"preset": None}, {"seed": "abc"}, {"seed": -1}, {"threshold": "0.5"},
    {"threshold": None}, {"fill_color": (0, 0, "a")}, {"fill_color": (1.9, 0, 0)}, {"cover": None},
    {"detect_scale": float("nan")},
])
def test_config_invalid(kwargs):
    with pytest.raises(UsageError):
        Config(**kwargs)


# -- regions ------------------------------------------------------------------
def test_head_region_contains_face_box_corners():
    dets = Detections([[40, 50, 80, 100]])
    regions = head_regions(dets, scale=1.5)
    mask = regions.mask(200, 200)
    inside = mask[50:100, 40:80]
    assert inside.all(), "the whole face box must be covered by the ellipse"
    x1, y1, x2, y2 = regions.boxes[0]
    assert y1 < 50 - 10 and y2 > 100 and x1 < 40 and x2 > 80
    assert (50 - y1) > (y2 - 100), "more room above (hair) than below (chin)"


@pytest.mark.parametrize("shape", ["ellipse", "box"])
def test_mask_clipped_exactly_at_frame_edges(shape):
    # A region hanging over every edge covers through the last row and column.
    mask = union_mask(np.array([[-20, -20, 120, 90]]), shape, 80, 100)
    assert mask.shape == (80, 100)
    assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
    assert mask[40, :].all() and mask[:, 50].all()


def test_box_mask_covers_fractional_edges():
    mask = union_mask(np.array([[2.4, 3.6, 5.2, 7.01]]), "box", 10, 10)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3, 7, 2, 5)


def test_regions_index_compare_and_validate():
    r = Regions([[0, 0, 10, 10], [20, 20, 40, 30], [5, 5, 6, 6]], kinds=[0, 1, 2])
    assert r[1] == Regions([20, 20, 40, 30], kinds=[1])
    assert r[r.kinds != 0].kinds.tolist() == [1, 2] and r[[2, 0]].boxes.tolist() == [[5, 5, 6, 6], [0, 0, 10, 10]]
    assert r[1:].shape is r.shape and len(r[r.kinds > 5]) == 0
    d = Detections(r.boxes)
    for picked in (r[np.array(1)], r[np.int64(1)]):  # one row, however the int comes
        assert picked == r[1]
    assert d[np.array(1)] == d[1] and len(d[np.array([True, False, True])]) == 2
    for lone in (True, np.True_, np.array(False)):  # numpy: a new axis; Python: row 1
        with pytest.raises(TypeError):
            r[lone]
        with pytest.raises(TypeError):
            d[lone]
    assert r != Regions(r.boxes, kinds=[0, 0, 2]) and r != Regions(r.boxes, "box", kinds=r.kinds)
    # each of these became boxes of other numbers silently (reshaped), or covered nothing
    for boxes in ([1, 2, 3, 4, 5, 6, 7, 8], [[0, 0], [5, 5]], np.zeros((2, 4, 1)), [[10, 0, 5, 5]], None, "abcd"):
        with pytest.raises(ValueError):
            Regions(boxes)


def test_empty_and_outside_regions():
    assert not Regions.empty().mask(5, 5).any()
    assert not union_mask(np.array([[50, 50, 60, 60]]), "ellipse", 10, 10).any()


# -- anonymizers --------------------------------------------------------------
MODES = ["fill", "noise", "pixelate", "blur"]


def _picture(dtype, channels):
    rng = np.random.default_rng(0)
    top = np.iinfo(dtype).max
    shape = (64, 80) if channels == 0 else (64, 80, channels)
    return rng.integers(0, top, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [0, 3, 4])
def test_anonymize_changes_region_only_and_keeps_input(mode, dtype, channels):
    pixels = _picture(dtype, channels)
    before = pixels.copy()
    regions = Regions(np.array([[20, 10, 60, 50]]), "box")
    out = anonymize(pixels, regions, mode=mode, rng=np.random.default_rng(1))
    assert out.dtype == pixels.dtype and out.shape == pixels.shape
    np.testing.assert_array_equal(pixels, before)  # input untouched
    mask = regions.mask(64, 80)
    np.testing.assert_array_equal(out[~mask], pixels[~mask])
    changed = (out != pixels).reshape(64, 80, -1).any(axis=2)
    assert changed[mask].mean() > 0.9
    if channels == 4:
        assert (out[..., 3][mask] == np.iinfo(dtype).max).all(), "alpha must not hide or reveal the face"


def _numpy_fill(pixels, mask, fill_color):
    """The reference fill: numpy's boolean assignment of the colour (grey for one channel), alpha opaque."""
    top = np.iinfo(pixels.dtype).max
    want = pixels.copy()
    colour = np.array(fill_color) * (top / 255)
    if want.ndim == 2 or want.shape[2] == 1:
        want[mask] = np.round(colour @ [0.299, 0.587, 0.114])
    else:
        want[..., :3][mask] = np.round(colour)
        if want.shape[2] == 4:
            want[..., 3][mask] = top
    return want


@pytest.mark.parametrize("mode", ["fill", "noise"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [0, 1, 3, 4])
def test_fill_and_noise_cover_exactly_the_union_of_overlapping_ellipses(mode, dtype, channels):
    # fill and noise write through OpenCV's masked operations; the result must be
    # numpy's boolean assignment over the exact union mask, regions overlapping
    # each other and the picture's edges included.
    pixels = _picture(dtype, channels)
    regions = Regions(np.array([[-10.5, 5.2, 30.7, 40.1], [20.3, 20.9, 70.2, 75.0], [60, -8, 95, 30]]), "ellipse")
    out = anonymize(pixels, regions, mode=mode, fill_color=(200, 30, 90), rng=np.random.default_rng(2))
    mask = regions.mask(64, 80)
    np.testing.assert_array_equal(out[~mask], pixels[~mask])
    top = np.iinfo(dtype).max
    if mode == "fill":
        np.testing.assert_array_equal(out, _numpy_fill(pixels, mask, (200, 30, 90)))
    else:
        changed = (out != pixels).reshape(64, 80, -1).any(axis=2)
        assert changed[mask].mean() > 0.95
        if channels == 4:
            assert (out[..., 3][mask] == top).all()


@pytest.mark.parametrize("mode", MODES)
def test_anonymize_with_the_callers_mask_gives_the_same_picture(mode):
    pixels = _picture(np.uint8, 3)
    regions = Regions(np.array([[5, 5, 40, 50], [30, 20, 70, 60]]), "ellipse")
    own = anonymize(pixels, regions, mode=mode, rng=np.random.default_rng(4))
    given_mask = anonymize(pixels, regions, mode=mode, rng=np.random.default_rng(4), mask=regions.mask(64, 80))
    np.testing.assert_array_equal(own, given_mask)
    for bad in (np.ones((64, 81), bool), np.ones((64, 80), np.uint8)):
        with pytest.raises(ValueError, match="mask must be"):
            anonymize(pixels, regions, mode=mode, mask=bad)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(0, 10, 3), (10, 0, 3), (0, 0), (1, 1, 4)])
def test_anonymize_empty_and_tiny_pictures(mode, shape):
    pixels = np.zeros(shape, np.uint8)
    out = anonymize(pixels, Regions(np.array([[0, 0, 5, 5], [50, 50, 60, 60]]), "box"), mode=mode,
                    rng=np.random.default_rng(0))
    assert out.shape == pixels.shape and out.dtype == np.uint8


@settings(max_examples=150, deadline=None, derandomize=True)
@given(h=st.integers(1, 12), w=st.integers(1, 12), channels=st.sampled_from([0, 1, 3, 4]),
       dtype=st.sampled_from([np.uint8, np.uint16]), shape=st.sampled_from(["box", "ellipse"]),
       boxes=st.lists(st.tuples(*[st.floats(-8, 20, allow_nan=False)] * 4), min_size=1, max_size=4))
def test_fill_and_noise_match_numpy_on_any_small_picture(h, w, channels, dtype, shape, boxes):
    # Property: the OpenCV-backed fill equals numpy's boolean assignment over the
    # union mask, and noise changes nothing outside it, for any geometry.
    pixels = np.random.default_rng(h * 13 + w).integers(0, 200, (h, w) if channels == 0 else (h, w, channels),
                                                          dtype=dtype)
    xyxy = np.array([[min(a, c), min(b, d), max(a, c), max(b, d)] for a, b, c, d in boxes])
    regions = Regions(xyxy, shape)
    mask = regions.mask(h, w)
    np.testing.assert_array_equal(anonymize(pixels, regions, fill_color=(10, 250, 30)),
                                  _numpy_fill(pixels, mask, (10, 250, 30)))
    noisy = anonymize(pixels, regions, mode="noise", rng=np.random.default_rng(0))
    np.testing.assert_array_equal(noisy[~mask], pixels[~mask])


def test_fill_is_solid_and_scaled_for_16_bit():
    pixels = _picture(np.uint16, 3)
    out = anonymize(pixels, Regions(np.array([[0, 0, 10, 10]]), "box"), mode="fill", fill_color=(255, 0, 128))
    assert out[5, 5].tolist() == [65535, 0, 32896]


def test_pixelate_has_few_distinct_blocks_and_noise():
    pixels = np.tile(np.linspace(0, 255, 100, dtype=np.uint8), (100, 1))[..., None].repeat(3, 2)
    out = anonymize(pixels, Regions(np.array([[0, 0, 100, 100]]), "box"), mode="pixelate",
                    pixelate_blocks=10, rng=np.random.default_rng(0))
    row = out[50, :, 0]
    assert len(np.unique(row)) <= 12
    assert not np.array_equal(out[5, :, 0], out[15, :, 0]), "noise differs from block to block"


def test_blur_strength_scales_with_face():
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    small = anonymize(pixels, Regions(np.array([[0, 0, 200, 200]]), "box"), mode="blur", blur_strength=0.02)
    big = anonymize(pixels, Regions(np.array([[0, 0, 200, 200]]), "box"), mode="blur", blur_strength=0.25)
    assert big.astype(float).std() < small.astype(float).std()


def test_noise_is_fresh_by_default():
    pixels = _picture(np.uint8, 3)
    regions = Regions(np.array([[0, 0, 30, 30]]), "box")
    assert not np.array_equal(anonymize(pixels, regions, mode="noise"), anonymize(pixels, regions, mode="noise"))


@pytest.mark.parametrize("pixels", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8)])
def test_anonymize_invalid(pixels):
    with pytest.raises(ValueError):
        anonymize(pixels, Regions.empty())


# -- atomic output ------------------------------------------------------------
def test_atomic_output_success(tmp_path):
    target = tmp_path / "sub" / "out.jpg"
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".jpg" and tmp.name.startswith(TEMP_PREFIX)
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    assert [p.name for p in target.parent.iterdir()] == ["out.jpg"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_output_interrupted_leaves_nothing(tmp_path, error):
    target = tmp_path / "out.mp4"
    with pytest.raises(error):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise error()
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_keeps_previous_file_on_error(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"new")
            raise RuntimeError
    assert target.read_bytes() == b"old"


def test_import_loads_no_model_or_heavy_module():
    code = ("import sys, veil; heavy = {'cv2', 'av', 'dlib', 'onnxruntime', 'PIL'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_verbs_resolve_and_are_documented():
    import veil

    for name in veil.__all__:
        value = getattr(veil, name)
        assert value is not None
        if callable(value) and name != "__version__":
            assert value.__doc__, f"veil.{name} has no docstring"
    faces = veil.find_faces(np.zeros((64, 64, 3), np.uint8))
    assert isinstance(faces, veil.Detections) and len(faces) == 0


def test_the_api_refuses_what_would_be_written_or_read_other_than_asked(tmp_path, face_photo):
    # anonymize_file of a JPEG to out.png wrote JPEG data under the .png name; videos were checked already.
    import veil
    from veil.errors import TooLargeError

    wrong = veil.anonymize_file(face_photo, tmp_path / "out.png", Config(verify=False))
    assert wrong.status.value == "failed" and "use .jpg" in wrong.error and not (tmp_path / "out.png").exists()
    assert veil.anonymize_file(face_photo, tmp_path / "out.jpeg", Config(verify=False)).status.value == "ok"
    # Config.max_pixels holds for arrays as for files
    with pytest.raises(TooLargeError):
        veil.anonymize_image(np.zeros((100, 100), np.uint8), Config(max_pixels=1000))
