"""veil.verify: recognizer, attacks, calibrated threshold, verdicts, tracks, residual faces, escalation.

The faces come from the CC0 fixtures (boxes from their Pascal VOC files); the
anonymizations are generated here. Model-backed tests share module fixtures to
stay within the CPU budget (~110 embeddings in all).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from veil.detections import Detections
from veil.region import head_regions
from veil.config import Config
from veil.verify import attacks as A
from veil.verify import samples
from veil.verify.escalate import Setting, escalate, escalation_plan
from veil.verify.measure import verify_face
from veil.verify.recognizer import CHIP_SIZE, CROP_SIZE, Recognizer, face_distance, inner_chip, shape_points
from veil.verify.samples import check_landmarks
from veil.verify.tracks import FrameMeta, pick_representative, verify_track
from veil.verify.verdicts import FaceVerdict, ResidualFinding, TrackVerdict, summarize
from veil.verify.residual import inside_fraction, residual_faces
from veil.verify.threshold import IMPOSTOR_THRESHOLD, PROVENANCE

DATA = Path(__file__).parent / "data" / "face_mask"
THR = IMPOSTOR_THRESHOLD


# -- fixtures and reference anonymizers ------------------------------------------------
def load_face(n: int) -> tuple[np.ndarray, list[float]]:
    rgb = np.ascontiguousarray(cv2.imread(str(DATA / f"maksssksksss{n}.jpg"), cv2.IMREAD_COLOR)[:, :, ::-1])
    xml = (DATA / f"maksssksksss{n}.xml").read_text()
    box = [float(re.search(f"<{k}>([0-9.]+)</{k}>", xml).group(1)) for k in ("xmin", "ymin", "xmax", "ymax")]
    return rgb, box


def head_mask(rgb: np.ndarray, box) -> np.ndarray:
    return head_regions(Detections([box]), scale=1.5).mask(*rgb.shape[:2])


def blur_face(rgb, box, sigma_frac):
    """Gaussian blur of the head region, sigma a fraction of the FACE box width."""
    m = head_mask(rgb, box)
    out = rgb.copy()
    out[m] = cv2.GaussianBlur(rgb, (0, 0), sigma_frac * (box[2] - box[0]))[m]
    return out, m


def fill_face(rgb, box):
    m = head_mask(rgb, box)
    out = rgb.copy()
    out[m] = 0
    return out, m


def correlated_noise(rgb, box, amplitude, corr_px, rng):
    """Additive, spatially correlated Gaussian noise on the head region, drawn afresh per call.

    A deliberately weak 'noise' design: zero-mean per frame, so it averages away
    across frames (veil's own noise mode replaces the pixels instead).
    """
    m = head_mask(rgb, box)
    n = cv2.GaussianBlur(rng.standard_normal(rgb.shape).astype(np.float32), (0, 0), corr_px)
    n *= amplitude / n.std()
    out = rgb.astype(np.float32)
    out[m] += n[m]
    return np.clip(out, 0, 255).astype(np.uint8), m


def jitter_track(rgb, box, n, rng, max_shift=4.0):
    """n frames of the same face, shifted by up to ``max_shift`` px (subpixel)."""
    frames, boxes = [], []
    h, w = rgb.shape[:2]
    for _ in range(n):
        dx, dy = rng.uniform(-max_shift, max_shift, 2)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        frames.append(cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
        boxes.append([box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy])
    return frames, boxes


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer()


@pytest.fixture(scope="module")
def face343():
    return load_face(343)


@pytest.fixture(scope="module")
def face609():
    return load_face(609)


@pytest.fixture(scope="module")
def weak_blur_verdict(face343, rec) -> FaceVerdict:
    rgb, box = face343
    anon, mask = blur_face(rgb, box, 0.02)
    return verify_face(rgb, anon, box, region_mask=mask, recognizer=rec)


@pytest.fixture(scope="module")
def fill_verdict(face343, rec) -> FaceVerdict:
    rgb, box = face343
    anon, mask = fill_face(rgb, box)
    return verify_face(rgb, anon, box, region_mask=mask, recognizer=rec)


@pytest.fixture(scope="module")
def noise_track_verdict(face609, rec) -> TrackVerdict:
    rgb, box = face609
    rng = np.random.default_rng(0)
    frames, boxes = jitter_track(rgb, box, 8, rng)
    anon, masks = zip(*(correlated_noise(f, b, 50.0, 3.0, rng) for f, b in zip(frames, boxes)))
    return verify_track(frames, list(anon), boxes, region_masks=list(masks), recognizer=rec, k=2, track_id=7)


# -- threshold ---------------------------------------------------------------------------
def test_threshold_is_calibrated_with_provenance():
    p = PROVENANCE
    assert 0.3 < THR < 0.6  # dlib documents 0.6 as "same person"; the 0.1% impostor level is stricter
    lo, hi = p["ci95_bootstrap_identities"]
    assert lo <= THR <= hi
    assert p["quantile"] == 0.001
    assert p["impostor_pairs_below"] < p["quantile"] * p["impostor_pairs"]
    assert p["identities"] >= 100 and p["impostor_pairs"] > 1_000_000
    for key in ("data", "date", "command", "detector", "alignment", "recognizer", "genuine_share_below"):
        assert p[key]


# -- recognizer ----------------------------------------------------------------------------
def test_importing_verify_loads_no_model():
    code = ("import sys, veil.verify as v; v.verify_face; v.Recognizer; v.IMPOSTOR_THRESHOLD; "
            "assert 'dlib' not in sys.modules, 'dlib imported'; "
            "from veil.verify import recognizer; assert not recognizer._models")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_recognizer_chips_and_embeddings(face343, rec):
    rgb, box = face343
    shape = rec.landmarks(rgb, box)
    assert check_landmarks(shape_points(shape), box) is None
    chip = rec.chip(rgb, shape)
    crop = rec.aligned_crop(rgb, shape)
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3) and chip.dtype == np.uint8
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3)
    e = rec.embed([chip, np.ascontiguousarray(inner_chip(crop))])
    assert e.shape == (2, 128) and e.dtype == np.float32
    # the inner window of the wide crop is the dlib chip, up to interpolation
    assert face_distance(e[0], e[1]) < 0.02
    assert rec.embed([]).shape == (0, 128)
    with pytest.raises(ValueError):
        rec.embed([crop])


@pytest.mark.parametrize("n", [109, 110, 230, 343, 609])
def test_numpy_resnet_gives_dlibs_descriptors(n, rec):
    # veil runs dlib's network over numpy (veil.verify.resnet); the calibrated
    # threshold holds only if the descriptors are dlib's own.
    import dlib

    from veil.models import dlib_model_path

    rgb, box = load_face(n)
    chip = rec.chip(rgb, rec.landmarks(rgb, box))
    noise = np.random.default_rng(n).integers(0, 256, chip.shape, dtype=np.uint8)
    ours = rec.embed([chip, noise])
    theirs = dlib.face_recognition_model_v1(str(dlib_model_path("recognizer"))).compute_face_descriptor([chip, noise])
    np.testing.assert_allclose(ours, np.array([np.asarray(v) for v in theirs]), rtol=0, atol=1e-5)


def test_numpy_resnet_batches_do_not_change_descriptors():
    # Chips go through the network 16 at a time; a chip's descriptor must not
    # depend on its batch (no state, no cross-talk between samples).
    from veil.models import dlib_model_path
    from veil.verify.resnet import load_dlib_resnet

    net = load_dlib_resnet(dlib_model_path("recognizer"))
    chips = np.random.default_rng(5).integers(0, 256, (17, 150, 150, 3), dtype=np.uint8)
    together = net(chips)
    assert together.shape == (17, 128) and together.dtype == np.float32
    np.testing.assert_allclose(together, np.concatenate([net(chips[i:i + 1]) for i in range(17)]), atol=1e-5)


def test_numpy_resnet_rejects_other_files_and_bad_chips(tmp_path):
    from veil.errors import ModelError
    from veil.models import dlib_model_path
    from veil.verify.resnet import load_dlib_resnet

    whole = dlib_model_path("recognizer").read_bytes()
    for name, data in [("landmarks.dat", dlib_model_path("landmarks5").read_bytes()),
                       ("truncated.dat", whole[:len(whole) // 2]), ("empty.dat", b"")]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelError, match="not dlib's face recognition ResNet"):
            load_dlib_resnet(tmp_path / name)
    with pytest.raises(ModelError, match="cannot read"):
        load_dlib_resnet(tmp_path / "missing.dat")
    # Same architecture, one weight changed: refused, since the leak threshold
    # was calibrated with these weights only.
    damaged = bytearray(whole)
    damaged[len(whole) // 2] ^= 0x01
    (tmp_path / "damaged.dat").write_bytes(bytes(damaged))
    with pytest.raises(ModelError, match="other weights than the recognizer veil's leak threshold"):
        load_dlib_resnet(tmp_path / "damaged.dat")
    assert load_dlib_resnet(tmp_path / "damaged.dat", sha256=None) is not None
    net = load_dlib_resnet(dlib_model_path("recognizer"))
    assert net(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    for bad in (np.zeros((1, 150, 150, 3), np.float32), np.zeros((150, 150, 3), np.uint8),
                np.zeros((1, 151, 150, 3), np.uint8)):
        with pytest.raises(ValueError):
            net(bad)


def test_exact_copy_leaks(face609, rec):
    rgb, box = face609
    v = verify_face(rgb, rgb.copy(), box, recognizer=rec, attacks="none")
    assert v.status == "leak" and v.leaks
    assert v.distance < 0.01
    assert v.margin == pytest.approx(v.distance - v.evidence.line)
    assert list(v.distances) == ["identity"]


# -- single faces ----------------------------------------------------------------------------
def test_weak_blur_leaks(weak_blur_verdict):
    v = weak_blur_verdict
    assert v.status == "leak" and v.leaks
    assert v.distance < THR and v.margin < 0
    # deconvolution with the known kernel family brings it even closer than the published face
    assert v.strongest_attack.startswith("deblur_")
    assert v.distance < v.distances["identity"]
    assert v.region == "given"
    assert len(v.distances) <= 15  # bounded cost per face


def test_fill_passes(fill_verdict):
    v = fill_verdict
    assert v.status == "pass" and not v.leaks
    assert v.distance > THR and v.margin > 0.03
    assert v.margin == pytest.approx(v.distance - v.evidence.line)
    # every attack ran and none came close
    assert {"identity", "deblur_wiener/s0.025", "deblur_rl/s0.03", "depixelate/b10",
            "inpaint/telea", "denoise/bilateral"} <= set(v.distances)
    assert min(v.distances.values()) == v.distance


def test_region_mask_is_inferred_when_missing(face343, rec):
    rgb, box = face343
    anon, _ = fill_face(rgb, box)
    v = verify_face(rgb, anon, box, recognizer=rec, attacks=["inpaint"])
    assert v.region == "inferred"
    assert "inpaint/telea" in v.distances and not v.leaks


def test_tiny_face_is_unverifiable(face343, rec):
    rgb, box = face343
    small = cv2.resize(rgb, None, fx=0.1, fy=0.1, interpolation=cv2.INTER_AREA)
    sbox = [c * 0.1 for c in box]  # ~15 px wide
    v = verify_face(small, small, sbox, recognizer=rec)
    assert v.status == "unverifiable" and v.unverifiable == "face_too_small"
    assert not v.leaks and not v.verified and v.distance is None and v.margin is None
    d = v.to_dict()
    assert d["status"] == "unverifiable" and d["unverifiable"] == "face_too_small" and d["note"]
    assert d["leaks"] is False and d["distance"] is None


def test_no_face_is_unverifiable(rec):
    grey = np.full((200, 200, 3), 128, np.uint8)
    v = verify_face(grey, grey, [50, 50, 150, 150], recognizer=rec)
    assert v.status == "unverifiable"
    assert v.unverifiable in ("landmarks_failed", "no_face_texture")
    out = verify_face(grey, grey, [-500, -500, -400, -400], recognizer=rec)
    assert out.unverifiable == "outside_picture"


def test_verify_face_checks_sizes(face343, rec):
    rgb, box = face343
    with pytest.raises(ValueError):
        verify_face(rgb, rgb[:-1], box, recognizer=rec)


# -- tracks ------------------------------------------------------------------------------------
def test_per_frame_noise_is_caught_by_the_multi_frame_attack(noise_track_verdict):
    v = noise_track_verdict
    # frame by frame, strong noise hides the face from every single-picture attack ...
    assert len(v.faces) == 2
    for f in v.faces:
        assert f.status == "pass", (f.frame, f.distance, f.strongest_attack)
        assert f.margin > 0.03
    # ... but averaging the aligned crops of the track brings it back
    assert v.frames_total == v.frames_usable == v.frames_combined == 8
    assert min(v.multi_frame.values()) < THR - 0.05
    assert v.leaks and v.status == "leak"
    assert v.strongest_attack.startswith("multiframe_") and v.strongest_frame is None


def test_pick_representative():
    metas = [FrameMeta(i, area=100 + (50 if i == 5 else 0), sharpness=10 + (9 if i == 2 else 0)) for i in range(10)]
    assert pick_representative(metas, k=4) == [5, 2, 0, 9]
    assert pick_representative(metas, k=2) == [5, 2]
    assert len(set(pick_representative(metas, k=7))) == 7
    assert pick_representative([{"index": 3, "area": 1, "sharpness": 1}], k=4) == [3]
    assert pick_representative([], k=4) == []


def test_track_of_unusable_frames_is_unverifiable(rec):
    grey = np.full((120, 120, 3), 90, np.uint8)
    v = verify_track([grey] * 3, [grey] * 3, [[10, 10, 20, 20], None, [5, 5, 15, 15]], recognizer=rec)
    assert v.status == "unverifiable" and v.unverifiable == "face_too_small"
    assert v.frames_total == 2 and v.frames_usable == 0 and not v.leaks
    json.dumps(v.to_dict(), allow_nan=False)


# -- reports: no pixels ----------------------------------------------------------------------
def _assert_no_pixels(obj, path="$"):
    """Clean rule: JSON scalars only; every list is short (<= 4 numbers: a box) or holds dicts; short strings."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str)
            _assert_no_pixels(v, f"{path}.{k}")
    elif isinstance(obj, list):
        if all(isinstance(x, dict) for x in obj):
            for i, x in enumerate(obj):
                _assert_no_pixels(x, f"{path}[{i}]")
        else:
            assert len(obj) <= 4 and all(isinstance(x, (int, float)) for x in obj), path
    else:
        assert obj is None or isinstance(obj, (bool, int, float, str)), (path, type(obj))
        assert not isinstance(obj, str) or len(obj) <= 300, path


def test_to_dict_holds_no_pixels(weak_blur_verdict, fill_verdict, noise_track_verdict):
    for v in (weak_blur_verdict, fill_verdict, noise_track_verdict):
        d = v.to_dict()
        assert json.loads(json.dumps(d, allow_nan=False)) == d
        _assert_no_pixels(d)
        assert d["distance"] == round(v.distance, 4) and d["threshold"] == round(THR, 4)
        assert d["leaks"] == v.leaks and set(d["distances"]) == set(v.distances)
    t = noise_track_verdict.to_dict()
    assert t["track"] == 7 and t["strongest_attack"].startswith("multiframe_")
    assert len(t["representatives"]) == 2 and t["frames"]["combined"] == 8
    s = summarize([weak_blur_verdict, fill_verdict], residual=[])
    assert s.verdict == "leak" and s.counts.to_dict() == {"faces": 2, "pass": 1, "leak": 1, "unverifiable": 0,
                                                          "residual": 0}
    d = s.to_dict()
    assert d["verdict"] == "leak" and d["counts"] == s.counts.to_dict()
    _assert_no_pixels(d)
    assert summarize([fill_verdict]).verdict == "pass"
    found = ResidualFinding((1.0, 2.0, 3.0, 4.0), 0.9, 3)
    assert summarize([fill_verdict], residual=[found]).verdict == "leak"
    assert summarize([fill_verdict], residual=[found]).to_dict()["residual"] == [
        {"box": [1.0, 2.0, 3.0, 4.0], "score": 0.9, "source": "detected", "frame": 3}]


# -- escalation ----------------------------------------------------------------------------------
def test_escalation_plan():
    assert escalation_plan("blur", blur_strength=0.25) == [Setting("blur", blur_strength=0.5),
                                                         Setting("blur", blur_strength=1.0), Setting("fill")]
    assert escalation_plan("blur", blur_strength=1.5) == [Setting("blur", blur_strength=2.0), Setting("fill")]
    assert [s.pixelate_blocks for s in escalation_plan("pixelate", pixelate_blocks=10)] == [8, 6, 4, None]
    assert escalation_plan("pixelate", pixelate_blocks=4) == [Setting("fill")]
    assert escalation_plan("noise") == [Setting("fill")]
    assert escalation_plan("fill") == []
    with pytest.raises(ValueError):
        escalation_plan("sepia")
    assert Setting("blur", blur_strength=0.5).config_changes() == {"mode": "blur", "blur_strength": 0.5}


class _V:
    def __init__(self, leaks):
        self.leaks, self.distance = leaks, 0.4 if leaks else 0.7


def test_escalate_stops_at_the_first_pass_and_leaves_passing_faces_alone():
    seen = []
    answers = iter([True, False, True])

    def render(overrides):
        seen.append(dict(overrides))
        return {0: _V(next(answers))}  # face 1 passed at once: never re-rendered

    result = escalate(Config(mode="blur", blur_strength=0.1), {0: _V(True), 1: _V(False)}, render)
    steps = result.steps[0]
    assert [s.leaks for s in steps] == [True, False] and len(seen) == 2
    assert [o[0].blur_strength for o in seen] == [0.2, 0.4] and all(set(o) == {0} for o in seen)
    assert str(steps[-1]) == "blur strength 0.4: pass (distance 0.700)" and 1 not in result.steps
    assert not result.verdicts[0].leaks and result.overrides[0].blur_strength == 0.4
    # Irreversible modes have no plan: nothing is re-rendered.
    assert escalate(Config(mode="fill"), {0: _V(True)}, lambda o: seen.append(o)).steps == {} and len(seen) == 2


def test_weak_blur_escalates_until_it_passes(face609, rec):
    from veil.anonymize import anonymize

    rgb, box = face609
    regions = head_regions(Detections([box]), scale=1.5)
    mask = regions.mask(*rgb.shape[:2])

    def check(out):
        return verify_face(rgb, out, box, region_mask=mask, recognizer=rec, attacks="quick")

    def render(overrides):
        out = anonymize(rgb, regions, mode="blur", blur_strength=overrides[0].blur_strength
                        if overrides[0].mode.value == "blur" else 2.0, rng=np.random.default_rng(0))
        if overrides[0].mode.value == "fill":
            out = anonymize(rgb, regions, mode="fill")
        return {0: check(out)}

    start = 0.02  # veil's blur_strength: sigma 2% of the head region (3% of the face)
    config = Config(mode="blur", blur_strength=start)
    first = check(anonymize(rgb, regions, mode="blur", blur_strength=start, rng=np.random.default_rng(0)))
    assert first.leaks
    steps = escalate(config, {0: first}, render).steps[0]
    assert steps and not steps[-1].leaks
    assert all(s.leaks for s in steps[:-1])
    assert steps[-1].verdict.margin > 0
    assert [s.setting for s in steps] == escalation_plan("blur", blur_strength=start)[:len(steps)]
    assert all(str(s).startswith(s.setting.mode) for s in steps)


# -- attacks (no model) -------------------------------------------------------------------------
def _psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def _texture(seed=0, size=120):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def test_deconvolution_undoes_a_known_gaussian_blur():
    sharp = _texture()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
    wiener = A.wiener_deblur(blurred, 2.0, nsr=1e-4)
    rl = A.richardson_lucy(blurred, 2.0, iterations=30)
    assert wiener.shape == rl.shape == sharp.shape and wiener.dtype == np.uint8
    assert _psnr(wiener, sharp) > _psnr(blurred, sharp) + 3
    assert _psnr(rl, sharp) > _psnr(blurred, sharp) + 1
    several = A.wiener_deblur(blurred, [1.0, 2.0])
    assert isinstance(several, list) and len(several) == 2


def test_multi_frame_attack_averages_noise_away():
    clean = _texture(1)
    rng = np.random.default_rng(2)
    noisy = [np.clip(clean + rng.normal(0, 60, clean.shape), 0, 255).astype(np.uint8) for _ in range(16)]
    cands = dict(A.multi_frame(noisy, A.AttackContext(face_width=100)))
    assert set(cands) == set(A.MULTI_FRAME)
    assert _psnr(cands["multiframe_mean"], clean) > _psnr(noisy[0], clean) + 8
    assert A.multi_frame(noisy[:1]) == []


def test_attack_registry_and_budget():
    crop = _texture(3, CROP_SIZE)
    mask = np.zeros((CROP_SIZE, CROP_SIZE), bool)
    mask[60:190, 70:180] = True
    ctx = A.AttackContext(face_width=125.0, region_mask=mask)
    names = A.resolve_attacks("all")
    cands = A.run_attacks(crop, ctx, names)
    assert len(cands) == sum(A.ATTACKS[n].budget for n in names) <= 14
    assert all(c.shape == crop.shape and c.dtype == np.uint8 for _, c in cands)
    assert cands[0][0] == "identity" and np.array_equal(cands[0][1], crop)
    inp = dict(cands)["inpaint/telea"]
    far = ~cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert np.array_equal(inp[far], crop[far])  # only the covered pixels (and a 2-px rim) are filled in
    assert not np.array_equal(inp[mask], crop[mask])
    assert A.resolve_attacks(None) == ("identity",)
    assert A.resolve_attacks(["denoise"]) == ("identity", "denoise")
    assert len(A.run_attacks(crop, ctx, A.resolve_attacks("quick"))) == 10
    assert A.run_attacks(crop, A.AttackContext(face_width=125.0), ["inpaint"]) == []
    with pytest.raises(ValueError):
        A.resolve_attacks(["time_travel"])


def test_check_landmarks_rejects_implausible_points():
    box = [0, 0, 100, 100]
    good = [[70, 40], [58, 40], [30, 40], [42, 40], [50, 60]]
    assert check_landmarks(good, box) is None
    assert "eye distance" in check_landmarks([[51, 40], [50, 40], [49, 40], [50, 40], [50, 60]], box)
    assert "nose" in check_landmarks([[70, 40], [58, 40], [30, 40], [42, 40], [50, 41]], box)
    assert "outside" in check_landmarks([[70, 40], [58, 40], [30, 40], [42, 40], [50, 300]], box)
    assert check_landmarks(np.full((5, 2), np.nan), box) == "no landmarks"


# -- residual faces (fake detector; the real one is veil.detect) -------------------------------
class FakeDetector:
    def __init__(self, dets):
        self.dets, self.calls = dets, 0

    def detect(self, rgb):
        self.calls += 1
        assert rgb.ndim == 3 and rgb.dtype == np.uint8
        return self.dets


def test_residual_faces_flags_confident_faces_outside_the_covered_mask():
    rgb = np.zeros((100, 200, 3), np.uint8)
    covered = np.zeros((100, 200), bool)
    covered[10:60, 10:60] = True
    dets = Detections([[10, 10, 60, 60],      # covered: the anonymized face
                       [40, 40, 90, 90],      # 16% inside: flagged
                       [120, 20, 170, 70],    # outside: flagged
                       [130, 10, 150, 30]],   # outside but unsure: ignored
                      scores=[0.99, 0.9, 0.8, 0.3], track_id=[1, -1, -1, -1])
    det = FakeDetector(dets)
    out = residual_faces(rgb, covered, det)
    assert det.calls == 1
    assert out.xyxy.tolist() == [[40, 40, 90, 90], [120, 20, 170, 70]]
    assert len(residual_faces(rgb, covered, det, max_inside=0.1)) == 1
    assert len(residual_faces(rgb, None, det, min_score=0.0)) == 4
    assert len(residual_faces(rgb, covered, FakeDetector(Detections.empty()))) == 0
    with pytest.raises(ValueError):
        residual_faces(rgb, covered[:50], det)
    np.testing.assert_allclose(inside_fraction(dets.xyxy, covered), [1.0, 400 / 2500, 0.0, 0.0])
    assert inside_fraction(np.array([[300, 300, 400, 400]]), covered).tolist() == [0.0]


def test_a_face_between_covered_heads_is_flagged_when_its_eyes_and_nose_show():
    # Its loose box lay 56% inside its neighbours' regions and a caption's box, so the box rule let
    # it pass ("verified"); two of its eyes and nose outside every covered pixel flag it.
    rgb = np.zeros((100, 200, 3), np.uint8)
    covered = np.zeros((100, 200), bool)
    covered[:, :55] = True  # the neighbour's head region
    covered[75:, :] = True  # a caption's box below
    eyes_out = np.array([[[52, 40], [70, 40], [62, 55], [55, 68], [68, 68]]], np.float32)  # one eye covered
    eyes_in = np.array([[[20, 40], [35, 40], [30, 55], [25, 68], [35, 68]]], np.float32)
    box = [[10, 20, 80, 100]]
    seen = Detections(box, scores=[0.8], landmarks=eyes_out)
    assert inside_fraction(seen.xyxy, covered)[0] > 0.5
    assert len(residual_faces(rgb, covered, FakeDetector(seen))) == 1
    assert len(residual_faces(rgb, covered, FakeDetector(Detections(box, scores=[0.8], landmarks=eyes_in)))) == 0
    assert len(residual_faces(rgb, covered, FakeDetector(Detections(box, scores=[0.8])))) == 0  # no landmarks


class CoverDetector:
    """One real face always; and a 'face' beside the cover wherever the covered square is dark."""

    def __init__(self, cover):
        self.cover, self.calls = cover, 0

    def detect(self, rgb):
        self.calls += 1
        x0, y0, x1, y1 = self.cover
        boxes, scores = [[120, 20, 170, 70]], [0.8]  # a face far from the cover: in both pictures
        if rgb[y0:y1, x0:x1].mean() < 30:  # the cover changed what surrounds this spot
            boxes.append([50, 40, 90, 90])
            scores.append(0.7)
        return Detections(boxes, scores=scores)


def test_residual_finding_the_covering_made_is_listed_not_counted():
    from veil.verify.residual import residual_findings
    from veil.verify.verdicts import NOT_ON_ORIGINAL, VerificationRecord

    original = np.full((100, 200, 3), 90, np.uint8)
    covered = np.zeros((100, 200), bool)
    covered[10:60, 10:60] = True
    out = original.copy()
    out[covered] = 0
    before = out.copy(), original.copy()
    det = CoverDetector((10, 10, 60, 60))
    found = residual_findings(out, covered, det, original_rgb=original, frame=7)
    assert np.array_equal(out, before[0]) and np.array_equal(original, before[1]) and det.calls == 2
    assert [(f.box, f.reason, f.frame) for f in found] == [((120.0, 20.0, 170.0, 70.0), None, 7),
                                                           ((50.0, 40.0, 90.0, 90.0), NOT_ON_ORIGINAL, 7)]
    record = VerificationRecord((), tuple(found))  # a finding with a reason is excused, not counted
    assert [f.box for f in record.residual] == [(120.0, 20.0, 170.0, 70.0)] and record.counts.residual == 1
    assert [f.reason for f in record.excused] == [NOT_ON_ORIGINAL] and record.verdict == "leak"
    assert VerificationRecord.from_dict(record.to_dict()).excused[0].reason == NOT_ON_ORIGINAL
    # A face the run left uncovered is on the original too: counted, as without the original.
    left = CoverDetector((10, 10, 60, 60))
    assert [f.reason for f in residual_findings(out, covered, left, original_rgb=out)] == [None, None]
    assert [f.reason for f in residual_findings(out, covered, CoverDetector((10, 10, 60, 60)))] == [None, None]


def test_residual_check_finds_a_face_the_anonymizer_skipped(face343, face609):
    detect = pytest.importorskip("veil.detect")
    (a, box_a), (b, box_b) = face343, face609
    both = np.ascontiguousarray(np.concatenate([a, b], axis=1))
    box_b = [box_b[0] + a.shape[1], box_b[1], box_b[2] + a.shape[1], box_b[3]]
    anon, covered = fill_face(both, box_a)  # face B deliberately left alone
    found = residual_faces(anon, covered, detect.CenterFace(threshold=0.5))
    assert len(found) == 1
    assert inside_fraction(found.xyxy, head_mask(both, box_b))[0] > 0.9
    both_covered = covered | head_mask(both, box_b)
    anon2 = anon.copy()
    anon2[both_covered] = 0
    assert len(residual_faces(anon2, both_covered, detect.CenterFace(threshold=0.5))) == 0


def test_alignment_window_is_exact(face343, rec):
    """Landmarks and crops computed in a window around the face equal those on the whole frame."""
    rgb, box = face343
    anon, m = blur_face(rgb, box, 0.05)
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    canvas[300:700, 800:1101] = rgb
    canvas_anon = canvas.copy()
    canvas_anon[300:700, 800:1101] = anon
    mask = np.zeros((1080, 1920), bool)
    mask[300:700, 800:1101] = m
    cbox = [box[0] + 800, box[1] + 300, box[2] + 800, box[3] + 300]
    for pic, pic_anon, pmask, pbox in ((canvas, canvas_anon, mask, cbox),
                                       (rgb[120:, 80:], anon[120:, 80:], m[120:, 80:],  # face at the border
                                        [box[0] - 80, box[1] - 120, box[2] - 80, box[3] - 120])):
        pic, pic_anon = np.ascontiguousarray(pic), np.ascontiguousarray(pic_anon)
        s = samples.prepare_sample(pic, pic_anon, pbox, region_mask=pmask, rec=rec, frame=None)
        shape = rec.landmarks(pic, pbox)
        assert s.usable
        assert np.array_equal(s.orig_crop, rec.aligned_crop(pic, shape))
        assert np.array_equal(s.anon_crop, rec.aligned_crop(pic_anon, shape))
        assert np.array_equal(s.mask, rec.align_mask(pmask, shape))


def test_video_residual_check_on_a_side_thread_gives_what_inline_gives():
    import concurrent.futures

    from veil.verify.video import VideoChecks

    frames = [Detections.empty() for _ in range(25)]
    found = Detections([[120, 20, 170, 70]], scores=[0.9])
    rgb = np.zeros((100, 200, 3), np.uint8)
    mask = np.zeros((100, 200), bool)
    inline = VideoChecks(frames, Config(), FakeDetector(found))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        side = VideoChecks(frames, Config(), FakeDetector(found), pool=pool)
        for checks in (inline, side):
            for i in range(25):
                checks.observe(i, rgb, rgb, mask)
        side.finish()
    assert side.detector.calls == inline.detector.calls == 6  # frames 0, 10, 20, each finding on the original too
    assert side.residual == inline.residual and [r.frame for r in side.residual] == [0, 10, 20]


def test_the_video_residual_check_samples_as_the_config_says():
    from veil.config import RESIDUAL_EVERY, Config
    from veil.verify.video import VideoChecks

    assert VideoChecks([], Config(), detector=None).residual_every == RESIDUAL_EVERY == 10
    assert VideoChecks([], Config(residual_every=1), detector=None).residual_every == 1
    assert VideoChecks([], Config(residual_every=3), detector=None, residual_every=0).residual_every == 0
