"""Encoding: upright RGB frames to H.264 in the source's coded orientation, audio copied.

:class:`Encoder` and :func:`rgb_to_yuv` serve :func:`~veil.media.video.transcode`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from ...errors import MediaError
from .base import codec_name, reason
from .containers import AUDIO_COPY
from .read import VideoSource

# FFmpeg AVColorSpace -> swscale SWS_CS_* matrix used for RGB -> YUV, so the
# output is encoded with the matrix its (copied) colour tags announce.
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}


def rgb_to_yuv(
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


def open_output(dst: Path, muxer: str, time_base: Fraction):
    """An output container for ``muxer`` that keeps ``time_base`` exactly and writes no tags of its own."""
    options = {}
    if muxer in ("mp4", "mov"):
        # Keep the source's time base as the track timescale (the muxer would
        # otherwise double it below 10000), and use it for the movie too: a start
        # offset (first pts > 0) is written as an edit in the movie timescale,
        # which at the default 1/1000 s would move every frame by the rounding.
        # The index goes first for streaming playback.
        options = {
            "video_track_timescale": str(time_base.denominator),
            "movie_timescale": str(time_base.denominator),
            "movflags": "+faststart",
        }
    try:
        out = av.open(str(dst), mode="w", format=muxer, options=options)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot create output: {reason(exc)}") from None
    # No random IDs, dates or "Lavf" writing-application strings.
    out.flags |= av.container.Flags.bitexact.value
    return out


def copy_audio_streams(out, audio: list[Any]) -> dict[int, Any]:
    """Output streams that stream-copy ``audio`` (input streams): input index -> output stream.

    Refuses (``MediaError``) a codec the container cannot hold (``containers.AUDIO_COPY``).
    """
    mapping: dict[int, Any] = {}
    for a in audio:
        name = codec_name(a)
        allowed = AUDIO_COPY[out.format.name]
        if allowed is not None and name not in allowed:
            raise MediaError(
                f"audio codec {name} cannot be stream-copied into {out.format.name} "
                "(drop the audio, or write .mov or .mkv as output_suffix() suggests)"
            )
        try:
            mapping[a.index] = out.add_stream_from_template(a)
        except (av.error.FFmpegError, ValueError) as exc:
            raise MediaError(f"cannot copy audio stream ({name}): {reason(exc)}") from None
    return mapping


class Encoder:
    """The output file: one H.264 stream in coded orientation plus copied audio."""

    def __init__(
        self,
        dst: Path,
        muxer: str,
        source: VideoSource,
        *,
        audio: list[Any],
        crf: float,
        preset: str,
        warnings: list[str],
    ) -> None:
        self.source = source
        self.out = open_output(dst, muxer, source.time_base)
        try:
            self._setup(source, audio=audio, crf=crf, preset=preset, warnings=warnings)
        except BaseException:
            self.abort()
            raise

    def _setup(self, source: VideoSource, *, audio: list[Any], crf: float, preset: str,
               warnings: list[str]) -> None:
        out = self.out
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
        self.audio_map = copy_audio_streams(out, audio)
        self.audio_skipped = 0
        self.reformatter = VideoReformatter()
        try:
            # Opens the encoder and writes the header now, so a muxer that refuses a
            # stream says so here rather than at the first packet.
            out.start_encoding()
        except (av.error.FFmpegError, ValueError) as exc:
            what = "the copied audio" if audio else "the video stream"
            raise MediaError(
                f"{out.format.name} output refuses {what} ({reason(exc)})"
            ) from None

    def encode(self, rgb_display: np.ndarray, pts: int) -> None:
        coded = np.ascontiguousarray(self.source.orientation.to_coded(rgb_display))
        yuv = rgb_to_yuv(
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
            raise MediaError(f"cannot copy audio packet: {reason(exc)}") from None

    def finish(self) -> None:
        for packet in self.video.encode(None):
            self.out.mux(packet)
        self.out.close()

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - the original error is what matters
            pass
