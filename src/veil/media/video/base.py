"""Records and helpers shared by the modules of :mod:`veil.media.video`: what a video is,
one frame, a transcode's result, display-matrix orientation, safe opening.

The records are public (re-exported by the package); the helpers below them
(:func:`reason`, :func:`open_input`, :class:`Orientation`, ...) are for the
package's own modules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import av
import av.error
import cv2
import numpy as np

from ...errors import MediaError, UnsupportedMediaError


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
        out["time_base"] = fraction_str(self.time_base)
        out["average_rate"] = fraction_str(self.average_rate)
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
    key : bool
        Whether the stream coded it as a key frame (a segment of a long video
        starts at one).
    """

    index: int
    pts: int
    time_base: Fraction
    rgb: np.ndarray
    key: bool = False

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
        text = fraction_str(self.time_base) + ":" + ",".join(map(str, self.pts))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the pts list replaced by first/last and hash)."""
        return {
            "frames": self.frames,
            "time_base": fraction_str(self.time_base),
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


def fraction_str(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def reason(exc: BaseException) -> str:
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


def codec_name(stream: Any) -> str:
    """Codec name of a stream (``"aac"``, ``"mov_text"``; not the decoder's name)."""
    ctx = stream.codec_context
    if ctx is not None:
        return ctx.codec.canonical_name
    # Data/attachment streams (and codecs without a decoder) have no codec context.
    return getattr(stream, "name", None) or "none"


def is_attached_picture(stream: Any) -> bool:
    # Cover art (MP4/MP3/MKV) is a one-picture "video" stream; it is not the video.
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def pix_fmt_bits(fmt: Any) -> int:
    if fmt is None:
        return 8
    return max((c.bits for c in fmt.components), default=8)


def display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    for side in frame.side_data:
        if side.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            data = bytes(side)
            if len(data) == 36:
                return struct.unpack("=9i", data)
    return None


class Orientation:
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


def check_path(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MediaError("file not found") from None
    except OSError as exc:
        raise MediaError(f"cannot read file: {reason(exc)}") from None
    if path.is_dir():
        raise MediaError("is a directory, not a video file")
    if st.st_size == 0:
        raise MediaError("empty file")


def open_input(path: Path) -> Any:
    check_path(path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a readable video file ({reason(exc)})") from None
    except (OSError, ValueError, UnicodeError) as exc:
        raise MediaError(f"not a readable video file ({reason(exc)})") from None
    return container


