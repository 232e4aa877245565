#!/usr/bin/env python
"""Real plates in video: the plate set's photos filmed by a moving camera, ``veil anonymize --cover plates``.

The plate set (``../shared/data/plates``) is photos; veil's plates in video were
measured on drawn plates only (``cover_pipeline.py``, ``kinds_schedule.py``).
Here each photo becomes a short clip as a hand-held or dash camera would film
it: a crop window of the photo that closes in (92% of the photo's size down to
``--zoom-to``, i.e. the car comes 1.09-1.33x nearer), drifts sideways
(``--pan`` of the width over the clip) and shakes (+-2 px, seeded), resized
to the photo's own size (even), H.264 CRF 20 at 25 fps. Encodes of the same frames differ
from one process to another, so two runs meant to score the same pixels (two commits) share
``--clips DIR``: filmed there once, read back after. The plate boxes
follow exactly (the crop is a scale and a shift).

One ``veil anonymize DIR --cover plates --masks`` run over every clip (the
defaults otherwise: every frame looked at, tracking, verification), scored
per (frame, plate) on the written masks: covered when >= 80% of the plate's
visible box is inside; a plate counts on a frame where >= 40% of its box is
in the picture. By the plate's height on that frame (< 12, 12-24, >= 24 px).

* **flash**: an uncovered (frame, plate) between two covered frames of the
  same plate -- the failure the tracker is there to prevent;
* **never**: plates covered on no frame;
* **mask**: the share of each frame covered, and over-redaction: of it, what lies outside
  every plate's box grown x1.5 (as ``cover_pipeline.py``'s photo sets), mean and p95 over frames;
* **photo**: the first, middle and last frame of every clip written as PNG and
  run as photos (``--cover plates``): what the detector alone covers on the
  same frames, without tracking -- so the table says what video adds or loses.

Halves as in ``plates_coverage.py --split``: dev = photos ``CarsN`` with N even.

Usage::

    nice -n 10 .venv/bin/python bench/plates_video.py --half dev
    nice -n 10 .venv/bin/python bench/plates_video.py --limit 10 --frames 12   # quick look
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import cover_pipeline as C  # noqa: E402
import kinds_schedule as K  # noqa: E402
import plates_coverage as P  # noqa: E402

MIN_COVER = 0.8
MIN_VISIBLE = 0.4
BINS = [("<12", 0, 12), ("12-24", 12, 24), (">=24", 24, 1e9)]
TOTALS = [(">=12", 12), ("all", 0)]


def camera(n: int, w: int, h: int, *, zoom_to: float, pan: float, seed: int) -> list[tuple[float, float, float]]:
    """Per frame ``(x0, y0, s)``: the crop window's top-left corner and its scale (share of the photo)."""
    rng = np.random.default_rng(seed)
    path = []
    for i in range(n):
        t = i / max(1, n - 1)
        s = 0.92 + (zoom_to - 0.92) * t
        cx = w / 2 + pan * w * (t - 0.5) + rng.uniform(-2, 2)
        cy = h / 2 + rng.uniform(-2, 2)
        x0 = float(np.clip(cx - s * w / 2, 0, w - s * w))
        y0 = float(np.clip(cy - s * h / 2, 0, h - s * h))
        path.append((x0, y0, s))
    return path


def film(photo: np.ndarray, boxes: np.ndarray, path, clip: Path | None) -> list[np.ndarray]:
    """Write ``clip`` (None: only the boxes); return each frame's plate boxes (xyxy, unclipped)."""
    h, w = (d - d % 2 for d in photo.shape[:2])
    xyxy = np.c_[boxes[:, :2], boxes[:, :2] + boxes[:, 2:]].astype(np.float64)
    moves = []  # each frame: the crop window scaled to the frame
    for x0, y0, s in path:
        sx, sy = w / (s * photo.shape[1]), h / (s * photo.shape[0])
        moves.append(np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]]))
    truth = [np.c_[xyxy[:, [0, 2]] * m[0, 0] + m[0, 2], xyxy[:, [1, 3]] * m[1, 1] + m[1, 2]][:, [0, 2, 1, 3]]
             for m in moves]
    if clip is not None:
        K.write_clip(clip, (cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                            for m in moves), size=(w, h), crf=20)
    return truth


def decoded(clip: Path):
    import av

    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


def visible(box: np.ndarray, shape) -> tuple[np.ndarray, float]:
    """The part of ``box`` (xyxy) inside a picture of ``shape``, and its share of the box."""
    h, w = shape[:2]
    c = np.array([max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)])
    area = max(1e-9, (box[2] - box[0]) * (box[3] - box[1]))
    return c, max(0.0, c[2] - c[0]) * max(0.0, c[3] - c[1]) / area


def covered(mask: np.ndarray, box: np.ndarray) -> bool:
    x0, y0, x1, y1 = int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))
    part = mask[max(y0, 0):y1, max(x0, 0):x1]
    return part.size > 0 and float(part.mean()) >= MIN_COVER


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--half", choices=("dev", "held-out", "all"), default="all")
    ap.add_argument("--limit", type=int, default=0, help="first N photos of the half")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--zoom-to", type=float, default=0.75, help="crop window's share of the photo at the end")
    ap.add_argument("--pan", type=float, default=0.06, help="sideways drift over the clip, share of the width")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--only", help="comma list of photo names (e.g. Cars375) of the half, to look at")
    ap.add_argument("--no-photos", action="store_true", help="skip the photo run of three frames per clip")
    ap.add_argument("--veil-args", default="", help="added to both runs, e.g. '--kinds-every 8'")
    ap.add_argument("--keep", help="keep clips and outputs in this folder")
    ap.add_argument("--clips", help="the clips' folder: filmed there where missing, else read back (so two runs, "
                                    "e.g. of two commits, score the very same pixels; keep --frames, --zoom-to, "
                                    "--pan and --seed the same)")
    ap.add_argument("--out", default=str(B.OUT / "plates_video.json"))
    args = ap.parse_args(argv)

    plates = [(p, b) for p, b in P.load_plates() if len(b)]
    number = lambda p: int("".join(ch for ch in p.stem if ch.isdigit()) or 0)  # noqa: E731
    if args.half != "all":
        plates = [(p, b) for p, b in plates if (number(p) % 2 == 0) == (args.half == "dev")]
    # each photo's camera is seeded by its place in the half, so --only films it as the whole half does
    chosen = [(k, p, b) for k, (p, b) in enumerate(plates[:args.limit] if args.limit else plates)
              if not args.only or p.stem in args.only.split(",")]
    if not chosen:
        where = "the plate set" if args.half == "all" else f"the {args.half} half"
        ap.error(f"no photo with plates in {where}" + (f" is named {args.only}" if args.only else ""))
    C.VEIL_ARGS[:] = args.veil_args.split()

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="veil-plates-video-"))
    clip_dir = Path(args.clips) if args.clips else tmp / "clips"
    clip_dir.mkdir(parents=True, exist_ok=True)
    (tmp / "photos").mkdir(parents=True, exist_ok=True)
    (tmp / "in").mkdir(exist_ok=True)
    clips, t0 = {}, time.perf_counter()
    for k, photo_path, boxes in chosen:
        photo = B.read_rgb(photo_path)
        path = camera(args.frames, photo.shape[1], photo.shape[0], zoom_to=args.zoom_to, pan=args.pan,
                      seed=args.seed * 1000 + k)
        name = f"{photo_path.stem}.mp4"
        clip = clip_dir / name
        if clip.exists():
            truth = film(photo, boxes, path, None)
        else:
            truth = film(photo, boxes, path, tmp / "in" / name)
            shutil.move(tmp / "in" / name, clip)
        clips[name] = truth
        (tmp / "in" / name).unlink(missing_ok=True)
        (tmp / "in" / name).symlink_to(clip.resolve())
        for i, frame in enumerate(decoded(clip)):  # the frames veil sees, compressed
            if i in (0, args.frames // 2, args.frames - 1):
                cv2.imwrite(str(tmp / "photos" / f"{photo_path.stem}_{i:02d}.png"), frame[:, :, ::-1])
    print(f"{len(clips)} clips of {args.frames} frames written in {time.perf_counter() - t0:.0f} s", flush=True)

    video = C.run_veil(tmp / "in", tmp / "out-video", "plates")
    print(f"video run: {video['cpu_s']:.0f} CPU s", flush=True)
    photos = None if args.no_photos else C.run_veil(tmp / "photos", tmp / "out-photos", "plates")

    pairs = []  # (clip, plate, frame, height, covered in video, covered as a photo or None)
    frame_share, over = [], []  # per frame: the mask's share of the picture; of it, outside every plate grown x1.5
    for name, truth in clips.items():
        stem = name[:-4]
        for i, boxes in enumerate(truth):
            mask = C.mask_of(tmp / "out-video", f"{name}/{i}")
            frame_share.append(float(mask.mean()))
            xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
            over.append(float((mask & ~B.allowance_mask(xywh, mask.shape)).mean()))
            photo_mask = None
            if photos is not None and (tmp / "photos" / f"{stem}_{i:02d}.png").exists():
                photo_mask = C.mask_of(tmp / "out-photos", f"{stem}_{i:02d}.png")
            for j, box in enumerate(boxes):
                part, share = visible(box, mask.shape)
                if share < MIN_VISIBLE:
                    continue
                pairs.append((stem, j, i, float(box[3] - box[1]), covered(mask, part),
                              None if photo_mask is None else covered(photo_mask, part)))

    heights = np.array([p[3] for p in pairs])
    in_video = np.array([p[4] for p in pairs])
    flash, never, tracks = 0, 0, {}
    for stem, j, i, _, c, _ in pairs:
        tracks.setdefault((stem, j), []).append((i, c))
    flash_list = []
    for key, seq in tracks.items():
        flags = [c for _, c in sorted(seq)]
        never += not any(flags)
        if any(flags):
            first, last = flags.index(True), len(flags) - 1 - flags[::-1].index(True)
            gaps = [i for i in range(first, last + 1) if not flags[i]]
            flash += len(gaps)
            if gaps:
                flash_list.append([key[0], key[1], gaps])
    sel = np.array([p[5] is not None for p in pairs])
    same_photo = np.array([bool(p[5]) for p in pairs])
    def row(label, h, c):
        return [label, *[f"{100 * k / max(1, n):.1f}% ({k}/{n})" for k, n in P.summarize(h, c, BINS, TOTALS).values()]]

    rows = [row("video, every frame", heights, in_video)]
    if sel.any():
        rows += [row("video, on the photo frames", heights[sel], in_video[sel]),
                 row("photos (the same frames)", heights[sel], same_photo[sel])]
    print(B.md_table(["(frame, plate) pairs", *[b[0] for b in BINS], *[t[0] for t in TOTALS]], rows))
    n_frames = len(clips) * args.frames
    print(f"plates {len(tracks)}, never covered {never}, flash frames {flash} "
          f"({len(flash_list)} plates); mask {100 * np.mean(frame_share):.1f}% of the frame, over-redaction (outside "
          f"the plates grown x1.5) {100 * np.mean(over):.1f}% mean / {100 * np.percentile(over, 95):.1f}% p95; "
          f"video CPU {1000 * video['cpu_s'] / n_frames:.0f} ms / frame; "
          f"residual findings {C.residual_summary(video['report'])}")
    B.write_json(Path(args.out), {
        "machine": B.machine_info(), "args": vars(args), "commands": [video["command"]]
        + ([photos["command"]] if photos else []), "clips": len(clips), "frames": n_frames,
        "pairs": [list(p) for p in pairs], "coverage_video": P.summarize(heights, in_video, BINS, TOTALS),
        "coverage_photo": P.summarize(heights[sel], same_photo[sel], BINS, TOTALS) if sel.any() else None,
        "coverage_video_on_photo_frames": P.summarize(heights[sel], in_video[sel], BINS, TOTALS) if sel.any() else None,
        "never": never, "flash": flash, "flash_plates": flash_list, "mask_share": float(np.mean(frame_share)),
        "over_redaction": {"mean": float(np.mean(over)), "p95": float(np.percentile(over, 95))},
        "cpu_ms_per_frame_video": 1000 * video["cpu_s"] / n_frames,
        "residual_video": C.residual_summary(video["report"]),
        "summary_video": video["report"]["summary"]})
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
