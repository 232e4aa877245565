"""Synthetic text and licence plates rendered into pictures, with exact ground truth.

Used by ``bench/plates_coverage.py`` (the synthetic text set and synthetic
plates in 1080p frames). Text is drawn with OpenCV's Hershey fonts (built
into every OpenCV, so the pictures are the same on every machine) on a
patch four times larger than the target, then rotated, shrunk and blended
into the picture with its anti-aliased coverage, so small text looks like a
camera's small text (smooth edges), not like hard pixel fonts.

Ground truth of each item, in picture pixels:

* ``ink``: the axis-aligned box of the drawn glyph pixels (alpha >= 0.5 after
  warping): what must be covered;
* ``plate``: for plates, the axis-aligned box of the whole plate;
* ``height``: the glyph height (text) or plate height (plates) before
  rotation, the size the results are binned by.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
SUPER = 4  # patches are drawn this many times larger, then shrunk (anti-aliasing)
WORDS = ("Station", "EXIT", "Hamilton", "badge 4471", "Maria G.", "POLICE", "Apt 12b", "Rue du Temple",
         "+44 20 7946 0958", "jury", "gyp", "Quality", "NO PARKING", "Dr. K. Osei", "VOTE", "ID 88213")
PLATE_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@dataclass
class Item:
    kind: str  # "text" or "plate"
    text: str
    height: float  # glyph (text) or plate height before rotation, picture px
    angle: float  # degrees, counter-clockwise
    ink: np.ndarray  # (4,) xyxy of the glyph pixels
    plate: np.ndarray | None  # (4,) xyxy of the plate (plates only)


def _patch(text: str, glyph: float, font: int, *, pad_share: float, thickness_ratio: float):
    """Glyph coverage (h, w) float32 of ``text``, drawn SUPER x with glyphs ``glyph`` px tall (top of
    ascenders to bottom of descenders), padded by ``pad_share`` of that height."""
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 1)
    scale = glyph * SUPER / (th + base)
    thick = max(1, int(round(glyph * SUPER * thickness_ratio)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = int(round(glyph * SUPER * pad_share)) + thick
    ink = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(ink, text, (pad, pad + th), font, scale, 255, thick, cv2.LINE_AA)
    return ink.astype(np.float32) / 255


def _box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float) if len(xs) else np.zeros(4)


def render(picture: np.ndarray, text: str, *, height: float, angle: float, center: tuple[float, float],
           font: int = cv2.FONT_HERSHEY_SIMPLEX, color=(20, 20, 20), panel=None, plate: bool = False,
           thickness_ratio: float = 0.09) -> tuple[np.ndarray, Item]:
    """``picture`` with ``text`` drawn (a copy), and its ground truth.

    Parameters
    ----------
    height : float
        Glyph height in picture pixels; for a ``plate``, the plate's height.
    angle : float
        Degrees counter-clockwise.
    panel : RGB or None
        Draw the text on a rectangle of this colour (a sign, a label).
    plate : bool
        The panel is a licence plate: a dark rim, characters ~60% of its height.
    """
    if plate and panel is None:
        raise ValueError("a plate needs a panel colour")
    glyph = height * 0.6 if plate else height
    ink = _patch(text, glyph, font, pad_share=0.35 if plate else 0.25, thickness_ratio=thickness_ratio)
    ph, pw = ink.shape
    colour = np.empty((ph, pw, 3), np.float32)
    colour[:] = panel if panel is not None else color
    if plate:
        cv2.rectangle(colour, (0, 0), (pw - 1, ph - 1), (30, 30, 30), max(1, int(round(ph * 0.05))))
    colour = colour * (1 - ink[..., None]) + np.float32(color) * ink[..., None]
    alpha = np.ones_like(ink) if panel is not None else ink
    k = height * SUPER / ph if plate else 1.0  # the patch is the plate
    m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, k / SUPER)
    m[:, 2] += np.array(center) - np.array([pw / 2, ph / 2])
    H, W = picture.shape[:2]
    sigma = 0.4 * SUPER / k  # low-pass before shrinking: no aliasing

    def warp(a):
        a = cv2.GaussianBlur(a, (0, 0), sigma)
        return cv2.warpAffine(a, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)

    a, i, c = warp(alpha), warp(ink), warp(colour)
    out = picture.astype(np.float32) * (1 - a[..., None]) + c * a[..., None]
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return out, Item("plate" if plate else "text", text, float(height), float(angle), _box(i >= 0.5),
                     _box(a >= 0.5) if plate else None)


def random_plate_text(rng: np.random.Generator) -> str:
    n = int(rng.integers(5, 8))
    s = "".join(rng.choice(list(PLATE_CHARS), n))
    return s[:3] + " " + s[3:] if n > 5 and rng.random() < 0.6 else s


# -- synthetic sets ------------------------------------------------------------------
PANELS = ((235, 235, 225), (250, 205, 40), (25, 60, 140), (200, 30, 30), (30, 30, 30))
PLATE_COLOURS = (((240, 240, 235), (20, 20, 20)), ((250, 200, 30), (20, 20, 20)), ((30, 30, 30), (235, 235, 235)))


def _free(placed: list, box: np.ndarray, margin: float) -> bool:
    x0, y0, x1, y1 = box
    return all(x1 + margin <= b[0] or b[2] + margin <= x0 or y1 + margin <= b[1] or b[3] + margin <= y0
               for b in placed)


def scatter(background: np.ndarray, rng: np.random.Generator, *, heights, count: int, plates: bool,
            max_angle: float = 30.0) -> tuple[np.ndarray, list[Item]]:
    """``count`` words (or plates) of random heights from ``heights`` and angles in
    ``[-max_angle, max_angle]`` drawn at free random places of ``background`` (a copy)."""
    pic, items, placed = background.copy(), [], []
    H, W = pic.shape[:2]
    for _ in range(count * 20):
        if len(items) == count:
            break
        h = float(rng.choice(heights))
        angle = float(rng.uniform(-max_angle, max_angle))
        font = FONTS[int(rng.integers(len(FONTS)))]
        if plates:
            text = random_plate_text(rng)
            panel, colour = PLATE_COLOURS[int(rng.integers(len(PLATE_COLOURS)))]
        else:
            text = WORDS[int(rng.integers(len(WORDS)))]
            panel = PANELS[int(rng.integers(len(PANELS)))] if rng.random() < 0.75 else None
            colour = None
        size = h * 0.45 * max(len(text), 4)  # rough extent, for placement only
        cx, cy = rng.uniform(size / 2 + 4, W - size / 2 - 4), rng.uniform(size / 2 + 4, H - size / 2 - 4)
        if size + 8 >= min(W, H):
            continue
        box = np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
        if not _free(placed, box, 4):
            continue
        if colour is None:  # dark on light, light on dark
            if panel is None:
                region = background[int(box[1]):int(box[3]), int(box[0]):int(box[2])]
                light = region.mean() > 110
            else:
                light = sum(panel) > 380
            colour = (15, 15, 15) if light else (245, 245, 245)
        pic, item = render(pic, text, height=h, angle=angle, center=(cx, cy), font=font, color=colour,
                           panel=panel, plate=plates)
        placed.append(box)
        items.append(item)
    return pic, items
