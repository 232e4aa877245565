"""Verifying a video while its second pass renders it.

:class:`VideoChecks` collects, frame by frame, the aligned crops of each
track's representative frames (and, for modes whose output varies frame to
frame, the crops the multi-frame attack combines), and samples output frames
for the residual-face check, which may run on a thread of its own beside the
encoder. The pipeline escalates leaking tracks with
:func:`veil.verify.escalate.escalate`, re-encoding the whole video each round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..anonymize import cover
from ..config import RESIDUAL_EVERY, Config, Mode
from ..detect import SideCalls
from ..region import Regions
from .photo import ATTACKS_FOR_MODE, VERIFY_MIN_SCORE, low_confidence_verdict
from .residual import residual_findings
from .threshold import IMPOSTOR_THRESHOLD
from .tracks import TrackCollector
from .verdicts import TrackVerdict

__all__ = ["REPRESENTATIVES_FOR_MODE", "MULTI_FRAME_MODES", "RESIDUAL_EVERY", "VideoChecks",
           "render_with_overrides"]

#: Representative frames verified per track (the multi-frame attack uses more).
REPRESENTATIVES_FOR_MODE = {Mode.FILL: 1, Mode.NOISE: 2, Mode.BLUR: 2, Mode.PIXELATE: 2}
#: Modes whose output varies frame to frame, so averaging a track can reveal the face.
MULTI_FRAME_MODES = frozenset({Mode.NOISE, Mode.PIXELATE, Mode.BLUR})


def render_with_overrides(original: np.ndarray, regions: Regions, keys: list, config: Config,
                          overrides: dict, rng) -> np.ndarray:
    """Cover every region with ``config``, then redo those whose key has an override.

    Parameters
    ----------
    original : ndarray
        Picture before anonymization (not modified).
    regions : Regions
    keys : list
        One key per region (a track id) to look up in ``overrides``.
    config : Config
    overrides : dict
        key -> stronger ``Config`` for that face (escalation).
    """
    out = cover(original, regions, config, rng)
    for key, stronger in overrides.items():
        picked = [i for i, k in enumerate(keys) if k == key]
        if not picked:
            continue
        sub = regions[picked]
        redo = cover(original, sub, stronger, rng)
        mask = sub.mask(*original.shape[:2])
        out[mask] = redo[mask]
    return out


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
    #: Check every n-th output frame for residual faces (None: ``config.residual_every``; 0: never).
    residual_every: int | None = None
    #: True for another tool's output (``veil verify``): every attack, two
    #: representative frames and the multi-frame attack for every track.
    foreign: bool = False
    wanted: dict = field(default_factory=dict)  #: frame -> [(track, box)]
    collectors: dict = field(default_factory=dict)
    residual: list = field(default_factory=list)
    #: Optional executor for the residual check, so that it runs beside the
    #: encoder; call :meth:`finish` once every frame has been observed.
    pool: object = None
    _calls: SideCalls = field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._calls = SideCalls(self.pool, self.residual.extend)
        if self.residual_every is None:
            # Faces not covered (--cover plates): looking for them would flag every one.
            self.residual_every = self.config.residual_every if self.config.covers_faces else 0
        multi = self.foreign or self.config.mode in MULTI_FRAME_MODES
        by_track: dict[int, list[tuple[int, np.ndarray]]] = {}
        scores: dict[int, list[float]] = {}
        for index, dets in enumerate(self.frames):
            detected = (dets.source == 0) & (dets.kind == 0)  # faces only: plates/text have verify.kinds
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
                self.low_confidence[track] = seen[0] + (float(np.median(scores[track])),)
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
            self._calls.call(residual_findings, anonymized_rgb, mask, self.detector, original_rgb=original_rgb,
                             frame=index)

    def finish(self) -> None:
        """Wait for the residual checks still running (in frame order); raises what they raised."""
        self._calls.finish()

    def verdicts(self, *, overrides: dict | None = None) -> dict:
        """Track id -> TrackVerdict, with the attacks of each track's mode."""
        overrides = overrides or {}
        out = {}
        for track, (frame, box, score) in self.low_confidence.items():
            out[track] = TrackVerdict(faces=(low_confidence_verdict(box, frame, score),), multi_frame={},
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
