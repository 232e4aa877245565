"""The run journal: what an interrupted run already finished, so a rerun resumes.

``OUTDIR/.veil-journal.jsonl`` is append-only JSON lines, one per finished file,
each flushed and fsynced before the next file is recorded. A line holds the
input's path relative to its input root, its identity (below), the settings
fingerprint, the output's path relative to OUTDIR with its size and SHA-256,
the status, and the file's report entry exactly as the report holds it, so the
final report is rebuilt whole without redoing files. A rerun of the same
command skips a file whose last line says ``ok`` with the same input, the same
settings and the same output still in place; it redoes every other file.
``--restart`` appends a restart line: nothing before it is used again.

The journal sits beside the outputs, so it holds only what the report may hold
(``docs/REPORT.md``): relative paths, veil's own facts, never a stripped value.
The input's identity is its SHA-256 when the report carries it; with
``--no-input-hash`` it is an HMAC of that SHA-256 under a key kept outside
OUTDIR (``$XDG_STATE_HOME/veil/journal.key``), which ties an output to its
original for no one who does not hold that key.

A line cut by SIGKILL is ignored when read, and the next line starts afresh.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .._version import __version__
from ..config import VIDEO_ONLY_FIELDS, Config
from ..errors import VeilError, shown
from ..media import file_sha256
from ..media.atomic import fsync_path

__all__ = ["JOURNAL_NAME", "SCHEMA", "Journal", "JournalEntry", "settings_fingerprint", "settings_fingerprints",
           "job_fingerprint",
           "input_identity",
           "journal_key", "entry_for", "output_digest"]

JOURNAL_NAME = ".veil-journal.jsonl"
SCHEMA = "veil-journal/1"
#: Config fields that do not change what a run writes (detections do not depend on them).
_NOT_OUTPUT_FIELDS = frozenset({"threads"})


def settings_fingerprint(config: Config, *, masks: bool, input_hash: bool, kind: str = "video") -> str:
    """A digest of everything that shapes a file's output and report entry.

    Every :class:`~veil.config.Config` field except ``threads`` (for a ``kind``
    ``"image"`` file, also except :data:`~veil.config.VIDEO_ONLY_FIELDS`), the
    masks and input-hash options, and veil's version (a new version may cover
    differently).
    """
    skip = _NOT_OUTPUT_FIELDS | (frozenset(VIDEO_ONLY_FIELDS) if kind == "image" else frozenset())
    settings = {k: v for k, v in config.to_dict().items() if k not in skip}
    blob = json.dumps({"settings": settings, "masks": bool(masks), "input_hash": bool(input_hash),
                       "veil": __version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def settings_fingerprints(config: Config, *, masks: bool, input_hash: bool) -> dict[str, str]:
    """:func:`settings_fingerprint` by a file's kind (``image``, ``video``; any other kind: ``video``'s,
    which holds every setting)."""
    return {kind: settings_fingerprint(config, masks=masks, input_hash=input_hash, kind=kind)
            for kind in ("image", "video")}


def _of_kind(fingerprints: dict[str, str], kind) -> str:
    return fingerprints.get(kind) or fingerprints["video"]


def job_fingerprint(fingerprint: str, job) -> str:
    """The run's settings fingerprint, with the digest of the person's edits of this file, if any:
    a file redone with (other) edits is another output."""
    edits = getattr(job, "edits", None)
    if edits is None:
        return fingerprint
    return hashlib.sha256(f"{fingerprint}:{edits.sha256}".encode()).hexdigest()


def journal_key(*, create: bool = True) -> bytes | None:
    """The HMAC key of ``--no-input-hash`` journals, kept outside every OUTDIR.

    ``$XDG_STATE_HOME/veil/journal.key`` (``~/.local/state/veil/journal.key``),
    32 random bytes, mode 0600; None when it cannot be read or made (resume
    then redoes every file of such runs).
    """
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = Path(base) / "veil" / "journal.key"
    try:
        data = path.read_bytes()
        if len(data) == 32:
            return data
    except OSError:
        pass
    if not create:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        return path.read_bytes()
    except OSError:
        return None


def input_identity(sha256_hex: str | None, *, input_hash: bool, key: bytes | None) -> str | None:
    """The journal's identity of an input: ``sha256:<hex>``, or ``hmac:<hex>`` without input hashes."""
    if sha256_hex is None:
        return None
    if input_hash:
        return f"sha256:{sha256_hex}"
    if key is None:
        return None
    return "hmac:" + hmac.new(key, bytes.fromhex(sha256_hex), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class JournalEntry:
    """One finished file, as the journal holds it."""

    rel: str  #: input path relative to its input root
    output: str | None  #: output path relative to OUTDIR
    input: str | None  #: :func:`input_identity`
    settings: str  #: :func:`settings_fingerprint`
    status: str  #: "ok" or "failed"
    output_size: int | None
    output_sha256: str | None
    entry: dict  #: the report's entry for the file (docs/REPORT.md)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"), allow_nan=False, default=_plain)


def _plain(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class Journal:
    """The journal of one output folder; used by the run that holds the folder's lock.

    Parameters
    ----------
    outdir : Path
    restart : bool
        Ignore what the journal holds (and mark it so for later runs).
    """

    def __init__(self, outdir: Path, *, restart: bool = False) -> None:
        self.path = Path(outdir) / JOURNAL_NAME
        self.latest: dict[str, JournalEntry] = {}  # output rel -> last line for it
        if not restart:
            self.latest = self._read()
        self._f = None
        self._restart = restart

    def _read(self) -> dict[str, JournalEntry]:
        latest: dict[str, JournalEntry] = {}
        self._refuse_link()
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return latest
        except OSError as exc:
            raise VeilError(f"cannot read the journal {shown(self.path.name)}: {exc.strerror or exc}") from None
        fields = {f.name for f in dataclasses.fields(JournalEntry)}
        for line in lines:
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill
            if not isinstance(item, dict):
                continue
            if item.get("restart"):
                latest.clear()
            elif set(item) == fields and isinstance(item["entry"], dict) and item["output"]:
                latest[str(item["output"])] = JournalEntry(**item)
        return latest

    def _refuse_link(self) -> None:
        # A link planted as the journal would have veil read another file's lines and append to it.
        if self.path.is_symlink():
            raise VeilError(f"{JOURNAL_NAME} in the output folder is a link, not veil's journal: remove it "
                            "(veil reads and writes nothing through it)")

    def open(self) -> "Journal":
        """Open for appending (a header line for a new journal, a restart line with ``restart``)."""
        self._refuse_link()
        try:
            fresh = not self.path.exists()
            self._f = open(self.path, "a", encoding="utf-8")
            if not fresh and self.path.stat().st_size:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        self._f.write("\n")  # after a line cut by a kill
            if fresh:
                self._write({"journal": SCHEMA})
            if self._restart and not fresh:
                self._write({"restart": True})
            if fresh:
                fsync_path(self.path.parent)
        except OSError as exc:
            raise VeilError(f"cannot write the journal in the output folder: {exc.strerror or exc}") from None
        return self

    def _write(self, item: dict | str) -> None:
        self._f.write((item if isinstance(item, str) else json.dumps(item)) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def append(self, entry: JournalEntry) -> None:
        """Record one finished file (flushed and fsynced before it returns)."""
        try:
            self._write(entry.to_json())
        except OSError as exc:
            raise VeilError(f"cannot write the journal in the output folder: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def candidates(self, jobs: Iterable, fingerprints: dict[str, str]) -> dict[int, JournalEntry]:
        """Jobs (by position) whose last line is ``ok`` with these settings (:func:`settings_fingerprints`,
        for the kind of file the line records) and whose output is in place.

        Cheap checks only (paths, settings, output size); :meth:`confirm` hashes.
        """
        found = {}
        for index, job in enumerate(jobs):
            e = self.latest.get(str(job.out_rel))
            if (e is None or e.status != "ok"
                    or e.settings != job_fingerprint(_of_kind(fingerprints, e.entry.get("kind")), job)
                    or e.rel != str(job.rel) or e.output_size is None):
                continue
            try:
                if job.dst.stat().st_size != e.output_size:
                    continue
            except OSError:
                continue
            if job.mask is not None and not (job.mask.exists() or Path(str(job.mask) + ".png").exists()):
                continue
            found[index] = e
        return found

    @staticmethod
    def confirm(jobs: list, found: dict[int, JournalEntry], *, input_hash: bool, key: bytes | None,
                threads: int = 4) -> dict[int, JournalEntry]:
        """Those of ``found`` whose input and output hash as recorded (files read in ``threads`` threads)."""
        def same(item) -> bool:
            index, e = item
            job = jobs[index]
            try:
                source = file_sha256(job.src)
                ident = input_identity(source, input_hash=input_hash, key=key)
                output = file_sha256(job.dst)
                # A file with anything covered cannot come out as its input: a line saying so is not
                # veil's (an original put in place of its output, the line edited to match, was kept).
                covered = bool(e.entry.get("faces")) or any((e.entry.get("covered") or {}).values())
                return (ident is not None and ident == e.input and output == e.output_sha256
                        and not (covered and output == source))
            except OSError:
                return False

        items = sorted(found.items())
        with concurrent.futures.ThreadPoolExecutor(max(1, threads), thread_name_prefix="veil-resume") as pool:
            return {i: e for (i, e), ok in zip(items, pool.map(same, items)) if ok}


def output_digest(report, job) -> tuple[int | None, str | None]:
    """(size, SHA-256) of a finished file's output; (None, None) when it failed.

    Run where the file was made (a worker reads it back from its cache)."""
    if not report.ok or not job.dst.is_file():
        return None, None
    return job.dst.stat().st_size, file_sha256(job.dst)


def entry_for(report, job, *, fingerprints: dict[str, str], input_hash: bool, key: bytes | None,
              digest: tuple[int | None, str | None] | None = None) -> JournalEntry:
    """The journal line of a finished file (``fingerprints`` from :func:`settings_fingerprints`);
    ``digest`` from :func:`output_digest` (made here when None)."""
    size, digest = digest if digest is not None else output_digest(report, job)
    return JournalEntry(rel=str(job.rel), output=str(job.out_rel), status=report.status.value,
                        input=input_identity(report.input_sha256, input_hash=input_hash, key=key),
                        settings=job_fingerprint(_of_kind(fingerprints, report.kind), job), output_size=size, output_sha256=digest,
                        entry=report.to_dict(input_hash=input_hash))

