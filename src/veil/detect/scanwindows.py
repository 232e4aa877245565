"""Window geometry of motion-aware scan plans (:mod:`veil.detect.scanplan`).

A plan's calls run the detector's passes on rectangles of the picture
(*windows*, integer picture pixels ``(x0, y0, x1, y1)``). Here: what a
window costs the network, growing a window by a margin on a pass's
alignment grid, merging windows without cutting any of them, and cutting
a patch of needed pixels into rectangles that are mostly full.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Window", "network_pixels", "align_quantum", "grow_window", "merge_windows", "split_patch", "held_by",
           "cap_windows", "windows_holding", "lattice_window"]

Window = tuple[int, int, int, int]
_ALIGN = 32  # CenterFace's input is a multiple of 32; its deepest stride
_MAX_QUANTUM = 256


def network_pixels(window: Window, scale: float) -> int:
    """Pixels the network computes for ``window`` seen at ``scale`` (padded to multiples of 32)."""
    x0, y0, x1, y1 = window
    nw, nh = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    return -(-nw // _ALIGN) * _ALIGN * (-(-nh // _ALIGN) * _ALIGN)


def align_quantum(scale: float) -> int:
    """Smallest picture step that is a whole multiple of 32 network pixels (8 if none up to 256)."""
    for q in range(1, _MAX_QUANTUM + 1):
        n = q * scale / _ALIGN
        if n >= 1 and abs(n - round(n)) < 1e-6:
            return q
    return 8


def grow_window(box, margin: float, quantum: int, width: int, height: int) -> Window:
    """``box`` grown by ``margin`` on every side, snapped outward to ``quantum``, inside the picture."""
    x0, y0, x1, y1 = box
    x0 = max(0, int(math.floor((x0 - margin) / quantum)) * quantum)
    y0 = max(0, int(math.floor((y0 - margin) / quantum)) * quantum)
    x1 = min(width, int(math.ceil((x1 + margin) / quantum)) * quantum)
    y1 = min(height, int(math.ceil((y1 + margin) / quantum)) * quantum)
    return x0, y0, x1, y1


def cap_windows(windows: list[Window], side: int, overlap: int, quantum: int) -> list[Window]:
    """Windows no longer than ``side`` (plus ``quantum``) on either axis: longer ones cut into pieces.

    The pieces of a window overlap by at least ``overlap`` and start on the
    ``quantum`` grid, so a face no larger than ``overlap`` held whole by the
    window is held whole by a piece, and inside each piece the network sees
    what it sees in the whole window. The network's memory grows with its
    input (a 4K frame's tiles merged into one window needed 4 GB): pieces
    keep it to a tile's.

    Parameters
    ----------
    windows : list of (x0, y0, x1, y1)
    side, overlap, quantum : int
        ``side > overlap + quantum``.
    """
    if side <= overlap + quantum:
        raise ValueError("side must exceed overlap + quantum")
    from .tiles import tile_grid

    def cuts(a: int, b: int) -> list[tuple[int, int]]:
        if b - a <= side + quantum:
            return [(a, b)]
        return [(a + (s // quantum) * quantum, a + e)
                for s, e in tile_grid(b - a, side - quantum, overlap + quantum)]

    return [(cx0, cy0, cx1, cy1) for x0, y0, x1, y1 in windows
            for cy0, cy1 in cuts(y0, y1) for cx0, cx1 in cuts(x0, x1)]


def _area(w: Window) -> int:
    return max(0, w[2] - w[0]) * max(0, w[3] - w[1])


def merge_windows(windows: list[Window]) -> list[Window]:
    """Fewer, larger windows, each holding whole some of the given ones, and all of them held.

    Windows that overlap or touch form groups; a group whose bounding box
    costs at most 1.1x the pixels the group covers becomes that box, and
    the others are merged pair by pair under the same rule. Deterministic.
    """
    w = np.array(sorted(set(x for x in windows if _area(x) > 0)), np.int64).reshape(-1, 4)
    if len(w) < 2:
        return [tuple(int(v) for v in row) for row in w]
    near = ((w[:, None, 0] <= w[None, :, 2]) & (w[None, :, 0] <= w[:, None, 2])
            & (w[:, None, 1] <= w[None, :, 3]) & (w[None, :, 1] <= w[:, None, 3]))
    group = np.full(len(w), -1)
    for i in range(len(w)):
        if group[i] >= 0:
            continue
        group[i], todo = i, [i]
        while todo:
            for j in np.flatnonzero(near[todo.pop()] & (group < 0)):
                group[j] = i
                todo.append(int(j))
    out = []
    for g in np.unique(group):
        members = w[group == g]
        box = (*members[:, :2].min(axis=0), *members[:, 2:].max(axis=0))
        if _area(box) <= 1.1 * _union_area(members):
            out.append(tuple(int(v) for v in box))
        else:
            out.extend(_merge_pairs([tuple(int(v) for v in row) for row in members]))
    return sorted(out)


def _union_area(boxes: np.ndarray) -> int:
    """Pixels covered by the union of integer boxes (coordinate-compressed raster)."""
    xs, ys = np.unique(boxes[:, [0, 2]]), np.unique(boxes[:, [1, 3]])
    cover = np.zeros((len(ys) - 1, len(xs) - 1), bool)
    for x0, y0, x1, y1 in boxes:
        cover[np.searchsorted(ys, y0):np.searchsorted(ys, y1), np.searchsorted(xs, x0):np.searchsorted(xs, x1)] = True
    return int((np.diff(ys)[:, None] * np.diff(xs)[None, :] * cover).sum())


def _merge_pairs(windows: list[Window]) -> list[Window]:
    """Union two windows while their bounding box costs at most 1.1x what they cover apart, until none."""
    out = sorted(windows)
    merged = True
    while merged:
        merged = False
        k = 0
        while k < len(out):
            a = out[k]
            for j in range(k + 1, len(out)):
                b = out[j]
                u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                ix = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
                if _area(u) <= 1.1 * (_area(a) + _area(b) - ix):
                    out[k] = a = u
                    del out[j]
                    merged = True
                    break
            else:
                k += 1
    return out


def held_by(xyxy: np.ndarray, windows) -> np.ndarray:
    """(N,) bool: each box lies whole inside one of ``windows``."""
    w = np.array(windows, np.float64).reshape(-1, 4)
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    if not len(w) or not len(b):
        return np.zeros(len(b), bool)
    return ((b[:, None, 0] >= w[None, :, 0]) & (b[:, None, 1] >= w[None, :, 1])
            & (b[:, None, 2] <= w[None, :, 2]) & (b[:, None, 3] <= w[None, :, 3])).any(axis=1)


def windows_holding(xyxy: np.ndarray, windows: list[Window], *, nearest: bool = False) -> list[Window]:
    """The ``windows`` holding one of the boxes whole, in their order.

    Parameters
    ----------
    xyxy : (N, 4) array_like of float
    windows : list of (x0, y0, x1, y1)
    nearest : bool, keyword-only
        Per box, only the window holding it whose centre is nearest the box's
        (Chebyshev distance; the first on a tie).
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    if not len(b) or not len(windows):
        return []
    w = np.array(windows, np.float64).reshape(-1, 4)
    holds = np.stack([held_by(b, [t]) for t in w], axis=1)  # (N, T)
    if nearest:
        centre = lambda r: (r[..., :2] + r[..., 2:]) / 2  # noqa: E731
        far = np.abs(centre(b)[:, None] - centre(w)[None]).max(axis=2)
        far[~holds] = np.inf
        held = np.isfinite(far.min(axis=1))
        holds = np.zeros_like(holds)
        holds[np.flatnonzero(held), np.argmin(far[held], axis=1)] = True
    return [t for t, hit in zip(windows, holds.any(axis=0)) if hit]


def lattice_window(box, margin: float, tile: Window, quantum: int) -> Window:
    """``box`` grown by ``margin``, snapped outward onto ``tile``'s ``quantum`` grid, inside ``tile``.

    Inside the result the network sees the pixels it sees at the same place in
    ``tile`` (same offset modulo its alignment, same resampling phase).
    """
    tx0, ty0, tx1, ty1 = tile
    x0, y0, x1, y1 = grow_window((box[0] - tx0, box[1] - ty0, box[2] - tx0, box[3] - ty0), margin, quantum,
                                 tx1 - tx0, ty1 - ty0)
    return x0 + tx0, y0 + ty0, x1 + tx0, y1 + ty0


def split_patch(patch: np.ndarray, min_side: int) -> list[Window]:
    """Rectangles holding every True pixel of ``patch``, split while under half full.

    A thin L or U of pixels (content entering across two edges) gets one
    rectangle per arm instead of one around the whole picture.
    """
    ys, xs = np.nonzero(patch)
    if not len(xs):
        return []
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    h, w = y1 - y0, x1 - x0
    if len(xs) >= 0.5 * h * w or max(h, w) <= min_side:
        return [(x0, y0, x1, y1)]
    if w >= h:
        cut = x0 + w // 2
        halves = [(patch[:, :cut], 0, 0), (patch[:, cut:], cut, 0)]
    else:
        cut = y0 + h // 2
        halves = [(patch[:cut], 0, 0), (patch[cut:], 0, cut)]
    return [(a + dx, b + dy, c + dx, d + dy) for half, dx, dy in halves for a, b, c, d in split_patch(half, min_side)]
