"""Video I/O: probe, decode upright, transcode exactly (frames, pts, size, orientation).

Every input is generated here with PyAV (tiny sizes, few frames, x264 ultrafast),
plus the White House clip from tests/data.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from veil.errors import MediaError, TooLargeError, UnsupportedMediaError, UsageError
from veil.media.video import (
    Frame,
    iter_frames,
    output_suffix,
    probe_video,
    transcode,
)

DATA = Path(__file__).parent / "data"
CLIP = DATA / "short_hamilton_clip.mp4"
BIG = 10**8  # max_pixels that never triggers

SOURCE_TAGS = {
    "creation_time": "2019-05-04T12:34:56.000000Z",
    "location": "+48.8582+002.2945/",
    "make": "VeilTestCam",
    "model": "Model-XYZ-123",
    "encoder": "SecretEncoder 9.9",
    "comment": "shot at home",
}


# --------------------------------------------------------------------------- helpers


def pattern(i: int, h: int, w: int) -> np.ndarray:
    """Smooth, frame-dependent RGB picture with a white marker at the top-left."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack(
        [(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), np.full_like(x, (i * 37) % 200)],
        axis=-1,
    ).astype(np.uint8)
    img[: max(h // 6, 4), : max(w // 6, 4)] = 255
    return img


def make_video(
    path: Path,
    *,
    size: tuple[int, int] = (64, 48),
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 30000),
    rate: Fraction = Fraction(30000, 1001),
    n: int = 24,
    rotation: float | None = None,
    hflip: bool = False,
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    subtitle: bool = False,
    container_tags: dict[str, str] | None = None,
    stream_tags: dict[str, str] | None = None,
    fmt: str | None = None,
    exact_start: bool = False,
) -> list[np.ndarray]:
    """Write a small H.264 video; return the display-oriented RGB frames written.

    ``size`` is the display size (width, height); with ``rotation`` the frames are
    stored turned back and the display matrix is set, as phones do.
    """
    w, h = size
    if pts is None:
        step = int(1 / (rate * time_base))
        pts = [i * step for i in range(n)]
    # exact_start: MP4 movie timescale = track timescale, so a start offset that is
    # no whole millisecond is stored exactly in the source.
    options = {"movie_timescale": str(time_base.denominator)} if exact_start else {}
    out = av.open(str(path), "w", format=fmt, options=options)
    if container_tags:
        out.metadata.update(container_tags)
    vs = out.add_stream("libx264", rate=rate)
    turns = 0 if rotation is None else int(rotation) // 90
    cw, ch = (h, w) if turns % 2 else (w, h)
    vs.width, vs.height, vs.pix_fmt = cw, ch, pix_fmt
    vs.codec_context.time_base = time_base
    vs.options = {"preset": "ultrafast"}
    if stream_tags:
        vs.metadata.update(stream_tags)
    if rotation is not None:
        vs.set_display_rotation(rotation, hflip=hflip)
    if audio:
        aus = out.add_stream("aac", rate=16000, layout="mono")
        if stream_tags:
            aus.metadata.update(stream_tags)
    if subtitle:
        ss = out.add_mux_stream("subrip" if fmt == "matroska" else "mov_text")
        ss.time_base = Fraction(1, 1000)
    shown = []
    for i, p in enumerate(pts):
        disp = pattern(i, h, w)
        shown.append(disp)
        # Display = coded turned counter-clockwise by `rotation`, then mirrored
        # (PyAV's set_display_rotation); store the inverse.
        coded = disp[:, ::-1] if hflip else disp
        coded = np.ascontiguousarray(np.rot90(coded, -turns))
        frame = av.VideoFrame.from_ndarray(coded, format="rgb24").reformat(format=pix_fmt)
        frame.pts, frame.time_base = p, time_base
        for packet in vs.encode(frame):
            out.mux(packet)
    for packet in vs.encode(None):
        out.mux(packet)
    if audio:
        seconds = float((pts[-1] - pts[0]) * time_base) + 0.2
        t = np.arange(int(16000 * seconds)) / 16000
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        for start in range(0, samples.shape[1] - 1024, 1024):
            chunk = samples[:, start : start + 1024]
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 16000, start, Fraction(1, 16000)
            for packet in aus.encode(af):
                out.mux(packet)
        for packet in aus.encode(None):
            out.mux(packet)
    if subtitle:
        text = b"secret subtitle"
        payload = text if fmt == "matroska" else len(text).to_bytes(2, "big") + text
        packet = av.Packet(payload)
        packet.stream, packet.pts, packet.dts = ss, 0, 0
        packet.duration, packet.time_base = 500, Fraction(1, 1000)
        out.mux(packet)
    out.close()
    return shown


def read_back(path: Path) -> dict:
    """Facts of a file read straight with PyAV (not through veil)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        pts = sorted(p.pts for p in c.demux(v) if p.size)
        c.seek(0)
        first = next(c.decode(v))
        return {
            "format": c.format.name,
            "streams": [s.type for s in c.streams],
            "pts": pts,
            "time_base": Fraction(v.time_base),
            "coded": (first.width, first.height),
            "rotation": first.rotation,
            "container_tags": dict(c.metadata),
            "stream_tags": [dict(s.metadata) for s in c.streams],
        }


def identity(frame: Frame) -> np.ndarray:
    return frame.rgb


@pytest.fixture(scope="module")
def cfr(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("cfr") / "cfr.mp4"
    return path, make_video(path)


# --------------------------------------------------------------------------- probe


def test_probe_cfr(cfr):
    path, _ = cfr
    info = probe_video(path, max_pixels=BIG)
    assert (info.width, info.height) == (64, 48)
    assert (info.coded_width, info.coded_height) == (64, 48)
    assert info.rotation == 0 and not info.mirrored
    assert info.time_base == Fraction(1, 30000)
    assert info.average_rate == Fraction(30000, 1001)
    assert info.frame_count_hint == 24
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert info.audio == () and info.other_streams == ()
    assert info.duration == pytest.approx(24 * 1001 / 30000, abs=0.05)
    d = json.loads(json.dumps(info.to_dict()))
    assert d["time_base"] == "1/30000" and d["average_rate"] == "30000/1001"


def test_iter_frames_exact_pts_and_pixels(cfr):
    path, shown = cfr
    frames = list(iter_frames(path, max_pixels=BIG))
    assert [f.index for f in frames] == list(range(24))
    assert [f.pts for f in frames] == [i * 1001 for i in range(24)]
    assert frames[3].time == Fraction(3 * 1001, 30000)
    for f, src in zip(frames, shown):
        assert f.rgb.shape == (48, 64, 3) and f.rgb.dtype == np.uint8
        assert np.abs(f.rgb.astype(int) - src).mean() < 4
    with iter_frames(path, max_pixels=BIG) as it:  # stopping early closes the file
        assert next(it).index == 0 and it.info.frame_count_hint == 24
    with pytest.raises(StopIteration):
        next(it)


# --------------------------------------------------------------------------- round trips


def test_roundtrip_cfr_identity(cfr, tmp_path):
    path, shown = cfr
    dst = tmp_path / "out.mp4"
    result = transcode(path, dst, identity, max_pixels=BIG)
    assert result.frames == 24 and result.pts == tuple(i * 1001 for i in range(24))
    assert result.time_base == Fraction(1, 30000)
    assert (result.width, result.height, result.rotation) == (64, 48, 0)
    assert result.pix_fmt == "yuv420p" and result.warnings == ()
    json.dumps(result.to_dict())
    back = read_back(dst)
    assert back["pts"] == list(result.pts) and back["time_base"] == Fraction(1, 30000)
    assert back["streams"] == ["video"]
    out = list(iter_frames(dst, max_pixels=BIG))
    assert len(out) == 24
    err = np.mean([np.abs(o.rgb.astype(int) - s).mean() for o, s in zip(out, shown)])
    assert err < 5


def test_vfr_pts_preserved(tmp_path):
    src = tmp_path / "vfr.mp4"
    # Irregular steps, and a start offset that is no whole millisecond (MP4 writes
    # it as an edit list; at the default 1/1000 s movie timescale it would drift).
    pts = [3003, 6000, 7500, 12000, 12100, 18000, 30000, 30500, 33000, 48000, 48001, 63000]
    make_video(src, pts=pts, time_base=Fraction(1, 90000), rate=Fraction(10), exact_start=True)
    assert read_back(src)["pts"] == pts
    dst = tmp_path / "out.mp4"
    result = transcode(src, dst, identity, max_pixels=BIG, preset="ultrafast")
    assert list(result.pts) == pts
    back = read_back(dst)
    assert back["time_base"] == Fraction(1, 90000) and back["pts"] == pts


def test_odd_size_kept_exactly(tmp_path):
    src = tmp_path / "odd.mp4"
    make_video(src, size=(321, 241), n=4, pix_fmt="yuv444p")
    info = probe_video(src, max_pixels=BIG)
    assert (info.width, info.height) == (321, 241)
    dst = tmp_path / "out.mp4"
    result = transcode(src, dst, identity, max_pixels=BIG, preset="ultrafast")
    assert (result.width, result.height) == (321, 241)
    assert result.pix_fmt == "yuv444p" and any("odd picture size" in w for w in result.warnings)
    assert read_back(dst)["coded"] == (321, 241)
    frames = list(iter_frames(dst, max_pixels=BIG))
    assert all(f.rgb.shape == (241, 321, 3) and f.rgb.flags.c_contiguous for f in frames)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_upright_and_preserved(tmp_path, rotation):
    src = tmp_path / "rot.mp4"
    shown = make_video(src, size=(64, 48), n=6, rotation=rotation)
    info = probe_video(src, max_pixels=BIG)
    assert info.rotation == rotation
    assert (info.width, info.height) == (64, 48)
    swapped = abs(rotation) == 90
    assert (info.coded_width, info.coded_height) == ((48, 64) if swapped else (64, 48))
    frames = list(iter_frames(src, max_pixels=BIG))
    # Upright: the white marker is at the display's top-left, as generated.
    assert frames[0].rgb.shape == (48, 64, 3)
    assert np.abs(frames[0].rgb.astype(int) - shown[0]).mean() < 5
    assert frames[0].rgb[:6, :8].min() > 230

    dst = tmp_path / "out.mp4"
    result = transcode(src, dst, identity, max_pixels=BIG, preset="ultrafast")
    assert result.rotation == rotation and (result.width, result.height) == (64, 48)
    back = read_back(dst)
    assert back["rotation"] % 360 == rotation % 360  # PyAV says -180 for 180
    assert back["coded"] == (info.coded_width, info.coded_height)
    out = list(iter_frames(dst, max_pixels=BIG))
    assert np.abs(out[0].rgb.astype(int) - shown[0]).mean() < 6


def test_mirrored_matrix_round_trips(tmp_path):
    src = tmp_path / "mirror.mp4"
    shown = make_video(src, n=4, rotation=90, hflip=True)
    info = probe_video(src, max_pixels=BIG)
    assert info.mirrored and info.rotation == 90 and (info.width, info.height) == (64, 48)
    before = [f.rgb for f in iter_frames(src, max_pixels=BIG)]
    assert np.abs(before[0].astype(int) - shown[0]).mean() < 5
    dst = tmp_path / "out.mp4"
    transcode(src, dst, identity, max_pixels=BIG, preset="ultrafast")
    after = [f.rgb for f in iter_frames(dst, max_pixels=BIG)]
    assert probe_video(dst, max_pixels=BIG).mirrored
    assert np.abs(after[0].astype(int) - before[0]).mean() < 6


def test_render_paints_block(cfr, tmp_path):
    path, _ = cfr
    seen = []

    def paint(frame: Frame) -> np.ndarray:
        seen.append(frame.index)
        out = frame.rgb.copy()
        out[10:30, 20:50] = (0, 0, 255)
        return out

    dst = tmp_path / "out.mp4"
    transcode(path, dst, paint, max_pixels=BIG)
    assert seen == list(range(24))
    for f in iter_frames(dst, max_pixels=BIG):
        block = f.rgb[12:28, 22:48].astype(int)
        assert block[..., 2].mean() > 230 and block[..., :2].mean() < 25


@pytest.mark.parametrize(
    "bad",
    [
        lambda f: f.rgb[:-1],
        lambda f: f.rgb.astype(np.float32),
        lambda f: None,
    ],
)
def test_render_wrong_output_is_refused(cfr, tmp_path, bad):
    path, _ = cfr
    with pytest.raises(ValueError, match="render returned"):
        transcode(path, tmp_path / "out.mp4", bad, max_pixels=BIG)


def test_audio_kept_or_dropped(tmp_path):
    src = tmp_path / "a.mp4"
    make_video(src, audio=True, n=12)
    assert probe_video(src, max_pixels=BIG).audio == ("aac",)
    with av.open(str(src)) as c:
        src_audio = [(p.pts, p.size) for p in c.demux(c.streams.audio[0]) if p.size]

    dropped = tmp_path / "drop.mp4"
    r = transcode(src, dropped, identity, max_pixels=BIG, preset="ultrafast")
    assert not r.audio_kept and read_back(dropped)["streams"] == ["video"]

    kept = tmp_path / "keep.mp4"
    r = transcode(src, kept, identity, audio="keep", max_pixels=BIG, preset="ultrafast")
    assert r.audio_kept and r.audio_streams == 1
    with av.open(str(kept)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.time_base == Fraction(1, 16000)
        # Stream copy: the same packets at the same instants.
        assert [(p.pts, p.size) for p in c.demux(a) if p.size] == src_audio


def test_audio_codec_the_container_cannot_hold(tmp_path):
    src = tmp_path / "pcm.mov"
    with av.open(str(src), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.options = 64, 48, {"preset": "ultrafast"}
        aus = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(pattern(i, 48, 64), format="rgb24")
            frame.pts = i
            for p in vs.encode(frame):
                out.mux(p)
        af = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
        af.sample_rate, af.pts = 8000, 0
        for p in [*vs.encode(None), *aus.encode(af), *aus.encode(None)]:
            out.mux(p)
    info = probe_video(src, max_pixels=BIG)
    assert info.audio == ("pcm_s16le",)
    with pytest.raises(MediaError, match="pcm_s16le cannot be stream-copied"):
        transcode(src, tmp_path / "o.mp4", identity, audio="keep", max_pixels=BIG)
    suffix = output_suffix(".mov", audio_codecs=info.audio)
    r = transcode(src, tmp_path / f"o{suffix}", identity, audio="keep", max_pixels=BIG)
    assert r.audio_streams == 1 and suffix == ".mov"


def test_tags_and_subtitles_not_written(tmp_path):
    src = tmp_path / "tagged.mov"
    make_video(
        src,
        n=6,
        audio=True,
        subtitle=True,
        fmt="mov",
        container_tags=SOURCE_TAGS,
        stream_tags={"handler_name": "SecretHandler", "creation_time": "2019-05-04T12:00:00Z"},
    )
    info = probe_video(src, max_pixels=BIG)
    written = json.dumps(info.tags)
    # Precondition: the source really carries identifying tags and a subtitle.
    assert "Model-XYZ-123" in written and "2019-05-04" in written and "+48.8582" in written
    assert info.other_streams == ("subtitle:mov_text",)

    dst = tmp_path / "out.mov"
    result = transcode(src, dst, identity, audio="keep", max_pixels=BIG, preset="ultrafast")
    assert any("subtitle" in w for w in result.warnings)
    back = read_back(dst)
    assert back["streams"] == ["video", "audio"]
    text = json.dumps([back["container_tags"], back["stream_tags"]])
    for key in ("creation_time", "location", "make", "model", "comment"):
        assert key not in back["container_tags"]
    for value in ("VeilTestCam", "Model-XYZ-123", "2019", "48.8582", "Secret", "Lavf"):
        assert value not in text
    raw = dst.read_bytes()
    for value in (b"VeilTestCam", b"Model-XYZ", b"+48.8582", b"Secret", b"secret subtitle", b"Lavf"):
        assert value not in raw
    if shutil.which("exiftool"):
        cmd = ["exiftool", "-a", "-G1", str(dst)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        assert "VeilTestCam" not in out and "48.8582" not in out and "2019:05:04" not in out


def test_mkv_subtitle_dropped(tmp_path):
    src = tmp_path / "s.mkv"
    make_video(
        src, n=6, subtitle=True, fmt="matroska", time_base=Fraction(1, 1000), rate=Fraction(25)
    )
    dst = tmp_path / "out.mkv"
    result = transcode(src, dst, identity, max_pixels=BIG, preset="ultrafast")
    back = read_back(dst)
    assert back["streams"] == ["video"] and back["pts"] == list(result.pts)
    assert b"secret subtitle" not in dst.read_bytes()


def test_missing_timestamps_synthesized_and_size_change_refused(tmp_path):
    # A raw H.264 elementary stream has no timestamps at all.
    a, b = tmp_path / "a.h264", tmp_path / "b.h264"
    make_video(a, n=5, fmt="h264", rate=Fraction(25), time_base=Fraction(1, 25))
    frames = list(iter_frames(a, max_pixels=BIG))
    step = frames[1].pts - frames[0].pts
    assert step > 0 and [f.pts for f in frames] == [i * step for i in range(5)]
    assert frames[0].time_base * step == Fraction(1, 25)
    r = transcode(a, tmp_path / "out.mp4", identity, max_pixels=BIG, preset="ultrafast")
    assert r.frames == 5 and any("no timestamp" in w for w in r.warnings)

    make_video(b, size=(80, 48), n=3, fmt="h264", rate=Fraction(25), time_base=Fraction(1, 25))
    joined = tmp_path / "joined.h264"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    with pytest.raises(UnsupportedMediaError, match="size changes at frame 5"):
        list(iter_frames(joined, max_pixels=BIG))


def test_ten_bit_converted_with_warning(tmp_path):
    src = tmp_path / "ten.mp4"
    make_video(src, n=3, pix_fmt="yuv420p10le")
    assert probe_video(src, max_pixels=BIG).bit_depth == 10
    r = transcode(src, tmp_path / "out.mp4", identity, max_pixels=BIG, preset="ultrafast")
    assert r.pix_fmt == "yuv420p" and any("10-bit" in w for w in r.warnings)


@pytest.mark.parametrize("name, codec, pix_fmt", [("camera.avi", "mjpeg", "yuvj420p"),
                                                 ("phone.mp4", "libx264", "yuvj420p")])
def test_full_range_video_is_anonymized_in_full_range(tmp_path, name, codec, pix_fmt):
    # A camera's MJPEG or a full-range phone clip: the output decodes under the yuvj name (it
    # was refused as 'output decodes as yuvj420p, not yuv420p'), with the picture's levels kept.
    src = tmp_path / name
    with av.open(str(src), "w") as out:
        s = out.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, pix_fmt
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 + 40 * i, np.uint8), format="rgb24")
            for packet in s.encode(frame.reformat(format=pix_fmt)):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    dst = tmp_path / "out.mp4"
    transcode(src, dst, identity, max_pixels=BIG, preset="ultrafast")
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        before = [f.to_ndarray(format="rgb24").mean() for f in a.decode(video=0)]
        after = [f.to_ndarray(format="rgb24").mean() for f in b.decode(video=0)]
    assert len(after) == len(before) and np.allclose(before, after, atol=2.5), (before, after)


def test_the_video_is_the_main_stream_not_a_small_track_before_it(tmp_path):
    # An MKV whose first video stream is a 1-frame thumbnail track: the 20-frame picture is the video.
    src = tmp_path / "two.mkv"
    with av.open(str(src), "w") as out:
        thumb, main = out.add_stream("libx264", rate=25), out.add_stream("libx264", rate=25)
        for s, (w, h) in ((thumb, (64, 48)), (main, (160, 120))):
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for s, n in ((thumb, 1), (main, 20)):
            for i in range(n):
                frame = av.VideoFrame.from_ndarray(np.full((s.height, s.width, 3), 12 * i, np.uint8), format="rgb24")
                for packet in s.encode(frame):
                    out.mux(packet)
            for packet in s.encode():
                out.mux(packet)
    info = probe_video(src, max_pixels=BIG)
    assert (info.width, info.height) == (160, 120)
    assert len(list(iter_frames(src, max_pixels=BIG))) == 20


def _mux_grey_frames_then_silence(out, video, audio, *, frames: int, step: int, seconds: int) -> None:
    """``frames`` grey 160x120 frames (level ``step * i``), then ``seconds`` of mono silence at 16 kHz."""
    for i in range(frames):
        grey = np.full((120, 160, 3), (step * i) % 256, np.uint8)
        for packet in video.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    sound = av.AudioFrame.from_ndarray(np.zeros((1, 16000 * seconds), np.float32), format="fltp", layout="mono")
    sound.sample_rate = 16000
    for packet in [*audio.encode(sound), *audio.encode()]:
        out.mux(packet)


@pytest.mark.parametrize("audio", ["drop", "keep"])
def test_a_video_after_an_audio_stream_keeps_its_last_frames(tmp_path, audio):
    # Video as stream 1: the decoder's last frames come out only when its end-of-stream packet is
    # read as the video's (it lost 4 of 30 frames, silently).
    src = tmp_path / "audio_first.mp4"
    with av.open(str(src), "w") as out:
        a = out.add_stream("aac", rate=16000, layout="mono")
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        _mux_grey_frames_then_silence(out, v, a, frames=30, step=8, seconds=1)
    assert len(list(iter_frames(src, max_pixels=BIG))) == 30
    dst = tmp_path / "out.mp4"
    transcode(src, dst, identity, max_pixels=BIG, preset="ultrafast", audio=audio)
    with av.open(str(dst)) as c:
        assert len(list(c.decode(video=0))) == 30


def test_a_cut_matroska_file_says_so(tmp_path):
    # Matroska has no sample index to check a cut copy against; its declared duration tells.
    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    make_video(whole, n=100, size=(160, 120), fmt="matroska")
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    r = transcode(whole, tmp_path / "a.mp4", identity, max_pixels=BIG, preset="ultrafast")
    assert not any("cut short" in w for w in r.warnings)
    r = transcode(cut, tmp_path / "b.mp4", identity, max_pixels=BIG, preset="ultrafast")
    assert any("cut short" in w for w in r.warnings), r.warnings


def test_white_house_clip_exact(tmp_path):
    src_pts = [p.pts for p in _video_packets(CLIP)]
    dst = tmp_path / "clip.mp4"
    result = transcode(CLIP, dst, identity, audio="keep", max_pixels=BIG, preset="ultrafast")
    assert result.frames == 275 and (result.width, result.height) == (640, 360)
    assert list(result.pts) == sorted(src_pts)
    back = read_back(dst)
    assert back["pts"] == sorted(src_pts) and back["time_base"] == Fraction(1, 11988)
    assert back["coded"] == (640, 360) and back["streams"] == ["video", "audio"]


def _video_packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as c:
        return [p for p in c.demux(c.streams.video[0]) if p.size]


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def bad_files(tmp_path, cfr) -> dict[str, Path]:
    path, _ = cfr
    data = path.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "text": b"this is not a video\n" * 20,
        "empty": b"",
        "noise": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    }
    out = {}
    for name, content in files.items():
        out[name] = tmp_path / f"{name}.mp4"
        out[name].write_bytes(content)
    return out


@pytest.mark.parametrize("name", ["truncated", "text", "empty", "noise"])
def test_bad_files_raise_media_error(bad_files, tmp_path, name):
    path = bad_files[name]
    before = path.read_bytes()
    with pytest.raises(MediaError) as info:
        probe_video(path, max_pixels=BIG)
    assert "\n" not in str(info.value)
    with pytest.raises(MediaError):
        iter_frames(path, max_pixels=BIG)
    with pytest.raises(MediaError):
        transcode(path, tmp_path / "out.mp4", identity, max_pixels=BIG)
    assert path.read_bytes() == before


def test_truncated_faststart_file(tmp_path):
    # Index at the front, payload cut: the missing frames must not pass silently.
    src = tmp_path / "fast.mp4"
    out = tmp_path / "faststart.mp4"
    make_video(src, n=24)
    transcode(src, out, identity, max_pixels=BIG, preset="ultrafast")  # writes +faststart
    data = out.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(MediaError, match="truncated|frames"):
        transcode(cut, tmp_path / "o.mp4", identity, max_pixels=BIG, preset="ultrafast")


def test_png_renamed_mp4_refused(tmp_path):
    png = tmp_path / "picture.mp4"
    frame = av.VideoFrame.from_ndarray(pattern(0, 32, 32), format="rgb24")
    frame.to_image().save(png, format="PNG")
    with pytest.raises(MediaError):
        probe_video(png, max_pixels=BIG)


def test_audio_only_and_missing_file(tmp_path):
    m4a = tmp_path / "voice.m4a"
    with av.open(str(m4a), "w") as out:
        s = out.add_stream("aac", rate=16000, layout="mono")
        silence = np.zeros((1, 1024), np.float32)
        af = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
        af.sample_rate, af.pts = 16000, 0
        for p in [*s.encode(af), *s.encode(None)]:
            out.mux(p)
    with pytest.raises(UnsupportedMediaError, match="no video stream"):
        probe_video(m4a, max_pixels=BIG)
    with pytest.raises(MediaError, match="not found"):
        probe_video(tmp_path / "nope.mp4", max_pixels=BIG)
    with pytest.raises(MediaError, match="directory"):
        probe_video(tmp_path, max_pixels=BIG)


def test_pixel_limit(cfr, tmp_path):
    path, _ = cfr
    with pytest.raises(TooLargeError):
        probe_video(path, max_pixels=64 * 48 - 1)
    with pytest.raises(TooLargeError):
        iter_frames(path, max_pixels=1000)
    with pytest.raises(TooLargeError):
        transcode(path, tmp_path / "o.mp4", identity, max_pixels=1000)
    assert probe_video(path, max_pixels=64 * 48).width == 64


# --------------------------------------------------------------------------- options


def test_output_suffix():
    for keep in (".mp4", ".mov", ".m4v", ".mkv"):
        assert output_suffix(keep) == keep
        assert output_suffix(keep.upper()) == keep
    for other in (".webm", ".avi", ".mpg", ".ts", ".flv", ".wmv", ".3gp", "", "mts"):
        assert output_suffix(other) == ".mp4"
    assert output_suffix(".avi", audio_codecs=["aac"]) == ".mp4"
    assert output_suffix(".avi", audio_codecs=["pcm_u8"]) == ".mov"
    assert output_suffix(".webm", audio_codecs=["vorbis"]) == ".mkv"
    assert output_suffix(".webm", audio_codecs=["opus"]) == ".mp4"
    assert output_suffix(".mpg", audio_codecs=["mp2"]) == ".mov"
    assert output_suffix(".mkv", audio_codecs=["pcm_s16le"]) == ".mkv"


@pytest.mark.parametrize(
    ("dst", "kwargs"),
    [
        ("o.mp4", {"audio": "mute"}),
        ("o.mp4", {"crf": 99}),
        ("o.mp4", {"preset": "warp"}),
        ("o.avi", {}),
    ],
)
def test_bad_options(cfr, tmp_path, dst, kwargs):
    path, _ = cfr
    with pytest.raises(UsageError):
        transcode(path, tmp_path / dst, identity, max_pixels=BIG, **kwargs)
    assert not (tmp_path / dst).exists()


def test_fast_rgb_to_yuv_matches_swscale():
    from av.video.reformatter import VideoReformatter

    from veil.media.video.encode import rgb_to_yuv

    rgb = np.ascontiguousarray(pattern(3, 48, 64)[:, ::-1])
    rgb[20:30, 10:40] = (200, 30, 90)
    opts = {"pix_fmt": "yuv420p", "sws_matrix": 5, "color_range": 1}
    fast = rgb_to_yuv(rgb, reformatter=VideoReformatter(), **opts).to_ndarray().astype(int)
    ref = (
        VideoReformatter()
        .reformat(av.VideoFrame.from_ndarray(rgb, format="rgb24"), format="yuv420p",
                  dst_colorspace=5, dst_color_range=1)
        .to_ndarray()
        .astype(int)
    )
    assert fast.shape == ref.shape == (72, 64)
    assert np.abs(fast[:48] - ref[:48]).max() <= 1  # luma
    assert np.abs(fast[48:] - ref[48:]).mean() < 1.5  # chroma


def test_a_cut_matroska_file_with_audio_says_so_too(tmp_path):
    # Matroska declares no stream duration; with audio the file's was not used, and a half-copied
    # bodycam clip (they have audio) ran as if whole.
    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    with av.open(str(whole), "w", format="matroska") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        _mux_grey_frames_then_silence(out, v, a, frames=100, step=37, seconds=4)
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    r = transcode(whole, tmp_path / "a.mp4", identity, max_pixels=BIG, preset="ultrafast")
    assert not any("cut short" in w for w in r.warnings), r.warnings
    r = transcode(cut, tmp_path / "b.mp4", identity, max_pixels=BIG, preset="ultrafast")
    assert any("cut short" in w for w in r.warnings), (r.frames, r.warnings)
