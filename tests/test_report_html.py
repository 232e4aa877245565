"""The HTML report: self-contained, escaped, phone-friendly, and free of original face pixels."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from veil.config import Config
from veil.detections import Detections
from veil.region import Regions
from veil.report import FileReport, PhotoCover, RunReport, VideoCover
from veil.report.html import render_html, write_html
from veil.report.html_thumbs import MAX_SIDE, crop_box
from veil.track import TrackSummary
from veil.verify.escalate import EscalationStep, Setting
from veil.verify.verdicts import FaceVerdict, ResidualFinding, TrackVerdict, VerificationRecord

CREATED = dt.datetime(2025, 1, 2, 3, 4, tzinfo=dt.timezone.utc)
GREY = 128
IMG_H, IMG_W = 160, 200
REGION = [60.0, 40.0, 140.0, 130.0]  # head region covered in the output
FACE = [70.0, 50.0, 130.0, 120.0]  # face box inside it

VID_N, VID_H, VID_W = 24, 120, 160
CUT = 12


# -- fixtures ---------------------------------------------------------------------------
def _pattern(h: int, w: int, seed: int) -> np.ndarray:
    """A distinctive, high-contrast pattern (8 px blocks survive JPEG and downscaling)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]


def _cover(rgb: np.ndarray, box, value) -> np.ndarray:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    out = rgb.copy()
    out[y1:y2, x1:x2] = value
    return out


@pytest.fixture()
def photo_pair(tmp_path):
    """(original path, original pixels, anonymized output path): face region black in the output."""
    original = np.full((IMG_H, IMG_W, 3), GREY, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in REGION)
    original[y1:y2, x1:x2] = _pattern(y2 - y1, x2 - x1, seed=1)
    output = _cover(original, REGION, 0)
    src, dst = tmp_path / "in" / "photo.png", tmp_path / "out" / "photo.png"
    src.parent.mkdir()
    dst.parent.mkdir()
    Image.fromarray(original).save(src)
    Image.fromarray(output).save(dst)
    return src, original, dst


def _video_box(i: int) -> list[float]:
    x = 20.0 + 3 * i  # the face moves right
    return [x, 30.0, x + 56.0, 94.0]


TRACK1_BOX = [120.0, 10.0, 150.0, 44.0]  # a second, static face


def _background(i: int) -> int:
    """Each frame has its own background level, so a crop tells which frame it came from."""
    return 80 + 5 * i


@pytest.fixture(scope="module")
def video_pair(tmp_path_factory):
    """(original frames in memory, anonymized output video path)."""
    import av

    root = tmp_path_factory.mktemp("video")
    originals, path = [], root / "out" / "clip.mp4"
    path.parent.mkdir()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = VID_W, VID_H, "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for i in range(VID_N):
            frame = np.full((VID_H, VID_W, 3), _background(i), np.uint8)
            for box, seed in ((_video_box(i), 10 + i), (TRACK1_BOX, 99)):
                x1, y1, x2, y2 = (int(v) for v in box)
                frame[y1:y2, x1:x2] = _pattern(y2 - y1, x2 - x1, seed)
            originals.append(frame)
            out = _cover(_cover(frame, _video_box(i), 0), TRACK1_BOX, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(out, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return originals, path


THR = 0.6


def _verification(verdicts, residual=(), escalations=None) -> VerificationRecord:
    return VerificationRecord(tuple(verdicts), tuple(residual), THR, escalations or {})


def _face(distance, *, frame=None, box=FACE, unverifiable=None) -> FaceVerdict:
    distances = {} if distance is None else {"none": distance + 0.2, "deblur-wiener": distance, "inpaint": 0.95}
    return FaceVerdict(box=tuple(box), distances=distances, threshold=THR, frame=frame,
                       unverifiable=unverifiable, note=unverifiable or "")


def _track(distance, *, track, frame, box) -> TrackVerdict:
    return TrackVerdict(faces=(_face(distance, frame=frame, box=box),), multi_frame={}, threshold=THR,
                        frames_total=VID_N, frames_usable=VID_N, frames_combined=0, track_id=track)


def _photo_report(src: Path, dst: Path, *, verified=True, name="photo.png", region=REGION) -> FileReport:
    f = FileReport(input=str(src), output=str(dst), kind="image", rel=name, status="ok",
                   input_sha256="ab" * 32, media={"width": IMG_W, "height": IMG_H, "format": "PNG"}, faces=1,
                   cover=PhotoCover(Detections.empty(), Regions([region], "box")),
                   timings={"read": 0.01, "detect": 0.2, "total": 0.3})
    if verified:
        f.verification = _verification([_face(0.91)])
    return f


def _video_tracks() -> list[TrackSummary]:
    return [
        TrackSummary(0, 0, VID_N - 1, [*range(0, 9), *range(14, VID_N)], list(range(9, 14)), [], 56.0 / 1.5),
        TrackSummary(1, 0, VID_N - 1, list(range(0, VID_N, 2)), list(range(1, VID_N, 2)), [], 30.0 / 1.5),
    ]


def _video_report(dst: Path, *, leak_track1=True) -> FileReport:
    regions = [Regions([_video_box(i), TRACK1_BOX], "box") for i in range(VID_N)]
    f = FileReport(input="/nonexistent/original/clip.mp4", output=str(dst), kind="video", rel="clip.mp4",
                   status="ok", input_sha256="cd" * 32, faces=2,
                   media={"width": VID_W, "height": VID_H, "codec": "h264", "fps": "25", "frames": VID_N},
                   cover=VideoCover("box", regions, _video_tracks(), [CUT]),
                   timings={"detect": 1.0, "fps": 24.0})
    first = _track(0.83, track=0, frame=5, box=_video_box(5))
    steps = (EscalationStep(Setting("blur", blur_strength=0.5), _face(0.45)), EscalationStep(Setting("fill"), first))
    verdicts = [first, _track(0.41 if leak_track1 else 0.7, track=1, frame=3, box=TRACK1_BOX)]
    f.verification = _verification(verdicts, residual=[ResidualFinding((5.0, 5.0, 25.0, 30.0), 0.71, 17)],
                                   escalations={0: steps})
    return f


def _failed(name="broken.jpg") -> FileReport:
    f = FileReport(input=f"/data/{name}", output=None, kind="unknown", rel=name)
    f.fail("cannot identify image file")
    return f


def _run(files, *, verified=True, mode="fill") -> RunReport:
    config = Config(mode=mode, region_shape="box", region_scale=1.5, threshold=0.2, verify=verified)
    return RunReport(command="veil anonymize", settings=config, files=files, verified=verified, seconds=2.5)


# -- helpers ----------------------------------------------------------------------------
VOID = {"meta", "img", "br", "hr", "input", "link", "source", "wbr", "area", "base", "col", "embed", "track"}
URL_ATTRS = {"src", "href", "xlink:href", "action", "formaction", "poster", "srcset", "data", "background",
             "ping", "cite", "longdesc", "manifest", "codebase", "usemap"}


class _Checker(HTMLParser):
    """Balanced tags, and every URL-bearing attribute local (#...) or an embedded JPEG."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()
        self.images: list[str] = []
        self.alts: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.add(tag)
        self._attrs(tag, attrs)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def _attrs(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.errors.append(f"event handler {name} on <{tag}>")
            if name in URL_ATTRS:
                value = (value or "").strip()
                if value.startswith("data:image/jpeg;base64,") and tag == "img" and name == "src":
                    self.images.append(value)
                    self.alts.append(dict(attrs).get("alt") or "")
                elif not value.startswith("#"):
                    self.errors.append(f"external reference {name}={value[:60]!r} on <{tag}>")
            if name == "style" and "url(" in (value or "").lower():
                self.errors.append(f"url() in style on <{tag}>")


def _check(page: str) -> _Checker:
    assert "could not be drawn" not in page  # no file entry fell back to its error box
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], checker.stack
    return checker


def _decode(uri: str) -> np.ndarray:
    data = base64.b64decode(uri.split(",", 1)[1], validate=True)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        return np.asarray(img.convert("RGB")).astype(np.float64)


def _resized(rgb: np.ndarray, shape) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(rgb.astype(np.uint8)))
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)).astype(np.float64)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 1e-9 else 0.0


def _crop(rgb: np.ndarray, box) -> np.ndarray:
    x1, y1, x2, y2 = crop_box(box, rgb.shape[1], rgb.shape[0])
    return rgb[y1:y2, x1:x2]


def _mean_thumb_side(images) -> bool:
    return all(max(im.shape[:2]) <= MAX_SIDE for im in images)


# -- tests --------------------------------------------------------------------------------
def test_full_report_renders(tmp_path, photo_pair, video_pair):
    src, _, dst = photo_pair
    _, video = video_pair
    run = _run([_photo_report(src, dst), _video_report(video), _failed()])
    path = write_html(run, tmp_path / "report" / "veil-report.html", created=CREATED)
    assert path == tmp_path / "report" / "veil-report.html"
    assert [p.name for p in path.parent.iterdir()] == ["veil-report.html"]  # atomic: no temp file left
    page = path.read_text(encoding="utf-8")
    checker = _check(page)
    text = " ".join(" ".join(checker.text).split())

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "Leak found" in text  # track 1 of the video still matches its original
    assert "veil 0.1.0" in text and "2025-01-02 03:04 UTC" in text
    # Per file: names (relative: the page travels with the outputs), hash, media facts, status or error.
    assert "photo.png" in text and dst.name in text and "ab" * 32 in text
    assert str(src.parent) not in page and str(dst.parent) not in page
    assert "cannot identify image file" in text and "failed" in text
    assert "200\u00d7160" in text and "160\u00d7120" in text
    # Verification: distance, threshold, margin, attack, escalation, provenance, residual.
    assert "0.910" in text and "+0.384" in text and "deblur-wiener" in text  # margin to the leak line (60 px)
    assert "blur strength 0.5: leak (distance 0.450)" in text and "fill: pass (distance 0.830)" in text
    assert "LFW identities" in text
    assert "frame 17" in text and "score 0.71" in text
    assert "withheld: still recognizable" in text  # the leaking track shows no pixels
    # Timeline: a row per track, a cut line, colours for detected/interpolated.
    assert page.count('class="tl-svg"') == 1
    assert f"scene cut at frame {CUT}" in page
    assert "interpolated: frames 9\u201313" in page and "track 1 \u2013 leak" in text
    # The distance distribution with the threshold and the shaded leak side.
    assert 'class="dist"' in page and "impostor threshold 0.600" in text and "leak side" in text
    # Thumbnails: photo region + video track 0 only (track 1 leaks: withheld).
    assert len(checker.images) == 2
    images = [_decode(u) for u in checker.images]
    assert _mean_thumb_side(images)
    assert "script" not in checker.tags and "link" not in checker.tags


def test_no_external_references(tmp_path, photo_pair, video_pair):
    src, _, dst = photo_pair
    run = _run([_photo_report(src, dst), _video_report(video_pair[1]), _failed()], mode="blur")
    page = render_html(run, created=CREATED)
    assert "http://" not in page and "https://" not in page
    assert "url(" not in page.lower() and "@import" not in page.lower()
    for tag in ("script", "link", "iframe", "object", "embed", "video", "audio", "source", "base", "form"):
        assert f"<{tag}" not in page.lower()
    checker = _check(page)
    # Every src/href is either a local anchor or an embedded JPEG, and never protocol-relative.
    assert all(u.startswith("data:image/jpeg;base64,") for u in checker.images)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*//""", page)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert 'class="banner"' in page and "reversible" in page  # blur mode warns in a banner


def test_names_are_escaped_and_unicode_is_kept(tmp_path, photo_pair):
    src, _, dst = photo_pair
    evil = FileReport(input="/in/<script>alert(1)</script>.jpg", output=None, kind="image",
                      rel="<script>alert(1)</script>.jpg")
    evil.fail('bad "header" <b>bold</b> & more')
    uni = _photo_report(src, dst, name="фото 😀 ü/\u202egpj.exe \udcff.png")
    run = _run([evil, uni])
    run.warnings.append("<img src=x onerror=alert(1)>")
    path = write_html(run, tmp_path / "r.html", created=CREATED)
    page = path.read_bytes().decode("utf-8")  # valid UTF-8 despite the lone surrogate
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page and "&quot;header&quot;" in page
    assert "фото 😀 ü/" in page
    assert "\u202e" not in page and "\\u202egpj.exe" in page  # no bidi trick: shown as an escape
    assert "\\udcff.png" in page
    _check(page)


def test_thumbnails_show_only_the_anonymized_output(tmp_path, photo_pair, monkeypatch):
    src, original, dst = photo_pair
    output = np.asarray(Image.open(dst).convert("RGB"))
    opened: list[str] = []
    real_open = Image.open

    def spy(fp, *args, **kwargs):
        opened.append(str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", spy)
    page = render_html(_run([_photo_report(src, dst)]), created=CREATED)
    monkeypatch.setattr(Image, "open", real_open)
    assert str(src) not in opened and str(dst) in opened

    uris = _check(page).images
    assert len(uris) == 1
    original_face = original[int(REGION[1]):int(REGION[3]), int(REGION[0]):int(REGION[2])]
    for uri in uris:
        thumb = _decode(uri)
        assert max(thumb.shape[:2]) <= MAX_SIDE
        same_place_original = _resized(_crop(original, REGION), thumb.shape)
        same_place_output = _resized(_crop(output, REGION), thumb.shape)
        # Nothing of the original face: no correlation with its crop or its face pattern.
        assert abs(_ncc(thumb, same_place_original)) < 0.5
        assert abs(_ncc(thumb, _resized(original_face, thumb.shape))) < 0.5
        assert np.abs(thumb - same_place_original).mean() > 30
        # ...and it is the output: the black cover and its surroundings.
        assert _ncc(thumb, same_place_output) > 0.9
        assert np.abs(thumb - same_place_output).mean() < 10


def test_real_photo_thumbnail_is_the_covered_output(tmp_path, face_photo):
    # A real face (CC0): the output has its head region filled black.
    original = np.asarray(Image.open(face_photo).convert("RGB"))
    head = [70.0, 110.0, 250.0, 300.0]
    out_path = tmp_path / "out.jpg"
    Image.fromarray(_cover(original, head, 0)).save(out_path, quality=92)
    f = FileReport(input=str(face_photo), output=str(out_path), kind="image", status="ok", faces=1,
                   cover=PhotoCover(Detections.empty(), Regions([head], "box")))
    f.verification = _verification([_face(1.05, box=[85, 131, 232, 284])])
    uris = _check(render_html(_run([f]), created=CREATED)).images
    assert len(uris) == 1
    thumb = _decode(uris[0])
    # The covered region, in thumbnail pixels.
    x1, y1, x2, y2 = crop_box(head, original.shape[1], original.shape[0])
    sy, sx = thumb.shape[0] / (y2 - y1), thumb.shape[1] / (x2 - x1)
    r = (int(np.ceil((head[1] - y1) * sy)) + 1, int((head[3] - y1) * sy) - 1,
         int(np.ceil((head[0] - x1) * sx)) + 1, int((head[2] - x1) * sx) - 1)
    inside = thumb[r[0]:r[1], r[2]:r[3]]
    face = _resized(original[int(head[1]):int(head[3]), int(head[0]):int(head[2])], inside.shape)
    assert inside.mean() < 12 and face.mean() > 60  # the fill, not the face
    assert abs(_ncc(inside, face)) < 0.5 and np.abs(inside - face).mean() > 60


def test_video_thumbnails_come_from_the_output_frames(video_pair, monkeypatch):
    import av

    originals, video = video_pair
    opened: list[str] = []
    real_open = av.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    report = _video_report(video, leak_track1=False)
    page = render_html(_run([report]), created=CREATED)
    monkeypatch.setattr(av, "open", real_open)
    assert opened == [str(video)]

    with real_open(str(video)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    checker = _check(page)
    assert len(checker.images) == 2  # one per track
    for uri, alt in zip(checker.images, checker.alts):
        thumb = _decode(uri)
        h, w = thumb.shape[:2]
        assert thumb[h // 3: 2 * h // 3, w // 3: 2 * w // 3].mean() < 20  # covered
        boxes = [TRACK1_BOX] * VID_N if "Track 1" in alt else [_video_box(i) for i in range(VID_N)]
        outs = [_resized(_crop(decoded[i], boxes[i]), thumb.shape) for i in range(VID_N)]
        origs = [_resized(_crop(originals[i], boxes[i]), thumb.shape) for i in range(VID_N)]
        # It is the output, at the frame verification looked at (5 for track 0, 3 for track 1)...
        mad = [np.abs(thumb - o).mean() for o in outs]
        assert int(np.argmin(mad)) == (3 if "Track 1" in alt else 5), (alt, np.round(mad, 1))
        assert min(mad) < 8 and _ncc(thumb, outs[int(np.argmin(mad))]) > 0.9
        # ...and never the original.
        assert max(abs(_ncc(thumb, o)) for o in origs) < 0.5
        assert min(np.abs(thumb - o).mean() for o in origs) > 30


def test_missing_or_unreadable_output_means_no_thumbnail(tmp_path, photo_pair, video_pair):
    src, _, dst = photo_pair
    gone = _photo_report(src, tmp_path / "gone.png", name="gone.png")
    junk_path = tmp_path / "junk.mp4"
    junk_path.write_bytes(b"not a video at all" * 10)
    junk = _video_report(junk_path)
    page = render_html(_run([gone, junk]), created=CREATED)
    checker = _check(page)
    assert checker.images == []
    assert "output file not found" in page and "could not be read for thumbnails" in page
    assert "0.910" in page  # the verdict is still there


def test_output_identical_to_input_is_never_thumbnailed(tmp_path, photo_pair):
    import hashlib

    src, _, _ = photo_pair
    copy = tmp_path / "copy.png"
    shutil.copyfile(src, copy)
    f = _photo_report(src, copy)
    f.input_sha256 = hashlib.sha256(src.read_bytes()).hexdigest()
    page = render_html(_run([f]), created=CREATED)
    assert _check(page).images == [] and "identical to the input" in page
    same = _photo_report(src, src)
    assert _check(render_html(_run([same]), created=CREATED)).images == []


def test_unverified_report_says_not_verified(tmp_path, photo_pair, video_pair):
    src, _, dst = photo_pair
    video = _video_report(video_pair[1])
    video.verification = None
    run = _run([_photo_report(src, dst, verified=False), video], verified=False)
    page = render_html(run, created=CREATED)
    text = " ".join(" ".join(_check(page).text).split())
    assert "Not verified" in text and "not verified" in text
    assert 'class="dist"' not in page  # no distances to plot
    assert 'class="tl-svg"' in page  # the timeline does not need verification
    checker = _check(page)
    assert len(checker.images) == 3  # regions are shown in a gallery
    # Without a verification hint, a track's thumbnail is its largest view: here its first frame.
    for uri, alt in zip(checker.images, checker.alts):
        if "track" in alt:
            box = TRACK1_BOX if "track 1" in alt else _video_box(0)
            thumb = _decode(uri)
            out_crop = _resized(_crop(np.full((VID_H, VID_W, 3), _background(0), np.uint8), box), thumb.shape)
            assert np.abs(thumb[:4] - out_crop[:4]).mean() < 8  # the margin has frame 0's background
    assert render_html(_run([], verified=False), created=CREATED)
    # Verification on, but no result plugged in: never claim "verified".
    run.verified = True
    text = " ".join(" ".join(_check(render_html(run, created=CREATED)).text).split())
    assert "Not verified: verification was on, but no output has a verification result" in text
    assert "Verified" not in text and "Partly verified" not in text


def test_all_passing_run_reads_verified(tmp_path, photo_pair, video_pair):
    src, _, dst = photo_pair
    run = _run([_photo_report(src, dst), _video_report(video_pair[1], leak_track1=False)])
    v = run.files[1].verification
    run.files[1].verification = VerificationRecord(v.verdicts, (), v.threshold, v.escalations)
    text = " ".join(" ".join(_check(render_html(run, created=CREATED)).text).split())
    assert "Verified: none of the 3 faces or tracks measured matches its original" in text
    assert "Leak" not in text


def test_a_finding_the_covering_made_is_listed_not_counted(tmp_path, photo_pair, video_pair):
    from veil.verify.verdicts import NOT_ON_ORIGINAL

    src, _, dst = photo_pair
    run = _run([_photo_report(src, dst), _video_report(video_pair[1], leak_track1=False)])
    v = run.files[1].verification
    made = ResidualFinding((40.0, 5.0, 60.0, 30.0), 0.73, 20, NOT_ON_ORIGINAL)
    run.files[1].verification = VerificationRecord(v.verdicts, (made,), v.threshold, v.escalations)
    assert run.files[1].verification.excused == (made,) and not run.files[1].verification.residual
    text = " ".join(" ".join(_check(render_html(run, created=CREATED)).text).split())
    assert "Verified: none of the 3 faces or tracks measured matches its original" in text
    assert "Not counted (1): faces the detector finds on the output but not, run the same way, on the original" in text
    assert "frame 20 · box [40.0, 5.0, 60.0, 30.0] · score 0.73 · not counted" in text
    assert "None counted: the detector finds no other face outside the covered regions, at the sizes it can see" in text


def test_sparse_records_render(tmp_path):
    # A video without tracks, regions on one frame only, faces without distances, an empty photo.
    regions = [Regions.empty("box") for _ in range(5)]
    regions[2] = Regions([[1, 2, 3, 4]], "box")
    f = FileReport(input="/x/a.mp4", output=str(tmp_path / "missing.mp4"), kind="video", status="ok", faces=3,
                   cover=VideoCover("box", regions, [], []),
                   media={"nested": {"a": [1, 2]}, "duration": float("nan")}, timings={"total": 0.0})
    f.verification = _verification([_face(None, unverifiable="no_usable_frame"),
                                    _track(0.9, track=7, frame=2, box=[1, 2, 3, 4])])
    g = FileReport(input="/x/b.jpg", output=None, kind="image", status="ok",
                   cover=PhotoCover(Detections.empty(), Regions.empty("box")),
                   verification=_verification([_face(None, box=[1, 1, 9, 9], unverifiable="landmarks_failed")]))
    run = RunReport(command="veil anonymize", settings=Config(), files=[f, g], verified=True)
    page = render_html(run, created=CREATED)
    text = " ".join(" ".join(_check(page).text).split())
    assert "could not be drawn" not in text
    assert "Could not be verified: landmarks failed" in text


def test_photo_thumbnail_follows_exif_orientation(tmp_path):
    # Regions are in upright pixels; the output JPEG stores its pixels sideways with orientation 6.
    upright = np.full((300, 200, 3), 200, np.uint8)
    upright[50:100, 20:80] = 0
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1))).save(path, exif=exif, quality=95)
    f = FileReport(input="/nowhere/rot.jpg", output=str(path), kind="image", status="ok", faces=1,
                   cover=PhotoCover(Detections.empty(), Regions([[20, 50, 80, 100]], "box")))
    (uri,) = _check(render_html(_run([f], verified=False), created=CREATED)).images
    thumb = _decode(uri)
    assert thumb.shape[1] > thumb.shape[0]  # wide, like the upright region
    assert thumb[8:-8, 8:-8].mean() < 15 and thumb[:3].mean() > 180


def test_planning_reads_each_frames_boxes_once(monkeypatch):
    # Many tracks over many frames of many regions: each track looks at every
    # frame it spans, so the boxes are parsed per frame once, not per track.
    from veil.report import html_thumbs

    frames, per_frame = 300, 40
    regions = [Regions([[10.0 * k, 5.0, 10.0 * k + 8, 15.0] for k in range(per_frame)]) for _ in range(frames)]
    tracks = [TrackSummary(k, 0, frames - 1, list(range(frames)), [], [], 5.0) for k in range(per_frame)]
    report = FileReport(input="clip.mp4", output="out/clip.mp4", kind="video", status="ok",
                        cover=VideoCover("ellipse", regions, tracks, []))
    calls = []
    real = html_thumbs._box
    monkeypatch.setattr(html_thumbs, "_box", lambda value: calls.append(1) or real(value))
    plan = html_thumbs.plan_thumbnails(report, region_scale=1.6)
    assert len(plan.wants) == min(per_frame, html_thumbs.MAX_PER_FILE)
    assert len(calls) <= 2 * frames * per_frame  # was once per track as well


def test_headline_counts_faces_by_evidence_class_and_size(tmp_path, photo_pair):
    src, _, dst = photo_pair
    f = _photo_report(src, dst)
    partly = FaceVerdict(box=(70.0, 50.0, 130.0, 120.0), distances={"identity": 0.9}, threshold=THR, control=0.8,
                         uncovered=("right_eye",))
    small = FaceVerdict(box=(5.0, 5.0, 17.0, 17.0), distances={}, threshold=THR, unverifiable="face_too_small")
    f.verification = _verification([_face(0.91), partly, small])
    run = _run([f])
    summary = run.summary()
    assert summary.evidence["by_class"]["leak"] == 1 and summary.evidence["by_size"]["<20"]["too_small"] == 1
    assert summary.to_dict()["evidence"]["faces"] == 3
    page = render_html(run, thumbnails=False, created=CREATED)
    _check(page)
    assert "Evidence: 3 faces and tracks by class and size" in page
    assert "partly covered" in page and "the covered region misses the right eye" in page
    assert "too small" in page and "of the time" in page  # the match rate at that size, with a number
    # The written report reads back into records with the same evidence.
    back = VerificationRecord.from_dict(f.verification.to_dict())
    assert [v.evidence.kind for v in back.verdicts] == ["pass", "leak", "too_small"]


def test_overlapping_faces_get_their_own_thumbnails_and_measured_faces_come_first():
    # Two heads overlapping alike: face B's box lies as much in A's head region as in its own; it
    # is matched to its own face box instead (it showed A's thumbnail). The budget goes to measured
    # faces before detections the detector is unsure of.
    from veil.region import head_regions
    from veil.report.html_thumbs import plan_thumbnails

    dets = Detections([[100, 100, 140, 150], [110, 105, 150, 155], [300, 300, 340, 350]], scores=[0.9, 0.9, 0.2])
    regions = head_regions(dets, scale=1.6, shape="box")
    f = FileReport(input="a.png", output="a.png", kind="image", status="ok", faces=3, cover=PhotoCover(dets, regions))
    unsure = FaceVerdict(box=(300, 300, 340, 350), distances={}, threshold=THR, unverifiable="low_confidence",
                         score=0.2)
    f.verification = _verification([unsure, _face(0.9, box=[100, 100, 140, 150]), _face(0.9, box=[110, 105, 150, 155])])
    plan = plan_thumbnails(f)
    assert plan.face_keys == {0: ("region", 2), 1: ("region", 0), 2: ("region", 1)}
    assert [w.key for w in plan.wants] == [("region", 0), ("region", 1), ("region", 2)]
    assert [w.key for w in plan_thumbnails(f, limit=2).wants] == [("region", 0), ("region", 1)]


def test_a_thumbnail_never_shows_a_face_the_output_leaves_uncovered(tmp_path):
    # The margin around a covered region reached a missed face beside it (and faces a person left
    # visible): those are greyed out in the thumbnail; the output itself is untouched.
    from veil.report.html_thumbs import plan_thumbnails, read_thumbnails
    from veil.verify.verdicts import ResidualFinding

    rng = np.random.default_rng(1)
    picture = rng.integers(0, 256, (200, 300, 3)).astype(np.uint8)
    path = tmp_path / "out.png"
    Image.fromarray(picture).save(path)
    dets = Detections([[60, 60, 120, 130]], scores=[0.9])
    f = FileReport(input="in.png", output=str(path), kind="image", status="ok", faces=1,
                   cover=PhotoCover(dets, Regions([[50, 50, 130, 140]], "box")))
    f.verification = VerificationRecord((_face(0.9, box=[60, 60, 120, 130]),),
                                        (ResidualFinding((131, 60, 171, 110), 0.8),), THR, {})
    plan = plan_thumbnails(f)
    thumbs, problem = read_thumbnails(f, plan.wants)
    assert problem is None and len(thumbs) == 1
    data = next(iter(thumbs.values())).split(",", 1)[1]
    thumb = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(int)
    right = thumb[10:80, -6:]  # the crop's right margin, beside the region, lies on the missed face's head
    assert np.abs(right - 128).mean() < 6, np.abs(right - 128).mean()
    assert np.abs(thumb[:, :6] - 128).mean() > 30  # the left margin is the picture as written


def test_a_large_run_draws_the_files_that_need_attention_in_full_and_the_rest_in_one_line(tmp_path, photo_pair,
                                                                                          monkeypatch):
    # A 5,000-photo run's page was 47 MB and did not load in Chromium in 30 s.
    import re

    from veil.report import html

    monkeypatch.setattr(html, "MAX_SECTIONS", 3)
    src, _, dst = photo_pair
    files = [_photo_report(src, dst, name=f"p{i}.png") for i in range(8)]
    files[5].verification = _verification([_face(0.1)])  # a leak
    files[6] = _failed()
    page = write_html(_run(files), tmp_path / "veil-report.html", created=CREATED).read_text(encoding="utf-8")
    drawn = re.findall(r'<section class="file \w+" id="f(\d+)"', page)
    assert sorted(map(int, drawn)) == [0, 5, 6]  # leaking and failed first, then in order
    for i in (1, 2, 3, 4, 7):  # one line each, with what the file's section would have said first
        line = re.search(rf'<li id="f{i}">(.*?)</li>', page).group(1)
        assert f"p{i}.png" in line and "Verified" in line
    assert "3 of 8 files are drawn in full" in page and ' open><summary>Files (8' in page
    targets = set(re.findall(r' id="(f\d+)"', page))
    assert {h for h in re.findall(r'href="#(f\d+)"', page)} <= targets and len(targets) == 8  # no dead link
    monkeypatch.setattr(html, "MAX_SECTIONS", 300)
    small = write_html(_run(files), tmp_path / "all.html", created=CREATED).read_text(encoding="utf-8")
    assert len(re.findall(r'<section class="file', small)) == 8 and "drawn in full" not in small


def test_photo_runs_show_no_frame_count_and_the_margin_plot_no_zero_line_value(tmp_path, photo_pair):
    src, _, dst = photo_pair
    other = _photo_report(src, dst, name="q.png")
    other.verification = _verification([_face(0.8, box=(10.0, 10.0, 40.0, 50.0))])  # another size: another line
    page = write_html(_run([_photo_report(src, dst), other]), tmp_path / "r.html", created=CREATED).read_text()
    assert "margin: distance minus that face" in page  # faces against different leak lines
    assert 'class="t-thr">leak line</text>' in page and "leak line 0.000" not in page
    assert "</b>frames</div>" not in page  # two photos are not "2 frames"


def test_headlines_speak_of_plates_and_text_and_of_faces_a_person_deleted(tmp_path, photo_pair):
    # A plates-only run read "Verified: none of the 0 faces or tracks measured matches its original, even
    # after attacks"; a face a person deleted in review (shown bare) went unmentioned beside "Verified".
    src, _, dst = photo_pair
    plates = _photo_report(src, dst)
    plates.faces, plates.covered = 0, {"plate": 2}
    plates.verification = VerificationRecord(checked_kinds=("plate", "text"))
    config = Config(mode="pixelate", cover="plates,text")
    run = RunReport(command="veil anonymize", settings=config, files=[plates], verified=True, seconds=1.0)
    page = render_html(run, thumbnails=False)
    assert "Verified: the plate and text detector, run again, finds none left uncovered" in page
    assert "even after attacks" not in page and "looked for as published, not after deblurring" in page
    assert "no face to match; the plate and text detector" in page

    deleted = _photo_report(src, dst)
    deleted.review = {"removed": [{"box": list(FACE)}], "counts": {"removed": 1}}
    page = render_html(_run([deleted]), thumbnails=False)
    assert "Deleted by a person as false detections: 1 face, shown uncovered, not verified." in page
    assert "Shown uncovered as a person chose in veil review, not verified: 1 detection deleted" in page
    assert "1 face with a distance: 1 pass, 0 leaking." in page  # the plot's caption counts what it shows

    some = _photo_report(src, dst)  # a pass on 1 face of 3 does not wear the badge of all 3
    some.faces = 3
    some.verification = _verification([_face(0.91), _face(None, unverifiable="face_too_small"),
                                       _face(None, unverifiable="face_too_small")])
    assert ">verified 1 of 3<" in render_html(_run([some]), thumbnails=False)
