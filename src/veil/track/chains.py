"""Association: a shot's detections linked frame by frame into chains (step 2 of :mod:`veil.track.linker`).

:func:`link_shot` and its :class:`Chain` serve :mod:`veil.track.linker`;
:func:`limit_speed` also serves :mod:`veil.track.boxes`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..detections import Detections, box_iou

_MAX_SPEED = 1.5  # box sizes per frame, for prediction and extrapolation
_MAX_SIZE_RATIO = 2.0  # width (and height) ratio allowed between a track and a detection
_GAP_LOOSEN = 0.10  # distance gate grows by this share per missed frame


class Chain:
    """A track under construction: its detections and motion state."""

    __slots__ = ("frames", "rows", "boxes", "preds", "vel", "last")

    def __init__(self, frame: int, row: int, box: np.ndarray) -> None:
        self.frames = [frame]
        self.rows = [row]
        self.boxes = [box]
        self.preds: list[np.ndarray | None] = [None]
        self.vel = np.zeros(2)  # centre velocity, px per frame
        self.last = frame

    def predict(self, frame: int) -> np.ndarray:
        return _shift(self.boxes[-1], self.vel * (frame - self.last))

    def add(self, frame: int, row: int, box: np.ndarray, pred: np.ndarray) -> None:
        step = (_centre(box) - _centre(self.boxes[-1])) / (frame - self.last)
        self.vel = step if len(self.frames) == 1 else 0.5 * self.vel + 0.5 * step
        self.vel = limit_speed(self.vel, box)
        self.frames.append(frame)
        self.rows.append(row)
        self.boxes.append(box)
        self.preds.append(pred)
        self.last = frame


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _size(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


def _shift(box: np.ndarray, d: np.ndarray) -> np.ndarray:
    return box + np.array([d[0], d[1], d[0], d[1]])


def limit_speed(v: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Velocity ``v`` (px per frame) capped at ``_MAX_SPEED`` sizes of ``box`` per frame."""
    speed, cap = float(np.hypot(*v)), _MAX_SPEED * _size(box)
    return v * (cap / speed) if speed > cap else v


def _associate(chains: list[Chain], frame: int, xyxy: np.ndarray, *, iou_threshold: float,
               max_distance: float) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Greedy best-first matching of live chains to this frame's detections."""
    preds = np.stack([c.predict(frame) for c in chains])
    gaps = np.array([frame - c.last for c in chains], np.float64)
    iou = box_iou(preds, xyxy).astype(np.float64)
    pc = (preds[:, :2] + preds[:, 2:]) / 2
    dc = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    dist = np.hypot(pc[:, None, 0] - dc[None, :, 0], pc[:, None, 1] - dc[None, :, 1])
    pw = np.maximum(preds[:, 2] - preds[:, 0], 1.0)
    ph = np.maximum(preds[:, 3] - preds[:, 1], 1.0)
    dw = np.maximum(xyxy[:, 2] - xyxy[:, 0], 1.0)
    dh = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1.0)
    scale = np.maximum(np.maximum(pw, ph)[:, None], np.maximum(dw, dh)[None, :])
    rel = dist / scale
    gate = max_distance * (1.0 + _GAP_LOOSEN * (gaps - 1.0))[:, None]
    log_ratio = np.maximum(np.abs(np.log(pw[:, None] / dw[None, :])), np.abs(np.log(ph[:, None] / dh[None, :])))
    by_iou = iou >= iou_threshold
    ok = (by_iou | (rel <= gate)) & (log_ratio <= np.log(_MAX_SIZE_RATIO))
    cost = np.where(by_iou, 1.0 - iou, 1.0 + rel / gate) + 0.05 * log_ratio + 0.01 * (gaps[:, None] - 1.0)
    ti, di = np.nonzero(ok)
    order = np.lexsort((di, ti, cost[ti, di]))
    used_t, used_d, pairs = set(), set(), []
    for k in order:
        t, d = int(ti[k]), int(di[k])
        if t not in used_t and d not in used_d:
            used_t.add(t)
            used_d.add(d)
            pairs.append((t, d))
    return pairs, preds


def link_shot(per_frame: Sequence[Detections], start: int, stop: int, *, max_gap: int,
               iou_threshold: float, max_distance: float) -> list[Chain]:
    """Every chain of frames ``start..stop-1`` (one shot): ended ones first, then those still live."""
    done: list[Chain] = []
    live: list[Chain] = []
    for f in range(start, stop):
        still = []
        for c in live:
            (still if f - c.last - 1 <= max_gap else done).append(c)
        live = still
        dets = per_frame[f]
        if not len(dets):
            continue
        xyxy = dets.xyxy.astype(np.float64)
        matched: set[int] = set()
        if live:
            pairs, preds = _associate(live, f, xyxy, iou_threshold=iou_threshold, max_distance=max_distance)
            for t, d in pairs:
                live[t].add(f, d, xyxy[d], preds[t])
                matched.add(d)
        live.extend(Chain(f, d, xyxy[d]) for d in range(len(dets)) if d not in matched)
    return done + live
