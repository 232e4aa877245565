"""Pictures and videos laden with identifying metadata, for the metadata and fault tests.

A small TIFF/EXIF writer lives here (Pillow cannot write an EXIF thumbnail
IFD): EXIF (GPS, make/model/serials, owner, timestamps, an embedded JPEG
thumbnail), XMP, IPTC, an ICC profile and comments, injected into a CC0 photo.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

from PIL import Image, ImageCms

PHOTO = Path(__file__).parent / "data" / "face_mask" / "maksssksksss343.jpg"
LIMIT = 10_000_000

MAKE = "VeilTestCam"
MODEL = "VTC-9000 Pro"
BODY_SERIAL = "SN-0042-VEIL-BODY"
LENS_SERIAL = "LS-7777-VEIL-LENS"
OWNER = "Jane Q. Photographer"
ARTIST = "Jane Q. Artist"
TAKEN = "2023:07:14 10:22:33"
SOFTWARE = "VeilFirmware 1.2.3"
COMMENT = "veil-test-comment: meet at the cafe"
XMP_CREATOR = "Jane XMP Creator"
IPTC_BYLINE = "Jane IPTC Byline"
LAT, LON, ALT = 48.858222, 2.2945, 35.5
THUMB_SIZE = (64, 48)

# every string injected, to scan output bytes for
SECRETS = [MAKE, MODEL, BODY_SERIAL, LENS_SERIAL, OWNER, ARTIST, TAKEN, SOFTWARE, COMMENT,
           XMP_CREATOR, IPTC_BYLINE]  # fmt: skip


# ---------------------------------------------------------------------------
# a minimal TIFF/EXIF writer (test helper, not product code)
# ---------------------------------------------------------------------------

_ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED, _BYTE = 2, 3, 4, 5, 7, 1


def _value_bytes(typ: int, value) -> tuple[int, bytes]:
    if typ == _ASCII:
        raw = value.encode() + b"\x00"
        return len(raw), raw
    if typ == _SHORT:
        vals = value if isinstance(value, tuple) else (value,)
        return len(vals), struct.pack(f"<{len(vals)}H", *vals)
    if typ == _LONG:
        vals = value if isinstance(value, tuple) else (value,)
        return len(vals), struct.pack(f"<{len(vals)}I", *vals)
    if typ == _RATIONAL:
        pairs = value if isinstance(value[0], tuple) else (value,)
        return len(pairs), b"".join(struct.pack("<II", n, d) for n, d in pairs)
    if typ in (_UNDEFINED, _BYTE):
        return len(value), bytes(value)
    raise AssertionError(typ)


def _ifd(entries: list[tuple[int, int, object]], start: int) -> tuple[bytes, int]:
    """Encode one IFD at offset ``start``; returns (bytes, offset of next-IFD field)."""
    entries = sorted(entries, key=lambda e: e[0])
    n = len(entries)
    data_at = start + 2 + 12 * n + 4
    head, data = [struct.pack("<H", n)], b""
    for tag, typ, value in entries:
        count, raw = _value_bytes(typ, value)
        if len(raw) <= 4:
            head.append(struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\x00"))
        else:
            head.append(struct.pack("<HHII", tag, typ, count, data_at + len(data)))
            data += raw + (b"\x00" if len(raw) % 2 else b"")
    next_field = start + 2 + 12 * n
    return b"".join(head) + b"\x00\x00\x00\x00" + data, next_field


def build_exif(*, ifd0, exif_ifd, gps_ifd, thumbnail: bytes | None) -> bytes:
    """TIFF structure (little endian) with IFD0 -> Exif IFD, GPS IFD, IFD1 thumbnail."""

    def layout(exif_off: int, gps_off: int) -> tuple[bytes, int]:
        entries = list(ifd0) + [(0x8769, _LONG, exif_off), (0x8825, _LONG, gps_off)]
        return _ifd(entries, 8)

    probe, _ = layout(0, 0)
    exif_off = 8 + len(probe)
    exif_bytes, _ = _ifd(exif_ifd, exif_off)
    gps_off = exif_off + len(exif_bytes)
    gps_bytes, _ = _ifd(gps_ifd, gps_off)
    ifd0_bytes, next_field = layout(exif_off, gps_off)
    blob = bytearray(b"II*\x00" + struct.pack("<I", 8) + ifd0_bytes + exif_bytes + gps_bytes)
    if thumbnail is not None:
        ifd1_off = len(blob)
        probe1, _ = _ifd([(0x0103, _SHORT, 6), (0x0201, _LONG, 0), (0x0202, _LONG, 0)], ifd1_off)
        thumb_off = ifd1_off + len(probe1)
        ifd1, _ = _ifd(
            [(0x0103, _SHORT, 6), (0x0201, _LONG, thumb_off), (0x0202, _LONG, len(thumbnail))],
            ifd1_off,
        )
        struct.pack_into("<I", blob, next_field, ifd1_off)
        blob += ifd1 + thumbnail
    return bytes(blob)


def _dms(value: float) -> tuple[tuple[int, int], ...]:
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = round(((value - deg) * 60 - minutes) * 60 * 1000)
    return ((deg, 1), (minutes, 1), (seconds, 1000))


def thumbnail_jpeg() -> bytes:
    with Image.open(PHOTO) as im:
        thumb = im.convert("RGB").resize(THUMB_SIZE)
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def identifying_exif(*, thumbnail: bool = True, orientation: int = 1) -> bytes:
    """The TIFF body of an EXIF block full of identifying tags (no 'Exif\\0\\0')."""
    return build_exif(
        ifd0=[
            (0x010F, _ASCII, MAKE),
            (0x0110, _ASCII, MODEL),
            (0x0112, _SHORT, orientation),
            (0x0131, _ASCII, SOFTWARE),
            (0x0132, _ASCII, TAKEN),
            (0x013B, _ASCII, ARTIST),
        ],
        exif_ifd=[
            (0x9003, _ASCII, TAKEN),
            (0x9004, _ASCII, TAKEN),
            (0xA430, _ASCII, OWNER),
            (0xA431, _ASCII, BODY_SERIAL),
            (0xA435, _ASCII, LENS_SERIAL),
            (0x927C, _UNDEFINED, b"VEILNOTE" + bytes(40)),
        ],
        gps_ifd=[
            (0x0000, _BYTE, b"\x02\x03\x00\x00"),
            (0x0001, _ASCII, "N"),
            (0x0002, _RATIONAL, _dms(LAT)),
            (0x0003, _ASCII, "E"),
            (0x0004, _RATIONAL, _dms(LON)),
            (0x0005, _BYTE, b"\x00"),
            (0x0006, _RATIONAL, (71, 2)),
            (0x001D, _ASCII, "2023:07:14"),
        ],
        thumbnail=thumbnail_jpeg() if thumbnail else None,
    )


def xmp_packet() -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:exif="http://ns.adobe.com/exif/1.0/"'
        ' xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"'
        ' exif:GPSLatitude="48,51.4933N" exif:GPSLongitude="2,17.67E">'
        f"<dc:creator><rdf:Seq><rdf:li>{XMP_CREATOR}</rdf:li></rdf:Seq></dc:creator>"
        '<mwg-rs:Regions><mwg-rs:RegionList><rdf:Bag><rdf:li mwg-rs:Name="Tagged Friend"'
        ' mwg-rs:Type="Face"/></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _iptc_app13() -> bytes:
    def dataset(number: int, value: bytes) -> bytes:
        return b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(value)) + value

    iptc = dataset(0, b"\x00\x04") + dataset(80, IPTC_BYLINE.encode()) + dataset(90, b"Paris")
    iptc += b"\x00" * (len(iptc) % 2)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc))
    return b"Photoshop 3.0\x00" + resource + iptc


def _segment(marker: int, body: bytes) -> bytes:
    assert len(body) + 2 < 65536
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def laden_jpeg(*, orientation: int = 1, trailer: bytes = b"") -> bytes:
    """The CC0 photo with EXIF+GPS+thumbnail, XMP, IPTC, ICC and a COM comment."""
    jpeg = PHOTO.read_bytes()
    assert jpeg[:2] == b"\xff\xd8"
    segments = (
        _segment(0xE1, b"Exif\x00\x00" + identifying_exif(orientation=orientation))
        + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp_packet())
        + _segment(0xED, _iptc_app13())
        + _segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + srgb_icc())
        + _segment(0xFE, COMMENT.encode())
    )
    rest = jpeg[2:]
    if rest[:2] == b"\xff\xe0":  # keep JFIF APP0 first
        (length,) = struct.unpack(">H", rest[2:4])
        app0, rest = rest[: 2 + length], rest[2 + length :]
    else:
        app0 = b""
    return b"\xff\xd8" + app0 + segments + rest + trailer


