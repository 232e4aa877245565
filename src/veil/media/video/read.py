"""Reading: probe a video and decode its frames to upright RGB (see the package docstring).

:class:`VideoSource`, :class:`Timestamps` and :class:`RGBConverter` also serve
:mod:`.write`, which decodes the source the same way.
"""

from __future__ import annotations

import collections
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from ...errors import MediaError, UnsupportedMediaError
from .. import check_size
from .base import (Frame, Orientation, VideoInfo, codec_name, display_matrix, is_attached_picture,
                   open_input, pix_fmt_bits, reason)


# Demuxers of still images: FFmpeg opens a PNG or JPEG as a one-frame "video";
# veil handles those as pictures, so a renamed image is refused here.
_IMAGE_DEMUXERS = ("image2", "image2pipe")


# --------------------------------------------------------------------------- reader


def _main_video_rank(stream) -> tuple:
    """How much a video stream looks like the file's video, not a thumbnail track beside it:
    more than one frame (or unknown), the larger picture, more frames, the default one."""
    ctx = stream.codec_context
    area = (ctx.width * ctx.height) if ctx is not None and ctx.width and ctx.height else 0
    frames = int(stream.frames or 0)
    default = bool(stream.disposition & av.stream.Disposition.default)
    return (frames != 1, area, frames, default)


class VideoSource:
    """An opened input: the chosen video stream, its first frame and orientation.

    Every FFmpeg failure while opening is turned into a :class:`MediaError`; the
    container is closed again if anything fails.
    """

    def __init__(
        self, path: str | os.PathLike, *, max_pixels: int, keep_audio: bool = False
    ) -> None:
        self.path = Path(path)
        self.max_pixels = int(max_pixels)
        self.keep_audio = keep_audio
        self.audio_packets: collections.deque[av.Packet] = collections.deque()
        self.corrupt_packets = 0
        self._decoded_end = 0  # the end (pts + duration) of the last frame decoded, in time_base units
        self._decoded_whole: bool | None = None  # None: still decoding from the start; False: after a seek
        self.container = open_input(self.path)
        try:
            self._select_streams()
            self._read_first_frame()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            self.container.close()
        except av.error.FFmpegError:  # closing a broken input: nothing to save
            pass

    def _select_streams(self) -> None:
        c = self.container
        if c.format.name in _IMAGE_DEMUXERS or c.format.name.endswith("_pipe"):
            raise UnsupportedMediaError(
                f"a still image ({c.format.name.removesuffix('_pipe')}), not a video"
            )
        videos = [s for s in c.streams.video if not is_attached_picture(s)]
        if not videos:
            raise UnsupportedMediaError("no video stream")
        self.video = max(videos, key=_main_video_rank)
        if self.video.codec_context is None:
            raise UnsupportedMediaError("no decoder for this video codec")
        self.audio = list(c.streams.audio)
        self.others = [
            s for s in c.streams if s is not self.video and s.type != "audio"
        ]
        tb = self.video.time_base
        if tb is None or tb <= 0:
            raise MediaError("video stream has no valid time base")
        self.time_base = Fraction(tb)
        ctx = self.video.codec_context
        if ctx.width and ctx.height:
            # Refuse before decoding anything: the header size is what a bomb lies about
            # least (decoded frames are checked again).
            check_size(ctx.width, ctx.height, self.max_pixels)
        ctx.thread_type = "AUTO"  # frame + slice threads: decoding is the cheap half
        # Defence in depth: the decoder itself refuses bigger pictures than allowed,
        # even when the header gave no size (FFmpeg's option is a C int).
        ctx.options = {**ctx.options, "max_pixels": str(min(self.max_pixels, 2**31 - 1))}
        self._check_index()

    def _check_index(self) -> None:
        """Refuse a file whose sample index points past its end (a cut download/copy).

        MP4/MOV/AVI store where every sample lies; a truncated file keeps that index
        (when it is at the front) but loses the data, and the demuxer would just stop
        early, silently dropping the tail.
        """
        size = self.path.stat().st_size
        for stream in [self.video, *self.audio]:
            end = 0
            for entry in stream.index_entries:
                if entry.size > 0 and entry.pos >= 0:
                    end = max(end, entry.pos + entry.size)
            if end > size:
                raise MediaError(
                    f"truncated file: its index needs {end} bytes, the file has {size}"
                )

    def _read_first_frame(self) -> None:
        self._frames = self._decode_frames()
        try:
            self.first = next(self._frames)
        except StopIteration:
            raise MediaError("no decodable video frame") from None
        self.coded_width, self.coded_height = self.first.width, self.first.height
        check_size(self.coded_width, self.coded_height, self.max_pixels)
        self.orientation = Orientation(display_matrix(self.first))
        self.width, self.height = self.orientation.display_size(
            self.coded_width, self.coded_height
        )
        self.format_name = self.first.format.name
        self.bit_depth = pix_fmt_bits(self.first.format)

    def _decode_frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames of the video stream in presentation order (raw PyAV frames).

        With ``keep_audio`` the same single demux pass also reads the audio streams;
        their packets wait in :attr:`audio_packets` for the writer to copy them.
        """
        count = 0
        streams = [self.video, *self.audio] if self.keep_audio else [self.video]
        video_index = self.video.index
        try:
            for packet in self.container.demux(streams):
                # packet.stream, not packet.stream_index: the end-of-stream packet that flushes the
                # decoder's last frames carries index 0 whatever its stream (PyAV 18); read by index, a
                # video that is not stream 0 lost its last frames (the decoder's delay: 4 of 30 here).
                if packet.stream.index != video_index:
                    if packet.size:  # skip the empty end-of-stream marker
                        self.audio_packets.append(packet)
                    continue
                if packet.is_corrupt:
                    self.corrupt_packets += 1
                for frame in packet.decode():
                    count += 1
                    if frame.pts is not None:
                        self._decoded_end = max(self._decoded_end, frame.pts + (frame.duration or 0))
                    yield frame
            self._decoded_whole = self._decoded_whole is None  # from the start to the end, no seek
        except av.error.FFmpegError as exc:
            raise MediaError(f"decode error at frame {count}: {reason(exc)}") from None
        except (OSError, ValueError) as exc:
            raise MediaError(f"read error at frame {count}: {reason(exc)}") from None

    def frames_from(self, pts: int) -> Iterator[av.VideoFrame]:
        """Decoded frames from the key frame at or before ``pts`` on, in presentation order; once only.

        Frames before ``pts`` come too (the caller skips them); a seek that lands
        after ``pts`` shows as a first frame later than it (the caller checks).
        Do not mix with :meth:`raw_frames`.
        """
        self._decoded_whole = False  # a part only: its end says nothing of the file's
        try:
            self.container.seek(int(pts), stream=self.video, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot seek to {pts}: {reason(exc)}") from None
        self.video.codec_context.flush_buffers()
        return self._decode_frames()

    def raw_frames(self) -> Iterator[av.VideoFrame]:
        """Every decoded frame in presentation order, the one read while opening first; once only."""
        yield self.first
        yield from self._frames

    def conversion_warnings(self) -> list[str]:
        """A warning when the source has more than 8 bits per sample (decoded to 8-bit RGB)."""
        if self.bit_depth > 8:
            return [f"{self.bit_depth}-bit video ({self.format_name}) converted to 8-bit"]
        return []

    def decode_warnings(self) -> list[str]:
        out = []
        if self.corrupt_packets:
            out.append(f"{self.corrupt_packets} damaged video packet(s) decoded with error concealment")
        cut = self._cut_short()
        if cut:
            out.append(f"the video's frames end at {cut[0]:.2f} s of the {cut[1]:.2f} s the file declares: it may "
                       "be cut short (a truncated copy?); the output holds the frames that decode")
        return out

    def _cut_short(self) -> tuple[float, float] | None:
        """(where the decoded frames end, the duration the header declares) when the frames end
        well short of it: Matroska and MPEG-TS have no sample index to check a cut file against."""
        if self._decoded_whole is not True or self._decoded_end <= 0:
            return None
        declared = self.video.duration * self.time_base if self.video.duration else None
        if declared is None and self.container.duration:
            # Matroska declares no stream duration: the file's, which audio may stretch a little past the
            # video (hence the clear shortfall asked below). Bodycam files have audio: a half-copied one
            # ran without a word.
            declared = Fraction(self.container.duration, av.time_base)
        start = self.video.start_time * self.time_base if self.video.start_time is not None else Fraction(0)
        if not declared:
            return None
        end = self._decoded_end * self.time_base - start
        # a frame's worth of slack, and only a clear shortfall: headers round, edit lists trim
        if end < Fraction(8, 10) * declared and declared - end > 1:
            return float(end), float(declared)
        return None

    def info(self) -> VideoInfo:
        c, v = self.container, self.video
        ctx = v.codec_context
        duration = None
        if c.duration is not None and c.duration > 0:
            duration = c.duration / av.time_base
        elif v.duration is not None and v.duration > 0:
            duration = float(v.duration * self.time_base)
        rate = v.average_rate
        tags: dict[str, dict[str, str]] = {"container": dict(c.metadata)}
        for s in c.streams:
            tags[f"stream:{s.index}"] = dict(s.metadata)
        others = []
        for s in self.others:
            others.append(f"{s.type}:{codec_name(s)}")
        return VideoInfo(
            format=c.format.name,
            width=self.width,
            height=self.height,
            coded_width=self.coded_width,
            coded_height=self.coded_height,
            rotation=self.orientation.rotation,
            mirrored=self.orientation.mirrored,
            time_base=self.time_base,
            average_rate=Fraction(rate) if rate else None,
            frame_count_hint=v.frames or None,
            duration=duration,
            codec=ctx.codec.canonical_name,
            pix_fmt=self.format_name,
            bit_depth=self.bit_depth,
            audio=tuple(codec_name(s) for s in self.audio),
            other_streams=tuple(others),
            tags=tags,
        )


class Timestamps:
    """Deterministic repair of missing or non-increasing presentation timestamps.

    * ``pts is None``: previous pts + the frame's duration, else + one nominal
      frame interval (``1 / average_rate`` in the time base, at least 1 tick);
      the first frame gets the stream start time, else 0.
    * ``pts <= previous``: previous + 1 tick, which keeps the order and every
      later valid timestamp.

    Decoders output frames in presentation order, so these only trigger on
    broken files; each repair is counted for a warning.
    """

    def __init__(self, stream: Any, time_base: Fraction) -> None:
        rate = stream.average_rate or stream.guessed_rate
        self.step = max(1, round(1 / (Fraction(rate) * time_base))) if rate else 1
        self.start = stream.start_time if stream.start_time is not None else 0
        self.prev: int | None = None
        self.missing = 0
        self.reordered = 0

    def __call__(self, frame: av.VideoFrame) -> int:
        pts = frame.pts
        if pts is None:
            self.missing += 1
            if self.prev is None:
                pts = self.start
            else:
                pts = self.prev + (frame.duration if frame.duration else self.step)
        elif self.prev is not None and pts <= self.prev:
            self.reordered += 1
            pts = self.prev + 1
        self.prev = pts
        return pts

    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.missing:
            out.append(
                f"{self.missing} frame(s) had no timestamp; synthesized from the frame interval"
            )
        if self.reordered:
            out.append(
                f"{self.reordered} frame(s) had non-increasing timestamps; "
                "moved 1 tick after the previous frame"
            )
        return out


class RGBConverter:
    """Decoded frame -> display-oriented RGB, with one reused swscale context."""

    def __init__(self, source: VideoSource) -> None:
        self.orientation = source.orientation
        self.width, self.height = source.coded_width, source.coded_height
        self.max_pixels = source.max_pixels
        self.reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame, index: int) -> np.ndarray:
        if (frame.width, frame.height) != (self.width, self.height):
            raise UnsupportedMediaError(
                f"picture size changes at frame {index} "
                f"({self.width}x{self.height} -> {frame.width}x{frame.height})"
            )
        try:
            # The source's own matrix and range (frame tags) convert to RGB.
            rgb = self.reformatter.reformat(frame, format="rgb24").to_ndarray()
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot convert frame {index} to RGB: {reason(exc)}") from None
        if not self.orientation.identity:
            return self.orientation.to_display(rgb)  # cv2 returns a packed array
        # Rows of widths that are not a multiple of the buffer alignment are padded;
        # callers (OpenCV, ONNX) get a packed array. No copy in the common case.
        return np.ascontiguousarray(rgb)


# --------------------------------------------------------------------------- public: read


def probe_video(path: str | os.PathLike, *, max_pixels: int) -> VideoInfo:
    """Read the facts of a video file, decoding its first frame.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    max_pixels : int
        Refuse pictures with more pixels than this (decompression-bomb guard).

    Returns
    -------
    VideoInfo

    Raises
    ------
    MediaError
        Missing, empty, unreadable, truncated or not media; no decodable frame.
    UnsupportedMediaError
        No video stream, a still image, no decoder, or an unsupported display matrix.
    TooLargeError
        ``width * height > max_pixels``.
    """
    source = VideoSource(path, max_pixels=max_pixels)
    try:
        return source.info()
    finally:
        source.close()


class FrameIterator(Iterator[Frame]):
    """Iterator over the frames of a video, returned by :func:`iter_frames`.

    Attributes
    ----------
    info : VideoInfo
        The probed facts of the video.
    warnings : list of str
        Filled while iterating (repaired timestamps, 10-bit input, ...).

    Use as a context manager or call :meth:`close` when stopping early, so the
    file is closed at once.
    """

    def __init__(self, source: VideoSource) -> None:
        self._source = source
        self.info = source.info()
        self.warnings: list[str] = source.conversion_warnings()
        self._gen = self._generate()

    def _generate(self) -> Iterator[Frame]:
        source = self._source
        timestamps = Timestamps(source.video, source.time_base)
        convert = RGBConverter(source)
        index = 0
        try:
            for raw in source.raw_frames():
                pts = timestamps(raw)
                yield Frame(index, pts, source.time_base, convert(raw, index), bool(raw.key_frame))
                index += 1
        finally:
            self.warnings.extend(timestamps.warnings() + source.decode_warnings())
            source.close()

    def __iter__(self) -> FrameIterator:
        return self

    def __next__(self) -> Frame:
        return next(self._gen)

    def close(self) -> None:
        """Stop iterating and close the file."""
        self._gen.close()
        self._source.close()

    def __enter__(self) -> FrameIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_frames(path: str | os.PathLike, *, max_pixels: int) -> FrameIterator:
    """Decode every frame of a video as upright RGB.

    The file is opened and checked at once (so errors of :func:`probe_video` are
    raised by this call); decoding then proceeds lazily.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    max_pixels : int
        Refuse pictures with more pixels than this.

    Returns
    -------
    FrameIterator
        Yields :class:`Frame` objects with ``rgb`` of shape ``(H, W, 3)``, ``uint8``,
        display orientation. Missing timestamps (``pts is None``) are synthesized as
        the previous pts plus the frame's duration, else plus one nominal frame
        interval; non-increasing ones become previous + 1 tick (a warning is added).

    Raises
    ------
    MediaError, UnsupportedMediaError, TooLargeError
        As :func:`probe_video`; while iterating, a decode failure raises a
        ``MediaError`` naming the frame index.
    """
    return FrameIterator(VideoSource(path, max_pixels=max_pixels))
