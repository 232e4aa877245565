"""Verification: prove that each anonymized face no longer matches its own original.

The recognizer (dlib ResNet, 5-point alignment) is only ever used to compare a
face with ITS OWN anonymized version, at the same place in the same file:
there is no gallery, no search, no identification.

Public API (resolved lazily; importing this package loads no model). Modules:
``verdicts`` (raw scores and decisions: FaceVerdict, TrackVerdict, ResidualFinding,
VerificationRecord), ``samples`` (alignment on the original), ``measure``
(attacks and embeddings: verify_face), ``tracks`` (TrackCollector, verify_track),
``photo`` (verify_picture), ``video`` (VideoChecks), ``escalate``, ``residual``,
``attacks``, ``recognizer``, ``threshold``.
"""

from __future__ import annotations

_LAZY = {
    "verify_face": "measure",
    "verify_track": "tracks",
    "TrackCollector": "tracks",
    "FrameMeta": "tracks",
    "pick_representative": "tracks",
    "FaceVerdict": "verdicts",
    "TrackVerdict": "verdicts",
    "ResidualFinding": "verdicts",
    "VerificationRecord": "verdicts",
    "summarize": "verdicts",
    "provenance_text": "verdicts",
    "PASS": "verdicts",
    "LEAK": "verdicts",
    "UNVERIFIABLE": "verdicts",
    "MIN_FACE_PX": "samples",
    "check_landmarks": "samples",
    "verify_picture": "photo",
    "ATTACKS_FOR_MODE": "photo",
    "VERIFY_MIN_SCORE": "photo",
    "VideoChecks": "video",
    "RESIDUAL_EVERY": "video",
    "residual_faces": "residual",
    "residual_findings": "residual",
    "escalation_plan": "escalate",
    "escalate": "escalate",
    "Setting": "escalate",
    "EscalationStep": "escalate",
    "Recognizer": "recognizer",
    "get_recognizer": "recognizer",
    "face_distance": "recognizer",
    "IMPOSTOR_THRESHOLD": "threshold",
    "PROVENANCE": "threshold",
    "ATTACKS": "attacks",
    "register_attack": "attacks",
    "multi_frame": "attacks",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
