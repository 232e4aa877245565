"""Where onnxruntime runs the detectors: CUDA where a GPU is usable, else the CPU.

With ``onnxruntime-gpu`` installed (the optional extra ``veil[gpu]``) and
``CUDAExecutionProvider`` among onnxruntime's providers, sessions ask for
``["CUDAExecutionProvider", "CPUExecutionProvider"]``; otherwise for the CPU
only. Never ``providers=None``: onnxruntime would pick any provider it has
(e.g. ``AzureExecutionProvider``). A session that asked for CUDA but runs on
the CPU (no driver, no device) says so once, in one line
(:func:`provider_notice`).

Results do not depend on the provider beyond float noise: CUDA's convolutions
sum in another order, so scores differ in the last digits and a box whose
score sits exactly at the threshold may differ. The regions veil covers are
padded (``region_scale``) far beyond such differences.
"""

from __future__ import annotations

import threading

__all__ = ["CUDA", "CPU", "execution_providers", "provider_notice", "note_session"]

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_lock = threading.Lock()
_notice: list[str] = []


def execution_providers() -> list[str]:
    """The providers to ask onnxruntime for, best first (CPU always last)."""
    import onnxruntime as ort

    return [CUDA, CPU] if CUDA in ort.get_available_providers() else [CPU]


def note_session(session, asked: list[str]) -> None:
    """Record a one-line notice when a session asked for CUDA and got the CPU."""
    if CUDA in asked and session.get_providers()[:1] != [CUDA]:
        with _lock:
            if not _notice:
                _notice.append("onnxruntime-gpu is installed but CUDA is not usable here (no GPU or driver); "
                               "detecting on the CPU")


def provider_notice() -> str | None:
    """The notice of :func:`note_session`, once per process (None when there is none)."""
    with _lock:
        return _notice[0] if _notice else None
