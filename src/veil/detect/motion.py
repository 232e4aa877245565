"""Global motion between consecutive video frames, on small grey copies.

A video's pass 1 may carry what it learnt on one frame (faces found, areas
scanned with nothing there) to the next, but only where the picture moved
in a way it can follow: a pan, a shake, a walking camera, a slow zoom.
:func:`estimate_motion` fits one similarity (shift, rotation, zoom) to
sparse optical flow between two :func:`work_grey` copies and says whether it
can be trusted; where it cannot -- a cut, a flash, a zoom faster than
``max_zoom`` per frame, a picture without texture that changed -- the caller
scans the whole frame.

Everything here works in *work pixels*: the frame scaled by
:func:`work_scale` (a third, a quarter at 4K: a 16 px face stays at least
4 work pixels wide). :func:`to_picture` converts a motion to picture pixels.

All functions are deterministic (OpenCV's RANSAC seeds its own generator)
and hold no state.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Motion", "work_scale", "work_grey", "estimate_motion", "repeats_picture", "to_picture",
           "transform_boxes", "zoom_of", "MAX_ZOOM", "WORK_MAX_SIDE", "COARSE", "REPEAT_LEVELS"]

#: Longer side of the work copy, at most (4K: a quarter of the picture).
WORK_MAX_SIDE = 960
#: Zoom per frame above which the motion is not trusted (fast zoom).
MAX_ZOOM = 0.03
#: :attr:`Motion.reason` of a motion found only by the fallback fit (``estimate_motion(coarse=True)``).
COARSE = "coarse"
_FEATURES = 200
_MIN_INLIERS = 24
_MIN_INLIER_SHARE = 0.25
_RANSAC_PX = 1.0  # work pixels
_FLASH_LEVELS = 12.0  # mean grey change (0..255) that is a flash or an exposure jump, not motion
_STATIC_LEVELS = 1.5  # mean absolute change under which an untextured frame counts as still
# Work copies at least this wide (1080p and up) get the coarse fit; a smaller one's half is too small to follow.
_COARSE_MIN_WIDTH = 640


@dataclass(frozen=True, eq=False)
class Motion:
    """How one frame maps onto the next.

    Attributes
    ----------
    matrix : (3, 3) ndarray of float64
        Homogeneous similarity taking a point of the previous frame (work
        pixels) to where it is in this frame.
    reliable : bool
        Whether the picture can be followed with ``matrix``; False means scan
        the whole frame.
    reason : str
        ``'ok'``, ``'still'`` (too little texture to track, and nothing
        changed), ``'coarse'`` (reliable only within two work pixels, on work
        copies 640 px wide or more: asked for with
        ``estimate_motion(coarse=True)``), ``'flash'``,
        ``'zoom'``, ``'lost'`` (too few features followed: a cut, a blur, a
        burst of change) or ``'first'`` (no previous frame).
    inliers : int
        Features that agree with ``matrix``.
    share : float
        ``inliers`` over the features followed, in [0, 1].
    """

    matrix: np.ndarray
    reliable: bool
    reason: str
    inliers: int = 0
    share: float = 0.0

    @classmethod
    def unknown(cls, reason: str = "first") -> "Motion":
        """An unreliable identity (the first frame of a video, or after a cut)."""
        return cls(np.eye(3), False, reason)

    @property
    def shift(self) -> tuple[float, float]:
        """Translation ``(dx, dy)`` of the picture's origin, work pixels."""
        return float(self.matrix[0, 2]), float(self.matrix[1, 2])

    @property
    def zoom(self) -> float:
        """Scale factor of the motion (1: none; > 1: zooming in)."""
        return zoom_of(self.matrix)


def zoom_of(matrix: np.ndarray) -> float:
    """Scale factor of a similarity (2x3 or 3x3): the square root of its determinant."""
    m = np.asarray(matrix, np.float64)
    return float(np.sqrt(abs(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0])))


def work_scale(shape: tuple[int, ...]) -> float:
    """Scale from picture to work pixels for a frame of ``shape``: ``1 / n``.

    ``n`` is the smallest integer that brings the longer side to
    :data:`WORK_MAX_SIDE` or less, at least 2, and 3 where that still leaves
    640 px (an integer factor keeps area averaging fast; a smaller copy is
    cheaper to compare): 640x360 -> 320x180, 720p -> 640x360, 1080p ->
    640x360, 4K -> 960x540 (a 16 px face is 4 work pixels).
    """
    side = max(shape[:2])
    n = max(2, -(-side // WORK_MAX_SIDE))
    if n == 2 and side >= 3 * 640:
        n = 3
    return 1.0 / n


def work_grey(rgb: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The small grey copy motion and change are measured on.

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    scale : float, optional
        Default :func:`work_scale` of ``rgb``'s shape.

    Returns
    -------
    (round(H * scale), round(W * scale)) ndarray of uint8
        Area-averaged (which also averages away most compression noise).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) uint8 frame, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    scale = work_scale(rgb.shape) if scale is None else float(scale)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


#: A frame repeats another when no 5x5 patch of their work copies differs by more than this
#: many grey levels on average (the level at which the change looks call a pixel changed).
#: On the White House clip at 640x360 the pictures 24 -> 30 fps pulldown repeats differ from
#: their first showing by 1.6-8.7 at most (one by 35: compression catching up in one spot), its
#: other frames from the frame before by 11.4 and more; a face appearing changes far more.
REPEAT_LEVELS = 12
_REPEAT_PATCH = (5, 5)


def repeats_picture(prev: np.ndarray, cur: np.ndarray) -> bool:
    """Whether ``cur`` shows the picture ``prev`` showed, up to compression noise.

    Parameters
    ----------
    prev, cur : (h, w) ndarray of uint8
        :func:`work_grey` copies of two frames.

    Returns
    -------
    bool
        True when no 5x5 patch differs by more than :data:`REPEAT_LEVELS` grey
        levels on average; False for pictures of different shapes.
    """
    prev, cur = np.asarray(prev), np.asarray(cur)
    if prev.ndim != 2 or prev.dtype != np.uint8 or cur.dtype != np.uint8:
        raise ValueError(f"need uint8 grey pictures, got {prev.shape} {prev.dtype} and {cur.shape} {cur.dtype}")
    if prev.shape != cur.shape:
        return False
    patch = cv2.blur(cv2.absdiff(prev, cur).astype(np.float32), _REPEAT_PATCH, borderType=cv2.BORDER_REFLECT)
    return float(patch.max()) <= REPEAT_LEVELS


def _similarity(src: np.ndarray, dst: np.ndarray, tolerance: float = _RANSAC_PX) -> tuple[np.ndarray | None, int]:
    if len(src) < 3:
        return None, 0
    m, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=tolerance,
                                             maxIters=2000, confidence=0.995, refineIters=10)
    if m is None:
        return None, 0
    return np.vstack([m, [0.0, 0.0, 1.0]]), int(inliers.sum())


def _agrees(matrix: np.ndarray | None, inliers: int, followed: int) -> bool:
    """Whether a fit holds enough of the features followed (at least 24, and a quarter)."""
    return matrix is not None and inliers >= _MIN_INLIERS and inliers / max(followed, 1) >= _MIN_INLIER_SHARE


def _too_fast(matrix: np.ndarray, max_zoom: float) -> bool:
    """Whether a fit zooms by more than ``max_zoom`` in one frame."""
    return abs(np.log(zoom_of(matrix))) > np.log1p(max_zoom)


def _follow(prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features of ``prev`` and where they are in ``cur`` (forward-backward checked)."""
    pts = cv2.goodFeaturesToTrack(prev, _FEATURES, 0.01, max(4, min(prev.shape) // 40), blockSize=5)
    if pts is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    lk = dict(winSize=(15, 15), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    fwd, ok1, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, **lk)
    back, ok2, _ = cv2.calcOpticalFlowPyrLK(cur, prev, fwd, None, **lk)
    good = (ok1.ravel() == 1) & (ok2.ravel() == 1) & (np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 0.5)
    return pts.reshape(-1, 2)[good], fwd.reshape(-1, 2)[good]


def estimate_motion(prev: np.ndarray, cur: np.ndarray, *, max_zoom: float = MAX_ZOOM, coarse: bool = False) -> Motion:
    """The similarity that takes ``prev`` onto ``cur``, and whether to trust it.

    Sparse optical flow (pyramidal Lucas-Kanade on up to 200 corners of a
    copy at most 640 px wide, forward-backward checked) and a RANSAC
    similarity fit (a corner agrees within one work pixel). Trusted
    when at least 24 features and a quarter of those followed agree with it, the zoom
    stays within ``max_zoom`` and the mean brightness moved by less than 12
    grey levels (a flash or an exposure jump changes what the detector sees
    everywhere). A frame with too little texture to follow counts as still
    when it hardly changed (mean absolute difference under 1.5 levels).

    Parameters
    ----------
    prev, cur : (h, w) ndarray of uint8
        :func:`work_grey` copies of two consecutive frames, same shape.
    max_zoom : float, keyword-only
        Largest trusted change of scale per frame (0.03: 3%).
    coarse : bool, keyword-only
        Where the one-work-pixel fit fails on a copy 640 px wide or more
        (1080p and up), also try a fit within two work pixels of corners
        followed at half that size (at 4K the corners already are: a 480 px
        copy); a motion found so is reliable with reason ``'coarse'``: good
        enough to move what was seen, not to carry boxes on faces (the caller
        looks at them again).

    Returns
    -------
    Motion
    """
    prev, cur = np.asarray(prev), np.asarray(cur)
    if prev.shape != cur.shape or prev.ndim != 2 or prev.dtype != np.uint8:
        raise ValueError(f"need two uint8 grey pictures of one shape, got {prev.shape} {prev.dtype} and {cur.shape}")
    if abs(float(cur.mean()) - float(prev.mean())) > _FLASH_LEVELS:
        return Motion(np.eye(3), False, "flash")
    # Corners are followed on at most 640 px wide copies: fast, and a tenth of a pixel there is enough.
    down = 0
    small_prev, small_cur = prev, cur
    while small_prev.shape[1] > 640:
        small_prev, small_cur, down = cv2.pyrDown(small_prev), cv2.pyrDown(small_cur), down + 1
    src, dst = _follow(small_prev, small_cur)
    # The fit's tolerance stays one work pixel at 4K too (corners followed at 480 px): two
    # pixels there, on every frame, lost the hand-held 4K clip's faces of 32-64 px
    # (bench/RESULTS.md, issue 14); the looser fit is only a fallback the caller asks for.
    matrix, inliers = _similarity(src * 2 ** down, dst * 2 ** down)
    share = inliers / max(len(src), 1)
    if not _agrees(matrix, inliers, len(src)):
        if cv2.absdiff(prev, cur).mean() < _STATIC_LEVELS:
            return Motion(np.eye(3), True, "still", inliers, share)
        if coarse and (down or prev.shape[1] >= _COARSE_MIN_WIDTH):
            if not down:  # 1080p: corners followed again on a copy half as wide
                down = 1
                src, dst = _follow(cv2.pyrDown(prev), cv2.pyrDown(cur))
            loose, loose_inliers = _similarity(src * 2 ** down, dst * 2 ** down, _RANSAC_PX * 2 ** down)
            if _agrees(loose, loose_inliers, len(src)) and not _too_fast(loose, max_zoom):
                return Motion(loose, True, COARSE, loose_inliers, loose_inliers / len(src))
        return Motion(np.eye(3) if matrix is None else matrix, False, "lost", inliers, share)
    if _too_fast(matrix, max_zoom):
        return Motion(matrix, False, "zoom", inliers, share)
    return Motion(matrix, True, "ok", inliers, share)


def to_picture(matrix: np.ndarray, scale: float) -> np.ndarray:
    """A (3, 3) motion in work pixels (``scale`` picture -> work) as one in picture pixels."""
    s = np.diag([scale, scale, 1.0])
    return np.linalg.inv(s) @ np.asarray(matrix, np.float64) @ s


def transform_boxes(xyxy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Axis-aligned bounding boxes of ``xyxy`` boxes moved by a (3, 3) ``matrix``.

    Parameters
    ----------
    xyxy : (N, 4) array_like of float
    matrix : (3, 3) array_like

    Returns
    -------
    (N, 4) ndarray of float64
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    m = np.asarray(matrix, np.float64)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1)  # (N, 4, 2)
    moved = corners @ m[:2, :2].T + m[:2, 2]
    return np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
