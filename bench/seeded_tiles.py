"""Ways to give the full scan's adaptive tiles the faces its whole-frame pass gives no candidate for.

Below 2048 px veil's full scan runs a tile only where the whole-frame pass has a
small candidate. On the hand-held 1080p clip a masked 34 px face gets none (the
whole-frame pass scores it 0.01-0.03) and every tile finds it (0.1-0.25), so
the full scan covers fewer (frame, face) pairs than every tile on every frame
(bench/RESULTS.md, "Below 2048 px: the full scan's blind spot"). Three ways to
seed the tiles from other frames, each a ``motion_scan.py`` system (a label
starting with the kind, settings after a colon):

* ``nbr`` -- windows at the tiles' scale around the small faces the frames
  either side found in their own adaptive scan (``margin``, picture pixels);
* ``key`` -- every tile on every ``k``-th frame; between, the grid tiles holding
  a small face of the key frames either side (its centre moved by up to
  ``shake`` px);
* ``roll`` -- every tile once every ``k`` frames, a few tiles a frame in turn,
  and windows (``margin``) around the small faces found on the frame before
  (``probe=1``: also around candidates those windows found under the threshold);
* ``faint`` -- no other frame: windows (the tiles' ``overlap`` around them) at the
  tiles' scale around the frame's own small whole-frame candidates scoring from
  ``low`` up to the probe threshold, which choose no tile.

Each is given frames in order (:meth:`step`) and returns each frame's merged
faces once it can (``nbr`` one frame late, ``key`` at :meth:`finish`).

    .venv/bin/python bench/motion_scan.py --clips handheld --systems default --motion "key8:k=8" --motion "roll15:k=15"
"""

from __future__ import annotations

import numpy as np

from veil.detect.multiscale import Pass
from veil.detect.scanwindows import align_quantum, grow_window, held_by, merge_windows
from veil.detect.tiles import holding
from veil.detections import Detections

KINDS = ("nbr", "key", "roll", "faint")


def _small(found: Detections, overlap: int) -> np.ndarray:
    """Boxes no larger than the tiles' ``overlap`` (the faces the tiles are for)."""
    if not len(found):
        return np.zeros((0, 4))
    return found.xyxy[np.maximum(found.widths, found.heights) <= overlap]


def _with_tiles(passes: list[Pass], extra: Detections) -> list[Pass]:
    """``passes`` with ``extra`` added to the tile pass (one made if there is none)."""
    if not any(p.name == "tiles" for p in passes):
        return [*passes, Pass("tiles", extra, small=True)]
    return [Pass(p.name, Detections.concatenate([p.detections, extra]), small=p.small) if p.name == "tiles" else p
            for p in passes]


class _Seeded:
    def __init__(self, det, settings: dict) -> None:
        self.det, self.settings, self.index, self.seeds = det, settings, 0, 0

    def first(self, rgb: np.ndarray, extra_windows: list | None = None, passes: list[Pass] | None = None) -> dict:
        """The full scan's look at a frame (adaptive tiles, plus ``extra_windows`` of the grid); ``passes``:
        its whole-frame passes at the probe threshold where the caller has them."""
        d = self.det
        passes = d.passes(rgb, tiles="none") if passes is None else passes
        windows = list(d.select_tiles(rgb.shape, Detections.concatenate([p.detections for p in passes])))
        windows += [w for w in extra_windows or () if w not in windows]
        if windows:
            passes = _with_tiles(passes, d.tile_pass(rgb, windows=windows, threshold=d.probe_threshold))
        return {"rgb": rgb, "passes": passes, "windows": windows, "found": d.merge(passes)}

    def finish(self) -> list[Detections]:
        """The faces of the frames still held, in order (none by default)."""
        return []

    def around(self, look: dict, boxes: np.ndarray, margin: float) -> tuple[dict, Detections]:
        """``look`` after windows around ``boxes`` that its tiles do not hold (and what they found)."""
        d = self.det
        h, w = look["rgb"].shape[:2]
        if not len(boxes):
            return look, Detections.empty()
        need = np.asarray([grow_window(b, margin, 1, w, h) for b in boxes], np.float64)
        keep = ~held_by(need, look["windows"]) if look["windows"] else np.ones(len(boxes), bool)
        q = align_quantum(d.upscale)
        new = merge_windows([grow_window(b, margin, q, w, h) for b in boxes[keep]])
        if not new:
            return look, Detections.empty()
        self.seeds += len(new)
        extra = d.window_pass(look["rgb"], windows=new, scale=d.upscale, threshold=d.probe_threshold)
        passes = _with_tiles(look["passes"], extra)
        return {**look, "passes": passes, "found": d.merge(passes)}, extra


class Neighbours(_Seeded):
    """``nbr``: windows around the small faces of the frames either side (their own adaptive scan)."""

    def __init__(self, det, settings: dict) -> None:
        super().__init__(det, settings)
        self.margin = float(settings.get("margin", 48))
        self.before, self.pending = None, None

    def _done(self, look: dict, after: dict | None) -> Detections:
        boxes = [_small(n["found"], self.det.overlap) for n in (self.before, after) if n is not None]
        return self.around(look, np.concatenate(boxes) if boxes else np.zeros((0, 4)), self.margin)[0]["found"]

    def step(self, rgb: np.ndarray) -> list[Detections]:
        look, out = self.first(rgb), []
        if self.pending is not None:
            out.append(self._done(self.pending, look))
            self.before = self.pending
        self.pending = look
        return out

    def finish(self) -> list[Detections]:
        return [self._done(self.pending, None)] if self.pending is not None else []


class KeyFrames(_Seeded):
    """``key``: every tile every ``k`` frames; between, the grid tiles holding the key frames' small faces."""

    def __init__(self, det, settings: dict) -> None:
        super().__init__(det, settings)
        self.k, self.shake = int(settings.get("k", 8)), float(settings.get("shake", 32))
        self.looks: list[dict] = []

    def step(self, rgb: np.ndarray) -> list[Detections]:
        grid = self.det.tiles(rgb.shape)
        look = self.first(rgb, grid if self.index % self.k == 0 else None)
        self.index += 1
        self.looks.append(look)
        return []

    def finish(self) -> list[Detections]:
        d, out, s = self.det, [], self.shake
        for i, look in enumerate(self.looks):
            if i % self.k:
                k0 = i - i % self.k
                boxes = [_small(self.looks[k]["found"], d.overlap) for k in (k0, k0 + self.k) if k < len(self.looks)]
                centres = np.concatenate(boxes) if boxes else np.zeros((0, 4))
                centres = (centres[:, :2] + centres[:, 2:]) / 2
                points = np.concatenate([centres + [dx, dy] for dx in (-s, 0, s) for dy in (-s, 0, s)])
                tiles = [w for w in holding(d.tiles(look["rgb"].shape), points) if w not in look["windows"]] \
                    if len(points) else []
                if tiles:
                    self.seeds += len(tiles)
                    extra = d.window_pass(look["rgb"], windows=tiles, scale=d.upscale, threshold=d.probe_threshold)
                    look = {**look, "found": d.merge(_with_tiles(look["passes"], extra))}
            out.append(look["found"])
        self.looks = []
        return out


class Rolling(_Seeded):
    """``roll``: every tile once every ``k`` frames in turn, and windows around last frame's small faces."""

    def __init__(self, det, settings: dict) -> None:
        super().__init__(det, settings)
        self.k, self.margin = int(settings.get("k", 15)), float(settings.get("margin", 72))
        self.probe = bool(settings.get("probe", 0))
        self.carried = np.zeros((0, 4))

    def step(self, rgb: np.ndarray) -> list[Detections]:
        grid = self.det.tiles(rgb.shape)
        turn = [w for j, w in enumerate(grid) if j % self.k == self.index % self.k]
        self.index += 1
        look, extra = self.around(self.first(rgb, turn), self.carried, self.margin)
        carried = [_small(look["found"], self.det.overlap)]
        if self.probe:
            carried.append(_small(extra, self.det.overlap))
        self.carried = np.concatenate(carried)
        return [look["found"]]


class Faint(_Seeded):
    """``faint``: windows around the frame's own small candidates from ``low`` up to the probe threshold."""

    def __init__(self, det, settings: dict) -> None:
        super().__init__(det, settings)
        self.low = float(settings.get("low", 0.02))

    def step(self, rgb: np.ndarray) -> list[Detections]:
        d, p = self.det, self.det.probe_threshold
        # The whole-frame passes once, at the lower score: their candidates over the probe are the full scan's.
        low = [Pass("full", d.full_pass(rgb, threshold=self.low)), Pass("coarse", d.coarse_pass(rgb, threshold=self.low))]
        look = self.first(rgb, passes=[Pass(q.name, q.detections[q.detections.scores >= p]) for q in low])
        faint = Detections.concatenate([q.detections[q.detections.scores < p] for q in low])
        return [self.around(look, _small(faint, d.overlap), d.overlap)[0]["found"]]


def seeded(kind: str, det, settings: dict) -> _Seeded:
    """The system of ``kind`` (one of :data:`KINDS`) on ``det`` with ``settings``."""
    return {"nbr": Neighbours, "key": KeyFrames, "roll": Rolling, "faint": Faint}[kind](det, settings)
