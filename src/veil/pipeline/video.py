"""One video in two passes: pass 1 finds and tracks (``veil.track.scan``), pass 2 covers and encodes.

Pass 2 decodes again, covers every frame's regions and encodes; verification
collects what it needs while frames go by, and the residual-face check runs on
a thread of its own beside decoding and encoding. In blur/pixelate mode a
leaking track is re-rendered stronger, re-encoding the whole video each round,
so the verdicts always describe the file that is written.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import time
from pathlib import Path

from ..anonymize import cover
from ..config import Config
from ..detect import OnPool, detector_for
from ..errors import MediaError
from ..media.atomic import atomic_folder, atomic_output
from ..region import regions_for
from ..report import FileReport, VideoCover
from ..track.scan import VideoScan, scan_video
from .masks import record_edits, write_mask

__all__ = ["process_video", "render_frame", "ResidualThreads", "media_facts", "removed_metadata", "covered_in"]


def process_video(src: Path, dst: Path, config: Config, detector, report: FileReport, mask_dir: Path | None,
                  progress, *, own_detector: bool = False, edits=None) -> None:
    """Anonymize the video ``src`` into ``dst`` (atomically) and fill in ``report``.

    Parameters
    ----------
    own_detector : bool, keyword-only
        ``detector`` is veil's own: pass 1 then detects several frames at once,
        each on one thread (see :func:`veil.detect.detector_for`).
    edits : veil.edits.FileEdits, optional, keyword-only
        A person's edits, applied to the tracked boxes before regions are made.
    """
    t0 = time.perf_counter()
    workers = config.cpu_threads if own_detector else 1
    scan = scan_video(src, config, detector_for(config, single=True) if own_detector else detector, progress,
                      workers=workers)
    report.media = media_facts(scan.info)
    report.metadata_removed = removed_metadata(scan.info, config)
    found, applied = scan.tracked.frames, None
    if edits is not None:  # a person's edits (veil review), on the tracked boxes
        from ..edits import apply_edits

        applied = apply_edits(found, edits, region_shape=config.region_shape)
        scan = dataclasses.replace(scan, tracked=dataclasses.replace(scan.tracked, frames=applied.frames))
    t1 = time.perf_counter()
    regions = [regions_for(d, config) for d in scan.tracked.frames]
    second = _SecondPass(src, config, scan, regions, progress)
    t_verify = 0.0
    try:
        with atomic_output(dst) as tmp, contextlib.ExitStack() as masks:
            # The masks' folder is swapped in just before the video is renamed.
            second.mask_dir = masks.enter_context(atomic_folder(mask_dir)) if mask_dir is not None else None
            checks = second.render(tmp, {})
            if checks is not None:
                tv = time.perf_counter()
                report.verification = _verify(second, tmp, checks, config)
                t_verify = time.perf_counter() - tv
    finally:
        second.close()
    t3 = time.perf_counter()
    result = second.result
    report.warnings.extend(result.warnings)
    frames = scan.frames
    report.faces, report.covered = covered_in(scan.tracked, config)
    report.cover = VideoCover(config.region_shape, regions, list(scan.tracked.tracks), scan.cuts, found=found,
                              repeated=list(scan.repeated))
    if applied is not None:
        record_edits(report, applied, (scan.info.height, scan.info.width), config)
    report.media["frames"] = frames
    report.media["audio_kept"] = bool(result.audio_kept)
    report.timings.update(detect_track=round(t1 - t0, 3), render_encode_verify=round(t3 - t1, 3),
                          verify=round(t_verify, 3), fps=round(frames / max(t3 - t0, 1e-9), 2))


class ResidualThreads:
    """Where a render's residual checks run (one per render of a video or of a segment).

    The checks (veil's detectors on sampled output frames) run on a thread of
    their own beside decoding and encoding, each check's network calls side by
    side on one thread per core: once encoding ends, the last checked frames
    would otherwise have one core to themselves (a tenth of a 4K run).
    """

    def __init__(self, config: Config) -> None:
        self.side = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="veil-residual")
        self.tiles = (concurrent.futures.ThreadPoolExecutor(config.cpu_threads, thread_name_prefix="veil-tiles")
                      if config.cpu_threads > 1 else None)

    def checks(self, frames: list, config: Config) -> tuple:
        """The face checks (:class:`~veil.verify.video.VideoChecks`) of a render whose tracked
        boxes are ``frames`` (one per video frame), and the plate/text checks (None without
        ``--cover plates/text``)."""
        from ..verify.kinds import OtherKindsChecks
        from ..verify.video import VideoChecks

        # The residual check is a second opinion: veil's own detector at its default settings, whatever
        # found the faces (a --threshold or --min-face must not hide the faces it leaves uncovered).
        faces = VideoChecks(frames, config, OnPool(detector_for(config.residual_detection, single=True), self.tiles),
                            pool=self.side)
        other = (OtherKindsChecks(config, every=config.residual_every, pool=self.side, tile_pool=self.tiles)
                 if config.other_kinds else None)
        return faces, other

    def close(self) -> None:
        for pool in (self.side, self.tiles):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


class _SecondPass:
    """Pass 2: decode, cover, encode; optionally masks and the verification's collection."""

    def __init__(self, src: Path, config: Config, scan: VideoScan, regions: list, progress) -> None:
        self.src, self.config, self.scan, self.regions, self.progress = src, config, scan, regions, progress
        self.keys = [d.track_id.tolist() for d in scan.tracked.frames]
        self.mask_dir: Path | None = None
        self.result = None
        self.other_checks = None  # plates/text residual check (verify.kinds), per render
        self.threads = ResidualThreads(config) if config.verify else None

    def close(self) -> None:
        if self.threads is not None:
            self.threads.close()

    def render(self, tmp: Path, overrides: dict):
        """Encode the whole video into ``tmp`` with per-track ``overrides``; returns the checks (or None)."""
        from ..media.video import transcode

        config, regions, n = self.config, self.regions, self.scan.frames
        rng = config.rng()
        checks, self.other_checks = (self.threads.checks(self.scan.tracked.frames, config)
                                     if self.threads is not None else (None, None))
        rendered = 0

        def render(frame):
            nonlocal rendered
            i = frame.index
            if i >= len(regions):
                raise MediaError(f"frame {i} appeared on the second decode only; refusing")
            out = render_frame(frame, regions[i], self.keys[i], config, overrides, rng,
                               mask_dir=self.mask_dir, checks=checks)
            if self.other_checks is not None and self.other_checks.wants(i):
                self.other_checks.observe(i, out, regions[i].mask(*out.shape[:2]), found=self.scan.tracked.frames[i],
                                         original=frame.rgb)
            rendered += 1
            if self.progress:
                self.progress(n + rendered, n * 2)
            return out

        result = transcode(self.src, tmp, render, audio=config.audio.value, crf=config.crf,
                           preset=config.preset, max_pixels=config.max_pixels)
        if checks is not None:
            checks.finish()
        if result.frames != n or rendered != n:
            raise MediaError(f"decoded {n} frames but wrote {result.frames}; refusing")
        self.result = result
        return checks


def render_frame(frame, regions, keys: list, config: Config, overrides: dict, rng, *,
                 mask_dir: Path | None = None, checks=None):
    """Pass 2 on one frame: cover its regions (stronger where ``overrides`` say), write its mask,
    show it to the verification; returns the picture to encode.

    Parameters
    ----------
    frame : veil.media.video.Frame
    regions : Regions
        The frame's regions; ``keys`` their track ids (for ``overrides``).
    overrides : dict
        Track id -> stronger ``Config`` (escalation); empty for the first render.
    mask_dir : Path, optional, keyword-only
        Where the frame's mask goes, as ``<frame index>.png``.
    checks : veil.verify.video.VideoChecks, optional, keyword-only
    """
    from ..verify.video import render_with_overrides

    i = frame.index
    mask = None
    if mask_dir is not None or checks is not None:
        mask = regions.mask(*frame.rgb.shape[:2])
    if overrides:
        out = render_with_overrides(frame.rgb, regions, keys, config, overrides, rng)
    else:
        out = cover(frame.rgb, regions, config, rng, mask=mask)
    if mask_dir is not None:
        write_mask(mask_dir / f"{i}.png", mask)
    if checks is not None:
        checks.observe(i, frame.rgb, out, mask)
    return out


def _verify(second: _SecondPass, tmp: Path, checks, config: Config):
    """The verification record of the written video, after escalating leaking tracks."""
    from ..verify import VerificationRecord
    from ..verify.escalate import escalate

    last = {"checks": checks}

    def rerender(overrides: dict) -> dict:
        last["checks"] = second.render(tmp, overrides)
        return last["checks"].verdicts(overrides=overrides)

    result = escalate(config, checks.verdicts(), rerender)
    order = sorted(result.verdicts)
    record = VerificationRecord(tuple(result.verdicts[t] for t in order), tuple(last["checks"].residual),
                                escalations={i: tuple(result.steps[t]) for i, t in enumerate(order)
                                             if t in result.steps})
    if second.other_checks is None:
        return record
    from ..verify.kinds import with_findings

    return with_findings(record, second.other_checks.finish(), config)


def media_facts(info) -> dict:
    """The report's ``media`` of a video: :class:`VideoInfo` less its tags."""
    # The tags hold what veil strips (place, names, serials, times): never in a report.
    media = info.to_dict()
    media.pop("tags", None)
    return media


def removed_metadata(info, config: Config) -> list[dict]:
    """The report's ``metadata_removed`` of a video (kinds and counts only)."""
    from ..media.metadata import removed_summary
    from ..media.video.tags import video_metadata

    # The display orientation is kept (the output turns the same way).
    findings = [f for f in video_metadata(info)["findings"] if f["field"] != "display rotation"]
    return removed_summary(findings, audio_kept=config.audio.value == "keep")


def covered_in(tracked, config: Config) -> tuple[int, dict]:
    """A video's faces covered (tracks and untracked boxes) and its :func:`~veil.report.covered_counts`."""
    from ..detections import Kind
    from ..report import covered_counts

    kinds = [int(t.kind) for t in tracked.tracks] + [int(k) for d in tracked.frames for k in d.kind[d.track_id < 0]]
    return kinds.count(int(Kind.FACE)), covered_counts(kinds, config)
