"""bfloat16 inference of veil's float networks with OpenVINO, on CPUs that compute in bf16.

``--precision bf16`` runs the same float weights as ``fp32`` (nothing is
re-quantized or shipped), but OpenVINO's CPU plugin computes the convolutions
in bfloat16 where the CPU has native bf16 instructions (AVX512_BF16 or AMX):
one CenterFace call at 640x384 takes 0.55x onnxruntime's fp32 CPU time on
this project's AMD EPYC; the output maps differ from fp32 by rounding (the
heatmap by at most 0.003 on that call). On a CPU without native bf16
OpenVINO would emulate it, slower than onnxruntime's fp32: veil refuses
instead (:func:`unavailable`).

OpenVINO is an optional extra (``pip install 'veil[bf16]'``). Its package
imports a usage-telemetry client that writes a client id under ``~/intel``
on import; veil blocks that module before importing OpenVINO (OpenVINO then
uses its own no-op stub), so nothing is written and nothing could be sent.

A :class:`Bf16Session` has onnxruntime's ``run(output_names, feeds)``, so the
detectors call it as they call an ``InferenceSession``. Input shapes are
dynamic (the model compiles once; each new shape costs one slower first call).
"""

from __future__ import annotations

import functools
import sys
import threading

import numpy as np

from ..errors import ModelError

__all__ = ["Bf16Session", "float_precision", "runs_bf16", "unavailable", "require", "EXTRA"]

#: How to install what bf16 needs.
EXTRA = "pip install 'veil[bf16]'"
#: Prepared kernels OpenVINO keeps for the input shapes it has seen (its own default; see Bf16Session).
SHAPE_CACHE = 5000


@functools.lru_cache(maxsize=1)
def _openvino():
    # OpenVINO's package __init__ imports its model converter, which imports
    # openvino_telemetry and records an "import" event (a client id file in
    # the home directory). Blocked modules make both imports fail, which
    # OpenVINO handles (no converter, telemetry stub); veil needs neither.
    for name in ("openvino_telemetry", "openvino.tools.ovc"):
        sys.modules.setdefault(name, None)
    try:
        import openvino
    except ImportError as exc:
        raise ModelError(f"precision bf16 needs OpenVINO ({EXTRA})") from exc
    return openvino, openvino.Core()


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why bf16 cannot run here (one line), or None where it can.

    It can where OpenVINO is installed and its CPU plugin reports native bf16.
    """
    try:
        _, core = _openvino()
    except ModelError as exc:
        return str(exc)
    try:
        caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception as exc:  # OpenVINO raises its own types
        return f"OpenVINO cannot use this CPU: {exc}"
    if "BF16" not in caps:
        return ("precision bf16 needs a CPU with native bfloat16 (AVX512_BF16 or AMX); this one has none "
                "(use --precision fp32)")
    return None


def float_precision(precision: str) -> str:
    """What a network with float weights only (the DBNet text detector) runs for a run's ``precision``.

    ``bf16`` applies to every network; ``int8`` is a quantized copy of
    CenterFace alone, so the others run ``fp32`` under it.
    """
    return "bf16" if precision == "bf16" else "fp32"


def runs_bf16(precision: str) -> bool:
    """Whether a network asked to run at ``precision`` runs in bf16 here: asked for, and no GPU.

    A GPU runs the float model (faster there than any CPU path); the CPU runs
    bf16 or fails (:class:`Bf16Session`) -- never fp32 in its place unasked.
    """
    if precision != "bf16":
        return False
    from .providers import CUDA, execution_providers

    return CUDA not in execution_providers()


def require(config) -> None:
    """Raise a one-line ``ModelError`` when ``config`` asks for bf16 and it cannot run here.

    Checked once, before any file. Where a GPU runs the detectors, bf16 is not
    used (the float model runs there) and nothing is required.
    """
    reason = unavailable() if runs_bf16(config.precision) else None
    if reason:
        raise ModelError(reason)


class Bf16Session:
    """One ONNX float model compiled for the CPU with bf16 inference.

    Parameters
    ----------
    model : bytes
        The ONNX model, serialized (float weights; dynamic input shapes).
    threads : int or None, keyword-only
        Threads per call, as for onnxruntime: ``1`` means the caller runs
        calls from several threads at once, so the model gets one single-
        threaded stream per usable CPU; None means one call at a time on
        every core.
    what : str, keyword-only
        The network's name, for error messages.

    Raises
    ------
    veil.errors.ModelError
        bf16 cannot run here (:func:`unavailable`) or the model does not compile.
    """

    def __init__(self, model: bytes, *, threads: int | None, what: str) -> None:
        reason = unavailable()
        if reason:
            raise ModelError(reason)
        _, core = _openvino()
        from ..config import usable_cpus

        # OpenVINO keeps what it prepared for each input shape it has seen: the motion plans'
        # windows of every size cost a slower first call each, and memory (2.5 GB after 2,000
        # window sizes up to 1300 px, against 0.8 GB for onnxruntime; bench/bf16_shapes.py).
        # A smaller cache bounds the memory but cost 4K plans 18-27% more CPU; padding the
        # windows to fewer sizes changed what the plans found. bf16 is opt-in: kept as is.
        config = {"INFERENCE_PRECISION_HINT": "bf16", "CPU_RUNTIME_CACHE_CAPACITY": SHAPE_CACHE}
        if threads == 1:
            # One stream per concurrent caller; a stream with requests from
            # two threads would run them one after the other.
            streams = usable_cpus()
            config.update(NUM_STREAMS=streams, INFERENCE_NUM_THREADS=streams)
        else:
            config.update(PERFORMANCE_HINT="LATENCY")
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self._compiled = core.compile_model(core.read_model(model), "CPU", config)
        except Exception as exc:  # OpenVINO raises its own types
            raise ModelError(f"OpenVINO could not load {what}: {exc}") from exc
        self._local = threading.local()

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The outputs named (None: all, in the model's order), for the inputs by name
        (onnxruntime's ``InferenceSession.run``)."""
        request = getattr(self._local, "request", None)
        if request is None:  # an infer request serves one thread at a time
            request = self._local.request = self._compiled.create_infer_request()
        result = request.infer(feeds)
        outputs = self._compiled.outputs if output_names is None else map(self._compiled.output, output_names)
        return [np.array(result[output]) for output in outputs]
