"""Verifying a photo veil just rendered, before it is written.

Which attacks run depends on the mode, because an attack only helps against
the anonymizer it inverts: a solid fill carries no face signal for deblurring
or de-pixelation to recover, so ``fill`` is attacked by inpainting from the
surroundings (and checked as published); ``noise`` adds denoising; ``blur``
deconvolution; ``pixelate`` de-pixelation. ``veil verify`` on an unknown
tool's output runs all. A face that leaks in a reversible mode is re-rendered
stronger (:func:`veil.verify.escalate.escalate`) before the photo is written.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..anonymize import cover
from ..config import Config, Mode
from ..detections import Detections
from ..region import Regions
from .escalate import escalate
from .evidence import LOW_CONFIDENCE_REASON, MIN_DETECTOR_SCORE
from .measure import verify_face
from .residual import residual_findings
from .threshold import IMPOSTOR_THRESHOLD
from .verdicts import FaceVerdict, VerificationRecord

__all__ = ["ATTACKS_FOR_MODE", "VERIFY_MIN_SCORE", "verify_picture", "low_confidence_verdict"]

ATTACKS_FOR_MODE = {
    Mode.FILL: ("identity", "inpaint"),
    Mode.NOISE: ("identity", "denoise", "inpaint"),
    Mode.BLUR: ("identity", "deblur_wiener", "deblur_rl", "inpaint"),
    Mode.PIXELATE: ("identity", "depixelate", "denoise", "inpaint"),
}
#: Detections below this confidence are covered but not measured: a recognizer's
#: distance to something that may not be a face (a hand, a lamp) means nothing.
VERIFY_MIN_SCORE = MIN_DETECTOR_SCORE  # written once, in veil.verify.evidence
_LOW_NOTE = "detector confidence below {:.2f}: may not be a face; covered, not measured"


def low_confidence_verdict(box, frame: int | None, score: float | None = None) -> FaceVerdict:
    """The verdict of a covered box whose confidence (``score``) is under :data:`VERIFY_MIN_SCORE`."""
    return FaceVerdict(box=tuple(float(v) for v in box), distances={}, threshold=IMPOSTOR_THRESHOLD,
                       frame=frame, unverifiable=LOW_CONFIDENCE_REASON, note=_LOW_NOTE.format(VERIFY_MIN_SCORE),
                       score=None if score is None else float(score))


def verify_picture(original: np.ndarray, anonymized: np.ndarray, dets: Detections, regions: Regions,
                   config: Config, detector, *, rng=None,
                   mask: np.ndarray | None = None) -> tuple[np.ndarray, VerificationRecord]:
    """Verify one photo; escalate leaking faces in reversible modes.

    Parameters
    ----------
    original, anonymized : ndarray
        The picture before and after anonymization (same shape, any veil dtype).
    dets : Detections
        The faces found on the original, one per region.
    regions : Regions
    config : Config
    detector : FaceDetector
        For the residual-face check on the output.
    rng : numpy.random.Generator, optional, keyword-only
        Noise source for re-rendering (``config.rng()`` by default).
    mask : (H, W) bool ndarray, optional, keyword-only
        Everything covered on the picture, where more than ``regions`` was
        (regions a person drew, which are covered but not measured).

    Returns
    -------
    anonymized : ndarray
        The (possibly re-rendered) output to write. Only an escalated face's
        region changes: the other faces keep the pixels their verdicts were
        measured on.
    record : VerificationRecord
    """
    from ..media.image import to_rgb8

    rng = rng if rng is not None else config.rng()
    orig_rgb = to_rgb8(original)
    height, width = original.shape[:2]
    mask = regions.mask(height, width) if mask is None else mask

    def measure(picture: np.ndarray, i: int, cfg: Config) -> FaceVerdict:
        return verify_face(orig_rgb, to_rgb8(picture), dets.xyxy[i], region_mask=mask,
                           attacks=ATTACKS_FOR_MODE[cfg.mode])

    measured = [i for i in range(len(dets)) if dets.scores[i] >= VERIFY_MIN_SCORE]
    first = {i: measure(anonymized, i, config) for i in measured}
    state = {"out": anonymized}

    def render(overrides: dict) -> dict:
        out = anonymized.copy()
        for i, stronger in overrides.items():
            face = regions[i]
            face_mask = face.mask(height, width)
            out[face_mask] = cover(original, face, stronger, rng)[face_mask]
        state["out"] = out
        return {i: measure(out, i, overrides[i]) for i in overrides}

    result = escalate(config, first, render)
    out = state["out"]
    verdicts = [replace(result.verdicts[i], score=float(dets.scores[i])) if i in result.verdicts
                else low_confidence_verdict(dets.xyxy[i], None, dets.scores[i]) for i in range(len(dets))]
    residual = residual_findings(to_rgb8(out), mask, detector, original_rgb=to_rgb8(original))
    return out, VerificationRecord(tuple(verdicts), tuple(residual), IMPOSTOR_THRESHOLD,
                                   {i: tuple(steps) for i, steps in result.steps.items()},
                                   attacks=ATTACKS_FOR_MODE[config.mode])
