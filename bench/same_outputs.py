"""Fingerprints of what the media, detect and track stages return and write, to prove a refactor changed nothing.

Not a benchmark: it prints one ``case hash`` line per case (or the one-line
error the case raises) for picture reading/writing in every format, mode and
orientation, the metadata audit, video probing/decoding/transcoding, the
multi-scale detector (passes, merge on synthetic candidates) and the tracker
(random scenes, every option). Run it on two trees and diff the outputs::

    .venv/bin/python bench/same_outputs.py > /tmp/after.txt
    git worktree add /tmp/before <rev> && (cd /tmp && PYTHONPATH=/tmp/before/src \
        /path/to/.venv/bin/python /path/to/bench/same_outputs.py --root /tmp/before) > /tmp/before.txt
    diff /tmp/before.txt /tmp/after.txt

Needs ``tests/data`` only (no shared data); about a minute on a quiet machine.
Used for #11 (the module splits: byte-identical outputs).
"""
import hashlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(sys.argv[sys.argv.index("--root") + 1]) if "--root" in sys.argv else Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))  # metadata_samples.py
out_lines = []
folders = []  # temporary folders of this run, removed at the end


def h(*parts) -> str:
    m = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            m.update(str(p.dtype).encode() + str(p.shape).encode())
            m.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, bytes):
            m.update(p)
        else:
            m.update(json.dumps(p, sort_keys=True, default=str).encode())
    return m.hexdigest()[:16]


def _folder() -> Path:
    folders.append(Path(tempfile.mkdtemp(prefix="veil-same-")))
    return folders[-1]


def emit(name, value):
    out_lines.append(f"{name} {value}")


def err(exc):
    return f"ERR {type(exc).__name__}: {exc}"


def images():
    from veil.media.image import (READ_FORMATS, WRITE_FORMATS, format_for_suffix, output_format,
                                  output_suffix, read_image, to_rgb8, write_image)
    from metadata_samples import laden_jpeg
    tmp = _folder()
    rng = np.random.default_rng(0)
    arrays = {
        "rgb8": rng.integers(0, 256, (37, 53, 3), dtype=np.uint8),
        "rgba8": rng.integers(0, 256, (37, 53, 4), dtype=np.uint8),
        "grey8": rng.integers(0, 256, (37, 53), dtype=np.uint8),
        "rgb16": rng.integers(0, 65536, (37, 53, 3), dtype=np.uint16),
        "rgba16": rng.integers(0, 65536, (37, 53, 4), dtype=np.uint16),
        "grey16": rng.integers(0, 65536, (37, 53), dtype=np.uint16),
    }
    for name, arr in arrays.items():
        emit(f"to_rgb8.{name}", h(to_rgb8(arr)))
        for fmt in WRITE_FORMATS + ("GIF", "jpg", "bogus"):
            p = tmp / f"{name}.{fmt}"
            try:
                write_image(p, arr, format=fmt)
                data = p.read_bytes()
                pic = read_image(p, max_pixels=10**7)
                emit(f"write.{name}.{fmt}", h(data) + " " + h(pic.pixels, pic.format, pic.facts))
            except Exception as exc:
                emit(f"write.{name}.{fmt}", err(exc))
            if fmt in ("JPEG", "WEBP", "HEIF"):
                try:
                    write_image(p, arr, format=fmt, quality=60)
                    emit(f"writeq.{name}.{fmt}", h(p.read_bytes()))
                except Exception as exc:
                    emit(f"writeq.{name}.{fmt}", err(exc))
    for bad in (0, 101, True, 5.0):
        try:
            write_image(tmp / "x.jpg", arrays["rgb8"], format="JPEG", quality=bad)
        except Exception as exc:
            emit(f"write.badq.{bad}", err(exc))
    for p in sorted(DATA.glob("face_mask/*.jpg")):
        pic = read_image(p, max_pixels=10**7)
        emit(f"read.{p.name}", h(pic.pixels, pic.format, pic.facts))
    # orientations, modes, icc, multi-frame, raw, empty, not a picture
    base = Image.fromarray(arrays["rgb8"])
    cases = {}
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        b = io.BytesIO()
        base.save(b, format="JPEG", exif=exif.tobytes(), quality=90)
        cases[f"orient{o}.jpg"] = b.getvalue()
        b = io.BytesIO()
        base.save(b, format="PNG", exif=exif.tobytes())
        cases[f"orient{o}.png"] = b.getvalue()
        b = io.BytesIO()
        base.save(b, format="TIFF", exif=exif.tobytes())
        cases[f"orient{o}.tif"] = b.getvalue()
    for mode in ("1", "L", "LA", "P", "PA", "CMYK", "I", "F", "I;16", "RGBX", "YCbCr", "HSV"):
        try:
            im = base.convert(mode) if mode not in ("PA", "I;16", "HSV") else None
            if mode == "PA":
                im = base.convert("P")
                im.info["transparency"] = 3
            if mode == "I;16":
                im = Image.fromarray(arrays["grey16"])
            if mode == "HSV":
                im = base.convert("HSV")
            for fmt in ("PNG", "TIFF", "BMP", "JPEG", "WEBP", "GIF"):
                b = io.BytesIO()
                try:
                    im.save(b, format=fmt)
                    cases[f"mode_{mode.replace(';', '_')}.{fmt.lower()}"] = b.getvalue()
                except Exception:
                    pass
        except Exception:
            pass
    frames = [base, base.transpose(Image.Transpose.ROTATE_180)]
    for fmt in ("GIF", "PNG", "WEBP", "TIFF"):
        b = io.BytesIO()
        frames[0].save(b, format=fmt, save_all=True, append_images=frames[1:])
        cases[f"anim.{fmt.lower()}"] = b.getvalue()
    cases["laden.jpg"] = laden_jpeg()
    cases["laden6.jpg"] = laden_jpeg(orientation=6, trailer=b"\x00\x00ftypmp42" + b"x" * 100)
    cases["empty.jpg"] = b""
    cases["text.png"] = b"hello, not a picture"
    cases["raw.cr2"] = b"II*\x00"
    cases["trunc.jpg"] = cases["orient1.jpg"][:200]
    for name, data in sorted(cases.items()):
        p = tmp / name
        p.write_bytes(data)
        try:
            pic = read_image(p, max_pixels=10**7)
            emit(f"read.{name}", h(pic.pixels, pic.format, pic.facts))
        except Exception as exc:
            emit(f"read.{name}", err(exc))
        try:
            pic = read_image(p, max_pixels=100)
            emit(f"readlim.{name}", "ok")
        except Exception as exc:
            emit(f"readlim.{name}", err(exc))
    emit("dir", err_of(lambda: read_image(tmp, max_pixels=None)))
    emit("missing", err_of(lambda: read_image(tmp / "nope.jpg", max_pixels=None)))
    emit("badmax", err_of(lambda: read_image(tmp / "nope.jpg", max_pixels=0)))
    for s in (".JPG", ".jpeg", ".heic", ".gif", ".tif", ".mp4", ".cr2"):
        emit(f"suffix{s}", err_of(lambda: format_for_suffix(s)))
        emit(f"outsuffix{s}", err_of(lambda: output_suffix(s)))
        emit(f"outsuffixpng{s}", err_of(lambda: output_suffix(s, format="PNG")))
    for f in ("jpg", "heic", "MPO", "GIF", "dib", "xx"):
        emit(f"outfmt.{f}", err_of(lambda: output_format(f)))
    emit("formats", h(READ_FORMATS, WRITE_FORMATS))
    return cases, tmp


def err_of(fn):
    try:
        return repr(fn())
    except Exception as exc:
        return err(exc)


def metadata(cases, tmp):
    from veil.media.metadata import KIND_LABELS, KINDS, MAX_TEXT, RISKS, image_metadata, removed_summary
    from metadata_samples import identifying_exif, srgb_icc, xmp_packet
    emit("md.consts", h(KIND_LABELS, KINDS, MAX_TEXT, RISKS))
    extra = {}
    rgb = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    for fmt in ("PNG", "WEBP", "TIFF", "JPEG", "HEIF", "AVIF", "GIF", "BMP"):
        kw = {"exif": identifying_exif()}
        if fmt in ("PNG", "WEBP", "TIFF", "JPEG"):
            kw["icc_profile"] = srgb_icc()
        if fmt in ("WEBP", "PNG"):
            kw["xmp"] = xmp_packet()
        if fmt == "HEIF":
            import pillow_heif
            pillow_heif.register_heif_opener()
        b = io.BytesIO()
        try:
            rgb.save(b, format=fmt, **kw)
        except Exception:
            b = io.BytesIO()
            rgb.save(b, format=fmt)
        extra[f"md_laden.{fmt.lower()}"] = b.getvalue()
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Somebody")
    info.add_text("Software", "X")
    info.add_text("Comment", "zzz", zip=True)
    info.add_itxt("Description", "some words", zip=True)
    info.add_text("Creation Time", "2020")
    b = io.BytesIO()
    rgb.save(b, format="PNG", pnginfo=info)
    extra["md_text.png"] = b.getvalue()
    for name, data in sorted({**cases, **extra}.items()):
        p = tmp / name
        p.write_bytes(data)
        try:
            r = image_metadata(p)
            emit(f"md.{name}", h(r))
            emit(f"mdsum.{name}", h(removed_summary(r["findings"]), removed_summary(r["findings"], audio_kept=True)))
        except Exception as exc:
            emit(f"md.{name}", err(exc))
    for p in sorted(DATA.glob("face_mask/*.jpg")):
        emit(f"md.{p.name}", h(image_metadata(p)))
    emit("mdsum.audio", h(removed_summary([{"kind": "audio"}, {"kind": "zzz"}, {"kind": "gps"}], audio_kept=True)))


def video():
    from veil.media.video import iter_frames, output_suffix, probe_video, transcode
    tmp = _folder()
    clip = DATA / "short_hamilton_clip.mp4"
    info = probe_video(clip, max_pixels=10**8)
    emit("v.probe", h(info.to_dict()))
    with iter_frames(clip, max_pixels=10**8) as it:
        hs = [h(f.rgb, f.pts, str(f.time)) for f in it]
        emit("v.frames", h(hs, it.warnings))
    for suffix in (".mp4", ".mkv", ".mov"):
        dst = tmp / f"o{suffix}"

        def render(frame):
            out = frame.rgb.copy()
            out[10:40, 10:40] = 0
            return out
        r = transcode(clip, dst, render, max_pixels=10**8, audio="keep" if suffix != ".mp4" else "drop",
                      preset="ultrafast")
        emit(f"v.transcode{suffix}", h(dst.read_bytes()) + " " + h(r.to_dict()))
    for s, a in ((".webm", ()), (".mp4", ("pcm_s16le",)), (".mp4", ("vorbis",)), ("MOV", ())):
        emit(f"v.suffix{s}{a}", output_suffix(s, audio_codecs=a))
    emit("v.bad", err_of(lambda: transcode(clip, tmp / "x.avi", lambda f: f.rgb, max_pixels=10**8)))
    emit("v.bad2", err_of(lambda: probe_video(tmp, max_pixels=10**8)))
    emit("v.bad3", err_of(lambda: probe_video(clip, max_pixels=100)))
    p = tmp / "img.png"
    Image.new("RGB", (20, 20)).save(p)
    emit("v.bad4", err_of(lambda: probe_video(p, max_pixels=10**8)))


def detect():
    from veil.detect import CenterFace, MultiScaleDetector
    from veil.detect.multiscale import Pass, tile_grid
    from veil.detections import Detections
    from veil.media.image import read_image, to_rgb8
    base = CenterFace(threshold=0.2)
    det = MultiScaleDetector(base)
    for p in sorted(DATA.glob("face_mask/*.jpg"))[:3]:
        rgb = to_rgb8(read_image(p, max_pixels=10**7).pixels)
        for kw in ({}, {"tiles": "all"}, {"tiles": "none"}):
            d = det.detect(rgb, **kw)
            emit(f"det.{p.name}.{kw}", h(d.xyxy, d.scores, d.landmarks))
        ps = det.passes(rgb, tiles="all")
        emit(f"det.passes.{p.name}", h([(q.name, q.small, q.detections.xyxy.tolist()) for q in ps]))
        m = det.merge(ps)
        emit(f"det.small.{p.name}", det.tiles_only_small(rgb.shape, ps, m))
        emit(f"det.flip.{p.name}", h(det.full_pass(rgb, flip=True, threshold=0.05).xyxy))
    big = np.zeros((2160, 3840, 3), np.uint8)
    emit("det.adaptive", [det.adaptive_for(big.shape), det.adaptive_for((1080, 1920, 3)), det.tiles((1080, 1920, 3))])
    emit("det.grid", tile_grid(1000, 400, 40))
    # merge on synthetic candidates, several settings
    rng = np.random.default_rng(3)
    for seed in range(30):
        passes = []
        for k, name in enumerate(("full", "coarse", "flip", "tiles")):
            n = int(rng.integers(0, 12))
            xy = rng.uniform(0, 500, (n, 2))
            wh = rng.uniform(4, 150, (n, 2))
            xyxy = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
            sc = rng.uniform(0.05, 1.0, n).astype(np.float32)
            lm = rng.uniform(0, 600, (n, 5, 2)).astype(np.float32)
            passes.append(Pass(name, Detections(xyxy, scores=sc, landmarks=lm), small=name == "tiles"))
            if n and rng.random() < 0.5:  # near-duplicates across passes
                passes.append(Pass("full", Detections(xyxy + 2, scores=sc * 0.5, landmarks=lm)))
        for kw in ({}, {"fuse": False}, {"min_face": 20.0}, {"nms_iou": 0.5, "overlap": 100}, {"threshold": 0.6}):
            d2 = MultiScaleDetector(base, **kw).merge(passes)
            emit(f"merge.{seed}.{kw}", h(d2.xyxy, d2.scores, d2.landmarks))
    emit("repr", repr(det))


def track():
    from veil.detections import Detections
    from veil.track import link_tracks
    rng = np.random.default_rng(7)
    for seed in range(25):
        n = int(rng.integers(5, 80))
        per = []
        people = int(rng.integers(1, 5))
        pos = rng.uniform(0, 600, (people, 2))
        vel = rng.normal(0, 6 if seed % 2 else 25, (people, 2))
        size = rng.uniform(6, 120, people)
        for f in range(n):
            boxes = []
            for k in range(people):
                if rng.random() < 0.2:
                    continue
                c = pos[k] + vel[k] * f + rng.normal(0, 1.5, 2)
                s = size[k] * rng.uniform(0.8, 1.2)
                boxes.append([c[0] - s / 2, c[1] - s / 2, c[0] + s / 2, c[1] + s / 2])
            if rng.random() < 0.1:
                boxes.append(list(rng.uniform(0, 600, 2)) + [0, 0])
                boxes[-1][2:] = [boxes[-1][0] + 10, boxes[-1][1] + 10]
            if boxes:
                xyxy = np.array(boxes, np.float32)
                per.append(Detections(xyxy, scores=rng.uniform(0.2, 1, len(boxes)).astype(np.float32),
                                      landmarks=rng.uniform(0, 600, (len(boxes), 5, 2)).astype(np.float32)))
            else:
                per.append(Detections.empty())
        cuts = sorted(set(int(c) for c in rng.integers(0, n + 1, int(rng.integers(0, 3)))))
        for kw in ({}, {"frame_size": (640, 480)}, {"min_hits": 1, "pad_frames": 0}, {"max_gap": 3, "motion_margin": 0.0},
                   {"frame_size": (300, 200), "pad_frames": 10, "max_distance": 3.0, "iou_threshold": 0.1}):
            r = link_tracks(per, cuts=cuts, **kw)
            emit(f"track.{seed}.{kw}", h([(d.xyxy, d.scores, d.landmarks, d.track_id, d.source) for d in r.frames],
                                         [t.to_dict() for t in r.tracks], [t.__dict__ for t in r.tracks], r.cuts))
    for bad in ({"pad_frames": -1}, {"max_gap": 1.5}, {"iou_threshold": 0}, {"max_distance": np.inf},
                {"motion_margin": -1}, {"frame_size": (0, 3)}, {"cuts": [99]}, {"min_hits": True}):
        emit(f"track.bad.{bad}", err_of(lambda: link_tracks([Detections.empty()] * 3, **bad)))
    emit("track.type", err_of(lambda: link_tracks([None])))


STAGES = ["images", "metadata", "video", "detect", "track"]
which = [a for a in sys.argv[1:] if a in STAGES] or STAGES
if "images" in which or "metadata" in which:
    cases, tmp = images()
    if "images" not in which:
        out_lines.clear()
    if "metadata" in which:
        metadata(cases, tmp)
if "video" in which:
    video()
if "detect" in which:
    detect()
if "track" in which:
    track()
print("\n".join(out_lines))
for folder in folders:
    shutil.rmtree(folder, ignore_errors=True)
