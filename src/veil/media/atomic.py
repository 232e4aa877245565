"""Atomic output: write to a temporary file beside the target, then rename.

An interrupted or failed write leaves no file at the target path and removes
its temporary file, so a reader never sees half an output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_output", "TEMP_PREFIX"]

TEMP_PREFIX = ".veil-tmp-"


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; on clean exit rename it to ``target``.

    The temporary file keeps the target's suffix, so writers that pick a
    format from the extension (PyAV, Pillow) still do. On any exception,
    including ``KeyboardInterrupt``, the temporary file is deleted and the
    exception propagates; ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise OSError(f"writer produced no data for {target.name}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
