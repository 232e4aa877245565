"""What a video's detector last saw of each pixel, moved with the camera.

Both motion-aware scans keep, per work pixel (:mod:`veil.detect.motion`),
the frame on which the detector last looked at it, and that frame's grey
copy: the faces' planner (:mod:`veil.detect.scanplan`) and the change looks
of plates and text (:mod:`veil.detect.changewatch`). Three rules they share:

* :func:`follow_map` moves the map of last looks with the camera (a pixel is
  known where most of its bilinear footprint came from known pixels);
* :func:`paste_look` puts the look of one frame, moved to the current frame,
  where the map says that frame was the last look;
* :func:`changed_pixels`: a pixel changed when it lies outside the range of
  its old 3x3 neighbourhood by more than a margin (a one-pixel misalignment
  of the camera's estimate is no change).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["follow_map", "paste_look", "changed_pixels"]

_KERNEL = np.ones((3, 3), np.uint8)


def follow_map(seen: np.ndarray, matrix: np.ndarray, pad: int) -> np.ndarray:
    """A map of last looks moved by the camera's motion.

    Parameters
    ----------
    seen : (h + 2 pad, w + 2 pad) ndarray of int32
        Per work pixel of the frame and a margin of ``pad`` around it: the
        frame on which it was last looked at, -1 never. Not modified.
    matrix : (3, 3) array_like
        The motion from the previous frame onto this one, work pixels of the frame.
    pad : int
        The margin: what a shaking camera shows again is known, not new.

    Returns
    -------
    ndarray of int32, ``seen``'s shape
        Moved with nearest-neighbour sampling; -1 where most of a pixel's
        bilinear footprint came from pixels never looked at or from outside.
    """
    shift = np.array([[1.0, 0.0, pad], [0.0, 1.0, pad], [0.0, 0.0, 1.0]])
    m = (shift @ np.asarray(matrix, np.float64) @ np.linalg.inv(shift))[:2]
    canvas = seen.shape[::-1]
    known = cv2.warpAffine((seen >= 0).astype(np.uint8) * 255, m, canvas, flags=cv2.INTER_LINEAR,
                           borderValue=0) >= 128
    moved = cv2.warpAffine(seen, m, canvas, flags=cv2.INTER_NEAREST, borderValue=-1)
    moved[~known] = -1
    return moved


def paste_look(ref: np.ndarray, where: np.ndarray, old: np.ndarray, since: np.ndarray) -> None:
    """Write into ``ref``, at the pixels ``where``, the grey copy ``old`` moved by ``since``.

    Parameters
    ----------
    ref : (h, w) ndarray of uint8
        The current frame's reference; modified in place.
    where : (h, w) ndarray of bool
        The pixels last looked at on ``old``'s frame.
    old : (h, w) ndarray of uint8
        That frame's grey copy.
    since : (3, 3) ndarray
        The camera's motion from that frame to the current one, work pixels.
    """
    # Warp only the rectangle of the pixels concerned.
    x, y, w, h = cv2.boundingRect(where.astype(np.uint8))
    at = np.array(since, np.float64)
    at[:2, 2] -= (x, y)
    warped = cv2.warpAffine(old, at[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sub = where[y:y + h, x:x + w]
    ref[y:y + h, x:x + w][sub] = warped[sub]


def changed_pixels(grey: np.ndarray, ref: np.ndarray, levels: float) -> np.ndarray:
    """(h, w) uint8, 1 where ``grey`` lies outside the range of ``ref``'s 3x3 neighbourhood by more than ``levels``."""
    over = cv2.max(cv2.subtract(grey, cv2.dilate(ref, _KERNEL)), cv2.subtract(cv2.erode(ref, _KERNEL), grey))
    return (over > levels).astype(np.uint8)
