"""Writing: re-encode a video frame for frame, exactly, and check the result (see the package docstring)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import av.error
import numpy as np

from ...errors import MediaError, UsageError
from .base import Frame, TranscodeResult, display_matrix, fraction_str, reason
from .containers import MUXER, OUTPUT_SUFFIXES, leaked_tags, output_suffix
from .encode import Encoder
from .read import RGBConverter, Timestamps, VideoSource

__all__ = ["transcode", "check_output", "output_suffix", "OUTPUT_SUFFIXES", "X264_PRESETS"]

#: x264 presets :func:`transcode` accepts.
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


def _validate_options(dst: Path, audio: str, crf: float, preset: str) -> str:
    if audio not in ("drop", "keep"):
        raise UsageError(f"audio must be 'drop' or 'keep', not {audio!r}")
    if isinstance(crf, bool) or not isinstance(crf, (int, float)) or not 0 <= crf <= 51:
        raise UsageError(f"crf must be a number from 0 to 51, not {crf!r}")
    if preset not in X264_PRESETS:
        raise UsageError(f"preset must be one of {', '.join(X264_PRESETS)}, not {preset!r}")
    suffix = dst.suffix.lower()
    if suffix not in MUXER:
        raise UsageError(
            f"output suffix {dst.suffix or '(none)'!r} is not one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    return MUXER[suffix]


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
    _refuse_same_file(src, dst)
    source = VideoSource(src, max_pixels=max_pixels, keep_audio=audio == "keep")
    warnings: list[str] = []
    try:
        warnings.extend(source.conversion_warnings())
        keep = list(source.audio) if audio == "keep" else []
        dropped = list(source.info().other_streams)
        if dropped:
            warnings.append(f"dropped non-audio streams: {', '.join(dropped)}")
        encoder = Encoder(dst, muxer, source, audio=keep, crf=crf, preset=preset,
                          warnings=warnings)
        pts_list = _encode_all(source, encoder, render, warnings)
    finally:
        source.close()
    _verify_output(dst, source, pts_list, n_audio=len(keep), pix_fmt=encoder.pix_fmt,
                   warnings=warnings)
    return TranscodeResult(
        frames=len(pts_list), time_base=source.time_base, pts=tuple(pts_list),
        width=source.width, height=source.height, rotation=source.orientation.rotation,
        pix_fmt=encoder.pix_fmt, container=muxer, audio_kept=bool(keep), audio_streams=len(keep),
        warnings=tuple(warnings),
    )


def _refuse_same_file(src: str | os.PathLike, dst: Path) -> None:
    try:
        same = os.path.samefile(src, dst)
    except OSError:  # one of them does not exist: not the same file
        same = False
    if same:
        raise UsageError("output path is the input file")


def _encode_all(source: VideoSource, encoder: Encoder, render: Callable[[Frame], np.ndarray],
                warnings: list[str]) -> list[int]:
    """:func:`_pump`, then finish the output; on any failure the output is closed as it is."""
    try:
        pts_list = _pump(source, encoder, render, warnings)
        try:
            encoder.finish()
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot finish output: {reason(exc)}") from None
    except BaseException:
        encoder.abort()
        raise
    return pts_list


def _pump(source: VideoSource, encoder: Encoder, render: Callable[[Frame], np.ndarray],
          warnings: list[str]) -> list[int]:
    """Demux once; decode, render and encode video; copy audio packets as they come."""
    timestamps = Timestamps(source.video, source.time_base)
    convert = RGBConverter(source)
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
            raise MediaError(f"encode error at frame {index}: {reason(exc)}") from None
        pts_list.append(pts)

    # The first frame was decoded while opening the source; it is rendered first.
    # Audio packets that the demuxer read meanwhile are copied after each frame,
    # so the muxer's interleaving queue stays short.
    for raw in source.raw_frames():
        handle(raw)
        while source.audio_packets:
            encoder.copy_audio(source.audio_packets.popleft())
    while source.audio_packets:  # audio read after the last video packet
        encoder.copy_audio(source.audio_packets.popleft())
    warnings.extend(timestamps.warnings() + source.decode_warnings())
    if encoder.audio_skipped:
        warnings.append(f"{encoder.audio_skipped} audio packet(s) without timestamps left out")
    return pts_list


def check_output(dst: Path, source: VideoSource, pts_list: list[int], *, n_audio: int,
                 pix_fmt: str, warnings: list[str]) -> None:
    """The check every written video passes: :func:`transcode`'s, for writers that build a
    file otherwise (segments joined by stream copy, ``veil.media.video.segments``)."""
    _verify_output(Path(dst), source, pts_list, n_audio=n_audio, pix_fmt=pix_fmt, warnings=warnings)


def _verify_output(dst: Path, source: VideoSource, pts_list: list[int], *, n_audio: int,
                   pix_fmt: str, warnings: list[str]) -> None:
    """Reopen ``dst`` and check frame count, instants, size, orientation and tags."""
    try:
        c = av.open(str(dst), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"output cannot be reopened: {reason(exc)}") from None
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
            raise MediaError(f"output cannot be read back: {reason(exc)}") from None
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
                    f"timestamps rounded to the container's time base {fraction_str(out_tb)}"
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
            if display_matrix(first_frame) != source.orientation.matrix:
                raise MediaError("output display matrix differs from the source's")
            # A full-range output (a camera's MJPEG, a phone's full-range H.264) decodes under the
            # deprecated yuvj name: the same layout, its range in the name instead of a flag.
            if first_frame.format.name.replace("yuvj", "yuv", 1) != pix_fmt:
                raise MediaError(f"output decodes as {first_frame.format.name}, not {pix_fmt}")
        leaked = leaked_tags(c)
        if leaked:
            raise MediaError(f"output carries metadata tags: {', '.join(sorted(leaked))}")
    finally:
        c.close()
