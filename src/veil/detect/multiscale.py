"""Multi-scale detection: a whole-frame pass plus magnified overlapping tiles.

A single CenterFace pass finds faces down to about 16-24 px; smaller faces
(crowds, wide shots) need the picture magnified, which costs the square of
the magnification. :class:`MultiScaleDetector` runs

1. a *whole-frame* pass at ``full_scale``, its longer side capped at
   ``full_max_side`` (large and medium faces, whole),
2. a *coarse* pass at ``coarse`` times that resolution, keeping boxes of at
   least ``coarse_min_face`` picture pixels: faces that fill much of the
   picture (close-ups) exceed what the network sees whole at full size, and
   a second look at large, hard faces (profile, occluded) confirms them,
3. optionally the whole-frame pass on the mirrored picture (``flip``),
4. *tiles*: the picture cut into overlapping windows magnified by
   ``upscale`` so the network sees about ``tile_size`` x ``tile_size`` pixels
   each (small faces). Tiles overlap by ``overlap`` picture pixels, so every
   face up to that size lies whole inside at least one tile. With
   ``adaptive`` only the tiles holding a weak small candidate of the
   whole-frame pass run.

Every pass collects candidates at a low ``probe_threshold``; :meth:`merge`
then fuses the scores of boxes several passes found for the same face,
keeps those reaching ``threshold`` and removes double boxes:

- a tile box touching one of the tile's inner edges (not the picture's) may
  be a cut face and is dropped -- the face lies whole in a neighbouring tile
  (overlap) or is large and the whole-frame pass's;
- one greedy NMS in which tile boxes come first for faces up to ``overlap``
  pixels and whole-frame boxes first for larger faces, so each face comes out
  once and from the pass that saw it best;
- a box lying mostly inside a much larger kept box (a magnified face's eye
  or mouth taken for a face) is dropped.

The merge is :func:`veil.detect.merge.merge_passes`; the tile grid and the
inner-edge rule are in :mod:`veil.detect.tiles`.

Defaults were chosen on WIDER FACE (val subset) and the face-mask set with
``bench/explore_detect.py``; see bench/RESULTS.md.
"""

from __future__ import annotations

import numpy as np

from ..detections import Detections
from .base import check_rgb, map_on
from .centerface import CenterFace
from .merge import Pass, merge_passes, only_in_tiles
from .tiles import holding, tile_grid, whole_in_tile

__all__ = ["MultiScaleDetector", "Pass", "tile_grid", "DEFAULT_FULL_MAX_SIDE", "DEFAULT_PROBE_THRESHOLD",
           "SMALL_FACE_NETWORK_PX", "CANDIDATE_MIN_NETWORK_PX"]

#: Longer side of the whole-frame pass, network pixels (bench/explore_detect.py).
DEFAULT_FULL_MAX_SIDE = 1280
#: Confidence of the candidates used for tile choice and score fusion.
DEFAULT_PROBE_THRESHOLD = 0.05
#: Network pixels below which the whole-frame pass misses many faces that the
#: magnified tiles find (CenterFace finds faces down to about 24 px).
SMALL_FACE_NETWORK_PX = 24.0
#: Network pixels below which the whole-frame pass gives too few candidates to
#: choose the tiles by: adaptive tiles need the smallest faces the tiles are for
#: (SMALL_FACE_NETWORK_PX / upscale picture pixels) to reach this size in it.
#: Measured on synthetic stills (bench/large_frames.py): at 1920x1080 the
#: whole-frame pass sees a 16 px face at 10.7 px, and candidate-chosen tiles
#: protect 97% of faces >= 16 px (deface 89%); at 2560x1440 (8 px) they found
#: 63% of faces of 16-32 px against 87% with every tile.
CANDIDATE_MIN_NETWORK_PX = 10.0

# Landmark order: left eye, right eye, nose, left mouth corner, right mouth corner.
_MIRROR_LANDMARKS = [1, 0, 2, 4, 3]


class MultiScaleDetector:
    """Whole-frame pass plus magnified overlapping tiles, merged without double boxes.

    Parameters
    ----------
    base : CenterFace
        The single-pass detector (anything with ``detect(rgb, *, scale, threshold)``
        and a ``threshold`` attribute).
    threshold : float or None, keyword-only
        Final confidence a face needs, after fusing the passes' scores (None:
        ``base.threshold``).
    full_scale : float, keyword-only
        Resolution of the whole-frame pass (1 = native).
    full_max_side : int or None, keyword-only
        Cap on the whole-frame pass's longer side in network pixels: large
        pictures are seen smaller (their small faces are the tiles' job).
        None: no cap.
    coarse : float or None, keyword-only
        Resolution of the coarse pass relative to the whole-frame pass (0.5:
        a quarter of its cost). ``0`` or ``None`` disables it.
    coarse_min_face : float, keyword-only
        Boxes of the coarse pass smaller than this (picture pixels, longer
        side) are dropped: small faces are the other passes' job, and its
        small boxes are mostly false detections.
    upscale : float or None, keyword-only
        Magnification of the tiles (1.5 finds faces two thirds the size of
        what the native pass finds, at 2.25 times the cost per pixel). ``0`` or
        ``None`` disables tiles.
    tile_size : int, keyword-only
        Side of a tile as the network sees it, in network pixels (multiple of 32).
    overlap : int, keyword-only
        Overlap of neighbouring tiles in picture pixels: the largest face the
        tiles must see whole. Larger faces are the whole-frame pass's.
    adaptive : bool, keyword-only
        Run only the tiles that contain a candidate small face (a whole-frame
        box no larger than ``overlap`` scoring at least ``probe_threshold``).
        Measured on WIDER FACE (val subset): about 40% of the tiles run, with
        no loss of coverage; on ordinary 1080p frames almost none run. Its
        blind spot: tiny faces too faint for any candidate -- on a synthetic
        1080p frame of 40 isolated 12-16 px faces at upscale 1.5 it found 75%
        against 87.5% with every tile. Pictures so large that the whole-frame
        pass sees the tiles' smallest faces under
        :data:`CANDIDATE_MIN_NETWORK_PX` (longer side over 2048 px with the
        defaults: 1440p, 4K) run every tile regardless (:meth:`adaptive_for`).
        False: run every tile.
    probe_threshold : float, keyword-only
        Confidence at which every pass collects candidate boxes (for the tile
        choice and for score fusion); below ``threshold``.
    fuse : bool, keyword-only
        Combine the scores that different passes gave the same face (one NMS
        cluster) as ``1 - prod(1 - s)``: a face two passes saw weakly is kept,
        a texture one pass saw weakly is not.
    flip : bool, keyword-only
        Also run the whole-frame pass on the mirrored picture.
    min_face : float, keyword-only
        Drop merged boxes narrower than this many picture pixels.
    nms_iou : float, keyword-only
        IoU at which boxes count as one face. At low confidence CenterFace
        leaves shifted duplicates that overlap by 0.2-0.3 (one pass at
        threshold 0.1 puts two boxes on 21% of WIDER faces); 0.2 merges them.

    Notes
    -----
    Holds no per-call state: one object may serve several threads (see
    :mod:`veil.detect.centerface` for the model's own locking).
    """

    def __init__(self, base: CenterFace, *, threshold: float | None = None, full_scale: float = 1.0,
                 full_max_side: int | None = DEFAULT_FULL_MAX_SIDE, coarse: float | None = 0.5,
                 coarse_min_face: float = 64.0, upscale: float | None = 1.5,
                 tile_size: int = 640, overlap: int = 48, adaptive: bool = True,
                 probe_threshold: float = DEFAULT_PROBE_THRESHOLD, fuse: bool = True, flip: bool = False,
                 min_face: float = 0.0, nms_iou: float = 0.2) -> None:
        threshold = _checked(base, threshold=threshold, full_scale=full_scale, full_max_side=full_max_side,
                             coarse=coarse, upscale=upscale, tile_size=tile_size, overlap=overlap,
                             probe_threshold=probe_threshold)
        self.base = base
        self.threshold = threshold
        self.full_scale = float(full_scale)
        self.full_max_side = full_max_side
        self.coarse = float(coarse) if coarse else 0.0
        self.coarse_min_face = float(coarse_min_face)
        self.upscale = float(upscale) if upscale else 0.0
        self.tile_size = int(tile_size)
        self.overlap = int(overlap)
        self.adaptive = bool(adaptive)
        self.probe_threshold = float(probe_threshold)
        self.fuse = bool(fuse)
        self.flip = bool(flip)
        self.min_face = float(min_face)
        self.nms_iou = float(nms_iou)

    def __repr__(self) -> str:
        return (f"MultiScaleDetector({self.base!r}, threshold={self.threshold}, full_scale={self.full_scale}, "
                f"full_max_side={self.full_max_side}, coarse={self.coarse}, upscale={self.upscale}, "
                f"tile_size={self.tile_size}, "
                f"overlap={self.overlap}, adaptive={self.adaptive}, flip={self.flip})")

    # -- passes -------------------------------------------------------------
    def _full_scale_for(self, shape: tuple[int, ...]) -> float:
        scale = self.full_scale
        if self.full_max_side:
            scale = min(scale, self.full_max_side / max(shape[:2]))
        return scale

    def pass_scales(self, shape: tuple[int, ...]) -> dict[str, float]:
        """Network pixels per picture pixel of each pass that runs on a picture of ``shape``.

        Keys ``'full'``, and ``'coarse'`` and ``'tiles'`` where those passes are on.
        """
        scales = {"full": self._full_scale_for(shape)}
        if self.coarse:
            scales["coarse"] = scales["full"] * self.coarse
        if self.upscale:
            scales["tiles"] = self.upscale
        return scales

    def full_pass(self, rgb: np.ndarray, *, flip: bool = False, threshold: float | None = None,
                  windows: list[tuple[int, int, int, int]] | None = None) -> Detections:
        """The whole-frame pass (on the mirrored picture if ``flip``), in ``rgb``'s pixels.

        ``threshold`` defaults to the final ``threshold`` (not the probe's).
        With ``windows`` (not with ``flip``), the pass runs at its own scale
        on those parts of the picture only (see :meth:`window_pass`).
        """
        rgb = check_rgb(rgb)
        thr = self.threshold if threshold is None else threshold
        scale = self._full_scale_for(rgb.shape)
        if windows is not None:
            if flip:
                raise ValueError("a flipped pass runs on the whole picture only")
            return self.window_pass(rgb, windows=windows, scale=scale, threshold=thr)
        if not flip:
            return self.base.detect(rgb, scale=scale, threshold=thr)
        dets = self.base.detect(np.ascontiguousarray(rgb[:, ::-1]), scale=scale, threshold=thr)
        return _mirrored(dets, rgb.shape[1]) if len(dets) else dets

    def coarse_pass(self, rgb: np.ndarray, *, threshold: float | None = None,
                    windows: list[tuple[int, int, int, int]] | None = None) -> Detections:
        """The coarse pass: large faces only, in ``rgb``'s pixels (empty when ``coarse`` is off).

        With ``windows``, on those parts of the picture only (see :meth:`window_pass`).
        """
        rgb = check_rgb(rgb)
        if not self.coarse:
            return Detections.empty()
        thr = self.threshold if threshold is None else threshold
        scale = self._full_scale_for(rgb.shape) * self.coarse
        if windows is not None:
            dets = self.window_pass(rgb, windows=windows, scale=scale, threshold=thr)
        else:
            dets = self.base.detect(rgb, scale=scale, threshold=thr)
        if not len(dets):
            return dets
        return dets[np.maximum(dets.widths, dets.heights) >= self.coarse_min_face]

    def tiles(self, shape: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
        """All tile windows ``(x0, y0, x1, y1)`` in picture pixels for a picture of ``shape``."""
        if not self.upscale:
            return []
        h, w = shape[:2]
        side = max(self.overlap + 1, int(self.tile_size / self.upscale))
        return [(x0, y0, x1, y1) for y0, y1 in tile_grid(h, side, self.overlap)
                for x0, x1 in tile_grid(w, side, self.overlap)]

    def adaptive_for(self, shape: tuple[int, ...]) -> bool:
        """Whether the tiles for a picture of ``shape`` may be chosen by the whole-frame pass's candidates.

        True when ``adaptive`` and that pass sees the smallest faces the tiles
        are for (``SMALL_FACE_NETWORK_PX / upscale`` picture pixels) at
        :data:`CANDIDATE_MIN_NETWORK_PX` or more. On larger pictures its
        downscaling hides them, so every tile runs: at 3840x2160 the
        candidates alone found 41% of faces of 16-32 px and 79% of larger ones,
        against 86% and 100% with every tile (bench/large_frames.py).
        """
        if not self.adaptive or not self.upscale:
            return False
        smallest = SMALL_FACE_NETWORK_PX / self.upscale
        return smallest * self._full_scale_for(shape) >= CANDIDATE_MIN_NETWORK_PX

    def downscales(self, shape: tuple[int, ...]) -> bool:
        """Whether the whole-frame pass sees a picture of ``shape`` smaller than it is.

        Its candidates then miss faint small faces that the tiles find: a
        masked 34 px face at 1080p scored 0.01-0.03 there, under
        ``probe_threshold``, and 0.1-0.25 in the tiles (bench/RESULTS.md,
        "Below 2048 px"). A photo of such a ``shape`` gets every tile
        (:meth:`photo_tiles`).
        """
        return self._full_scale_for(shape) < 1.0

    def photo_tiles(self, shape: tuple[int, ...]) -> str | None:
        """:meth:`detect`'s ``tiles`` for a photo of ``shape``: ``'all'`` where :meth:`downscales`, else None.

        On synthetic 1080p stills every tile protected 96.1% of faces >= 16 px
        against 93.1% for the tiles the candidates choose, for 1.8-1.9x the time
        (bench/large_frames.py). A video's frames of such a ``shape`` are
        planned from motion instead (``veil.track.scan.plans_motion``): every
        tile on every 1080p frame costs several times the scan.
        """
        return "all" if self.upscale and self.downscales(shape) else None

    def select_tiles(self, shape: tuple[int, ...], probes: Detections) -> list[tuple[int, int, int, int]]:
        """The tiles worth running: all of them, or (``adaptive``) those holding a small candidate.

        Parameters
        ----------
        shape : tuple
            Picture shape.
        probes : Detections
            Whole-frame candidates at ``probe_threshold``.
        """
        windows = self.tiles(shape)
        if not self.adaptive_for(shape) or not windows:
            return windows
        small = probes[np.maximum(probes.widths, probes.heights) <= self.overlap] if len(probes) else probes
        if not len(small):
            return []
        return holding(windows, small.centers)

    def tile_pass(self, rgb: np.ndarray, *, windows: list[tuple[int, int, int, int]] | None = None,
                  threshold: float | None = None, pool=None) -> Detections:
        """Boxes found whole in magnified tiles, in ``rgb``'s pixels.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        windows : list of (x0, y0, x1, y1), optional, keyword-only
            Tiles to run (default: all of :meth:`tiles`).
        threshold : float, optional, keyword-only
            Default: the final ``threshold``.
        pool : concurrent.futures.Executor, optional, keyword-only
            Runs the tiles side by side (see :meth:`window_pass`).
        """
        rgb = check_rgb(rgb)
        if windows is None:
            windows = self.tiles(rgb.shape)
        return self.window_pass(rgb, windows=windows, scale=self.upscale, threshold=threshold, pool=pool)

    def window_pass(self, rgb: np.ndarray, *, windows: list[tuple[int, int, int, int]], scale: float,
                    threshold: float | None = None, pool=None) -> Detections:
        """Boxes found whole in windows of the picture seen at ``scale``, in ``rgb``'s pixels.

        A box touching a window's edge inside the picture may be a cut face
        and is dropped: it lies whole in a neighbouring window (tiles overlap)
        or is larger than a window's margin and another pass's.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        windows : list of (x0, y0, x1, y1), keyword-only
            Integer picture pixels, inside the picture.
        scale : float, keyword-only
            Network pixels per picture pixel.
        threshold : float, optional, keyword-only
            Default: the final ``threshold``.
        pool : concurrent.futures.Executor, optional, keyword-only
            Runs the windows' network calls on its threads (results in
            ``windows``' order, so the outcome is the same): with a base
            detector on one thread per call, a caller that has the cores to
            itself (the residual check after encoding) uses all of them.
        """
        rgb = check_rgb(rgb)
        thr = self.threshold if threshold is None else threshold
        h, w = rgb.shape[:2]

        def one(window):
            x0, y0, x1, y1 = window
            dets = self.base.detect(rgb[y0:y1, x0:x1], scale=scale, threshold=thr)
            return whole_in_tile(dets, window, (h, w)) if len(dets) else dets

        return Detections.concatenate([d for d in map_on(pool, one, list(windows)) if len(d)])

    def passes(self, rgb: np.ndarray, *, tiles: str | None = None, pool=None) -> list[Pass]:
        """Every pass of the plan at ``probe_threshold``, not yet merged.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        tiles : {'adaptive', 'all', 'none'} or None, keyword-only
            Which tiles run; None follows ``adaptive``. A video pipeline may run
            ``'all'`` every few frames and ``'adaptive'`` or ``'none'`` between.
        pool : concurrent.futures.Executor, optional, keyword-only
            Runs the tiles side by side (see :meth:`window_pass`).
        """
        rgb = check_rgb(rgb)
        mode = tiles if tiles is not None else ("adaptive" if self.adaptive else "all")
        if mode not in ("adaptive", "all", "none"):
            raise ValueError(f"tiles must be 'adaptive', 'all' or 'none', not {tiles!r}")
        probe = self.probe_threshold
        out = [Pass("full", self.full_pass(rgb, threshold=probe))]
        if self.coarse:
            out.append(Pass("coarse", self.coarse_pass(rgb, threshold=probe)))
        if self.flip:
            out.append(Pass("flip", self.full_pass(rgb, flip=True, threshold=probe)))
        if mode != "none":
            out = self.with_tiles(rgb, out, all_tiles=mode == "all", pool=pool)
        return out

    def with_tiles(self, rgb: np.ndarray, passes: list[Pass], *, all_tiles: bool | None = None,
                   pool=None) -> list[Pass]:
        """``passes`` (whole-frame passes of ``rgb``) plus the tile pass.

        The tiles run where :meth:`select_tiles` picks them from ``passes``'
        candidates (all of them unless ``adaptive`` applies, see
        :meth:`adaptive_for`), or all of them with ``all_tiles``. A video
        pipeline calls this later for a frame whose tiles it skipped at first
        (``tile_every``). ``passes`` is not modified. ``pool`` runs the tiles
        side by side (see :meth:`window_pass`).
        """
        rgb = check_rgb(rgb)
        if not self.upscale:
            return list(passes)
        if all_tiles:
            windows = self.tiles(rgb.shape)
        else:
            windows = self.select_tiles(rgb.shape, Detections.concatenate([p.detections for p in passes]))
        tiles = self.tile_pass(rgb, windows=windows, threshold=self.probe_threshold, pool=pool)
        return [*passes, Pass("tiles", tiles, small=True)]

    def tiles_only_small(self, shape: tuple[int, ...], passes: list[Pass], merged: Detections) -> int:
        """How many of ``merged``'s faces only the tiles found, and small.

        Such a face has no whole-frame candidate (any score) overlapping it at
        IoU >= 0.3, and the whole-frame pass sees it under
        :data:`SMALL_FACE_NETWORK_PX` network pixels, below the size it finds
        reliably on its own. A video pipeline runs the tiles on every frame
        where such faces are about.

        Parameters
        ----------
        shape : tuple
            Picture shape.
        passes : list of Pass
            The passes ``merged`` came from.
        merged : Detections
            :meth:`merge` of ``passes``.
        """
        if not len(merged) or not any(p.name == "tiles" for p in passes):
            return 0
        return only_in_tiles(passes, merged, smaller_than=SMALL_FACE_NETWORK_PX / self._full_scale_for(shape))

    # -- merge --------------------------------------------------------------
    def merge(self, passes: list[Pass]) -> Detections:
        """One box per face from several passes' candidates.

        :func:`veil.detect.merge.merge_passes` with this detector's
        ``threshold``, ``overlap``, ``nms_iou``, ``fuse`` and ``min_face``:
        one NMS clustering of every pass's candidates (tile boxes lead for
        faces up to ``overlap``), the scores each cluster got from several
        passes fused, boxes nested in a much larger face's box dropped.
        """
        return merge_passes(passes, threshold=self.threshold, overlap=self.overlap, nms_iou=self.nms_iou,
                            fuse=self.fuse, min_face=self.min_face)

    def detect(self, rgb: np.ndarray, *, tiles: str | None = None, pool=None) -> Detections:
        """Find faces of every size in one picture.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
        tiles : {'adaptive', 'all', 'none'} or None, keyword-only
            Which tiles run (see :meth:`passes`); None follows ``adaptive``.
        pool : concurrent.futures.Executor, optional, keyword-only
            Runs the tiles side by side (see :meth:`window_pass`).

        Returns
        -------
        Detections
            One box per face, in ``rgb``'s pixels, with scores (fused, see
            :meth:`merge`) and landmarks.

        Raises
        ------
        ValueError
            ``rgb`` is not an ``(H, W, 3)`` uint8 array.
        """
        return self.merge(self.passes(rgb, tiles=tiles, pool=pool))


def _checked(base: CenterFace, *, threshold: float | None, full_scale: float, full_max_side: int | None,
             coarse: float | None, upscale: float | None, tile_size: int, overlap: int,
             probe_threshold: float) -> float:
    """The final threshold of a :class:`MultiScaleDetector`; ``ValueError`` on a setting out of range."""
    if not full_scale > 0:
        raise ValueError("full_scale must be > 0")
    if full_max_side is not None and full_max_side < 32:
        raise ValueError("full_max_side must be at least 32")
    if coarse is not None and not 0 <= coarse < 1:
        raise ValueError("coarse must be in [0, 1)")
    if upscale is not None and upscale < 0:
        raise ValueError("upscale must be >= 0")
    if tile_size < 64 or tile_size % 32:
        raise ValueError("tile_size must be a multiple of 32, at least 64")
    if upscale and not 0 <= overlap < tile_size / upscale:
        raise ValueError("overlap must be >= 0 and smaller than a tile (tile_size / upscale)")
    threshold = base.threshold if threshold is None else float(threshold)
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be between 0 and 1")
    if not 0.0 < probe_threshold <= threshold:
        raise ValueError("probe_threshold must be in (0, threshold]")
    return threshold


def _mirrored(dets: Detections, width: int) -> Detections:
    """Boxes found on the mirrored picture, in the picture's pixels (landmarks swapped left/right)."""
    xyxy = np.stack([width - dets.xyxy[:, 2], dets.xyxy[:, 1], width - dets.xyxy[:, 0], dets.xyxy[:, 3]], axis=1)
    lms = dets.landmarks[:, _MIRROR_LANDMARKS].copy()
    lms[:, :, 0] = width - lms[:, :, 0]
    return dets.replace(xyxy=xyxy, landmarks=lms)
