"""Shared helpers of veil's benchmarks: ground truth, deface's exact geometry,
veil systems, coverage arithmetic, timing and markdown.

Nothing here is part of the veil package; the benchmarks import it by path.

Conventions (the same in every script)
--------------------------------------
* A ground-truth (GT) box ``x, y, w, h`` (pixels) covers the pixel set
  ``[x, x+w) x [y, y+h)`` clipped to the picture. Pascal VOC ``xmin..xmax`` is
  read as ``x = xmin, w = xmax - xmin`` (the same arithmetic as the WIDER txt).
* A face is **protected** when >= 80% of its GT box's pixels are inside the
  anonymized mask (``--min-cover`` changes the 0.8).
* Face size is the GT box **width**; bins ``<16``, ``16-32``, ``32-64``, ``>=64``
  are half-open: ``[0,16) [16,32) [32,64) [64,inf)``.
* **Over-redaction** of one picture = pixels inside the anonymized mask and
  outside *every* GT box grown x1.5 about its centre (head allowance: hair,
  ears, chin; faces skipped from scoring, e.g. WIDER ``invalid``, still give
  their allowance), divided by all the picture's pixels. Reported as the mean
  over pictures and the 95th percentile.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
DATA = SHARED / "data"
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(REPO / "src"))

BINS = [("<16", 0, 16), ("16-32", 16, 32), ("32-64", 32, 64), (">=64", 64, float("inf"))]
TOTALS = [(">=16", 16), (">=32", 32), ("all", 0)]
WHITE_HOUSE = DATA / "videos" / "hamilton_whitehouse" / "short_hamilton_clip.mp4"


# -- ground truth ---------------------------------------------------------------
@dataclass
class GTImage:
    path: Path
    boxes: np.ndarray  # (N, 4) int x, y, w, h of the faces that are scored
    attrs: list[dict]  # one dict per scored box (label, blur, occlusion, pose ...)
    allowance: np.ndarray  # (M, 4) x, y, w, h of every annotated box (incl. skipped)
    skipped: int = 0


def load_wider(root: Path | None = None) -> tuple[list[GTImage], dict]:
    """WIDER txt ground truth: name / count / ``x y w h blur expression illumination invalid occlusion pose``.

    Boxes flagged ``invalid`` and boxes with ``w <= 0`` or ``h <= 0`` are not
    scored (they still count as allowance for over-redaction). An image with
    count 0 has one all-zero line, which is skipped.
    """
    root = root or DATA / "widerface_val"
    lines = (root / "wider_face_val_bbx_gt_subset.txt").read_text().split("\n")
    images, i = [], 0
    stats = {"boxes": 0, "invalid": 0, "zero_size": 0}
    keys = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
    while i < len(lines) and lines[i].strip():
        name, count = lines[i].strip(), int(lines[i + 1])
        rows = [list(map(int, r.split()[:10])) for r in lines[i + 2:i + 2 + count]]
        i += 2 + max(count, 1)
        boxes, attrs, allow, skipped = [], [], [], 0
        for r in rows:
            stats["boxes"] += 1
            x, y, w, h = r[:4]
            a = dict(zip(keys, r[4:10]))
            if w > 0 and h > 0:
                allow.append((x, y, w, h))
            if a["invalid"]:
                stats["invalid"] += 1
                skipped += 1
                continue
            if w <= 0 or h <= 0:
                stats["zero_size"] += 1
                skipped += 1
                continue
            boxes.append((x, y, w, h))
            attrs.append(a)
        images.append(GTImage(root / "WIDER_val" / "images" / name, np.array(boxes, int).reshape(-1, 4),
                              attrs, np.array(allow, int).reshape(-1, 4), skipped))
    return images, stats


def load_face_mask(root: Path | None = None) -> tuple[list[GTImage], dict]:
    """Pascal VOC XML ground truth of the face-mask set (labels kept as attributes).

    ``x = xmin, y = ymin, w = xmax - xmin, h = ymax - ymin``; boxes with
    ``w <= 0`` or ``h <= 0`` are not scored.
    """
    root = root or DATA / "face_mask"
    images = []
    stats = {"boxes": 0, "zero_size": 0}
    for xml in sorted((root / "annotations").glob("*.xml"), key=lambda p: _natural(p.stem)):
        tree = ET.parse(xml).getroot()
        img = root / "images" / tree.findtext("filename")
        if not img.exists():
            img = root / "images" / (xml.stem + ".jpg")
        if not img.exists():
            continue
        boxes, attrs, allow, skipped = [], [], [], 0
        for obj in tree.iter("object"):
            bb = obj.find("bndbox")
            x1, y1, x2, y2 = (int(float(bb.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax"))
            stats["boxes"] += 1
            w, h = x2 - x1, y2 - y1
            if w <= 0 or h <= 0:
                stats["zero_size"] += 1
                skipped += 1
                continue
            allow.append((x1, y1, w, h))
            boxes.append((x1, y1, w, h))
            attrs.append({"label": obj.findtext("name"), "difficult": int(obj.findtext("difficult") or 0)})
        images.append(GTImage(img, np.array(boxes, int).reshape(-1, 4), attrs,
                              np.array(allow, int).reshape(-1, 4), skipped))
    return images, stats


def _natural(s: str):
    import re
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def read_rgb(path: Path) -> np.ndarray:
    """Decode a photo as deface does (imageio -> Pillow), RGB uint8, pixels as stored.

    The benchmark sets carry no EXIF orientation (checked), so stored = upright.
    """
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# -- coverage arithmetic ----------------------------------------------------------
def box_coverage(mask: np.ndarray, boxes_xywh: np.ndarray) -> np.ndarray:
    """Share of each box's in-picture pixels that are True in ``mask`` (NaN if none)."""
    H, W = mask.shape
    # Summed-area table: O(1) per box.
    sat = np.zeros((H + 1, W + 1), np.int64)
    sat[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    out = np.full(len(boxes_xywh), np.nan)
    for k, (x, y, w, h) in enumerate(np.asarray(boxes_xywh).reshape(-1, 4)):
        x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
        x1, y1 = min(int(np.ceil(x + w)), W), min(int(np.ceil(y + h)), H)
        if x1 <= x0 or y1 <= y0:
            continue
        inside = sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
        out[k] = inside / ((x1 - x0) * (y1 - y0))
    return out


def allowance_mask(boxes_xywh: np.ndarray, shape: tuple[int, int], grow: float = 1.5) -> np.ndarray:
    """Union of GT boxes grown ``grow`` x about their centres (pixels they touch)."""
    H, W = shape
    m = np.zeros((H, W), bool)
    for x, y, w, h in np.asarray(boxes_xywh, float).reshape(-1, 4):
        cx, cy, gw, gh = x + w / 2, y + h / 2, w * grow / 2, h * grow / 2
        c0, c1 = max(int(np.floor(cx - gw)), 0), min(int(np.ceil(cx + gw)), W)
        r0, r1 = max(int(np.floor(cy - gh)), 0), min(int(np.ceil(cy + gh)), H)
        if c1 > c0 and r1 > r0:
            m[r0:r1, c0:c1] = True
    return m


def width_bin(w: float) -> str:
    for name, lo, hi in BINS:
        if lo <= w < hi:
            return name
    raise ValueError(w)


def summarize(widths: np.ndarray, protected: np.ndarray) -> dict:
    """Protected share by width bin and totals: ``{row: [protected, n]}``."""
    out = {}
    for name, lo, hi in BINS:
        sel = (widths >= lo) & (widths < hi)
        out[name] = [int(protected[sel].sum()), int(sel.sum())]
    for name, lo in TOTALS:
        sel = widths >= lo
        out[name] = [int(protected[sel].sum()), int(sel.sum())]
    return out


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}%" if n else "-"


# -- deface, replicated ------------------------------------------------------------
DEFACE_THRESHOLD = 0.2  # deface 1.5 CLI default (--thresh)
DEFACE_MASK_SCALE = 1.3  # deface 1.5 CLI default (--mask-scale)
#: The backend deface is timed on: what a plain ``pip install deface`` runs, the faster here
#: (RESULTS.md, "deface's backend"); :func:`deface_centerface` says why it is pinned.
DEFACE_BACKEND = "opencv"


def deface_centerface(in_shape=None, *, backend: str = "auto"):
    """deface's own CenterFace, as its CLI builds it.

    ``backend='auto'`` takes onnxruntime where ``onnx`` is importable too (veil's bench
    extra installs it), OpenCV DNN otherwise (a plain ``pip install deface``). Where deface
    is *timed* (:func:`make_deface_system`, ``motion_scan.py``, ``throughput.py``) it runs on
    :data:`DEFACE_BACKEND`; runs before 2026-11-30 timed onnxruntime (RESULTS.md, "deface's backend").
    References and clip builders keep ``'auto'``, as before, so they rebuild the same; the
    boxes are the same weights' on either backend (coverage identical on the photo sets).
    """
    import contextlib
    import io

    from deface.centerface import CenterFace

    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Running on ..."
        return CenterFace(in_shape=in_shape, backend=backend)


def deface_mask(dets: np.ndarray, height: int, width: int, *, mask_scale: float = DEFACE_MASK_SCALE,
                ellipse: bool = True) -> np.ndarray:
    """The pixels deface 1.5 anonymizes for ``dets``, replicated exactly.

    ``deface.anonymize_frame``: ``boxes.astype(int)`` (truncation), ``scale_bb``
    (each side moved out by ``(mask_scale - 1) * size``, rounded), clipped to
    ``[0, W-1] x [0, H-1]`` (so the last row/column is never reached), then
    ``draw_det``: the region ``frame[y1:y2, x1:x2]`` and, with ``ellipse``,
    ``skimage.draw.ellipse(h//2, w//2, h//2, w//2)`` inside it.
    """
    import skimage.draw
    from deface.deface import scale_bb

    mask = np.zeros((height, width), bool)
    for det in np.asarray(dets).reshape(-1, 5):
        x1, y1, x2, y2 = det[:4].astype(int)
        x1, y1, x2, y2 = scale_bb(x1, y1, x2, y2, mask_scale)
        y1, y2 = max(0, y1), min(height - 1, y2)
        x1, x2 = max(0, x1), min(width - 1, x2)
        h, w = y2 - y1, x2 - x1
        if h <= 0 or w <= 0:
            continue  # deface's cv2.blur would fail or do nothing here
        if not ellipse:
            mask[y1:y2, x1:x2] = True
            continue
        ey, ex = skimage.draw.ellipse(h // 2, w // 2, h // 2, w // 2)
        ok = (ey >= 0) & (ey < h) & (ex >= 0) & (ex < w)  # numpy would wrap negatives; none occur
        mask[y1 + ey[ok], x1 + ex[ok]] = True
    return mask


# -- systems: name -> callable(rgb) -> (mask, n_detections) ------------------------------
@dataclass
class System:
    name: str
    run: object  # callable(rgb) -> (mask bool (H,W), n_regions int)
    note: str = ""
    ms: list = field(default_factory=list)
    cpu_ms: list = field(default_factory=list)


def make_deface_system(threshold: float = DEFACE_THRESHOLD, mask_scale: float = DEFACE_MASK_SCALE) -> System:
    cf = deface_centerface(backend=DEFACE_BACKEND)  # timed

    def run(rgb):
        dets, _ = cf(rgb, threshold=threshold)
        return deface_mask(dets, rgb.shape[0], rgb.shape[1], mask_scale=mask_scale), len(dets)

    return System("deface", run, f"deface 1.5 CenterFace full-res, thresh {threshold}, mask_scale {mask_scale}, ellipse")


class DefaceCenterFaceDetector:
    """veil ``FaceDetector`` stub: deface's single-scale CenterFace, full resolution.

    Used to check the harness before ``veil.detect`` lands, and for the
    "same detector" comparison of issue 2 (veil's regions vs deface's).
    """

    def __init__(self, threshold: float = DEFACE_THRESHOLD):
        self.cf = deface_centerface()
        self.threshold = threshold

    def detect(self, rgb):
        from veil.detections import Detections

        dets, lms = self.cf(rgb, threshold=self.threshold)
        if len(dets) == 0:
            return Detections.empty()
        xyxy = dets[:, :4].copy()
        xyxy[:, 2] = np.maximum(xyxy[:, 2], xyxy[:, 0])
        xyxy[:, 3] = np.maximum(xyxy[:, 3], xyxy[:, 1])
        return Detections(xyxy, scores=dets[:, 4], landmarks=lms.reshape(-1, 5, 2))


def cli_plans(specs: list[str]) -> dict[str, list[str]]:
    """``--plan LABEL=ARGS`` options -> ``{"veil[LABEL]": [ARGS split like a shell]}``, in order."""
    import shlex

    plans = {}
    for spec in specs:
        label, _, args = spec.partition("=")
        plans[f"veil[{label.strip()}]"] = shlex.split(args)
    return plans


def parse_overrides(spec: str) -> dict:
    """``"tiles=false,detect_scale=0.5"`` -> ``{"tiles": False, "detect_scale": 0.5}``."""
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        value = value.strip()
        low = value.lower()
        if low in ("true", "yes", "on"):
            out[key] = True
        elif low in ("false", "no", "off"):
            out[key] = False
        else:
            try:
                out[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                out[key] = value
    return out


def veil_config(overrides: dict | None = None):
    from veil.config import Config

    return Config(**{"verify": False, **(overrides or {})})


def make_veil_system(name: str = "veil", overrides: dict | None = None, *, detector=None) -> System:
    """veil through ``veil.pipeline.anonymize_image``; the mask is ``regions.mask(h, w)``."""
    from veil.pipeline import anonymize_image

    config = veil_config(overrides)
    note = "anonymize_image, Config(" + ", ".join(f"{k}={v!r}" for k, v in (overrides or {}).items()) + ")"

    def run(rgb):
        _, regions = anonymize_image(rgb, config, detector=detector)
        return regions.mask(rgb.shape[0], rgb.shape[1]), len(regions)

    return System(name, run, note)


def make_stub_system(name: str = "veil-cf1x", overrides: dict | None = None) -> System:
    """veil's pipeline and regions on deface's single-scale CenterFace (same detector as deface)."""
    s = make_veil_system(name, overrides, detector=DefaceCenterFaceDetector())
    s.note = "veil regions on deface's CenterFace (1 scale, full res, thresh 0.2) -- " + s.note
    return s


# -- timing, environment, output -----------------------------------------------------------
def machine_info() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        info["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["git"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True).stdout.strip()
        info["src_dirty"] = bool(dirty)
    except OSError:
        pass
    info["src_sha256_12"] = src_tree_sha256(REPO / "src" / "veil")  # which veil source was measured
    for mod in ("veil", "deface", "onnxruntime", "cv2", "numpy"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    return info


def src_tree_sha256(veil_dir: Path) -> str:
    """First 12 hex digits of a hash over a veil package's .py files, named ``src/veil/...``."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(Path(veil_dir).rglob("*.py")):
        h.update(str(Path("src") / f.relative_to(Path(veil_dir).parent)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default))
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


class Progress:
    """A line on stderr every few seconds: done/total, rate, ETA."""

    def __init__(self, total: int, label: str = "", every: float = 10.0):
        self.total, self.label, self.every = total, label, every
        self.t0 = self.last = time.perf_counter()

    def update(self, done: int, extra: str = "") -> None:
        now = time.perf_counter()
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - done) / rate if rate else float("nan")
        print(f"  {self.label} {done}/{self.total}  {now - self.t0:.0f}s elapsed, ETA {eta:.0f}s {extra}",
              file=sys.stderr, flush=True)
