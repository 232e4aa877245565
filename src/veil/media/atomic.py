"""Atomic output: write to a temporary file beside the target, then rename.

An interrupted or failed write leaves no file at the target path and removes
its temporary file, so a reader never sees half an output. What was written
is flushed to disk (``fsync``) before the rename, and the folder after it, so
a crash or power cut cannot publish a file whose blocks never reached the disk.

Temporary names carry the writing process's id (``.veil-tmp-<pid>-...``): a
run killed with SIGKILL cannot remove its temporaries, and the next run into
the same folder removes them (:func:`remove_stale_temporaries`), holding the
folder's lock (:class:`OutputLock`) so that no live writer's file is touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from ..errors import MediaError, OutputInUseError, VeilError

__all__ = ["atomic_output", "atomic_folder", "TEMP_PREFIX", "OutputLock", "LOCK_NAME",
           "remove_stale_temporaries", "fsync_path"]

TEMP_PREFIX = ".veil-tmp-"
#: The lock file of an output folder; hidden, removed when the run ends.
LOCK_NAME = ".veil-lock"


def _temp_prefix() -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-"


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's) data and metadata to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # folders on some file systems
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike, *,
                  check: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path; on clean exit check it, flush it and rename it to ``target``.

    The temporary file keeps the target's suffix, so writers that pick a
    format from the extension (PyAV, Pillow) still do. On any exception,
    including ``KeyboardInterrupt`` and :class:`veil.errors.Interrupted`, the
    temporary file is deleted and the exception propagates; ``target`` is left
    as it was.

    Parameters
    ----------
    target : path
    check : callable(Path), optional, keyword-only
        Called on the written temporary file before it is renamed; raises when
        the file is not complete (a writer that hit a full disk without
        noticing). An empty file is always refused.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(), suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise MediaError(f"writer produced no data for {target.name}")
        if check is not None:
            check(tmp)
        fsync_path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_path(target.parent)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; on clean exit it replaces ``target`` (a folder).

    Used for outputs made of many files (a video's masks). The swap removes
    the old folder first, so there is a moment with neither; never a mix of old
    and new files. On an exception the temporary folder is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(), dir=target.parent))
    try:
        yield tmp
        for path in tmp.rglob("*"):
            if path.is_file():
                fsync_path(path)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_path(target.parent)


def remove_stale_temporaries(root: str | os.PathLike) -> int:
    """Remove veil's temporary files and folders left under ``root`` by a killed run.

    Only call this while holding ``root``'s :class:`OutputLock`: then no other
    veil process writes there. Temporaries of this process are kept. Returns
    how many were removed.
    """
    mine = _temp_prefix()
    removed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*filenames, *dirnames]:
            if not name.startswith(TEMP_PREFIX) or name.startswith(mine):
                continue
            path = Path(dirpath) / name
            with contextlib.suppress(FileNotFoundError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed += 1
        dirnames[:] = [d for d in dirnames if not d.startswith(TEMP_PREFIX)]
    return removed


class OutputLock:
    """An exclusive lock on an output folder, for the length of one run.

    Two veil runs writing into one folder would replace each other's report
    and race on outputs; the second run fails at once instead
    (:class:`veil.errors.OutputInUseError`). The lock is ``flock`` on
    ``<folder>/.veil-lock``, so it dies with its process, even on SIGKILL; the
    file is removed when the run ends.

    Examples
    --------
    >>> with OutputLock(outdir):                 # doctest: +SKIP
    ...     remove_stale_temporaries(outdir)
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "OutputLock":
        import fcntl

        while True:
            try:
                # Never through a link: one planted as the lock would have its target truncated.
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                raise VeilError(f"{LOCK_NAME} in the output folder is a link, not veil's lock: remove it "
                                "(veil writes nothing through it)") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise OutputInUseError(
                    "output folder is in use by another veil run"
                    + (f" (process {holder})" if holder else "")
                    + "; wait for it to finish or choose another folder") from None
            except BaseException:
                os.close(fd)
                raise
            # The holder before us may have removed the file after we opened
            # it: then our lock is on a file nobody else will open. Retry.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # still holding the lock: no one else has it
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
