"""The pipeline: compose the stages for one picture, one file, or a run.

``anonymize_image`` works on an array; ``anonymize_file`` reads a photo or
video, anonymizes every face on every frame, writes the output atomically and
returns a :class:`~veil.report.FileReport`. ``plan_run`` and ``run_file`` are
what the CLI uses for many files.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .anonymize import REVERSIBLE_WARNING, cover
from .config import Config
from .detections import Detections, Source
from .errors import MediaError, UnsupportedMediaError, VeilError
from .media import file_sha256
from .media.atomic import TEMP_PREFIX, atomic_output
from .region import Regions, head_regions
from .report import FileReport

__all__ = ["anonymize_image", "anonymize_file", "Job", "plan_run", "run_file"]


# -- stage helpers ------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _cached_detector(key: tuple, threads: int):
    from .detect import default_detector

    return default_detector(Config(**dict(key)), threads=threads)


def _detector_for(config: Config, *, single: bool = False):
    """veil's detector for ``config``.

    Each network call runs on ``config.threads`` onnxruntime threads (0: all
    usable CPUs), or with ``single=True`` on one thread, for a caller that
    runs several calls at once: on two cores two single-threaded calls side by
    side do 1.3x the work of one two-threaded call (video frames). Within one
    photo, passes side by side on single threads were measured slower than one
    after the other on two (bench/RESULTS.md).
    """
    # Only the fields that shape detection pick the cached detector.
    fields = ("threshold", "detect_scale", "tiles", "min_face")  # tile_every is the video loop's
    threads = 1 if single else cpu_budget(config)
    return _cached_detector(tuple((f, getattr(config, f)) for f in fields), threads)


def cpu_budget(config: Config) -> int:
    """CPU threads detection may use: ``config.threads``, or every usable CPU for 0."""
    return config.threads or usable_cpus()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _filter(dets: Detections, config: Config) -> Detections:
    keep = (dets.scores >= config.threshold)
    if config.min_face > 0:
        keep &= np.maximum(dets.widths, dets.heights) >= config.min_face
    return dets if keep.all() else dets[keep]


def _regions(dets: Detections, config: Config) -> Regions:
    return head_regions(dets, scale=config.region_scale, shape=config.region_shape)


def _rng(config: Config) -> np.random.Generator:
    return np.random.default_rng(config.seed)


# -- public verbs -------------------------------------------------------------
def anonymize_image(pixels: np.ndarray, config: Config | None = None, *,
                    detector=None) -> tuple[np.ndarray, Regions]:
    """Find every face in a picture and cover it.

    Parameters
    ----------
    pixels : (H, W), (H, W, 3) or (H, W, 4) ndarray of uint8 or uint16
        Picture, upright, RGB(A) or grey. Not modified.
    config : Config, optional
        Settings; ``Config()`` (fill, privacy-first defaults) when omitted.
    detector : FaceDetector, optional, keyword-only
        Anything with ``detect(rgb) -> Detections``; veil's default otherwise.

    Returns
    -------
    anonymized : ndarray
        Same shape and dtype as ``pixels``.
    regions : Regions
        The head regions that were covered.
    """
    from .media.image import to_rgb8

    config = config or Config()
    detector = detector or _detector_for(config)
    dets = _filter(detector.detect(to_rgb8(pixels)), config)
    regions = _regions(dets, config)
    return cover(pixels, regions, config, _rng(config)), regions


def anonymize_file(src: str | os.PathLike, dst: str | os.PathLike, config: Config | None = None, *,
                   detector=None, mask_dir: str | os.PathLike | None = None,
                   progress: Callable[[int, int | None], None] | None = None, edits=None) -> FileReport:
    """Anonymize one photo or video into ``dst``, atomically.

    Parameters
    ----------
    src : path
        Input file. Never modified.
    dst : path
        Output file; must not resolve to ``src``. Written through a temporary
        file that is renamed on success and removed on any error.
    config : Config, optional
    detector : FaceDetector, optional, keyword-only
    mask_dir : path, optional, keyword-only
        Where to write PNG masks: ``<mask_dir>.png`` for a photo, one
        ``<mask_dir>/<frame>.png`` per frame for a video.
    progress : callable(done, total), optional, keyword-only
        Called with frames done (total may be None).
    edits : veil.edits.FileEdits, optional, keyword-only
        A person's edits of this very file (its SHA-256 is checked), applied
        to what the run finds before anything is covered (see docs/EDITS.md).

    Returns
    -------
    FileReport
        ``status`` is ``"ok"`` or ``"failed"`` with a one-line ``error``; a
        failed file leaves no output.
    """
    from .media.sniff import media_kind

    config = config or Config()
    src, dst = Path(src), Path(dst)
    report = FileReport(input=str(src), output=None, kind="unknown")
    started = time.perf_counter()
    try:
        if not src.is_file():
            raise MediaError("no such file" if not src.exists() else "not a regular file")
        if dst.resolve() == src.resolve():
            raise VeilError("output path is the input itself; choose another output folder")
        report.input_sha256 = file_sha256(src)
        if edits is not None and edits.input_sha256 != report.input_sha256:
            raise VeilError("the edits were made for another file (SHA-256 differs); refusing to apply them")
        kind = media_kind(src)
        if kind is None:
            raise UnsupportedMediaError("not a photo or video veil can read")
        report.kind = kind
        own_detector = detector is None  # veil's own is safe to call from several threads
        detector = detector or _detector_for(config)
        if config.reversible:
            report.warnings.append(REVERSIBLE_WARNING.format(mode=config.mode.value))
        if kind == "image":
            _image_file(src, dst, config, detector, report, mask_dir, edits)
        else:
            _video_file(src, dst, config, detector, report, mask_dir, progress, own_detector=own_detector,
                        edits=edits)
        report.output = str(dst)
        report.status = "ok"
    except VeilError as exc:
        report.fail(str(exc))
    except MemoryError:
        report.fail("out of memory")
    except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected, one line
        report.fail(f"internal error: {type(exc).__name__}: {exc}")
    report.timings["total"] = round(time.perf_counter() - started, 3)
    return report


# -- photos -------------------------------------------------------------------
def _image_file(src: Path, dst: Path, config: Config, detector, report: FileReport, mask_dir, edits=None):
    from .media.image import output_format, read_image, to_rgb8, write_image

    t0 = time.perf_counter()
    picture = read_image(src, max_pixels=config.max_pixels)
    report.media = dict(picture.facts, format=picture.format)
    t1 = time.perf_counter()
    found = dets = _filter(detector.detect(to_rgb8(picture.pixels)), config)
    applied = None
    if edits is not None:  # a person's edits (veil review): drawn regions come last
        from .edits import apply_edits

        applied = apply_edits([found], edits, region_shape=config.region_shape)
        dets = applied.frames[0]
    t2 = time.perf_counter()
    regions = _regions(dets, config)
    rng = _rng(config)
    out = cover(picture.pixels, regions, config, rng)
    t_cover = time.perf_counter()
    if config.verify:
        # Before writing: a leaking face in blur/pixelate is re-rendered stronger.
        from .verify.stage import verify_picture

        # Drawn regions are covered, not measured: the verdicts are the found faces'.
        out, report.verification = verify_picture(picture.pixels, out, dets[dets.source != Source.MANUAL],
                                                  regions, config, _detector_for(config), rng=rng)
        report.timings["verify"] = round(time.perf_counter() - t_cover, 3)
    t_write = time.perf_counter()
    with atomic_output(dst) as tmp:
        write_image(tmp, out, format=output_format(picture.format))
        if mask_dir is not None:
            _write_mask(Path(str(mask_dir) + ".png"), regions.mask(*out.shape[:2]))
    t3 = time.perf_counter()
    report.faces = len(dets)
    report.regions = {"shape": regions.shape.value, "boxes": regions.to_records(),
                      "detections": found.to_records()}  # what the detector found, before any edit
    if applied is not None:
        _record_edits(report, applied, picture.pixels.shape[:2], config)
    report.timings.update(read=round(t1 - t0, 3), detect=round(t2 - t1, 3), write=round(t3 - t_write, 3))


def _write_mask(path: Path, mask: np.ndarray) -> None:
    import cv2

    with atomic_output(path) as tmp:
        ok, data = cv2.imencode(".png", mask.astype(np.uint8) * 255)
        if not ok:
            raise MediaError(f"could not encode mask {path.name}")
        tmp.write_bytes(data.tobytes())


# -- video --------------------------------------------------------------------
# A frame-to-frame signature change above this (a cut, a flash, a fast pan)
# runs the tiles on that frame too; lower than the cut detector's own bar.
_SHOT_CHANGE_HINT = 0.1
# With tile_every > 1, frames are decided in chunks (see detect_and_track):
# at most this many frames or bytes of decoded pictures per chunk.
_CHUNK_FRAMES = 16
_CHUNK_BYTES = 32 << 20


@dataclass
class _Frame:
    """One frame of pass 1 in flight: its first look and what a second one needs."""

    rgb: np.ndarray | None  # kept for a second look: frames whose first look skipped the tiles
    look: concurrent.futures.Future  # -> (merged, passes or None, tiles found small faces), then the second look


def detect_and_track(src: Path, config: Config, detector, progress=None, *, workers: int = 1):
    """Pass 1 over a video: detect on every frame, find cuts, link tracks.

    With ``config.tile_every`` N > 1 (and a multi-scale detector) the tiles,
    which find small faces, run at first on every N-th frame and at shot
    changes only; the whole-frame passes run on every frame. Frames are then
    decided in chunks (16 frames, fewer where 16 would exceed 32 MB of
    pictures: 5 at 1080p): where the tiles found a small face that only they
    see (``MultiScaleDetector.tiles_only_small``) in a chunk or in a chunk
    either side, the chunk's frames that skipped the tiles get them after all.
    So the tiles run on every frame where such faces are about. A tiny face
    the tiles find on skipped frames only is still lost (bench/RESULTS.md).

    Parameters
    ----------
    src : Path
    config : Config
    detector : FaceDetector
        Called from ``workers`` threads at once when ``workers > 1``.
    progress : callable(done, total), optional
    workers : int, keyword-only
        Frames detected at once. Decoding stays on the calling thread; the
        results, and so the tracks, do not depend on it.

    Returns
    -------
    info : VideoInfo
    raw : list of Detections
        The detector's boxes per frame (after ``threshold`` / ``min_face``).
    tracked : TrackResult
        Per-frame boxes including interpolated, padded and predicted ones.
    cuts : list of int
    """
    from .media.video import iter_frames, probe_video
    from .track import detect_cuts, frame_signature, link_tracks, signature_distance

    info = probe_video(src, max_pixels=config.max_pixels)
    total = getattr(info, "frame_count_hint", None) or None
    raw: list[Detections] = []
    signatures = []
    sparse = config.tile_every > 1 and hasattr(detector, "with_tiles")
    if sparse:  # chunk length shapes the result: it depends on the frame size only
        chunk_len = int(np.clip(_CHUNK_BYTES // max(1, info.width * info.height * 3), 4, _CHUNK_FRAMES))
    else:
        chunk_len = max(1, workers)

    def first_look(rgb: np.ndarray, key: bool):
        if not sparse:
            return detector.detect(rgb), None, False
        passes = detector.passes(rgb, tiles=None if key else "none")
        merged = detector.merge(passes)
        return merged, None if key else passes, key and detector.tiles_only_small(rgb.shape, passes, merged) > 0

    def second_look(rgb: np.ndarray, passes):
        return detector.merge(detector.with_tiles(rgb, passes)), None, False

    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="veil-detect") if workers > 1 else None

    def submit(fn, *args) -> concurrent.futures.Future:
        if pool is not None:
            return pool.submit(fn, *args)
        done = concurrent.futures.Future()
        done.set_result(fn(*args))  # an error raises here, on the calling thread
        return done

    # Chunks move from first looks in flight (``deciding``) to decided, with
    # their second looks in flight (``decided``), to collected in order. A
    # chunk is decided once the next chunk's first looks are in; the pool
    # always has the chunks behind it to work on meanwhile.
    deciding: collections.deque = collections.deque()
    decided: collections.deque = collections.deque()
    prev_small = False

    def decide_oldest() -> None:
        nonlocal prev_small
        chunk = deciding.popleft()
        small = any(f.look.result()[2] for f in chunk)
        dense = prev_small or small or (bool(deciding) and any(f.look.result()[2] for f in deciding[0]))
        prev_small = small
        for f in chunk:
            if dense and f.rgb is not None:
                f.look = submit(second_look, f.rgb, f.look.result()[1])
            f.rgb = None
        decided.append(chunk)

    def collect_oldest() -> None:
        for f in decided.popleft():
            raw.append(_filter(f.look.result()[0], config))
            if progress:
                progress(len(raw), total * 2 if total else None)

    try:
        current: list[_Frame] = []
        for frame in iter_frames(src, max_pixels=config.max_pixels):
            signature = frame_signature(frame.rgb)
            key = (not sparse or frame.index % config.tile_every == 0 or not signatures
                   or signature_distance(signatures[-1], signature) > _SHOT_CHANGE_HINT)
            signatures.append(signature)
            current.append(_Frame(None if key else frame.rgb, submit(first_look, frame.rgb, key)))
            if len(current) == chunk_len:
                deciding.append(current)
                current = []
                if len(deciding) == 3:
                    decide_oldest()
                if len(decided) == 2:
                    collect_oldest()
        if current:
            deciding.append(current)
        while deciding:
            decide_oldest()
        while decided:
            collect_oldest()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if not raw:
        raise UnsupportedMediaError("video has no decodable frames")
    cuts = detect_cuts(signatures)
    # min_hits=1: a face seen on one frame only is padded too (privacy first;
    # a false positive costs a few frames of extra cover, a miss costs a face).
    tracked = link_tracks(raw, cuts=cuts, pad_frames=config.pad_frames, min_hits=1,
                          frame_size=(info.width, info.height))
    return info, raw, tracked, cuts


def _video_file(src: Path, dst: Path, config: Config, detector, report: FileReport, mask_dir, progress, *,
                own_detector: bool = False, edits=None):
    from .media.video import transcode

    t0 = time.perf_counter()
    # Several frames at once, each on one thread (see _detector_for).
    workers = cpu_budget(config) if own_detector else 1
    pass1 = _detector_for(config, single=True) if own_detector else detector
    info, raw, tracked, cuts = detect_and_track(src, config, pass1, progress, workers=workers)
    report.media = info.to_dict()
    found, applied = tracked.frames, None
    if edits is not None:  # a person's edits (veil review), on the tracked boxes
        from .edits import apply_edits

        applied = apply_edits(found, edits, region_shape=config.region_shape)
        tracked = dataclasses.replace(tracked, frames=applied.frames)
    t1 = time.perf_counter()
    regions = [_regions(d, config) for d in tracked.frames]

    # Pass 2: decode again, cover, encode (again per escalation round in
    # blur/pixelate, so verdicts always describe the written file).
    from .verify.stage import VideoChecks, escalate_video, render_with_overrides

    mask_tmp = None
    if mask_dir is not None:
        Path(mask_dir).parent.mkdir(parents=True, exist_ok=True)
        mask_tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=Path(mask_dir).parent))
    keys = [d.track_id.tolist() for d in tracked.frames]
    state = {}

    def render_pass(tmp: Path, overrides: dict):
        rng = _rng(config)
        # The residual check is a second opinion: veil's own detector, whatever found the faces.
        checks = (VideoChecks(tracked.frames, config, _detector_for(config, single=True), pool=side_pool)
                  if config.verify else None)
        rendered = 0

        def render(frame):
            nonlocal rendered
            i = frame.index
            if i >= len(regions):
                raise MediaError(f"frame {i} appeared on the second decode only; refusing")
            mask = None
            if mask_tmp is not None or checks is not None:
                mask = regions[i].mask(*frame.rgb.shape[:2])
            if overrides:
                out = render_with_overrides(frame.rgb, regions[i], keys[i], config, overrides, rng)
            else:
                out = cover(frame.rgb, regions[i], config, rng, mask=mask)
            if mask_tmp is not None:
                _write_mask(mask_tmp / f"{i}.png", mask)
            if checks is not None:
                checks.observe(i, frame.rgb, out, mask)
            rendered += 1
            if progress:
                progress(len(raw) + rendered, len(raw) * 2)
            return out

        result = transcode(src, tmp, render, audio=config.audio.value, crf=config.crf,
                           preset=config.preset, max_pixels=config.max_pixels)
        if checks is not None:
            checks.finish()
        if result.frames != len(raw) or rendered != len(raw):
            raise MediaError(f"decoded {len(raw)} frames but wrote {result.frames}; refusing")
        state["result"] = result
        return checks

    t_verify = 0.0
    # The residual check (veil's detector on sampled output frames) runs on a
    # thread of its own beside decoding and encoding.
    side_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="veil-residual") if config.verify else None
    try:
        with atomic_output(dst) as tmp:
            checks = render_pass(tmp, {})
            if checks is not None:
                tv = time.perf_counter()
                verdicts, overrides, steps, residual = escalate_video(
                    lambda overrides: render_pass(tmp, overrides), checks, config)
                report.verification = _video_record(verdicts, steps, residual)
                t_verify = time.perf_counter() - tv
        if mask_tmp is not None:
            final = Path(mask_dir)
            if final.exists():
                shutil.rmtree(final)
            os.replace(mask_tmp, final)
            mask_tmp = None
    finally:
        if side_pool is not None:
            side_pool.shutdown(wait=True, cancel_futures=True)
        if mask_tmp is not None:
            shutil.rmtree(mask_tmp, ignore_errors=True)
    result = state["result"]
    t3 = time.perf_counter()

    report.warnings.extend(result.warnings)
    report.frames = len(raw)
    report.faces = len(tracked.tracks) + sum(int((d.track_id < 0).sum()) for d in tracked.frames)
    report.tracks = [t.to_dict() for t in tracked.tracks]
    report.cuts = list(map(int, cuts))
    report.regions = {
        "shape": config.region_shape.value,
        # Only frames that have regions, keyed by frame index: compact and exact.
        "by_frame": {str(i): r.to_records() for i, r in enumerate(regions) if len(r)},
        # What detection and tracking found, before any edit: the boxes edits name.
        "detections_by_frame": {str(i): d.to_records() for i, d in enumerate(found) if len(d)},
    }
    if applied is not None:
        _record_edits(report, applied, (info.height, info.width), config)
    report.media["frames"] = len(raw)
    report.media["audio_kept"] = bool(getattr(result, "audio_kept", False))
    report.timings.update(detect_track=round(t1 - t0, 3),
                          render_encode_verify=round(t3 - t1, 3), verify=round(t_verify, 3),
                          fps=round(len(raw) / max(t3 - t0, 1e-9), 2))


def _record_edits(report: FileReport, applied, size: tuple[int, int], config: Config) -> None:
    """Put a person's edits into the report: the review record, faces left visible."""
    from .edits import excuse_left_visible

    report.faces = applied.faces
    report.review = applied.record
    report.verification = excuse_left_visible(report.verification, applied, height=size[0], width=size[1],
                                              region_scale=config.region_scale, region_shape=config.region_shape)


def _video_record(verdicts: dict, steps: dict, residual: list) -> dict:
    from .verify.core import summarize

    ordered = [verdicts[t] for t in sorted(verdicts)]
    record = summarize(ordered, residual=residual)
    for face, track in zip(record["faces"], sorted(verdicts)):
        if track in steps:
            face["escalation"] = steps[track]
    return record


# -- runs over many files -----------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One input file and where its output goes."""

    src: Path
    rel: Path  #: path relative to its input root (a file's root is its folder)
    dst: Path
    mask: Path | None
    edits: object = None  #: a person's edits of this file (``veil.edits.FileEdits``), or None


def _walk(root: Path, skip: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        # Never descend into the output folder, nor follow hidden folders.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (here / d).resolve() != skip)
        for name in sorted(filenames):
            if not name.startswith((".", TEMP_PREFIX)):
                found.append(here / name)
    return found


def plan_run(inputs: list[str | os.PathLike], outdir: str | os.PathLike, *,
             masks: bool = False, keep_audio: bool = False) -> tuple[list[Job], list[tuple[str, str]], list[str]]:
    """Map inputs (files and folders, recursive) to output paths.

    Returns
    -------
    jobs : list of Job
    errors : list of (input, message)
        Inputs that cannot be planned (missing, output would overwrite an input,
        two inputs mapping to one output).
    skipped : list of str
        Files inside input folders that are not photos or videos.
    """
    from .media.image import output_suffix as image_suffix
    from .media.sniff import IMAGE_SUFFIXES, VIDEO_SUFFIXES, image_format, media_kind
    from .media.video import output_suffix as video_suffix
    from .media.video import probe_video

    outdir = Path(outdir)
    out_resolved = outdir.resolve()
    jobs: list[Job] = []
    errors: list[tuple[str, str]] = []
    skipped: list[str] = []
    candidates: list[tuple[Path, Path]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            for path in _walk(item, out_resolved):
                kind = media_kind(path)
                if kind is None and path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                    skipped.append(str(path))
                    continue
                candidates.append((path, path.relative_to(item)))
        elif item.exists():
            candidates.append((item, Path(item.name)))
        else:
            errors.append((str(item), "no such file or folder"))

    input_files = {c[0].resolve() for c in candidates}
    taken: dict[Path, Path] = {}
    for src, rel in candidates:
        try:
            kind = media_kind(src) if src.is_file() else None
            suffix = rel.suffix
            # Content decides, not the name: a PNG called x.mp4 comes out as x.png.
            if kind == "video":
                # Kept audio must fit the container: e.g. PCM goes to .mov, Vorbis to .mkv.
                codecs = probe_video(src, max_pixels=1 << 62).audio if keep_audio else ()
                suffix = video_suffix(rel.suffix, audio_codecs=codecs)
            elif kind == "image":
                suffix = image_suffix(rel.suffix, format=image_format(src))
        except VeilError as exc:
            errors.append((str(src), str(exc)))
            continue
        dst = outdir / rel.with_suffix(suffix)
        resolved = dst.resolve()
        if resolved in input_files:
            errors.append((str(src), f"output {dst} would overwrite an input; choose another output folder"))
            continue
        if resolved in taken:
            errors.append((str(src), f"output {dst} is also the output of {taken[resolved]}; rename one"))
            continue
        taken[resolved] = src
        mask = (outdir / "masks" / rel) if masks else None
        jobs.append(Job(src=src, rel=rel, dst=dst, mask=mask))
    return jobs, errors, skipped


def run_file(job: Job, config: Config, *, progress=None) -> FileReport:
    """Anonymize one planned job (safe to call in a worker process)."""
    report = anonymize_file(job.src, job.dst, config, mask_dir=job.mask, progress=progress, edits=job.edits)
    report.rel = str(job.rel)
    return report
