"""Planning a run: which files the inputs name, and where each output goes.

Folders are read recursively (hidden files and folders left out, and the output
folder when it lies inside an input); each output mirrors its input's path
relative to the input folder, with the suffix its content calls for. Inputs
that cannot be planned (missing, an output that would overwrite an input, two
inputs with one output) are errors for that input alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import VeilError, shown
from .media.atomic import TEMP_PREFIX

__all__ = ["Job", "PlanError", "walk_inputs", "folder_media", "plan_run"]


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes."""

    src: Path
    rel: Path  #: path relative to its input root (a file's root is its folder)
    dst: Path
    mask: Path | None
    out_rel: Path | None = None  #: ``dst`` relative to the output folder
    edits: object = None  #: a person's edits of this file (``veil.edits.FileEdits``), or None


@dataclass(frozen=True)
class PlanError:
    """An input that cannot be planned, with a one-line reason (no absolute paths)."""

    path: str  #: as given or found (for this process only)
    rel: str  #: as a report shows it: relative to its input root, or the file name
    message: str


def walk_inputs(root: str | os.PathLike, *, skip: str | os.PathLike | None = None) -> list[Path]:
    """Files under a folder, sorted, as veil reads an input folder.

    Hidden files and folders (a leading dot, which also covers veil's own
    temporaries and lock) are left out; so is ``skip`` (the output folder, when
    it lies inside the input).
    """
    skip_resolved = Path(skip).resolve() if skip is not None else None
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (skip_resolved is None or (here / d).resolve() != skip_resolved))
        for name in sorted(filenames):
            if not name.startswith((".", TEMP_PREFIX)):
                found.append(here / name)
    return found


def folder_media(root: str | os.PathLike, *, skip: str | os.PathLike | None = None) -> tuple[list[Path], list[Path]]:
    """The files under a folder (:func:`walk_inputs`) that may be photos or videos, and the others.

    A file counts when its content is a photo or video veil knows, or its suffix
    names one (so a damaged photo is an error for that file, not skipped). Both
    lists sorted, as walked.
    """
    from .media.sniff import IMAGE_SUFFIXES, VIDEO_SUFFIXES, media_kind

    media, others = [], []
    for path in walk_inputs(root, skip=skip):
        known = media_kind(path) is not None or path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
        (media if known else others).append(path)
    return media, others


def plan_run(inputs: list[str | os.PathLike], outdir: str | os.PathLike, *,
             masks: bool = False, keep_audio: bool = False) -> tuple[list[Job], list[PlanError], list[str]]:
    """Map inputs (files and folders, recursive) to output paths.

    Returns
    -------
    jobs : list of Job
    errors : list of PlanError
        Inputs that cannot be planned (missing, output would overwrite an input,
        two inputs mapping to one output).
    skipped : list of str
        Files inside input folders that are not photos or videos, relative to
        their input folder.
    """
    from .media.image import output_suffix as image_suffix
    from .media.sniff import image_format, media_kind
    from .media.video import output_suffix as video_suffix
    from .media.video import probe_video

    outdir = Path(outdir)
    jobs: list[Job] = []
    errors: list[PlanError] = []
    skipped: list[str] = []
    candidates: list[tuple[Path, Path]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            media, others = folder_media(item, skip=outdir)
            skipped.extend(str(path.relative_to(item)) for path in others)
            candidates.extend((path, path.relative_to(item)) for path in media)
        elif item.exists():
            candidates.append((item, Path(item.name)))
        else:
            errors.append(PlanError(str(item), item.name, "no such file or folder"))

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
            errors.append(PlanError(str(src), str(rel), str(exc)))
            continue
        out_rel = rel.with_suffix(suffix)
        dst = outdir / out_rel
        resolved = dst.resolve()
        if resolved in input_files:
            errors.append(PlanError(str(src), str(rel), f"its output {shown(out_rel)} in the output folder would "
                                                        "overwrite an input; choose another output folder"))
            continue
        if resolved in taken:
            errors.append(PlanError(str(src), str(rel), f"its output {shown(out_rel)} is also the output of "
                                                        f"{shown(taken[resolved])}; rename one"))
            continue
        taken[resolved] = rel
        mask = (outdir / "masks" / rel) if masks else None
        jobs.append(Job(src=src, rel=rel, dst=dst, mask=mask, out_rel=out_rel))
    return jobs, errors, skipped
