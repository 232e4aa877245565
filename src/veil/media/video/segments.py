"""One long video in segments: split at key frames, decode and encode a segment, join by stream copy.

* :func:`plan_segments` reads the video's packets (no decoding) and cuts the
  timeline at key frames about every ``seconds``; every frame's timestamp is
  known up front, so each segment knows exactly which frames are its own.
* :func:`segment_frames` decodes one segment from its key frame: the frames,
  their indices in the whole video and their pixels are those a decode of
  the whole file gives (checked frame by frame: a stream where they would not
  be raises :class:`SegmentMismatch`, and the caller processes it whole).
* :func:`encode_segment` encodes a segment as its own H.264 stream, in the
  output's container: every segment starts with an IDR frame, and since every
  segment's encoder is opened with the same settings, the sequence and
  picture parameter sets are the same (checked at the join).
* :func:`join_segments` stream-copies the segments into one file (the decode
  timestamps recomputed for the whole stream, kept audio copied from the
  source and interleaved) and checks it as :func:`~veil.media.video.transcode`
  checks its output: the input's frame count and every timestamp, exactly.

The x264 rate control starts afresh at each segment (an IDR frame at every
boundary, about ``seconds`` apart); ``bench/scale.py`` measures the quality at
the seams.
"""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import av.error
import numpy as np

from ...errors import MediaError, UsageError
from .base import Frame, TranscodeResult, reason
from .containers import MUXER
from .encode import Encoder, copy_audio_streams, open_output
from .read import RGBConverter, VideoSource
from .write import X264_PRESETS, check_output

__all__ = ["Segment", "SegmentPlan", "SegmentMismatch", "plan_segments", "segment_frames", "encode_segment",
           "join_segments", "SegmentResult"]


class SegmentMismatch(MediaError):
    """A segment decodes to other frames than its part of the whole video: split it no more."""


@dataclass(frozen=True)
class Segment:
    """Frames ``start..stop-1`` of a video (indices in presentation order), from one key frame."""

    index: int
    start: int
    stop: int
    pts: tuple[int, ...]  #: the segment's frames' timestamps, in order

    @property
    def frames(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class SegmentPlan:
    """A video's frames and its segments."""

    time_base: Fraction
    pts: tuple[int, ...]  #: every frame's timestamp, presentation order
    segments: tuple[Segment, ...]


def _packets(path: Path, max_pixels: int) -> tuple[Fraction, list[tuple[int, bool]]]:
    """(time base, [(pts, key frame)] of the video packets in file order)."""
    source = VideoSource(path, max_pixels=max_pixels)
    try:
        tb = source.time_base
        found = []
        source.container.seek(0, stream=source.video, backward=True, any_frame=False)
        for packet in source.container.demux(source.video):
            if packet.size == 0:
                continue
            if packet.pts is None:
                return tb, []
            found.append((int(packet.pts), bool(packet.is_keyframe)))
        return tb, found
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read the video's packets: {reason(exc)}") from None
    finally:
        source.close()


def plan_segments(path: str | os.PathLike, *, seconds: float, max_pixels: int) -> SegmentPlan | None:
    """Cut a video at the first key frame after every ``seconds`` (its last segment at least half as long).

    Returns None when the video is not longer than ``seconds``, has fewer than
    two such key frames, or has packets without or with repeated timestamps
    (it is then processed whole).
    """
    if seconds <= 0:
        raise UsageError("segment length must be positive")
    tb, packets = _packets(Path(path), max_pixels)
    pts = sorted(p for p, _ in packets)
    if len(pts) < 2 or len(set(pts)) != len(pts):
        return None
    step = Fraction(seconds) / tb  # in time-base ticks
    first, last = pts[0], pts[-1]
    keys = sorted(p for p, key in packets if key)
    cuts: list[int] = []
    target = first + step
    for k in keys:
        if k >= target and last - k >= step / 2:
            cuts.append(k)
            target = k + step
    if not cuts:
        return None
    position = {p: i for i, p in enumerate(pts)}
    bounds = [0, *(position[c] for c in cuts), len(pts)]
    segments = tuple(Segment(i, a, b, tuple(pts[a:b])) for i, (a, b) in enumerate(zip(bounds, bounds[1:])))
    return SegmentPlan(tb, tuple(pts), segments)


def segment_frames(path: str | os.PathLike, segment: Segment, *, max_pixels: int) -> Iterator[Frame]:
    """The segment's frames, upright RGB, with their indices and timestamps in the whole video.

    Raises
    ------
    SegmentMismatch
        The decode from the key frame does not give exactly the planned frames.
    MediaError
        A decode error (naming the frame).
    """
    source = VideoSource(path, max_pixels=max_pixels)
    try:
        convert = RGBConverter(source)
        raw = source.raw_frames() if segment.start == 0 else source.frames_from(segment.pts[0])
        want = segment.pts
        n = 0
        for frame in raw:
            pts = frame.pts
            if pts is None:
                raise SegmentMismatch("a frame without a timestamp")
            if pts < want[0]:
                continue  # decoded from the key frame on, before the segment starts
            if n == len(want):
                break
            if pts != want[n]:
                raise SegmentMismatch(f"frame {segment.start + n} decodes at {pts}, not at {want[n]}")
            index = segment.start + n
            yield Frame(index, pts, source.time_base, convert(frame, index), bool(frame.key_frame))
            n += 1
        if n != len(want):
            raise SegmentMismatch(f"segment {segment.index} decodes to {n} frames, not {len(want)}")
    finally:
        source.close()


@dataclass
class SegmentResult:
    """What :func:`encode_segment` wrote."""

    frames: int
    pix_fmt: str
    warnings: list[str] = field(default_factory=list)


def encode_segment(src: str | os.PathLike, dst: str | os.PathLike, segment: Segment,
                   render: Callable[[Frame], np.ndarray], *, crf: float, preset: str,
                   max_pixels: int) -> SegmentResult:
    """Decode ``segment`` of ``src``, pass each frame through ``render``, encode it to ``dst`` (no audio).

    ``dst``'s suffix picks the container (that of the joined output). ``dst`` is
    checked like every output (frame count, timestamps, size, orientation).
    """
    dst = Path(dst)
    if dst.suffix.lower() not in MUXER:
        raise UsageError(f"segment suffix {dst.suffix!r} is not a video output suffix")
    if preset not in X264_PRESETS:
        raise UsageError(f"preset must be one of {', '.join(X264_PRESETS)}, not {preset!r}")
    source = VideoSource(src, max_pixels=max_pixels)
    warnings: list[str] = []
    try:
        warnings.extend(source.conversion_warnings())
        encoder = Encoder(dst, MUXER[dst.suffix.lower()], source, audio=[], crf=crf, preset=preset,
                          warnings=warnings)
        try:
            shape = (source.height, source.width, 3)
            for frame in segment_frames(src, segment, max_pixels=max_pixels):
                out = render(frame)
                if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.uint8:
                    raise ValueError(f"render returned a wrong picture for frame {frame.index}")
                try:
                    encoder.encode(out, frame.pts)
                except av.error.FFmpegError as exc:
                    raise MediaError(f"encode error at frame {frame.index}: {reason(exc)}") from None
            encoder.finish()
        except BaseException:
            encoder.abort()
            raise
        check_output(dst, source, list(segment.pts), n_audio=0, pix_fmt=encoder.pix_fmt, warnings=warnings)
    finally:
        source.close()
    return SegmentResult(segment.frames, encoder.pix_fmt, warnings)


def _decode_order(part: Path) -> tuple[object, list[int]]:
    """(extradata, pts of the video packets in decode order) of one encoded segment."""
    with av.open(str(part)) as c:
        v = c.streams.video[0]
        tb = Fraction(v.time_base)
        extradata = bytes(v.codec_context.extradata or b"")
        return extradata, [p.pts * tb for p in c.demux(v) if p.size]


def _decode_timestamps(order: list[Fraction], tb: Fraction) -> list[int]:
    """Decode timestamps for a stream whose packets, in decode order, present at ``order``.

    ``dts[i]`` is the ``i - d``-th presentation time, ``d`` the deepest reordering
    (so ``dts <= pts`` and strictly increasing); the first ``d`` go one tick apart before it.
    """
    ticks = [t / tb for t in order]
    if any(t.denominator != 1 for t in ticks):
        raise MediaError("segment timestamps do not fall on the source's time base")
    ticks = [int(t) for t in ticks]
    rank = {t: i for i, t in enumerate(sorted(ticks))}
    depth = max(0, max(i - rank[t] for i, t in enumerate(ticks)))
    ordered = sorted(ticks)
    return [ordered[i - depth] if i >= depth else ordered[0] - (depth - i) for i in range(len(ticks))]


def _video_packets(parts: list[Path], dts: list[int], tb: Fraction) -> Iterator[tuple[Fraction, av.Packet]]:
    i = 0
    for part in parts:
        with av.open(str(part)) as c:
            v = c.streams.video[0]
            ptb = Fraction(v.time_base)
            for packet in c.demux(v):
                if not packet.size:
                    continue
                pts = packet.pts * ptb / tb
                packet.pts, packet.dts = int(pts), dts[i]
                packet.time_base = tb
                yield dts[i] * tb, packet
                i += 1


def _audio_packets(source: VideoSource) -> Iterator[tuple[Fraction, av.Packet]]:
    for packet in source.container.demux(source.audio):
        if not packet.size:
            continue
        t = packet.dts if packet.dts is not None else packet.pts
        yield (t * Fraction(packet.time_base) if t is not None else Fraction(0)), packet


def join_segments(src: str | os.PathLike, parts: list[Path], dst: str | os.PathLike, *, pts: list[int],
                  pix_fmt: str, audio: str = "drop", max_pixels: int) -> TranscodeResult:
    """Join encoded segments of ``src`` into ``dst`` by stream copy, and check it whole.

    Parameters
    ----------
    parts : list of Path
        :func:`encode_segment` outputs, in order.
    pts : list of int
        Every frame's timestamp (:attr:`SegmentPlan.pts`): what the joined file must carry.
    audio : {'drop', 'keep'}
        ``keep`` copies the source's audio streams, interleaved by time.

    Raises
    ------
    MediaError
        Segments with different parameter sets, or a joined file that fails the output check.
    """
    dst = Path(dst)
    source = VideoSource(src, max_pixels=max_pixels, keep_audio=audio == "keep")
    warnings: list[str] = []
    try:
        tb = source.time_base
        extradata, order = None, []
        for part in parts:
            extra, part_order = _decode_order(part)
            if extradata is not None and extra != extradata:
                raise MediaError("segments were encoded with different parameter sets; refusing to join")
            extradata = extra
            order.extend(part_order)
        dts = _decode_timestamps(order, tb)
        out = open_output(dst, MUXER[dst.suffix.lower()], tb)
        try:
            with av.open(str(parts[0])) as first:
                video = out.add_stream_from_template(first.streams.video[0])
            video.time_base = tb
            if source.orientation.matrix is not None:
                video.set_display_matrix(source.orientation.matrix)
            keep = list(source.audio) if audio == "keep" else []
            audio_map = copy_audio_streams(out, keep)
            streams = [_video_packets(parts, dts, tb)]
            if keep:
                source.container.seek(0)
                streams.append(_audio_packets(source))
            for _, packet in heapq.merge(*streams, key=lambda item: item[0]):
                packet.stream = video if packet.stream.type == "video" else audio_map[packet.stream_index]
                out.mux(packet)
            out.close()
        except av.error.FFmpegError as exc:
            out.close()
            raise MediaError(f"cannot join the segments: {reason(exc)}") from None
        except BaseException:
            out.close()
            raise
        check_output(dst, source, list(pts), n_audio=len(keep), pix_fmt=pix_fmt, warnings=warnings)
    finally:
        source.close()
    return TranscodeResult(frames=len(pts), time_base=tb, pts=tuple(pts), width=source.width,
                           height=source.height, rotation=source.orientation.rotation, pix_fmt=pix_fmt,
                           container=MUXER[dst.suffix.lower()], audio_kept=bool(keep), audio_streams=len(keep),
                           warnings=tuple(warnings))
