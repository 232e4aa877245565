"""EXIF: the identifying tags of IFD0, the Exif IFD and the GPS IFD, and the IFD1 thumbnail."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image

from .findings import Findings, dms, json_value, rational, short_text, user_comment, xp_text

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


def exif_from_bytes(raw: bytes) -> Image.Exif | None:
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


def collect_exif(exif: Image.Exif, raw: bytes | None, out: Findings) -> None:
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
            text = xp_text(value)
        elif tag == 0x9286:
            text = user_comment(value)
        else:
            text = short_text(value)
        if text:
            out.add(kind, name, text, risk)

    if gps:
        lat = dms(gps.get(2), gps.get(1), "S") if 2 in gps else None
        lon = dms(gps.get(4), gps.get(3), "W") if 4 in gps else None
        if lat is not None:
            out.add("gps", "GPSLatitude", lat, "high")
        if lon is not None:
            out.add("gps", "GPSLongitude", lon, "high")
        if 6 in gps and (alt := rational(gps[6])) is not None:
            ref = gps.get(5, 0)
            below = ref in (1, b"\x01") or (isinstance(ref, bytes) and ref[:1] == b"\x01")
            out.add("gps", "GPSAltitude", round(-alt if below else alt, 3), "medium")
        if 29 in gps or 7 in gps:
            stamp = short_text(gps.get(29, ""))
            if 7 in gps and isinstance(gps[7], tuple):
                hms = [rational(v) for v in gps[7]]
                if all(v is not None for v in hms):
                    h, m, s = (float(v) for v in hms)  # type: ignore[arg-type]
                    stamp = f"{stamp} {int(h):02d}:{int(m):02d}:{s:06.3f} UTC".strip()
            out.add("time", "GPSDateStamp", stamp, "medium")
        for tag, name, risk in _GPS_OTHER:
            if tag in gps:
                out.add("gps", name, json_value(gps[tag]), risk)
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
