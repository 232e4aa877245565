"""The mask study (bench/mask_study.py and its modules) on CC0 fixtures only.

The occlusion generator must leave the visible share it claims; the study's
small-sample mode must run in seconds and give its tables' shape. LFW and the
full MaskTheFace set are never read here: faces come from tests/data/face_mask,
and one MaskTheFace template (MIT, downscaled) is shipped in tests/data/masktheface.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import mask_metrics as mm  # noqa: E402
import mask_study  # noqa: E402
from mask_fill import PCA_SIDE, FaceCompletion, downsample_chip, inpaint  # noqa: E402
from mask_occlusion import (Occlusion, Template, band, chip_affine, landmarks_visible,  # noqa: E402
                            load_templates)
from mask_report import tables, write_figures  # noqa: E402
from svgplot import Series, chart  # noqa: E402

dlib = pytest.importorskip("dlib")

FACES = {"maksssksksss343.jpg": (85, 131, 232, 284), "maksssksksss609.jpg": (91, 103, 239, 265)}


@pytest.fixture(scope="module")
def rec():
    from veil.verify.recognizer import get_recognizer

    return get_recognizer()


@pytest.fixture(scope="module")
def surgical(data_dir):
    return load_templates(data_dir / "masktheface", ["surgical"])[0]


def synthetic_template() -> Template:
    """A plain trapezoid 'mask' with its six anchors on its outline."""
    rgba = np.zeros((100, 160, 4), np.uint8)
    poly = np.array([(10, 20), (80, 5), (150, 20), (150, 70), (80, 95), (10, 70)], np.int32)
    cv2.fillPoly(rgba, [poly], (40, 90, 160, 255))
    return Template("synthetic", rgba, poly[[0, 1, 2, 5, 4, 3]].astype(float))


def lfw_like(rgb: np.ndarray, box, *, shift=(0, 0), flip=False, gain=1.0) -> np.ndarray:
    """A 250 x 250 photo with the face centred and ~110 px wide, as LFW's are."""
    x1, y1, x2, y2 = box
    side = (x2 - x1) * 250 / 110
    cx, cy = (x1 + x2) / 2 + shift[0], (y1 + y2) / 2 + shift[1]
    m = np.float32([[250 / side, 0, 125 - cx * 250 / side], [0, 250 / side, 125 - cy * 250 / side]])
    out = cv2.warpAffine(rgb, m, (250, 250), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    out = np.clip(out.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[:, ::-1]) if flip else out


@pytest.fixture(scope="module")
def people(data_dir):
    """Two fixture faces, three synthetic 'photos' each: (RGB, identity) items."""
    items = []
    for label, (name, box) in enumerate(FACES.items()):
        rgb = np.ascontiguousarray(cv2.imread(str(data_dir / "face_mask" / name))[:, :, ::-1])
        items += [(lfw_like(rgb, box), label), (lfw_like(rgb, box, shift=(4, -3), gain=1.1), label),
                  (lfw_like(rgb, box, flip=True, gain=0.9), label)]
    return items


@pytest.fixture(scope="module")
def face(people, rec):
    rgb = people[0][0]
    shape = rec.landmarks(rgb, (70, 70, 180, 180))
    return rgb, shape


def measured_visible(rgb, shape, occ) -> float:
    """The share of the recognizer's chip the occlusion leaves, measured through dlib's own chip."""
    _, hidden = occ.apply(rgb, chip_affine(shape))
    chip = np.asarray(dlib.get_face_chip(np.ascontiguousarray(hidden.astype(np.float32)), shape,
                                         size=150, padding=0.25))
    return 1.0 - float((chip > 0.5).mean())


def test_chip_affine_is_dlibs_mapping(face):
    rgb, shape = face
    a = chip_affine(shape)
    h, w = rgb.shape[:2]
    for axis in (0, 1):
        ramp = np.ascontiguousarray(np.indices((h, w), np.float32)[1 - axis])
        got = np.asarray(dlib.get_face_chip(ramp, shape, size=150, padding=0.25))
        v, u = np.mgrid[0:150, 0:150]
        want = a[axis, 0] * u + a[axis, 1] * v + a[axis, 2]
        inside = (want > 1) & (want < (w if axis == 0 else h) - 2)
        assert np.abs(got - want)[inside].max() < 0.01


@pytest.mark.parametrize("angle", [0.0, 17.0])
def test_visible_share_is_as_claimed(face, rec, surgical, angle):
    rgb, shape = face
    if angle:  # a rolled head: the occlusion must follow the face
        m = cv2.getRotationMatrix2D((125, 125), angle, 1.0)
        rgb = cv2.warpAffine(rgb, m, (250, 250), borderMode=cv2.BORDER_REFLECT)
        shape = rec.landmarks(rgb, (70, 70, 180, 180))
    occs = [Occlusion("mask", template=t) for t in (surgical, synthetic_template())]
    occs += [band(f, v) for f in ("chin-up", "forehead-down") for v in (0.9, 0.7, 0.5, 0.35, 0.1)]
    for occ in occs:
        assert abs(measured_visible(rgb, shape, occ) - occ.visible_share) < 0.01, occ.name
    assert band("chin-up", 0.35).visible_share == pytest.approx(round(0.35 * 150) / 150)
    assert 0.6 < occs[0].visible_share < 0.85  # a surgical mask leaves the upper face


def test_landmarks_visible_follow_the_band(face):
    rgb, shape = face
    from veil.verify.recognizer import shape_points

    pts = shape_points(shape)
    for occ, want in [(band("chin-up", 0.9), [1, 1, 1, 1, 1]), (band("chin-up", 0.4), [1, 1, 1, 1, 0]),
                      (band("forehead-down", 0.5), [0, 0, 0, 0, 1]), (Occlusion("none"), [1] * 5)]:
        _, hidden = occ.apply(rgb, chip_affine(shape))
        assert landmarks_visible(pts, hidden).tolist() == [bool(w) for w in want], occ.name
    assert landmarks_visible(np.array([[-5.0, 3.0]]), np.ones((4, 4), bool)).tolist() == [True]


def test_apply_leaves_the_input_and_paints_only_hidden_pixels(face, surgical):
    rgb, shape = face
    before = rgb.copy()
    covered, hidden = Occlusion("mask", template=surgical).apply(rgb, chip_affine(shape))
    assert np.array_equal(rgb, before)
    assert covered.dtype == np.uint8 and hidden.dtype == bool and hidden.any()
    assert np.array_equal(covered[~hidden], rgb[~hidden])


@pytest.mark.parametrize("kwargs", [dict(family="scarf"), dict(family="mask"), dict(family="chin-up"),
                                    dict(family="chin-up", level=0.0), dict(family="forehead-down", level=1.2),
                                    dict(family="none", template=synthetic_template())])
def test_invalid_occlusions(kwargs):
    with pytest.raises(ValueError):
        Occlusion(**kwargs)


def test_invalid_inputs(face):
    rgb, shape = face
    with pytest.raises(ValueError):
        Template("bad", np.zeros((4, 4, 3), np.uint8), np.zeros((6, 2)))
    with pytest.raises(ValueError):
        band("mask", 0.5)
    with pytest.raises(ValueError):
        band("chin-up", 0.5).apply(rgb.astype(np.float32), chip_affine(shape))
    with pytest.raises(ValueError):
        load_templates(Path(__file__).parent / "data" / "masktheface", ["gas"])


def test_face_completion_beats_the_mean_on_a_low_rank_face_model():
    rng = np.random.default_rng(0)
    d = PCA_SIDE * PCA_SIDE * 3
    basis = rng.normal(size=(6, d)) * 0.04
    faces = 0.5 + rng.normal(size=(80, 6)) @ basis + rng.normal(size=(80, d)) * 0.01
    small = np.clip(faces * 255, 0, 255).astype(np.uint8).reshape(-1, PCA_SIDE, PCA_SIDE, 3)
    model = FaceCompletion.fit(small[:70], components=6)
    hidden = np.zeros((PCA_SIDE, PCA_SIDE), bool)
    hidden[40:] = True
    err, err_mean = [], []
    for x in small[70:]:
        full = model.complete_small(x, hidden)
        err.append(np.abs(full[hidden] - x[hidden] / 255).mean())
        err_mean.append(np.abs(model.mean.reshape(PCA_SIDE, PCA_SIDE, 3)[hidden] - x[hidden] / 255).mean())
    assert np.mean(err) < 0.5 * np.mean(err_mean)
    chip = cv2.resize(small[75], (150, 150))
    hid = np.zeros((150, 150), bool)
    hid[90:] = True
    out = model.complete(chip, hid)
    assert out.dtype == np.uint8 and np.array_equal(out[~hid], chip[~hid])
    assert np.array_equal(model.complete(chip, np.zeros((150, 150), bool)), chip)
    assert model.with_shrink(10).shrink == 10 and model.with_shrink(10).components == 6
    with pytest.raises(ValueError):
        FaceCompletion.fit(small[:5], components=6)
    with pytest.raises(ValueError):
        model.complete(chip[:100], hid[:100])
    assert downsample_chip(chip).shape == (PCA_SIDE, PCA_SIDE, 3)


def test_model_selection_prefers_a_model_to_the_mean_face():
    rng = np.random.default_rng(3)
    d = PCA_SIDE * PCA_SIDE * 3
    faces = 0.5 + rng.normal(size=(120, 5)) @ (rng.normal(size=(5, d)) * 0.04)
    small = np.clip(faces * 255, 0, 255).astype(np.uint8).reshape(-1, PCA_SIDE, PCA_SIDE, 3)
    g = mask_study.Gallery(faces=[mask_study.Face(i % 12, i // 12, (0, 0, 1, 1), np.zeros((5, 2)), True)
                                  for i in range(120)], small=small)
    opts = mask_study.Options(folds=3, grid_components=(5, 500), grid_shrink=(1.0, 10.0))
    k, shrink, rows = mask_study.select_completion(g, mask_study.fold_of_identity(12, 3, 0), opts)
    assert rows[0]["components"] == 0 and len(rows) == 5  # the mean face, then 2 sizes x 2 ridges
    assert {r["components"] for r in rows[1:]} == {5, 59}  # 500 is cut to the faces there are, less one
    best = min(rows[1:], key=lambda r: r["rmse"])
    assert (k, shrink) == (best["components"], best["shrink"]) and best["rmse"] < 0.5 * rows[0]["rmse"]
    assert mask_study.select_completion(g, None, mask_study.Options(components=7, shrink=3.0)) == (7, 3.0, [])


def test_inpaint_changes_only_hidden_pixels(face):
    rgb, _ = face
    hidden = np.zeros(rgb.shape[:2], bool)
    hidden[100:140, 90:160] = True
    painted = rgb.copy()
    painted[hidden] = 0
    out = inpaint(painted, hidden)
    assert np.array_equal(out[~hidden], painted[~hidden]) and out[hidden].mean() > 20
    assert np.array_equal(inpaint(rgb, np.zeros_like(hidden)), rgb)
    with pytest.raises(ValueError):
        inpaint(rgb, hidden[:10])


def test_scores_on_known_distances():
    # 3 people x 2 photos in 1-d. Probe 0 (person 0) is close to its twin and to person 1;
    # probe 1 (person 2) is farther from its twin (2.5) than from a photo of person 1 (2.0).
    gallery = np.array([[0.0], [0.1], [0.3], [5.0], [9.0], [9.5]]) * np.eye(1, 128)
    gal_id = np.array([0, 0, 1, 1, 2, 2])
    probes = np.array([[0.0], [7.0]]) * np.eye(1, 128)
    p = mm.pairs(probes, np.array([0, 2]), np.array([0, 4]), gallery, gal_id)
    assert sorted(p.gen.tolist()) == pytest.approx([0.1, 2.5]) and len(p.imp) == 8
    assert np.all(np.diff(p.imp) >= 0)
    s = mm.summary(p, threshold=0.2, protocol_threshold=3.0)
    assert s["tar"] == 0.5 and s["tar_protocol"] == 1.0 and s["far"] == 0.0
    assert s["found"] == 0.5 and s["lookalike"] == 0.0 and s["own_threshold"] == pytest.approx(0.3)
    s = mm.summary(p, threshold=0.45, protocol_threshold=0.6)
    assert s["lookalike"] == 0.0 and s["any_false_match"] == 0.5
    assert p.closest_imp.tolist() == [2, 3] and p.imp_by_id[0].tolist() == pytest.approx([np.inf, 0.3, 9.0])
    s = mm.summary(p, threshold=4.5, protocol_threshold=0.6)
    assert s["lookalike"] == 0.5 and s["lookalike_photos"] == 1 and s["lookalike_top_photo_share"] == 1.0
    g = mm.by_gallery_size(p, [1, 2, 5], threshold=4.5, draws=30)
    assert list(g) == [1, 2] and g[2] == {"found": 0.5, "lookalike": 0.5}
    assert 0.0 <= g[1]["lookalike"] <= 0.5
    boot = mm.Bootstrap(3, gal_id, reps=50, seed=1)
    reps = boot.replicates(p, threshold=0.2)
    assert set(reps) == {"tar", "own_threshold", "tar_own", "lookalike"} and len(reps["tar"]) == 50
    lo, hi = mm.ci(reps["tar"])
    assert 0.0 <= lo <= hi <= 1.0
    roc = mm.roc(p)
    assert len(roc) == len(mm.FAR_GRID) and all(a <= b for a, b in zip(roc, roc[1:]))


def test_crossing():
    levels = [1.0, 0.8, 0.6, 0.4]
    assert mm.crossing(levels, [0.9, 0.7, 0.3, 0.1], 0.5) == pytest.approx(0.7)
    assert mm.crossing(levels, [0.4, 0.3, 0.2, 0.1], 0.5) == 1.0
    assert mm.crossing(levels, [0.9, 0.9, 0.9, 0.9], 0.5) == 0.0
    assert np.isnan(mm.crossing(levels, [np.nan, 0.1, 0.1, 0.1], 0.5))


def test_chart_is_valid_svg_and_escapes_text():
    svg = chart([Series("a <b> & c", [0.01, 1, 100], [0, 50, float("nan")], lo=[0, 40, 0], hi=[5, 60, 0]),
                 Series("pts", [1], [20], line=False)], title="t & <t>", xlabel="x", ylabel="y",
                xlim=(0.01, 100), ylim=(0, 100), xlog=True, hlines=[(50, "half")])
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert "a &lt;b&gt; &amp; c" in svg and "<b>" not in svg


def test_small_study_runs_and_has_the_tables_shape(people, surgical, tmp_path):
    opts = mask_study.Options(probes=1, levels=(0.7, 0.3), folds=2, components=3, shrink=10.0, bootstrap=20)
    res = mask_study.run_study(people, [surgical], opts)
    conds = res["conditions"]
    assert [e["occlusion"] for e in conds] == ["none", "mask:surgical", "chin-up:70", "chin-up:30",
                                               "forehead-down:70", "forehead-down:30"]
    assert res["data"] == {"identities": 2, "photos": 6, "unreadable": 0, "hog": res["data"]["hog"], "probes": 2}
    assert list(conds[0]["recon"]) == ["none"]
    for e in conds[1:]:
        assert list(e["recon"]) == list(mm.RECONS)
        assert sum(e["align"].values()) == 2
        for s in e["recon"].values():
            assert s["genuine_pairs"] == 4 and s["impostor_pairs"] == 6 and len(s["roc"]) == len(mm.FAR_GRID)
            assert 0.0 <= s["tar"] <= 1.0 and len(s["ci"]["tar"]) == 2
    assert conds[0]["recon"]["none"]["tar"] == 1.0  # the same face, shifted or flipped, still matches
    # veil's regions at the default scale: the masked face's visible part (eyes, brows, forehead) is covered
    for e in conds[:2]:
        assert e["veil"]["detected"] == 1.0 and e["veil"]["covered_min"] >= 0.99, e["occlusion"]
    assert set(res["crossings"]) == {f"{f}/{r}/{t}" for f in ("chin-up", "forehead-down")
                                     for r in mm.RECONS for t in (0.5, 0.1)}
    md = tables(res)
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    # occlusions, scores, filling in, veil, and the search view (not filled, completed)
    assert sum("| mask:surgical |" in r for r in rows) == 6
    assert len([r for r in rows if r.startswith("| chin-up | ")]) == 3
    back = json.loads(json.dumps(mask_study.to_json(res), default=float))  # --replot reads this back
    assert tables(back) == md
    assert {p.name for p in write_figures(back, [], tmp_path / "replot")} == {
        "tar-chin-up.svg", "tar-forehead-down.svg", "lookalike.svg", "gallery.svg", "roc.svg"}
    names = {p.name for p in write_figures(res, [surgical], tmp_path)}
    assert {"tar-chin-up.svg", "tar-forehead-down.svg", "lookalike.svg", "roc.svg", "anchors.png",
            "occlusions.png", "fills.png", "gallery.svg"} <= names
