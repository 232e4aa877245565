"""Tell pictures from videos by content (magic bytes) first, extension second.

:func:`media_kind` reads at most a few kilobytes from the start of a file and
never decodes it. When the bytes identify a known container, the bytes win
over the name (a PNG called ``photo.jpg`` is an image; an MP4 called
``clip.jpg`` is a video). When they identify nothing (a text file called
``photo.jpg``, a format whose signature is not listed here), the extension
decides, so that the reader for that extension reports a clear error instead
of the file being skipped silently. Files positively identified as audio only
(MP3, WAV, FLAC, M4A, Ogg Vorbis/Opus) are not media for veil (``None``).

Animated pictures (GIF, WebP, PNG/APNG, AVIF, HEIF sequences) are ``'image'``
here; :func:`veil.media.image.read_image` refuses them with a clear
:class:`~veil.errors.UnsupportedMediaError` rather than anonymizing only
their first frame.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

from veil.errors import MediaError, UnsupportedMediaError

__all__ = ["media_kind", "require_media", "image_format", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "MediaKind"]

MediaKind = Literal["image", "video"]

#: Lower-case suffixes of the picture formats veil reads (for walking folders).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif",
        ".png",
        ".webp",
        ".tif", ".tiff",
        ".bmp", ".dib",
        ".gif",
        ".heic", ".heif", ".hif",
        ".avif",
    }
)  # fmt: skip

#: Lower-case suffixes of the video containers veil hands to PyAV.
VIDEO_SUFFIXES: frozenset[str] = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2", ".f4v",
        ".mkv", ".webm",
        ".avi", ".divx",
        ".ts", ".mts", ".m2ts", ".m2t",
        ".mpg", ".mpeg", ".m1v", ".m2v", ".vob",
        ".flv",
        ".wmv", ".asf",
        ".ogv",
        ".mxf",
        ".dv",
    }
)  # fmt: skip

_HEAD_BYTES = 4096

# ISO base media file format (ftyp) brands.
_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"heif",
     b"mif1", b"mif2", b"msf1", b"avif", b"avis", b"avio"}
)  # fmt: skip
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
# Top-level QuickTime atoms that can open a .mov written without an ftyp box.
_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_MXF_KEY = bytes.fromhex("060e2b34020501010d010201")


def _content_kind(head: bytes) -> MediaKind | None | Literal["audio", "unknown"]:
    """Classify the first bytes of a file; ``'unknown'`` when nothing matched."""
    # --- pictures -------------------------------------------------------
    if head.startswith(b"\xff\xd8\xff"):
        return "image"  # JPEG (JFIF, EXIF, MPO)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "image"  # TIFF / BigTIFF (also TIFF-based camera RAW, refused on read)
    if head[:2] == b"BM" and len(head) >= 18:
        dib = int.from_bytes(head[14:18], "little")
        if head[6:10] == b"\x00\x00\x00\x00" and dib in (12, 16, 40, 52, 56, 64, 108, 124):
            return "image"
    # --- RIFF: WebP / AVI / WAV -----------------------------------------
    if head[:4] == b"RIFF" and len(head) >= 12:
        form = head[8:12]
        if form == b"WEBP":
            return "image"
        if form in (b"AVI ", b"AVIX", b"AMV "):
            return "video"
        if form == b"WAVE":
            return "audio"
        return "unknown"
    # --- ISO base media (MP4, MOV, 3GP, HEIF, AVIF) ---------------------
    if head[4:8] == b"ftyp" and len(head) >= 12:
        major = head[8:12]
        if major in _IMAGE_BRANDS:
            return "image"
        if major in _AUDIO_BRANDS:
            return "audio"
        if major == b"crx ":
            return "unknown"  # Canon CR3 RAW: not a video; the extension decides
        return "video"
    if head[4:8] in _QT_ATOMS and len(head) >= 8:
        return "video"
    # --- other video containers -----------------------------------------
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"  # Matroska / WebM (EBML)
    if head.startswith(b"FLV\x01"):
        return "video"
    if head.startswith(_ASF_GUID):
        return "video"  # ASF / WMV
    if head.startswith(_MXF_KEY):
        return "video"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "video"  # MPEG program stream / MPEG-1/2 elementary video
    if len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:
        return "video"  # MPEG transport stream, 188-byte packets
    if len(head) >= 197 and head[4] == 0x47 and head[196] == 0x47:
        return "video"  # M2TS / AVCHD, 192-byte packets
    if head.startswith(b"OggS"):
        return "video" if b"\x80theora" in head else "audio"
    # --- audio-only (positively not media for veil) ---------------------
    if head.startswith((b"ID3", b"fLaC")) or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio"
    return "unknown"


def media_kind(path: str | os.PathLike) -> MediaKind | None:
    """Classify a file as a picture, a video, or neither.

    Parameters
    ----------
    path : str or os.PathLike
        File to look at. Only its first few kilobytes are read.

    Returns
    -------
    {'image', 'video'} or None
        ``'image'`` for JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF and AVIF
        content; ``'video'`` for MP4/MOV/M4V/3GP (ISO ``ftyp`` brands),
        Matroska/WebM, AVI, MPEG-TS/M2TS, MPEG-PS, FLV, ASF/WMV, MXF and Ogg
        Theora. When the content matches none of these, the (case-insensitive)
        extension decides via :data:`IMAGE_SUFFIXES` / :data:`VIDEO_SUFFIXES`.
        ``None`` for an empty file, a directory or other non-regular file,
        audio-only content, and unknown content with an unknown extension.

    Raises
    ------
    veil.errors.MediaError
        If the file exists but cannot be read (permissions, I/O error).
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return None
    try:
        with open(p, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or exc}") from exc
    kind = _content_kind(head)
    if kind in ("image", "video"):
        return kind  # type: ignore[return-value]
    if kind == "audio":
        return None
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def require_media(path: str | os.PathLike) -> MediaKind:
    """The kind of a file veil is asked to process; one-line errors otherwise.

    Raises
    ------
    veil.errors.MediaError
        No such file, or not a regular file.
    veil.errors.UnsupportedMediaError
        Not a photo or video veil can read.
    """
    p = Path(path)
    if not p.is_file():
        raise MediaError("no such file" if not p.exists() else "not a regular file", path=path)
    kind = media_kind(p)
    if kind is None:
        if p.stat().st_size == 0:
            raise MediaError("empty file", path=path)
        raise UnsupportedMediaError("not a photo or video veil can read", path=path)
    return kind


def _picture_format(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        brands = {head[i : i + 4] for i in range(8, min(len(head), 64), 4)}
        return "AVIF" if brands & {b"avif", b"avis", b"avio"} else "HEIF"
    if _content_kind(head) == "image":
        return "BMP"
    return None


def image_format(path: str | os.PathLike) -> str | None:
    """Picture format of a file's content, without decoding it.

    Parameters
    ----------
    path : str or os.PathLike
        File to look at (its first bytes only).

    Returns
    -------
    str or None
        ``'JPEG'``, ``'PNG'``, ``'GIF'``, ``'TIFF'``, ``'WEBP'``, ``'HEIF'``,
        ``'AVIF'`` or ``'BMP'`` (the values of
        :attr:`veil.media.image.Picture.format`), or ``None`` when the content
        is not a picture veil recognizes (whatever the extension says). Use it
        to name an output before reading:
        ``output_suffix(src.suffix, format=image_format(src))``.

    Raises
    ------
    veil.errors.MediaError
        If the file exists but cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or exc}") from exc
    return _picture_format(head)
