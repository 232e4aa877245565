"""Writing: re-encode a video frame for frame, exactly, and check the result (see the package docstring)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Mapping

import av
import av.error
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from ...errors import MediaError, UsageError
from .base import Frame, TranscodeResult, _codec_name, _display_matrix, _fraction_str, _reason
from .read import _chain_first, _RGBConverter, _Source, _Timestamps


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
