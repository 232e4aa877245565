"""Plates and text in video on a schedule (``--kinds-every``): coverage against every frame, CPU.

Used by ``cover_pipeline.py --sets schedule`` (see its docstring); importable on its own.

Two synthetic 1920x1080 clips at 25 fps, H.264 CRF 16, with known plates and words:

* ``street``: a White House frame (its people are the faces) held still, with a
  plate 12 px high and a word 12 px (glyph) standing; a plate 14 px high driving
  right 24 px a frame; a plate 18 px entering from the left edge at frame ~14; a
  word 16 px entering from the right at frame ~28; a plate 24 px that appears at
  frame 17 and vanishes at frame 41 (between looks for every k tried but 1); a
  word 10 px drifting 3 px a frame (tiles only).
* ``pan``: a hand-held pan over a street photo (``../shared/data/street``,
  upscaled to 2600 px): the window moves 14 px a frame right with a +-4 px
  vertical shake; plates (12, 16, 22 px) and words (10, 14, 20 px) stand in the
  scene and enter the frame from the right edge as the camera pans.
* ``whitehouse``: real footage, the White House clip's first frames upscaled to
  1920x1080 (cuts, a moving camera, its own signs); nothing drawn, so only the
  every-frame detector's boxes are scored.

For each clip: the plate/text detector on **every decoded frame, every tile** in
this process (the reference: what ``--kinds-every 1`` looks at), then ``veil
anonymize --masks`` in a child for ``--cover faces`` and ``--cover
faces,plates,text --kinds-every k`` for each k. Scored per (frame, region) on
the written masks (covered: >= 80% of the box inside the mask):

* ``truth``: the drawn plates (plate box) and words (glyph box), visible part,
  on every frame where at least 40% of the item is in the picture;
* ``reference``: every box the every-frame detector finds;
* ``lost``: pairs covered by the ``k = 1`` run but not by this one (the bar: 0);
* ``flash``: truth pairs uncovered between two covered frames of that item;
* mask share: mean share of the frame covered (the padding's price).

CPU: user + system seconds of each child (all threads, start-up included) per
frame; the faces-only run is made first and last of each clip (interleaved), the
ratio uses their mean.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

MIN_COVER = 0.8
MIN_VISIBLE = 0.4  # share of an item inside the picture for it to count as visible
STREET_PHOTO = B.DATA / "street" / "city.jpg"
W, H = 1920, 1080


def _item_box(item) -> np.ndarray:
    return item.plate if item.plate is not None else item.ink


def write_clip(path: Path, frames, *, size: tuple[int, int] = (W, H), crf: int = 16) -> None:
    """H.264 at 25 fps of ``frames`` (an iterable of RGB pictures of ``size``, width x height)."""
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = *size, "yuv420p"
        s.options = {"preset": "veryfast", "crf": str(crf)}
        for i, pic in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pic, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


# name, text, height, angle, plate, panel, centre(i) or None when absent
def _street_items(n: int):
    yellow, white, blue = (250, 200, 30), (240, 240, 235), (25, 60, 140)
    return [
        ("static plate 12", "KL 45 AB 1234", 12, 3, True, white, lambda i: (1500, 900)),
        ("static word 12", "Dr. K. Osei", 12, 0, False, blue, lambda i: (300, 980)),
        ("moving plate 14", "MH12 DE 4471", 14, -4, True, yellow, lambda i: (200 + 24 * i, 760)),
        ("entering plate 18", "B 7731 QX", 18, 2, True, white, lambda i: (-60 + 20 * (i - 14), 620)),
        ("entering word 16", "PRESS 42", 16, 0, False, white, lambda i: (1990 - 16 * (i - 28), 420)),
        ("popping plate 24", "TN 09 BC 5521", 24, -3, True, yellow, lambda i: (1100, 300) if 17 <= i < 41 else None),
        ("drifting word 10", "Ward 7", 10, 5, False, white, lambda i: (700 + 3 * i, 520 + i)),
    ]


def street_clip(path: Path, n: int):
    """The ``street`` clip; returns ``(names, truth)``: truth[i] is a list of visible xyxy or None per item."""
    import av

    import synth_text as S

    with av.open(str(B.WHITE_HOUSE)) as c:
        base = next(f for i, f in enumerate(c.decode(video=0)) if i == 40).to_ndarray(format="rgb24")
    base = cv2.resize(base, (W, H), interpolation=cv2.INTER_CUBIC)
    items = _street_items(n)
    styles = []
    for _, text, h, angle, plate, panel, _ in items:
        colour = (245, 245, 245) if panel == (25, 60, 140) else (20, 20, 20)
        kw = dict(text=text, height=h, angle=angle, panel=panel, plate=plate, color=colour)
        # The whole item's box around its centre (it does not depend on where it is drawn).
        _, item = S.render(np.zeros((400, 800, 3), np.uint8), center=(400, 200), **kw)
        styles.append((kw, _item_box(item) - [400, 200, 400, 200]))
    truth, frames = [], []
    for i in range(n):
        pic, row = base, []
        for (kw, rel), it in zip(styles, items):
            c = it[-1](i)
            if c is None:
                row.append(None)
                continue
            pic, item = S.render(pic, center=c, **kw)
            row.append(_visible(_item_box(item), rel + [c[0], c[1], c[0], c[1]]))
        truth.append(row)
        frames.append(pic)
    write_clip(path, frames)
    return [it[0] for it in items], truth


def _visible(box: np.ndarray, whole: np.ndarray) -> np.ndarray | None:
    """``box`` (the visible part) when at least MIN_VISIBLE of ``whole``'s area is in the picture."""
    area = lambda b: max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])  # noqa: E731
    return box if area(whole) > 0 and area(box) >= MIN_VISIBLE * area(whole) else None


def pan_clip(path: Path, n: int):
    """The ``pan`` clip (a shaking pan over a street photo); ``(names, truth)`` as :func:`street_clip`."""
    import synth_text as S

    photo = cv2.imread(str(STREET_PHOTO))[:, :, ::-1]
    cw = W + 14 * n + 40
    canvas = cv2.resize(photo, (cw, int(cw * photo.shape[0] / photo.shape[1])), interpolation=cv2.INTER_CUBIC)
    canvas = np.ascontiguousarray(canvas[:H + 60])
    white, yellow = (240, 240, 235), (250, 200, 30)
    specs = [("plate 12", "AB 12 CD", 12, 4, True, white, (W + 60, 700)),
             ("plate 16", "KA 03 MN 7731", 16, -6, True, yellow, (W + 200, 500)),
             ("plate 22", "RJ 14 CV 0047", 22, 2, True, white, (W + 420, 880)),
             ("word 10", "Flat 3B", 10, 0, False, white, (W + 120, 300)),
             ("word 14", "Jane Roe", 14, 8, False, white, (W + 300, 960)),
             ("word 20", "PHARMACY", 20, 0, False, yellow, (W + 520, 200)),
             ("static word 14", "No 17", 14, 0, False, white, (600, 640))]
    boxes = []
    for _, text, h, angle, plate, panel, c in specs:
        canvas, item = S.render(canvas, text, height=h, angle=angle, center=c, panel=panel, plate=plate,
                                color=(20, 20, 20))
        boxes.append(_item_box(item))
    truth, frames = [], []
    for i in range(n):
        dx, dy = 14 * i, 30 + int(round(4 * np.sin(i * 1.3)))
        frames.append(np.ascontiguousarray(canvas[dy:dy + H, dx:dx + W]))
        row = []
        for b in boxes:
            whole = b - [dx, dy, dx, dy]
            vis = np.array([max(whole[0], 0), max(whole[1], 0), min(whole[2], W), min(whole[3], H)], float)
            row.append(_visible(vis, whole))
        truth.append(row)
    write_clip(path, frames)
    return [s[0] for s in specs], truth


def whitehouse_clip(path: Path, n: int):
    """``whitehouse``: the White House clip's first ``n`` frames upscaled to 1920x1080 -- real
    footage (cuts, a moving camera, its own signs and lights), nothing drawn: no truth items, the
    every-frame detector's boxes are the bar. ``(names, truth)`` as :func:`street_clip`."""
    import av

    frames = []
    with av.open(str(B.WHITE_HOUSE)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= n:
                break
            frames.append(cv2.resize(f.to_ndarray(format="rgb24"), (W, H), interpolation=cv2.INTER_CUBIC))
    write_clip(path, frames)
    return [], [[] for _ in frames]


def every_frame_reference(path: Path) -> list[np.ndarray]:
    """The plate/text detector (whole frame and every tile) on every decoded frame (xyxy per frame)."""
    return [d["xyxy"] for d in every_frame_detections(path)]


REFERENCE_CACHE = B.OUT / "kinds-reference"


def every_frame_detections(path: Path) -> list[dict]:
    """:func:`every_frame_reference` with scores and kinds (dicts of arrays), cached by the
    decoded frames' SHA-256 under ``bench/out/kinds-reference`` (the clips decode the same
    every time they are made; the detector's 3.4 CPU s a frame is paid once per clip)."""
    import hashlib
    import pickle

    import av

    from veil.config import Config
    from veil.detect.kinds import OtherKinds

    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    digest = hashlib.sha256()
    for f in frames:
        digest.update(f.tobytes())
    cache = REFERENCE_CACHE / f"{digest.hexdigest()[:32]}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    detector = OtherKinds(Config(cover="plates,text").other_kinds)
    out = []
    for f in frames:
        d = detector.detect(f)
        out.append({"xyxy": d.xyxy, "scores": d.scores, "kind": d.kind})
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(out))
    return out


def _xywh(boxes) -> np.ndarray:
    b = np.asarray(boxes, float).reshape(-1, 4)
    return np.column_stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])


def score(masks: list[np.ndarray], truth: list, reference: list[np.ndarray]) -> dict:
    """Per (frame, region) coverage of ``truth`` (per item, None: not visible) and ``reference``."""
    t_cov = np.full((len(masks), len(truth[0])), np.nan)  # 1 covered, 0 not, NaN not visible
    ref_cov = []
    for f, (m, row, ref) in enumerate(zip(masks, truth, reference)):
        for j, b in enumerate(row):
            if b is not None:
                t_cov[f, j] = float(B.box_coverage(m, _xywh([b]))[0] >= MIN_COVER)
        ref_cov.append(B.box_coverage(m, _xywh(ref)) >= MIN_COVER if len(ref) else np.zeros(0, bool))
    flashes = 0
    for j in range(t_cov.shape[1]):
        col = t_cov[:, j]
        for f in range(1, len(col) - 1):
            flashes += col[f] == 0 and col[f - 1] == 1 and col[f + 1] == 1
    return {"truth": t_cov, "reference": ref_cov, "flash": int(flashes),
            "mask_share": float(np.mean([m.mean() for m in masks]))}


def lost_against(run: dict, every: dict) -> dict:
    """Pairs covered in the every-frame run ``every`` but not in ``run`` (truth, reference)."""
    t = int(np.nansum((every["truth"] == 1) & (run["truth"] == 0)))
    r = int(sum(int(np.sum(a & ~b)) for a, b in zip(every["reference"], run["reference"])))
    return {"truth": t, "reference": r}


# -- the whole measurement ------------------------------------------------------------------
CLIPS = {"street": street_clip, "pan": pan_clip, "whitehouse": whitehouse_clip}


def run_clip(name: str, n: int, everies: list[int], tmp: Path, run_veil, mask_of) -> dict:
    """One clip: make it, the every-frame reference, then veil's runs (faces first and last)."""
    src = tmp / name / "in"
    src.mkdir(parents=True)
    clip = src / f"{name}.mp4"
    items, truth = CLIPS[name](clip, n)
    reference = every_frame_reference(clip)
    runs, scores = {}, {}
    order = [("faces", None)] + [("faces,plates,text", k) for k in everies] + [("faces", None)]
    for j, (cover, k) in enumerate(order):
        out = tmp / name / f"out{j}"
        extra = ["--kinds-every", str(k)] if k is not None else []
        r = run_veil(src, out, cover, *extra)
        key = "faces" if k is None else f"k={k}"
        entry = r["report"]["files"][0]
        runs.setdefault(key, []).append({"cpu_ms_per_frame": 1000 * r["cpu_s"] / n, "command": r["command"],
                                         "tracks": {kind: sum(1 for t in entry["tracks"] if t.get("kind", "face") == kind)
                                                    for kind in ("face", "plate", "text")},
                                         "residual": [x.get("kind", "face") for x in
                                                      (entry.get("verification") or {}).get("residual", [])],
                                         "verdict": (entry.get("verification") or {}).get("verdict")})
        if k is not None:
            scores[key] = score([mask_of(out, f"{name}.mp4/{i}") for i in range(n)], truth, reference)
    faces_ms = float(np.mean([r["cpu_ms_per_frame"] for r in runs["faces"]]))
    every = scores.get("k=1")
    rows = {}
    for key, s in scores.items():
        run = runs[key][0]
        t = s["truth"]
        rows[key] = {"cpu_ms_per_frame": run["cpu_ms_per_frame"], "ratio": run["cpu_ms_per_frame"] / faces_ms,
                     "truth_pairs": int(np.sum(~np.isnan(t))), "truth_covered": int(np.nansum(t == 1)),
                     "truth_uncovered_by_item": {it: [int(f) for f in np.flatnonzero(t[:, j] == 0)]
                                                 for j, it in enumerate(items) if np.any(t[:, j] == 0)},
                     "reference_boxes": int(sum(len(r) for r in s["reference"])),
                     "reference_covered": int(sum(int(r.sum()) for r in s["reference"])),
                     "lost_vs_every_frame": lost_against(s, every) if every is not None else None,
                     "flash": s["flash"], "mask_share": s["mask_share"], "tracks": run["tracks"],
                     "residual": run["residual"], "verdict": run["verdict"], "command": run["command"]}
    return {"clip": name, "frames": n, "items": items, "faces_cpu_ms_per_frame": [r["cpu_ms_per_frame"] for r in runs["faces"]],
            "faces_command": runs["faces"][0]["command"], "runs": rows}


def table(r: dict) -> str:
    """A clip's markdown table."""
    head = ["--kinds-every", "CPU ms / frame", "ratio to faces", "truth pairs covered", "lost vs k=1 (truth / reference)",
            "reference boxes covered", "flash frames", "mask share", "tracks plate / text", "residual"]
    rows = []
    for key, x in r["runs"].items():
        lost = x["lost_vs_every_frame"]
        rows.append([key.removeprefix("k="), f"{x['cpu_ms_per_frame']:.0f}", f"{x['ratio']:.2f}x",
                     f"{x['truth_covered']}/{x['truth_pairs']}",
                     "-" if lost is None else f"{lost['truth']} / {lost['reference']}",
                     f"{x['reference_covered']}/{x['reference_boxes']}", x["flash"], f"{100 * x['mask_share']:.2f}%",
                     f"{x['tracks']['plate']} / {x['tracks']['text']}", len(x["residual"])])
    faces = ", ".join(f"{v:.0f}" for v in r["faces_cpu_ms_per_frame"])
    return B.md_table(head, rows) + f"\n\nfaces only (first, last run): {faces} CPU ms / frame\n"


def pass_costs(repeats: int = 3) -> dict:
    """CPU ms (one onnxruntime thread) of each piece a schedule can spend per 1080p frame: the
    whole-frame pass, one 2x tile, a full look, strips at the edges magnified as the tiles are
    (what a per-frame look at entering content would cost), and the camera's motion."""
    import time

    import av

    from veil.detect.motion import estimate_motion, work_grey, work_scale
    from veil.detect.text import TextDetector

    with av.open(str(B.WHITE_HOUSE)) as c:
        base = next(f for i, f in enumerate(c.decode(video=0)) if i == 40).to_ndarray(format="rgb24")
    rgb = cv2.resize(base, (W, H), interpolation=cv2.INTER_CUBIC)
    moved = np.ascontiguousarray(np.roll(rgb, (3, 14), axis=(0, 1)))
    t = TextDetector(threads=1)
    x0, y0, x1, y1 = t.tiles(rgb.shape)[0]
    s = work_scale(rgb.shape)
    pieces = {
        "whole frame at 1x (1920x1088 network px)": lambda: t.quads(rgb, scale=t.full_scale(rgb.shape)),
        f"one tile at {t.upscale:g}x ({len(t.tiles(rgb.shape))} per frame)": lambda: t.quads(rgb[y0:y1, x0:x1],
                                                                                              scale=t.upscale),
        "a full look (whole frame + every tile)": lambda: t.all_quads(rgb),
        "left or right strip, 64 px, at 2x": lambda: t.quads(rgb[:, :64], scale=2.0),
        "top or bottom strip, 64 px, at 2x": lambda: t.quads(rgb[:64], scale=2.0),
        "camera motion (grey copy + estimate)": lambda: estimate_motion(work_grey(rgb, s), work_grey(moved, s)),
    }
    pieces["whole frame at 1x (1920x1088 network px)"]()  # load the network
    out = {}
    for name, fn in pieces.items():
        a = time.process_time()
        for _ in range(repeats):
            fn()
        out[name] = 1000 * (time.process_time() - a) / repeats
    return out
