"""One review of one run: its report, its files, the person's edits, the pictures shown.

A :class:`ReviewSession` is what the web app serves. Files are named by their
position in the report (``0``, ``1``, ...), never by a path from the client;
an input is shown only once its SHA-256 is the one the report recorded.
Every change of edits is validated against what the run found (the same
check ``veil anonymize --edits`` makes) and saved atomically to
``OUTDIR/veil-edits.json`` at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path


from ..config import Config
from ..edits import EDITS_NAME, Edits, FileEdits, apply_edits, detection_settings, load_edits, save_edits
from ..errors import UsageError, VeilError, shown
from ..media import file_sha256, inside
from ..report import entry_name_and_verdict
from .model import ReportError, base_frames, frame_rows, items_for
from .pictures import Pictures

__all__ = ["REPORT_NAME", "EDITS_NAME", "ReviewSession", "ReviewFile", "NotFound", "Refused", "Conflict"]

REPORT_NAME = "veil-report.json"
_BOX_CHUNK_MAX = 2000  #: frames of boxes per request at most


class NotFound(LookupError):
    """No such file, frame or picture (HTTP 404)."""


class Refused(ValueError):
    """A request the session refuses, with a one-line reason (HTTP 409/422)."""


class Conflict(Refused):
    """Edits sent on top of a state that is no longer the file's (another tab saved since; HTTP 409)."""


@dataclass
class ReviewFile:
    """One file of the run, as the app knows it."""

    id: int
    entry: dict
    input: Path | None = None
    output: Path | None = None
    problem: str | None = None  #: why it cannot be reviewed or edited (None: it can)
    frames: list | None = None  #: what the run found, per frame (Detections)
    items: list = field(default_factory=list)
    input_checked: bool = False

    @property
    def kind(self) -> str:
        return self.entry.get("kind", "unknown")

    @property
    def sha(self) -> str | None:
        return self.entry.get("input_sha256")


class ReviewSession:
    """The run in ``outdir`` under review.

    Parameters
    ----------
    outdir : path
        A folder written by ``veil anonymize`` (it holds ``veil-report.json``).
    originals : sequence of path, optional, keyword-only
        Folders where the originals are: the inputs ``veil anonymize`` was
        given (a folder, or a file's folder). The report names each input
        relative to its input folder and holds no absolute path (it travels
        with the outputs), so each input is looked for at that relative path
        in these folders, and shown only if its SHA-256 is the report's. The
        current folder by default.

    Raises
    ------
    UsageError
        No report, not a veil report, or an edits file made for other
        detection settings.
    """

    def __init__(self, outdir: str | os.PathLike, *, originals: "list[str | os.PathLike] | None" = None) -> None:
        self.outdir = Path(outdir)
        self.originals = [Path(p) for p in originals] if originals else [Path.cwd()]
        self.report_path = self.outdir / REPORT_NAME
        self.edits_path = self.outdir / EDITS_NAME
        self.lock = threading.RLock()  #: held while the session's state changes
        self.pictures = None
        #: How many times another veil run's report was read since start: a page drawn on another
        #: generation names files by ids that may now be other files.
        self.generation = 0
        self.load_report()
        self.edits_problem = None
        self._load_edits()
        if self.edits_problem:
            raise UsageError(self.edits_problem)

    def _load_edits(self) -> None:
        """The folder's edits file as it is now (none: empty edits bound to the run's settings);
        ``edits_problem`` says why it cannot be used with the run (changes are refused then)."""
        self.edits, self.edits_problem = Edits(detection=detection_settings(self.config)), None
        if not os.path.lexists(self.edits_path):
            return
        try:
            edits = load_edits(self.edits_path)
            edits.check_settings(self.config)
        except UsageError as exc:
            self.edits_problem = f"{exc}; move {EDITS_NAME} away from the output folder and start veil review again"
            return
        self.edits = edits

    # -- the run ---------------------------------------------------------------------------
    def _stamp(self) -> tuple | None:
        try:
            st = self.report_path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def refresh(self) -> bool:
        """Read the report again if it changed on disk since it was read (another ``veil anonymize``
        into the folder rewrote outputs and report); True when it did."""
        with self.lock:
            if self._stamp() == self.report_stamp:
                return False
            self.load_report()
            self._load_edits()  # that run may have applied, kept or outlived them
            self.generation += 1
        return True

    def load_report(self) -> None:
        """(Re)read the report: after Apply rewrote it, at start, or when :meth:`refresh` finds it changed."""
        stamp = self._stamp()
        try:
            report = json.loads(self.report_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{self.outdir} has no {REPORT_NAME}: run 'veil anonymize ... -o {self.outdir}' "
                             "first, or 'veil review INPUT... -o OUTDIR'") from None
        except (OSError, ValueError) as exc:
            raise UsageError(f"{shown(self.report_path)} is not readable: {' '.join(str(exc).split())}") from None
        if not isinstance(report, dict) or report.get("schema") != "veil-report/1":
            raise UsageError(f"{shown(self.report_path)} is not a veil report (schema veil-report/1)")
        try:
            self.config = Config.from_dict(dict(report.get("settings") or {}))
        except UsageError as exc:
            raise UsageError(f"{shown(self.report_path)}: {exc}") from None
        with self.lock:
            self.report, self.report_stamp = report, stamp
            self.files = [self._file(i, entry) for i, entry in enumerate(report.get("files") or [])]
            if self.pictures is None:
                self.pictures = Pictures(max_pixels=self.config.max_pixels)
            self.pictures.close()  # outputs may have been rewritten

    def _file(self, index: int, entry: dict) -> ReviewFile:
        f = ReviewFile(id=index, entry=entry)
        if entry.get("status") != "ok":
            f.problem = f"failed in the run: {entry.get('error') or 'unknown error'}"
            return f
        if entry.get("kind") not in ("image", "video"):
            f.problem = "the report does not describe this file fully"
            return f
        if not entry.get("input_sha256"):
            f.problem = ("the report holds no input SHA-256 (--no-input-hash): the original cannot be told "
                         "from another file")
            return f
        rel = entry.get("relative_path") or entry.get("input") or ""
        # The report may come from elsewhere: what it names is used only inside the folders it belongs to
        # (Apply writes f.output and masks by rel; thumbnails are cut from f.output).
        output = inside(self.outdir, entry.get("output"))
        if output is None or inside(self.outdir, rel) is None:
            f.problem = ("the report names a file outside the output folder (or a link leading out of it): "
                         "not shown, not edited")
            return f
        # (an original is shown only when its SHA-256 is the report's: _check_input)
        f.input = next((root / rel for root in self.originals if (root / rel).is_file()), self.originals[0] / rel)
        f.output = output
        if not f.input.is_file():
            f.problem = (f"original not found: {shown(rel)} in {', '.join(shown(r) for r in self.originals)}; "
                         "give the folders veil anonymize read with --originals")
        elif not f.output.is_file():
            f.problem = f"output not found: {shown(entry.get('output') or '')}"
        try:
            f.frames = base_frames(entry)
            f.items = items_for(entry, f.frames, self.config)
        except (ReportError, KeyError, ValueError, TypeError) as exc:
            f.problem = f.problem or f"cannot review this file: {exc}"
            f.frames, f.items = None, []
        return f

    def file(self, fid: int, *, editable: bool = False) -> ReviewFile:
        """The file with id ``fid``; ``NotFound`` for none, ``Refused`` when it cannot be edited."""
        with self.lock:
            if not 0 <= fid < len(self.files):
                raise NotFound(f"no file {fid}")
            f = self.files[fid]
        if editable:
            self._check_input(f)
            if f.problem:
                raise Refused(f.problem)
        return f

    def _check_input(self, f: ReviewFile) -> None:
        """Show or edit an input only if it is the very file the run read (SHA-256)."""
        if f.input_checked or f.problem:
            return
        if file_sha256(f.input) != f.sha:
            f.problem = (f"the original {shown(f.entry.get('relative_path') or '')} has changed since the run (SHA-256 differs): "
                         "it is not shown and cannot be edited")
        f.input_checked = True

    # -- edits -----------------------------------------------------------------------------
    def file_edits(self, f: ReviewFile) -> FileEdits:
        return self.edits.files.get(f.sha) or FileEdits(f.sha, f.kind, f.entry.get("relative_path"))

    def set_edits(self, fid: int, body: dict) -> dict:
        """Replace one file's edits (validated against the run) and save the edits file.

        ``body`` is the file's entry of the edits file (``added``, ``removed``,
        ``left_visible``, ``extended``, ``reviewed``); its SHA-256, kind and path
        are the run's. With ``base``, the ``revision`` of the edits the change was
        made on, a file whose edits changed since (a second tab, window or
        person) refuses it (:class:`Conflict`) instead of silently dropping those
        edits: one of them may cover a face. Returns :meth:`edit_state`.
        """
        self.refresh()  # a change made on another run's page is then a conflict (its revision)
        f = self.file(fid, editable=True)
        if self.edits_problem:
            raise Refused(self.edits_problem)
        if not isinstance(body, dict):
            raise Refused("edits must be a JSON object")
        base = body.get("base")
        body = {k: v for k, v in body.items() if k != "base"}
        body.update(kind=f.kind, relative_path=f.entry.get("relative_path"))
        try:
            edits = FileEdits.from_dict(f.sha, body, "edits")
            apply_edits(f.frames, edits, region_shape=self.config.region_shape)  # the check Apply makes
        except VeilError as exc:
            raise Refused(str(exc)) from None
        with self.lock:
            if base is not None and base != self.revision(f):
                raise Conflict("this file's edits were changed elsewhere (another tab or window, or another "
                               "veil run into the folder) since this page read them; nothing was saved")
            files = dict(self.edits.files)
            files[f.sha] = edits
            if not (edits.changes_media or edits.reviewed):
                del files[f.sha]
            self.edits = Edits(detection=self.edits.detection, files=files)
            save_edits(self.edits, self.edits_path)
        return self.edit_state(f)

    def revision(self, f: ReviewFile) -> str:
        """A short digest of the file's edits, review marks included, and of the run they were read with:
        what a change is made on."""
        made_on = {"edits": self.file_edits(f).to_dict(), "generation": self.generation, "sha": f.sha}
        return hashlib.sha256(json.dumps(made_on, sort_keys=True).encode()).hexdigest()[:16]

    def edit_state(self, f: ReviewFile) -> dict:
        """The file's edits and what they mean for each item, for the page."""
        edits = self.file_edits(f)
        states = {r.key: "removed" for r in edits.removed}
        states.update({r.key: "left_visible" for r in edits.left_visible})
        return {"edits": {k: v for k, v in edits.to_dict().items() if k not in ("kind", "relative_path")},
                "states": states, "reviewed": sorted(r.key for r in edits.reviewed),
                "extended": {e.item.key: [e.first, e.last] for e in edits.extended},
                "pending": self.needs_render(f), "marks_pending": self.needs_record(f), "revision": self.revision(f)}

    def applied_sha(self, f: ReviewFile) -> str:
        """SHA-256 of the edits the file's current output was rendered with."""
        review = f.entry.get("review")
        if review:
            return review.get("edits_sha256")
        return FileEdits(f.sha, f.kind, f.entry.get("relative_path")).sha256

    def needs_render(self, f: ReviewFile) -> bool:
        """True when the edits now differ from those the output was rendered with."""
        return not f.problem and self.file_edits(f).sha256 != self.applied_sha(f)

    def needs_record(self, f: ReviewFile) -> bool:
        """True when only the review marks differ from the report's."""
        before = sorted(json.dumps(r, sort_keys=True) for r in (f.entry.get("review") or {}).get("reviewed", []))
        now = sorted(json.dumps(r.to_dict(), sort_keys=True) for r in self.file_edits(f).reviewed)
        return not f.problem and before != now

    def _changes(self, f: ReviewFile) -> dict:
        """How many items a person removed, left visible, drew or extended in this file (nonzero only)."""
        edits = self.file_edits(f) if f.sha else None
        counts = {} if edits is None else {"removed": len(edits.removed), "left_visible": len(edits.left_visible),
                                           "added": len(edits.added), "extended": len(edits.extended)}
        return {k: n for k, n in counts.items() if n}

    # -- what the page reads ---------------------------------------------------------------
    def overview(self) -> dict:
        self.refresh()  # what another veil run into the folder wrote since, not what was read at start
        files = []
        for f in self.files:
            counts = {k: sum(1 for it in f.items if k in it["flags"])
                      for k in ("residual", "leak", "unverifiable", "gaps")}
            reviewed = {r.key for r in self.file_edits(f).reviewed} if f.sha else set()
            files.append({"id": f.id, "relative_path": f.entry.get("relative_path") or f.entry.get("input"),
                          "kind": f.kind, "problem": f.problem, "counts": counts, "items": len(f.items),
                          "reviewed": sum(1 for it in f.items if it["key"] in reviewed),
                          "priority": min((it["priority"] for it in f.items), default=9),
                          "needs_eyes": any(it["needs_eyes"] and it["key"] not in reviewed for it in f.items),
                          "verdict": (f.entry.get("verification") or {}).get("verdict"),
                          "edited": bool(f.sha in self.edits.files), "changes": self._changes(f),
                          "pending": self.needs_render(f) or self.needs_record(f),
                          "frames": f.entry.get("frames"), "faces": f.entry.get("faces"),
                          "covered": dict(f.entry.get("covered") or {})})
        files.sort(key=lambda x: (x["problem"] is not None, not x["needs_eyes"], x["priority"], -x["counts"]["residual"],
                                  -x["counts"]["leak"], x["id"]))
        # Outputs earlier runs left in the folder: publishing the folder publishes them (not reviewable
        # here: they were made with other settings or inputs; the report keeps them as written then).
        earlier = [dict(zip(("relative_path", "verdict"), entry_name_and_verdict(e)))
                   for e in self.report.get("earlier_runs") or [] if isinstance(e, dict)]
        return {"outdir": self.outdir.name, "summary": self.report.get("summary"), "files": files, "earlier": earlier,
                "generation": self.generation, "problem": self.edits_problem,
                "mode": self.config.mode.value, "verify": self.config.verify}

    def file_model(self, fid: int) -> dict:
        f = self.file(fid)
        if f.input is not None:
            self._check_input(f)
        entry, media = f.entry, f.entry.get("media") or {}
        model = {"id": f.id, "relative_path": entry.get("relative_path"), "kind": f.kind, "problem": f.problem,
                 "width": media.get("width"), "height": media.get("height"), "frames": entry.get("frames") or 1,
                 "rate": _rate(media.get("average_rate")), "cuts": entry.get("cuts") or [],
                 "tracks": entry.get("tracks") or [], "items": f.items, "shape": self.config.region_shape.value,
                 "verdict": (entry.get("verification") or {}).get("verdict"), "applied": entry.get("review")}
        if f.frames is not None and f.kind == "image":
            model["rows"] = frame_rows(f.frames[0], self.config)
        if f.sha:
            model.update(self.edit_state(f))
        return model

    def boxes(self, fid: int, start: int, stop: int) -> dict:
        """Boxes per frame in ``[start, stop)`` (see :func:`~veil.review.model.frame_rows`)."""
        f = self.file(fid)
        if f.frames is None:
            raise Refused(f.problem or "no boxes")
        start, stop = max(0, start), min(len(f.frames), stop, start + _BOX_CHUNK_MAX)
        return {"start": start, "stop": stop,
                "frames": {str(i): frame_rows(f.frames[i], self.config) for i in range(start, stop) if len(f.frames[i])}}

    def picture(self, fid: int, which: str, index: int = 0) -> bytes:
        """JPEG of the input or output picture (a photo) or of frame ``index`` (a video)."""
        f = self.file(fid, editable=which == "input")
        if which not in ("input", "output") or f.output is None or (which == "output" and not f.output.is_file()):
            raise NotFound("no such picture")
        path = f.input if which == "input" else f.output
        if f.kind == "image":
            if index != 0:
                raise NotFound("a photo has one picture")
            return self.pictures.photo((fid, which), path)
        try:
            return self.pictures.frame((fid, which), path, index, frames=f.entry.get("frames"))
        except IndexError:
            raise NotFound(f"no frame {index}") from None

    def thumbnail(self, fid: int) -> bytes:
        """A small JPEG of the output (a photo, or a video's first frame): never of the original."""
        return self.pictures.thumbnail((fid, "thumb"), self.picture(fid, "output", 0))

    def close(self) -> None:
        self.pictures.shutdown()


def _rate(text) -> float | None:
    try:
        num, den = str(text).split("/")
        return round(int(num) / int(den), 6) if int(den) else None
    except (ValueError, AttributeError):
        return None
