"""The pictures the review page shows: JPEGs of photos and of video frames, cached.

Video frames come from :class:`veil.media.video.FrameSource` (one per file and
side, numbered as the pipeline numbers frames). While a person steps forward
or plays (a frame asked right after the one before it), the next few frames
are decoded on a background thread, so they are served from the cache; a
request for another place stops that read-ahead, and random seeks start none
(on two cores it would only slow the next seek). Encoded pictures are kept in an LRU cache by
size. Originals exist only in this process's memory: nothing is written to disk.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
from pathlib import Path

import numpy as np

from ..errors import VeilError

__all__ = ["Pictures", "MAX_WIDTH", "THUMB_WIDTH"]

MAX_WIDTH = 1920  #: wider pictures are sent scaled down (the page's overlay works in picture pixels)
THUMB_WIDTH = 360  #: the overview's thumbnails (its cards show them 120 px wide, sharp on 3x screens)
_JPEG_QUALITY = 90
_READ_AHEAD = 6  #: frames decoded after the one served, in the background


def encode_jpeg(rgb: np.ndarray, *, width: int = MAX_WIDTH) -> bytes:
    """JPEG of an (H, W, 3) uint8 RGB picture, scaled to at most ``width`` wide."""
    import cv2

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    if bgr.shape[1] > width:
        height = max(1, round(bgr.shape[0] * width / bgr.shape[1]))
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise VeilError("could not encode a picture for the page")
    return data.tobytes()


class Pictures:
    """JPEGs by key: ``(file id, 'input'|'output')`` for a photo, plus the frame index for a video.

    Parameters
    ----------
    max_pixels : int
        The run's picture size limit.
    cache_bytes : int
        Memory for encoded pictures.
    """

    def __init__(self, *, max_pixels: int, cache_bytes: int = 96 << 20) -> None:
        self.max_pixels = max_pixels
        self.cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self._jpegs: collections.OrderedDict[tuple, bytes] = collections.OrderedDict()
        self._size = 0
        self._sources: dict[tuple, object] = {}
        self._wanted: dict[tuple, int] = {}  # (file, side) -> the frame asked for last
        self._ahead = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="veil-review-ahead")

    def photo(self, key: tuple, path: Path) -> bytes:
        cached = self._get(key)
        if cached is None:
            from ..media.image import read_image, to_rgb8

            cached = self._put(key, encode_jpeg(to_rgb8(read_image(path, max_pixels=self.max_pixels).pixels)))
        return cached

    def thumbnail(self, key: tuple, picture: bytes) -> bytes:
        """``picture`` (a JPEG this class made) at most :data:`THUMB_WIDTH` wide, cached under ``key``."""
        cached = self._get(key)
        if cached is None:
            import cv2

            bgr = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise VeilError("could not decode a picture for the page")
            cached = self._put(key, encode_jpeg(bgr[:, :, ::-1], width=THUMB_WIDTH))
        return cached

    def frame(self, key: tuple, path: Path, index: int, *, frames: int | None) -> bytes:
        """Frame ``index`` of the video at ``path`` (``IndexError`` outside it)."""
        with self._lock:
            stepping = self._wanted.get(key) == index - 1
            self._wanted[key] = index
        cached = self._get(key + (index,))
        if cached is None:
            cached = self._put(key + (index,), encode_jpeg(self._source(key, path, frames).frame(index)))
        if stepping:
            self._ahead.submit(self._read_ahead, key, path, index, frames)
        return cached

    def _read_ahead(self, key: tuple, path: Path, index: int, frames: int | None) -> None:
        source = self._source(key, path, frames)
        for ahead in range(index + 1, min(index + 1 + _READ_AHEAD, source.frame_count)):
            with self._lock:
                if self._wanted.get(key) != index or key not in self._sources:
                    return  # the person went elsewhere, or the pictures were closed
            if self._get(key + (ahead,)) is None:
                self._put(key + (ahead,), encode_jpeg(source.frame(ahead)))

    def _source(self, key: tuple, path: Path, frames: int | None):
        from ..media.video import FrameSource

        with self._lock:
            source = self._sources.get(key)
            if source is None:
                source = FrameSource(path, max_pixels=self.max_pixels, expected_frames=frames)
                self._sources[key] = source
            return source

    def _get(self, key: tuple) -> bytes | None:
        with self._lock:
            data = self._jpegs.get(key)
            if data is not None:
                self._jpegs.move_to_end(key)
            return data

    def _put(self, key: tuple, data: bytes) -> bytes:
        with self._lock:
            if key not in self._jpegs:
                self._jpegs[key] = data
                self._size += len(data)
            while self._size > self.cache_bytes and len(self._jpegs) > 1:
                _, old = self._jpegs.popitem(last=False)
                self._size -= len(old)
        return data

    def close(self) -> None:
        """Forget every picture and close the videos (after Apply rewrote outputs, or at the end)."""
        with self._lock:
            sources, self._sources = self._sources, {}
            self._jpegs.clear()
            self._size = 0
        for source in sources.values():
            source.close()

    def shutdown(self) -> None:
        self._ahead.shutdown(wait=True, cancel_futures=True)
        self.close()
