"""XMP, IPTC, ICC, PNG chunks and JPEG segments: what a picture's containers say besides EXIF."""

from __future__ import annotations

import io
import re
import struct
import zlib

from PIL import Image, ImageCms, IptcImagePlugin

from .findings import Findings, short_text

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


def collect_xmp(raw: bytes | str, out: Findings) -> None:
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
            out.add(kind, f"XMP {qname}", short_text(value), risk)


def collect_iptc(im: Image.Image, out: Findings) -> None:
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
            text = "; ".join(short_text(v) for v in value)
        else:
            text = short_text(value)
        if text:
            out.add(kind, f"IPTC {name}", short_text(text), risk)


def collect_icc(icc: bytes, out: Findings) -> None:
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


def collect_png(data: bytes, out: Findings) -> tuple[bytes | None, bytes | None]:
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
                out.add(kind, f"PNG text {keyword}", short_text(value), risk)
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


def collect_jpeg(im: Image.Image, data: bytes, out: Findings) -> None:
    for marker, body in getattr(im, "applist", []):
        if marker == "COM":
            text = short_text(body)
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
