"""Picture I/O: format sniffing, reading (modes, orientation, bad input), writing."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from veil.errors import MediaError, TooLargeError, UnsupportedMediaError
from veil.media.image import (
    WRITE_FORMATS,
    Picture,
    format_for_suffix,
    output_format,
    output_suffix,
    read_image,
    to_rgb8,
    write_image,
)
from veil.media.sniff import IMAGE_SUFFIXES, VIDEO_SUFFIXES, image_format, media_kind

DATA = Path(__file__).parent / "data"
PHOTO = DATA / "face_mask" / "maksssksksss343.jpg"
CLIP = DATA / "short_hamilton_clip.mp4"
LIMIT = 10_000_000

# ---------------------------------------------------------------------------
# fixtures generated here
# ---------------------------------------------------------------------------

H, W = 24, 40  # non-square, so a missed rotation changes the shape


def _pattern(channels: int | None, dtype=np.uint8, *, seed: int = 0) -> np.ndarray:
    """A random picture: every pixel differs, so any transform is visible."""
    rng = np.random.default_rng(seed)
    hi = 256 if dtype == np.uint8 else 65536
    shape = (H, W) if channels is None else (H, W, channels)
    return rng.integers(0, hi, shape, dtype=dtype)


def _smooth(channels: int | None = 3) -> np.ndarray:
    """A smooth, asymmetric 8-bit picture that survives lossy codecs."""
    y, x = np.mgrid[0:H, 0:W]
    r = (x * 255 // (W - 1)).astype(np.uint8)
    g = (y * 255 // (H - 1)).astype(np.uint8)
    b = ((x + y) * 255 // (W + H - 2)).astype(np.uint8)
    a = (255 - x * 100 // (W - 1)).astype(np.uint8)
    if channels is None:
        return r
    return np.dstack([r, g, b, a][:channels])


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _png_raw(arr: np.ndarray, *, color_type: int, depth: int = 16) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit grey+alpha)."""
    h, w = arr.shape[:2]
    rows = arr.astype(">u2" if depth == 16 else np.uint8).reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path, **kw) -> Picture:
    return read_image(path, max_pixels=kw.pop("max_pixels", LIMIT), **kw)


# ---------------------------------------------------------------------------
# sniff
# ---------------------------------------------------------------------------

_VIDEO_HEADS = {
    "mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
    "mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
    "m4v": b"\x00\x00\x00\x18ftypM4V \x00\x00\x00\x01M4V mp42",
    "3gp": b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x003gp4",
    "oldmov": b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat",
    "mkv": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01matroska",
    "webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
    "avi": b"RIFF\x00\x10\x00\x00AVI LIST",
    "ts": b"".join(b"\x47" + bytes(187) for _ in range(3)),
    "m2ts": b"".join(bytes(4) + b"\x47" + bytes(187) for _ in range(3)),
    "mpg": b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01",
    "flv": b"FLV\x01\x05\x00\x00\x00\x09",
    "wmv": bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(16),
    "ogv": b"OggS\x00\x02" + bytes(22) + b"\x80theora\x03\x02",
}
_AUDIO_HEADS = {
    "m4a": b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42",
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "ogg": b"OggS\x00\x02" + bytes(22) + b"\x01vorbis",
}


@pytest.fixture(scope="module")
def picture_files(tmp_path_factory) -> dict[str, Path]:
    """One small file per readable format, all named ``.bin``."""
    folder = tmp_path_factory.mktemp("sniff")
    out = {}
    for fmt in ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "HEIF", "AVIF"):
        p = folder / f"{fmt.lower()}.bin"
        write_image(p, _smooth(), format=fmt)
        out[fmt] = p
    gif = folder / "gif.bin"
    Image.fromarray(_smooth()).convert("P").save(gif, format="GIF")
    out["GIF"] = gif
    return out


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "HEIF", "AVIF", "GIF"])
def test_sniff_pictures_by_content(picture_files, fmt):
    assert media_kind(picture_files[fmt]) == "image"
    assert image_format(picture_files[fmt]) == fmt == _read(picture_files[fmt]).format
    named = output_suffix(".mp4", format=image_format(picture_files[fmt]))
    assert named == {"JPEG": ".jpg", "TIFF": ".tif", "HEIF": ".heic", "GIF": ".png"}.get(
        fmt, f".{fmt.lower()}"
    )


@pytest.mark.parametrize("name", sorted(_VIDEO_HEADS))
def test_sniff_video_containers_by_content(tmp_path, name):
    p = tmp_path / "clip.jpg"  # the wrong extension: content wins
    p.write_bytes(_VIDEO_HEADS[name] + bytes(600))
    assert media_kind(p) == "video"


@pytest.mark.parametrize("name", sorted(_AUDIO_HEADS))
def test_sniff_audio_only_is_not_media(tmp_path, name):
    p = tmp_path / "sound.mp4"
    p.write_bytes(_AUDIO_HEADS[name] + bytes(600))
    assert media_kind(p) is None


def test_sniff_real_clip_and_photo():
    assert media_kind(CLIP) == "video"
    assert media_kind(PHOTO) == "image"


def test_sniff_falls_back_to_extension_and_handles_odd_paths(tmp_path):
    for name, expected in [("a.JPG", "image"), ("b.mp4", "video"), ("c.txt", None), ("d", None)]:
        p = tmp_path / name
        p.write_text("not really media\n")
        assert media_kind(p) == expected, name
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert media_kind(empty) is None
    assert media_kind(tmp_path) is None  # a directory
    assert media_kind(tmp_path / "missing.jpg") is None
    assert image_format(tmp_path / "a.JPG") is None  # text, whatever its name
    assert image_format(tmp_path / "missing.jpg") is None
    assert image_format(CLIP) is None


def test_suffix_sets():
    assert not IMAGE_SUFFIXES & VIDEO_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    assert {".jpg", ".png", ".heic", ".webp", ".tif"} <= IMAGE_SUFFIXES
    assert {".mp4", ".mov", ".mkv", ".webm", ".avi"} <= VIDEO_SUFFIXES


# ---------------------------------------------------------------------------
# round trips: formats x channels x dtypes
# ---------------------------------------------------------------------------

_LOSSLESS = {"PNG", "TIFF", "WEBP", "BMP"}
_SIXTEEN = {"PNG", "TIFF"}
_CHANNELS = {"L": None, "RGB": 3, "RGBA": 4}


def _cases():
    for fmt in WRITE_FORMATS:
        for layout in _CHANNELS:
            for dtype in (np.uint8, np.uint16):
                if fmt == "JPEG" and layout == "RGBA":
                    continue
                yield pytest.param(fmt, layout, dtype, id=f"{fmt}-{layout}-{np.dtype(dtype).name}")


@pytest.mark.parametrize(("fmt", "layout", "dtype"), list(_cases()))
def test_write_read_round_trip(tmp_path, fmt, layout, dtype):
    channels = _CHANNELS[layout]
    if fmt in _LOSSLESS:
        src = _pattern(channels, dtype)
    else:
        src = _smooth(channels)
        if dtype == np.uint16:
            src = src.astype(np.uint16) * 257
    before = src.copy()
    out = tmp_path / "out.bin"  # the suffix is not consulted
    write_image(out, src, format=fmt)
    assert np.array_equal(src, before), "write_image modified its input"

    pic = _read(out)
    assert pic.format == fmt
    got = pic.pixels
    assert not got.flags.writeable
    keeps16 = fmt in _SIXTEEN
    assert got.dtype == (dtype if keeps16 else np.uint8)
    if keeps16 or dtype == np.uint8:
        expected = src
    else:
        expected = (src.astype(np.uint32) * 255 + 32767) // 65535
    expected = expected.astype(got.dtype)

    # Shapes: grey stays grey except in colour-only codecs; BMP reads RGB only.
    if channels is None and fmt in ("WEBP", "HEIF", "AVIF"):
        expected = np.repeat(expected[:, :, None], 3, axis=2)
    if channels == 4 and fmt == "BMP":
        expected = expected[:, :, :3]  # Pillow reads 32-bit BI_RGB BMP without alpha
    assert got.shape == expected.shape
    json.dumps(pic.facts)
    assert pic.facts["width"] == W and pic.facts["height"] == H
    assert pic.facts["bit_depth"] == (16 if got.dtype == np.uint16 else 8)

    if fmt in _LOSSLESS:
        if fmt == "WEBP" and channels == 4:
            visible = expected[:, :, 3] > 0  # lossless WebP may alter colour under alpha 0
            assert np.array_equal(got[visible], expected[visible])
            assert np.array_equal(got[:, :, 3], expected[:, :, 3])
        else:
            assert np.array_equal(got, expected)
    else:
        diff = np.abs(got.astype(float) - expected.astype(float))
        assert diff.mean() < 6, f"{fmt} lossy error too large: {diff.mean():.2f}"
        if channels == 4:
            assert np.abs(got[:, :, 3].astype(int) - expected[:, :, 3]).max() <= 8


def test_tiff16_multi_strip(tmp_path):
    rng = np.random.default_rng(3)
    src = rng.integers(0, 65536, (100, 3000, 4), dtype=np.uint16)  # several 1 MiB strips
    write_image(tmp_path / "big.tif", src, format="TIFF")
    with Image.open(tmp_path / "big.tif") as im:
        assert len(im.tag_v2[273]) > 1
        assert im.tag_v2[338] == (2,)  # unassociated alpha
    assert np.array_equal(_read(tmp_path / "big.tif").pixels, src)


# ---------------------------------------------------------------------------
# source pixel modes
# ---------------------------------------------------------------------------


def _mode_file(tmp_path: Path, case: str) -> Path:
    base = Image.fromarray(_pattern(3))
    p = tmp_path / f"{case}.img"
    if case == "1":
        base.convert("1").save(p, format="PNG")
    elif case == "L":
        base.convert("L").save(p, format="PNG")
    elif case == "LA":
        base.convert("LA").save(p, format="PNG")
    elif case == "P":
        base.convert("P").save(p, format="PNG")
    elif case == "P+transparency":
        im = base.convert("P")
        im.info["transparency"] = 0
        im.save(p, format="PNG")
    elif case == "GIF":
        base.convert("P").save(p, format="GIF")
    elif case == "CMYK-JPEG":
        base.convert("CMYK").save(p, format="JPEG", quality=95)
    elif case == "CMYK-TIFF":
        base.convert("CMYK").save(p, format="TIFF")
    elif case == "I;16":
        Image.fromarray(_pattern(None, np.uint16)).save(p, format="PNG")
    elif case == "I;16B-TIFF":
        Image.fromarray(_pattern(None, np.uint16).astype(">u2")).save(p, format="TIFF")
    elif case == "I":
        Image.fromarray(_pattern(None, np.uint16).astype(np.int32) * 3 - 1000).save(p, format="TIFF")
    elif case == "F":
        Image.fromarray(_pattern(None, np.uint16).astype(np.float32) / 65535).save(p, format="TIFF")
    elif case == "LA16":
        p.write_bytes(_png_raw(_pattern(2, np.uint16), color_type=4))
    elif case == "RGB16":
        p.write_bytes(_png_raw(_pattern(3, np.uint16), color_type=2))
    elif case == "RGBA16":
        p.write_bytes(_png_raw(_pattern(4, np.uint16), color_type=6))
    else:  # pragma: no cover
        raise AssertionError(case)
    return p


_MODE_EXPECT = {
    # case: (shape tail, dtype, had_alpha)
    "1": ((), np.uint8, False),
    "L": ((), np.uint8, False),
    "LA": ((4,), np.uint8, True),
    "P": ((3,), np.uint8, False),
    "P+transparency": ((4,), np.uint8, True),
    "GIF": ((3,), np.uint8, False),
    "CMYK-JPEG": ((3,), np.uint8, False),
    "CMYK-TIFF": ((3,), np.uint8, False),
    "I;16": ((), np.uint16, False),
    "I;16B-TIFF": ((), np.uint16, False),
    "I": ((), np.uint16, False),
    "F": ((), np.uint16, False),
    "LA16": ((4,), np.uint16, True),
    "RGB16": ((3,), np.uint16, False),
    "RGBA16": ((4,), np.uint16, True),
}


@pytest.mark.parametrize("case", list(_MODE_EXPECT))
def test_source_modes_are_converted_as_documented(tmp_path, case):
    tail, dtype, had_alpha = _MODE_EXPECT[case]
    pic = _read(_mode_file(tmp_path, case))
    assert pic.pixels.shape == (H, W, *tail)
    assert pic.pixels.dtype == dtype
    assert pic.facts["had_alpha"] is had_alpha
    assert pic.facts["channels"] == (tail[0] if tail else 1)
    json.dumps(pic.facts)


def test_mode_values(tmp_path):
    grey16 = _pattern(None, np.uint16)
    assert np.array_equal(_read(_mode_file(tmp_path, "I;16")).pixels, grey16)
    assert np.array_equal(_read(_mode_file(tmp_path, "I;16B-TIFF")).pixels, grey16)
    # float 0..1 -> x 65535
    f = _read(_mode_file(tmp_path, "F")).pixels.astype(int)
    assert np.abs(f - grey16).max() <= 1
    # int32 beyond 0..65535 -> stretched min..max
    i = _read(_mode_file(tmp_path, "I")).pixels
    assert i.min() == 0 and i.max() == 65535
    # 16-bit grey+alpha -> RGBA with grey replicated, 16 bits kept
    la = _pattern(2, np.uint16)
    got = _read(_mode_file(tmp_path, "LA16")).pixels
    assert np.array_equal(got[:, :, 0], la[:, :, 0])
    assert np.array_equal(got[:, :, 2], la[:, :, 0])
    assert np.array_equal(got[:, :, 3], la[:, :, 1])
    rgba = _pattern(4, np.uint16)
    assert np.array_equal(_read(_mode_file(tmp_path, "RGBA16")).pixels, rgba)
    one = _read(_mode_file(tmp_path, "1")).pixels
    assert set(np.unique(one)) <= {0, 255}


def test_icc_profile_handling(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = _smooth()
    p1 = tmp_path / "srgb.png"
    Image.fromarray(src).save(p1, icc_profile=srgb)
    pic = _read(p1)
    assert pic.facts["icc"] is True and pic.facts["icc_converted"] is False
    assert np.array_equal(pic.pixels, src)  # already sRGB: untouched

    # Any other RGB profile is converted to sRGB (the output carries no profile).
    # Same colorimetry under another name: the conversion runs, pixels barely move.
    renamed = srgb.replace(b"s\x00R\x00G\x00B", b"x\x00R\x00G\x00B")
    for name, mode in (("renamed.png", "RGB"), ("renamed-a.png", "RGBA")):
        p = tmp_path / name
        Image.fromarray(_smooth(4 if mode == "RGBA" else 3)).save(p, icc_profile=renamed)
        pic = _read(p)
        assert pic.facts["icc_converted"] is True, name
        assert pic.facts["converted"] == f"{mode}->sRGB"
        expected = _smooth(4 if mode == "RGBA" else 3)
        assert np.abs(pic.pixels.astype(int) - expected).max() <= 2
        if mode == "RGBA":
            assert np.array_equal(pic.pixels[:, :, 3], expected[:, :, 3])

    # An unusable profile (LAB on RGB data): pixels kept, a warning noted.
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    p2 = tmp_path / "mismatch.png"
    Image.fromarray(src).save(p2, icc_profile=lab)
    pic2 = _read(p2)
    assert np.array_equal(pic2.pixels, src)
    assert any("ICC" in w for w in pic2.facts.get("warnings", []))


# ---------------------------------------------------------------------------
# orientation
# ---------------------------------------------------------------------------

# Pillow operation that produces the *stored* picture from the upright one,
# i.e. the inverse of what a viewer applies for each EXIF orientation.
_STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _stored(upright: np.ndarray, orientation: int) -> Image.Image:
    im = Image.fromarray(upright)
    op = _STORE[orientation]
    return im if op is None else im.transpose(op)


def _tiff_with_orientation(data: bytes, orientation: int) -> bytes:
    """Swap the (default-valued) PlanarConfiguration entry for an Orientation entry."""
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd + 2 - 2)
    records = [data[ifd + 2 + 12 * i : ifd + 14 + 12 * i] for i in range(count)]
    records = [r for r in records if struct.unpack_from("<H", r)[0] != 284]
    records.append(struct.pack("<HHIHH", 274, 3, 1, orientation, 0))
    records.sort(key=lambda r: struct.unpack_from("<H", r)[0])
    body = b"".join(records)
    return data[: ifd + 2] + body + data[ifd + 2 + len(body) :]


def test_orientation_6_matches_the_exif_definition():
    # EXIF 6: "the 0th row is the visual right-hand side, the 0th column the visual top".
    upright = _pattern(3)
    stored = np.asarray(_stored(upright, 6))
    assert np.array_equal(stored[0, :], upright[:, -1])
    assert np.array_equal(stored[:, 0], upright[0, ::-1])


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("container", ["PNG", "JPEG", "TIFF", "WEBP", "PNG16", "TIFF16"])
def test_all_orientations_read_upright(tmp_path, orientation, container):
    p = tmp_path / "o.img"
    if container == "PNG16":
        # 16-bit RGB (read through OpenCV): transform each channel with Pillow
        upright = _pattern(3, np.uint16)
        stored = np.dstack([np.asarray(_stored(upright[:, :, c], orientation)) for c in range(3)])
        png = _png_raw(stored, color_type=2)
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif_body = exif.tobytes()[6:]  # without the "Exif\0\0" JPEG prefix
        iend = png.rindex(b"IEND") - 4
        p.write_bytes(png[:iend] + _png_chunk(b"eXIf", exif_body) + png[iend:])
    elif container == "TIFF16":
        upright = _pattern(3, np.uint16)
        stored = np.dstack([np.asarray(_stored(upright[:, :, c], orientation)) for c in range(3)])
        write_image(p, stored, format="TIFF")
        p.write_bytes(_tiff_with_orientation(p.read_bytes(), orientation))
    else:
        upright = _smooth() if container == "JPEG" else _pattern(3)
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw = {"quality": 95, "subsampling": 0} if container == "JPEG" else {}
        if container == "WEBP":
            kw = {"lossless": True}
        _stored(upright, orientation).save(p, format=container, exif=exif, **kw)

    pic = _read(p)
    assert pic.facts["orientation"] == orientation
    assert pic.pixels.shape == upright.shape
    if container == "JPEG":
        assert np.abs(pic.pixels.astype(int) - upright).mean() < 3
    else:
        assert np.array_equal(pic.pixels, upright)
    if container in ("PNG", "TIFF", "WEBP"):
        with Image.open(p) as im:  # agrees with Pillow's own exif_transpose
            assert np.array_equal(pic.pixels, np.asarray(ImageOps.exif_transpose(im)))


def test_heif_orientation_is_applied_by_libheif(tmp_path):
    # pillow-heif writes EXIF orientation as an irot/imir transform; libheif
    # applies it on decoding, so the picture must come back upright.
    upright = _smooth()
    p = tmp_path / "o.heic"
    exif = Image.Exif()
    exif[0x0112] = 6
    from veil.media.image import register_heif

    register_heif()
    _stored(upright, 6).save(p, format="HEIF", exif=exif.tobytes(), quality=95)
    pic = _read(p)
    assert pic.pixels.shape == upright.shape
    assert np.abs(pic.pixels.astype(int) - upright).mean() < 6


# ---------------------------------------------------------------------------
# multi-frame decisions
# ---------------------------------------------------------------------------


def test_animated_and_multipage_pictures_are_refused(tmp_path):
    a = Image.fromarray(_smooth())
    b = a.transpose(Image.Transpose.ROTATE_180)
    cases = {
        "anim.gif": dict(format="GIF"),
        "anim.webp": dict(format="WEBP", lossless=True),
        "anim.png": dict(format="PNG"),
        "pages.tif": dict(format="TIFF"),
        "sequence.avif": dict(format="AVIF"),
        "burst.heic": dict(format="HEIF"),
    }
    from veil.media.image import register_heif

    register_heif()
    for name, kw in cases.items():
        p = tmp_path / name
        a.save(p, save_all=True, append_images=[b], **kw)
        before = _sha(p)
        with pytest.raises(UnsupportedMediaError) as err:
            _read(p)
        assert "\n" not in str(err.value) and ("frames" in str(err.value) or "pages" in str(err.value))
        assert _sha(p) == before


def test_single_frame_gif_reads(tmp_path):
    p = tmp_path / "one.gif"
    Image.fromarray(_smooth()).convert("P").save(p)
    pic = _read(p)
    assert pic.format == "GIF" and pic.pixels.shape == (H, W, 3)
    assert output_format(pic.format) == "PNG"
    write_image(tmp_path / "one.png", pic.pixels, format=pic.format)  # GIF source -> PNG
    again = _read(tmp_path / "one.png")
    assert again.format == "PNG" and np.array_equal(again.pixels, pic.pixels)


def test_mpo_reads_primary_and_drops_previews(tmp_path):
    primary = _smooth()
    p = tmp_path / "phone.jpg"
    Image.fromarray(primary).save(
        p, format="MPO", save_all=True, append_images=[Image.fromarray(primary[::-1])]
    )
    pic = _read(p)
    assert pic.format == "JPEG"
    assert pic.facts["frames"] == 2 and pic.facts["dropped_previews"] == 1
    assert np.abs(pic.pixels.astype(int) - primary).mean() < 6


def test_tiff_with_reduced_resolution_preview_reads(tmp_path):
    main = Image.fromarray(_pattern(3))
    preview = main.resize((W // 2, H // 2))
    preview.encoderinfo = {}
    p = tmp_path / "preview.tif"
    main.save(p, save_all=True, append_images=[preview], tiffinfo={254: 0})
    # mark page 2 as a reduced-resolution image (NewSubfileType bit 0)
    data = bytearray(p.read_bytes())
    with Image.open(p) as im:
        im.seek(1)
        offset = im.tag_v2._offset if hasattr(im.tag_v2, "_offset") else None
    if offset is None:  # pragma: no cover
        pytest.skip("cannot locate the second IFD")
    count = struct.unpack_from("<H", data, offset)[0]
    entries = [struct.unpack_from("<HHII", data, offset + 2 + 12 * i) for i in range(count)]
    if any(tag == 254 for tag, *_ in entries):
        i = next(i for i, (tag, *_) in enumerate(entries) if tag == 254)
        struct.pack_into("<HHII", data, offset + 2 + 12 * i, 254, 4, 1, 1)
        p.write_bytes(bytes(data))
        pic = _read(p)
        assert pic.facts["dropped_previews"] == 1
        assert np.array_equal(pic.pixels, _pattern(3))
    else:  # Pillow did not write tag 254 on page 2: then it must be refused
        with pytest.raises(UnsupportedMediaError):
            _read(p)


# ---------------------------------------------------------------------------
# bad inputs: right error type, one line, input untouched
# ---------------------------------------------------------------------------


def _bomb_png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(bytes(1000)))
        + _png_chunk(b"IEND", b"")
    )


def _bad_inputs(tmp_path: Path) -> list[tuple[str, Path, type, int | None]]:
    jpeg = PHOTO.read_bytes()
    png = _png_raw(_pattern(3), color_type=2, depth=8)
    files = {
        "empty.jpg": (b"", MediaError),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], MediaError),
        "header-only.jpg": (jpeg[:300], MediaError),
        "truncated.png": (png[: len(png) // 2], MediaError),
        "text.jpg": (b"this is not a picture\n" * 10, MediaError),
        "random.png": (np.random.default_rng(1).bytes(5000), MediaError),
        "bomb.png": (_bomb_png(30_000, 30_000), TooLargeError),  # 900 MP header, 1 KB file
        "huge.png": (_bomb_png(100_000, 100_000), TooLargeError),  # over Pillow's own limit
        "photo.cr2": (jpeg, UnsupportedMediaError),
    }
    out = []
    for name, (data, err) in files.items():
        p = tmp_path / name
        p.write_bytes(data)
        out.append((name, p, err, 50_000_000))
    return out


def test_bad_inputs_raise_clear_errors_and_leave_files_alone(tmp_path):
    for name, p, err, limit in _bad_inputs(tmp_path):
        before = _sha(p)
        with pytest.raises(err) as info:
            read_image(p, max_pixels=limit)
        assert type(info.value) is err or issubclass(type(info.value), err), name
        msg = str(info.value)
        assert msg and "\n" not in msg, name
        assert _sha(p) == before, name
    with pytest.raises(MediaError):
        read_image(tmp_path / "missing.png", max_pixels=LIMIT)
    with pytest.raises(MediaError):
        read_image(tmp_path, max_pixels=LIMIT)


@pytest.mark.parametrize("fmt", [*WRITE_FORMATS, "PNG16", "TIFF16"])
def test_truncated_files_of_every_format_are_refused(tmp_path, fmt):
    rng = np.random.default_rng(5)
    if fmt.endswith("16"):
        fmt = fmt[:-2]
        src = rng.integers(0, 65536, (64, 80, 3), dtype=np.uint16)
    else:
        src = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    full = tmp_path / "full.bin"
    write_image(full, src, format=fmt)
    data = full.read_bytes()
    for keep in (0.5, 0.97):
        p = tmp_path / f"cut{keep}.bin"
        p.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(MediaError) as err:
            read_image(p, max_pixels=LIMIT)
        assert "\n" not in str(err.value)
        assert p.read_bytes() == data[: int(len(data) * keep)]


def test_pixel_limit_checked_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "small.png"
    write_image(p, _pattern(3), format="PNG")
    with pytest.raises(TooLargeError, match=r"40x24 = 960 pixels"):
        read_image(p, max_pixels=959)
    assert read_image(p, max_pixels=960).pixels.shape == (H, W, 3)

    def no_decode(self, *a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("pixels decoded before the size check")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decode)
    with pytest.raises(TooLargeError):
        read_image(p, max_pixels=100)


def test_pillow_bomb_warning_never_escapes(tmp_path, monkeypatch):
    p = tmp_path / "pic.png"
    write_image(p, _pattern(3), format="PNG")  # 960 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600)  # 960 > 600: Pillow warns
    pic = read_image(p, max_pixels=LIMIT)  # filterwarnings=error: a leak would raise
    assert pic.pixels.shape == (H, W, 3)
    assert not any("decompression" in w.lower() for w in pic.facts.get("warnings", []))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # 960 > 2 * 400: Pillow errors
    with pytest.raises(TooLargeError, match="over the limit of 800"):
        read_image(p, max_pixels=LIMIT)


def test_max_pixels_validated(tmp_path):
    with pytest.raises(ValueError):
        read_image(PHOTO, max_pixels=0)
    assert read_image(PHOTO, max_pixels=None).pixels.ndim == 3


# ---------------------------------------------------------------------------
# write_image and helpers
# ---------------------------------------------------------------------------


def test_write_rejects_bad_arguments(tmp_path):
    p = tmp_path / "x.jpg"
    with pytest.raises(ValueError):
        write_image(p, _pattern(4), format="JPEG")  # no alpha in JPEG
    with pytest.raises(UnsupportedMediaError):
        write_image(p, _pattern(3), format="EPS")
    with pytest.raises(ValueError):
        write_image(p, _pattern(3).astype(np.float32), format="PNG")
    with pytest.raises(ValueError):
        write_image(p, np.zeros((4, 4, 2), np.uint8), format="PNG")
    with pytest.raises(ValueError):
        write_image(p, _pattern(3), format="JPEG", quality=0)
    with pytest.raises(TypeError):
        write_image(p, [[1, 2], [3, 4]], format="PNG")  # type: ignore[arg-type]
    assert not p.exists()


def test_write_accepts_readonly_and_noncontiguous_input(tmp_path):
    src = _pattern(3)
    view = src[:, ::-1]
    view.flags.writeable = False
    write_image(tmp_path / "v.png", view, format="PNG")
    assert np.array_equal(_read(tmp_path / "v.png").pixels, src[:, ::-1])
    write_image(tmp_path / "v.jpg", _read(PHOTO).pixels, format="jpg", quality=80)
    assert _read(tmp_path / "v.jpg").format == "JPEG"


def test_jpeg_quality_and_subsampling(tmp_path):
    src = _read(PHOTO).pixels
    write_image(tmp_path / "hi.jpg", src, format="JPEG")
    write_image(tmp_path / "lo.jpg", src, format="JPEG", quality=40)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size
    with Image.open(tmp_path / "hi.jpg") as im:
        from PIL import JpegImagePlugin

        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
    write_image(tmp_path / "lossy.webp", src, format="WEBP", quality=60)
    write_image(tmp_path / "lossless.webp", src, format="WEBP")
    assert np.array_equal(_read(tmp_path / "lossless.webp").pixels, src)


def test_to_rgb8():
    g16 = np.arange(0, 65536, dtype=np.uint16).reshape(256, 256)
    out = to_rgb8(g16)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, 0], np.round(g16 / 257).astype(np.uint8))
    assert np.array_equal(out[:, :, 0], out[:, :, 2])
    k = np.arange(256, dtype=np.uint16)
    assert np.array_equal(to_rgb8((k * 257)[None, :])[0, :, 1], k)
    rgba = _pattern(4)
    assert np.array_equal(to_rgb8(rgba), rgba[:, :, :3])
    rgb = _pattern(3)
    copy = to_rgb8(rgb)
    assert np.array_equal(copy, rgb) and not np.shares_memory(copy, rgb)
    assert to_rgb8(_pattern(None)).shape == (H, W, 3)
    with pytest.raises(ValueError):
        to_rgb8(np.zeros((4, 4), np.float32))


def test_output_suffix_and_format():
    assert output_suffix(".jpeg") == ".jpeg"
    assert output_suffix(".JPG") == ".JPG"
    assert output_suffix(".HEIC") == ".HEIC"
    assert output_suffix(".tiff") == ".tiff"
    assert output_suffix(".gif") == ".png"
    assert output_suffix(".jpg", format="PNG") == ".png"  # a PNG named .jpg
    assert output_suffix(".dat", format="JPEG") == ".jpg"
    assert output_suffix(".gif", format="GIF") == ".png"
    for suffix in (".cr2", ".mp4", ""):
        with pytest.raises(UnsupportedMediaError):
            output_suffix(suffix)  # names no picture format: the caller must say which
    with pytest.raises(UnsupportedMediaError):
        output_suffix(".jpg", format="EPS")
    assert output_format("heic") == "HEIF" and output_format("GIF") == "PNG"
    assert format_for_suffix(".TIF") == "TIFF"
    with pytest.raises(UnsupportedMediaError):
        format_for_suffix(".mp4")


def test_cc0_photo_reads(tmp_path):
    pic = _read(PHOTO)
    assert pic.format == "JPEG"
    assert pic.pixels.shape == (400, 301, 3) and pic.pixels.dtype == np.uint8
    assert pic.facts["orientation"] == 1 and pic.facts["frames"] == 1
    with pytest.raises(ValueError):
        pic.pixels[0, 0, 0] = 1  # read-only
