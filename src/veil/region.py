"""From face boxes to the head regions that get anonymized.

A detector's face box spans brows to chin. Re-identification also uses hair
line, ears and jaw, so each box grows into a head region: wider on both sides,
more above (forehead, hair) than below (chin). The region's mask is rendered
conservatively: a pixel is covered when any part of it may fall inside, and it
is clipped exactly to the picture, so no edge row or column escapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import RegionShape
from .detections import Detections, Kind, Source, as_boxes, as_rows

__all__ = ["Regions", "head_regions", "regions_for", "union_mask", "box_pixels"]

# Of the extra height a region gets, this share goes above the face box.
_TOP_SHARE = 0.55


@dataclass(frozen=True, eq=False)
class Regions:
    """Regions to anonymize on one picture.

    Parameters
    ----------
    boxes : (N, 4) ndarray of float32
        Bounding boxes ``x1, y1, x2, y2`` of each region, in pixels, not clipped.
        For an ellipse, the ellipse is inscribed in its box.
    shape : RegionShape
        The shape of face regions.
    kinds : (N,) array_like of int, optional
        A :class:`veil.detections.Kind` per region (faces by default). Plates
        and text are covered as boxes, whatever ``shape`` says.
    """

    boxes: np.ndarray
    shape: RegionShape = RegionShape.ELLIPSE
    kinds: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        boxes = as_boxes(self.boxes, "region boxes")
        boxes.setflags(write=False)
        kinds = (np.zeros(len(boxes), np.int8) if self.kinds is None
                 else np.array(self.kinds, np.int8, copy=True).reshape(-1))
        if len(kinds) != len(boxes) or (kinds.size and (kinds.min() < 0 or kinds.max() > max(Kind))):
            raise ValueError("kinds must hold one Kind value per region")
        kinds.setflags(write=False)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "shape", RegionShape(self.shape))
        object.__setattr__(self, "kinds", kinds)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> "Regions":
        """The regions picked by ``index`` (an int, a slice, a boolean mask or indices), same shape."""
        index = as_rows(index)
        return Regions(self.boxes[index], self.shape, self.kinds[index])

    def __eq__(self, other) -> bool:
        if not isinstance(other, Regions):
            return NotImplemented
        return (self.shape == other.shape and np.array_equal(self.boxes, other.boxes)
                and np.array_equal(self.kinds, other.kinds))

    __hash__ = None  # type: ignore[assignment]  # equal by value, and its arrays are not hashable

    @classmethod
    def empty(cls, shape: RegionShape = RegionShape.ELLIPSE) -> "Regions":
        return cls(np.zeros((0, 4), np.float32), shape)

    def shape_of(self, i: int) -> RegionShape:
        """Region ``i``'s shape: ``shape`` for a face, a box for a plate or text."""
        return self.shape if self.kinds[i] == Kind.FACE else RegionShape.BOX

    def mask(self, height: int, width: int) -> np.ndarray:
        """Boolean ``(height, width)`` mask, True where any region covers."""
        faces = self.kinds == Kind.FACE
        if faces.all():
            return union_mask(self.boxes, self.shape, height, width)
        return (union_mask(self.boxes[faces], self.shape, height, width)
                | union_mask(self.boxes[~faces], RegionShape.BOX, height, width))

    def to_records(self) -> list[list[float]]:
        """Compact JSON geometry: one ``[x1, y1, x2, y2]`` per region (0.1 px)."""
        return [[round(float(v), 1) for v in b] for b in self.boxes]

    def kind_records(self) -> list[str] | None:
        """Each region's kind label (``face``, ``plate``, ``text``); None when all are faces."""
        if not (self.kinds != Kind.FACE).any():
            return None
        return [Kind(int(k)).label for k in self.kinds]


def head_regions(detections: Detections, *, scale: float = 1.5,
                 shape: RegionShape | str = RegionShape.ELLIPSE) -> Regions:
    """Grow face boxes into head regions.

    Parameters
    ----------
    detections : Detections
        Face boxes (any source: detected, interpolated, padded, predicted).
    scale : float, keyword-only
        Region width and height relative to the face box, >= 1.
    shape : RegionShape, keyword-only

    Returns
    -------
    Regions
        One region per box. For an ellipse with ``scale >= 1.5`` the face box
        lies inside the ellipse (its corners included). A box a person drew
        (``Source.MANUAL``) is the region itself: it does not grow; nor does a
        plate or text box (its detector grew it already), which is covered as a box.
    """
    if scale < 1:
        raise ValueError("scale must be >= 1")
    xyxy = detections.xyxy.astype(np.float32)
    fixed = (detections.source == Source.MANUAL) | (detections.kind != Kind.FACE)
    grow = np.where(fixed, 0.0, scale - 1.0).astype(np.float32)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    extra_w = grow * w
    extra_h = grow * h * 1.1  # a head is taller than a face box is
    boxes = np.stack([
        xyxy[:, 0] - extra_w / 2,
        xyxy[:, 1] - extra_h * _TOP_SHARE,
        xyxy[:, 2] + extra_w / 2,
        xyxy[:, 3] + extra_h * (1 - _TOP_SHARE),
    ], axis=1)
    return Regions(boxes, RegionShape(shape), detections.kind)


def regions_for(detections: Detections, config) -> Regions:
    """The regions a :class:`veil.config.Config` covers for these detections."""
    return head_regions(detections, scale=config.region_scale, shape=config.region_shape)


def box_pixels(boxes: np.ndarray, height: int, width: int) -> list[tuple[np.ndarray, slice, slice]]:
    """The pixels each box touches: ``(box, rows, cols)``, clipped; boxes outside left out.

    A box touches ``[floor(x1), ceil(x2)) x [floor(y1), ceil(y2))``.
    """
    out = []
    for box in np.asarray(boxes, np.float64).reshape(-1, 4):
        x1, y1, x2, y2 = box
        c0, c1 = max(int(np.floor(x1)), 0), min(int(np.ceil(x2)), int(width))
        r0, r1 = max(int(np.floor(y1)), 0), min(int(np.ceil(y2)), int(height))
        if c1 > c0 and r1 > r0:
            out.append((box, slice(r0, r1), slice(c0, c1)))
    return out


def union_mask(boxes: np.ndarray, shape: RegionShape | str, height: int, width: int) -> np.ndarray:
    """Render the union of region boxes (or their inscribed ellipses).

    Parameters
    ----------
    boxes : (N, 4) ndarray
    shape : RegionShape
    height, width : int
        Picture size; the mask is clipped to it exactly.

    Returns
    -------
    (height, width) ndarray of bool
    """
    mask = np.zeros((int(height), int(width)), dtype=bool)
    shape = RegionShape(shape)
    for (x1, y1, x2, y2), rows, cols in box_pixels(boxes, height, width):
        r0, r1, c0, c1 = rows.start, rows.stop, cols.start, cols.stop
        if shape is RegionShape.BOX:
            mask[r0:r1, c0:c1] = True
            continue
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        # Grow the axes by half a pixel diagonal: a pixel whose square touches the
        # ellipse is covered, not only one whose centre lies inside.
        ax, ay = (x2 - x1) / 2 + 0.7072, (y2 - y1) / 2 + 0.7072
        xs = (np.arange(c0, c1) + 0.5 - cx) / ax
        ys = (np.arange(r0, r1) + 0.5 - cy) / ay
        mask[r0:r1, c0:c1] |= (ys[:, None] ** 2 + xs[None, :] ** 2) <= 1.0
    return mask
