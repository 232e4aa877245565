"""The review page's pictures: JPEGs of exact frames, cached, read ahead only while stepping."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from veil.media.video import iter_frames
from veil.review.pictures import MAX_WIDTH, Pictures, encode_jpeg

CLIP = Path(__file__).parent / "data" / "short_hamilton_clip.mp4"


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def test_frames_are_the_iterated_frames_and_stepping_reads_ahead():
    with iter_frames(CLIP, max_pixels=10**8) as frames:
        reference = {f.index: f.rgb for f in frames if f.index in (40, 41, 100, 200)}
    pictures = Pictures(max_pixels=10**8)
    try:
        for k in (100, 200, 40):  # random seeks: no read-ahead
            got = _decode(pictures.frame(("f", "input"), CLIP, k, frames=275))
            assert np.abs(got.astype(int) - reference[k]).mean() < 3  # JPEG of the very frame
        pictures._ahead.submit(lambda: None).result()
        assert not any(key[-1] in (101, 201, 41) for key in pictures._jpegs)
        pictures.frame(("f", "input"), CLIP, 41, frames=275)  # a step forward: the next frames follow
        pictures._ahead.submit(lambda: None).result()
        assert {42, 43, 44} <= {key[-1] for key in pictures._jpegs}
    finally:
        pictures.shutdown()


def test_wide_pictures_are_sent_scaled_down():
    wide = np.zeros((1000, 4000, 3), np.uint8)
    assert _decode(encode_jpeg(wide)).shape == (480, MAX_WIDTH, 3)  # 1000 x 1920 / 4000
    small = np.zeros((30, 40, 3), np.uint8)
    assert _decode(encode_jpeg(small)).shape == (30, 40, 3)
