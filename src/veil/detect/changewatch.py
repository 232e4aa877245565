"""Where a video frame is new or changed since a detector last looked at it.

Plates and text (``--cover plates,text``) are looked for in full on a
schedule (every ``--kinds-every`` frames, at shot changes: see
:func:`veil.track.kinds.is_look`); a full look costs about six times the
faces' detection at 1080p. Between two full looks the scene mostly stands
still in the picture or moves with the camera, and what the last look saw
there still holds. What does not hold is what is *new* (content that
entered the picture) or *changed* (a car driving, a sign turned, a person
walking past): a plate there may be one no look has seen. :class:`ChangeWatch`
names those parts of each frame, so the detector looks there on the frame
itself (a *change look*) and a plate that drives in, or appears and
vanishes between two full looks, is still found.

It keeps, per work pixel (:mod:`veil.detect.motion`), the frame on which the
detector last looked at it and that frame's grey copy; both move with the
camera. A pixel is needed when it was never looked at since the last full
look (it entered the picture; the map reaches beyond the frame, so what a
shaking camera shows again is known) or when it differs from its look then
by more than ``change_levels`` grey levels, a one-pixel misalignment
tolerated -- the faces' planner's rules (:mod:`veil.detect.lookmap`).
Specks under 3x3 work pixels are noise. Needed pixels become windows grown by
``margin`` (the longest text the detector must see whole around a change).
Where the camera's motion cannot be followed (a cut, a flash, a fast zoom,
lost features) or the windows would cover more than ``full_share`` of the
frame, the answer is a full look.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .lookmap import changed_pixels, follow_map, paste_look
from .motion import Motion, work_grey, work_scale
from .scanwindows import Window, grow_window, merge_windows, split_patch

__all__ = ["ChangeWatch", "CHANGE_LEVELS", "FULL_SHARE"]

#: Grey levels (0..255, work copy) by which a pixel must differ from its last look (the faces' planner's).
CHANGE_LEVELS = 12.0
#: Share of the frame change looks may cover; above it, a full look (it costs about as much).
FULL_SHARE = 0.5


class ChangeWatch:
    """Which windows of each frame a detector must look at again, between its full looks.

    Parameters
    ----------
    shape : tuple
        Frame shape ``(H, W, ...)``; every frame must have it.
    margin : float, keyword-only
        Picture pixels by which a window reaches beyond the needed pixels it
        holds (the text detector's tile overlap: a word up to that long lies
        whole in the window).
    quantum : int, keyword-only
        Windows start and end on this picture-pixel grid (where the picture does not end first).
    change_levels : float, keyword-only
        See :data:`CHANGE_LEVELS`.
    full_share : float, keyword-only
        See :data:`FULL_SHARE`.

    Notes
    -----
    Call :meth:`full` for a frame the detector looks at in full, else
    :meth:`windows` (and :meth:`looked` with the windows it then looked at),
    once per frame in order. Holds the last looks' grey copies: a few work
    copies of the frame (640x360 at 1080p).
    """

    def __init__(self, shape: tuple[int, ...], *, margin: float, quantum: int = 32,
                 change_levels: float = CHANGE_LEVELS, full_share: float = FULL_SHARE) -> None:
        if not margin >= 0 or not change_levels > 0 or not 0 < full_share <= 1 or int(quantum) < 1:
            raise ValueError("need margin >= 0, change_levels > 0, 0 < full_share <= 1 and quantum >= 1")
        self.height, self.width = int(shape[0]), int(shape[1])
        self.margin, self.quantum = float(margin), int(quantum)
        self.change_levels, self.full_share = float(change_levels), float(full_share)
        self.scale = work_scale(shape)
        gh, gw = round(self.height * self.scale), round(self.width * self.scale)
        self._pad = pad = max(16, round(0.1 * max(gh, gw)))
        # Splitting a patch no longer than twice the margin saves nothing.
        self._min_split = max(4, int(2 * self.margin * self.scale))
        self._frame = (slice(pad, pad + gh), slice(pad, pad + gw))
        self._seen = np.full((gh + 2 * pad, gw + 2 * pad), -1, np.int32)  # frame last looked at, -1 never
        self._looks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # frame -> (grey, pose)
        self._pose = np.eye(3)  # last full look -> current frame, work pixels
        self._grey: np.ndarray | None = None  # the current frame's

    def grey(self, rgb: np.ndarray) -> np.ndarray:
        """The work copy of a frame (:func:`veil.detect.motion.work_grey` at this watch's scale)."""
        return work_grey(rgb, self.scale)

    def full(self, t: int, grey: np.ndarray) -> None:
        """Frame ``t`` (its work copy ``grey``) is looked at in full: all of it is known as it is now."""
        self._pose = np.eye(3)
        self._seen.fill(-1)
        self._seen[self._frame] = int(t)
        self._looks = {int(t): (grey, self._pose.copy())}
        self._grey = grey

    def windows(self, t: int, grey: np.ndarray, motion: Motion) -> list[Window] | None:
        """The windows of frame ``t`` to look at, or None for a full look.

        Parameters
        ----------
        t : int
            The frame's index (increasing).
        grey : (h, w) ndarray of uint8
            Its work copy (:meth:`grey`).
        motion : veil.detect.motion.Motion
            From the previous frame onto this one (work pixels).

        Returns
        -------
        list of (x0, y0, x1, y1) int picture-pixel windows, or None
            Empty: nothing new or changed. None: no full look yet, the motion
            is not followed, or the windows would cover more than ``full_share``
            of the frame.
        """
        if not self._looks or not motion.reliable:
            return None
        self._grey = grey
        need = self._needed(grey, motion.matrix)
        if need.mean() > self.full_share:
            return None
        if not need.any():
            return []
        n, labels, stats, _ = cv2.connectedComponentsWithStats(need.astype(np.uint8), connectivity=8)
        s = self.scale
        boxes = []
        for label, (x, y, w, h, _) in enumerate(stats[1:], start=1):
            # An L of new pixels (a pan that shakes) is two arms, not the rectangle around both.
            for rx0, ry0, rx1, ry1 in split_patch(labels[y:y + h, x:x + w] == label, self._min_split):
                boxes.append(((x + rx0) / s, (y + ry0) / s, (x + rx1) / s, (y + ry1) / s))
        windows = merge_windows([grow_window(b, self.margin, self.quantum, self.width, self.height) for b in boxes])
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in windows)
        return None if area > self.full_share * self.width * self.height else windows

    def looked(self, t: int, windows: list[Window]) -> None:
        """Frame ``t``'s ``windows`` were looked at (after :meth:`windows` gave them)."""
        if not windows:
            return
        s = self.scale
        seen = self._seen[self._frame]
        gh, gw = seen.shape
        for x0, y0, x1, y1 in windows:
            # Work pixels wholly inside the window: its edge pixels were seen only in part.
            wx0, wy0 = int(math.ceil(x0 * s)), int(math.ceil(y0 * s))
            wx1, wy1 = min(gw, int(math.floor(x1 * s))), min(gh, int(math.floor(y1 * s)))
            seen[wy0:wy1, wx0:wx1] = t
        self._looks[int(t)] = (self._grey, self._pose.copy())
        live = set(np.unique(self._seen[self._seen >= 0]).tolist())
        self._looks = {k: v for k, v in self._looks.items() if k in live}

    def _needed(self, grey: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """(h, w) bool, work pixels: never looked at since the last full look, or changed since."""
        self._pose = motion @ self._pose
        self._seen = seen = follow_map(self._seen, motion, self._pad)
        seen = seen[self._frame]
        ref = grey.copy()
        for k, (old, pose) in self._looks.items():
            where = seen == k
            if where.any():
                paste_look(ref, where, old, self._pose @ np.linalg.inv(pose))
        need = changed_pixels(grey, ref, self.change_levels) | (seen < 0).astype(np.uint8)
        # Specks under 3x3 work pixels (compression noise, flicker) are nothing new.
        return cv2.morphologyEx(need, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
