"""The pipeline: compose the stages for one picture or one file.

``anonymize_image`` works on an array; ``anonymize_file`` reads a photo or
video, covers every face on every frame, writes the output atomically and
returns a :class:`~veil.report.FileReport`. Photos are :mod:`.photo`'s, videos
:mod:`.video`'s (pass 1 in :mod:`veil.track.scan`). ``run_file`` runs one job
of a planned run (:mod:`veil.plan`), in this process or a worker process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..anonymize import cover, reversible_warning
from ..config import Config, config_or_default
from ..detect import detector_for, find
from ..errors import VeilError, failure_message
from ..media import file_sha256
from ..media.sniff import require_media
from ..plan import Job
from ..region import Regions, regions_for
from ..report import FileReport, FileStatus

__all__ = ["anonymize_image", "anonymize_file", "run_file"]


def anonymize_image(pixels: np.ndarray, config: Config | None = None, *,
                    detector=None) -> tuple[np.ndarray, Regions]:
    """Find every face (and the plates and text ``config.cover`` names) in a picture and cover it.

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
        Same shape and dtype as ``pixels``; inside the regions an alpha channel is made
        opaque and a grey picture takes the grey level of ``config.fill_color``.
    regions : Regions
        The head regions that were covered.

    Raises
    ------
    TypeError, ValueError
        ``pixels`` is not a picture (its shape or dtype).
    veil.errors.TooLargeError
        More pixels than ``config.max_pixels`` (as a file with them would be refused).
    """
    from ..detect.kinds import with_other_kinds
    from ..media import check_size
    from ..media.image import to_rgb8

    config = config_or_default(config)
    if isinstance(pixels, np.ndarray) and pixels.ndim >= 2:
        check_size(pixels.shape[1], pixels.shape[0], config.max_pixels)
    faces = find(pixels, config, detector=detector) if config.covers_faces else None
    found = with_other_kinds(faces, to_rgb8(pixels), config) if config.other_kinds else faces
    regions = regions_for(found, config)
    return cover(pixels, regions, config, config.rng()), regions


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
        file that is checked, flushed and renamed on success and removed on any error.
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
        ``status`` is ``ok``, or ``failed`` with a one-line ``error``; a
        failed file leaves no output.
    """
    from .photo import process_photo
    from .video import process_video

    config = config_or_default(config)
    src, dst = Path(src), Path(dst)
    report = FileReport(input=str(src), output=None, kind="unknown")
    started = time.perf_counter()
    try:
        kind = require_media(src)
        if dst.resolve() == src.resolve():
            raise VeilError("output path is the input itself; choose another output folder")
        report.input_sha256 = file_sha256(src)
        if edits is not None and edits.input_sha256 != report.input_sha256:
            raise VeilError("the edits were made for another file (SHA-256 differs); refusing to apply them")
        report.kind = kind
        own_detector = detector is None  # veil's own is safe to call from several threads
        detector = detector or detector_for(config)
        if config.reversible:
            report.warnings.append(reversible_warning(config))
        if kind == "image":
            mask = Path(str(mask_dir) + ".png") if mask_dir is not None else None
            process_photo(src, dst, config, detector, report, mask, edits=edits)
        else:
            process_video(src, dst, config, detector, report, Path(mask_dir) if mask_dir is not None else None,
                          progress, own_detector=own_detector, edits=edits)
        report.output = str(dst)
        report.status = FileStatus.OK
    except Exception as exc:  # noqa: BLE001 - fail closed on anything, one line
        report.fail(failure_message(exc))
    report.timings["total"] = round(time.perf_counter() - started, 3)
    return report


def run_file(job: Job, config: Config, *, progress=None) -> FileReport:
    """Anonymize one planned job (safe to call in a worker process)."""
    report = anonymize_file(job.src, job.dst, config, mask_dir=job.mask, progress=progress, edits=job.edits)
    report.rel = str(job.rel)
    if report.ok and job.out_rel is not None:
        report.output_rel = str(job.out_rel)
    return report
