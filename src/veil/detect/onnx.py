"""onnxruntime sessions for veil's networks: quiet, no spinning, providers chosen by veil.

Every network veil runs with onnxruntime (CenterFace, the DBNet text detector)
gets the same options, written once here:

* the providers of :func:`veil.detect.providers.execution_providers` (CUDA
  where onnxruntime-gpu has a GPU, else the CPU) -- never let onnxruntime
  choose (it may pick a provider that reaches out, e.g. ``AzureExecutionProvider``);
* all graph optimizations, warnings off, ``ORT_DISABLE_TELEMETRY``;
* worker threads that sleep instead of spinning: busy-waiting costs more than
  it saves on a shared CPU (measured with CenterFace: 1080p pass 0.71 s
  spinning vs 0.49 s not, load 5 on 2 cores).

``InferenceSession.run`` is thread-safe, so one cached session serves every
thread of the process. ``--precision bf16`` gets an OpenVINO session here
instead (:class:`veil.detect.bf16.Bf16Session`, the same ``run``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

from ..errors import ModelError

__all__ = ["new_session", "shared_session"]

_CACHE: dict[tuple, object] = {}
_CACHE_LOCK = threading.Lock()


def new_session(model: bytes | str | os.PathLike, *, threads: int | None, what: str, bf16: bool = False):
    """A new onnxruntime ``InferenceSession`` with veil's options and providers.

    Parameters
    ----------
    model : bytes or path-like
        The ONNX model, serialized or as a file.
    threads : int or None, keyword-only
        Intra-op threads (None or 0: onnxruntime's default, one per core).
    what : str, keyword-only
        The network's name, for error messages.
    bf16 : bool, keyword-only
        Instead, a :class:`veil.detect.bf16.Bf16Session` of the model (the
        same ``run``); the caller has decided it runs here
        (:func:`veil.detect.bf16.runs_bf16`).

    Raises
    ------
    veil.errors.ModelError
        onnxruntime is missing or cannot load the model (with ``bf16``: OpenVINO).
    """
    if bf16:
        from .bf16 import Bf16Session

        return Bf16Session(model if isinstance(model, bytes) else Path(model).read_bytes(), threads=threads,
                           what=what)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError(f"{what} needs the onnxruntime package (pip install onnxruntime)") from exc
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    from .providers import execution_providers, note_session

    providers = execution_providers()
    source = model if isinstance(model, bytes) else str(model)
    try:
        session = ort.InferenceSession(source, options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        where = "" if isinstance(model, bytes) else f" from {model}"
        raise ModelError(f"onnxruntime could not load {what}{where}: {exc}") from exc
    note_session(session, providers)
    return session


def shared_session(path: str | os.PathLike, *, threads: int | None, what: str,
                   prepare: Callable[[Path], bytes] | None = None, precision: str = "fp32"):
    """The process-wide :func:`new_session` of a model file, loaded on first use.

    Parameters
    ----------
    path : path-like
        The ONNX file.
    threads : int or None, keyword-only
    what : str, keyword-only
    prepare : callable, optional, keyword-only
        ``prepare(path) -> bytes``: a rewrite of the model before loading
        (part of the cache key).
    precision : {'fp32', 'bf16'}, keyword-only
        ``bf16``: a :class:`veil.detect.bf16.Bf16Session` of the model where
        :func:`veil.detect.bf16.runs_bf16` says so (the same ``run``).
    """
    from .bf16 import runs_bf16

    bf16 = runs_bf16(precision)
    key = (str(path), threads, prepare, bf16)
    session = _CACHE.get(key)
    if session is None:
        with _CACHE_LOCK:
            session = _CACHE.get(key)
            if session is None:
                model = prepare(Path(path)) if prepare is not None else Path(path)
                session = _CACHE[key] = new_session(model, threads=threads, what=what, bf16=bf16)
    return session
