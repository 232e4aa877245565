"""veil: anonymize people in photos and video, irreversibly, and prove it.

Importing veil loads no model and no heavy module: the public verbs resolve
lazily on first use.
"""

from __future__ import annotations

from ._version import __version__

__all__ = [
    "__version__",
    "Config",
    "Detections",
    "anonymize_image",
    "anonymize_file",
]

_LAZY = {
    "Config": ("veil.config", "Config"),
    "Detections": ("veil.detections", "Detections"),
    "anonymize_image": ("veil.pipeline", "anonymize_image"),
    "anonymize_file": ("veil.pipeline", "anonymize_file"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'veil' has no attribute {name!r}")
