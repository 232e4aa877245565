"""Identifying metadata: ``image_metadata`` finds it, ``write_image`` never carries it.

The fixtures inject EXIF (GPS, make/model/serials, owner, timestamps, an
embedded JPEG thumbnail), XMP, IPTC, an ICC profile and comments into a CC0
photo, with a small TIFF/EXIF writer defined here (Pillow cannot write an
EXIF thumbnail IFD).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from veil.errors import MediaError
from veil.media.image import WRITE_FORMATS, read_image, write_image
from veil.media.metadata import KINDS, RISKS, image_metadata

from metadata_samples import (  # noqa: E402  (tests/ is on sys.path, see conftest.py)
    ALT, ARTIST, BODY_SERIAL, COMMENT, IPTC_BYLINE, LAT, LENS_SERIAL, LIMIT, LON, MAKE, MODEL, OWNER, PHOTO,
    SECRETS, SOFTWARE, TAKEN, THUMB_SIZE, XMP_CREATOR, identifying_exif, laden_jpeg, srgb_icc, thumbnail_jpeg,
    xmp_packet,
)

@pytest.fixture
def laden(tmp_path) -> Path:
    p = tmp_path / "laden.jpg"
    p.write_bytes(laden_jpeg())
    return p


def _by_field(report: dict) -> dict[str, dict]:
    return {f["field"]: f for f in report["findings"]}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jpeg_markers(data: bytes) -> list[int]:
    """Markers of a JPEG up to its first scan, then the EOI."""
    out, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        out.append(marker)
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xDA:
            break
        pos += 2 + length
    return out


def _png_chunk_types(data: bytes) -> list[bytes]:
    types, pos = [], 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        types.append(ctype)
        pos += 12 + length
    return types


# ---------------------------------------------------------------------------
# the audit finds it
# ---------------------------------------------------------------------------


def test_audit_finds_injected_metadata(laden):
    before = _sha(laden)
    report = image_metadata(laden)
    assert _sha(laden) == before
    json.dumps(report)  # JSON-ready
    assert report["format"] == "JPEG" and report["risk"] == "high"
    assert report["width"] == 301 and report["height"] == 400
    for f in report["findings"]:
        assert f["kind"] in KINDS and f["risk"] in RISKS
    fields = _by_field(report)

    assert fields["GPSLatitude"]["value"] == pytest.approx(LAT, abs=1e-5)
    assert fields["GPSLatitude"]["risk"] == "high" and fields["GPSLatitude"]["kind"] == "gps"
    assert fields["GPSLongitude"]["value"] == pytest.approx(LON, abs=1e-5)
    assert fields["GPSAltitude"]["value"] == pytest.approx(ALT)
    assert "2023:07:14" in fields["GPSDateStamp"]["value"]
    assert fields["Make"]["value"] == MAKE and fields["Make"]["kind"] == "device"
    assert fields["Model"]["value"] == MODEL
    assert fields["BodySerialNumber"] == {
        "kind": "device", "field": "BodySerialNumber", "value": BODY_SERIAL, "risk": "high"
    }  # fmt: skip
    assert fields["LensSerialNumber"]["value"] == LENS_SERIAL
    assert fields["CameraOwnerName"]["value"] == OWNER and fields["CameraOwnerName"]["kind"] == "person"
    assert fields["Artist"]["value"] == ARTIST
    assert fields["DateTimeOriginal"]["value"] == TAKEN and fields["DateTimeOriginal"]["kind"] == "time"
    assert fields["Software"]["value"] == SOFTWARE
    assert fields["MakerNote"]["kind"] == "makernote"
    thumb = fields["EXIF thumbnail"]
    assert thumb["kind"] == "thumbnail" and thumb["risk"] == "high"
    assert (thumb["value"]["width"], thumb["value"]["height"]) == THUMB_SIZE
    assert thumb["value"]["bytes"] == len(thumbnail_jpeg())
    assert fields["XMP"]["kind"] == "xmp"
    assert fields["XMP dc:creator"]["value"] == XMP_CREATOR
    assert fields["XMP mwg-rs:Name"]["value"] == "Tagged Friend"
    assert fields["XMP exif:GPSLatitude"]["kind"] == "gps"
    assert fields["IPTC"]["kind"] == "iptc"
    assert fields["IPTC By-line"]["value"] == IPTC_BYLINE
    assert fields["IPTC City"]["value"] == "Paris"
    assert fields["ICC profile"]["kind"] == "icc"
    assert fields["JPEG comment"]["value"] == COMMENT
    # never pixels: no value is bytes or a big list
    assert "pixels" not in json.dumps(report)


def test_audit_clean_picture_has_no_findings(tmp_path):
    p = tmp_path / "clean.png"
    write_image(p, np.zeros((8, 8, 3), np.uint8), format="PNG")
    report = image_metadata(p)
    assert report["findings"] == [] and report["risk"] == "none"


def test_audit_finds_motion_photo_trailer_and_mpo(tmp_path):
    p = tmp_path / "motion.jpg"
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(500)
    p.write_bytes(laden_jpeg(trailer=video))
    fields = _by_field(image_metadata(p))
    assert fields["embedded video after the picture"]["value"] == {"bytes": len(video)}
    # the reader still reads the picture, and the writer never carries the trailer
    out = tmp_path / "out.jpg"
    write_image(out, read_image(p, max_pixels=LIMIT).pixels, format="JPEG")
    assert b"ftyp" not in out.read_bytes()

    mpo = tmp_path / "two.jpg"
    with Image.open(PHOTO) as base:
        base.save(mpo, format="MPO", save_all=True, append_images=[base.rotate(180)])
    assert _by_field(image_metadata(mpo))["MPO extra images"]["value"] == {"count": 1}


def test_audit_other_containers(tmp_path):
    exif = b"Exif\x00\x00" + identifying_exif(thumbnail=False)
    with Image.open(PHOTO) as im:
        src = im.convert("RGB")
    icc = srgb_icc()

    png = tmp_path / "meta.png"
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", ARTIST)
    info.add_text("Comment", COMMENT)
    info.add_itxt("XML:com.adobe.xmp", xmp_packet().decode(), zip=True)
    src.save(png, pnginfo=info, exif=exif, icc_profile=icc)
    data = png.read_bytes()
    iend = data.rindex(b"IEND") - 4
    time_chunk = b"tIME" + struct.pack(">HBBBBB", 2023, 7, 14, 10, 22, 33)
    chunk = struct.pack(">I", 7) + time_chunk + struct.pack(">I", zlib.crc32(time_chunk))
    png.write_bytes(data[:iend] + chunk + data[iend:])  # after IDAT: found without decoding
    fields = _by_field(image_metadata(png))
    assert fields["GPSLatitude"]["value"] == pytest.approx(LAT, abs=1e-5)
    assert fields["PNG text Author"]["kind"] == "person"
    assert fields["PNG text Comment"]["value"] == COMMENT
    assert fields["XMP dc:creator"]["value"] == XMP_CREATOR
    assert fields["PNG tIME"]["value"] == "2023-07-14 10:22:33"
    assert "ICC profile" in fields

    webp = tmp_path / "meta.webp"
    src.save(webp, exif=exif, xmp=xmp_packet(), icc_profile=icc, quality=80)
    fields = _by_field(image_metadata(webp))
    assert fields["BodySerialNumber"]["value"] == BODY_SERIAL
    assert "XMP" in fields and "ICC profile" in fields

    tif = tmp_path / "meta.tif"
    src.save(tif, exif=exif, icc_profile=icc)
    fields = _by_field(image_metadata(tif))
    assert fields["Make"]["value"] == MAKE and fields["Artist"]["value"] == ARTIST
    assert fields["GPSLongitude"]["value"] == pytest.approx(LON, abs=1e-5)


def test_audit_heif(tmp_path):
    from veil.media.image import register_heif

    register_heif()
    p = tmp_path / "meta.heic"
    with Image.open(PHOTO) as im:
        im.convert("RGB").resize((64, 64)).save(
            p, format="HEIF", exif=b"Exif\x00\x00" + identifying_exif(thumbnail=False), quality=60
        )
    fields = _by_field(image_metadata(p))
    assert fields["GPSLatitude"]["value"] == pytest.approx(LAT, abs=1e-5)
    assert fields["Model"]["value"] == MODEL


def test_audit_bad_input(tmp_path):
    empty = tmp_path / "e.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "t.jpg"
    text.write_text("hello\n")
    for p in (empty, text, tmp_path / "missing.jpg"):
        with pytest.raises(MediaError) as err:
            image_metadata(p)
        assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------
# the writer carries none of it
# ---------------------------------------------------------------------------


def test_rewritten_jpeg_carries_no_metadata(laden, tmp_path):
    before = _sha(laden)
    pic = read_image(laden, max_pixels=LIMIT)
    assert _sha(laden) == before
    assert pic.facts["icc"] is True
    out = tmp_path / "out.jpg"
    write_image(out, pic.pixels, format="JPEG")
    data = out.read_bytes()

    with Image.open(out) as im:
        assert len(im.getexif()) == 0
        assert not set(im.info) & {"exif", "xmp", "icc_profile", "comment", "photoshop", "adobe"}
        assert im.size == (301, 400)
    for needle in (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"Photoshop 3.0", b"8BIM",
                   b"ICC_PROFILE", b"GPS", b"VEILNOTE", *(s.encode() for s in SECRETS)):  # fmt: skip
        assert needle not in data, needle
    assert data.count(b"\xff\xd8") == 1  # no embedded thumbnail JPEG
    allowed = {0xD8, 0xE0, 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDD, 0xDA}
    assert set(_jpeg_markers(data)) <= allowed
    assert image_metadata(out)["findings"] == []


@pytest.mark.parametrize("fmt", [f for f in WRITE_FORMATS if f != "JPEG"])
def test_every_output_format_is_clean(laden, tmp_path, fmt):
    pic = read_image(laden, max_pixels=LIMIT)
    out = tmp_path / "out.bin"
    write_image(out, pic.pixels, format=fmt)
    data = out.read_bytes()
    for needle in (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"8BIM", b"VEILNOTE",
                   *(s.encode() for s in SECRETS)):  # fmt: skip
        assert needle not in data, needle
    report = image_metadata(out)
    assert report["findings"] == [], report["findings"]
    assert read_image(out, max_pixels=LIMIT).pixels.shape == pic.pixels.shape  # odd width kept
    if fmt == "PNG":
        assert set(_png_chunk_types(data)) <= {b"IHDR", b"IDAT", b"IEND"}


@pytest.mark.parametrize("source", ["PNG", "WEBP", "TIFF", "HEIF"])
def test_metadata_of_other_sources_is_not_carried(tmp_path, source):
    exif = b"Exif\x00\x00" + identifying_exif(thumbnail=False, orientation=6)
    src = tmp_path / f"src.{source.lower()}"
    with Image.open(PHOTO) as im:
        rgb = im.convert("RGB").resize((100, 76))  # small: HEVC encoding is slow
    kw: dict = {"exif": exif}
    if source in ("PNG", "WEBP", "TIFF"):
        kw["icc_profile"] = srgb_icc()
    if source == "WEBP":
        kw.update(xmp=xmp_packet(), lossless=True)
    if source == "HEIF":
        from veil.media.image import register_heif

        register_heif()
        kw["quality"] = 60
    rgb.save(src, format=source, **kw)
    assert image_metadata(src)["risk"] == "high"
    pic = read_image(src, max_pixels=LIMIT)
    assert pic.pixels.shape[:2] == (100, 76)  # orientation 6 applied: stored 100 wide, 76 high
    out = tmp_path / "out.bin"
    write_image(out, pic.pixels, format=source)
    assert image_metadata(out)["findings"] == []
    assert read_image(out, max_pixels=LIMIT).facts["orientation"] == 1
    data = out.read_bytes()
    assert not any(s.encode() in data for s in SECRETS)


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_exiftool_sees_no_metadata(laden, tmp_path):
    pixels = read_image(laden, max_pixels=LIMIT).pixels
    outs = []
    for fmt in WRITE_FORMATS:
        outs.append(tmp_path / f"out-{fmt}.bin")
        write_image(outs[-1], pixels, format=fmt)
    for fmt in ("PNG", "TIFF"):
        outs.append(tmp_path / f"out16-{fmt}.bin")
        write_image(outs[-1], pixels.astype(np.uint16) * 257, format=fmt)
    run = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", str(laden), *map(str, outs)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    src_tags, *out_tags = json.loads(run.stdout)
    assert any(k.startswith("GPS:") for k in src_tags)  # the check can see them
    assert "IFD1:ThumbnailImage" in src_tags
    forbidden = {"ExifIFD", "GPS", "IFD1", "InteropIFD", "IPTC", "Photoshop", "MakerNotes",
                 "ICC_Profile", "ICC-header", "ICC-meas", "ICC-view"}  # fmt: skip
    for path, tags in zip(outs, out_tags):
        groups = {k.split(":")[0] for k in tags if ":" in k}
        assert not groups & forbidden, (path.name, groups & forbidden)
        assert not any(g.startswith("XMP") for g in groups), path.name
        text = json.dumps(tags)
        assert "Thumbnail" not in text and "Comment" not in text, path.name
        assert not any(s in text for s in SECRETS), path.name
        # IFD0 of our TIFFs holds only layout tags
        ifd0 = {k.split(":")[1] for k in tags if k.startswith("IFD0:")}
        assert ifd0 <= {"ImageWidth", "ImageHeight", "BitsPerSample", "Compression",
                        "PhotometricInterpretation", "StripOffsets", "SamplesPerPixel",
                        "RowsPerStrip", "StripByteCounts", "PlanarConfiguration",
                        "SampleFormat", "ExtraSamples", "XResolution", "YResolution",
                        "ResolutionUnit"}, (path.name, ifd0)  # fmt: skip
