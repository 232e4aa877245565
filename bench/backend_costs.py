#!/usr/bin/env python
"""CenterFace on each CPU backend veil could use: CPU time per call and how far the outputs move (issue 14).

One call per input shape, one thread, the same random picture for every backend:
onnxruntime fp32 (veil's default), OpenVINO with f32 inference precision (the same
arithmetic, another library: would it be a lossless speed-up?) and OpenVINO bf16
(``--precision bf16``). CPU time is the median of ``--repeats`` calls after one
warm-up call; "max diff" is the largest absolute difference of any output map
from onnxruntime's.

Usage::

    .venv/bin/python bench/backend_costs.py            # needs veil[bf16] (OpenVINO)
    .venv/bin/python bench/backend_costs.py --shapes 384x640,736x1280 --repeats 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402


def cpu_ms(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        call()
        times.append(1000 * (time.process_time() - t))
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="384x640,736x1280,384x384,768x768", help="HxW of the network input")
    ap.add_argument("--repeats", type=int, default=6)
    args = ap.parse_args(argv)

    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    for name in ("openvino_telemetry", "openvino.tools.ovc"):  # as veil.detect.bf16: nothing written or sent
        sys.modules.setdefault(name, None)
    import openvino

    from veil.detect.centerface import centerface_onnx_path, ort_model_bytes
    from veil.detect.onnx import new_session

    model = ort_model_bytes(centerface_onnx_path())
    ort = new_session(model, threads=1, what="CenterFace")
    core = openvino.Core()
    compiled = {p: core.compile_model(core.read_model(model, b""), "CPU", {
        "INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": p, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
        for p in ("f32", "bf16")}
    name = ort.get_inputs()[0].name
    rng = np.random.default_rng(0)
    rows = []
    for shape in args.shapes.split(","):
        h, w = map(int, shape.split("x"))
        x = (rng.random((1, 3, h, w)) * 255).astype(np.float32)
        reference = ort.run(None, {name: x})
        row = [f"{w}x{h}", f"{cpu_ms(lambda: ort.run(None, {name: x}), args.repeats):.1f}"]
        for p, cm in compiled.items():
            out = cm(x)
            diff = max(float(np.abs(np.asarray(out[i]) - reference[i]).max()) for i in range(len(reference)))
            ms = cpu_ms(lambda: cm(x), args.repeats)
            row += [f"{ms:.1f} ({ms / float(row[1]):.2f}x)", f"{diff:.2g}"]
        rows.append(row)
        print(" | ".join(row), flush=True)
    print(B.md_table(["input", "onnxruntime fp32 ms", "OpenVINO f32 ms", "max diff", "OpenVINO bf16 ms", "max diff"],
                     rows))
    print(f"(openvino {openvino.__version__}; {B.machine_info().get('cpu')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
