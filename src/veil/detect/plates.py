"""Licence plates: the text detector's lines that have a plate's shape, grown to the plate's rim.

A plate is text: the DBNet text detector (:class:`veil.detect.text.TextDetector`)
finds the line of characters on it, angled or not. A plate's characters fill
about 60-75% of its height and leave a margin at either end (and, in Europe,
a country strip), so each line is grown along its own axes -- by
``grow_height`` of its height above and below and ``grow_length`` at each
end -- to a rectangle that holds the plate; its axis-aligned box is the
plate's region. The lines of one plate (its groups, a two-row plate's rows)
overlap once grown, fill their union and become one box (:func:`merge_overlapping`).

Where the picture is at hand, each line also grows to its plate's own
rectangle, found by the plate's background colour (:func:`plate_rim`): a
short word on a wide plate ("TAXI") leaves most of the plate beyond a growth
by the line's height. On the plate set's dev half this covered 2 more of 101
plates >= 12 px high for +0.26 points of over-redaction, where a larger growth
for every line ((0.7, 1.5)) covered 1 more for +2.8 points; on the held-out
half it covered none more (its partial misses are loose annotation boxes)
for +0.02 points (bench/RESULTS.md, "Licence plates (issue 15): recall on the real
plate set").

Which lines are plates (the plate-shape rules, ``PlateRules``): a plate's
line is not a long sentence (aspect at most ``max_aspect``; no lower bound by
default: a two-line plate's short groups and single characters are parts of
plates), tilted at most ``max_tilt`` degrees, and not a large share of the
picture (``max_height_share``): a banner's lettering is dropped, the plate of
a car filling a close-up is kept. On the plate set the rules cost no plate
(bench/RESULTS.md, Licence plates and text). These rules cannot tell a
plate from a short word on a sign of the same shape; ``--cover text``
covers both.

Why not OpenCV's Haar plate cascades: the OpenCV 5 wheels this project
installs no longer ship ``CascadeClassifier`` nor the cascades, and on the
plate set the Russian-plate cascades of OpenCV 4 cover far fewer plates
(bench/RESULTS.md, Licence plates and text). The plate detectors on PyPI that issue 15
surveyed download their weights at run time or carry AGPL terms.

Small plates: a plate 10-12 px high carries glyphs 6-8 px high, under
:data:`veil.detect.text.SMALL_TEXT_NETWORK_PX`; the detector sees small
pictures magnified and larger ones in magnified tiles (``upscale``), as for
faces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..detections import Detections, Kind, box_intersections
from .base import check_rgb
from .text import TextDetector, grow_quads, quad_boxes

__all__ = ["PlateDetector", "PlateRules", "merge_overlapping", "plate_rim", "MERGE_MAX_SPREAD"]


#: Two overlapping plate boxes become their union box only where it is at most this many times the
#: area the two cover: a plate's groups and rows fill their union, while lines of background text
#: that touch corner to corner chained into boxes of up to 71% of the picture (bench/RESULTS.md,
#: "Real plates filmed": plate set coverage unchanged, over-redaction 5.62 -> 5.30% on its dev half).
MERGE_MAX_SPREAD = 1.25


def merge_overlapping(xyxy: np.ndarray, scores: np.ndarray, *,
                      max_spread: float = MERGE_MAX_SPREAD) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping boxes that fill their union box become it, directly or through others.

    The lines of one plate (its groups, its two rows) overlap once grown to
    the rim and fill their union; a plate is one region for the tracker.

    Parameters
    ----------
    xyxy : (N, 4) array_like of float
    scores : (N,) array_like of float
    max_spread : float, keyword-only
        Two overlapping boxes merge where their union box is at most this
        many times the area they cover together (``inf``: every overlap merges).

    Returns
    -------
    xyxy : (K, 4) ndarray of float32
        Every input box lies inside one of them; two of them overlap only where
        their union would spread further.
    scores : (K,) ndarray of float32
        The best score of each union's boxes.
    """
    boxes = [np.asarray(b, np.float64) for b in np.asarray(xyxy, np.float64).reshape(-1, 4)]
    best = [float(v) for v in np.asarray(scores, np.float64).reshape(-1)]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        stack = np.stack(boxes)
        inter, area, _ = box_intersections(stack, stack)
        hull = np.prod(np.maximum(stack[:, None, 2:], stack[None, :, 2:])
                       - np.minimum(stack[:, None, :2], stack[None, :, :2]), axis=2)
        np.fill_diagonal(inter, 0)
        pairs = np.argwhere((inter > 0) & (hull <= max_spread * (area[:, None] + area[None, :] - inter)))
        if len(pairs):
            i, j = sorted(pairs[0])
            boxes[i] = np.concatenate([np.minimum(boxes[i][:2], boxes[j][:2]), np.maximum(boxes[i][2:], boxes[j][2:])])
            best[i] = max(best[i], best[j])
            del boxes[j], best[j]
            merged = True
    out = np.stack(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32)
    return out, np.asarray(best, np.float32)


#: How far :func:`plate_rim` looks past a line: line heights beyond each end, and above and below.
RIM_REACH = (6.0, 2.0)
#: Distance in OpenCV's 8-bit CIELAB within which a pixel has the plate's background colour.
RIM_TOLERANCE = 20.0
#: Share of its rectangle the plate's colour region must fill (less: it leaked into the car body).
RIM_MIN_FILL = 0.6


def plate_rim(rgb: np.ndarray, quad: np.ndarray, *, reach: tuple[float, float] = RIM_REACH,
              tolerance: float = RIM_TOLERANCE, min_fill: float = RIM_MIN_FILL) -> np.ndarray | None:
    """The rectangle of the plate around one line of its characters, found by the plate's colour.

    A short word on a wide plate ("TAXI", a two-letter group with the rest
    unread) or a plate whose second row DBNet did not find is wider or taller
    than a growth by the line's height reaches. The plate's background is the
    majority class of the line's box (Otsu on its lightness); the connected
    region of pixels within ``tolerance`` of that colour that holds it,
    searched ``reach`` line heights beyond the line, is the plate -- if it
    ends inside that window (or at one edge of the picture) and fills at
    least ``min_fill`` of its rectangle. A region that runs into the window's
    edge is a surface of the plate's colour (a white car, the road, the sky),
    and one that fills little of its rectangle leaked along an edge of such a
    surface: neither is a plate, and the line's own growth stands. On the
    plate set's dev half the wide window with that bound covered the same
    plates as a (2, 1) window without it, at a quarter of its added
    over-redaction (bench/RESULTS.md, "Licence plates (issue 15): recall on the real
    plate set").

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
        The picture; never modified.
    quad : (4, 2) array_like of float
        The line's rectangle, corners in order, in ``rgb``'s pixels.
    reach : (float, float), keyword-only
        Line heights searched beyond each end, and above and below.
    tolerance : float, keyword-only
        Distance in OpenCV's 8-bit CIELAB (L, a, b in 0..255).
    min_fill : float, keyword-only
        Share of the found rectangle the plate's colour (with the line) must fill.

    Returns
    -------
    (4,) ndarray of float32 or None
        ``xyxy`` of the plate, holding the line's box; None where no plate
        rectangle was found (the line's own growth then stands alone).

    Raises
    ------
    ValueError
        ``rgb`` is not an ``(H, W, 3)`` uint8 array, or ``reach`` is not two numbers > 0.
    """
    rgb = check_rgb(rgb)
    if not (len(reach) == 2 and all(np.isfinite(r) and r > 0 for r in reach)):
        raise ValueError(f"reach must be two line-height multiples > 0, not {reach!r}")
    q = np.asarray(quad, np.float64).reshape(4, 2)
    h_pic, w_pic = rgb.shape[:2]
    height = min(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[3] - q[0]))
    x0, y0 = np.maximum(np.floor(q.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(q.max(axis=0)).astype(int), [w_pic, h_pic])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    wx0, wy0 = max(0, int(x0 - reach[0] * height)), max(0, int(y0 - reach[1] * height))
    wx1, wy1 = min(w_pic, int(x1 + reach[0] * height)), min(h_pic, int(y1 + reach[1] * height))
    lab = cv2.cvtColor(np.ascontiguousarray(rgb[wy0:wy1, wx0:wx1]), cv2.COLOR_RGB2LAB).astype(np.float32)
    line = (slice(y0 - wy0, y1 - wy0), slice(x0 - wx0, x1 - wx0))
    _, cls = cv2.threshold(np.ascontiguousarray(lab[line][..., 0]).astype(np.uint8), 0, 1,
                           cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ground = cls == (1 if cls.mean() >= 0.5 else 0)  # the majority: the plate between the glyphs
    colour = np.median(lab[line][ground], axis=0)
    near = (np.linalg.norm(lab - colour, axis=2) < tolerance).astype(np.uint8)
    near = cv2.morphologyEx(near, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))  # bridge thin glyph strokes
    _, labels = cv2.connectedComponents(near, connectivity=4)
    seeds = labels[line][ground]
    seeds = seeds[seeds > 0]
    if not len(seeds):
        return None
    region = labels == np.bincount(seeds).argmax()
    region[line] = True
    ys, xs = np.nonzero(region)
    bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    if region[by0:by1, bx0:bx1].mean() < min_fill:
        return None
    # a plate ends inside the window; a region that runs into the window's edge (where that is
    # not the picture's), or into more than one of the picture's edges, is the car body, the
    # road or the sky, not the plate
    touches = np.array([bx0 == 0, by0 == 0, bx1 == wx1 - wx0, by1 == wy1 - wy0])
    picture_edge = np.array([wx0 == 0, wy0 == 0, wx1 == w_pic, wy1 == h_pic])
    if (touches & ~picture_edge).any() or touches.sum() > 1:
        return None
    return np.array([bx0 + wx0, by0 + wy0, bx1 + wx0, by1 + wy0], np.float32)


@dataclass(frozen=True)
class PlateRules:
    """Shape of a plate's line of characters (see the module docstring).

    Attributes
    ----------
    min_aspect, max_aspect : float
        Length over height of the detected line (after DBNet's unclip).
    max_tilt : float
        Degrees between the line and the horizontal.
    max_height_share : float
        Line height over the picture's height.
    """

    min_aspect: float = 1.0
    max_aspect: float = 12.0
    max_tilt: float = 40.0
    max_height_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.min_aspect <= self.max_aspect:
            raise ValueError(f"need 0 < min_aspect <= max_aspect, not {self.min_aspect}, {self.max_aspect}")
        if not 0 <= self.max_tilt <= 90:
            raise ValueError(f"max_tilt must be within [0, 90] degrees, not {self.max_tilt}")
        if not 0 < self.max_height_share <= 1:
            raise ValueError(f"max_height_share must be in (0, 1], not {self.max_height_share}")

    def select(self, quads: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """(N,) bool: which of ``quads`` ((N, 4, 2), corners in order) have a plate line's shape."""
        q = np.asarray(quads, np.float64).reshape(-1, 4, 2)
        if not len(q):
            return np.zeros(0, bool)
        a, b = q[:, 1] - q[:, 0], q[:, 3] - q[:, 0]
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        length, height = np.maximum(na, nb), np.minimum(na, nb)
        aspect = length / np.maximum(height, 1e-9)
        tilt_a = np.degrees(np.arctan2(np.abs(a[:, 1]), np.abs(a[:, 0])))
        tilt_b = np.degrees(np.arctan2(np.abs(b[:, 1]), np.abs(b[:, 0])))
        # the long side's tilt; a near-square has no long side: its side nearer the horizontal
        tilt = np.where(aspect < 1.1, np.minimum(tilt_a, tilt_b), np.where(na >= nb, tilt_a, tilt_b))
        return ((aspect >= self.min_aspect) & (aspect <= self.max_aspect) & (tilt <= self.max_tilt)
                & (height <= self.max_height_share * shape[0]))


class PlateDetector:
    """Finds licence plates, small and angled ones too.

    Parameters
    ----------
    threshold : float, keyword-only
        Text score above which a line counts (the text detector's ``threshold``).
    grow_height, grow_length : float, keyword-only
        How far a plate's line of characters is grown to its rim: shares of the
        line's height added above and below, and at each end.
    rules : PlateRules or None, keyword-only
        Which lines are plates; None takes :class:`PlateRules`' defaults.
    rim : bool, keyword-only
        Also grow each plate line to the plate's rectangle found by its colour
        (:func:`plate_rim`) where the picture is at hand (:meth:`detect`, or
        ``rgb`` given to :meth:`plates_from_quads`).
    min_side, max_side, upscale, tile_size, overlap : keyword-only
        Passed to :class:`~veil.detect.text.TextDetector` (whole-frame pass
        size and the magnified tiles for small plates).
    threads : int or None, keyword-only
    model_path : path-like or None, keyword-only
    precision : {'fp32', 'bf16'}, keyword-only
        As for :class:`~veil.detect.text.TextDetector`.

    Notes
    -----
    Shares the text detector's process-wide network (loaded on first call);
    holds no per-call state, so one object may serve several threads.
    """

    kind = Kind.PLATE

    def __init__(self, *, threshold: float = 0.3, grow_height: float = 0.5, grow_length: float = 1.0,
                 rules: PlateRules | None = None, rim: bool = True, min_side: int = 736, max_side: int = 2048,
                 upscale: float | None = 2.0, tile_size: int = 1536, overlap: int = 48,
                 threads: int | None = None, model_path: str | os.PathLike | None = None,
                 precision: str = "fp32") -> None:
        for name, value in (("grow_height", grow_height), ("grow_length", grow_length)):
            if not 0.0 <= float(value) <= 5.0:
                raise ValueError(f"{name} must be between 0 and 5, not {value!r}")
        if rules is not None and not isinstance(rules, PlateRules):
            raise ValueError(f"rules must be a PlateRules, not {type(rules).__name__}")
        self.text = TextDetector(threshold=threshold, grow=0.0, min_side=min_side, max_side=max_side,
                                 upscale=upscale, tile_size=tile_size, overlap=overlap, threads=threads,
                                 model_path=model_path, precision=precision)
        self.grow_height, self.grow_length = float(grow_height), float(grow_length)
        self.rules = rules if rules is not None else PlateRules()
        self.rim = bool(rim)

    def __repr__(self) -> str:
        return f"PlateDetector(threshold={self.text.threshold}, upscale={self.text.upscale}, rim={self.rim})"

    def plates_from_quads(self, quads: np.ndarray, scores: np.ndarray, shape: tuple[int, ...], *,
                          rgb: np.ndarray | None = None) -> Detections:
        """Plate boxes from text lines already found in a picture of ``shape`` (e.g. by the text pass).

        Parameters
        ----------
        quads : (N, 4, 2) array_like of float
            Lines of text in picture pixels (:meth:`TextDetector.all_quads`).
        scores : (N,) array_like of float
        shape : tuple
            The picture's shape.
        rgb : (H, W, 3) ndarray of uint8 or None, keyword-only
            The picture itself: with ``rim``, each line also grows to its
            plate's rectangle (:func:`plate_rim`). None: growth by the line alone.
        """
        quads = np.asarray(quads, np.float32).reshape(-1, 4, 2)
        scores = np.asarray(scores, np.float32).reshape(-1)
        keep = self.rules.select(quads, shape)
        grown = grow_quads(quads[keep], height=self.grow_height, length=self.grow_length)
        boxes, kept = quad_boxes(grown, shape), scores[keep]
        if self.rim and rgb is not None and len(boxes):
            rgb = check_rgb(rgb)
            if rgb.shape[:2] != tuple(shape[:2]):
                raise ValueError(f"rgb is {rgb.shape[:2]}, the lines' picture {tuple(shape[:2])}")
            rims = [(plate_rim(rgb, q), v) for q, v in zip(quads[keep], kept)]
            rims = [(b, v) for b, v in rims if b is not None]
            if rims:
                boxes = np.concatenate([boxes, np.stack([b for b, _ in rims])])
                kept = np.concatenate([kept, np.asarray([v for _, v in rims], np.float32)])
        xyxy, best = merge_overlapping(boxes, kept)
        return Detections(xyxy, scores=best, kind=np.full(len(xyxy), int(Kind.PLATE)))

    def detect(self, rgb: np.ndarray) -> Detections:
        """Find licence plates in one picture.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
            RGB picture; never modified.

        Returns
        -------
        Detections
            One box per plate, ``kind`` PLATE, clipped to the picture; scores
            in [0, 1] (the text score of its line); landmarks NaN.

        Raises
        ------
        ValueError
            ``rgb`` is not an ``(H, W, 3)`` uint8 array.
        """
        rgb = check_rgb(rgb)
        quads, scores = self.text.all_quads(rgb)
        return self.plates_from_quads(quads, scores, rgb.shape, rgb=rgb)
