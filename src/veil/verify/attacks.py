"""Reconstruction attacks on an anonymized face, all runnable offline.

Verification does not only ask whether the anonymized face, as published,
still matches its original: it first tries to *undo* the anonymization the way
an attacker with veil's source code could, and keeps the strongest result.

Every attack works on an *aligned crop* (``(CROP_SIZE, CROP_SIZE, 3)`` uint8,
see :mod:`veil.verify.recognizer`) of the anonymized picture, aligned with the
ORIGINAL's landmarks, and returns a few named candidate crops. Blur commutes
with the similarity transform of the alignment, so a Gaussian blur of sigma
``s`` picture pixels is a Gaussian of ``s / scale`` crop pixels: the attacker is
assumed to know veil's kernel family (Gaussian, sigma proportional to the face
width) but not its strength, which is swept.

Registry
--------
``ATTACKS`` maps a name to an :class:`Attack`; ``MULTI_FRAME`` holds the
attacks that combine the aligned crops of one video track. Each candidate costs
one embedding (~0.12 s on a CPU core); the full set yields 14 candidates per
face (``identity`` included; 12 when the region mask is unknown or covers the
whole crop, as inpainting is then skipped), :data:`QUICK` yields 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

__all__ = [
    "Attack",
    "AttackContext",
    "ATTACKS",
    "MULTI_FRAME",
    "QUICK",
    "register_attack",
    "resolve_attacks",
    "run_attacks",
    "multi_frame",
    "wiener_deblur",
    "richardson_lucy",
    "gaussian_transfer",
]

Candidate = tuple[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class AttackContext:
    """What an attacker may know about one anonymized face, in crop coordinates.

    Parameters
    ----------
    face_width : float
        Width of the face box in aligned-crop pixels (veil's blur sigma and
        pixelation blocks are proportional to it).
    region_mask : (H, W) ndarray of bool, optional
        Covered (anonymized) pixels of the crop; None when unknown.
    """

    face_width: float
    region_mask: np.ndarray | None = None


@dataclass(frozen=True)
class Attack:
    """A named attack: ``fn(crop, ctx) -> [(suffix, candidate_crop), ...]``."""

    name: str
    fn: Callable[[np.ndarray, AttackContext], list[Candidate]]
    doc: str = ""
    budget: int = 1  #: most candidates it returns (embeddings it costs)


ATTACKS: dict[str, Attack] = {}


def register_attack(name: str, *, budget: int, doc: str = ""):
    """Decorator: add a single-picture attack to :data:`ATTACKS`."""

    def deco(fn):
        ATTACKS[name] = Attack(name, fn, doc or (fn.__doc__ or "").strip().split("\n")[0], budget)
        return fn

    return deco


# -- helpers -----------------------------------------------------------------
def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _odd(n: float, lo: int, hi: int) -> int:
    k = int(round(n))
    k = min(max(k, lo), hi)
    return k if k % 2 else k + 1


def gaussian_transfer(shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Real transfer function of a Gaussian blur for ``np.fft.rfft2`` of ``shape``.

    Returns
    -------
    (H, W // 2 + 1) ndarray of float64
    """
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.exp(-2.0 * (np.pi * sigma) ** 2 * (fx ** 2 + fy ** 2))


def _fast_len(n: int) -> int:
    return int(cv2.getOptimalDFTSize(int(n)))


def wiener_deblur(img: np.ndarray, sigmas: float | Sequence[float], *, nsr: float = 3e-3
                  ) -> np.ndarray | list[np.ndarray]:
    """Wiener deconvolution of a known Gaussian blur (numpy FFT).

    Parameters
    ----------
    img : (H, W, C) or (H, W) uint8 or float in 0..255
    sigmas : float or sequence of float
        Blur sigma(s) in pixels of ``img``; several share one forward FFT.
    nsr : float
        Noise-to-signal power ratio (regularisation), for intensities in [0, 1].

    Returns
    -------
    (H, W, C) uint8, or a list of them when ``sigmas`` is a sequence
    """
    single = np.isscalar(sigmas)
    sig = [float(sigmas)] if single else [float(s) for s in sigmas]
    f = np.asarray(img, np.float32) / 255.0
    f3 = f[:, :, None] if f.ndim == 2 else f
    h, w = f3.shape[:2]
    pad = int(np.ceil(3 * max(sig))) + 2
    ph, pw = _fast_len(h + 2 * pad), _fast_len(w + 2 * pad)
    fp = cv2.copyMakeBorder(f3, pad, ph - h - pad, pad, pw - w - pad, cv2.BORDER_REFLECT)
    fp = fp.reshape(ph, pw, -1)
    spec = np.fft.rfft2(fp, axes=(0, 1))
    outs = []
    for s in sig:
        tf = gaussian_transfer((ph, pw), s)
        out = np.fft.irfft2(spec * (tf / (tf * tf + nsr))[:, :, None], s=(ph, pw), axes=(0, 1))
        outs.append(_to_u8(out[pad:pad + h, pad:pad + w].reshape(np.shape(img)) * 255.0))
    return outs[0] if single else outs


def richardson_lucy(img: np.ndarray, sigma: float, *, iterations: int = 20) -> np.ndarray:
    """Richardson-Lucy deconvolution of a known Gaussian blur.

    The Gaussian is symmetric, so the adjoint of the blur is the blur itself;
    both run as ``cv2.GaussianBlur`` with reflected borders.

    Returns
    -------
    (H, W, C) uint8
    """
    g = np.asarray(img, np.float32) / 255.0 + 1e-3
    u = g.copy()
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)  # noqa: E731
    for _ in range(int(iterations)):
        u *= blur(g / np.maximum(blur(u), 1e-4))
    return _to_u8((u - 1e-3) * 255.0)


def _around_chip(crop: np.ndarray, margin: float) -> tuple[slice, slice]:
    """Window of ``crop`` holding the embedded chip plus ``margin`` pixels each side."""
    from .recognizer import CHIP_SIZE

    h, w = crop.shape[:2]
    m = int(np.ceil(margin))
    y0, x0 = max((h - CHIP_SIZE) // 2 - m, 0), max((w - CHIP_SIZE) // 2 - m, 0)
    return slice(y0, min(y0 + CHIP_SIZE + 2 * m, h)), slice(x0, min(x0 + CHIP_SIZE + 2 * m, w))


def _paste(crop: np.ndarray, window: tuple[slice, slice], part: np.ndarray) -> np.ndarray:
    out = crop.copy()
    out[window] = part
    return out


# -- the attacks ---------------------------------------------------------------
#: Blur sigmas tried, as a fraction of the face-box width. veil's ``blur_strength``
#: is a fraction of the head region's width (1.5 face widths by default), so
#: strength 0.02 is 3% of the face width. Beyond ~10% of the face width
#: deconvolution recovers nothing the recognizer uses (veil's default is 37.5%).
WIENER_FRACTIONS = (0.015, 0.025, 0.04, 0.065)
RL_FRACTIONS = (0.03, 0.05)
#: Pixelation blocks across the face box tried by de-pixelation (veil's default,
#: 10 blocks across the 1.5x head region, is ~6.7 across the face).
DEPIXELATE_BLOCKS = (6, 10, 16)


@register_attack("identity", budget=1)
def identity(crop: np.ndarray, ctx: AttackContext) -> list[Candidate]:
    """No attack: the anonymized face as published."""
    return [("", crop)]


@register_attack("deblur_wiener", budget=len(WIENER_FRACTIONS))
def deblur_wiener(crop: np.ndarray, ctx: AttackContext) -> list[Candidate]:
    """Wiener deconvolution over a sweep of Gaussian sigmas (kernel family known)."""
    sigmas = [f * ctx.face_width for f in WIENER_FRACTIONS]
    win = _around_chip(crop, 3 * max(sigmas) + 2)
    parts = wiener_deblur(crop[win], sigmas)
    return [(f"s{f:g}", _paste(crop, win, p)) for f, p in zip(WIENER_FRACTIONS, parts)]


@register_attack("deblur_rl", budget=len(RL_FRACTIONS))
def deblur_rl(crop: np.ndarray, ctx: AttackContext) -> list[Candidate]:
    """Richardson-Lucy deconvolution over a sweep of Gaussian sigmas."""
    out = []
    for f in RL_FRACTIONS:
        sigma = f * ctx.face_width
        win = _around_chip(crop, 3 * sigma + 2)
        out.append((f"s{f:g}", _paste(crop, win, richardson_lucy(crop[win], sigma))))
    return out


@register_attack("depixelate", budget=len(DEPIXELATE_BLOCKS))
def depixelate(crop: np.ndarray, ctx: AttackContext) -> list[Candidate]:
    """Remove block edges: block-mean resampling, bicubic upsampling, then smoothing.

    The block grid of the picture is rotated in the aligned crop and its phase
    is unknown, so the crop is resampled to the block resolution (area
    average), upsampled bicubically and smoothed at a third of a block: the
    low-pass image a pixelated face approximates.
    """
    out = []
    h, w = crop.shape[:2]
    for n in DEPIXELATE_BLOCKS:
        block = max(ctx.face_width / n, 1.0)
        small = cv2.resize(crop, (max(int(round(w / block)), 2), max(int(round(h / block)), 2)),
                           interpolation=cv2.INTER_AREA)
        up = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        out.append((f"b{n}", cv2.GaussianBlur(up, (0, 0), sigmaX=block / 3.0, borderType=cv2.BORDER_REFLECT)))
    return out


@register_attack("inpaint", budget=2)
def inpaint(crop: np.ndarray, ctx: AttackContext) -> list[Candidate]:
    """Fill the covered region from its surroundings (OpenCV Telea and Navier-Stokes).

    Needs the region mask; skipped when it is unknown, empty, or covers
    (almost) the whole crop (nothing to inpaint from).
    """
    if ctx.region_mask is None:
        return []
    mask = np.asarray(ctx.region_mask, bool)
    share = float(mask.mean())
    if share < 0.005 or share > 0.9:
        return []
    m8 = cv2.dilate(mask.astype(np.uint8) * 255, np.ones((3, 3), np.uint8), iterations=2)
    # Inpainting is smooth by nature: run it at half resolution (4x cheaper) and
    # paste the upsampled fill into the covered pixels only.
    h, w = crop.shape[:2]
    small = cv2.resize(crop, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    m_small = cv2.dilate(cv2.resize(m8, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
    radius = max(2.0, ctx.face_width / 60.0)
    covered = m8 > 0
    out = []
    for name, method in (("telea", cv2.INPAINT_TELEA), ("ns", cv2.INPAINT_NS)):
        fill = cv2.resize(cv2.inpaint(small, m_small, radius, method), (w, h), interpolation=cv2.INTER_CUBIC)
        cand = crop.copy()
        cand[covered] = fill[covered]
        out.append((name, cand))
    return out


@register_attack("denoise", budget=2)
def denoise(crop: np.ndarray, ctx: AttackContext) -> list[Candidate]:
    """Median and bilateral filtering at face scale (against noise modes)."""
    k = _odd(ctx.face_width / 25.0, 3, 9)
    s = max(ctx.face_width / 25.0, 2.0)
    return [
        (f"median{k}", cv2.medianBlur(crop, k)),
        ("bilateral", cv2.bilateralFilter(crop, d=9, sigmaColor=60.0, sigmaSpace=s)),
    ]


#: A cheaper subset (10 candidates instead of 14): as published, Wiener
#: deconvolution, de-pixelation, denoising (no Richardson-Lucy, no inpainting).
QUICK = ("identity", "deblur_wiener", "depixelate", "denoise")


def resolve_attacks(attacks: str | Iterable[str] | None) -> tuple[str, ...]:
    """Names of the single-picture attacks to run.

    ``'all'`` -> every registered attack; ``'quick'`` -> :data:`QUICK`;
    ``None`` or ``'none'`` -> ``('identity',)``; otherwise an iterable of names
    (``identity`` is always added: the face as published is always checked).
    """
    if attacks is None or attacks == "none":
        return ("identity",)
    if attacks == "all":
        names = tuple(ATTACKS)
    elif attacks == "quick":
        names = QUICK
    elif isinstance(attacks, str):
        names = (attacks,)
    else:
        names = tuple(attacks)
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; known: {sorted(ATTACKS)}")
    if "identity" not in names:
        names = ("identity", *names)
    return tuple(dict.fromkeys(names))


def run_attacks(crop: np.ndarray, ctx: AttackContext, names: Sequence[str]) -> list[Candidate]:
    """Run attacks by name; candidate names are ``attack`` or ``attack/suffix``."""
    out: list[Candidate] = []
    for name in names:
        for suffix, img in ATTACKS[name].fn(crop, ctx):
            out.append((f"{name}/{suffix}" if suffix else name, np.ascontiguousarray(img, dtype=np.uint8)))
    return out


# -- multi-frame (video) ---------------------------------------------------------
MULTI_FRAME: tuple[str, ...] = ("multiframe_mean", "multiframe_median", "multiframe_mean_smooth",
                                 "multiframe_mean_median")


def multi_frame(crops: Sequence[np.ndarray], ctx: AttackContext | None = None) -> list[Candidate]:
    """Combine the aligned crops of one track across frames.

    Each crop is the anonymized frame aligned with the ORIGINAL's landmarks on
    that frame, so the face sits at the same place in every crop. Averaging
    cancels noise drawn afresh on each frame; because the pixel grid moves
    with the face, the mean of pixelated crops is also a super-resolved face.
    The mean is then denoised spatially too (Gaussian, median): temporal and
    spatial averaging together beat either alone.

    Parameters
    ----------
    crops : sequence of (H, W, 3) uint8
        At least 2 crops of one track.
    ctx : AttackContext, optional
        Sets the scale of the spatial smoothing (face width in crop pixels).

    Returns
    -------
    list of (name, crop)
        The :data:`MULTI_FRAME` candidates, or ``[]`` for fewer than 2 crops.
    """
    if len(crops) < 2:
        return []
    stack = np.stack([np.asarray(c, np.float32) for c in crops])
    mean = _to_u8(stack.mean(axis=0))
    median = _to_u8(np.median(stack, axis=0))
    face_width = ctx.face_width if ctx else 125.0
    k = _odd(face_width / 25.0, 3, 9)
    return [
        ("multiframe_mean", mean),
        ("multiframe_median", median),
        ("multiframe_mean_smooth", cv2.GaussianBlur(mean, (0, 0), sigmaX=max(face_width / 60.0, 1.0),
                                                    borderType=cv2.BORDER_REFLECT)),
        ("multiframe_mean_median", cv2.medianBlur(mean, k)),
    ]
