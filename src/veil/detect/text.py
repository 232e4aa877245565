"""Text detection: PP-OCRv4's DBNet (ONNX from the ``rapidocr-onnxruntime`` wheel) with onnxruntime.

veil covers text, it never reads it: only the *detector* of PP-OCRv4 runs
here, never a recognizer. DBNet (Liao et al., "Real-time Scene Text Detection
with Differentiable Binarization", AAAI 2020) maps a ``(1, 3, H, W)`` BGR
input (``H``, ``W`` multiples of 32; pixels scaled to [0, 1], minus 0.5,
over 0.5 as RapidOCR feeds it) to a ``(1, 1, H, W)`` map of the probability
that a pixel lies in a text line's *shrunk* kernel. Post-processing, as in
PaddleOCR's ``DBPostProcess``, written here without pyclipper or shapely:

1. binarize the map at ``pixel_threshold`` (0.3) and dilate by 2x2;
2. each outer contour's minimum-area rectangle; its score is the mean
   probability inside it, kept when >= ``threshold`` (0.3; PaddleOCR 0.5);
3. *unclip*: the kernel was shrunk by ``D = A (1 - r^2) / L`` when training,
   so the rectangle is grown back by ``d = A * unclip / L`` on every side
   (``A`` area, ``L`` perimeter; offsetting a rectangle by ``d`` and taking
   the minimum-area rectangle again, which pyclipper's rounded offset comes to);
4. the quadrilateral is mapped back to the picture.

Input geometry: like :class:`veil.detect.CenterFace`, the picture is resized
by ``scale`` to ``round(W * scale) x round(H * scale)`` and padded (never
stretched) to the next multiple of 32, so picture coordinates are network
coordinates over ``(sx, sy)`` exactly.

Small text: DBNet finds a line when its glyphs are about
:data:`SMALL_TEXT_NETWORK_PX` network pixels tall or more. The
whole-frame pass shows a picture at ``min_side`` on its shorter side at least
(small pictures are magnified) and ``max_side`` on its longer side at most;
where that leaves small text under the limit, overlapping tiles magnified
``upscale`` times run as well (like faces, :func:`veil.detect.tile_grid`).
A line cut by a tile's edge is kept as it is: veil covers the union of the
pieces, and the neighbouring tile (overlap) or the whole-frame pass sees it
whole.

Thread safety: one process-wide onnxruntime session per (weights, threads)
(:func:`veil.detect.onnx.shared_session`); a :class:`TextDetector` holds no
per-call state and may be shared between threads.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..detections import Detections, Kind, box_intersections
from ..models import text_detector_onnx_path
from .base import check_rgb, map_on, resize_to
from .multiscale import tile_grid
from .nms import nms_clusters
from .onnx import shared_session
from .scanwindows import cap_windows

__all__ = ["TextDetector", "grow_quads", "quad_boxes", "merge_boxes", "SMALL_TEXT_NETWORK_PX"]

_INPUT = "x"
_ALIGN = 32
_MIN_SIDE_PX = 3  # PaddleOCR's min_size: thinner kernels are noise
_MAX_CANDIDATES = 1000  # PaddleOCR's max_candidates
_MEAN, _STD = 0.5, 0.5
#: Glyph height (network pixels) from which DBNet finds a line reliably: on
#: synthetic text seen at 1x, 69% of words 8-12 px tall were found and 96% of
#: words 12-24 px (bench/plates_coverage.py, plan ``notiles``). Text smaller
#: than this times ``1 / upscale`` in picture pixels is beyond the tiles too.
SMALL_TEXT_NETWORK_PX = 12.0


def grow_quads(quads: np.ndarray, *, height: float = 0.0, length: float = 0.0) -> np.ndarray:
    """Rectangles grown about their centres along their own axes.

    Parameters
    ----------
    quads : (N, 4, 2) array_like of float
        Rectangles as four corners in order around the rectangle (as
        ``cv2.boxPoints`` gives them).
    height, length : float, keyword-only
        Added to the short (height) and the long (length) side, as a share of
        the *short* side on each end: ``height=0.25`` makes a line 1.5 times as
        tall, ``length=0.25`` adds a quarter of its height at each end.

    Returns
    -------
    (N, 4, 2) ndarray of float32
    """
    q = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    if not len(q):
        return np.zeros((0, 4, 2), np.float32)
    c = q.mean(axis=1)
    a = (q[:, 1] - q[:, 0]) / 2  # half of one side
    b = (q[:, 3] - q[:, 0]) / 2  # half of the other
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    short = np.minimum(na, nb)  # half the short side
    ua = a / np.maximum(na, 1e-9)[:, None]
    ub = b / np.maximum(nb, 1e-9)[:, None]
    a_long = na >= nb
    ga = na + np.where(a_long, length, height) * 2 * short
    gb = nb + np.where(a_long, height, length) * 2 * short
    a2, b2 = ua * ga[:, None], ub * gb[:, None]
    out = np.stack([c - a2 - b2, c + a2 - b2, c + a2 + b2, c - a2 + b2], axis=1)
    return out.astype(np.float32)


def quad_boxes(quads: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """(N, 4) float32 axis-aligned ``xyxy`` boxes enclosing ``quads``, clipped to ``shape`` if given."""
    q = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    xyxy = np.concatenate([q.min(axis=1), q.max(axis=1)], axis=1) if len(q) else np.zeros((0, 4), np.float32)
    if shape is not None:
        h, w = shape[:2]
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
    return xyxy


def merge_boxes(xyxy: np.ndarray, scores: np.ndarray, *, iou: float = 0.3, inside: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """One box per region from several passes' boxes, never covering less than they did.

    Clusters of boxes overlapping at IoU >= ``iou`` (greedy, best score
    first) become the union of their boxes, scored by their best box; then a
    box lying >= ``inside`` of its area within another merged box is dropped
    only where that box covers it completely (so coverage is unchanged).

    Parameters
    ----------
    xyxy : (N, 4) array_like of float
    scores : (N,) array_like of float

    Returns
    -------
    xyxy : (K, 4) ndarray of float32
    scores : (K,) ndarray of float32
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    if not len(b):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    keep, owner = nms_clusters(b, s, iou=iou)
    slot = np.full(len(b), -1)
    slot[keep] = np.arange(len(keep))
    rows = slot[owner]
    out = b[keep].copy()
    np.minimum.at(out[:, 0], rows, b[:, 0])
    np.minimum.at(out[:, 1], rows, b[:, 1])
    np.maximum.at(out[:, 2], rows, b[:, 2])
    np.maximum.at(out[:, 3], rows, b[:, 3])
    best = s[keep]
    if len(out) > 1:
        inter, area, _ = box_intersections(out, out)
        contained = (inter >= area[:, None] - 1e-6) & ~np.eye(len(out), dtype=bool)
        # of two identical boxes keep the first
        contained &= ~(contained.T & (np.arange(len(out))[:, None] < np.arange(len(out))[None, :]))
        drop = contained.any(axis=1) & (area > 0)
        out, best = out[~drop], best[~drop]
    order = np.argsort(-best, kind="stable")
    return out[order].astype(np.float32), best[order].astype(np.float32)


class TextDetector:
    """Finds words and lines of text (PP-OCRv4 DBNet).

    Parameters
    ----------
    threshold : float, keyword-only
        Mean probability inside a line's rectangle above which it is text
        (PaddleOCR's ``box_thresh``; it ships 0.5). It is the box's score.
        0.3, the pixel threshold, keeps every line the map shows: it covered
        more small text at the same over-redaction (bench/RESULTS.md, Licence plates and text).
    pixel_threshold : float, keyword-only
        Probability at which the map is binarized (PaddleOCR's 0.3).
    unclip : float, keyword-only
        How far a kernel is grown back to the line (PaddleOCR's ``unclip_ratio``;
        1.6 as RapidOCR ships it).
    grow : float, keyword-only
        Share of a line's height added above and below it (and at each end) in
        :meth:`detect`, for ascenders, descenders and diacritics the kernel
        misses; see bench/RESULTS.md, Licence plates and text.
    max_height_share : float or None, keyword-only
        Keep signage: lines taller than this share of the picture's height are
        not reported (e.g. 0.05 keeps shop signs and banners in a street
        scene and covers name tags, badges and screens). None (default)
        covers all text.
    min_side, max_side : int, keyword-only
        The whole-frame pass magnifies a picture until its shorter side is
        ``min_side`` network pixels (as RapidOCR does, 736) but never its
        longer side beyond ``max_side``.
    upscale : float or None, keyword-only
        Magnification of the tiles for small text; None: no tiles. Tiles run
        only where the whole-frame pass sees the picture at less than this.
    tile_size : int, keyword-only
        Network pixels of a tile's side.
    overlap : int, keyword-only
        Picture pixels by which tiles overlap (a word up to this long lies
        whole in one tile).
    threads : int or None, keyword-only
        onnxruntime intra-op threads (None: one per core).
    model_path : path-like or None, keyword-only
        ONNX weights; default :func:`veil.models.text_detector_onnx_path`.
    precision : {'fp32', 'bf16'}, keyword-only
        ``bf16``: the float weights computed in bfloat16 by OpenVINO
        (:mod:`veil.detect.bf16`): 0.5x the CPU time per call on this
        project's machine, the same plates covered (bench/RESULTS.md).

    Notes
    -----
    The model loads on the first call and is cached per process.
    """

    kind = Kind.TEXT

    def __init__(self, *, threshold: float = 0.3, pixel_threshold: float = 0.3, unclip: float = 1.6,
                 grow: float = 0.15, max_height_share: float | None = None, min_side: int = 736, max_side: int = 2048, upscale: float | None = 2.0,
                 tile_size: int = 1536, overlap: int = 48, threads: int | None = None,
                 model_path: str | os.PathLike | None = None, precision: str = "fp32") -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, not {precision!r}")
        for name, value in (("threshold", threshold), ("pixel_threshold", pixel_threshold)):
            if not 0.0 < float(value) < 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value!r}")
        if not 0.0 <= float(unclip) <= 10.0:
            raise ValueError(f"unclip must be between 0 and 10, not {unclip!r}")
        if not 0.0 <= float(grow) <= 5.0:
            raise ValueError(f"grow must be between 0 and 5, not {grow!r}")
        if max_height_share is not None and not 0.0 < float(max_height_share) <= 1.0:
            raise ValueError(f"max_height_share must be in (0, 1] or None, not {max_height_share!r}")
        if not 32 <= int(min_side) <= int(max_side):
            raise ValueError(f"need 32 <= min_side <= max_side, not {min_side!r}, {max_side!r}")
        if upscale is not None and not (np.isfinite(upscale) and 0 < upscale <= 8):
            raise ValueError(f"upscale must be in (0, 8] or None, not {upscale!r}")
        if not 0 <= int(overlap) < int(tile_size):
            raise ValueError(f"need 0 <= overlap < tile_size, not {overlap!r}, {tile_size!r}")
        self.threshold = float(threshold)
        self.pixel_threshold = float(pixel_threshold)
        self.unclip = float(unclip)
        self.grow = float(grow)
        self.max_height_share = None if max_height_share is None else float(max_height_share)
        self.min_side, self.max_side = int(min_side), int(max_side)
        self.upscale = None if upscale is None else float(upscale)
        self.tile_size, self.overlap = int(tile_size), int(overlap)
        self.threads = threads
        self.precision = precision
        self._model_path = Path(model_path) if model_path is not None else None

    def __repr__(self) -> str:
        return f"TextDetector(threshold={self.threshold}, upscale={self.upscale}, precision={self.precision!r})"

    @property
    def session(self):
        """The process-wide onnxruntime session, loaded on first access."""
        path = self._model_path if self._model_path is not None else text_detector_onnx_path()
        return shared_session(path, threads=self.threads, what="the DBNet text detector", precision=self.precision)

    # -- one pass -----------------------------------------------------------
    def full_scale(self, shape: tuple[int, ...]) -> float:
        """Scale of the whole-frame pass for a picture of ``shape``."""
        h, w = shape[:2]
        return min(self.max_side / max(h, w), max(1.0, self.min_side / min(h, w)))

    def quads(self, rgb: np.ndarray, *, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Text lines of one network pass.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        scale : float, keyword-only
            Resolution at which the network sees the picture.

        Returns
        -------
        quads : (N, 4, 2) ndarray of float32
            Unclipped rectangles in ``rgb``'s pixels, corners in order.
        scores : (N,) ndarray of float32
        """
        rgb = check_rgb(rgb)
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be > 0, not {scale!r}")
        h, w = rgb.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        prob = self.session.run(None, {_INPUT: self.input_blob(rgb, nw, nh)})[0][0, 0, :nh, :nw]
        quads, scores = self.decode(prob, threshold=self.threshold, pixel_threshold=self.pixel_threshold,
                                    unclip=self.unclip)
        return quads / np.array([nw / w, nh / h], np.float32), scores

    @staticmethod
    def input_blob(rgb: np.ndarray, nw: int, nh: int) -> np.ndarray:
        """The network's input: (1, 3, H32, W32) float32 BGR blob of ``rgb`` resized to ``nw x nh``, padded black right/bottom."""
        rgb = resize_to(rgb, nw, nh)
        ph, pw = -(-nh // _ALIGN) * _ALIGN, -(-nw // _ALIGN) * _ALIGN
        blob = np.full((1, 3, ph, pw), -_MEAN / _STD, np.float32)
        blob[0, :, :nh, :nw] = np.moveaxis(rgb[:, :, ::-1], 2, 0) * np.float32(1 / (255 * _STD)) - np.float32(_MEAN / _STD)
        return blob

    @staticmethod
    def decode(prob: np.ndarray, *, threshold: float, pixel_threshold: float = 0.3,
               unclip: float = 1.6) -> tuple[np.ndarray, np.ndarray]:
        """Rectangles of text lines from DBNet's probability map (network pixels).

        Parameters
        ----------
        prob : (h, w) ndarray of float
        threshold, pixel_threshold, unclip : float, keyword-only
            See :class:`TextDetector`.

        Returns
        -------
        quads : (N, 4, 2) ndarray of float32
        scores : (N,) ndarray of float32
        """
        bitmap = cv2.dilate((prob > pixel_threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2]
        h, w = prob.shape
        prob32 = prob.astype(np.float32, copy=False)
        quads, scores = [], []
        for contour in contours[:_MAX_CANDIDATES]:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
            if min(rw, rh) < _MIN_SIDE_PX:
                continue
            pts = cv2.boxPoints(((cx, cy), (rw, rh), angle))
            x0, y0 = np.clip(np.floor(pts.min(axis=0)).astype(int), 0, [w - 1, h - 1])
            x1, y1 = np.clip(np.ceil(pts.max(axis=0)).astype(int), 0, [w - 1, h - 1])
            mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
            cv2.fillPoly(mask, [np.round(pts - [x0, y0]).astype(np.int32)], 1)
            score = cv2.mean(prob32[y0:y1 + 1, x0:x1 + 1], mask)[0]
            if score < threshold:
                continue
            d = rw * rh * unclip / (2 * (rw + rh))
            if min(rw, rh) + 2 * d < _MIN_SIDE_PX + 2:
                continue
            quads.append(cv2.boxPoints(((cx, cy), (rw + 2 * d, rh + 2 * d), angle)))
            scores.append(min(score, 1.0))
        if not quads:
            return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
        return np.asarray(quads, np.float32), np.asarray(scores, np.float32)

    # -- every pass ---------------------------------------------------------
    def tiles(self, shape: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
        """Tile windows ``(x0, y0, x1, y1)`` for small text (empty where the whole-frame pass suffices)."""
        if not self.upscale or self.full_scale(shape) >= self.upscale:
            return []
        h, w = shape[:2]
        side = max(self.overlap + 1, int(self.tile_size / self.upscale))
        return [(x0, y0, x1, y1) for y0, y1 in tile_grid(h, side, self.overlap)
                for x0, x1 in tile_grid(w, side, self.overlap)]

    def all_quads(self, rgb: np.ndarray, *, pool=None) -> tuple[np.ndarray, np.ndarray]:
        """Text lines of the whole-frame pass and the tiles, not merged.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        pool : concurrent.futures.Executor, optional, keyword-only
            Runs the network calls side by side (results in call order, the
            same lines): a caller on one thread whose cores are otherwise idle.

        Returns
        -------
        quads : (N, 4, 2) ndarray of float32
            In ``rgb``'s pixels.
        scores : (N,) ndarray of float32
        """
        rgb = check_rgb(rgb)
        h, w = rgb.shape[:2]
        return self._in_windows(rgb, [(self.full_scale(rgb.shape), [(0, 0, w, h)]),
                                      (self.upscale, self.tiles(rgb.shape))], pool=pool)

    def window_quads(self, rgb: np.ndarray, windows, *, pool=None) -> tuple[np.ndarray, np.ndarray]:
        """Text lines inside some windows of a picture, each seen by the passes of a full look.

        What a full look (:meth:`all_quads`) finds there, for the text that
        lies whole in a window: the whole-frame pass's scale and, where the
        picture has tiles, the tiles' (a plate's line is the union of what both
        find, as in a full look); a video's change looks
        (:class:`veil.detect.changewatch.ChangeWatch`). Windows longer than a
        tile are cut into tile-sized pieces that overlap by ``overlap`` (the
        network's memory follows its input).

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        windows : sequence of (x0, y0, x1, y1) int
            Picture pixels, inside the picture.
        pool : concurrent.futures.Executor, optional, keyword-only
            As in :meth:`all_quads`.

        Returns
        -------
        quads : (N, 4, 2) ndarray of float32
            In ``rgb``'s pixels.
        scores : (N,) ndarray of float32
        """
        rgb = check_rgb(rgb)
        windows = list(windows)
        scales = [self.full_scale(rgb.shape)] + ([self.upscale] if self.tiles(rgb.shape) else [])
        return self._in_windows(rgb, [(scale, cap_windows(windows, max(self.overlap + 2 * _ALIGN,
                                                                       int(self.tile_size / scale)),
                                                          self.overlap, _ALIGN)) for scale in scales],
                                pool=pool)

    def _in_windows(self, rgb: np.ndarray, passes, *, pool=None) -> tuple[np.ndarray, np.ndarray]:
        """Lines of ``passes`` ((scale, windows) pairs), in ``rgb``'s pixels, not merged."""
        calls = [(scale, window) for scale, windows in passes for window in windows]

        def one(call):
            scale, (x0, y0, x1, y1) = call
            q, s = self.quads(rgb[y0:y1, x0:x1], scale=scale)
            return q + np.array([x0, y0], np.float32), s

        parts = [(np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)), *map_on(pool, one, calls)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def detect(self, rgb: np.ndarray) -> Detections:
        """Find text in one picture.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
            RGB picture; never modified.

        Returns
        -------
        Detections
            One box per line (or piece of a line), ``kind`` TEXT: the
            axis-aligned box around the line's rectangle grown by ``grow``,
            clipped to the picture; scores in [0, 1]; landmarks NaN.

        Raises
        ------
        ValueError
            ``rgb`` is not an ``(H, W, 3)`` uint8 array.
        """
        rgb = check_rgb(rgb)
        quads, scores = self.all_quads(rgb)
        return self.boxes_from_quads(quads, scores, rgb.shape)

    def boxes_from_quads(self, quads: np.ndarray, scores: np.ndarray, shape: tuple[int, ...]) -> Detections:
        """Text boxes (``kind`` TEXT) from lines found in a picture of ``shape``: grown, boxed, merged.

        Parameters
        ----------
        quads : (N, 4, 2) array_like of float
            Lines in picture pixels (:meth:`all_quads`).
        scores : (N,) array_like of float
        shape : tuple
            The picture's shape.
        """
        quads = np.asarray(quads, np.float32).reshape(-1, 4, 2)
        scores = np.asarray(scores, np.float32).reshape(-1)
        if self.max_height_share is not None and len(quads):
            height = np.minimum(np.linalg.norm(quads[:, 1] - quads[:, 0], axis=1),
                                np.linalg.norm(quads[:, 3] - quads[:, 0], axis=1))
            keep = height <= self.max_height_share * shape[0]
            quads, scores = quads[keep], scores[keep]
        grown = grow_quads(quads, height=self.grow, length=self.grow)
        xyxy, best = merge_boxes(quad_boxes(grown, shape), scores)
        return Detections(xyxy, scores=best, kind=np.full(len(xyxy), int(Kind.TEXT)))
