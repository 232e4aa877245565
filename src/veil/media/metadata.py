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
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, IptcImagePlugin, UnidentifiedImageError

from veil.errors import MediaError, TooLargeError, VeilError

__all__ = ["image_metadata", "removed_summary", "KINDS", "KIND_LABELS", "RISKS", "MAX_TEXT"]

#: Finding kinds (pictures and, for ``audio`` and ``stream``, videos), and
#: what each means to a reader of the report.
KIND_LABELS = {
    "gps": "GPS location",
    "location": "place names",
    "device": "device make, model or serial number",
    "time": "dates and times",
    "person": "names of people",
    "software": "software and computer names",
    "comment": "titles, comments and other free text",
    "thumbnail": "embedded thumbnails",
    "trailer": "data appended after the picture",
    "makernote": "camera maker notes",
    "xmp": "XMP metadata",
    "iptc": "IPTC metadata",
    "icc": "colour profile",
    "exif": "other EXIF metadata",
    "aux": "auxiliary images (depth maps, previews)",
    "audio": "audio streams",
    "stream": "subtitle, data and attachment streams",
}
KINDS = tuple(KIND_LABELS)
#: Risk levels, highest first.
RISKS = ("high", "medium", "low")
#: Longest string value kept in a finding.
MAX_TEXT = 300

_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF", "HEIF")

# (tag, name, kind, risk) for IFD0 and the Exif IFD (Pillow merges nothing;
# both are looked up).
_EXIF_TAGS: tuple[tuple[int, str, str, str], ...] = (
    (0x010F, "Make", "device", "medium"),
    (0x0110, "Model", "device", "medium"),
    (0xC614, "UniqueCameraModel", "device", "medium"),
    (0xA431, "BodySerialNumber", "device", "high"),
    (0xA435, "LensSerialNumber", "device", "high"),
    (0xC62F, "CameraSerialNumber", "device", "high"),
    (0xA420, "ImageUniqueID", "device", "medium"),
    (0xA433, "LensMake", "device", "low"),
    (0xA434, "LensModel", "device", "low"),
    (0x013B, "Artist", "person", "high"),
    (0x8298, "Copyright", "person", "high"),
    (0xA430, "CameraOwnerName", "person", "high"),
    (0x9C9D, "XPAuthor", "person", "high"),
    (0x0132, "DateTime", "time", "medium"),
    (0x9003, "DateTimeOriginal", "time", "medium"),
    (0x9004, "DateTimeDigitized", "time", "medium"),
    (0x9010, "OffsetTime", "time", "low"),
    (0x9011, "OffsetTimeOriginal", "time", "low"),
    (0x9012, "OffsetTimeDigitized", "time", "low"),
    (0x0131, "Software", "software", "low"),
    (0x000B, "ProcessingSoftware", "software", "low"),
    (0x013C, "HostComputer", "software", "medium"),
    (0x010E, "ImageDescription", "comment", "medium"),
    (0x9286, "UserComment", "comment", "medium"),
    (0x9C9B, "XPTitle", "comment", "medium"),
    (0x9C9C, "XPComment", "comment", "medium"),
    (0x9C9E, "XPKeywords", "comment", "medium"),
    (0x9C9F, "XPSubject", "comment", "medium"),
)
_XP_TAGS = frozenset({0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F})

# TIFF/EXIF IFD0 tags that describe the picture's layout, not its origin, and
# pointers/containers reported on their own (XMP, IPTC, Photoshop, ICC).
_STRUCTURAL_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 274, 277, 278, 279, 280, 281,
     282, 283, 284, 286, 287, 290, 291, 296, 317, 318, 319, 320, 322, 323, 324, 325,
     338, 339, 340, 341, 347, 529, 530, 531, 532, 700, 33723, 34377, 34665, 34675,
     34853}
)  # fmt: skip

_GPS_OTHER: tuple[tuple[int, str, str], ...] = (
    (0x0011, "GPSImgDirection", "low"),
    (0x000D, "GPSSpeed", "low"),
    (0x0012, "GPSMapDatum", "low"),
    (0x001C, "GPSAreaInformation", "high"),
    (0x001B, "GPSProcessingMethod", "low"),
    (0x0014, "GPSDestLatitude", "high"),
    (0x0016, "GPSDestLongitude", "high"),
)

# XMP properties worth naming: (qualified name, kind, risk).
_XMP_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("exif:GPSLatitude", "gps", "high"),
    ("exif:GPSLongitude", "gps", "high"),
    ("exif:GPSAltitude", "gps", "medium"),
    ("Iptc4xmpCore:Location", "location", "high"),
    ("photoshop:City", "location", "medium"),
    ("photoshop:State", "location", "medium"),
    ("photoshop:Country", "location", "medium"),
    ("dc:creator", "person", "high"),
    ("dc:rights", "person", "high"),
    ("aux:OwnerName", "person", "high"),
    ("Iptc4xmpExt:PersonInImage", "person", "high"),
    ("mwg-rs:Name", "person", "high"),
    ("MP:PersonDisplayName", "person", "high"),
    ("MPRI:PersonDisplayName", "person", "high"),
    ("aux:SerialNumber", "device", "high"),
    ("aux:LensSerialNumber", "device", "high"),
    ("exifEX:BodySerialNumber", "device", "high"),
    ("exifEX:LensSerialNumber", "device", "high"),
    ("tiff:Make", "device", "medium"),
    ("tiff:Model", "device", "medium"),
    ("xmp:CreateDate", "time", "medium"),
    ("photoshop:DateCreated", "time", "medium"),
    ("exif:DateTimeOriginal", "time", "medium"),
    ("xmp:CreatorTool", "software", "low"),
    ("dc:description", "comment", "medium"),
    ("dc:title", "comment", "medium"),
)

# IPTC-IIM datasets (record 2): (dataset, name, kind, risk).
_IPTC_FIELDS: tuple[tuple[int, str, str, str], ...] = (
    (80, "By-line", "person", "high"),
    (122, "Writer-Editor", "person", "high"),
    (116, "CopyrightNotice", "person", "high"),
    (110, "Credit", "person", "medium"),
    (115, "Source", "person", "low"),
    (90, "City", "location", "medium"),
    (92, "Sub-location", "location", "high"),
    (95, "Province-State", "location", "medium"),
    (101, "Country", "location", "medium"),
    (55, "DateCreated", "time", "medium"),
    (60, "TimeCreated", "time", "medium"),
    (120, "Caption-Abstract", "comment", "medium"),
    (25, "Keywords", "comment", "low"),
)


# --------------------------------------------------------------------------
# value helpers
# --------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.rstrip(b"\x00")
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    text = " ".join(str(value).replace("\x00", " ").split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _xp_text(value: Any) -> str:
    """Decode a Windows XP* tag (UCS-2 little endian bytes or a tuple of ints)."""
    if isinstance(value, tuple):
        value = bytes(value)
    if isinstance(value, bytes):
        return _text(value.decode("utf-16-le", errors="replace").rstrip("\x00"))
    return _text(value)


def _user_comment(value: Any) -> str:
    """Decode EXIF UserComment (8-byte character-code prefix)."""
    if isinstance(value, bytes) and len(value) >= 8:
        code, body = value[:8], value[8:]
        if code.startswith(b"UNICODE"):
            return _text(body.decode("utf-16-be" if body[:1] == b"\x00" else "utf-16-le", "replace"))
        return _text(body)
    return _text(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, (bool, int)):
        return int(value) if not isinstance(value, bool) else value
    if isinstance(value, float):
        return value
    if isinstance(value, (bytes, str)):
        return _text(value)
    if isinstance(value, tuple):
        return [_json_value(v) for v in value][:16]
    try:
        return float(value)  # IFDRational, Fraction
    except (TypeError, ValueError, ZeroDivisionError):
        return _text(value)


def _rational(value: Any) -> float | None:
    try:
        num = getattr(value, "numerator", None)
        den = getattr(value, "denominator", None)
        if num is not None and den == 0:
            return None
        out = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return out if out == out else None  # NaN -> None


def _dms(value: Any, ref: Any, negative: str) -> float | None:
    """Degrees/minutes/seconds rationals and an N/S/E/W ref -> signed degrees."""
    if not isinstance(value, (tuple, list)):
        single = _rational(value)
        parts: list[float | None] = [single]
    else:
        parts = [_rational(v) for v in value[:3]]
    if not parts or any(p is None for p in parts):
        return None
    degrees = 0.0
    for p, scale in zip(parts, (1.0, 60.0, 3600.0)):
        degrees += float(p) / scale  # type: ignore[arg-type]
    if isinstance(ref, bytes):
        ref = ref.decode("latin-1", "replace")
    if str(ref).strip().upper().startswith(negative):
        degrees = -degrees
    return round(degrees, 7)


# --------------------------------------------------------------------------
# collectors
# --------------------------------------------------------------------------


class _Findings:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, field: str, value: Any, risk: str) -> None:
        assert kind in KINDS and risk in RISKS
        self.items.append({"kind": kind, "field": field, "value": value, "risk": risk})


def _exif_from_bytes(raw: bytes) -> Image.Exif | None:
    exif = Image.Exif()
    try:
        exif.load(raw)
    except Exception:
        return None
    return exif


def _thumbnail_facts(raw: bytes, ifd1: dict[int, Any]) -> dict[str, Any] | None:
    """Size of the EXIF IFD1 thumbnail (bytes; width/height when it is a JPEG)."""
    offset, length = ifd1.get(0x0201), ifd1.get(0x0202)
    if offset is None or length is None:
        if 0x0111 in ifd1 or 0x0100 in ifd1:  # uncompressed TIFF-style thumbnail
            return {"bytes": None, "width": ifd1.get(0x0100), "height": ifd1.get(0x0101)}
        return None
    tiff = re.sub(b"^(Exif\x00\x00){1,2}", b"", raw)
    try:
        blob = tiff[int(offset) : int(offset) + int(length)]
    except (TypeError, ValueError):
        return {"bytes": None}
    facts: dict[str, Any] = {"bytes": len(blob)}
    if blob.startswith(b"\xff\xd8"):
        try:
            with Image.open(io.BytesIO(blob), formats=("JPEG",)) as thumb:
                facts["width"], facts["height"] = thumb.size
        except Exception:
            pass
    return facts


def _collect_exif(exif: Image.Exif, raw: bytes | None, out: _Findings) -> None:
    ifd0 = dict(exif.items())
    try:
        exif_ifd = exif.get_ifd(0x8769)
    except Exception:
        exif_ifd = {}
    try:
        gps = exif.get_ifd(0x8825)
    except Exception:
        gps = {}
    ifd0_tags = [t for t in ifd0 if t not in _STRUCTURAL_TAGS]
    if not ifd0_tags and not exif_ifd and not gps:
        return
    out.add("exif", "EXIF", {"tags": len(ifd0_tags) + len(exif_ifd) + len(gps)}, "low")

    for tag, name, kind, risk in _EXIF_TAGS:
        value = exif_ifd.get(tag, ifd0.get(tag))
        if value is None or value == b"" or value == "":
            continue
        if tag in _XP_TAGS:
            text = _xp_text(value)
        elif tag == 0x9286:
            text = _user_comment(value)
        else:
            text = _text(value)
        if text:
            out.add(kind, name, text, risk)

    if gps:
        lat = _dms(gps.get(2), gps.get(1), "S") if 2 in gps else None
        lon = _dms(gps.get(4), gps.get(3), "W") if 4 in gps else None
        if lat is not None:
            out.add("gps", "GPSLatitude", lat, "high")
        if lon is not None:
            out.add("gps", "GPSLongitude", lon, "high")
        if 6 in gps and (alt := _rational(gps[6])) is not None:
            ref = gps.get(5, 0)
            below = ref in (1, b"\x01") or (isinstance(ref, bytes) and ref[:1] == b"\x01")
            out.add("gps", "GPSAltitude", round(-alt if below else alt, 3), "medium")
        if 29 in gps or 7 in gps:
            stamp = _text(gps.get(29, ""))
            if 7 in gps and isinstance(gps[7], tuple):
                hms = [_rational(v) for v in gps[7]]
                if all(v is not None for v in hms):
                    h, m, s = (float(v) for v in hms)  # type: ignore[arg-type]
                    stamp = f"{stamp} {int(h):02d}:{int(m):02d}:{s:06.3f} UTC".strip()
            out.add("time", "GPSDateStamp", stamp, "medium")
        for tag, name, risk in _GPS_OTHER:
            if tag in gps:
                out.add("gps", name, _json_value(gps[tag]), risk)
        if lat is None and lon is None and len(gps) > 1:
            out.add("gps", "GPSInfo", {"tags": len(gps)}, "medium")

    makernote = exif_ifd.get(0x927C)
    if makernote:
        size = len(makernote) if isinstance(makernote, (bytes, tuple)) else None
        out.add("makernote", "MakerNote", {"bytes": size}, "medium")

    if raw is not None:
        try:
            ifd1 = exif.get_ifd(-1)
        except Exception:
            ifd1 = {}
        if ifd1:
            thumb = _thumbnail_facts(raw, ifd1)
            if thumb is not None:
                out.add("thumbnail", "EXIF thumbnail", thumb, "high")


def _xmp_value(xmp: str, qname: str) -> str | None:
    name = re.escape(qname)
    attr = re.search(rf'\b{name}\s*=\s*"([^"]*)"', xmp) or re.search(
        rf"\b{name}\s*=\s*'([^']*)'", xmp
    )
    if attr:
        return attr.group(1)
    elem = re.search(rf"<{name}(?:\s[^>]*)?>(.*?)</{name}>", xmp, re.S)
    if not elem:
        return None
    body = elem.group(1)
    items = re.findall(r"<rdf:li(?:\s[^>]*)?>(.*?)</rdf:li>", body, re.S)
    parts = items if items else [body]
    texts = [re.sub(r"<[^>]*>", " ", p) for p in parts]
    joined = "; ".join(" ".join(t.split()) for t in texts if t.strip())
    return joined or None


def _collect_xmp(raw: bytes | str, out: _Findings) -> None:
    if isinstance(raw, bytes):
        text = raw[:1_000_000].decode("utf-8", "replace")
    else:
        text = raw[:1_000_000]
    out.add("xmp", "XMP", {"bytes": len(raw)}, "medium")
    for qname, kind, risk in _XMP_FIELDS:
        if qname == "mwg-rs:Name":
            names = re.findall(r'\bmwg-rs:Name\s*=\s*"([^"]*)"', text) + re.findall(
                r"<mwg-rs:Name>([^<]*)</mwg-rs:Name>", text
            )
            value = "; ".join(n for n in names if n.strip()) or None
        else:
            value = _xmp_value(text, qname)
        if value:
            out.add(kind, f"XMP {qname}", _text(value), risk)


def _collect_iptc(im: Image.Image, out: _Findings) -> None:
    try:
        iptc = IptcImagePlugin.getiptcinfo(im)
    except Exception:
        iptc = None
    if not iptc:
        return
    out.add("iptc", "IPTC", {"datasets": len(iptc)}, "medium")
    for dataset, name, kind, risk in _IPTC_FIELDS:
        value = iptc.get((2, dataset))
        if value is None:
            continue
        if isinstance(value, list):
            text = "; ".join(_text(v) for v in value)
        else:
            text = _text(value)
        if text:
            out.add(kind, f"IPTC {name}", _text(text), risk)


def _collect_icc(icc: bytes, out: _Findings) -> None:
    desc: str | None
    try:
        desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except Exception:
        desc = None
    out.add("icc", "ICC profile", {"bytes": len(icc), "description": desc}, "low")


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """All (type, data) chunks of a PNG except IDAT/fdAT, without decoding pixels."""
    chunks: list[tuple[bytes, bytes]] = []
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if ctype not in (b"IDAT", b"fdAT"):
            chunks.append((ctype, body))
        pos += 12 + length
        if ctype == b"IEND":
            break
    return chunks


def _inflate(data: bytes, limit: int = 1_000_000) -> bytes:
    try:
        return zlib.decompressobj().decompress(data, limit)
    except zlib.error:
        return b""


def _collect_png(data: bytes, out: _Findings) -> tuple[bytes | None, bytes | None]:
    """Text chunks, tIME; returns (exif bytes, xmp bytes) found in chunks."""
    exif_raw: bytes | None = None
    xmp_raw: bytes | None = None
    for ctype, body in _png_chunks(data):
        if ctype == b"eXIf":
            exif_raw = body
        elif ctype == b"tIME" and len(body) == 7:
            y, mo, d, h, mi, s = struct.unpack(">HBBBBB", body)
            out.add("time", "PNG tIME", f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}", "low")
        elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
            key, _, rest = body.partition(b"\x00")
            keyword = key.decode("latin-1", "replace")
            if ctype == b"tEXt":
                value = rest
            elif ctype == b"zTXt":
                value = _inflate(rest[1:])
            else:
                flag = rest[:1] == b"\x01"
                parts = rest[2:].split(b"\x00", 2)
                value = parts[2] if len(parts) == 3 else b""
                if flag:
                    value = _inflate(value)
            if keyword == "XML:com.adobe.xmp":
                xmp_raw = value
            elif keyword.startswith("Raw profile type"):
                hexdata = "".join(value.decode("latin-1", "replace").split("\n")[3:])
                try:
                    blob = bytes.fromhex("".join(hexdata.split()))
                except ValueError:
                    blob = b""
                if keyword.endswith("exif") and blob:
                    exif_raw = exif_raw or blob
                elif keyword.endswith(("iptc", "8bim")) and blob:
                    out.add("iptc", f"PNG text {keyword}", {"bytes": len(blob)}, "medium")
                elif keyword.endswith("xmp") and blob:
                    xmp_raw = xmp_raw or blob
            else:
                risk = "high" if keyword.lower() in ("author", "copyright") else "medium"
                kind = "person" if risk == "high" else "comment"
                if keyword.lower() in ("software",):
                    kind, risk = "software", "low"
                elif keyword.lower() in ("creation time",):
                    kind, risk = "time", "medium"
                out.add(kind, f"PNG text {keyword}", _text(value), risk)
    return exif_raw, xmp_raw


def _jpeg_tail(data: bytes) -> int:
    """Bytes after the first JPEG's EOI marker (0 if it cannot be parsed)."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return 0
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xDA:  # start of scan: EOI is the first FFD9 after it
            eoi = data.find(b"\xff\xd9", pos + 2 + length)
            return 0 if eoi < 0 else len(data) - (eoi + 2)
        pos += 2 + length
    return 0


def _collect_jpeg(im: Image.Image, data: bytes, out: _Findings) -> None:
    for marker, body in getattr(im, "applist", []):
        if marker == "COM":
            text = _text(body)
            if text:
                out.add("comment", "JPEG comment", text, "medium")
        elif marker == "APP13" and body.startswith(b"Photoshop 3.0"):
            if b"8BIM\x04\x0c" in body or b"8BIM\x04\x09" in body:
                out.add("thumbnail", "Photoshop thumbnail", {"bytes": None}, "high")
    n = int(getattr(im, "n_frames", 1) or 1)
    if im.format == "MPO" and n > 1:
        out.add("thumbnail", "MPO extra images", {"count": n - 1}, "high")
    tail = _jpeg_tail(data)
    if tail > 0 and not (im.format == "MPO" and n > 1):
        start = len(data) - tail
        video = b"ftyp" in data[start : start + 64] or b"ftyp" in data[start:][:4096]
        field = "embedded video after the picture" if video else "data after the picture"
        out.add("trailer", field, {"bytes": tail}, "high")


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

    register_heif()
    out = _Findings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # corrupt-EXIF chatter; the audit reports what it can
        try:
            with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as im:
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


def _collect_all(im: Image.Image, fmt: str, data: bytes, out: _Findings) -> None:
    info = im.info
    exif_raw: bytes | None = None
    xmp_raw: bytes | str | None = None
    if fmt == "PNG":
        exif_raw, xmp_raw = _collect_png(data, out)
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
            _collect_exif(exif, None, out)
    elif exif_raw:
        exif = _exif_from_bytes(exif_raw)
        if exif is not None:
            _collect_exif(exif, exif_raw, out)

    if xmp_raw:
        _collect_xmp(xmp_raw, out)
    if fmt in ("JPEG", "TIFF"):
        _collect_iptc(im, out)
    icc = info.get("icc_profile")
    if icc:
        _collect_icc(icc, out)
    if fmt == "JPEG":
        _collect_jpeg(im, data, out)
    elif fmt in ("GIF", "WEBP") and info.get("comment"):
        out.add("comment", f"{fmt} comment", _text(info["comment"]), "medium")
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
