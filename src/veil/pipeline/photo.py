"""One photo: read, detect, cover, verify (escalating where a face leaks), write."""

from __future__ import annotations

import time
from pathlib import Path

from ..anonymize import cover
from ..config import Config
from ..detect import detector_for, find
from ..detect.kinds import with_other_kinds
from ..errors import UsageError, VeilError
from ..media.atomic import atomic_output
from ..detections import Kind, Source
from ..region import regions_for
from ..report import FileReport, PhotoCover, covered_counts
from .masks import record_edits, write_mask

__all__ = ["process_photo"]


def process_photo(src: Path, dst: Path, config: Config, detector, report: FileReport,
                  mask_path: Path | None, *, edits=None) -> None:
    """Anonymize the photo ``src`` into ``dst`` (atomically) and fill in ``report``.

    Verification runs before the photo is written, so that a face still leaking
    in blur/pixelate mode is re-rendered stronger first. ``edits`` (a
    ``veil.edits.FileEdits``) apply to what was found, before anything is covered.
    """
    from ..media.image import output_format, output_suffix, read_image, to_rgb8, write_image

    t0 = time.perf_counter()
    picture = read_image(src, max_pixels=config.max_pixels)
    report.media = dict(picture.facts, format=picture.format)
    fits = output_suffix(Path(dst).suffix, format=picture.format)
    if fits != Path(dst).suffix:  # a JPEG named out.png would be written as JPEG data: refused, as for video
        raise UsageError(f"output suffix {Path(dst).suffix or '(none)'!r} does not name the "
                         f"{output_format(picture.format)} picture veil writes for it; use {fits}")
    if picture.facts.get("dropped_previews"):  # MPO's further pictures, a TIFF's reduced copies: never written
        n = picture.facts["dropped_previews"]
        report.warnings.append(f"the file held {n} further picture{'s' * (n != 1)} (a preview, depth map or second "
                               "view); only the main picture was anonymized and written")
    report.metadata_removed = _removed_metadata(src, report)
    t1 = time.perf_counter()
    rgb = to_rgb8(picture.pixels)
    faces = find(rgb, config, detector=detector) if config.covers_faces else None
    found = dets = with_other_kinds(faces, rgb, config) if config.other_kinds else faces
    applied = None
    if edits is not None:  # a person's edits (veil review): drawn regions come last
        from ..edits import apply_edits

        applied = apply_edits([found], edits, region_shape=config.region_shape)
        dets = applied.frames[0]
    t2 = time.perf_counter()
    regions = regions_for(dets, config)
    rng = config.rng()
    out = cover(picture.pixels, regions, config, rng)
    t_cover = time.perf_counter()
    if config.verify:
        from ..verify import VerificationRecord
        from ..verify.photo import verify_picture

        # The residual check is a second opinion: veil's own detector at its default settings, whatever
        # found the faces (a --threshold or --min-face must not hide the faces it leaves uncovered).
        # Drawn regions are covered, not measured: the verdicts are the found faces'.
        # Plates and text get the residual check of their own detector instead (verify.kinds).
        found_only = (dets.source != Source.MANUAL) & (dets.kind == Kind.FACE)
        mask = regions.mask(*out.shape[:2])
        if config.covers_faces:
            out, report.verification = verify_picture(picture.pixels, out, dets[found_only],
                                                      regions[found_only], config,
                                                      detector_for(config.residual_detection), rng=rng, mask=mask)
        else:  # faces are not covered: looking for them in the output would flag every one
            report.verification = VerificationRecord()
        if config.other_kinds:
            from ..verify.kinds import check_other_kinds

            report.verification = check_other_kinds(report.verification, to_rgb8(out), mask, config, found=dets,
                                                         original=to_rgb8(picture.pixels))
        report.timings["verify"] = round(time.perf_counter() - t_cover, 3)
    t_write = time.perf_counter()
    with atomic_output(dst) as tmp:
        write_image(tmp, out, format=output_format(picture.format))
        if mask_path is not None:
            write_mask(mask_path, regions.mask(*out.shape[:2]))
    t3 = time.perf_counter()
    report.faces = int((dets.kind == Kind.FACE).sum())
    report.covered = covered_counts(dets.kind, config)
    report.cover = PhotoCover(dets, regions, found=found)
    if applied is not None:
        record_edits(report, applied, picture.pixels.shape[:2], config)
    report.timings.update(read=round(t1 - t0, 3), detect=round(t2 - t1, 3), write=round(t3 - t_write, 3))


def _removed_metadata(src: Path, report: FileReport) -> list[dict]:
    from ..media.metadata import image_metadata, removed_summary

    try:
        return removed_summary(image_metadata(src)["findings"])
    except VeilError:  # the writer keeps none anyway; say that the list is missing
        report.warnings.append("the input's metadata could not be listed; none of it was kept")
        return []
