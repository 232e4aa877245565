"""Exit codes and the exceptions that map onto them.

Every error veil raises for a file is a :class:`VeilError` whose message is one
line, fit to print after the file name. The CLI turns these into exit codes.
"""

from __future__ import annotations

import enum
import os
import re
import signal
import unicodedata


class ExitCode(enum.IntEnum):
    """Process exit codes of the ``veil`` command (documented in the README)."""

    OK = 0  #: every file processed (and verified, where verification ran)
    FILE_ERROR = 1  #: at least one file failed; no output was written for it
    USAGE = 2  #: bad command line or options
    LEAK = 3  #: verification found a face that still matches or a residual face
    #: Stopped by a signal: 128 + its number (SIGHUP 129, SIGINT 130, SIGTERM 143),
    #: as shells report it. Unfinished files have no output.
    INTERRUPTED = 130


def interrupted_exit_code(signum: int) -> int:
    """The exit status for a run stopped by ``signum`` (128 + its number)."""
    return 128 + int(signum)


class Interrupted(BaseException):
    """A signal (SIGTERM, SIGHUP, SIGINT) stopped the run.

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception``
    swallows it, so every ``atomic_output`` on the way out removes its
    temporary file.
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        try:
            name = signal.Signals(self.signum).name
        except ValueError:
            name = f"signal {self.signum}"
        super().__init__(name)

    def __reduce__(self):  # crosses process boundaries (--jobs workers)
        return (type(self), (self.signum,))

    @property
    def exit_code(self) -> int:
        return interrupted_exit_code(self.signum)


class VeilError(Exception):
    """Base class of every error veil reports for a file or an option."""

    def __init__(self, message: str, *, path: "str | os.PathLike | None" = None) -> None:
        # One line only: the CLI prints ``veil: <file>: <message>``.
        super().__init__(" ".join(str(message).split()))
        #: The file the error is about, where a command handles several (``veil verify``).
        self.path = path


class UsageError(VeilError):
    """An invalid option or combination of options (exit code 2)."""


class MediaError(VeilError):
    """A file that cannot be read, decoded, or written (not media, truncated, ...)."""


class UnsupportedMediaError(MediaError):
    """A readable file whose content veil does not handle (no video stream, codec...)."""


class TooLargeError(MediaError):
    """A picture over the pixel limit (decompression bomb guard)."""


class ModelError(VeilError):
    """A model file that is missing from the installed packages."""


class OutputInUseError(VeilError):
    """Another veil run holds the output folder."""


# A POSIX absolute path inside an exception's text: a report travels with the outputs and
# holds no absolute path, so an unforeseen error's text keeps the last name only.
_ABSOLUTE = re.compile(r"(?<![\w.~])/(?:[^\s'\"/]+/)+")


def failure_message(exc: Exception) -> str:
    """The one line a file's failure is reported with, for any exception; no absolute path."""
    if isinstance(exc, VeilError):
        return _ABSOLUTE.sub("", str(exc))
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, OSError) and exc.strerror:  # the file system refused: say what, name files by name
        names = [os.path.basename(os.fsdecode(n)) for n in (exc.filename, exc.filename2) if n]
        return exc.strerror + (f": {shown(' -> '.join(names))}" if names else "")
    return _ABSOLUTE.sub("", f"internal error: {type(exc).__name__}: {exc}")


def shown(name: str | os.PathLike | bytes) -> str:
    r"""A file name fit for a one-line message: control characters, escapes and
    bytes that are not UTF-8 are shown escaped, in quotes.

    A name is printed as is when every character is printable; otherwise it
    is quoted the way Python writes a string, so a newline or an escape
    sequence in a file name can neither forge a line nor drive the terminal.

    Examples
    --------
    >>> shown("photos/a b.jpg")
    'photos/a b.jpg'
    >>> shown("evil\nveil: all good.jpg")
    "'evil\\nveil: all good.jpg'"
    """
    if isinstance(name, bytes):
        text = os.fsdecode(name)
    else:
        text = os.fspath(name)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
    if all(_plain(c) for c in text):
        return text
    escaped = "".join(c if _plain(c) and c not in "'\\" else _escape(c) for c in text)
    return f"'{escaped}'"


def _plain(c: str) -> bool:
    # Letters, marks, numbers, punctuation, symbols and the plain space; no
    # control, format (bidi overrides), surrogate (undecodable byte) or separator.
    return c == " " or unicodedata.category(c)[0] in "LMNPS"


def _escape(c: str) -> str:
    if c in "'\\":
        return "\\" + c
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
