"""Exit codes and the exceptions that map onto them.

Every error veil raises for a file is a :class:`VeilError` whose message is one
line, fit to print after the file name. The CLI turns these into exit codes.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes of the ``veil`` command (documented in the README)."""

    OK = 0  #: every file processed (and verified, where verification ran)
    FILE_ERROR = 1  #: at least one file failed; no output was written for it
    USAGE = 2  #: bad command line or options
    LEAK = 3  #: verification found a face that still matches or a residual face


class VeilError(Exception):
    """Base class of every error veil reports for a file or an option."""

    def __init__(self, message: str) -> None:
        # One line only: the CLI prints ``veil: <file>: <message>``.
        super().__init__(" ".join(str(message).split()))


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
