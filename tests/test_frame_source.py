"""FrameSource: any frame by index, numbered exactly as iter_frames numbers them."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from veil.media.video import FrameSource, iter_frames

CLIP = Path(__file__).parent / "data" / "short_hamilton_clip.mp4"
BIG = 10**8


def _frames(path: Path) -> list[np.ndarray]:
    with iter_frames(path, max_pixels=BIG) as frames:
        return [f.rgb for f in frames]


def _gop_video(path: Path, *, n: int = 40, keyint: int = 8, rotation: float | None = None,
               fmt: str | None = None) -> None:
    """A small H.264 video with short GOPs and B-frames (every frame distinct)."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 25)
        stream.options = {"preset": "ultrafast", "x264-params": f"keyint={keyint}:min-keyint={keyint}:bframes=2:"
                                                                 "scenecut=0"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(n):
            picture = np.zeros((48, 64, 3), np.uint8)
            picture[:, :, 0] = (i * 6) % 256
            picture[4:12, (i % 50):(i % 50) + 10] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_any_frame_equals_the_iterated_frame_on_the_white_house_clip():
    reference = _frames(CLIP)
    with FrameSource(CLIP, max_pixels=BIG, expected_frames=len(reference)) as source:
        assert source.seekable and source.frame_count == len(reference) == 275
        order = list(range(len(reference)))
        random.Random(7).shuffle(order)
        for k in order[:80] + [0, 274, 273, 1]:
            assert np.array_equal(source.frame(k), reference[k]), k
        for k in range(100, 130):  # stepping forward continues the running decode
            assert np.array_equal(source.frame(k), reference[k]), k
        for k in range(129, 95, -1):  # stepping back
            assert np.array_equal(source.frame(k), reference[k]), k


@pytest.mark.parametrize("rotation", [None, 90])
def test_short_gops_with_b_frames_and_rotation(tmp_path, rotation):
    path = tmp_path / "gop.mp4"
    _gop_video(path, rotation=rotation)
    reference = _frames(path)
    with FrameSource(path, max_pixels=BIG, cache_bytes=0) as source:  # no cache: every call decodes
        assert source.seekable and len(source._keys) > 3
        for k in random.Random(3).sample(range(len(reference)), len(reference)):
            got = source.frame(k)
            assert got.shape == reference[k].shape and np.array_equal(got, reference[k]), k
        assert not got.flags.writeable


def test_without_timestamps_it_decodes_in_order(tmp_path):
    path = tmp_path / "raw.h264"  # an elementary stream: no timestamps to index
    _gop_video(path, n=12, fmt="h264")
    reference = _frames(path)
    with FrameSource(path, max_pixels=BIG) as source:
        assert not source.seekable and source.frame_count == 12
        for k in (5, 2, 11, 0, 6):
            assert np.array_equal(source.frame(k), reference[k])


def test_a_frame_count_that_disagrees_disables_seeking():
    with FrameSource(CLIP, max_pixels=BIG, expected_frames=270) as source:
        assert not source.seekable and source.frame_count == 270


def test_indices_outside_the_video_are_refused():
    with FrameSource(CLIP, max_pixels=BIG) as source:
        for bad in (-1, 275, 10**6):
            with pytest.raises(IndexError):
                source.frame(bad)


def test_cache_stays_within_its_budget():
    with FrameSource(CLIP, max_pixels=BIG, cache_bytes=3 * 640 * 360 * 3) as source:
        for k in range(0, 200, 7):
            source.frame(k)
        assert len(source._cache) <= 3 and source._cached_bytes <= source.cache_bytes
