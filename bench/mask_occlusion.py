"""Occlusions for the mask study: MaskTheFace templates and plain bands.

Every occlusion is defined once, in the frame of the recognizer's *chip*: the
150 x 150 picture dlib's ResNet embeds (``Recognizer.chip``, padding 0.25),
in which dlib's 5 landmarks of every face fall on the same places (eye
corners near y = 46, the base of the nose near (74, 88)). The chip spans from
mid-forehead to just below the chin and from ear to ear; it is the study's
**face box**, and the *visible share* of an occlusion is the share of the
chip's pixels it leaves uncovered. An occlusion is carried into a photo with
the chip's affine map (:func:`chip_affine`), so it follows each face's
position, size and roll.

* **Bands** hide whole chip rows: from the chin up (a scarf, a neck gaiter
  pulled up) or from the forehead down (a hood, a cap pulled low), leaving a
  chosen share visible. They are filled with plain grey (:data:`BAND_FILL`).
* **Mask templates** (MaskTheFace, MIT) come with six anchor points in
  ``masks.cfg``: a/c the top corners, b the top centre (nose bridge), d/f the
  lower corners, e the bottom (chin). MaskTheFace places them on points of
  dlib's 68-point face outline; veil only uses the 5-point model, so the six
  face points are fixed in the chip frame (:data:`FACE_ANCHORS`), read off the
  mean aligned face of the LFW subset (``docs/mask-study/anchors.png``):
  a/c on the face outline at the height of the nose tip, b halfway down the
  nose bridge, d/f on the outline at the lower lip, e under the chin. A mask
  therefore has the same shape on every face up to position, size and roll
  (no yaw, no jaw shape): a limit the study states.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from veil.verify.recognizer import CHIP_PADDING, CHIP_SIZE

__all__ = ["FACE_ANCHORS", "FACE_OVAL", "BAND_FILL", "FAMILIES", "Template", "Occlusion", "chip_affine",
           "chip_coords", "load_templates", "band", "landmarks_visible", "oval_mask"]

#: The six MaskTheFace anchor points on a face, in chip pixels (x, y), order a..f.
FACE_ANCHORS = np.array([(19.0, 77.0), (74.0, 61.0), (129.0, 77.0),
                         (28.0, 116.0), (74.0, 143.0), (120.0, 116.0)])
#: The face oval in chip pixels (cx, cy, half-width, half-height): cheek to cheek at
#: the nose, top of the chip (forehead) to its bottom (below the chin).
FACE_OVAL = (74.0, 75.0, 57.0, 75.0)
#: Fill of the plain bands (RGB).
BAND_FILL = (128, 128, 128)
#: Occlusion families, in table order.
FAMILIES = ("none", "mask", "chin-up", "forehead-down")
_ANCHOR_KEYS = ("mask_a", "mask_b", "mask_c", "mask_d", "mask_e", "mask_f")


def chip_affine(shape, *, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """The affine map from chip pixels to picture pixels of one face.

    Reproduces dlib's ``get_mapping_to_chip`` (inverted): the chip's corners
    are the corners of ``get_face_chip_details``'s rectangle, rotated by its
    angle about the rectangle's centre.

    Parameters
    ----------
    shape : dlib.full_object_detection
        5-point landmarks.

    Returns
    -------
    (2, 3) ndarray of float64
        ``[x, y] = A[:, :2] @ [u, v] + A[:, 2]`` for chip pixel ``(u, v)``.
    """
    import dlib

    d = dlib.get_face_chip_details(shape, size=int(size), padding=float(padding))
    r = d.rect
    cx, cy = (r.left() + r.right()) / 2.0, (r.top() + r.bottom()) / 2.0
    c, s = np.cos(d.angle), np.sin(d.angle)

    def rot(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - cx, y - cy
        return cx + c * dx - s * dy, cy + s * dx + c * dy

    src = np.float32([(0, 0), (d.cols - 1, 0), (d.cols - 1, d.rows - 1)])
    dst = np.float32([rot(r.left(), r.top()), rot(r.right(), r.top()), rot(r.right(), r.bottom())])
    return cv2.getAffineTransform(src, dst).astype(np.float64)


def chip_coords(affine: np.ndarray, height: int, width: int) -> np.ndarray:
    """Chip coordinates ``(u, v)`` of every picture pixel centre: ``(height, width, 2)`` float64."""
    inv = cv2.invertAffineTransform(np.asarray(affine, np.float64))
    ys, xs = np.mgrid[0:int(height), 0:int(width)].astype(np.float64)
    u = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    v = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return np.stack([u, v], axis=-1)


def oval_mask(uv: np.ndarray) -> np.ndarray:
    """True where chip coordinates ``(..., 2)`` fall inside :data:`FACE_OVAL`."""
    cx, cy, ax, ay = FACE_OVAL
    return ((uv[..., 0] - cx) / ax) ** 2 + ((uv[..., 1] - cy) / ay) ** 2 <= 1.0


@dataclass(frozen=True, eq=False)
class Template:
    """A MaskTheFace mask picture and its six anchor points.

    Parameters
    ----------
    name : str
    rgba : (H, W, 4) uint8
        RGB plus alpha (the mask's outline).
    anchors : (6, 2) float64
        Template pixels of the points a..f of ``masks.cfg``.
    """

    name: str
    rgba: np.ndarray
    anchors: np.ndarray

    def __post_init__(self) -> None:
        rgba = np.asarray(self.rgba)
        if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
            raise ValueError(f"template {self.name!r}: expected (H, W, 4) uint8, got {rgba.shape} {rgba.dtype}")
        anchors = np.asarray(self.anchors, np.float64).reshape(6, 2)
        object.__setattr__(self, "anchors", anchors)

    def to_chip(self) -> np.ndarray:
        """(3, 3) homography from template pixels to chip pixels (least squares on the 6 points)."""
        h, _ = cv2.findHomography(self.anchors, FACE_ANCHORS, 0)
        if h is None:
            raise ValueError(f"template {self.name!r}: degenerate anchor points")
        return h


def load_templates(root: Path, names=("surgical", "cloth", "N95", "KN95")) -> list[Template]:
    """Read MaskTheFace templates and their anchors from ``root`` (the folder holding ``masks/``)."""
    cfg = configparser.ConfigParser(inline_comment_prefixes=(";",))
    cfg.read(Path(root) / "masks" / "masks.cfg")
    out = []
    for name in names:
        if name not in cfg:
            raise ValueError(f"no template {name!r} in {Path(root) / 'masks' / 'masks.cfg'}")
        sec = cfg[name]
        rgba = cv2.imread(str(Path(root) / sec["template"]), cv2.IMREAD_UNCHANGED)
        if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
            raise ValueError(f"template {name!r}: unreadable or without alpha")
        rgba = np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]])
        anchors = [tuple(float(v) for v in sec[k].split(",")) for k in _ANCHOR_KEYS]
        out.append(Template(name, rgba, np.array(anchors)))
    return out


@dataclass(frozen=True, eq=False)
class Occlusion:
    """One way of covering a face.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.
    level : float or None
        Bands: the visible share asked for, in (0, 1]. Otherwise None.
    template : Template or None
        Masks only.
    """

    family: str
    level: float | None = None
    template: Template | None = None
    _hidden: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown occlusion family {self.family!r}")
        if (self.family == "mask") != (self.template is not None):
            raise ValueError("a template is given with, and only with, the 'mask' family")
        if self.family in ("chin-up", "forehead-down") and not (self.level is not None and 0 < self.level <= 1):
            raise ValueError("a band needs a visible share in (0, 1]")
        object.__setattr__(self, "_hidden", self._chip_hidden())

    @property
    def name(self) -> str:
        """``none``, ``mask:<template>`` or ``<band>:<visible %>``."""
        if self.family == "mask":
            return f"mask:{self.template.name}"
        if self.family == "none":
            return "none"
        return f"{self.family}:{round(100 * self.level)}"

    def _band_edge(self) -> float:
        rows = int(round(self.level * CHIP_SIZE))
        return rows - 0.5 if self.family == "chin-up" else CHIP_SIZE - rows - 0.5

    def _band_hidden(self, v: np.ndarray) -> np.ndarray:
        edge = self._band_edge()
        return v > edge if self.family == "chin-up" else v < edge

    def _chip_hidden(self) -> np.ndarray:
        if self.family == "none":
            return np.zeros((CHIP_SIZE, CHIP_SIZE), bool)
        if self.family == "mask":
            alpha = cv2.warpPerspective(self.template.rgba[:, :, 3], self.template.to_chip(),
                                        (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR)
            return alpha > 127
        v = np.arange(CHIP_SIZE, dtype=np.float64)[:, None] * np.ones((1, CHIP_SIZE))
        return self._band_hidden(v)

    @property
    def chip_hidden(self) -> np.ndarray:
        """(150, 150) bool: the chip pixels this occlusion hides (a copy)."""
        return self._hidden.copy()

    @property
    def visible_share(self) -> float:
        """Share of the face box (the chip) left visible: the claim the tests check."""
        return 1.0 - float(self._hidden.mean())

    def apply(self, rgb: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cover the face whose chip maps to the picture by ``affine``.

        Parameters
        ----------
        rgb : (H, W, 3) uint8
            Not modified.
        affine : (2, 3) float64
            From :func:`chip_affine`.

        Returns
        -------
        covered : (H, W, 3) uint8
        hidden : (H, W) bool
            The picture pixels the occlusion covers.
        """
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB picture, got {rgb.shape} {rgb.dtype}")
        h, w = rgb.shape[:2]
        out = rgb.copy()
        if self.family == "none":
            return out, np.zeros((h, w), bool)
        if self.family == "mask":
            to_img = np.vstack([affine, [0.0, 0.0, 1.0]]) @ self.template.to_chip()
            warped = cv2.warpPerspective(self.template.rgba, to_img, (w, h), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            hidden = warped[:, :, 3] > 127
            out[hidden] = warped[:, :, :3][hidden]
            return out, hidden
        hidden = self._band_hidden(chip_coords(affine, h, w)[..., 1])
        out[hidden] = BAND_FILL
        return out, hidden


def band(family: str, visible: float) -> Occlusion:
    """A plain band (``'chin-up'`` or ``'forehead-down'``) leaving ``visible`` of the face box."""
    if family not in ("chin-up", "forehead-down"):
        raise ValueError(f"not a band family: {family!r}")
    return Occlusion(family, float(visible))


def landmarks_visible(points: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Which landmarks an occlusion leaves visible.

    Parameters
    ----------
    points : (5, 2) array of (x, y) picture pixels
    hidden : (H, W) bool

    Returns
    -------
    (5,) bool
        True where the landmark's nearest pixel is not hidden (outside the picture counts visible).
    """
    pts = np.rint(np.asarray(points, np.float64)).astype(int)
    h, w = hidden.shape
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    out = np.ones(len(pts), bool)
    out[inside] = ~hidden[pts[inside, 1], pts[inside, 0]]
    return out
