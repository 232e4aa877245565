"""What a picture file says about people, besides its pixels (``veil audit``).

:func:`image_metadata` lists the identifying metadata of a picture without
decoding its pixels: EXIF GPS position, device make/model/serial numbers,
timestamps, owner/artist/copyright names, software, embedded thumbnails and
previews (un-anonymized copies of the picture), data appended after a JPEG
(motion-photo videos), XMP (with person names from face-region tags), IPTC,
ICC profile, comments and PNG text chunks, maker notes, HEIF depth/auxiliary
images.

Each finding is a dict::

    {"kind": "gps", "field": "GPSLatitude", "value": 48.8584, "risk": "high"}

``kind`` is one of :data:`KINDS`; ``risk`` is ``'high'`` (locates or names a
person, or holds an un-anonymized copy of the picture), ``'medium'`` (narrows
down who or when: device, timestamps, free text) or ``'low'`` (rarely
identifying on its own). Values are JSON-ready (str, int, float, bool, lists,
dicts); strings are cut to :data:`MAX_TEXT` characters. The result never
contains pixels (a thumbnail is reported by its size only).

veil's writers carry none of this: see :func:`veil.media.image.write_image`.

Modules: ``findings`` (kinds, risks, JSON-ready values), ``exif`` (EXIF and
GPS tags, thumbnails), ``containers`` (XMP, IPTC, ICC, PNG chunks, JPEG
segments). Import the public names from :mod:`veil.media.metadata`.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from veil.errors import MediaError, TooLargeError, VeilError

from .containers import collect_icc, collect_iptc, collect_jpeg, collect_png, collect_xmp
from .exif import collect_exif, exif_from_bytes
from .findings import KIND_LABELS, KINDS, MAX_TEXT, RISKS, Findings, short_text

__all__ = ["image_metadata", "removed_summary", "KINDS", "KIND_LABELS", "RISKS", "MAX_TEXT"]


def image_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """List what a picture file's metadata reveals about people.

    Parameters
    ----------
    path : str or os.PathLike
        A JPEG, PNG, WebP, TIFF, BMP, GIF, HEIF or AVIF file. Only read;
        pixels are not decoded.

    Returns
    -------
    dict
        JSON-ready::

            {"format": "JPEG", "width": 4032, "height": 3024,
             "findings": [{"kind", "field", "value", "risk"}, ...],
             "risk": "high" | "medium" | "low" | "none",
             "counts": {"high": int, "medium": int, "low": int}}

        ``width``/``height`` are as stored (before orientation). ``risk`` is
        the highest risk among the findings.

    Raises
    ------
    veil.errors.MediaError
        Missing, empty, or not a readable picture (one-line message).
    veil.errors.TooLargeError
        Header beyond Pillow's decompression-bomb limit.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or exc}") from exc
    if not data:
        raise MediaError("empty file")
    from veil.media.image import register_heif
    from veil.media.image.formats import OPEN_FORMATS

    register_heif()
    out = Findings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # corrupt-EXIF chatter; the audit reports what it can
        try:
            with Image.open(io.BytesIO(data), formats=OPEN_FORMATS) as im:
                fmt = "JPEG" if im.format == "MPO" else str(im.format)
                width, height = im.size
                _collect_all(im, fmt, data, out)
        except VeilError:
            raise
        except Image.DecompressionBombError as exc:
            raise TooLargeError(f"picture too large: {' '.join(str(exc).split())}") from exc
        except UnidentifiedImageError as exc:
            raise MediaError("not a supported picture (unrecognized or corrupt data)") from exc
        except Exception as exc:
            raise MediaError(f"corrupt picture: {' '.join(str(exc).split())}") from exc

    counts = {r: sum(1 for f in out.items if f["risk"] == r) for r in RISKS}
    top = next((r for r in RISKS if counts[r]), "none")
    return {
        "format": fmt,
        "width": int(width),
        "height": int(height),
        "findings": out.items,
        "risk": top,
        "counts": counts,
    }


def removed_summary(findings: list[dict[str, Any]], *, audio_kept: bool = False) -> list[dict[str, Any]]:
    """What kinds of metadata an output no longer carries: kinds and counts, never values.

    A report travels with the outputs, so it must not repeat what veil
    stripped: it says "GPS location: removed", not where.

    Parameters
    ----------
    findings : list of dict
        ``image_metadata(...)["findings"]`` or ``video_metadata(...)["findings"]``.
    audio_kept : bool, keyword-only
        The audio streams were copied (``--audio keep``).

    Returns
    -------
    list of dict
        ``[{"kind": "gps", "label": "GPS location", "count": 2, "status": "removed"}, ...]``
        in :data:`KINDS` order.
    """
    counts: dict[str, int] = {}
    for f in findings:
        kind = f.get("kind") if f.get("kind") in KIND_LABELS else "exif"
        counts[kind] = counts.get(kind, 0) + 1
    return [{"kind": k, "label": KIND_LABELS[k], "count": counts[k],
             "status": "kept" if k == "audio" and audio_kept else "removed"}
            for k in KINDS if k in counts]


def _collect_all(im: Image.Image, fmt: str, data: bytes, out: Findings) -> None:
    info = im.info
    exif_raw: bytes | None = None
    xmp_raw: bytes | str | None = None
    if fmt == "PNG":
        exif_raw, xmp_raw = collect_png(data, out)
    else:
        raw = info.get("exif")
        exif_raw = raw if isinstance(raw, bytes) and raw else None
        xmp_raw = info.get("xmp") or info.get("XML:com.adobe.xmp") or None

    if fmt == "TIFF":
        try:
            exif = im.getexif()  # IFD0 tags, read from the file without decoding
        except Exception:
            exif = None
        if exif is not None:
            collect_exif(exif, None, out)
    elif exif_raw:
        exif = exif_from_bytes(exif_raw)
        if exif is not None:
            collect_exif(exif, exif_raw, out)

    if xmp_raw:
        collect_xmp(xmp_raw, out)
    if fmt in ("JPEG", "TIFF"):
        collect_iptc(im, out)
    icc = info.get("icc_profile")
    if icc:
        collect_icc(icc, out)
    if fmt == "JPEG":
        collect_jpeg(im, data, out)
    elif fmt in ("GIF", "WEBP") and info.get("comment"):
        out.add("comment", f"{fmt} comment", short_text(info["comment"]), "medium")
    if fmt == "HEIF":
        thumbs = info.get("thumbnails") or []
        if thumbs:
            out.add("thumbnail", "HEIF thumbnails", {"count": len(thumbs)}, "high")
        depth = info.get("depth_images") or []
        if depth:
            out.add("aux", "HEIF depth images", {"count": len(depth)}, "medium")
        aux = info.get("aux") or {}
        if aux:
            kinds = sorted(str(k) for k in aux)
            out.add("aux", "HEIF auxiliary images", {"types": kinds[:16]}, "medium")
    n = int(getattr(im, "n_frames", 1) or 1)
    if n > 1 and fmt != "JPEG":
        out.add("thumbnail", "extra frames/pages", {"count": n - 1}, "medium")
