"""One long video across workers: pass 1 and pass 2 per segment, tracking once on the driver.

A video longer than ``Config.segment_seconds`` is cut at key frames
(:func:`veil.media.video.segments.plan_segments`). Then:

1. **Pass 1 per segment**, in parallel (:func:`scan_segment`): detections and
   scene signatures of the segment's frames. With ``scan='full'`` each frame's
   detections depend on that frame only, so they are those of a whole scan;
   motion-aware plans (the default) scan each segment's first frame whole, so
   a segment is never looked at less than in a whole scan. With sparse tiles
   (``tile_every > 1``) pass 1 runs as one task.
2. **Tracking once**, here on the driver, over the whole video's detections
   (:func:`veil.track.scan.link_scan`): tracks, interpolation and padding cross
   segment boundaries exactly as in a run of the whole video, so every frame's
   regions (and masks) are those of such a run.
3. **Pass 2 per segment**, in parallel (:func:`render_segment`): cover, write
   masks, verify what lies in the segment (each track's part in it, see
   :mod:`veil.verify.pieces`), encode the segment; a leaking track is
   re-rendered stronger in the segments it appears in (one escalation path).
4. **Join** by stream copy into the output (atomically), checked for the
   input's frame count and timestamps.

The driver holds detections, regions and verdicts only; a worker holds one
segment's frames at a time. ``submit(fn, *args, key=...)`` runs a task where
the run's files run (this process, ``--jobs`` processes, a Dask cluster) and
returns a future.
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import Config
from ..detections import Detections
from ..errors import VeilError, failure_message
from ..media import file_sha256
from ..media.atomic import TEMP_PREFIX, atomic_folder, atomic_output
from ..media.video.segments import Segment, SegmentMismatch, encode_segment, join_segments, plan_segments, \
    segment_frames
from ..report import FileReport, FileStatus, VideoCover
from .journal import output_digest

__all__ = ["SegmentScan", "SegmentRender", "wants_segments", "scan_segment", "render_segment", "run_segmented",
           "inline_submit"]


def inline_submit(fn, *args, key: str | None = None) -> concurrent.futures.Future:
    """Run a task here, now; its result (or error) in a completed future."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    try:
        future.set_result(fn(*args))
    except Exception as exc:  # noqa: BLE001 - handed to whoever reads the future
        future.set_exception(exc)
    return future


def wants_segments(job, config: Config) -> bool:
    """Whether ``job`` is a video longer than ``config.segment_seconds`` (cheap: header and first frame).

    A file with a person's edits is processed whole: edits name the tracks of the whole video.
    """
    if not config.segment_seconds or getattr(job, "edits", None) is not None:
        return False
    from ..media.sniff import media_kind
    from ..media.video import probe_video

    try:
        if media_kind(job.src) != "video":
            return False
        duration = probe_video(job.src, max_pixels=config.max_pixels).duration
    except VeilError:
        return False  # the whole-file path says what is wrong with it
    return bool(duration and duration > config.segment_seconds)


@dataclass
class SegmentScan:
    """Pass 1 of one segment."""

    raw: list  #: Detections per frame
    signatures: list  #: scene signature per frame
    camera: list = field(default_factory=list)  #: camera motion per frame (plate/text runs)
    repeated: list = field(default_factory=list)  #: frames that took the frame before's detections


@dataclass
class SegmentRender:
    """Pass 2 of one segment."""

    pix_fmt: str
    warnings: list[str] = field(default_factory=list)
    verdicts: dict | None = None  #: track id -> TrackVerdict of the track's part in the segment
    residual: list = field(default_factory=list)
    other_residual: list = field(default_factory=list)  #: plate/text findings (``veil.verify.kinds``)


def scan_segment(src: Path, config: Config, segment: Segment, frame_bytes: int) -> SegmentScan:
    """Task: pass 1 over one segment (detections and scene signatures)."""
    from ..detect import detector_for
    from ..track.scan import detect_frames

    camera: list = []
    repeated: list = []
    raw, signatures = detect_frames(segment_frames(src, segment, max_pixels=config.max_pixels), config,
                                    detector_for(config, single=True), workers=config.cpu_threads,
                                    frame_bytes=frame_bytes, total=segment.frames, camera=camera,
                                    repeated=repeated)
    return SegmentScan(raw, signatures, camera, repeated)


def _segment_rng(config: Config, segment: Segment) -> np.random.Generator:
    # A seeded run draws each segment's noise from the seed and the segment: the same wherever it runs.
    return np.random.default_rng(None if config.seed is None else [config.seed, segment.index])


def render_segment(src: Path, part: Path, config: Config, segment: Segment, regions: list, tracked: list,
                   frames: int, overrides: dict, mask_dir: Path | None) -> SegmentRender:
    """Task: pass 2 over one segment into ``part`` (cover, masks, verification, encode).

    ``regions`` and ``tracked`` hold the segment's frames only; ``frames`` is
    the whole video's frame count (verification sees the segment's frames at
    their places in the whole video).
    """
    from ..pipeline.video import ResidualThreads, render_frame

    rng = _segment_rng(config, segment)
    keys = [d.track_id.tolist() for d in tracked]
    threads = ResidualThreads(config) if config.verify else None
    try:
        checks = other = None
        if threads is not None:
            # The same frames as a whole run checks (by index in the video).
            empty = Detections.empty()
            frames_list = [empty] * segment.start + list(tracked) + [empty] * (frames - segment.stop)
            checks, other = threads.checks(frames_list, config)

        def render(frame):
            j = frame.index - segment.start
            out = render_frame(frame, regions[j], keys[j], config, overrides, rng, mask_dir=mask_dir,
                               checks=checks)
            if other is not None and other.wants(frame.index):
                other.observe(frame.index, out, regions[j].mask(*out.shape[:2]), found=tracked[j],
                              original=frame.rgb)
            return out

        result = encode_segment(src, part, segment, render, crf=config.crf, preset=config.preset,
                                max_pixels=config.max_pixels)
        if checks is None:
            return SegmentRender(result.pix_fmt, result.warnings)
        checks.finish()
        return SegmentRender(result.pix_fmt, result.warnings, checks.verdicts(overrides=overrides),
                             list(checks.residual), other.finish() if other is not None else [])
    finally:
        if threads is not None:
            threads.close()


class _Segmented:
    """The driver's side of one long video."""

    def __init__(self, job, config: Config, submit, plan, info) -> None:
        self.job, self.config, self.submit, self.plan, self.info = job, config, submit, plan, info
        self.token = secrets.token_hex(4)
        self.parts = [job.dst.parent / f"{TEMP_PREFIX}{os.getpid()}-seg{self.token}-{s.index}{job.dst.suffix}"
                      for s in plan.segments]

    def key(self, what: str, k: int) -> str:
        return f"veil-{what}-{self.job.rel.name}-{k}-{self.token}"

    def scan(self):
        from ..track.scan import link_scan

        config, plan = self.config, self.plan
        frame_bytes = self.info.width * self.info.height * 3
        # Sparse tiles decide across frames: pass 1 then runs as one task.
        pieces = (plan.segments if config.tile_every == 1 else
                  [Segment(0, 0, len(plan.pts), plan.pts)])
        futures = [self.submit(scan_segment, self.job.src, config, s, frame_bytes, key=self.key("scan", s.index))
                   for s in pieces]
        raw, signatures, camera, repeated = [], [], [], []
        for future in futures:
            part = future.result()
            raw.extend(part.raw)
            signatures.extend(part.signatures)
            camera.extend(part.camera or [None] * len(part.raw))  # each segment starts a new camera path
            repeated.extend(part.repeated)
        return link_scan(self.info, raw, signatures, config, camera=camera, repeated=repeated)

    def render(self, scan, regions, overrides: dict, segments, mask_dir, renders: dict) -> None:
        n = len(self.plan.pts)
        futures = {}
        for s in segments:
            tracks = {t for d in scan.tracked.frames[s.start:s.stop] for t in d.track_id.tolist() if t >= 0}
            mine = {t: c for t, c in overrides.items() if t in tracks}
            futures[s.index] = self.submit(render_segment, self.job.src, self.parts[s.index], self.config, s,
                                           regions[s.start:s.stop], scan.tracked.frames[s.start:s.stop], n, mine,
                                           mask_dir, key=self.key("render", s.index))
        for k, future in futures.items():
            renders[k] = future.result()

    def verify(self, scan, regions, renders: dict):
        """The video's verification record, escalating leaking tracks in the segments they appear in."""
        from ..verify import VerificationRecord
        from ..verify.escalate import escalate
        from ..verify.pieces import merge_track_verdicts

        def merged() -> dict:
            by_track = defaultdict(list)
            for k in sorted(renders):
                for t, v in renders[k].verdicts.items():
                    by_track[t].append(v)
            return {t: merge_track_verdicts(v) for t, v in by_track.items()}

        def rerender(overrides: dict) -> dict:
            touched = [s for s in self.plan.segments
                       if any(t in overrides for d in scan.tracked.frames[s.start:s.stop] for t in d.track_id.tolist())]
            self.render(scan, regions, overrides, touched, None, renders)
            return merged()

        result = escalate(self.config, merged(), rerender)
        order = sorted(result.verdicts)
        residual = tuple(r for k in sorted(renders) for r in renders[k].residual)
        record = VerificationRecord(tuple(result.verdicts[t] for t in order), residual,
                                    escalations={i: tuple(result.steps[t]) for i, t in enumerate(order)
                                                 if t in result.steps})
        if not self.config.other_kinds:
            return record
        from ..verify.kinds import with_findings

        return with_findings(record, [r for k in sorted(renders) for r in renders[k].other_residual], self.config)

    def cleanup(self) -> None:
        for part in self.parts:
            part.unlink(missing_ok=True)


def run_segmented(job, config: Config, submit: Callable, *, whole: Callable[[], object],
                  progress: Callable[[int, int | None], None] | None = None):
    """Anonymize one long video in segments; returns ``(FileReport, (output size, SHA-256))``.

    Parameters
    ----------
    submit : callable(fn, *args, key=str) -> future
        Runs a task where the run's work runs.
    whole : callable() -> (FileReport, digest)
        Processes the file whole: for a video that cannot be split (too short,
        no key frames where needed, or segments that would not decode to its frames).
    """
    from ..anonymize import reversible_warning
    from ..media.video import probe_video
    from ..pipeline.video import covered_in, media_facts, removed_metadata
    from ..region import regions_for

    report = FileReport(input=str(job.src), output=None, kind="video", rel=str(job.rel))
    started = time.perf_counter()
    segmented = None
    try:
        plan = plan_segments(job.src, seconds=config.segment_seconds, max_pixels=config.max_pixels)
        if plan is None:
            return whole()
        info = probe_video(job.src, max_pixels=config.max_pixels)
        segmented = _Segmented(job, config, submit, plan, info)
        sha = submit(file_sha256, job.src, key=segmented.key("sha256", 0))
        scan = segmented.scan()
        t1 = time.perf_counter()
        if progress:
            progress(len(plan.pts), 2 * len(plan.pts))
        regions = [regions_for(d, config) for d in scan.tracked.frames]
        renders: dict = {}
        with atomic_output(job.dst) as tmp, _mask_folder(job.mask) as mask_dir:
            segmented.render(scan, regions, {}, plan.segments, mask_dir, renders)
            if config.verify:
                report.verification = segmented.verify(scan, regions, renders)
            joined = join_segments(job.src, segmented.parts, tmp, pts=list(plan.pts),
                                   pix_fmt=renders[0].pix_fmt, audio=config.audio.value,
                                   max_pixels=config.max_pixels)
        report.input_sha256 = sha.result()
        if config.reversible:
            report.warnings.append(reversible_warning(config))
        report.warnings.extend(dict.fromkeys(w for k in sorted(renders) for w in renders[k].warnings))
        report.warnings.extend(w for w in joined.warnings if w not in report.warnings)
        tracks = list(scan.tracked.tracks)
        report.faces, report.covered = covered_in(scan.tracked, config)
        report.cover = VideoCover(config.region_shape, regions, tracks, scan.cuts, found=scan.tracked.frames,
                                  repeated=list(scan.repeated))
        report.media = media_facts(info)
        report.media.update(frames=len(plan.pts), audio_kept=bool(joined.audio_kept), segments=len(plan.segments))
        report.metadata_removed = removed_metadata(info, config)
        report.output = str(job.dst)
        report.status = FileStatus.OK
        t3 = time.perf_counter()
        report.timings.update(detect_track=round(t1 - started, 3), render_encode_verify=round(t3 - t1, 3),
                              fps=round(len(plan.pts) / max(t3 - started, 1e-9), 2))
    except SegmentMismatch as exc:
        result = whole()
        result[0].warnings.append(f"not split into segments ({exc}); processed whole")
        return result
    except Exception as exc:  # noqa: BLE001 - fail closed on anything, one line
        report.fail(failure_message(exc))
    finally:
        if segmented is not None:
            segmented.cleanup()
    report.timings["total"] = round(time.perf_counter() - started, 3)
    report.rel = str(job.rel)
    if report.ok and job.out_rel is not None:
        report.output_rel = str(job.out_rel)
    return report, output_digest(report, job)


class _NoFolder:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _mask_folder(mask: Path | None):
    return atomic_folder(mask) if mask is not None else _NoFolder()
