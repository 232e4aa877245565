"""veil: anonymize people in photos and video, irreversibly, and prove it.

Importing veil loads no model and no heavy module: the public verbs resolve
lazily on first use. The verbs: ``find_faces`` (a picture's faces),
``anonymize_image`` (cover them), ``anonymize_file`` (a photo or video, written
atomically, with its report record), ``verify_file`` (any anonymized file
against its original), ``audit_file`` (what a file reveals). Each stage's own
API lives in its package (``veil.detect``, ``veil.track``, ``veil.verify``, ...;
see docs/DESIGN.md).
"""

from __future__ import annotations

from ._version import __version__

_LAZY = {
    "Config": ("veil.config", "Config"),
    "Detections": ("veil.detections", "Detections"),
    "Kind": ("veil.detections", "Kind"),
    "Regions": ("veil.region", "Regions"),
    "find_faces": ("veil.detect", "find"),
    "anonymize_image": ("veil.pipeline", "anonymize_image"),
    "anonymize_file": ("veil.pipeline", "anonymize_file"),
    "verify_file": ("veil.commands.verify", "verify_pair"),
    "audit_file": ("veil.commands.audit", "audit_file"),
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'veil' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))  # the lazy verbs too (tab completion)
