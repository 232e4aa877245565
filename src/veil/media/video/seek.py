"""Random access to a video's frames by index, numbered exactly as :func:`iter_frames` numbers them.

The review app shows any frame of a video on demand. Decoding from the start
each time is too slow, so :class:`FrameSource` indexes the video stream's
packets once (demuxing only, no decoding), then serves frame ``k`` by seeking
to the nearest key frame at or before it and decoding forward, keeping the
pictures it converted in an LRU cache. Stepping forward continues the running
decoder without a new seek.

Frame ``k`` is the packet with the k-th smallest presentation timestamp: that
is how :func:`iter_frames` numbers frames whenever every packet decodes to one
frame and timestamps are present and distinct. Where that cannot be trusted
(missing or repeated timestamps, packets the demuxer marks to discard, a
packet count other than the frame count the caller expects, or a decoded
frame whose timestamp the index does not know), the source falls back to
decoding in order with :func:`iter_frames` itself: slower, never wrong.
"""

from __future__ import annotations

import bisect
import collections
import os
import threading
from pathlib import Path
from typing import Iterator

import av
import av.error
import numpy as np

from ...errors import MediaError
from .base import VideoInfo, open_input, reason
from .read import RGBConverter, VideoSource, iter_frames

__all__ = ["FrameSource"]


class FrameSource:
    """Upright RGB frames of a video by index, with an LRU cache.

    Parameters
    ----------
    path : path
        The video file.
    max_pixels : int, keyword-only
        Refuse larger pictures (as :func:`iter_frames`).
    expected_frames : int, optional, keyword-only
        The frame count the caller knows (e.g. a report's ``frames``); seeking
        is used only where the packet index agrees with it.
    cache_bytes : int, keyword-only
        Memory for converted frames (at least one frame is kept).
    window : int, keyword-only
        Frames before the target that a seek also converts and caches, so
        that stepping backwards is served from the cache.

    Notes
    -----
    Safe to call from several threads (one decode at a time). Use as a
    context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike, *, max_pixels: int, expected_frames: int | None = None,
                 cache_bytes: int = 192 << 20, window: int = 4) -> None:
        self.path = Path(path)
        self.max_pixels = int(max_pixels)
        self.cache_bytes = int(cache_bytes)
        self.window = max(0, int(window))
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._cached_bytes = 0
        self._source = VideoSource(self.path, max_pixels=self.max_pixels)
        try:
            self.info: VideoInfo = self._source.info()
            self._convert = RGBConverter(self._source)
            self._pts, self._keys = self._index()
            self.seekable = self._pts is not None and (expected_frames is None or len(self._pts) == expected_frames)
            if self.seekable:
                self._index_of = {p: i for i, p in enumerate(self._pts)}
                self.frame_count = len(self._pts)
            else:
                self.frame_count = expected_frames if expected_frames is not None else self._count_frames()
            self._decoder: Iterator | None = None  # the running decode: yields (index, av.VideoFrame)
            self._skip_below = 0  # pts before which the running decode may skip unreferenced frames
            self._position = -1  # index of the last frame the running decode yielded
            self._sequential: Iterator | None = None
        except BaseException:
            self._source.close()
            raise

    # -- setup ------------------------------------------------------------------------------
    def _index(self) -> tuple[list[int] | None, list[int]]:
        """Presentation timestamps in order and key frame indices, from the packets alone."""
        entries: list[tuple[int, bool]] = []
        container = open_input(self.path)  # its own: the source's decoder has read ahead
        try:
            stream = container.streams[self._source.video.index]
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                if packet.pts is None or getattr(packet, "is_discard", False):
                    return None, []
                entries.append((packet.pts, bool(packet.is_keyframe)))
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot index the video: {reason(exc)}") from None
        finally:
            container.close()
        entries.sort()
        pts = [p for p, _ in entries]
        keys = [i for i, (_, key) in enumerate(entries) if key]
        if not entries or len(set(pts)) != len(pts) or not keys or keys[0] != 0:
            return None, []
        return pts, keys

    def _count_frames(self) -> int:
        with iter_frames(self.path, max_pixels=self.max_pixels) as frames:
            return sum(1 for _ in frames)

    # -- public -----------------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3) uint8`` RGB, upright as displayed (read-only).

        Raises
        ------
        IndexError
            ``index`` outside ``0 .. frame_count - 1``.
        MediaError
            The file cannot be decoded there.
        """
        index = int(index)
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} is outside 0..{self.frame_count - 1}")
        with self._lock:
            hit = self._cache.get(index)
            if hit is not None:
                self._cache.move_to_end(index)
                return hit
            if self.seekable:
                try:
                    return self._seek_decode(index)
                except _IndexMismatch:
                    self.seekable = False  # never guess: fall back to decoding in order
                    self._clear()
            return self._sequential_decode(index)

    def close(self) -> None:
        """Release the file and the cache."""
        with self._lock:
            self._decoder = None
            if self._sequential is not None:
                self._sequential.close()
                self._sequential = None
            self._source.close()
            self._clear()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- decoding ---------------------------------------------------------------------------
    def _seek_decode(self, index: int) -> np.ndarray:
        key = self._keys[bisect.bisect_right(self._keys, index) - 1]
        # Continue the running decode when no key frame lies between it and the target.
        if self._decoder is None or not (key <= self._position < index):
            self._start(key)
        first_kept = max(key, index - self.window)
        # Frames before those kept are only decoded as references for later ones:
        # the decoder may drop the frames nothing refers to (B-frames, mostly).
        self._skip_below = self._pts[first_kept]
        for got, raw in self._decoder:
            self._position = got
            if got == index or (first_kept <= got < index and got not in self._cache):
                rgb = self._convert(raw, got)
                self._store(got, rgb)
                if got == index:
                    return self._cache[got]
            if got > index:
                break
        self._decoder = None
        raise _IndexMismatch()

    def _start(self, key: int) -> None:
        container, stream = self._source.container, self._source.video
        try:
            container.seek(self._pts[key], stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            raise _IndexMismatch() from None  # a file that cannot seek is read in order
        self._decoder = self._decode_from(container, stream)
        self._position = -1

    def _decode_from(self, container, stream) -> Iterator[tuple[int, av.VideoFrame]]:
        ctx = stream.codec_context
        try:
            for packet in container.demux(stream):
                skip = "NONREF" if packet.pts is not None and packet.pts < self._skip_below else "DEFAULT"
                if ctx.skip_frame != skip:
                    ctx.skip_frame = skip
                for raw in packet.decode():
                    got = self._index_of.get(raw.pts)
                    if got is None:
                        raise _IndexMismatch()
                    yield got, raw
        except av.error.FFmpegError as exc:
            raise MediaError(f"decode error while seeking: {reason(exc)}") from None

    def _sequential_decode(self, index: int) -> np.ndarray:
        if self._sequential is None or self._position >= index:
            if self._sequential is not None:
                self._sequential.close()
            self._sequential = iter_frames(self.path, max_pixels=self.max_pixels)
            self._position = -1
        for frame in self._sequential:
            self._position = frame.index
            if frame.index >= index - self.window:
                self._store(frame.index, frame.rgb)
            if frame.index == index:
                return self._cache[index]
        raise MediaError(f"frame {index} could not be decoded")

    # -- cache ------------------------------------------------------------------------------
    def _store(self, index: int, rgb: np.ndarray) -> None:
        rgb.setflags(write=False)
        self._cache[index] = rgb
        self._cache.move_to_end(index)
        self._cached_bytes += rgb.nbytes
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= old.nbytes

    def _clear(self) -> None:
        self._cache.clear()
        self._cached_bytes = 0


class _IndexMismatch(Exception):
    """A decoded frame the packet index does not explain: stop seeking in this file."""

