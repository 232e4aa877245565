"""Verification as a pipeline stage: check what veil itself just rendered.

The pipeline calls :func:`verify_picture` for a photo (before it is written,
so a leaking face can be re-rendered stronger) and uses :class:`VideoChecks`
while a video's second pass renders frames (collecting aligned crops of each
track's representative frames, and sampling frames for the residual check).

Which attacks run depends on the mode, because an attack only helps against
the anonymizer it inverts: a solid fill carries no face signal for deblurring
or de-pixelation to recover, so ``fill`` is attacked by inpainting from the
surroundings (and checked as published); ``noise`` adds denoising and the
multi-frame average; ``blur`` deconvolution; ``pixelate`` de-pixelation and
the multi-frame average. ``veil verify`` on an unknown tool's output runs all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..anonymize import cover
from ..config import Config, Mode
from ..detections import Detections
from ..region import Regions

__all__ = ["ATTACKS_FOR_MODE", "REPRESENTATIVES_FOR_MODE", "RESIDUAL_EVERY", "verify_picture",
           "VideoChecks", "render_with_overrides"]

ATTACKS_FOR_MODE = {
    Mode.FILL: ("identity", "inpaint"),
    Mode.NOISE: ("identity", "denoise", "inpaint"),
    Mode.BLUR: ("identity", "deblur_wiener", "deblur_rl", "inpaint"),
    Mode.PIXELATE: ("identity", "depixelate", "denoise", "inpaint"),
}
#: Representative frames verified per track (the multi-frame attack uses more).
REPRESENTATIVES_FOR_MODE = {Mode.FILL: 1, Mode.NOISE: 2, Mode.BLUR: 2, Mode.PIXELATE: 2}
#: Modes whose output varies frame to frame, so averaging a track can reveal the face.
MULTI_FRAME_MODES = frozenset({Mode.NOISE, Mode.PIXELATE, Mode.BLUR})
#: Detections below this confidence are covered but not measured: a recognizer's
#: distance to something that may not be a face (a hand, a lamp) means nothing.
VERIFY_MIN_SCORE = 0.5
_LOW_NOTE = "detector confidence below {:.2f}: may not be a face; covered, not measured"

#: A video's residual-face check runs the detector on every RESIDUAL_EVERY-th output frame.
RESIDUAL_EVERY = 10


def render_with_overrides(original: np.ndarray, regions: Regions, keys: list, config: Config,
                          overrides: dict, rng) -> np.ndarray:
    """Cover every region with ``config``, then redo those whose key has an override.

    Parameters
    ----------
    original : ndarray
        Picture before anonymization (not modified).
    regions : Regions
    keys : list
        One key per region (face index or track id) to look up in ``overrides``.
    config : Config
    overrides : dict
        key -> stronger ``Config`` for that face (escalation).
    """
    out = cover(original, regions, config, rng)
    for key, stronger in overrides.items():
        picked = [i for i, k in enumerate(keys) if k == key]
        if not picked:
            continue
        sub = Regions(regions.boxes[picked], regions.shape)
        redo = cover(original, sub, stronger, rng)
        mask = sub.mask(*original.shape[:2])
        out[mask] = redo[mask]
    return out


def _residual_records(out_rgb, mask, detector, frame=None) -> list[dict]:
    from .residual import residual_faces

    found = residual_faces(out_rgb, mask, detector)
    records = found.to_records()
    for r in records:
        if frame is not None:
            r["frame"] = int(frame)
    return records


def verify_picture(original: np.ndarray, anonymized: np.ndarray, dets: Detections, regions: Regions,
                   config: Config, detector, *, rng=None) -> tuple[np.ndarray, dict]:
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

    Returns
    -------
    anonymized : ndarray
        The (possibly re-rendered) output to write.
    record : dict
        ``veil.verify.summarize`` output, with ``escalation`` on faces that were
        re-rendered, and ``attacks`` run.
    """
    from ..media.image import to_rgb8
    from .core import summarize, verify_face
    from .escalate import escalation_plan

    rng = rng if rng is not None else np.random.default_rng(config.seed)
    attacks = ATTACKS_FOR_MODE[config.mode]
    orig_rgb = to_rgb8(original)
    height, width = original.shape[:2]
    mask = regions.mask(height, width)
    overrides: dict[int, Config] = {}
    verdicts, escalations = [], {}
    out = anonymized
    for i, box in enumerate(dets.xyxy):
        if dets.scores[i] < VERIFY_MIN_SCORE:
            verdicts.append(_low_confidence(box, None))
            continue
        verdict = verify_face(orig_rgb, to_rgb8(out), box, region_mask=mask, attacks=attacks)
        if verdict.leaks and config.reversible:
            steps = []
            face_region = Regions(regions.boxes[i:i + 1], regions.shape)
            face_mask = face_region.mask(height, width)
            before = out
            for setting in escalation_plan(config.mode, blur_strength=config.blur_strength,
                                           pixelate_blocks=config.pixelate_blocks):
                overrides[i] = config.replace(**setting.config_changes())
                # Only this face's region changes: the other faces keep exactly the
                # pixels their verdicts were measured on.
                redo = cover(original, face_region, overrides[i], rng)
                out = before.copy()
                out[face_mask] = redo[face_mask]
                verdict = verify_face(orig_rgb, to_rgb8(out), box, region_mask=mask,
                                      attacks=ATTACKS_FOR_MODE[overrides[i].mode])
                steps.append(f"{setting.mode} {_setting_text(setting)}: "
                             f"{'leak' if verdict.leaks else 'pass'} ({_dist(verdict)})")
                if not verdict.leaks:
                    break
            escalations[len(verdicts)] = steps
        verdicts.append(verdict)
    residual = _residual_records(to_rgb8(out), mask, detector)
    record = summarize(verdicts, residual=residual)
    for index, steps in escalations.items():
        record["faces"][index]["escalation"] = steps
    record["attacks"] = list(attacks)
    return out, record


def _low_confidence(box, frame):
    from .core import FaceVerdict
    from .threshold import IMPOSTOR_THRESHOLD

    return FaceVerdict(box=tuple(float(v) for v in box), distances={}, threshold=IMPOSTOR_THRESHOLD,
                       frame=frame, unverifiable="low_confidence", note=_LOW_NOTE.format(VERIFY_MIN_SCORE))


def _setting_text(setting) -> str:
    if setting.blur_strength is not None:
        return f"strength {setting.blur_strength:g}"
    if setting.pixelate_blocks is not None:
        return f"{setting.pixelate_blocks} blocks"
    return ""


def _dist(verdict) -> str:
    d = verdict.distance
    return "no distance" if d is None else f"distance {d:.3f}"


@dataclass
class VideoChecks:
    """Collects what verification needs while a video's frames are rendered.

    Parameters
    ----------
    frames : list of Detections
        The tracker's output, one per frame (``track_id`` >= 0 for tracked boxes).
    config : Config
    detector : FaceDetector
        For the residual check on sampled output frames.
    """

    frames: list
    config: Config
    detector: object
    residual_every: int = RESIDUAL_EVERY
    #: True for another tool's output (``veil verify``): every attack, two
    #: representative frames and the multi-frame attack for every track.
    foreign: bool = False
    wanted: dict = field(default_factory=dict)  #: frame -> [(track, box)]
    collectors: dict = field(default_factory=dict)
    residual: list = field(default_factory=list)
    #: Optional executor for the residual check, so that it runs beside the
    #: encoder; call :meth:`finish` once every frame has been observed.
    pool: object = None
    _pending: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        from .core import TrackCollector

        multi = self.foreign or self.config.mode in MULTI_FRAME_MODES
        by_track: dict[int, list[tuple[int, np.ndarray]]] = {}
        scores: dict[int, list[float]] = {}
        for index, dets in enumerate(self.frames):
            detected = dets.source == 0
            for box, track, score in zip(dets.xyxy[detected], dets.track_id[detected], dets.scores[detected]):
                by_track.setdefault(int(track), []).append((index, box))
                scores.setdefault(int(track), []).append(float(score))
        self.low_confidence = {}
        for track, seen in by_track.items():
            if track < 0:
                continue
            # The track's typical confidence, not its best frame: a hand or a lamp
            # can score high once.
            if float(np.median(scores[track])) < VERIFY_MIN_SCORE and not self.foreign:
                self.low_confidence[track] = seen[0]
                continue
            if multi:
                chosen = seen  # every detected frame feeds the multi-frame attack (thinned to 32)
            else:
                areas = [float((b[2] - b[0]) * (b[3] - b[1])) for _, b in seen]
                chosen = [seen[int(np.argmax(areas))]]
            for index, box in chosen:
                self.wanted.setdefault(index, []).append((track, box))
            self.collectors[track] = TrackCollector(track_id=track)

    def observe(self, index: int, original_rgb: np.ndarray, anonymized_rgb: np.ndarray,
                mask: np.ndarray | None) -> None:
        """Give one rendered frame (upright RGB before and after)."""
        for track, box in self.wanted.get(index, ()):
            self.collectors[track].add(original_rgb, anonymized_rgb, box, frame=index, region_mask=mask)
        if self.residual_every and index % self.residual_every == 0:
            if self.pool is None:
                self.residual.extend(_residual_records(anonymized_rgb, mask, self.detector, frame=index))
                return
            # A few frames in flight at most: memory stays bounded if the check lags.
            while sum(not f.done() for f in self._pending) >= 2:
                next(f for f in self._pending if not f.done()).result()
            self._pending.append(self.pool.submit(_residual_records, anonymized_rgb, mask, self.detector,
                                                  frame=index))

    def finish(self) -> None:
        """Wait for the residual checks still running (in frame order); raises what they raised."""
        pending, self._pending = self._pending, []
        for future in pending:
            self.residual.extend(future.result())

    def verdicts(self, *, overrides: dict | None = None) -> dict:
        """Track id -> TrackVerdict, with the attacks of each track's mode."""
        from .core import TrackVerdict
        from .threshold import IMPOSTOR_THRESHOLD

        overrides = overrides or {}
        out = {}
        for track, (frame, box) in self.low_confidence.items():
            out[track] = TrackVerdict(faces=(_low_confidence(box, frame),), multi_frame={},
                                      threshold=IMPOSTOR_THRESHOLD, frames_total=0, frames_usable=0,
                                      frames_combined=0, track_id=track)
        for track, collector in self.collectors.items():
            if self.foreign:
                out[track] = collector.verify(k=2, attacks="all")
                continue
            cfg = overrides.get(track, self.config)
            out[track] = collector.verify(k=REPRESENTATIVES_FOR_MODE[cfg.mode],
                                          attacks=ATTACKS_FOR_MODE[cfg.mode])
        return out


def escalate_video(render_pass: Callable[[dict], "VideoChecks"], first: VideoChecks,
                   config: Config) -> tuple[dict, dict, dict, list]:
    """Re-render leaking tracks stronger until they pass or the plan ends.

    Each round re-encodes the whole video and re-verifies every track on the
    new rendering, so the verdicts always describe the file that is written.

    Parameters
    ----------
    render_pass : callable(overrides) -> VideoChecks
        Re-encodes the video with per-track overrides (track id -> Config) and
        returns the checks collected during that rendering.
    first : VideoChecks
        The checks of the first rendering.
    config : Config

    Returns
    -------
    verdicts : dict track -> TrackVerdict (final)
    overrides : dict track -> Config in force for the final rendering
    steps : dict track -> list of str
    residual : list of residual records (from the final rendering)
    """
    from .escalate import escalation_plan

    checks = first
    verdicts = checks.verdicts()
    overrides: dict[int, Config] = {}
    steps: dict[int, list[str]] = {}
    plan = escalation_plan(config.mode, blur_strength=config.blur_strength,
                           pixelate_blocks=config.pixelate_blocks) if config.reversible else []
    for setting in plan:
        leaking = {t for t, v in verdicts.items() if v.leaks}
        if not leaking:
            break
        for t in leaking:
            overrides[t] = config.replace(**setting.config_changes())
        checks = render_pass(dict(overrides))
        verdicts = checks.verdicts(overrides=overrides)
        for t in leaking:
            steps.setdefault(t, []).append(f"{setting.mode} {_setting_text(setting)}: "
                                           f"{'leak' if verdicts[t].leaks else 'pass'} ({_dist(verdicts[t])})")
    return verdicts, overrides, steps, checks.residual
