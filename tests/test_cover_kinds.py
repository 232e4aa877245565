"""``--cover faces,plates,text`` (issue 15): parsing, photos, video tracks per kind, records,
the plate/text residual check, and the one-line error without the text detector's package.

Inputs are generated here (the plates and words drawn by ``test_plates_text.draw`` on a CC0
photo of tests/data); tests never read ../shared.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from veil.cli import main
from veil.config import Config, RegionShape
from veil.detections import Detections, Kind, Source, kinds_text
from veil.region import Regions, head_regions
from veil.report import PhotoCover, VideoCover
from veil.track import TrackSummary, link_tracks
from veil.track.kinds import link_by_kind
from veil.verify import VerificationRecord
from veil.verify.verdicts import FILL_EDGE, ResidualFinding

from synthetic_text import PHOTO, background, draw, needs_model


def inside(mask: np.ndarray, box) -> float:
    """Share of ``box``'s pixels that ``mask`` holds."""
    x0, y0, x1, y1 = (int(v) for v in box)
    return float(mask[max(y0, 0):y1, max(x0, 0):x1].mean())


# ------------------------------------------------------------------ --cover
@pytest.mark.parametrize("value, expected", [
    ("faces", ("faces",)), ("plates,faces", ("faces", "plates")), (" TEXT , plates ", ("plates", "text")),
    (["text", "faces", "plates", "text"], ("faces", "plates", "text")), (("plates",), ("plates",))])
def test_cover_parses_any_combination_in_one_order(value, expected):
    config = Config(cover=value)
    assert config.cover == expected
    assert config.other_kinds == tuple(k for k in expected if k != "faces")
    assert Config.from_dict(config.to_dict()) == config  # the report's settings read back (veil review)


@pytest.mark.parametrize("value", ["", "faces,cars", "face", ",", []])
def test_cover_rejects_unknown_kinds(value):
    from veil.errors import UsageError

    with pytest.raises(UsageError, match="cover must name"):
        Config(cover=value)


def test_cover_default_is_faces_and_unknown_kind_is_a_usage_error(tmp_path, capsys):
    assert Config().cover == ("faces",) and Config().other_kinds == ()
    assert main(["anonymize", str(PHOTO), "-o", str(tmp_path / "out"), "--cover", "faces,licence"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cover must name" in err[0]
    assert not (tmp_path / "out" / PHOTO.name).exists()
    with pytest.raises(Exception, match="text-max-share"):
        Config(text_max_share=1.5)


def test_missing_text_detector_package_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from veil import models

    real = importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a))
    code = main(["anonymize", str(PHOTO), "-o", str(tmp_path / "out"), "--cover", "faces,plates"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "rapidocr-onnxruntime" in err[0]
    assert not list((tmp_path / "out").glob("*.jpg"))


def test_faces_only_needs_no_text_detector(monkeypatch):
    """Without rapidocr-onnxruntime veil still imports and covers faces."""
    from veil import models
    from veil.detect.kinds import other_kinds_for, require_other_kinds

    real = importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a))
    require_other_kinds(Config())  # no error
    assert other_kinds_for(Config()) is None


def test_face_detector_of_a_run_that_does_not_cover_faces_finds_none():
    from veil.detect import detector_for
    from veil.detect.kinds import NoFaces, face_detector_for

    given = NoFaces()  # any detector a caller passes
    assert isinstance(face_detector_for(Config(cover="plates"), given), NoFaces)
    assert isinstance(face_detector_for(Config(cover="text"), detector_for(Config())), NoFaces)
    assert face_detector_for(Config(), given) is given
    assert face_detector_for(Config(cover="faces,plates")) is detector_for(Config(cover="faces,plates"))


# ------------------------------------------------------------------ regions and records
def test_plate_and_text_regions_are_their_boxes_whatever_the_face_shape():
    dets = Detections([[10, 10, 50, 60], [100, 100, 160, 120], [200, 20, 260, 40]],
                      kind=[Kind.FACE, Kind.PLATE, Kind.TEXT])
    regions = head_regions(dets, scale=1.6, shape=RegionShape.ELLIPSE)
    np.testing.assert_array_equal(regions.boxes[1:], dets.xyxy[1:])  # not grown
    assert regions.boxes[0, 0] < 10  # the face grows into a head
    assert regions.kinds.tolist() == [0, 1, 2] and regions.kind_records() == ["face", "plate", "text"]
    mask = regions.mask(300, 300)
    assert mask[100:120, 100:160].all() and mask[20:40, 200:260].all()  # boxes, corners included
    assert not mask[0:2, 0:2].any()  # the face's ellipse leaves its box's corner
    assert head_regions(dets[[0]]).kind_records() is None  # faces only: reports as before
    with pytest.raises(ValueError):
        Regions([[0, 0, 1, 1]], kinds=[7])


def test_counts_of_kinds_are_worded_once():
    assert kinds_text({"face": 1, "plate": 2, "text": 3}) == "1 face, 2 plates, 3 text"
    assert kinds_text({Kind.FACE: 0, Kind.PLATE: 1, "text": 1}) == "0 faces, 1 plate, 1 text"
    with pytest.raises(ValueError):
        kinds_text({"car": 1})


def test_records_round_trip_with_kinds():
    dets = Detections([[10, 10, 50, 60], [100, 100, 160, 120]], kind=[Kind.FACE, Kind.PLATE])
    regions = head_regions(dets, scale=1.6)
    photo = PhotoCover(dets, regions).to_dict()
    assert photo["kinds"] == ["face", "plate"] and photo["detections"][1]["kind"] == "plate"
    back = PhotoCover.from_dict(photo)
    assert back.regions.kinds.tolist() == [0, 1] and back.detections.kind.tolist() == [0, 1]

    track = TrackSummary(3, 0, 4, [0, 1, 2], [], [3, 4], 60.0, Kind.PLATE)
    assert track.to_dict()["kind"] == "plate" and TrackSummary.from_dict(track.to_dict()) == track
    assert "kind" not in TrackSummary(0, 0, 1, [0, 1], [], [], 40.0).to_dict()  # faces: schema 1 as it was
    video = VideoCover(RegionShape.ELLIPSE, [regions, head_regions(dets[[0]])], [track], [], found=[dets, dets[[0]]])
    d = video.to_dict()
    assert d["kinds_by_frame"] == {"0": ["face", "plate"]}
    back = VideoCover.from_dict(d, frames=2, tracks=[track.to_dict()], cuts=[])
    assert back.regions[0].kinds.tolist() == [0, 1] and back.regions[1].kinds.tolist() == [0]
    assert back.tracks[0].kind == Kind.PLATE and back.found[0].kind.tolist() == [0, 1]


def test_verification_counts_residual_per_kind():
    record = VerificationRecord(residual=(ResidualFinding((1, 2, 3, 4), 0.9, kind="plate"),
                                          ResidualFinding((5, 6, 7, 8), 0.8)),
                                checked_kinds=("plate", "text"))
    counts = record.counts.to_dict()
    assert counts["residual"] == 2 and counts["residual_plate"] == 1 and counts["residual_text"] == 0
    assert record.verdict == "leak"
    assert VerificationRecord.from_dict(record.to_dict()) == record
    assert "residual_plate" not in VerificationRecord().counts.to_dict()  # faces only: unchanged


# ------------------------------------------------------------------ tracks per kind
def test_tracks_never_mix_kinds_and_faces_keep_their_ids():
    # A plate and a face on the same boxes, frame after frame: two tracks, one each.
    frames = [Detections([[10 + 3 * i, 10, 60 + 3 * i, 40]] * 2, kind=[Kind.FACE, Kind.PLATE]) for i in range(8)]
    frames[4] = frames[4][[0]]  # the plate is missed on frame 4 (interpolated)
    result = link_by_kind(frames, pad_frames=2, min_hits=1, frame_size=(200, 100))
    assert sorted((t.id, t.kind) for t in result.tracks) == [(0, Kind.FACE), (1, Kind.PLATE)]
    for d in result.frames:
        for tid, kind in zip(d.track_id, d.kind):
            assert (tid, kind) in ((0, Kind.FACE), (1, Kind.PLATE))
    four = result.frames[4]
    assert (Kind.PLATE, Source.INTERPOLATED) in set(zip(four.kind.tolist(), four.source.tolist()))
    # The raw detections come first, in their order.
    assert result.frames[0].kind[:2].tolist() == [0, 1] and (result.frames[0].source[:2] == 0).all()
    faces = [d[d.kind == Kind.FACE] for d in frames]
    alone = link_tracks(faces, pad_frames=2, min_hits=1, frame_size=(200, 100))
    assert link_by_kind(faces, pad_frames=2, min_hits=1, frame_size=(200, 100)).tracks == alone.tracks


# ------------------------------------------------------------------ photos
@needs_model
@pytest.mark.slow
def test_photo_plate_and_text_covered_and_reported_with_kinds(tmp_path):
    photo = np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1])
    h, w = photo.shape[:2]
    rgb, plate = draw(photo, "AB12 CDE", height=18, angle=6, center=(w * 0.7, h * 0.85), plate=True)
    rgb, word = draw(rgb, "Smith", height=14, angle=0, center=(w * 0.25, h * 0.9), plate=False)
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "p.png"), rgb[:, :, ::-1])
    assert main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--cover", "faces,plates,text",
                 "--masks"]) == 0
    report = json.loads((tmp_path / "out" / "veil-report.json").read_text())
    assert report["settings"]["cover"] == ["faces", "plates", "text"]
    entry = report["files"][0]
    # (the word is plate-shaped: the plate rules take it, and a line a plate's box holds is not a text box too)
    assert entry["faces"] == 1 and entry["covered"]["plate"] >= 1 and sum(entry["covered"].values()) >= 2
    kinds = entry["regions"]["kinds"]
    assert kinds[0] == "face" and "plate" in set(kinds) and set(kinds) <= {"face", "plate", "text"}
    counts = entry["verification"]["counts"]
    assert counts["residual_plate"] == 0 and counts["residual_text"] == 0 and entry["verification"]["verdict"] == "pass"
    mask = cv2.imread(str(next((tmp_path / "out" / "masks").rglob("*.png"))), cv2.IMREAD_GRAYSCALE) > 0
    assert inside(mask, plate) == 1.0 and inside(mask, word) == 1.0
    out = cv2.imread(str(tmp_path / "out" / "p.png"))
    assert out[plate[1]:plate[3], plate[0]:plate[2]].max() == 0  # filled
    html = (tmp_path / "out" / "veil-report.html").read_text()
    assert "plate" in html and "text" in html
    pytest.importorskip("starlette", reason="veil review needs the review extra")
    from veil.review import ReviewSession

    card = ReviewSession(tmp_path / "out", originals=[tmp_path / "in"]).overview()["files"][0]
    assert card["covered"] == entry["covered"]  # the review app's file card counts plates and text too


def plural_plates(n: int) -> str:
    return f"{n} plate{'s' * (n != 1)}"


def _edits_file(path: Path, config, entry: dict, **changes) -> Path:
    from veil.edits import Edits, FileEdits, detection_settings, save_edits

    sha = entry["input_sha256"]
    return save_edits(Edits(detection_settings(config), {sha: FileEdits(sha, entry["kind"], **changes)}), path)


@needs_model
def test_report_after_edits_counts_what_is_covered_then_by_kind(tmp_path):
    """After a person's edits the report counts what is covered then: deleted plates leave ``covered``
    (file and run summary), and plates are never counted as faces (a photo and a video)."""
    from veil.edits import ItemRef

    photo = np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1])
    h, w = photo.shape[:2]
    rgb, _ = draw(photo, "AB12 CDE", height=18, angle=6, center=(w * 0.7, h * 0.85), plate=True)
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "p.png"), rgb[:, :, ::-1])
    _plate_video(tmp_path / "in" / "v.mp4", frames=8)
    config = Config(cover="faces,plates")
    args = ["--cover", "faces,plates"]
    assert main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *args]) == 0
    report = json.loads((tmp_path / "out" / "veil-report.json").read_text())
    photo_entry, video_entry = sorted(report["files"], key=lambda e: e["relative_path"])
    assert photo_entry["faces"] == 1 and photo_entry["covered"]["plate"] >= 1
    assert video_entry["faces"] >= 1 and video_entry["covered"]["plate"] >= 1

    # A photo: a mark only (nothing removed) keeps the counts; removing the plates empties "plate".
    face = ItemRef(tuple(photo_entry["regions"]["detections"][0]["box"]), detection=0)
    _edits_file(tmp_path / "marks.json", config, photo_entry, reviewed=(face,))
    assert main(["anonymize", str(tmp_path / "in" / "p.png"), "-o", str(tmp_path / "marked"), *args,
                 "--edits", str(tmp_path / "marks.json")]) == 0
    marked = json.loads((tmp_path / "marked" / "veil-report.json").read_text())["files"][0]
    assert (marked["faces"], marked["covered"]) == (photo_entry["faces"], photo_entry["covered"])
    plates = tuple(ItemRef(tuple(d["box"]), detection=i)
                   for i, d in enumerate(photo_entry["regions"]["detections"]) if d.get("kind") == "plate")
    _edits_file(tmp_path / "photo.json", config, photo_entry, removed=plates)
    assert main(["anonymize", str(tmp_path / "in" / "p.png"), "-o", str(tmp_path / "p2"), *args,
                 "--edits", str(tmp_path / "photo.json")]) == 0
    again = json.loads((tmp_path / "p2" / "veil-report.json").read_text())
    assert again["files"][0]["faces"] == 1 and again["files"][0]["covered"] == {"plate": 0}
    assert again["summary"]["covered"] == {"plate": 0}
    assert {x.get("kind") for x in again["files"][0]["review"]["removed"]} == {"plate"}
    html = (tmp_path / "p2" / "veil-report.html").read_text()
    assert "Removed as false detections" in html and f"({plural_plates(len(plates))}): false detections" in html

    # A video: every plate track removed (as the review app's "Delete every plate" does).
    pytest.importorskip("starlette", reason="the items are read through veil review's model")
    from veil.review import ReviewSession

    session = ReviewSession(tmp_path / "out", originals=[tmp_path / "in"])
    fid = next(f["id"] for f in session.overview()["files"] if f["relative_path"] == "v.mp4")
    items = session.file_model(fid)["items"]
    session.close()
    tracks = tuple(ItemRef.from_dict(it["ref"], "item", kind="video") for it in items
                   if it.get("what") == "plate" and it["kind"] != "residual")
    assert tracks
    _edits_file(tmp_path / "video.json", config, video_entry, removed=tracks)
    assert main(["anonymize", str(tmp_path / "in" / "v.mp4"), "-o", str(tmp_path / "v2"), *args,
                 "--edits", str(tmp_path / "video.json")]) == 0
    again = json.loads((tmp_path / "v2" / "veil-report.json").read_text())["files"][0]
    assert again["faces"] == video_entry["faces"] and again["covered"] == {"plate": 0}


@needs_model
def test_residual_check_finds_an_uncovered_plate():
    from veil.verify.kinds import check_other_kinds

    rgb, plate = draw(background(seed=1), "KA 02 N 6852", height=24, angle=0, center=(200, 150), plate=True)
    config = Config(cover="faces,plates")
    from veil.detect.kinds import other_kinds_for

    found = other_kinds_for(config).detect(rgb)  # what a run finds on the input
    missed = check_other_kinds(None, rgb, np.zeros(rgb.shape[:2], bool), config, found=found)
    assert check_other_kinds(None, rgb, np.zeros(rgb.shape[:2], bool), config).residual == missed.residual
    assert [r.kind for r in missed.residual] == ["plate"] and missed.counts.residual_plate == 1
    assert missed.verdict == "leak"
    x0, y0, x1, y1 = plate
    r = missed.residual[0].box
    assert r[0] <= x0 + 2 and r[2] >= x1 - 2  # the finding is where the plate is
    mask = np.zeros(rgb.shape[:2], bool)
    mask[int(r[1]):int(np.ceil(r[3])), int(r[0]):int(np.ceil(r[2]))] = True
    covered = rgb.copy()
    covered[mask] = 0
    ok = check_other_kinds(VerificationRecord(), covered, mask, config, found=found)
    assert ok.counts.residual_plate == 0 and ok.verdict == "pass" and ok.checked_kinds == ("plate",)


# ------------------------------------------------------------------ video
def _plate_video(path: Path, frames: int = 16) -> list[np.ndarray]:
    """A plate moving right across a 400x240 clip, a CC0 head standing beside its path."""
    from PIL import Image
    from synthetic_video import write_frames

    with Image.open(PHOTO) as im:
        face = cv2.resize(np.asarray(im.convert("RGB"))[60:300, 55:265], (80, 92), interpolation=cv2.INTER_AREA)

    def pictures():
        for i in range(frames):
            picture = background(240, 400, seed=3)
            picture[20:112, 300:380] = face
            yield draw(picture, "KA 02 N 6852", height=22, angle=4, center=(70 + 14 * i, 170), plate=True)

    return write_frames(path, pictures(), fps=15, crf=12)


@needs_model
@pytest.mark.slow
def test_moving_plate_covered_on_every_frame_and_never_joins_a_face(tmp_path):
    (tmp_path / "in").mkdir()
    boxes = _plate_video(tmp_path / "in" / "car.mp4")
    assert main(["anonymize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--cover", "faces,plates",
                 "--masks"]) == 0
    report = json.loads((tmp_path / "out" / "veil-report.json").read_text())
    entry = report["files"][0]
    masks = sorted((tmp_path / "out" / "masks").rglob("*.png"), key=lambda p: int(p.stem))
    assert len(masks) == len(boxes) == entry["frames"]
    for m, box in zip(masks, boxes):
        assert inside(cv2.imread(str(m), cv2.IMREAD_GRAYSCALE) > 0, box) == 1.0, m.name
    kinds = {t["id"]: t.get("kind", "face") for t in entry["tracks"]}
    assert "plate" in kinds.values() and "face" in kinds.values()
    for records in entry["regions"]["detections_by_frame"].values():
        for r in records:
            if "track" in r:
                assert r.get("kind", "face") == kinds[r["track"]]  # a track holds one kind
    assert entry["covered"]["plate"] >= 1 and entry["faces"] >= 1
    assert entry["verification"]["counts"]["residual_plate"] == 0


@needs_model
def test_cover_plates_only_leaves_faces_and_does_not_look_for_them(tmp_path):
    from veil.pipeline import anonymize_file

    photo = np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1])
    h, w = photo.shape[:2]
    rgb, plate = draw(photo, "AB12 CDE", height=18, angle=6, center=(w * 0.7, h * 0.85), plate=True)
    cv2.imwrite(str(tmp_path / "p.png"), rgb[:, :, ::-1])
    report = anonymize_file(tmp_path / "p.png", tmp_path / "o.png", Config(cover="plates"), mask_dir=tmp_path / "m")
    assert report.ok and report.faces == 0 and report.covered["plate"] >= 1 and "text" not in report.covered
    assert set(report.cover.regions.kinds.tolist()) == {int(Kind.PLATE)}
    v = report.verification
    assert v.verdicts == () and v.verdict == "pass" and v.checked_kinds == ("plate",)  # the face is not a finding
    out = cv2.imread(str(tmp_path / "o.png"))[:, :, ::-1]
    assert np.array_equal(out[:h // 2], rgb[:h // 2])  # the face (upper half) is untouched
    assert out[plate[1]:plate[3], plate[0]:plate[2]].max() == 0


def test_cover_settings_make_the_plate_and_text_detector():
    from veil.detect.kinds import OtherKinds, other_kinds_for

    d = other_kinds_for(Config(cover="text,faces", text_max_share=0.05, tiles=False))
    assert d.kinds == ("text",) and d.text.max_height_share == 0.05 and d.text.upscale is None
    assert other_kinds_for(Config(cover="plates")).text.max_height_share is None  # 0: all text covered
    assert other_kinds_for(Config(cover="plates")).text.upscale == 2.0  # tiles for small plates
    with pytest.raises(ValueError):
        OtherKinds(("faces",))


# ------------------------------------------------------------------ veil verify --cover
def _verify_json(capsys, *args) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["verify", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


@needs_model
def test_verify_cover_plates_checks_another_files_plates(tmp_path, capsys):
    from veil.errors import ExitCode

    photo = np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1])
    h, w = photo.shape[:2]
    rgb, plate = draw(photo, "AB12 CDE", height=18, angle=6, center=(w * 0.7, h * 0.85), plate=True)
    (tmp_path / "in").mkdir()
    original = tmp_path / "in" / "p.png"
    cv2.imwrite(str(original), rgb[:, :, ::-1])
    for cover in ("faces", "faces,plates"):
        assert main(["anonymize", str(original), "-o", str(tmp_path / cover), "--cover", cover]) == 0
    faces_only, both = tmp_path / "faces" / "p.png", tmp_path / "faces,plates" / "p.png"

    code, out = _verify_json(capsys, str(original), str(both), "--cover", "faces,plates")
    assert code == ExitCode.OK and out["verification"]["verdict"] == "pass"
    assert out["faces"] == 1 and out["others"]["plate"] >= 1
    assert out["verification"]["counts"]["residual_plate"] == 0

    code, out = _verify_json(capsys, str(original), str(faces_only), "--cover", "faces,plates")
    assert code == ExitCode.LEAK and out["verification"]["counts"]["residual_plate"] >= 1
    assert main(["verify", str(original), str(faces_only), "--cover", "faces,plates"]) == ExitCode.LEAK
    assert "possible missed plate" in capsys.readouterr().err

    code, out = _verify_json(capsys, str(original), str(faces_only))  # faces only, as before
    assert code == ExitCode.OK and "others" not in out
    assert main(["verify", str(original), str(both), "--cover", "faces,boats"]) == ExitCode.USAGE


@needs_model
@pytest.mark.slow
def test_verify_cover_plates_on_video_finds_a_plate_left_visible(tmp_path, capsys):
    from veil.errors import ExitCode

    (tmp_path / "in").mkdir()
    original = tmp_path / "in" / "car.mp4"
    _plate_video(original)
    for cover in ("faces", "faces,plates"):
        assert main(["anonymize", str(original), "-o", str(tmp_path / cover), "--cover", cover, "--no-verify"]) == 0
    code, out = _verify_json(capsys, str(original), str(tmp_path / "faces,plates" / "car.mp4"), "--cover", "plates")
    assert code == ExitCode.OK and out["others"]["plate"] >= 1 and out["faces"] == 0
    assert out["verification"]["counts"]["residual_plate"] == 0 and out["verification"]["counts"]["faces"] == 0
    code, out = _verify_json(capsys, str(original), str(tmp_path / "faces" / "car.mp4"), "--cover", "faces,plates")
    assert code == ExitCode.LEAK and out["verification"]["counts"]["residual_plate"] >= 1
    assert out["faces"] == 1


# ------------------------------------------------------------------ veil audit --cover
@needs_model
def test_audit_cover_lists_plates_and_text_without_reading_them(tmp_path, capsys):
    photo = np.ascontiguousarray(cv2.imread(str(PHOTO))[:, :, ::-1])
    h, w = photo.shape[:2]
    rgb, plate = draw(photo, "AB12 CDE", height=18, angle=6, center=(w * 0.7, h * 0.85), plate=True)
    cv2.imwrite(str(tmp_path / "p.png"), rgb[:, :, ::-1])
    capsys.readouterr()
    assert main(["audit", str(tmp_path / "p.png"), "--cover", "plates", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)["files"][0]
    assert entry["looked_for"] == ["plates"] and entry["faces"] == [] and entry["counts"]["plates"] == 1
    found = entry["others"][0]
    assert found["kind"] == "plate" and found["level"] == "high" and entry["risk"] == "high"
    assert found["box"][0] <= plate[0] + 2 and found["box"][2] >= plate[2] - 2
    assert "AB12" not in json.dumps(entry)  # located, never read
    assert main(["audit", str(tmp_path / "p.png")]) == 0  # faces only by default, as before
    out = capsys.readouterr()
    assert "licence plates" not in out.out and "faces: 1" in out.out
    assert main(["audit", str(tmp_path / "p.png"), "--cover", "faces,plates,text"]) == 0
    assert "licence plates: 1 found" in capsys.readouterr().out


@needs_model
def test_audit_cover_plates_in_video_names_the_frames(tmp_path, capsys):
    _plate_video(tmp_path / "car.mp4", frames=20)
    capsys.readouterr()
    assert main(["audit", str(tmp_path / "car.mp4"), "--cover", "faces,plates", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)["files"][0]
    plates = [o for o in entry["others"] if o["kind"] == "plate"]
    assert entry["sampled_frames"] == 2 and {o["frame"] for o in plates} == {0, 15}
    assert entry["counts"]["plates"] == 2 and entry["counts"]["faces"] == 2


# ------------------------------------------------------------------ veil's fill edge (not a leak)
def test_smooth_covered_keeps_the_rest_and_leaves_no_edge():
    from veil.verify.kinds import smooth_covered

    rgb = np.full((240, 320, 3), (90, 140, 200), np.uint8)
    rgb[:, 160:] = (60, 60, 60)
    covered = rgb.copy()
    mask = np.zeros(rgb.shape[:2], bool)
    mask[80:160, 40:120] = True  # a filled box inside the light half
    covered[mask] = 0
    before = covered.copy()
    out = smooth_covered(covered, mask)
    assert np.array_equal(covered, before) and out.dtype == np.uint8 and out.shape == rgb.shape
    assert np.array_equal(out[~mask], covered[~mask])  # only the covered pixels change
    assert np.abs(out[mask].astype(int) - (90, 140, 200)).max() <= 10  # grown from around: no black box left
    with pytest.raises(ValueError):
        smooth_covered(covered, mask[:100])


class _EdgeReader:
    """A stand-in detector that reads a "line" straddling the left edge of a dark box on the
    light picture (what DBNet did beside veil's fill on real pictures); with ``letters``, the
    line is there whatever covers the box (letters left uncovered)."""

    def __init__(self, letters: bool):
        self.letters = letters

    def detect(self, rgb, *, pool=None):
        boxes = [(30, 90, 70, 110)] if self.letters or rgb[100, 60].max() < 10 else []
        return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32),
                          kind=np.full(len(boxes), int(Kind.TEXT)))


@pytest.mark.parametrize("letters, listed", [(False, "excused"), (True, "residual")])
def test_finding_only_the_fills_edge_makes_is_excused_not_a_leak(monkeypatch, letters, listed):
    import veil.verify.kinds as kinds

    monkeypatch.setattr(kinds, "other_kinds_for", lambda config, single=False: _EdgeReader(letters))
    rgb = np.full((240, 320, 3), 200, np.uint8)
    mask = np.zeros(rgb.shape[:2], bool)
    mask[80:160, 55:120] = True
    rgb[mask] = 0
    found = Detections([(50, 85, 125, 165)], [0.9], kind=[int(Kind.TEXT)])
    record = kinds.check_other_kinds(VerificationRecord(), rgb, mask, Config(cover="faces,text"), found=found)
    assert len(getattr(record, listed)) == 1 and record.residual + record.excused == getattr(record, listed)
    if listed == "excused":  # the edge alone: listed with its reason, the file passes
        assert record.excused[0].reason == FILL_EDGE and record.verdict == "pass"
        assert record.counts.residual_text == 0 and record.to_dict()["counts"]["excused"] == 1
        assert VerificationRecord.from_dict(record.to_dict()).excused[0].reason == FILL_EDGE
    else:  # something the detector still reads once the edge is gone: a leak, as before
        assert record.residual[0].reason is None and record.verdict == "leak"


@needs_model
def test_word_covered_in_part_stays_a_finding_without_the_fills_edge():
    from veil.detect.kinds import other_kinds_for
    from veil.verify.kinds import check_other_kinds

    config = Config(cover="faces,text")
    rgb, word = draw(background(seed=2), "Jonathan Smith", height=22, angle=0, center=(200, 150), plate=False)
    found = other_kinds_for(config).detect(rgb)
    mask = np.zeros(rgb.shape[:2], bool)
    x0, y0, x1, y1 = word
    mask[y0:y1, x0:x0 + (x1 - x0) * 2 // 5] = True  # the first two fifths covered, the rest legible
    covered = rgb.copy()
    covered[mask] = 0
    record = check_other_kinds(VerificationRecord(), covered, mask, config, found=found)
    assert record.counts.residual_text >= 1 and not record.excused and record.verdict == "leak"


def test_review_lists_fill_edge_findings_as_not_counted_after_the_missed_ones():
    from veil.review.model import items_for

    from veil.verify.verdicts import NOT_ON_ORIGINAL

    edge = {"box": [10, 20, 60, 40], "score": 0.8, "reason": FILL_EDGE, "kind": "text"}
    made = {"box": [300, 20, 340, 60], "score": 0.7, "reason": NOT_ON_ORIGINAL}
    decided = {"box": [100, 20, 150, 80], "score": 0.9, "reason": "left visible by a person"}
    missed = {"box": [200, 20, 240, 40], "score": 0.7, "kind": "plate"}
    entry = {"kind": "image", "verification": {"residual": [missed], "excused": [edge, made, decided]}}
    items = items_for(entry, [Detections.empty()], Config(cover="faces,plates,text"))
    assert [it["label"] for it in items] == ["possible missed plate", "text at the edge of veil's fill (not counted)",
                                             "face not on the original (not counted)"]
    assert items[0]["flags"] == ["residual"] and items[1]["flags"] == ["other"] == items[2]["flags"]
    assert [it["tag"] for it in items] == ["missed plate?", "fill edge?", "not on original?"]  # drawn on the picture
    assert items[0]["priority"] < items[1]["priority"] and items[1]["box"] == [10, 20, 60, 40]


def test_review_draws_a_plate_tracks_boxes_inside_its_larger_ones_once():
    from veil.review.model import frame_rows

    src = [int(Source.DETECTED), int(Source.PREDICTED), int(Source.PADDED), int(Source.PADDED), int(Source.DETECTED),
           int(Source.DETECTED), int(Source.PREDICTED)]
    dets = Detections([[100, 50, 160, 70],   # plate track 1: the detection,
                       [98, 49, 162, 71],    # the tracker's box around it,
                       [96, 48, 158, 72],    # a held box overlapping it (not inside: drawn),
                       [99, 49, 161, 71],    # a held box inside the tracker's (not drawn)
                       [300, 50, 340, 60],   # text track 2, alone
                       [400, 100, 440, 150],  # face track 3 (an ellipse): both drawn,
                       [395, 95, 445, 155]],
                      scores=[0.8] * 7, track_id=[1, 1, 1, 1, 2, 3, 3], source=src,
                      kind=[Kind.PLATE] * 4 + [Kind.TEXT, Kind.FACE, Kind.FACE])
    rows = frame_rows(dets, Config(cover="faces,plates,text"))
    assert [r[:4] for r in rows] == [[98, 49, 162, 71], [96, 48, 158, 72], [300, 50, 340, 60],
                                     [400, 100, 440, 150], [395, 95, 445, 155]]
    boxed = frame_rows(dets[5:], Config(region_shape="box"))  # faces covered as boxes: the inner one too
    assert len(boxed) == 1
    assert frame_rows(Detections.empty(), Config()) == []
    untracked = frame_rows(dets[:2].replace(track_id=np.array([-1, -1])), Config(cover="plates"))
    assert len(untracked) == 2  # photos (no tracks) keep every row: the page names them by index


def test_html_timeline_names_plate_and_text_tracks_by_kind():
    from veil.report.html_svg import timeline_html

    tracks = [TrackSummary(id=0, first=0, last=3, detected=[0, 1, 2, 3], interpolated=[], padded=[], max_width=20.0),
              TrackSummary(id=1, first=0, last=3, detected=[0, 3], interpolated=[1, 2], padded=[], max_width=40.0,
                           kind=Kind.PLATE),
              TrackSummary(id=2, first=1, last=2, detected=[1, 2], interpolated=[], padded=[], max_width=30.0,
                           kind=Kind.TEXT)]
    page = timeline_html(tracks=tracks, cuts=[], frames=4)
    assert ">track 0<" in page and ">plate track 1<" in page and ">text track 2<" in page


@needs_model
def test_a_plates_own_line_is_one_region_not_a_plate_and_a_text_box():
    # With plates and text both covered, each plate was counted (and listed for review) twice.
    from veil.detect.kinds import OtherKinds

    rgb, plate = draw(background(seed=4), "KA 02 N 6852", height=24, angle=0, center=(200, 150), plate=True)
    both = OtherKinds(("plates", "text")).detect(rgb)
    text_alone = OtherKinds(("text",)).detect(rgb)
    plates = both[both.kind == Kind.PLATE]
    assert len(plates) >= 1 and len(text_alone) >= 1
    for box in both[both.kind == Kind.TEXT].xyxy:  # any text box left is not inside a plate's
        assert not any(box[0] >= p[0] - 1 and box[1] >= p[1] - 1 and box[2] <= p[2] + 1 and box[3] <= p[3] + 1
                       for p in plates.xyxy)


def test_inside_any_tells_boxes_held_whole():
    from veil.detect.kinds import _inside_any

    outer = np.array([[10, 10, 100, 50]], float)
    boxes = np.array([[20, 20, 90, 40], [9.5, 10, 100.5, 50], [5, 20, 90, 40], [200, 0, 210, 5]], float)
    assert _inside_any(boxes, outer).tolist() == [True, True, False, False]
    assert _inside_any(boxes, np.zeros((0, 4))).tolist() == [False] * 4


@needs_model
@pytest.mark.parametrize("cover, leaks", [("light blur", True), ("tint", True), ("fill", False), ("noise", False),
                                          ("veil blur", False), ("veil pixelate", False)])
def test_a_plate_still_read_under_a_cover_that_keeps_its_edges_is_a_finding(cover, leaks):
    # veil verify passed another tool's light blur of a plate (legible to anyone) as "verified": the
    # residual check only counted boxes outside the covered pixels.
    from veil.anonymize import cover as cover_regions
    from veil.detect.kinds import other_kinds_for
    from veil.verify.kinds import check_other_kinds

    config = Config(cover="plates,text")
    rgb, plate = draw(background(seed=3), "KA 02 N 6852", height=40, angle=0, center=(200, 150), plate=True)
    found = other_kinds_for(config).detect(rgb)
    x0, y0, x1, y1 = plate
    mask = np.zeros(rgb.shape[:2], bool)
    mask[y0 - 6:y1 + 6, x0 - 6:x1 + 6] = True
    out = rgb.copy()
    if cover == "light blur":
        out[mask] = cv2.GaussianBlur(rgb, (0, 0), 1.2)[mask]
    elif cover == "tint":
        out[mask] = np.clip(rgb[mask].astype(int) * 0.8 + 40, 0, 255).astype(np.uint8)
    elif cover == "fill":
        out[mask] = 0
    elif cover == "noise":
        out[mask] = np.random.default_rng(0).integers(0, 256, (int(mask.sum()), 3), dtype=np.uint8)
    else:
        region = Regions(np.array([[x0 - 6, y0 - 6, x1 + 6, y1 + 6]], float), RegionShape.BOX, [Kind.PLATE])
        out = cover_regions(rgb, region, Config(mode=cover.split()[1], seed=0), np.random.default_rng(0))
        mask = region.mask(*rgb.shape[:2])
    record = check_other_kinds(VerificationRecord(), out, mask, config, found=found, original=rgb)
    under = [r for r in record.residual if r.under_cover]
    assert bool(under) == leaks and (record.verdict == "leak") == leaks
    if leaks:
        assert ResidualFinding.from_dict(under[0].to_dict()).under_cover
        assert under[0].what.endswith("still found under its cover")
    # without the input picture nothing inside a cover is judged (as before)
    assert not any(r.under_cover for r in check_other_kinds(VerificationRecord(), out, mask, config,
                                                            found=found).residual)


@needs_model
def test_verify_says_which_plates_lie_under_a_blur_or_mosaic_it_cannot_judge(tmp_path, capsys):
    rgb, _ = draw(background(seed=3), "KA 02 N 6852", height=30, angle=0, center=(200, 150), plate=True)
    (tmp_path / "in").mkdir()
    original = tmp_path / "in" / "p.png"
    cv2.imwrite(str(original), rgb[:, :, ::-1])
    warned = {}
    for mode in ("fill", "noise", "pixelate", "blur"):
        assert main(["anonymize", str(original), "-o", str(tmp_path / mode), "--cover", "plates", "--mode", mode]) == 0
        _, out = _verify_json(capsys, str(original), str(tmp_path / mode / "p.png"), "--cover", "plates")
        warned[mode] = any("blur or a mosaic" in w for w in out["warnings"])
    assert warned == {"fill": False, "noise": False, "pixelate": True, "blur": True}


def test_options_for_kinds_the_run_does_not_cover_are_named_in_a_warning():
    from veil.anonymize import run_warnings

    assert any("--text-max-share applies to text" in w for w in run_warnings(Config(cover="plates", text_max_share=0.05)))
    assert any("--kinds-every applies to plates and text" in w for w in run_warnings(Config(kinds_every=24)))
    assert not any("changes nothing" in w for w in run_warnings(Config(cover="faces,text", text_max_share=0.05,
                                                                       kinds_every=24)))
