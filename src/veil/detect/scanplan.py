"""Motion-aware scan planning: which parts of a video frame the detector must look at.

A :class:`~veil.detect.MultiScaleDetector` scans every frame as if it were a
photo: a whole-frame pass, a coarse pass for large faces and magnified tiles
for small ones (at 4K, 66 tiles). Between two frames of a video little is
new. :class:`ScanPlanner` carries two kinds of knowledge from frame to
frame, moved with the camera's motion (:mod:`veil.detect.motion`):

* **faces and candidates**: every box any pass found at the probe
  threshold on the previous frame is looked at again, by every pass that
  scores faces of its size, in a window of its own size around it;
* **"scanned, nothing there"**: per work pixel, the frame on which it was
  last scanned by every pass and what it looked like then.

A pixel is scanned again when it is *new* (entered the picture), *changed*
(differs from its look when last scanned by more than ``change_levels``
grey levels, a one-pixel misalignment tolerated), *stale* (scanned
``max_interval`` frames ago or more) or *magnified* (the picture zoomed in by
more than ``zoom_limit`` since: a face too small to find then may be found
now). Needed pixels are gathered per block of the picture into rectangles
(cores); each pass runs on each core grown by the largest face it must see
whole there (its *margin*: tiles ``overlap``, the whole-frame pass up to
where the coarse pass takes over, the coarse pass half the picture), so a
face centred in a core lies whole inside a window of every pass.
Windows start on the pass's alignment grid, so that inside them the network
sees exactly the pixels it sees in a whole-picture pass.

The whole frame is scanned -- exactly :meth:`MultiScaleDetector.passes`
with every tile -- on the first frame, at a shot change the caller reports,
where the motion cannot be trusted (a cut, a flash, a fast zoom, lost
tracking) and where more than ``full_share`` of the picture is needed. At 4K
a motion followed only to within two work pixels (``coarse_motion``) moves
what was seen, but every box is looked at again.

:func:`run_plan` runs a plan's calls (in any order, on any threads: each
call's result depends on its window only) and returns the passes in the
detector's order, ready for :meth:`MultiScaleDetector.merge`.

Here: the planner, which keeps the "scanned" map, finds the needed pixels
and their cores, and puts each frame's plan together. Its pieces live
beside it: the carried boxes in :mod:`veil.detect.scancarry`, the grid
relook of unsure candidates in :mod:`veil.detect.scanrelook`, the calls and
running them in :mod:`veil.detect.scancalls`, window geometry in
:mod:`veil.detect.scanwindows`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..detections import Detections
from .lookmap import changed_pixels, follow_map, paste_look
from .motion import COARSE, Motion, estimate_motion, work_grey, work_scale, zoom_of
from .multiscale import SMALL_FACE_NETWORK_PX, MultiScaleDetector, Pass
from .scancalls import FramePlan, ScanCall, join_passes, run_plan, still_valid
from .scancarry import Carry
from .scanrelook import grid_windows, unsure_candidates
from .scanwindows import (Window, align_quantum, cap_windows, grow_window, held_by, merge_windows, network_pixels,
                          split_patch)

__all__ = ["ScanPlanner", "ScanCall", "FramePlan", "run_plan", "join_passes", "network_pixels"]


class ScanPlanner:
    """Plans each frame's detector calls from what the previous frames showed.

    Parameters
    ----------
    detector : MultiScaleDetector
        Its passes, scales, tiles, ``overlap`` and ``coarse_min_face`` shape
        the plan (``flip`` must be off).
    shape : tuple
        Frame shape ``(H, W, ...)``; every frame must have it.
    max_interval : int, keyword-only
        A pixel is scanned by every pass at least once every this many frames.
    change_levels : float, keyword-only
        Grey levels (0..255, on the work copy) by which a pixel must differ
        from its look when last scanned to be scanned again.
    carry_levels : float, keyword-only
        Grey levels by which a pixel near a box found before must differ for
        that box to be looked at again rather than carried: a face that moves
        on its own changes its surroundings by far more; blur and noise do
        not. A carried box moves with the camera.
    zoom_limit : float, keyword-only
        Magnification since a pixel's last scan above which it is scanned
        again (0.1: 10%).
    full_share : float, keyword-only
        Share of needed pixels above which the whole frame is scanned. A
        partial plan still looks at every needed pixel; 0.7 rather than 0.5
        took 7% of the network pixels off the White House clip at 1080p and
        changed nothing else on six clips (bench/RESULTS.md, "`--scan auto` at 1080p").
    whole_share : float, keyword-only
        A pass whose windows would cost this share of its whole-picture run
        or more runs on the whole picture (every tile for the tiles).
    max_carry : int or None, keyword-only
        A box carried this many frames in a row is looked at again (a window
        around it, by every pass that scores its size), whatever its
        surroundings did: a carried box follows the camera, not the face's
        own slow drift. None: no limit.
    relook_below : float, 'threshold' or None, keyword-only
        A carried box scoring below this is looked at again on the next frame
        instead of carried ('threshold', default: the detector's final
        threshold). Such a candidate is a face the detector was unsure of;
        carrying its score keeps it under the threshold until the next full
        look, where every tile on every frame gets a new score each frame and
        finds it on the frames it scores higher. Measured on the hand-held 4K
        clip (``bench/motion_scan.py``): 95.4% -> 98.3% of (frame, face) pairs
        (every tile: 97.9%), for 1.33x the plans' detector time.
    grid_relook : {'auto', 'all', 'one', 'local'} or None, keyword-only
        An unsure candidate -- a carried box looked at again for scoring
        under ``relook_below``, or one this frame's calls scored under the
        detector's threshold (see :meth:`follow_up`) -- with no box over the
        threshold on it, is also looked at as every tile on every frame looks
        at it: in every detector tile holding it whole (``'all'``), in the one
        holding it nearest its centre (``'one'``), in a window around it on
        each such tile's alignment grid (``'local'``: the same pixels, less
        context), or not (None). ``'auto'`` (default): ``'all'`` where the
        plans stand in for every tile on every frame (frames over 2048 px, or
        ``tiles='all'``), None elsewhere. A face near the threshold scores
        differently in a window cut and resampled elsewhere; every tile gets
        a new score each frame in each tile holding it, and its tracker
        bridges the frames where one reaches the threshold. Measured
        (bench/RESULTS.md, "Motion-aware plans: the crowd loss found and
        closed"): crowd 4K, pairs >= 16 px 94.8% -> 96.9% (every tile 96.6%); hand-held 4K 98.3% -> 99.0% (97.9%),
        for about twice the plans' network pixels (still under half of
        every tile's).
    relook_every : int or 'auto', keyword-only
        Carried unsure candidates (``relook_below``, and with them their grid
        relook) are looked at again on every n-th frame only, carried with
        their scores in between: the tracker bridges the frames between two
        looks at a face the detector is unsure of. ``'auto'`` (default): 2
        where the grid relook is on (``grid_relook`` resolved to ``'all'``), 1
        elsewhere. Measured on the three 4K clips, 60 frames each
        (bench/RESULTS.md, "unsure candidates every other frame"): every size
        bin >= 16 px still at or above every tile's, no more flash frames,
        every tile's confident boxes covered, for 0.8x the plans' network
        pixels on the synthetic clips (0.95x on the White House clip at 4K).
    coarse_motion : bool, keyword-only
        Where the one-work-pixel motion fit fails on frames of 1080p and up,
        accept a fit within two work pixels of corners followed on a copy
        half as wide (:func:`~veil.detect.motion.estimate_motion`'s
        ``coarse``) instead of scanning the whole frame, and look at every box
        found before again (none carried on such a frame). On the White House
        clip at 4K the motion was lost on 77 of 275 frames (8 of the same
        frames at 640x360); over its first 60 frames: 14 -> 4 whole-frame
        scans, 0.94x the network pixels, every (frame, face) pair still
        covered. At 1080p: 36 -> 7 frames lost, 0.76x the network pixels, every
        pair still covered; the synthetic clips never needed it
        (bench/RESULTS.md). A fit this loose applied to every frame carried
        boxes off the hand-held 4K clip's faces; here boxes are looked at again
        instead.

    Notes
    -----
    Call :meth:`plan` for every frame in order, then :meth:`record` with
    that frame's passes before planning the next. The plans depend only on
    the frames and the detector's results, never on timing or threads.
    """

    def __init__(self, detector: MultiScaleDetector, shape: tuple[int, ...], *, max_interval: int = 15,
                 change_levels: float = 12.0, zoom_limit: float = 0.1, full_share: float = 0.7,
                 carry_levels: float = 32.0, whole_share: float = 0.8, tiles: str = "auto",
                 max_carry: int | None = None, relook_below: float | str | None = "threshold",
                 grid_relook: str | None = "auto", relook_every: int | str = "auto", coarse_motion: bool = True) -> None:
        if tiles not in ("auto", "all"):
            raise ValueError(f"tiles must be 'auto' or 'all', not {tiles!r}")
        if getattr(detector, "flip", False):
            raise ValueError("motion-aware planning needs a detector without the flipped pass")
        if int(max_interval) != max_interval or max_interval < 1:
            raise ValueError("max_interval must be an integer >= 1")
        if not change_levels > 0 or not carry_levels > 0 or not zoom_limit > 0:
            raise ValueError("change_levels, carry_levels and zoom_limit must be > 0")
        if not 0 < full_share <= 1 or not 0 < whole_share <= 1:
            raise ValueError("full_share and whole_share must be in (0, 1]")
        if max_carry is not None and (int(max_carry) != max_carry or max_carry < 1):
            raise ValueError("max_carry must be None or an integer >= 1")
        self.max_carry = None if max_carry is None else int(max_carry)
        self.coarse_motion = bool(coarse_motion)
        if relook_below == "threshold":
            relook_below = detector.threshold
        self.relook_below = None if relook_below is None else float(relook_below)
        if grid_relook not in ("auto", "all", "one", "local", None):
            raise ValueError(f"grid_relook must be 'auto', 'all', 'one', 'local' or None, not {grid_relook!r}")
        if relook_every != "auto" and (int(relook_every) != relook_every or relook_every < 1):
            raise ValueError(f"relook_every must be 'auto' or an integer >= 1, not {relook_every!r}")
        self.detector = detector
        self.height, self.width = int(shape[0]), int(shape[1])
        self.max_interval = int(max_interval)
        self.change_levels = float(change_levels)
        self.carry_levels = float(carry_levels)
        self.zoom_limit = float(zoom_limit)
        self.full_share = float(full_share)
        self.whole_share = float(whole_share)
        # Tiles in needed areas chosen by small candidates, as the detector chooses them on a photo.
        self.adaptive = tiles == "auto" and bool(detector.adaptive_for(shape))
        self.scale = work_scale(shape)
        self.scales = detector.pass_scales(shape)
        self.layers = [name for name in ("full", "coarse", "tiles") if name in self.scales]
        self.quanta = {name: align_quantum(s) for name, s in self.scales.items()}
        self.tiles = detector.tiles(shape)
        # Merged tile windows are cut to two tiles' side at most: the network's memory follows its input.
        self._tile_cap = 2 * max(detector.overlap + 1, int(detector.tile_size / detector.upscale)) \
            if detector.upscale else 0
        short = min(self.height, self.width)
        # The largest face each pass must see whole in a window; above it, a coarser pass finds it.
        coarse_takes_over = SMALL_FACE_NETWORK_PX / self.scales["coarse"] if "coarse" in self.scales else short
        self.margins = {"tiles": float(detector.overlap),
                        "full": float(min(short, max(detector.overlap, detector.coarse_min_face, coarse_takes_over))),
                        "coarse": short / 2.0}
        self.whole_cost = {name: self._whole_calls_cost(name) for name in self.layers}
        if grid_relook == "auto":
            # Where the plans stand in for every tile on every frame (over 2048 px, or tiles='all'); on
            # smaller frames --scan full runs adaptive tiles and the plans already cover as much without.
            grid_relook = None if self.adaptive else "all"
        self.grid_relook = grid_relook
        if relook_every == "auto":
            relook_every = 2 if grid_relook == "all" else 1
        self.relook_every = int(relook_every)
        side = max(64, int(detector.tile_size / detector.upscale) if detector.upscale else short)
        self.blocks = [(bx, by, min(bx + side, self.width), min(by + side, self.height))
                       for by in range(0, self.height, side) for bx in range(0, self.width, side)]
        # Splitting a patch smaller than a tile's margin saves nothing.
        self._min_split = max(4, int(2 * self.margins["tiles"] * self.scale))
        self._index = 0
        self._prev: np.ndarray | None = None
        self._pose = np.eye(3)  # shot origin -> current frame, work pixels
        self._scans: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # frame -> (grey, pose)
        gh, gw = round(self.height * self.scale), round(self.width * self.scale)
        # The maps reach ``pad`` work pixels beyond the frame: what a shaking
        # camera shows again is known, not new.
        self._pad = pad = max(16, round(0.1 * max(gh, gw)))
        self._frame = (slice(pad, pad + gh), slice(pad, pad + gw))
        # Frame on which each work pixel was last scanned by every pass, -1 never.
        self._scanned = np.full((gh + 2 * pad, gw + 2 * pad), -1, np.int32)
        self._carry = Carry(detector, shape, self.scale, self.layers, self.quanta, max_carry=self.max_carry,
                            relook_below=self.relook_below)
        self._awaiting = False

    # -- planning -----------------------------------------------------------
    def plan(self, rgb: np.ndarray, *, shot_change: bool = False) -> FramePlan:
        """The calls for the next frame.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
            The frame (the planner's ``shape``).
        shot_change : bool, keyword-only
            The caller saw a shot change (e.g. a scene-cut signature jump):
            scan the whole frame.

        Returns
        -------
        FramePlan
        """
        if self._awaiting:
            raise RuntimeError("record() the previous frame's passes before planning the next")
        if tuple(rgb.shape[:2]) != (self.height, self.width):
            raise ValueError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the planner's {self.width}x{self.height}")
        t = self._index
        grey = work_grey(rgb, self.scale)
        if self._prev is None:
            motion, reason = Motion.unknown("first"), "first"
        else:
            motion = estimate_motion(self._prev, grey, coarse=self.coarse_motion)
            reason = "cut" if shot_change else (None if motion.reliable else motion.reason)
        if reason is None:
            need, touched = self._needed(t, grey, motion)
            share = float(need.mean())
            if share > self.full_share:
                reason = "needed"
        if reason is not None:
            plan = self._full_plan(t, grey, motion, reason)
        else:
            plan = self._partial_plan(t, grey, motion, need, touched, share)
        self._prev = grey
        self._index += 1
        self._awaiting = True
        return plan

    def _needed(self, t: int, grey: np.ndarray, motion: Motion) -> tuple[np.ndarray, np.ndarray]:
        """(h, w) bool maps, work pixels: to scan (new, stale, magnified or changed since their last scan),
        and touched (the same, with changes of any extent: where a carried box must be looked at again)."""
        self._pose = motion.matrix @ self._pose
        self._scanned = scanned = follow_map(self._scanned, motion.matrix, self._pad)
        scanned = scanned[self._frame]
        need = (scanned < 0) | (scanned <= t - self.max_interval)  # never scanned, or due
        ref = grey.copy()
        for k in self._live(scanned, t):
            old, pose = self._scans[k]
            since = self._pose @ np.linalg.inv(pose)
            where = scanned == k
            if zoom_of(since) > 1.0 + self.zoom_limit:
                need |= where
                continue
            paste_look(ref, where, old, since)
        changed = changed_pixels(grey, ref, self.change_levels)
        kernel = np.ones((3, 3), np.uint8)
        # Near a box found before, any change over carry_levels counts, without the misalignment
        # tolerance: a face that moves a pixel on its own must not leave its box behind.
        moved = cv2.absdiff(grey, ref) > self.carry_levels
        touched = cv2.dilate((need | moved).astype(np.uint8), kernel).astype(bool)
        # Specks under 3x3 work pixels (compression noise, flicker) are no new face: opening drops them.
        need |= cv2.morphologyEx(changed, cv2.MORPH_OPEN, kernel).astype(bool)
        self._look = (grey, ref)  # for the carry: what moved inside a box
        return cv2.dilate(need.astype(np.uint8), kernel).astype(bool), touched

    def _live(self, scanned: np.ndarray, t: int) -> list[int]:
        """The frames some pixel of ``scanned`` was last scanned on (all within ``max_interval`` of ``t``)."""
        lo = max(t - self.max_interval, -1)  # -1: never scanned
        counts = np.bincount(np.clip(scanned.ravel() - lo, 0, None), minlength=self.max_interval + 2)
        return [lo + k for k in np.flatnonzero(counts[1:]) + 1]

    def _full_plan(self, t: int, grey: np.ndarray, motion: Motion, reason: str) -> FramePlan:
        calls = [ScanCall(name, w, self.scales[name]) for name in self.layers for w in self._whole_windows(name)]
        self._pose = np.eye(3)
        self._scans = {}
        self._scanned.fill(-1)
        self._scanned[self._frame] = t
        self._scans[t] = (grey, self._pose.copy())
        return FramePlan(t, True, reason, tuple(calls), motion, 1.0)

    def _whole_windows(self, name: str) -> list[Window]:
        return list(self.tiles) if name == "tiles" else [(0, 0, self.width, self.height)]

    def _whole_calls_cost(self, name: str) -> int:
        return sum(network_pixels(w, self.scales[name]) for w in self._whole_windows(name))

    def _cores(self, need: np.ndarray) -> list[tuple[Window, Window]]:
        """Rectangles around the needed pixels, one per connected patch within each block.

        Returns (work-pixel core, picture-pixel core) pairs.
        """
        s = self.scale
        gh, gw = need.shape
        out = []
        for bx0, by0, bx1, by1 in self.blocks:
            wx0, wy0 = int(bx0 * s), int(by0 * s)
            wx1, wy1 = min(gw, int(math.ceil(bx1 * s))), min(gh, int(math.ceil(by1 * s)))
            sub = need[wy0:wy1, wx0:wx1]
            if not sub.any():
                continue
            n, labels, stats, _ = cv2.connectedComponentsWithStats(sub.astype(np.uint8), connectivity=8)
            for label, (x, y, w, h, _) in enumerate(stats[1:], start=1):
                patch = labels[y:y + h, x:x + w] == label
                for rx0, ry0, rx1, ry1 in split_patch(patch, self._min_split):
                    work = (wx0 + x + rx0, wy0 + y + ry0, wx0 + x + rx1, wy0 + y + ry1)
                    pic = (max(0, int(math.floor(work[0] / s))), max(0, int(math.floor(work[1] / s))),
                           min(self.width, int(math.ceil(work[2] / s))), min(self.height, int(math.ceil(work[3] / s))))
                    out.append((work, pic))
        return out

    def _partial_plan(self, t: int, grey: np.ndarray, motion: Motion, need: np.ndarray, touched: np.ndarray,
                      share: float) -> FramePlan:
        cores = self._cores(need)
        core_windows = {name: [] if name == "tiles" and self.adaptive else
                        [grow_window(pic, self.margins[name], self.quanta[name], self.width, self.height) for _, pic in cores]
                        for name in self.layers}
        carried, changed, unsure = self._carry.move(motion, self._look, touched, need, core_windows,
                                                    relook=t % self.relook_every == 0,
                                                    relook_all=motion.reason == COARSE)
        around = self._carry.windows_around(changed)
        calls = []
        for name in self.layers:
            windows = self._capped(name, merge_windows(core_windows[name] + around[name]))
            if sum(network_pixels(w, self.scales[name]) for w in windows) >= self.whole_share * self.whole_cost[name]:
                windows = self._whole_windows(name)
            elif name == "tiles":
                windows = windows + self._grid_tiles(unsure, windows)
            calls.extend(ScanCall(name, w, self.scales[name]) for w in windows)
        scanned = self._scanned[self._frame]
        for (x0, y0, x1, y1), _ in cores:
            scanned[y0:y1, x0:x1] = t
        if cores:
            self._scans[t] = (grey, self._pose.copy())
        # Older scans are due, wherever their pixels are now (in the picture or beside it).
        self._scans = {k: v for k, v in self._scans.items() if k > t - self.max_interval}
        return FramePlan(t, False, "partial", tuple(calls), motion, share, tuple(carried))

    def follow_up(self, plan: FramePlan, passes: list[Pass]) -> tuple[ScanCall, ...]:
        """Tile calls a partial plan needs after its first calls.

        With ``tiles='auto'`` on frames up to 2048 px, as
        :meth:`MultiScaleDetector.select_tiles` does on a photo: each small
        candidate (no larger than ``overlap``) of the whole-frame and coarse
        calls that no tile window of ``plan`` holds with ``overlap`` to spare
        gets a tile window of its own. With ``grid_relook``: the detector's
        own tiles holding whole a candidate the calls scored under the
        threshold (and none over it). Empty for whole-frame scans.
        """
        if plan.full or "tiles" not in self.layers:
            return ()
        grid = self._unsure_grid(plan, passes) if self.grid_relook else []
        grid_calls = tuple(ScanCall("tiles", w, self.scales["tiles"]) for w in grid)
        probes = Detections.concatenate([p.detections for p in passes if p.name != "tiles"])
        if not self.adaptive or not len(probes):
            return grid_calls
        small = probes.xyxy[np.maximum(probes.widths, probes.heights) <= self.detector.overlap]
        held = [c.window for c in plan.calls if c.layer == "tiles"]
        margin, q = self.margins["tiles"], self.quanta["tiles"]
        new = []
        for box in np.asarray(small, np.float64):
            need = grow_window(box, margin, 1, self.width, self.height)
            if not held_by(np.asarray([need], np.float64), held)[0]:
                new.append(grow_window(box, margin, q, self.width, self.height))
        return tuple(ScanCall("tiles", w, self.scales["tiles"])
                     for w in self._capped("tiles", merge_windows(new))) + grid_calls

    def _unsure_grid(self, plan: FramePlan, passes: list[Pass]) -> list[Window]:
        """Grid tiles not yet run that hold whole a candidate of ``passes`` scoring under the threshold,
        no candidate over it overlapping (IoU >= 0.3), and small enough for the tiles to score."""
        found = Detections.concatenate([p.detections for p in passes])
        if not len(found):
            return []
        low = unsure_candidates(found, self.detector.threshold, 2 * self.detector.overlap)
        return self._grid_tiles(low, [c.window for c in plan.calls if c.layer == "tiles"])

    def _grid_tiles(self, boxes: np.ndarray, done: list[Window]) -> list[Window]:
        """The detector's tiles holding one of ``boxes`` whole (per ``grid_relook``), except those in ``done``."""
        return grid_windows(boxes, done, self.tiles, mode=self.grid_relook, quantum=self.quanta["tiles"])

    def _capped(self, name: str, windows: list[Window]) -> list[Window]:
        if name != "tiles":
            return windows  # the whole-frame and coarse passes' windows are no larger than their whole run
        return cap_windows(windows, self._tile_cap, self.detector.overlap, self.quanta["tiles"])

    # -- results ------------------------------------------------------------
    def record(self, plan: FramePlan, passes: list[Pass]) -> None:
        """Remember the boxes ``plan``'s passes found (any score): the next frame looks at them again.

        Parameters
        ----------
        plan : FramePlan
            The plan last returned by :meth:`plan`.
        passes : list of Pass
            What :func:`run_plan` returned for it.
        """
        if not self._awaiting or plan.index != self._index - 1:
            raise RuntimeError("record() takes the passes of the frame planned last")
        self._carry.passes = list(passes)
        self._carry.ages = []
        self._awaiting = False

    def run(self, rgb: np.ndarray, plan: FramePlan, *, pool=None) -> Detections:
        """Run ``plan`` (and its :meth:`follow_up`), :meth:`record` it; the frame's merged faces.

        ``pool`` (an executor, optional) runs the calls side by side; the
        result does not depend on it.
        """
        passes = run_plan(self.detector, rgb, plan, pool=pool)
        extra = self.follow_up(plan, passes)
        if extra:
            passes = join_passes(passes, run_plan(self.detector, rgb, extra, pool=pool))
        calls = plan.calls + extra
        ages = self._carry.ages_after(passes, plan, calls)
        passes = join_passes(passes, still_valid(plan.carried, calls))
        self.record(plan, passes)
        self._carry.ages = ages
        return self.detector.merge(passes)

    def detect(self, rgb: np.ndarray, *, shot_change: bool = False, pool=None) -> tuple[Detections, FramePlan]:
        """Plan, run, merge and record one frame: its faces and its plan."""
        plan = self.plan(rgb, shot_change=shot_change)
        return self.run(rgb, plan, pool=pool), plan
