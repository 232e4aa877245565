"""Video input and output with PyAV: probe, decode to upright RGB, re-encode exactly.

Contract (fail closed, exact):

* :func:`probe_video` reads a file's facts without trusting it: anything that is
  not a decodable video raises a :class:`~veil.errors.MediaError` (or one of its
  subclasses) with a one-line reason; no PyAV/FFmpeg exception escapes.
* :func:`iter_frames` yields every frame as ``(H, W, 3) uint8`` RGB **as
  displayed** (the container's display matrix applied) with its integer ``pts``
  in the stream's ``Fraction`` time base.
* :func:`transcode` decodes again, calls ``render`` on every frame and encodes
  H.264 (libx264) with the same frame count, the same timestamps (no frame-rate
  resampling, so variable frame rate survives), the same picture size and the
  same display matrix, then reopens the output and checks all of that before it
  returns. No container or stream tag of the source is written.

Picture size. H.264 4:2:0 can only signal even picture sizes: the SPS crop unit
is 2 luma pixels, so the ``h264_metadata`` bitstream filter refuses
``crop_right=1`` ("must be a multiple of 2") and a padded 322x242 stream cannot be
cropped back to 321x241. Pictures with an odd coded width or height are therefore
encoded as 4:4:4 (High 4:4:4 profile, crop unit 1), which keeps the exact size;
the result carries a warning because some hardware players cannot play 4:4:4.

Orientation. Frames are encoded in the source's *coded* orientation (the rendered
upright frame is turned back) and the source's display matrix is copied verbatim
with :meth:`av.video.stream.VideoStream.set_display_matrix`, so every player
shows the output exactly as it showed the source (rotations and mirroring).

Timestamps. The output stream uses the source time base; for MP4/MOV the track
and movie timescales are pinned to its denominator (``video_track_timescale``,
``movie_timescale``), so the muxer neither multiplies it nor rounds a start offset
to milliseconds. Matroska always stores milliseconds; it is only chosen for MKV
sources (already in milliseconds) or as the last resort for kept audio. The
reopened output is compared instant by instant with the source.

Containers and audio. ``.mp4/.mov/.m4v/.mkv`` inputs keep their container, all
others become ``.mp4`` (:func:`output_suffix`). With ``audio='keep'`` the audio is
stream-copied; :func:`output_suffix` given the audio codecs moves to ``.mov``
(PCM, MP2) or ``.mkv`` (Vorbis, ...) when MP4 cannot hold them, and
:func:`transcode` refuses (``MediaError``) a container/codec pair outside the
tested table ``_AUDIO_COPY`` instead of writing a file players misread.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import av
import av.error
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import MediaError, TooLargeError, UnsupportedMediaError, UsageError

__all__ = [
    "VideoInfo",
    "Frame",
    "FrameIterator",
    "TranscodeResult",
    "probe_video",
    "iter_frames",
    "transcode",
    "output_suffix",
    "OUTPUT_SUFFIXES",
    "X264_PRESETS",
]

#: Output containers veil writes (all can hold H.264 and copied audio).
OUTPUT_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)

# Demuxers of still images: FFmpeg opens a PNG or JPEG as a one-frame "video";
# veil handles those as pictures, so a renamed image is refused here.
_IMAGE_DEMUXERS = ("image2", "image2pipe")

# FFmpeg AVColorSpace -> swscale SWS_CS_* matrix used for RGB -> YUV, so the
# output is encoded with the matrix its (copied) colour tags announce.
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}

# Tags the muxers write themselves (checked on the reopened output): key -> the
# values allowed, None for any. None of them carries information from the source;
# Matroska's mandatory MuxingApp reads back as ``encoder`` and is the bare "Lavf"
# under the bitexact flag (no version).
_MUXER_TAGS: dict[str, frozenset[str] | None] = {
    "major_brand": None,
    "minor_version": None,
    "compatible_brands": None,
    "vendor_id": None,
    "duration": None,
    "language": frozenset({"und"}),
    "handler_name": frozenset({"VideoHandler", "SoundHandler"}),
    "encoder": frozenset({"Lavf"}),
}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video file, read by :func:`probe_video`.

    Attributes
    ----------
    format : str
        FFmpeg demuxer name (e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``).
    width, height : int
        Picture size as displayed (after the display matrix).
    coded_width, coded_height : int
        Stored picture size, before the display matrix.
    rotation : int
        Counter-clockwise rotation of the display matrix in degrees
        (PyAV ``VideoFrame.rotation`` / ``av_display_rotation_get`` convention).
    mirrored : bool
        The display matrix also mirrors the picture.
    time_base : Fraction
        Time base of the video stream's ``pts``.
    average_rate : Fraction or None
        Average frame rate from the header (informative; never used to retime).
    frame_count_hint : int or None
        Frame count stated by the header, if any (may be absent or wrong).
    duration : float or None
        Duration in seconds, if known.
    codec : str
        Video codec name (e.g. ``"h264"``).
    pix_fmt : str or None
        Decoded pixel format (e.g. ``"yuv420p"``, ``"yuv420p10le"``).
    bit_depth : int
        Bits per sample of the decoded pixel format.
    audio : tuple of str
        Codec names of the audio streams.
    other_streams : tuple of str
        Other streams as ``"type:codec"`` (``"subtitle:mov_text"``, ``"data:none"``,
        extra or cover-art video streams); they are never written.
    tags : mapping
        ``{"container": {...}, "stream:<i>": {...}}``: every metadata tag, for
        auditing what the output drops.
    """

    format: str
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    mirrored: bool
    time_base: Fraction
    average_rate: Fraction | None
    frame_count_hint: int | None
    duration: float | None
    codec: str
    pix_fmt: str | None
    bit_depth: int
    audio: tuple[str, ...]
    other_streams: tuple[str, ...]
    tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (fractions as ``"num/den"`` strings)."""
        out = dataclasses.asdict(self)
        out["time_base"] = _fraction_str(self.time_base)
        out["average_rate"] = _fraction_str(self.average_rate)
        out["audio"] = list(self.audio)
        out["other_streams"] = list(self.other_streams)
        out["tags"] = {k: dict(v) for k, v in self.tags.items()}
        return out


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded video frame, upright as displayed.

    Attributes
    ----------
    index : int
        0-based position in presentation order.
    pts : int
        Presentation timestamp in ``time_base`` units (see :func:`iter_frames` for
        how missing or non-increasing source timestamps are repaired).
    time_base : Fraction
        Time base of ``pts``.
    rgb : numpy.ndarray
        ``(H, W, 3) uint8`` RGB in display orientation; a fresh array the caller owns.
    """

    index: int
    pts: int
    time_base: Fraction
    rgb: np.ndarray

    @property
    def time(self) -> Fraction:
        """Presentation time in seconds, exact."""
        return self.pts * self.time_base


@dataclass(frozen=True)
class TranscodeResult:
    """What :func:`transcode` wrote, as verified by reopening the output.

    Attributes
    ----------
    frames : int
        Frames written (equal to the frames decoded from the source).
    time_base : Fraction
        Time base of ``pts`` (the source's video time base).
    pts : tuple of int
        Presentation timestamps of the frames, in order; the output carries
        exactly these instants.
    width, height : int
        Display size of the output (equal to the source's).
    rotation : int
        Display rotation of the output (equal to the source's).
    pix_fmt : str
        Encoded pixel format (``"yuv420p"``, or ``"yuv444p"`` for odd sizes).
    container : str
        Output muxer name.
    audio_kept : bool
        Whether audio streams were copied.
    audio_streams : int
        Number of audio streams copied.
    warnings : tuple of str
        One-line warnings (odd size, 10-bit input, repaired timestamps, ...).
    """

    frames: int
    time_base: Fraction
    pts: tuple[int, ...]
    width: int
    height: int
    rotation: int
    pix_fmt: str
    container: str
    audio_kept: bool
    audio_streams: int
    warnings: tuple[str, ...]

    @property
    def pts_sha256(self) -> str:
        """SHA-256 of the time base and pts list, compact for reports."""
        text = _fraction_str(self.time_base) + ":" + ",".join(map(str, self.pts))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the pts list replaced by first/last and hash)."""
        return {
            "frames": self.frames,
            "time_base": _fraction_str(self.time_base),
            "first_pts": self.pts[0] if self.pts else None,
            "last_pts": self.pts[-1] if self.pts else None,
            "pts_sha256": self.pts_sha256,
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "pix_fmt": self.pix_fmt,
            "container": self.container,
            "audio_kept": self.audio_kept,
            "audio_streams": self.audio_streams,
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------- helpers


def _fraction_str(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def _reason(exc: BaseException) -> str:
    """One-line reason from an FFmpeg/OS error, without errno noise."""
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or str(exc)
        log = getattr(exc, "log", None)
        if log and isinstance(log, tuple) and len(log) == 3 and log[2]:
            text = f"{text}: {str(log[2]).strip()}"
        return " ".join(str(text).split())
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


def _codec_name(stream: Any) -> str:
    """Codec name of a stream (``"aac"``, ``"mov_text"``; not the decoder's name)."""
    ctx = stream.codec_context
    if ctx is not None:
        return ctx.codec.canonical_name
    # Data/attachment streams (and codecs without a decoder) have no codec context.
    return getattr(stream, "name", None) or "none"


def _is_attached_picture(stream: Any) -> bool:
    # Cover art (MP4/MP3/MKV) is a one-picture "video" stream; it is not the video.
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _bit_depth(fmt: Any) -> int:
    if fmt is None:
        return 8
    return max((c.bits for c in fmt.components), default=8)


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    for side in frame.side_data:
        if side.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            data = bytes(side)
            if len(data) == 36:
                return struct.unpack("=9i", data)
    return None


class _Orientation:
    """Display matrix of a stream as an exact right-angle transform of the picture.

    FFmpeg maps a stored pixel ``(p, q)`` (column, row) to the displayed
    ``(a*p + c*q, b*p + d*q)`` with ``a, b, c, d = m[0], m[1], m[3], m[4]``. A
    right-angle matrix is either diagonal (flips only) or anti-diagonal
    (transpose, then flips), which covers the eight EXIF-like orientations.
    """

    def __init__(self, matrix: tuple[int, ...] | None) -> None:
        self.matrix = matrix
        self.transpose = self.flip_rows = self.flip_cols = False
        self.rotation = 0
        if matrix is None:
            return
        a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
        if b == 0 and c == 0 and a != 0 and d != 0:
            self.flip_cols, self.flip_rows = a < 0, d < 0
        elif a == 0 and d == 0 and b != 0 and c != 0:
            self.transpose = True
            self.flip_rows, self.flip_cols = b < 0, c < 0
        else:
            raise UnsupportedMediaError(
                "display matrix is not a right-angle rotation; such videos are not supported"
            )
        # Counter-clockwise degrees, as PyAV's VideoFrame.rotation reports them.
        self.rotation = int(round(np.degrees(np.arctan2(-b, a))))
        if self.rotation == -180:
            self.rotation = 180

    @property
    def identity(self) -> bool:
        return not (self.transpose or self.flip_rows or self.flip_cols)

    @property
    def mirrored(self) -> bool:
        # An odd number of reflections (a transpose is one) is a mirror image.
        return (self.transpose + self.flip_rows + self.flip_cols) % 2 == 1

    def display_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.transpose else (width, height)

    def _flip(self, arr: np.ndarray) -> np.ndarray:
        if self.flip_rows and self.flip_cols:
            return cv2.flip(arr, -1)
        if self.flip_rows:
            return cv2.flip(arr, 0)
        if self.flip_cols:
            return cv2.flip(arr, 1)
        return arr

    def to_display(self, coded: np.ndarray) -> np.ndarray:
        """Stored picture -> upright picture (contiguous result)."""
        if self.transpose:
            # Single-pass rotations for the common phone cases.
            if self.flip_rows and not self.flip_cols:
                return cv2.rotate(coded, cv2.ROTATE_90_COUNTERCLOCKWISE)
            if self.flip_cols and not self.flip_rows:
                return cv2.rotate(coded, cv2.ROTATE_90_CLOCKWISE)
            return self._flip(cv2.transpose(coded))
        return self._flip(coded)

    def to_coded(self, display: np.ndarray) -> np.ndarray:
        """Upright picture -> stored picture (inverse of :meth:`to_display`)."""
        if self.transpose:
            if self.flip_rows and not self.flip_cols:
                return cv2.rotate(display, cv2.ROTATE_90_CLOCKWISE)
            if self.flip_cols and not self.flip_rows:
                return cv2.rotate(display, cv2.ROTATE_90_COUNTERCLOCKWISE)
            return cv2.transpose(self._flip(display))
        return self._flip(display)


def _check_path(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MediaError("file not found") from None
    except OSError as exc:
        raise MediaError(f"cannot read file: {_reason(exc)}") from None
    if path.is_dir():
        raise MediaError("is a directory, not a video file")
    if st.st_size == 0:
        raise MediaError("empty file")


def _open_input(path: Path) -> Any:
    _check_path(path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a readable video file ({_reason(exc)})") from None
    except (OSError, ValueError, UnicodeError) as exc:
        raise MediaError(f"not a readable video file ({_reason(exc)})") from None
    return container


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise TooLargeError(
            f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
        )


# --------------------------------------------------------------------------- reader


class _Source:
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
        self.container = _open_input(self.path)
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
        videos = [s for s in c.streams.video if not _is_attached_picture(s)]
        if not videos:
            raise UnsupportedMediaError("no video stream")
        self.video = videos[0]
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
            _check_pixels(ctx.width, ctx.height, self.max_pixels)
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
        _check_pixels(self.coded_width, self.coded_height, self.max_pixels)
        self.orientation = _Orientation(_display_matrix(self.first))
        self.width, self.height = self.orientation.display_size(
            self.coded_width, self.coded_height
        )
        self.format_name = self.first.format.name
        self.bit_depth = _bit_depth(self.first.format)

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
                if packet.stream_index != video_index:
                    if packet.size:  # skip the empty end-of-stream marker
                        self.audio_packets.append(packet)
                    continue
                if packet.is_corrupt:
                    self.corrupt_packets += 1
                for frame in packet.decode():
                    count += 1
                    yield frame
        except av.error.FFmpegError as exc:
            raise MediaError(f"decode error at frame {count}: {_reason(exc)}") from None
        except (OSError, ValueError) as exc:
            raise MediaError(f"read error at frame {count}: {_reason(exc)}") from None

    def decode_warnings(self) -> list[str]:
        if not self.corrupt_packets:
            return []
        return [f"{self.corrupt_packets} damaged video packet(s) decoded with error concealment"]

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
            others.append(f"{s.type}:{_codec_name(s)}")
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
            audio=tuple(_codec_name(s) for s in self.audio),
            other_streams=tuple(others),
            tags=tags,
        )


class _Timestamps:
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


class _RGBConverter:
    """Decoded frame -> display-oriented RGB, with one reused swscale context."""

    def __init__(self, source: _Source) -> None:
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
            raise MediaError(f"cannot convert frame {index} to RGB: {_reason(exc)}") from None
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
    source = _Source(path, max_pixels=max_pixels)
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

    def __init__(self, source: _Source) -> None:
        self._source = source
        self.info = source.info()
        self.warnings: list[str] = []
        if source.bit_depth > 8:
            self.warnings.append(
                f"{source.bit_depth}-bit video ({source.format_name}) converted to 8-bit"
            )
        self._gen = self._generate()

    def _generate(self) -> Iterator[Frame]:
        source = self._source
        timestamps = _Timestamps(source.video, source.time_base)
        convert = _RGBConverter(source)
        index = 0
        try:
            for raw in _chain_first(source.first, source._frames):
                pts = timestamps(raw)
                yield Frame(index, pts, source.time_base, convert(raw, index))
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


def _chain_first(first: av.VideoFrame, rest: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    yield first
    yield from rest


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
    return FrameIterator(_Source(path, max_pixels=max_pixels))


# --------------------------------------------------------------------------- public: write


def output_suffix(src_suffix: str, *, audio_codecs: tuple[str, ...] | list[str] = ()) -> str:
    """Container suffix veil writes for an input with suffix ``src_suffix``.

    ``.mp4``, ``.mov``, ``.m4v`` and ``.mkv`` are kept; every other input
    (``.webm``, ``.avi``, ``.mpg``, ``.ts``, ``.flv``, ``.wmv``, ...) becomes ``.mp4``.

    Parameters
    ----------
    src_suffix : str
        Input suffix, with or without the dot, any case.
    audio_codecs : sequence of str
        Only when audio is kept: the input's audio codec names
        (:attr:`VideoInfo.audio`). If the chosen container cannot hold one of them
        as a stream copy, ``.mov`` (PCM and other QuickTime audio) and then
        ``.mkv`` are tried, in that order.

    Returns
    -------
    str
        Lower-case suffix with the dot, one of :data:`OUTPUT_SUFFIXES`.
    """
    suffix = src_suffix.lower()
    if suffix and not suffix.startswith("."):
        suffix = "." + suffix
    chosen = suffix if suffix in OUTPUT_SUFFIXES else ".mp4"
    if not audio_codecs:
        return chosen
    for candidate in (chosen, ".mov", ".mkv"):
        if all(_can_copy_audio(candidate, codec) for codec in audio_codecs):
            return candidate
    return chosen  # transcode() will refuse it with a clear message


_MUXER = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

_PCM = frozenset(
    f"pcm_{k}" for k in ("s16le", "s16be", "s24le", "s24be", "s32le", "s32be", "f32le",
                         "f32be", "f64le", "f64be", "u8", "s8", "alaw", "mulaw")
)
# Audio codecs each muxer takes as a stream copy that players read back as the same
# codec (tried with FFmpeg 8: MOV refuses Opus and FLAC; MP2 in MP4 reads back as
# MP3; PCM in MP4 needs the recent 'ipcm' box, so PCM goes to MOV). Matroska takes
# everything its muxer accepts (None).
_AUDIO_COPY: dict[str, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}),
    "mov": frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "alac"}) | _PCM,
    "matroska": None,
}


def _can_copy_audio(suffix: str, codec: str) -> bool:
    allowed = _AUDIO_COPY[_MUXER[suffix]]
    return allowed is None or codec in allowed


def _validate_options(dst: Path, audio: str, crf: float, preset: str) -> str:
    if audio not in ("drop", "keep"):
        raise UsageError(f"audio must be 'drop' or 'keep', not {audio!r}")
    if isinstance(crf, bool) or not isinstance(crf, (int, float)) or not 0 <= crf <= 51:
        raise UsageError(f"crf must be a number from 0 to 51, not {crf!r}")
    if preset not in X264_PRESETS:
        raise UsageError(f"preset must be one of {', '.join(X264_PRESETS)}, not {preset!r}")
    suffix = dst.suffix.lower()
    if suffix not in _MUXER:
        raise UsageError(
            f"output suffix {dst.suffix or '(none)'!r} is not one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    return _MUXER[suffix]


def _rgb_to_yuv(
    rgb: np.ndarray,
    *,
    pix_fmt: str,
    sws_matrix: int,
    color_range: int,
    reformatter: VideoReformatter,
) -> av.VideoFrame:
    """``(H, W, 3) uint8`` RGB -> a YUV frame for the encoder.

    BT.601 limited-range 4:2:0 (what untagged and SD video use) goes through
    OpenCV, which gives the same samples as swscale (luma within 1, chroma within
    a few levels, closer to the decoded source) about three times faster; every
    other matrix, range or subsampling goes through swscale.
    """
    if pix_fmt == "yuv420p" and sws_matrix == 5 and color_range == 1:
        i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # (H * 3 / 2, W) planes
        return av.VideoFrame.from_ndarray(i420, format="yuv420p")
    return reformatter.reformat(
        av.VideoFrame.from_ndarray(rgb, format="rgb24"),
        format=pix_fmt,
        dst_colorspace=sws_matrix,
        dst_color_range=color_range,
    )


class _Encoder:
    """The output file: one H.264 stream in coded orientation plus copied audio."""

    def __init__(
        self,
        dst: Path,
        muxer: str,
        source: _Source,
        *,
        audio: list[Any],
        crf: float,
        preset: str,
        warnings: list[str],
    ) -> None:
        self.source = source
        tb = source.time_base
        options = {}
        if muxer in ("mp4", "mov"):
            # Keep the source's time base as the track timescale (the muxer would
            # otherwise double it below 10000), and use it for the movie too: a start
            # offset (first pts > 0) is written as an edit in the movie timescale,
            # which at the default 1/1000 s would move every frame by the rounding.
            # The index goes first for streaming playback.
            options = {
                "video_track_timescale": str(tb.denominator),
                "movie_timescale": str(tb.denominator),
                "movflags": "+faststart",
            }
        try:
            self.out = av.open(str(dst), mode="w", format=muxer, options=options)
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"cannot create output: {_reason(exc)}") from None
        try:
            self._setup(source, audio=audio, crf=crf, preset=preset, warnings=warnings)
        except BaseException:
            self.abort()
            raise

    def _setup(self, source: _Source, *, audio: list[Any], crf: float, preset: str,
               warnings: list[str]) -> None:
        out = self.out
        # No random IDs, dates or "Lavf" writing-application strings.
        out.flags |= av.container.Flags.bitexact.value
        w, h = source.coded_width, source.coded_height
        if w % 2 or h % 2:
            self.pix_fmt = "yuv444p"
            warnings.append(
                f"odd picture size {source.width}x{source.height}: encoded as H.264 4:4:4 "
                "to keep the exact size (4:2:0 needs even sizes); some players cannot play it"
            )
        else:
            self.pix_fmt = "yuv420p"
        rate = source.video.average_rate or source.video.guessed_rate
        stream = out.add_stream("libx264", rate=Fraction(rate) if rate else None)
        ctx = stream.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = w, h, self.pix_fmt
        ctx.time_base = source.time_base
        ctx.thread_count = 0  # x264 picks its thread count from the cores
        ctx.thread_type = "FRAME"  # frame threads: better throughput than slices
        ctx.options = {"crf": str(crf), "preset": preset}
        sar = source.video.sample_aspect_ratio
        if sar and sar > 0:
            ctx.sample_aspect_ratio = sar
        # Copy the colour description and convert RGB -> YUV with the same matrix,
        # so players show the colours the source showed.
        first = source.first
        self.sws_matrix = _SWS_MATRIX.get(int(first.colorspace), 5)
        self.color_range = int(first.color_range) or 1
        if first.format.name.startswith("yuvj"):
            self.color_range = 2  # deprecated full-range formats carry range in the name
        ctx.color_range = self.color_range
        for attr in ("colorspace", "color_primaries", "color_trc"):
            value = int(getattr(first, attr))
            if value not in (0, 2):  # 2 = unspecified, 0 = reserved/RGB
                setattr(ctx, attr, value)
        if source.orientation.matrix is not None:
            stream.set_display_matrix(source.orientation.matrix)
        self.video = stream
        self.audio_map: dict[int, Any] = {}
        self.audio_skipped = 0
        for a in audio:
            name = _codec_name(a)
            allowed = _AUDIO_COPY[out.format.name]
            if allowed is not None and name not in allowed:
                raise MediaError(
                    f"audio codec {name} cannot be stream-copied into {out.format.name} "
                    "(drop the audio, or write .mov or .mkv as output_suffix() suggests)"
                )
            try:
                o = out.add_stream_from_template(a)
            except (av.error.FFmpegError, ValueError) as exc:
                raise MediaError(f"cannot copy audio stream ({name}): {_reason(exc)}") from None
            self.audio_map[a.index] = o
        self.reformatter = VideoReformatter()
        try:
            # Opens the encoder and writes the header now, so a muxer that refuses a
            # stream says so here rather than at the first packet.
            out.start_encoding()
        except (av.error.FFmpegError, ValueError) as exc:
            what = "the copied audio" if audio else "the video stream"
            raise MediaError(
                f"{out.format.name} output refuses {what} ({_reason(exc)})"
            ) from None

    def encode(self, rgb_display: np.ndarray, pts: int) -> None:
        coded = np.ascontiguousarray(self.source.orientation.to_coded(rgb_display))
        yuv = _rgb_to_yuv(
            coded,
            pix_fmt=self.pix_fmt,
            sws_matrix=self.sws_matrix,
            color_range=self.color_range,
            reformatter=self.reformatter,
        )
        yuv.pts = pts
        yuv.time_base = self.source.time_base
        for packet in self.video.encode(yuv):
            self.out.mux(packet)

    def copy_audio(self, packet: av.Packet) -> None:
        # A packet without any timestamp cannot be placed; it is left out and counted.
        if packet.pts is None and packet.dts is None:
            self.audio_skipped += 1
            return
        packet.stream = self.audio_map[packet.stream_index]
        try:
            self.out.mux(packet)  # rescaled from the input stream's time base by PyAV
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot copy audio packet: {_reason(exc)}") from None

    def finish(self) -> None:
        for packet in self.video.encode(None):
            self.out.mux(packet)
        self.out.close()

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - the original error is what matters
            pass


def transcode(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    render: Callable[[Frame], np.ndarray],
    *,
    audio: str = "drop",
    crf: float = 18,
    preset: str = "veryfast",
    max_pixels: int,
) -> TranscodeResult:
    """Decode ``src``, pass every frame through ``render``, encode H.264 to ``dst``.

    Parameters
    ----------
    src : str or os.PathLike
        Input video.
    dst : str or os.PathLike
        Output file, written in place (wrap the call in
        :func:`veil.media.atomic.atomic_output`); its suffix picks the container
        and must be one of :data:`OUTPUT_SUFFIXES` (see :func:`output_suffix`).
    render : callable
        ``render(frame: Frame) -> ndarray`` returning the picture to write for that
        frame: ``(H, W, 3) uint8`` RGB in display orientation, the shape of
        ``frame.rgb``. Called exactly once per frame, in order.
    audio : {'drop', 'keep'}
        ``keep`` stream-copies every audio stream (no re-encode); ``drop`` writes none.
    crf : float
        x264 constant rate factor (0-51; lower is better).
    preset : str
        x264 preset (one of :data:`X264_PRESETS`).
    max_pixels : int
        Refuse pictures with more pixels than this.

    Returns
    -------
    TranscodeResult
        Verified by reopening ``dst``: same frame count, same instants, same
        size and display orientation, no source tags.

    Raises
    ------
    MediaError, UnsupportedMediaError, TooLargeError
        Bad input (see :func:`probe_video`), a decode error naming the frame, an
        audio codec the container cannot hold, or an output that fails verification.
        ``dst`` may then hold a partial file, which the caller deletes.
    UsageError
        Invalid ``audio``, ``crf``, ``preset`` or ``dst`` suffix.
    ValueError
        ``render`` returned an array of the wrong shape or dtype (a bug in the
        caller; nothing unprocessed is written).
    """
    dst = Path(dst)
    muxer = _validate_options(dst, audio, crf, preset)
    try:
        same = os.path.samefile(src, dst)
    except OSError:  # one of them does not exist: not the same file
        same = False
    if same:
        raise UsageError("output path is the input file")
    source = _Source(src, max_pixels=max_pixels, keep_audio=audio == "keep")
    warnings: list[str] = []
    try:
        if source.bit_depth > 8:
            warnings.append(
                f"{source.bit_depth}-bit video ({source.format_name}) converted to 8-bit"
            )
        keep = list(source.audio) if audio == "keep" else []
        dropped = list(source.info().other_streams)
        if dropped:
            warnings.append(f"dropped non-audio streams: {', '.join(dropped)}")
        encoder = _Encoder(dst, muxer, source, audio=keep, crf=crf, preset=preset,
                           warnings=warnings)
        try:
            pts_list = _pump(source, encoder, render, warnings)
            try:
                encoder.finish()
            except av.error.FFmpegError as exc:
                raise MediaError(f"cannot finish output: {_reason(exc)}") from None
        except BaseException:
            encoder.abort()
            raise
    finally:
        source.close()
    _verify_output(dst, source, pts_list, n_audio=len(keep), pix_fmt=encoder.pix_fmt,
                   warnings=warnings)
    return TranscodeResult(
        frames=len(pts_list),
        time_base=source.time_base,
        pts=tuple(pts_list),
        width=source.width,
        height=source.height,
        rotation=source.orientation.rotation,
        pix_fmt=encoder.pix_fmt,
        container=muxer,
        audio_kept=bool(keep),
        audio_streams=len(keep),
        warnings=tuple(warnings),
    )


def _pump(source: _Source, encoder: _Encoder, render: Callable[[Frame], np.ndarray],
          warnings: list[str]) -> list[int]:
    """Demux once; decode, render and encode video; copy audio packets as they come."""
    timestamps = _Timestamps(source.video, source.time_base)
    convert = _RGBConverter(source)
    shape = (source.height, source.width, 3)
    pts_list: list[int] = []

    def handle(raw: av.VideoFrame) -> None:
        index = len(pts_list)
        pts = timestamps(raw)
        frame = Frame(index, pts, source.time_base, convert(raw, index))
        out = render(frame)
        if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.uint8:
            got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
            raise ValueError(f"render returned {got} for frame {index}; expected {shape} uint8")
        try:
            encoder.encode(out, pts)
        except av.error.FFmpegError as exc:
            raise MediaError(f"encode error at frame {index}: {_reason(exc)}") from None
        pts_list.append(pts)

    # The first frame was decoded while opening the source; it is rendered first.
    # Audio packets that the demuxer read meanwhile are copied after each frame,
    # so the muxer's interleaving queue stays short.
    for raw in _chain_first(source.first, source._frames):
        handle(raw)
        while source.audio_packets:
            encoder.copy_audio(source.audio_packets.popleft())
    while source.audio_packets:  # audio read after the last video packet
        encoder.copy_audio(source.audio_packets.popleft())
    warnings.extend(timestamps.warnings() + source.decode_warnings())
    if encoder.audio_skipped:
        warnings.append(f"{encoder.audio_skipped} audio packet(s) without timestamps left out")
    return pts_list


def _verify_output(dst: Path, source: _Source, pts_list: list[int], *, n_audio: int,
                   pix_fmt: str, warnings: list[str]) -> None:
    """Reopen ``dst`` and check frame count, instants, size, orientation and tags."""
    try:
        c = av.open(str(dst), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"output cannot be reopened: {_reason(exc)}") from None
    try:
        videos = list(c.streams.video)
        if len(videos) != 1 or len(c.streams.audio) != n_audio or len(c.streams) != 1 + n_audio:
            raise MediaError(
                f"output has {len(videos)} video, {len(c.streams.audio)} audio and "
                f"{len(c.streams)} streams in all; expected 1 and {n_audio}"
            )
        v = videos[0]
        out_tb = Fraction(v.time_base)
        out_pts: list[int] = []
        first_frame = None
        try:
            for packet in c.demux(v):
                if packet.size == 0:
                    continue
                if packet.pts is None or packet.is_discard:
                    raise MediaError("output has a video packet without a presented timestamp")
                out_pts.append(packet.pts)
                if first_frame is None:
                    frames = packet.decode()
                    first_frame = frames[0] if frames else None
            if first_frame is None:
                first_frame = next(iter(v.decode(None)), None)
        except av.error.FFmpegError as exc:
            raise MediaError(f"output cannot be read back: {_reason(exc)}") from None
        if len(out_pts) != len(pts_list):
            raise MediaError(f"output has {len(out_pts)} frames; {len(pts_list)} were encoded")
        out_pts.sort()
        if out_tb == source.time_base:
            exact = out_pts == pts_list
        else:
            exact = all(o * out_tb == p * source.time_base for o, p in zip(out_pts, pts_list))
        if not exact:
            tick = out_tb / 2
            src_tb = source.time_base
            if all(abs(o * out_tb - p * src_tb) <= tick for o, p in zip(out_pts, pts_list)):
                warnings.append(
                    f"timestamps rounded to the container's time base {_fraction_str(out_tb)}"
                )
            else:
                raise MediaError("output timestamps differ from the source's")
        if first_frame is not None:
            size = (first_frame.width, first_frame.height)
            if size != (source.coded_width, source.coded_height):
                raise MediaError(
                    f"output decodes at {size[0]}x{size[1]}, "
                    f"expected {source.coded_width}x{source.coded_height}"
                )
            if _display_matrix(first_frame) != source.orientation.matrix:
                raise MediaError("output display matrix differs from the source's")
            if first_frame.format.name != pix_fmt:
                raise MediaError(f"output decodes as {first_frame.format.name}, not {pix_fmt}")
        leaked = _leaked_tags(c)
        if leaked:
            raise MediaError(f"output carries metadata tags: {', '.join(sorted(leaked))}")
    finally:
        c.close()


def _leaked_tags(container: Any) -> set[str]:
    """Tags of the reopened output that its muxer did not write by itself."""

    def foreign(tags: Mapping[str, str]) -> set[str]:
        out = set()
        for key, value in tags.items():
            allowed = _MUXER_TAGS.get(key.lower(), frozenset())
            if allowed is not None and value not in allowed:
                out.add(key)
        return out

    keys = foreign(container.metadata)
    for s in container.streams:
        keys |= {f"stream {s.index} {k}" for k in foreign(s.metadata)}
    return keys
