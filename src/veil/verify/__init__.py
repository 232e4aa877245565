"""Verification: prove that each anonymized face no longer matches its own original.

The recognizer (dlib ResNet, 5-point alignment) is only ever used to compare a
face with ITS OWN anonymized version, at the same place in the same file:
there is no gallery, no search, no identification.

Public API (resolved lazily; importing this package loads no model)::

    verify_face(original_rgb, anonymized_rgb, box, *, region_mask=None, recognizer=None,
                attacks='all', threshold=None, frame=None) -> FaceVerdict
    verify_track(originals, anonymized, boxes, *, region_masks=None, recognizer=None,
                 attacks='all', k=4, threshold=None, track_id=None, frame_indices=None,
                 max_combined=32) -> TrackVerdict
    TrackCollector(*, recognizer=None, track_id=None, max_combined=32)  # streaming tracks
    pick_representative(frames_meta, k=4) -> list[int]
    summarize(verdicts, *, residual=(), threshold=None) -> dict   # file-level record for the report
    residual_faces(anonymized_rgb, covered_mask, detector, *, min_score=0.5, max_inside=0.5) -> Detections
    escalation_plan(mode, *, blur_strength=0.25, pixelate_blocks=10) -> list[Setting]
    escalate_until_safe(render_fn, verify_fn, plan) -> (result, steps)
    Recognizer, get_recognizer, face_distance
    IMPOSTOR_THRESHOLD, PROVENANCE
    ATTACKS, register_attack, multi_frame
"""

from __future__ import annotations

__all__ = [
    "verify_face",
    "verify_track",
    "TrackCollector",
    "FaceVerdict",
    "TrackVerdict",
    "FrameMeta",
    "pick_representative",
    "MIN_FACE_PX",
    "summarize",
    "provenance_text",
    "residual_faces",
    "escalation_plan",
    "escalate_until_safe",
    "Setting",
    "EscalationStep",
    "Recognizer",
    "get_recognizer",
    "face_distance",
    "IMPOSTOR_THRESHOLD",
    "PROVENANCE",
    "ATTACKS",
    "register_attack",
    "multi_frame",
]

_LAZY = {
    "verify_face": "core",
    "verify_track": "core",
    "TrackCollector": "core",
    "FaceVerdict": "core",
    "TrackVerdict": "core",
    "FrameMeta": "core",
    "pick_representative": "core",
    "MIN_FACE_PX": "core",
    "summarize": "core",
    "provenance_text": "core",
    "residual_faces": "residual",
    "escalation_plan": "escalate",
    "escalate_until_safe": "escalate",
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


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
