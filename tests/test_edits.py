"""The edits file (veil-edits/1) and applying one file's edits to what a run found."""

from __future__ import annotations


import numpy as np
import pytest

from veil.config import Config, RegionShape
from veil.detections import Detections, Source
from veil.verify.verdicts import ResidualFinding, VerificationRecord
from veil.edits import (LEFT_VISIBLE_NOTE, MATCH_IOU, AddedRegion, Edits, FileEdits, ItemRef, KeyFrame, apply_edits,
                        detection_settings, excuse_left_visible, load_edits, save_edits)
from veil.errors import UsageError, VeilError
from veil.region import head_regions
from veil.track import link_tracks

SHA = "ab" * 32


def _photo_dets() -> Detections:
    return Detections([[10, 10, 50, 60], [100, 20, 140, 70], [200, 30, 230, 70]], scores=[0.9, 0.8, 0.3])


def _video_frames(n: int = 30) -> list[Detections]:
    """Two faces moving right on every frame, then tracked (ids 0 and 1)."""
    per = [Detections([[10 + i, 10, 50 + i, 60], [200 + i, 40, 240 + i, 90]], scores=[0.9, 0.8]) for i in range(n)]
    return link_tracks(per, pad_frames=0, min_hits=1).frames


def _edits_dict(**file) -> dict:
    body = {"kind": "video", "relative_path": "clip.mp4"}
    body.update(file)
    return {"schema": "veil-edits/1", "detection": detection_settings(Config()), "files": {SHA: body}}


# -- the file ---------------------------------------------------------------------------------
def test_round_trip_through_a_file(tmp_path):
    data = _edits_dict(
        added=[{"id": "a1", "kind": "face", "shape": "ellipse",
                "keyframes": [{"frame": 9, "box": [5, 5, 25, 30]}, {"frame": 3, "box": [1, 1, 21, 26]}]}],
        removed=[{"track": 1, "frame": 4, "box": [204, 40, 244, 90]}],
        left_visible=[{"track": 0, "frame": 0, "box": [10, 10, 50, 60]}],
        reviewed=[{"residual": True, "frame": 20, "box": [1, 2, 3, 4]}, {"track": 0, "frame": 0, "box": [10, 10, 50, 60]}])
    edits = Edits.from_dict(data)
    region = edits.files[SHA].added[0]
    assert [k.frame for k in region.keyframes] == [3, 9]  # sorted on load
    path = save_edits(edits, tmp_path / "veil-edits.json")
    again = load_edits(path)
    assert again.to_dict() == edits.to_dict()
    assert again.files[SHA].sha256 == edits.files[SHA].sha256
    assert [p.name for p in tmp_path.iterdir()] == ["veil-edits.json"]  # no temporary file left


def test_files_from_before_later_settings_read_as_those_runs_had_them():
    data = _edits_dict()
    for name in ("cover", "text_max_share", "scan", "precision"):
        del data["detection"][name]
    detection = Edits.from_dict(data).detection
    assert detection["precision"] == "fp32" and detection["scan"] == "full" and detection["cover"] == ["faces"]
    assert detection == detection_settings(Config(scan="full"))
    # The default scan is now 'auto' ('full' up to 2048 px, motion plans above): such edits still
    # apply, each edit checked against this run's boxes; 'motion' is another scan.
    assert detection != detection_settings(Config())
    Edits.from_dict(data).check_settings(Config())
    with pytest.raises(UsageError, match="scan 'full', this run uses 'motion'"):
        Edits.from_dict(data).check_settings(Config(scan="motion"))
    assert detection != detection_settings(Config(precision="int8"))  # another detector: such edits do not apply


def test_review_marks_do_not_change_what_was_applied():
    a = FileEdits(SHA, "image", removed=(ItemRef((1, 1, 5, 5), detection=0),))
    b = FileEdits(SHA, "image", removed=a.removed, reviewed=(ItemRef((9, 9, 12, 12), detection=1),))
    assert a.sha256 == b.sha256 and a.changes_media and not FileEdits(SHA, "image", reviewed=b.reviewed).changes_media


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(schema="veil-edits/2"), "schema"),
    (lambda d: d.update(extra=1), "unknown field 'extra'"),
    (lambda d: d["detection"].pop("threshold"), "detection settings"),
    (lambda d: d.update(files={"not-a-sha": {}}), "SHA-256"),
    (lambda d: d["files"][SHA].update(kind="audio"), "image or video"),
    (lambda d: d["files"][SHA].update(removed=[{"track": 1, "frame": 2, "box": [5, 5, 1, 9]}]), "x2 > x1"),
    (lambda d: d["files"][SHA].update(removed=[{"track": 1, "frame": 2, "box": [0, 0, float("nan"), 9]}]),
     "finite"),
    (lambda d: d["files"][SHA].update(removed=[{"track": 1, "frame": -2, "box": [0, 0, 5, 9]}]), ">= 0"),
    (lambda d: d["files"][SHA].update(removed=[{"track": 1, "box": [0, 0, 5, 9]}]), "needs the frame"),
    (lambda d: d["files"][SHA].update(removed=[{"detection": 1, "frame": 0, "box": [0, 0, 5, 9]}]),
     "not detection"),
    (lambda d: d["files"][SHA].update(removed=[{"residual": True, "frame": 0, "box": [0, 0, 5, 9]}]),
     "only review marks"),
    (lambda d: d["files"][SHA].update(removed=[{"track": True, "frame": 0, "box": [0, 0, 5, 9]}]), "integer"),
    (lambda d: d["files"][SHA].update(added=[{"id": "a", "keyframes": []}]), "at least one key frame"),
    (lambda d: d["files"][SHA].update(added=[{"id": "a", "shape": "star", "keyframes": []}]), "box or ellipse"),
    (lambda d: d["files"][SHA].update(added=[{"id": "a", "keyframes": [{"frame": 1, "box": [0, 0, 5, 5]}] * 2}]),
     "two key frames"),
    (lambda d: d["files"][SHA].update(added=[{"id": "a", "keyframes": [{"frame": 1, "box": [0, 0, 5, 5]}]},
                                             {"id": "a", "keyframes": [{"frame": 2, "box": [0, 0, 5, 5]}]}]),
     "one id"),
    (lambda d: d["files"][SHA].update(removed=[{"track": 1, "frame": 0, "box": [0, 0, 5, 9]}],
                                      left_visible=[{"track": 1, "frame": 3, "box": [0, 0, 5, 9]}]),
     "both removed and left visible"),
    (lambda d: d["files"][SHA].update(extended=[{"frame": 0, "box": [0, 0, 5, 9], "first": 0, "last": 3}]),
     "only a track"),
    (lambda d: d["files"][SHA].update(extended=[{"track": 0, "frame": 0, "box": [0, 0, 5, 9], "first": 5,
                                                 "last": 3}]), ">= first"),
])
def test_invalid_files_are_refused_in_one_line(change, message):
    data = _edits_dict()
    change(data)
    with pytest.raises(UsageError, match=message) as err:
        Edits.from_dict(data)
    assert "\n" not in str(err.value)


def test_photo_items_are_named_by_detection():
    data = _edits_dict(kind="image", removed=[{"track": 1, "frame": 0, "box": [0, 0, 5, 9]}])
    with pytest.raises(UsageError, match="no track or frame"):
        Edits.from_dict(data)
    data = _edits_dict(kind="image", added=[{"id": "a", "keyframes": [{"frame": 3, "box": [0, 0, 5, 5]}]}])
    with pytest.raises(UsageError, match="on frame 0"):
        Edits.from_dict(data)


@pytest.mark.parametrize("text, message", [("", "not readable JSON"), ("[1]", "expected a JSON object"),
                                           ("{\"schema\": 1", "not readable JSON")])
def test_unreadable_files(tmp_path, text, message):
    path = tmp_path / "e.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_edits(path)
    with pytest.raises(UsageError, match="not found"):
        load_edits(tmp_path / "missing.json")


def test_edits_are_bound_to_the_detection_settings():
    edits = Edits.from_dict(_edits_dict())
    edits.check_settings(Config(mode="noise", region_scale=2.0))  # cover settings do not matter
    with pytest.raises(UsageError, match="threshold 0.1.*0.3"):
        edits.check_settings(Config(threshold=0.3))
    with pytest.raises(UsageError, match="pad-frames"):
        edits.check_settings(Config(pad_frames=2))
    # Edits of photos only: a video-only setting changes none of them (veil.config.VIDEO_ONLY_FIELDS).
    photos = Edits.from_dict(_edits_dict(kind="image", relative_path="p.jpg"))
    photos.check_settings(Config(pad_frames=2, scan="motion", tile_every=3, kinds_every=4))
    with pytest.raises(UsageError, match="threshold"):
        photos.check_settings(Config(threshold=0.3))


def test_key_frames_interpolate_linearly():
    region = AddedRegion("a", (KeyFrame(10, (0, 0, 10, 10)), KeyFrame(20, (100, 0, 120, 20))))
    assert region.box_at(9) is None and region.box_at(21) is None
    assert region.box_at(10).tolist() == [0, 0, 10, 10]
    assert region.box_at(15).tolist() == [50, 0, 65, 15]
    assert region.box_at(20).tolist() == [100, 0, 120, 20]


# -- applying: photos -------------------------------------------------------------------------
def test_faces_plates_and_text_are_counted_apart_after_edits():
    """A deleted plate is no longer covered and a plate is never counted as a face (photo, and tracks)."""
    from veil.detections import Kind

    dets = Detections([[10, 10, 50, 60], [100, 20, 160, 40], [200, 30, 260, 45], [300, 30, 360, 45]],
                      scores=[0.9, 0.8, 0.7, 0.6], kind=[Kind.FACE, Kind.PLATE, Kind.TEXT, Kind.PLATE])
    edits = FileEdits(SHA, "image", removed=(ItemRef((100, 20, 160, 40), detection=1),),
                      added=(AddedRegion("a1", (KeyFrame(0, (400, 30, 460, 45)),), RegionShape.BOX, kind=Kind.TEXT),))
    applied = apply_edits([dets], edits, region_shape="box")
    assert applied.faces == 1 and sorted(applied.kinds) == [Kind.FACE, Kind.PLATE, Kind.TEXT, Kind.TEXT]
    assert applied.record["removed"] == [{"detection": 1, "box": [100, 20, 160, 40], "kind": "plate"}]
    per = [Detections([[10 + i, 10, 50 + i, 60], [200 + i, 40, 260 + i, 55]], scores=[0.9, 0.8],
                      kind=[Kind.FACE, Kind.PLATE]) for i in range(10)]
    frames = link_tracks(per, pad_frames=0, min_hits=1).frames
    plate = next(int(t) for t, k in zip(frames[0].track_id, frames[0].kind) if k == Kind.PLATE)
    row = int(np.flatnonzero(frames[3].track_id == plate)[0])
    edits = FileEdits(SHA, "video", removed=(ItemRef(tuple(frames[3].xyxy[row].tolist()), track=plate, frame=3),))
    applied = apply_edits(frames, edits)
    assert applied.kinds == (Kind.FACE,) and applied.faces == 1
    assert applied.record["removed"][0]["kind"] == "plate" and applied.record["removed"][0]["track"] == plate


def test_photo_remove_leave_visible_and_draw():
    dets = _photo_dets()
    before = dets.xyxy.copy()
    edits = FileEdits(SHA, "image",
                      removed=(ItemRef((100, 20, 140, 70), detection=1),),
                      left_visible=(ItemRef((200.1, 30, 230, 70), detection=2),),
                      added=(AddedRegion("a1", (KeyFrame(0, (300, 300, 340, 350)),), RegionShape.BOX),))
    applied = apply_edits([dets], edits, region_shape="box")
    out = applied.frames[0]
    assert out.xyxy.tolist() == [[10, 10, 50, 60], [300, 300, 340, 350]]
    assert out.source.tolist() == [Source.DETECTED, Source.MANUAL]
    assert applied.left_visible[0].xyxy.tolist() == [[200, 30, 230, 70]]
    assert applied.faces == 2
    assert applied.record["counts"] == {"reviewed": 0, "removed": 1, "left_visible": 1, "extended": 0, "added": 1}
    assert np.array_equal(dets.xyxy, before)  # input untouched
    # A drawn box is covered as drawn, not grown into a head.
    regions = head_regions(out, scale=1.6, shape="box")
    assert regions.boxes[1].tolist() == [300, 300, 340, 350]
    assert regions.boxes[0].tolist() != [10, 10, 50, 60]


def test_photo_edit_on_another_face_is_refused():
    dets = _photo_dets()
    moved = FileEdits(SHA, "image", removed=(ItemRef((104, 20, 144, 70), detection=1),))  # IoU 0.82
    with pytest.raises(VeilError, match="det:1 lies elsewhere now.*review this file again"):
        apply_edits([dets], moved)
    missing = FileEdits(SHA, "image", left_visible=(ItemRef((1, 1, 5, 5), detection=7),))
    with pytest.raises(VeilError, match="not among the 3 detections"):
        apply_edits([dets], missing)
    mark = FileEdits(SHA, "image", reviewed=(ItemRef((0, 0, 5, 5), detection=0),))
    with pytest.raises(VeilError, match="det:0"):
        apply_edits([dets], mark)


def test_drawn_shape_is_covered_whole_in_the_run_shape():
    drawn_box = FileEdits(SHA, "image", added=(AddedRegion("a", (KeyFrame(0, (20, 30, 60, 50)),), RegionShape.BOX),))
    out = apply_edits([Detections.empty()], drawn_box, region_shape="ellipse").frames[0]
    mask = head_regions(out, scale=1.6, shape="ellipse").mask(100, 100)
    assert mask[30:50, 20:60].all()  # every pixel of the drawn box
    drawn_ellipse = FileEdits(SHA, "image", added=(AddedRegion("a", (KeyFrame(0, (20, 30, 60, 50)),),
                                                               RegionShape.ELLIPSE),))
    out = apply_edits([Detections.empty()], drawn_ellipse, region_shape="ellipse").frames[0]
    assert out.xyxy.tolist() == [[20, 30, 60, 50]]  # same shape: exactly as drawn
    out = apply_edits([Detections.empty()], drawn_ellipse, region_shape="box").frames[0]
    assert out.xyxy.tolist() == [[20, 30, 60, 50]]  # the box holds the ellipse


# -- applying: video --------------------------------------------------------------------------
def test_video_remove_a_track_everywhere_and_leave_one_visible():
    frames = _video_frames()
    assert {int(t) for d in frames for t in d.track_id} == {0, 1}
    edits = FileEdits(SHA, "video", removed=(ItemRef((205, 40, 245, 90), track=1, frame=5),))
    applied = apply_edits(frames, edits)
    assert all(set(d.track_id.tolist()) == {0} for d in applied.frames)
    assert applied.faces == 1
    edits = FileEdits(SHA, "video", left_visible=(ItemRef((15, 10, 55, 60), track=0, frame=5),))
    applied = apply_edits(frames, edits)
    assert all(set(d.track_id.tolist()) == {1} for d in applied.frames)
    assert all(set(d.track_id.tolist()) == {0} for d in applied.left_visible)


def test_video_track_refs_are_checked_on_their_frame():
    frames = _video_frames()
    with pytest.raises(VeilError, match="track:1 is not on frame 5"):
        apply_edits(frames, FileEdits(SHA, "video", removed=(ItemRef((10, 10, 50, 60), track=1, frame=5),)))
    with pytest.raises(VeilError, match="names frame 99, but the video has 30"):
        apply_edits(frames, FileEdits(SHA, "video", removed=(ItemRef((10, 10, 50, 60), track=1, frame=99),)))
    assert MATCH_IOU >= 0.9


def test_video_box_in_no_track_is_removed_on_its_frame_only():
    frames = [Detections([[10, 10, 50, 60], [70, 10, 90, 40]], track_id=[0, -1]) for _ in range(3)]
    edits = FileEdits(SHA, "video", removed=(ItemRef((70, 10, 90, 40), frame=1),))
    applied = apply_edits(frames, edits)
    assert [len(d) for d in applied.frames] == [2, 1, 2]
    assert applied.faces == 1 + 2  # one track, two loose boxes


def test_video_extend_holds_the_track_at_its_ends():
    frames = _video_frames(30)
    short = [d[d.track_id == 0] if 10 <= i <= 19 else d[d.track_id == 1] for i, d in enumerate(frames)]
    ext = FileEdits(SHA, "video", extended=(_extension(short[12], 12, 5, 25),))
    applied = apply_edits(short, ext)
    rows = {i: d[d.track_id == 0] for i, d in enumerate(applied.frames) if (d.track_id == 0).any()}
    assert sorted(rows) == list(range(5, 26))
    assert rows[5].xyxy.tolist() == short[10][short[10].track_id == 0].xyxy.tolist()
    assert rows[25].xyxy.tolist() == short[19][short[19].track_id == 0].xyxy.tolist()
    assert set(rows[5].source.tolist()) == {Source.PADDED}
    assert applied.record["extended"] == [{"track": 0, "first": 5, "last": 25}]
    with pytest.raises(VeilError, match="extended to frame 40, but the video has 30"):
        apply_edits(short, FileEdits(SHA, "video", extended=(_extension(short[12], 12, 5, 40),)))


def _extension(dets, frame, first, last):
    from veil.edits import Extension

    box = tuple(float(v) for v in dets[dets.track_id == 0].xyxy[0])
    return Extension(ItemRef(box, track=0, frame=frame), first, last)


def test_video_drawn_region_interpolates_between_key_frames():
    frames = _video_frames(30)
    region = AddedRegion("a1", (KeyFrame(4, (300, 100, 340, 150)), KeyFrame(14, (400, 100, 440, 150))),
                         RegionShape.ELLIPSE)
    applied = apply_edits(frames, FileEdits(SHA, "video", added=(region,)), region_shape="ellipse")
    manual = {i: d[d.source == Source.MANUAL] for i, d in enumerate(applied.frames) if (d.source == Source.MANUAL).any()}
    assert sorted(manual) == list(range(4, 15))
    assert manual[9].xyxy.tolist() == [[350, 100, 390, 150]]
    assert {int(d.track_id[0]) for d in manual.values()} == {2}  # a fresh id after the run's tracks
    assert all(d.source[-1] == Source.MANUAL for i, d in enumerate(applied.frames) if i in manual)  # drawn last
    assert applied.faces == 3
    assert applied.record["added"] == [{"id": "a1", "kind": "face", "shape": "ellipse", "first": 4, "last": 14,
                                        "keyframes": 2, "track": 2}]
    with pytest.raises(VeilError, match="key frame 30, but the file has 30 frames"):
        late = AddedRegion("b", (KeyFrame(30, (0, 0, 5, 5)),))
        apply_edits(frames, FileEdits(SHA, "video", added=(late,)))


def test_no_edits_change_nothing():
    frames = _video_frames(5)
    applied = apply_edits(frames, FileEdits(SHA, "video"))
    assert all(np.array_equal(a.xyxy, b.xyxy) for a, b in zip(frames, applied.frames))
    assert applied.faces == 2 and applied.record["counts"]["removed"] == 0


# -- verification of a face left visible ------------------------------------------------------
def test_residual_check_excuses_faces_left_visible_only():
    dets = _photo_dets()
    edits = FileEdits(SHA, "image", left_visible=(ItemRef((10, 10, 50, 60), detection=0),))
    applied = apply_edits([dets], edits)
    on_face, elsewhere = ResidualFinding((12, 12, 48, 58), 0.9), ResidualFinding((400, 10, 440, 60), 0.8)
    verification = VerificationRecord((), (on_face, elsewhere))
    assert verification.verdict == "leak"
    record = excuse_left_visible(verification, applied, height=500, width=500, region_scale=1.6)
    assert verification.residual == (on_face, elsewhere)  # not modified
    assert record.residual == (elsewhere,) and record.verdict == "leak" and record.counts.residual == 1
    d = record.to_dict()
    assert d["counts"]["left_visible"] == 1 and d["left_visible"][0]["detection"] == 0
    assert d["excused"] == [{"box": [12.0, 12.0, 48.0, 58.0], "score": 0.9, "source": "detected",
                             "reason": LEFT_VISIBLE_NOTE}]
    only_on_face = VerificationRecord((), (on_face,))
    assert excuse_left_visible(only_on_face, applied, height=500, width=500, region_scale=1.6).verdict == "pass"
    assert excuse_left_visible(None, applied, height=500, width=500, region_scale=1.6) is None
