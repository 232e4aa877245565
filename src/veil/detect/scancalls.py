"""The calls of a motion-aware scan plan (:mod:`veil.detect.scanplan`), and running them.

A :class:`FramePlan` lists :class:`ScanCall` s -- one pass of a
:class:`~veil.detect.MultiScaleDetector` on one window -- and the boxes the
previous frame found where nothing changed (*carried*). :func:`run_plan`
runs calls on any executor and gathers the boxes per pass, in plan order,
so the result does not depend on threads; :func:`join_passes` and
:func:`still_valid` put a frame's passes together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detections import Detections
from .motion import Motion, transform_boxes
from .multiscale import MultiScaleDetector, Pass
from .scanwindows import Window, held_by, network_pixels

__all__ = ["ScanCall", "FramePlan", "run_plan", "join_passes", "still_valid", "moved_detections"]


@dataclass(frozen=True)
class ScanCall:
    """One network call of a plan: a pass over one window.

    Attributes
    ----------
    layer : str
        ``'full'``, ``'coarse'`` or ``'tiles'``: which pass of the detector.
    window : tuple of int
        ``(x0, y0, x1, y1)`` in picture pixels.
    scale : float
        Network pixels per picture pixel.
    """

    layer: str
    window: Window
    scale: float

    @property
    def network_pixels(self) -> int:
        """Pixels the network computes for this call."""
        return network_pixels(self.window, self.scale)


@dataclass(frozen=True)
class FramePlan:
    """What the detector looks at on one frame.

    Attributes
    ----------
    index : int
        Frame index (0-based, in decoding order).
    full : bool
        The whole frame is scanned by every pass and every tile.
    reason : str
        Why: ``'first'``, ``'cut'``, ``'needed'`` (over ``full_share`` of
        the picture needed), a :class:`Motion` reason (``'flash'``,
        ``'zoom'``, ``'lost'``), or ``'partial'`` for a partial plan.
    calls : tuple of ScanCall
    motion : Motion
        From the previous frame to this one (work pixels).
    needed : float
        Share of the picture that had to be scanned (new, changed, stale,
        magnified), before margins and candidates.
    carried : tuple of Pass
        The previous frame's boxes, per pass, moved with the camera, whose
        surroundings did not change: still what that pass finds there,
        unless a call of this plan looks again (see :meth:`ScanPlanner.run`).
    """

    index: int
    full: bool
    reason: str
    calls: tuple[ScanCall, ...]
    motion: Motion
    needed: float
    carried: tuple[Pass, ...] = ()

    @property
    def network_pixels(self) -> int:
        """Pixels the network computes for the whole plan."""
        return sum(c.network_pixels for c in self.calls)


def moved_detections(dets: Detections, matrix: np.ndarray) -> Detections:
    """Boxes and landmarks moved by a (3, 3) picture-pixel motion."""
    if not len(dets):
        return dets
    lms = dets.landmarks.astype(np.float64) @ matrix[:2, :2].T + matrix[:2, 2]
    return dets.replace(xyxy=transform_boxes(dets.xyxy, matrix).astype(np.float32), landmarks=lms.astype(np.float32))


def still_valid(carried: tuple[Pass, ...], calls) -> list[Pass]:
    """Carried boxes that no call of their pass held whole: a call that did looked again, fresh."""
    return [Pass(p.name, p.detections[~held_by(p.detections.xyxy, [c.window for c in calls if c.layer == p.name])],
                 p.small) for p in carried]


def run_plan(detector: MultiScaleDetector, rgb: np.ndarray, calls, *, pool=None) -> list[Pass]:
    """Run a plan's calls and gather them into the detector's passes.

    Parameters
    ----------
    detector : MultiScaleDetector
        The planner's detector.
    rgb : (H, W, 3) ndarray of uint8
        The planned frame.
    calls : FramePlan or sequence of ScanCall
        A plan, or calls such as :meth:`ScanPlanner.follow_up`'s.
    pool : concurrent.futures.Executor, optional, keyword-only
        Runs the calls side by side, the largest first; results are gathered
        in plan order, so they do not depend on it.

    Returns
    -------
    list of Pass
        ``'full'``, then ``'coarse'`` and ``'tiles'`` where the detector has
        them, each with every call's boxes at the probe threshold, as
        :meth:`MultiScaleDetector.passes` returns them.
    """
    calls = calls.calls if isinstance(calls, FramePlan) else tuple(calls)
    probe = detector.probe_threshold
    run = {"full": detector.full_pass, "coarse": detector.coarse_pass, "tiles": detector.tile_pass}

    def call(c: ScanCall) -> Detections:
        return run[c.layer](rgb, windows=[c.window], threshold=probe)

    if pool is None:
        found = [call(c) for c in calls]
    else:
        # Largest first: the frame's last call then is a small one, and no core
        # waits long for another to finish the frame.
        order = sorted(range(len(calls)), key=lambda k: -calls[k].network_pixels)
        futures = {k: pool.submit(call, calls[k]) for k in order}
        found = [futures[k].result() for k in range(len(calls))]
    by_layer: dict[str, list[Detections]] = {}
    for c, dets in zip(calls, found):
        by_layer.setdefault(c.layer, []).append(dets)
    names = ["full"] + (["coarse"] if detector.coarse else []) + (["tiles"] if detector.upscale else [])
    return [Pass(name, Detections.concatenate(by_layer.get(name, [])), small=name == "tiles") for name in names]


def join_passes(first: list[Pass], more: list[Pass]) -> list[Pass]:
    """Two :func:`run_plan` results of one frame as one (boxes of each pass concatenated, in order)."""
    extra = {p.name: p.detections for p in more}
    return [Pass(p.name, Detections.concatenate([p.detections, extra.get(p.name, Detections.empty())]), p.small)
            for p in first]
