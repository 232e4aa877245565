"""The carry of motion-aware scan plans (:mod:`veil.detect.scanplan`): boxes found on one frame, kept on the next.

Every box any pass found on a frame (at the probe threshold, any score) is
moved into the next frame with the camera's motion. Where its surroundings
did not change, it is still what that pass finds there: it is *carried*
(kept without a call). Elsewhere it is looked at again, by every pass that
scores faces of its size, in a window of its own size around it. A box
carried frame after frame follows the camera, not the face's own slow
drift; :class:`Carry` counts the frames each box has been carried without a
look (its *age*) so that ``max_carry`` can bound them.
"""

from __future__ import annotations

import cv2
import numpy as np

from .motion import Motion, to_picture
from .multiscale import MultiScaleDetector, Pass
from .nms import nms
from .scancalls import FramePlan, moved_detections
from .scanrelook import apart
from .scanwindows import Window, grow_window, held_by

__all__ = ["Carry"]


def _box_sums(mask: np.ndarray):
    """``f(xyxy, scale)``: how many True pixels of ``mask`` (work pixels) lie in each picture-pixel box."""
    integral = cv2.integral(mask.astype(np.uint8))
    gh, gw = mask.shape

    def count(xyxy: np.ndarray, scale: float) -> np.ndarray:
        r = np.clip(np.round(np.asarray(xyxy, np.float64) * scale), 0, [gw, gh, gw, gh]).astype(int)
        return integral[r[:, 3], r[:, 2]] - integral[r[:, 1], r[:, 2]] - integral[r[:, 3], r[:, 0]] \
            + integral[r[:, 1], r[:, 0]]
    return count


def _displaced(look: tuple[np.ndarray, np.ndarray], xyxy: np.ndarray, scale: float) -> np.ndarray:
    """(N,) bool: the picture inside each box moved or changed against its last scan.

    ``look`` is the frame's work copy and its look when last scanned, moved
    into the frame ((h, w) uint8 each); ``xyxy`` (N, 4) picture pixels.

    Moved: block matching at the 8 one-work-pixel shifts fits better
    than none, so a face drifting on its own (slower than the change
    thresholds see) does not leave its box behind for long. Changed: the
    difference holds over a quarter of the patch's own variance (it moved
    further, turned, was covered). Noise under 2 grey levels is neither.
    """
    grey, ref = look
    gh, gw = grey.shape
    out = np.zeros(len(xyxy), bool)
    g, r = grey.astype(np.float32), ref.astype(np.float32)
    for i, box in enumerate(np.asarray(xyxy, np.float64)):
        x0, y0, x1, y1 = np.round(box * scale).astype(int)
        x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, gw - 1), min(y1, gh - 1)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        now = g[y0:y1, x0:x1]
        ssd = {(dx, dy): float(((now - r[y0 + dy:y1 + dy, x0 + dx:x1 + dx]) ** 2).mean())
               for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
        best = min(ssd, key=lambda k: (ssd[k], k != (0, 0)))
        moved = best != (0, 0) and ssd[best] < 0.8 * ssd[0, 0]
        # Or changed by a quarter of its own contrast: moved further, turned, covered.
        out[i] = ssd[0, 0] > 4.0 and (moved or ssd[0, 0] > 0.25 * float(r[y0:y1, x0:x1].var()))
    return out


class Carry:
    """The last frame's boxes, per pass, and the frames each has been carried without a look.

    Parameters
    ----------
    detector : MultiScaleDetector
        Its ``threshold``, ``overlap`` and ``coarse_min_face``.
    shape : tuple
        Frame shape ``(H, W, ...)``.
    scale : float
        Work pixels per picture pixel.
    layers : list of str
        The passes (``'full'``, ``'coarse'``, ``'tiles'``), in the detector's order.
    quanta : dict of str to int
        Each pass's alignment step (picture pixels).
    max_carry : int or None, keyword-only
        A box carried this many frames in a row is looked at again (None: no limit).
    relook_below : float or None, keyword-only
        A box scoring below this is looked at again rather than carried.

    Attributes
    ----------
    passes : list of Pass
        The last frame's boxes, per pass (any score).
    ages : list of (N,) ndarray of int
        Frames each of them has been carried without a look (empty: all 0).
    plan_ages : list of (N,) ndarray of int32
        The ages of the planned frame's carried boxes.
    """

    def __init__(self, detector: MultiScaleDetector, shape: tuple[int, ...], scale: float, layers: list[str],
                 quanta: dict[str, int], *, max_carry: int | None, relook_below: float | None) -> None:
        self.detector = detector
        self.height, self.width = int(shape[0]), int(shape[1])
        self.scale = scale
        self.layers = layers
        self.quanta = quanta
        self.max_carry = max_carry
        self.relook_below = relook_below
        self.passes: list[Pass] = []
        self.ages: list[np.ndarray] = []
        self.plan_ages: list[np.ndarray] = []

    def move(self, motion: Motion, look: tuple[np.ndarray, np.ndarray], touched: np.ndarray, need: np.ndarray,
             core_windows: dict[str, list[Window]], *, relook: bool = True, relook_all: bool = False
             ) -> tuple[list[Pass], np.ndarray, np.ndarray]:
        """The last frame's boxes moved into this one, per pass: those still valid; the (N, 4) boxes
        to look at again; and the (M, 4) of them looked at again for scoring under ``relook_below``
        where no box of any pass scoring over the threshold overlaps them (IoU >= 0.3): faces no pass
        is sure of.

        A box is looked at again when its surroundings (the box and half its size around it) are
        ``touched``, or are to be scanned (``need``) without a window of its pass holding it whole:
        else a face moving a little each frame in a changing area could leave its box behind; when
        the picture inside it is displaced against ``look`` (the frame's work copy and its look when
        last scanned); and when it has been carried ``max_carry`` frames in a row. With ``relook``
        False, boxes scoring under ``relook_below`` are carried like the others (the planner's
        ``relook_every``). With ``relook_all`` every box is looked at again (a ``'coarse'``
        motion moves them only roughly).
        """
        m = to_picture(motion.matrix, self.scale)
        hit_touched, hit_need = _box_sums(touched), _box_sums(need)
        kept, changed, unsure, sure = [], [], [], []
        self.plan_ages = []
        for j, p in enumerate(self.passes):
            dets = moved_detections(p.detections, m)
            if not len(dets):
                kept.append(Pass(p.name, dets, p.small))
                self.plan_ages.append(np.zeros(0, np.int32))
                continue
            b = dets.xyxy.astype(np.float64)
            inside = (b[:, 2] > 0) & (b[:, 3] > 0) & (b[:, 0] < self.width) & (b[:, 1] < self.height)
            grow = 0.5 * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])[:, None] * np.array([-1, -1, 1, 1])
            near = b + grow
            still = inside & (hit_touched(near, self.scale) == 0) & (not relook_all)
            still[still] = ~_displaced(look, b[still], self.scale)
            held = held_by(b, core_windows.get(p.name, []))
            still &= (hit_need(near, self.scale) == 0) | held
            age = self.ages[j] if j < len(self.ages) and len(self.ages[j]) == len(dets) else np.zeros(len(dets))
            if self.max_carry is not None:
                still &= age < self.max_carry
            sure.append(b[dets.scores >= self.detector.threshold])
            if self.relook_below is not None and relook:
                low = dets.scores < self.relook_below
                still &= ~low
                unsure.append(b[inside & low])
            kept.append(Pass(p.name, dets[still], p.small))
            self.plan_ages.append(age[still].astype(np.int32) + 1)
            changed.append(b[inside & ~still])
        stack = lambda boxes: np.concatenate(boxes) if boxes else np.zeros((0, 4))  # noqa: E731
        return kept, stack(changed), apart(stack(unsure), stack(sure))

    def windows_around(self, boxes: np.ndarray) -> dict[str, list[Window]]:
        """Windows around boxes to look at again (one per face), for each pass that scores their size."""
        out: dict[str, list[Window]] = {name: [] for name in self.layers}
        if not len(boxes):
            return out
        boxes = boxes[nms(boxes, np.ones(len(boxes)), iou=0.3)]
        sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        for box, size in zip(boxes, sizes):
            margin = max(float(size), 32.0)
            for name in self.layers:
                # Each pass that gives faces of this size a score (fused in merge).
                if name == "tiles" and size > 2 * self.detector.overlap:
                    continue
                if name == "coarse" and size < self.detector.coarse_min_face / 2:
                    continue
                out[name].append(grow_window(box, margin, self.quanta[name], self.width, self.height))
        return out

    def ages_after(self, fresh: list[Pass], plan: FramePlan, calls) -> list[np.ndarray]:
        """Per pass of ``join_passes(fresh, still_valid(plan.carried, calls))``: frames each box has
        been carried (0: found now)."""
        kept = {}
        for p, age in zip(plan.carried, self.plan_ages):
            held = held_by(p.detections.xyxy, [c.window for c in calls if c.layer == p.name])
            kept[p.name] = age[~held]  # the rows still_valid keeps
        return [np.concatenate([np.zeros(len(p.detections), np.int32), kept.get(p.name, np.zeros(0, np.int32))])
                for p in fresh]
