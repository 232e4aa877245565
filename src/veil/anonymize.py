"""Cover head regions: fill, noise, pixelate, blur.

``fill`` and ``noise`` destroy every pixel in the region, so nothing of the
face survives. ``pixelate`` and ``blur`` keep a low-frequency trace of it; they
exist for people who need them, and the CLI warns that learned attacks can
undo them (verification then checks, and escalates where a face still leaks).
"""

from __future__ import annotations

import numpy as np

from .config import Config, Mode
from .region import Regions, box_pixels, union_mask

__all__ = ["anonymize", "cover", "REVERSIBLE_WARNING", "INT8_WARNING", "BF16_WARNING", "NO_FACES_WARNING",
           "IGNORED_WARNING",
           "reversible_warning", "run_warnings"]

REVERSIBLE_WARNING = (
    "mode {mode!r} is reversible: learned attacks can re-identify blurred or pixelated faces; "
    "use --mode fill or noise to publish"
)
#: Added for plates and text: no OCR-free measure tells legible from illegible (bench/text_attack.py).
UNCHECKED_TEXT_WARNING = ("; blurred or pixelated plates and text are not checked for legibility (their detector "
                          "looks for them as published only)")
#: What ``--precision int8`` carries (bench/RESULTS.md, "int8 detector").
INT8_WARNING = ("precision int8 runs veil's quantized detector: in veil's benchmarks it covers about as many "
                "faces as fp32, not always the same ones; review the output before publishing")
#: What ``--precision bf16`` carries (bench/RESULTS.md, "bf16").
BF16_WARNING = ("precision bf16 computes the detectors in bfloat16: in veil's benchmarks it covers about as many "
                "faces, plates and text as fp32, not always the same ones; review the output before publishing")

#: What a run whose ``--cover`` leaves faces out carries: its "verified" speaks of plates and text only.
NO_FACES_WARNING = ("--cover {kinds} leaves every face uncovered and unchecked: the output shows faces as the "
                    "input does; add 'faces' to cover them")


#: An option given for a kind ``--cover`` leaves out.
IGNORED_WARNING = "{option} applies to {kinds}, which --cover leaves out: it changes nothing"


def reversible_warning(config) -> str:
    """The warning a run in a reversible mode carries (``config.reversible``)."""
    text = REVERSIBLE_WARNING.format(mode=config.mode.value)
    return text + UNCHECKED_TEXT_WARNING if config.other_kinds else text


def run_warnings(config) -> list[str]:
    """The warnings a whole run with ``config`` carries: printed when it starts, kept in its report."""
    out = [reversible_warning(config)] if config.reversible else []
    if not config.covers_faces:
        out.append(NO_FACES_WARNING.format(kinds=",".join(config.cover)))
    out += {"int8": [INT8_WARNING], "bf16": [BF16_WARNING]}.get(config.precision, [])
    # An option for a kind the run does not cover changes nothing: say so rather than take it silently.
    if config.text_max_share and "text" not in config.cover:
        out.append(IGNORED_WARNING.format(option="--text-max-share", kinds="text"))
    if config.kinds_every > 1 and not config.other_kinds:
        out.append(IGNORED_WARNING.format(option="--kinds-every", kinds="plates and text"))
    return out

# Share of the value range that pixelate adds as noise, so block means cannot
# be matched exactly against candidate faces.
_PIXELATE_NOISE = 0.06


def anonymize(pixels: np.ndarray, regions: Regions, *, mode: Mode | str = Mode.FILL,
              fill_color: tuple[int, int, int] = (0, 0, 0), pixelate_blocks: int = 10,
              blur_strength: float = 0.25, rng: np.random.Generator | None = None,
              mask: np.ndarray | None = None) -> np.ndarray:
    """Return a copy of ``pixels`` with every region covered.

    Parameters
    ----------
    pixels : (H, W), (H, W, 3) or (H, W, 4) ndarray of uint8 or uint16
        Picture, upright. Not modified.
    regions : Regions
        Head regions in the picture's pixels.
    mode : Mode, keyword-only
    fill_color : (r, g, b), keyword-only
        8-bit colour for ``fill`` (scaled up for 16-bit pictures).
    pixelate_blocks : int, keyword-only
        Blocks across each region for ``pixelate``.
    blur_strength : float, keyword-only
        Gaussian sigma as a fraction of each region's width for ``blur``.
    rng : numpy.random.Generator, optional, keyword-only
        Noise source; fresh OS entropy by default.
    mask : (H, W) ndarray of bool, optional, keyword-only
        ``regions.mask(H, W)``, where the caller has rendered it already (a
        video's second pass needs it for the checks too): fill and noise then
        use it instead of rendering it again.

    Returns
    -------
    ndarray
        Same shape and dtype as ``pixels``. Inside the regions, an alpha
        channel is made opaque, so no transparency hides or reveals the face.
    """
    mode = Mode(mode)
    pixels = np.asarray(pixels)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels must be uint8 or uint16, not {pixels.dtype}")
    # (an empty picture is covered as it is: nothing; the verbs refuse it, media.image.check_pixels)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (1, 3, 4)):
        raise ValueError(f"pixels must be (H, W), (H, W, 3) or (H, W, 4), not {pixels.shape}")
    height, width = pixels.shape[:2]
    if mask is not None and (mask.shape != (height, width) or mask.dtype != bool):
        raise ValueError(f"mask must be a ({height}, {width}) bool array, not {mask.shape} {mask.dtype}")
    out = pixels.copy()
    if len(regions) == 0:
        return out
    rng = rng if rng is not None else np.random.default_rng()
    top = np.iinfo(pixels.dtype).max
    colour_channels = 3 if pixels.ndim == 3 and pixels.shape[2] >= 3 else 1

    if mode is Mode.FILL:
        mask = regions.mask(height, width) if mask is None else mask
        colour = np.asarray(fill_color, np.float64) * (top / 255.0)
        if colour_channels == 1:
            colour = colour @ np.array([0.299, 0.587, 0.114])
        value = [int(v) for v in np.round(np.atleast_1d(colour))]
        if out.ndim == 3 and out.shape[2] == 4:
            value.append(top)  # opaque
        _masked_fill(out, mask, value)
    elif mode is Mode.NOISE:
        mask = regions.mask(height, width) if mask is None else mask
        # Noise is drawn region by region, over each region's bounding box
        # (about the covered area), not over the hull of all regions.
        for _, rows, cols in box_pixels(regions.boxes, height, width):
            view = out[rows, cols] if out.ndim == 2 else out[rows, cols, :colour_channels]
            noise = rng.integers(0, top, size=view.shape, endpoint=True, dtype=out.dtype)
            _masked_set(view, mask[rows, cols], noise)
    else:
        mask = np.zeros((height, width), bool)
        for i, box in enumerate(regions.boxes):
            one = union_mask(box[None], regions.shape_of(i), height, width)
            if not one.any():
                continue
            mask |= one
            if mode is Mode.PIXELATE:
                _pixelate(out, one, box, pixelate_blocks, rng, top)
            else:
                _blur(out, one, box, blur_strength)
    if out.ndim == 3 and out.shape[2] == 4:
        out[..., 3][mask] = top
    return out


def cover(pixels: np.ndarray, regions: Regions, config: Config, rng: np.random.Generator | None, *,
          mask: np.ndarray | None = None) -> np.ndarray:
    """:func:`anonymize` with the cover options of ``config`` (mode, colour, blocks, blur strength)."""
    return anonymize(pixels, regions, mode=config.mode, fill_color=config.fill_color,
                     pixelate_blocks=config.pixelate_blocks, blur_strength=config.blur_strength, rng=rng, mask=mask)


def _masked_fill(out: np.ndarray, mask: np.ndarray, value: list[int]) -> None:
    """``out[mask] = value`` (one value per channel), in place, ``out`` C-contiguous.

    OpenCV's masked arithmetic (zero, then add the colour) does it without
    allocating, ~10x faster than numpy's boolean assignment of a colour.
    """
    import cv2

    if not mask.any():  # also an empty picture, which OpenCV refuses
        return
    m8 = np.ascontiguousarray(mask).view(np.uint8)
    scalar = tuple(float(v) for v in value) + (0.0,) * (4 - len(value))
    if cv2.subtract(out, out, dst=out, mask=m8) is not out or cv2.add(out, scalar, dst=out, mask=m8) is not out:
        raise RuntimeError("OpenCV did not cover the picture in place")  # never seen; fail closed


def _masked_set(view: np.ndarray, mask: np.ndarray, values: np.ndarray) -> None:
    """``view[mask] = values[mask]``, in place.

    OpenCV's masked copy is ~10x faster than numpy's boolean assignment. It
    needs arrays with plain strides, so it works on fresh copies (a slice of
    one row or column may be "contiguous" to numpy with strides OpenCV
    refuses), and the result is written back.
    """
    import cv2

    if not mask.any():
        return
    work = view.copy()
    view[...] = cv2.copyTo(values, mask.astype(np.uint8), work)


def _crop_bounds(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (slice(max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, h)),
            slice(max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, w)))


def _pixelate(out, mask, box, blocks, rng, top):
    import cv2

    ys, xs = _crop_bounds(mask)
    crop = out[ys, xs]
    h, w = crop.shape[:2]
    region_w = max(float(box[2] - box[0]), 1.0)
    # Block size follows the whole region, even where it is clipped by the frame.
    block = max(region_w / blocks, 1.0)
    bw, bh = max(int(round(w / block)), 1), max(int(round(h / block)), 1)
    small = cv2.resize(crop, (bw, bh), interpolation=cv2.INTER_AREA).astype(np.float32)
    small += rng.normal(0, _PIXELATE_NOISE * top, size=small.shape).astype(np.float32)
    big = cv2.resize(np.clip(small, 0, top), (w, h), interpolation=cv2.INTER_NEAREST)
    big = np.round(big).astype(out.dtype).reshape(crop.shape)
    m = mask[ys, xs]
    crop[m] = big[m]


def _blur(out, mask, box, strength):
    import cv2

    sigma = max(float(box[2] - box[0]) * strength, 0.5)
    margin = int(np.ceil(3 * sigma))
    ys, xs = _crop_bounds(mask, margin)
    crop = out[ys, xs]
    blurred = cv2.GaussianBlur(crop, (0, 0), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_REPLICATE).reshape(crop.shape)
    m = mask[ys, xs]
    crop[m] = blurred[m]
