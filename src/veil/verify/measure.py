"""Measuring prepared faces: attack the anonymized crop, embed, compare with the original.

The smallest distance -- the strongest attack -- decides (:mod:`.verdicts`).
The recognizer only ever compares a face with its own anonymized version:
there is no gallery, no search and no identification.
"""

from __future__ import annotations

import time
from typing import Iterable, Sequence

import numpy as np

from . import attacks as _attacks
from .recognizer import Recognizer, get_recognizer, inner_chip
from .samples import Sample, prepare_sample, rgb8
from .threshold import IMPOSTOR_THRESHOLD
from .verdicts import FaceVerdict

__all__ = ["evaluate", "verify_face"]


_FLAT_COLOURS = ((0, 0, 0), (128, 128, 128), (255, 255, 255))
_flat_cache: dict[int, np.ndarray] = {}


def _flat_embeddings(rec: Recognizer) -> np.ndarray:
    """Embeddings of flat black, grey and white chips (no identity at all), once per recognizer."""
    key = id(rec)
    if key not in _flat_cache:
        chips = [np.full((150, 150, 3), c, np.uint8) for c in _FLAT_COLOURS]
        _flat_cache[key] = np.asarray(rec.embed(chips), np.float32)
    return _flat_cache[key]


def evaluate(samples: Sequence[Sample], names: Sequence[str], rec: Recognizer, threshold: float
              ) -> tuple[list[FaceVerdict], np.ndarray]:
    """Attack and embed usable samples; verdicts + verifiable original embeddings (N, 128).

    Two batches: first each original with its control (a flat patch of its mean
    colour; black, grey and white are cached), so that originals the recognizer
    cannot tell from a flat patch -- a dark blob, a false detection, a badly
    aligned profile: no identity it can measure -- cost no attack embeddings;
    then the attack candidates of the others.
    """
    usable = [s for s in samples if s.usable]
    t0 = time.perf_counter()
    first: list[np.ndarray] = []
    for s in usable:
        original_chip = np.ascontiguousarray(inner_chip(s.orig_crop))
        first += [original_chip, np.full_like(original_chip, original_chip.reshape(-1, 3).mean(axis=0).round())]
    embs = rec.embed(first) if first else np.zeros((0, 128), np.float32)
    per_embed = (time.perf_counter() - t0) / max(len(first), 1)
    flats = _flat_embeddings(rec).astype(np.float64)
    originals, controls = {}, {}
    for i, s in enumerate(usable):
        e0 = embs[2 * i].astype(np.float64)
        refs = np.vstack([embs[2 * i + 1][None].astype(np.float64), flats])
        originals[id(s)], controls[id(s)] = e0, float(np.linalg.norm(refs - e0, axis=1).min())

    chips: list[np.ndarray] = []
    spans: dict[int, tuple[int, list[str], float]] = {}
    for s in usable:
        if controls[id(s)] < threshold:
            continue
        t1 = time.perf_counter()
        ctx = _attacks.AttackContext(face_width=s.face_width, region_mask=s.mask)
        cands = _attacks.run_attacks(s.anon_crop, ctx, names)
        spans[id(s)] = (len(chips), [n for n, _ in cands], time.perf_counter() - t1)
        chips.extend(np.ascontiguousarray(inner_chip(c)) for _, c in cands)
    t0 = time.perf_counter()
    cand_embs = rec.embed(chips) if chips else np.zeros((0, 128), np.float32)
    per_embed_2 = (time.perf_counter() - t0) / max(len(chips), 1)

    verdicts, kept = [], []
    for s in samples:
        if not s.usable:
            verdicts.append(FaceVerdict(box=s.box, distances={}, threshold=threshold, frame=s.frame,
                                        unverifiable=s.unverifiable, note=s.note, elapsed_ms=s.elapsed_ms))
            continue
        e0, control = originals[id(s)], controls[id(s)]
        if id(s) not in spans:
            verdicts.append(FaceVerdict(
                box=s.box, distances={}, threshold=threshold, frame=s.frame, region=s.region,
                elapsed_ms=s.elapsed_ms + 2000 * per_embed, control=control, unverifiable="indistinct",
                note=(f"the recognizer cannot tell this original from a flat patch (distance {control:.3f} < "
                      f"{threshold:.3f}): likely not a face, or too dark or blurred to recognize")))
            continue
        start, cand_names, t_attack = spans[id(s)]
        d = np.linalg.norm(cand_embs[start:start + len(cand_names)].astype(np.float64) - e0, axis=1)
        ms = s.elapsed_ms + 1000 * (t_attack + 2 * per_embed + per_embed_2 * len(cand_names))
        verdicts.append(FaceVerdict(box=s.box, distances={n: float(x) for n, x in zip(cand_names, d)},
                                    threshold=threshold, frame=s.frame, region=s.region, elapsed_ms=ms,
                                    control=control))
        kept.append(e0)  # the multi-frame attack compares with verifiable originals only
    return verdicts, np.array(kept, np.float32).reshape(-1, 128)


def verify_face(original_rgb: np.ndarray, anonymized_rgb: np.ndarray, box: Sequence[float], *,
                region_mask: np.ndarray | None = None, recognizer: Recognizer | None = None,
                attacks: str | Iterable[str] = "all", threshold: float | None = None,
                frame: int | None = None) -> FaceVerdict:
    """Does the anonymized face still match its original at the same place?

    Parameters
    ----------
    original_rgb, anonymized_rgb : (H, W, 3) uint8 (or any veil picture)
        The same picture before and after anonymization (same size).
    box : (4,) xyxy
        The face box on the original, picture pixels.
    region_mask : (H, W) bool, keyword-only, optional
        Pixels the anonymizer covered (for the inpainting attack). When None it
        is inferred from where the two pictures differ.
    recognizer : Recognizer, optional
        Defaults to the process-wide one.
    attacks : 'all', 'quick', 'none' or iterable of names
        See :func:`veil.verify.attacks.resolve_attacks`.
    threshold : float, optional
        Defaults to the calibrated :data:`IMPOSTOR_THRESHOLD`.
    frame : int, optional
        Frame index, recorded in the verdict.

    Returns
    -------
    FaceVerdict
    """
    rec = recognizer or get_recognizer()
    names = _attacks.resolve_attacks(attacks)
    thr = IMPOSTOR_THRESHOLD if threshold is None else float(threshold)
    s = prepare_sample(rgb8(original_rgb), rgb8(anonymized_rgb), box, region_mask=region_mask, rec=rec, frame=frame)
    return evaluate([s], names, rec, thr)[0][0]


