"""Media input and output: pictures (Pillow) and video (PyAV)."""

from __future__ import annotations

import hashlib
import os
import pathlib

from ..errors import TooLargeError

__all__ = ["file_sha256", "check_size", "inside"]


def check_size(width: int, height: int, max_pixels: int) -> None:
    """Refuse a picture or video frame over ``max_pixels`` (``TooLargeError``): the one limit
    for files (read from their header, before decoding) and for arrays given to the API."""
    if width * height > max_pixels:
        raise TooLargeError(f"picture too large: {width}x{height} = {width * height} pixels, "
                            f"over the limit of {max_pixels}")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes as hex, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def inside(folder: "str | os.PathLike", rel) -> "pathlib.Path | None":
    """``folder / rel`` where that path stays inside ``folder`` once links are followed; None for
    anything else (not text, absolute, ``..`` out, a link leading out). What a report or journal in
    an output folder names is read or written only through this: the folder may come from elsewhere.
    """
    if not isinstance(rel, str) or not rel or "\x00" in rel or pathlib.Path(rel).is_absolute():
        return None
    root = pathlib.Path(folder).resolve()
    target = pathlib.Path(folder) / rel
    resolved = target.resolve()
    return target if resolved != root and root in resolved.parents else None
