"""Planning a run: which files the inputs name, and where each output goes.

Folders are read recursively, links to folders followed (each folder once);
hidden files and folders are left out, and said so, and so is the output folder
when it lies inside an input. Each output mirrors its input's path relative to
the input folder, with the suffix its content calls for. Inputs that cannot be
planned (missing, unreadable, an output that would overwrite an input, two inputs
with one output) are errors for that input alone: the others go on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import VeilError, shown
from .media import inside
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


def _media_name(name: str) -> bool:
    from .media.sniff import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    return Path(name).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def walk_inputs(root: str | os.PathLike, *, skip: str | os.PathLike | None = None,
                left_out: list | None = None) -> list[Path]:
    """Files under a folder, sorted, as veil reads an input folder.

    Hidden files and folders (a leading dot, which also covers veil's own
    temporaries and lock) are left out; so is ``skip`` (the output folder, when
    it lies inside the input). Links to folders are followed, each folder read
    once (a link back to a folder already read is left out).

    ``left_out``, when a list, receives ``(path, reason)`` for what a person may
    have expected to be read: hidden folders and hidden files named as photos or
    videos (not veil's own; ``.DS_Store`` is no one's loss),
    folders that cannot be read (``reason`` starts with ``"cannot"``), and
    links back to folders already read.
    """
    skip_resolved = Path(skip).resolve() if skip is not None else None
    note = left_out.append if left_out is not None else (lambda item: None)
    found: list[Path] = []
    seen = {Path(root).resolve()}

    def unreadable(exc: OSError) -> None:
        note((Path(exc.filename), f"cannot be read: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            where = (here / d).resolve()
            if d.startswith("."):
                if not d.startswith(".veil"):
                    note((here / d, "hidden"))
            elif skip_resolved is not None and where == skip_resolved:
                continue
            elif where in seen:
                note((here / d, "a link to a folder read already"))
            else:
                seen.add(where)
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.startswith("."):
                found.append(here / name)
            elif not name.startswith((".veil", TEMP_PREFIX)) and _media_name(name):
                note((here / name, "hidden"))
    return found


def folder_media(root: str | os.PathLike, *, skip: str | os.PathLike | None = None,
                 left_out: list | None = None) -> tuple[list[Path], list[Path]]:
    """The files under a folder (:func:`walk_inputs`) that may be photos or videos, and the others.

    A file counts when its content is a photo or video veil knows, or its suffix
    names one (so a damaged photo is an error for that file, not skipped); a file
    that cannot be read counts too, so that it fails alone. Both lists sorted, as
    walked. ``left_out`` as in :func:`walk_inputs`.
    """
    from .media.sniff import media_kind

    media, others = [], []
    for path in walk_inputs(root, skip=skip, left_out=left_out):
        try:
            known = media_kind(path) is not None or _media_name(path.name)
        except (VeilError, OSError):
            known = True  # unreadable: planned, so that it fails with its own one-line reason
        (media if known else others).append(path)
    return media, others


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _with_folder(path: Path) -> str:
    """A file's name with its folder's (``a/x.jpg``): enough to tell two inputs apart, no absolute path."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def plan_run(inputs: list[str | os.PathLike], outdir: str | os.PathLike, *,
             masks: bool = False, keep_audio: bool = False) -> tuple[list[Job], list[PlanError], list[str], list[str]]:
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
    notes : list of str
        One-line warnings about what input folders held and was left out
        (hidden files, links back to a folder already read).
    """
    from .media.image import output_suffix as image_suffix
    from .media.sniff import image_format, media_kind
    from .media.video import output_suffix as video_suffix
    from .media.video import probe_video

    outdir = Path(outdir)
    jobs: list[Job] = []
    errors: list[PlanError] = []
    skipped: list[str] = []
    notes: list[str] = []
    candidates: list[tuple[Path, Path]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            left_out: list[tuple[Path, str]] = []
            media, others = folder_media(item, skip=outdir, left_out=left_out)
            skipped.extend(str(path.relative_to(item)) for path in others)
            candidates.extend((path, path.relative_to(item)) for path in media)
            for path, reason in left_out:
                rel = path.relative_to(item) if path.is_relative_to(item) else Path(path.name)
                if reason.startswith("cannot"):  # its files are unknown: an error, not a silence
                    errors.append(PlanError(str(path), str(rel), f"folder {reason}"))
            hidden = [p for p, reason in left_out if reason == "hidden"]
            if hidden:
                notes.append(f"{shown(item.name)}: left out {len(hidden)} hidden file{'s' * (len(hidden) != 1)} or "
                             f"folder{'s' * (len(hidden) != 1)} (names starting with '.', e.g. "
                             f"{shown(hidden[0].relative_to(item))}); name them as inputs to anonymize them")
            links = [p for p, reason in left_out if reason.startswith("a link")]
            if links:
                notes.append(f"{shown(item.name)}: left out {len(links)} link{'s' * (len(links) != 1)} to a folder "
                             f"read already (e.g. {shown(links[0].relative_to(item))})")
        elif item.exists():
            candidates.append((item, Path(item.name)))
        else:
            errors.append(PlanError(str(item), item.name, "no such file or folder"))

    input_files = {c[0].resolve() for c in candidates}
    # Identities too: a bind mount or a case-insensitive file system names one file twice.
    input_ids = {_identity(c[0]) for c in candidates} - {None}
    taken: dict[Path, Path] = {}
    planned: set[Path] = set()
    for src, rel in candidates:
        real = src.resolve()
        if real in planned:  # named twice (or as itself and inside its folder): once is enough
            continue
        planned.add(real)
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
        if resolved in input_files or _identity(dst) in input_ids:
            errors.append(PlanError(str(src), str(rel), f"its output {shown(out_rel)} in the output folder would "
                                                        "overwrite an input; choose another output folder"))
            continue
        if resolved in taken:
            # Named with their folders: two input folders each holding x.jpg clash on "x.jpg" alone.
            errors.append(PlanError(str(src), str(rel), f"its output {shown(out_rel)} is also the output of "
                                                        f"{shown(_with_folder(taken[resolved]))}, input "
                                                        f"{shown(_with_folder(src))}; rename one"))
            continue
        # A folder link planted in the output folder under an output's folder name would have it
        # written elsewhere (a link named as the output file itself is replaced, never followed).
        folders = [out_rel.parent] + ([Path("masks") / rel.parent] if masks else [])
        astray = next((d for d in folders if d != Path(".") and inside(outdir, str(d)) is None), None)
        if astray is not None:
            errors.append(PlanError(str(src), str(rel), f"the output folder's {shown(astray)} is a link leading out "
                                                        "of it; remove the link or choose another output folder"))
            continue
        taken[resolved] = src
        mask = (outdir / "masks" / rel) if masks else None
        jobs.append(Job(src=src, rel=rel, dst=dst, mask=mask, out_rel=out_rel))
    return jobs, errors, skipped, notes
