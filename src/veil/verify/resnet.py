"""dlib's face-recognition ResNet, read from its own model file and run with numpy.

The network and its weights are dlib's (``dlib_face_recognition_resnet_model_v1.dat``
in ``face_recognition_models``, public domain); only the arithmetic runs here.
dlib's own CPU build runs it in ~89 ms per chip on this project's machine and
holds the GIL throughout; the same layers as im2col matrix products on numpy's
BLAS take ~19 ms on one core, release the GIL, and agree with
``dlib.face_recognition_model_v1.compute_face_descriptor`` to ~1e-6 (the tests
compare both on real faces; ``bench/recognizer_speed.py`` on LFW). dlib stays the source of landmarks and chips.

The file is dlib's serialization of ``anet_type`` from dlib's
``dnn_face_recognition_ex.cpp``::

    input (150 x 150 RGB, minus the per-channel mean, / 256)
    con 7x7/2 (32), affine, relu, max_pool 3x3/2
    3 x ares(32); ares_down(64), 3 x ares(64); ares_down(128), 2 x ares(128);
    ares_down(256), 2 x ares(256); ares_down(256)
    avg_pool_everything, fc 256 -> 128 (no bias)

    ares(x)      = relu(x + affine(con3x3(relu(affine(con3x3(x))))))
    ares_down(x) = relu(avg_pool2x2/2(x) + affine(con3x3(relu(affine(con3x3/2(x))))))

dlib adds tensors of different sizes by zero-padding both to the larger
(top-left aligned); a 3x3/2 convolution and a 2x2/2 pool of an 8x8 map give
3x3 and 4x4, so that rule matters. Tags and skips (the residual wiring) are not
written to the file; the reader checks the layer sequence against the
architecture above and refuses anything else.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ModelError

__all__ = ["DlibResNet", "load_dlib_resnet", "CALIBRATED_SHA256"]

_LAYER_NAME = re.compile(rb"\x01[\x04-\x20](con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2)")
# Bytes of per-layer bookkeeping (empty gradient tensors, flags) allowed between
# two layers; anything longer means the file is not laid out as expected.
_MAX_GAP = 256
_CHIP = 150
#: Chips per matrix product: bounds the im2col buffers (~3 MB per chip).
_BATCH = 16


class _Reader:
    """dlib's portable serialization: integers with a size/sign byte, floats as mantissa and exponent."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int(self) -> int:
        control = self.data[self.pos]
        n = control & 0x0F
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + n], "little")
        self.pos += 1 + n
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        return mantissa * 2.0 ** self.int()

    def string(self) -> str:
        n = self.int()
        text = self.data[self.pos:self.pos + n].decode("ascii")
        self.pos += n
        return text

    def tensor(self) -> np.ndarray:
        # Tensors are written as 4 dimensions then raw little-endian float32.
        version = self.int()
        if version != 2:
            raise ValueError(f"tensor version {version}")
        dims = [self.int() for _ in range(4)]
        n = int(np.prod(dims))
        values = np.frombuffer(self.data, "<f4", n, self.pos).astype(np.float32)
        self.pos += 4 * n
        return values.reshape(dims)


@dataclass(frozen=True)
class _Conv:
    weights: np.ndarray  # (C * kh * kw, O), rows in the order im2col produces
    bias: np.ndarray     # (O,)
    kernel: int
    stride: int
    pad: int


@dataclass(frozen=True)
class _Affine:
    gamma: np.ndarray
    beta: np.ndarray


def _read_layers(data: bytes) -> tuple[np.ndarray, list]:
    r = _Reader(data)
    start = data.find(b"input_rgb_image_sized")
    if start < 2:
        raise ValueError("no input_rgb_image_sized layer")
    r.pos = start - 2
    r.string()
    mean = np.array([r.float() for _ in range(3)], np.float32)
    size = (r.int(), r.int())
    if size != (_CHIP, _CHIP):
        raise ValueError(f"input size {size}")
    layers: list = []
    while True:
        m = _LAYER_NAME.search(data, r.pos)
        if m is None:
            break
        if m.start() - r.pos > _MAX_GAP:
            raise ValueError(f"unexpected {m.start() - r.pos} bytes before layer {len(layers)}")
        r.pos = m.start()
        name = r.string()
        if name == "con_4":
            params = r.tensor().ravel()
            n_out, kh, kw, sy, sx, py, px = (r.int() for _ in range(7))
            if min(n_out, kh, kw, sy, sx) < 1:
                raise ValueError(f"convolution {len(layers)}: empty geometry")
            n_in = (params.size - n_out) // (n_out * kh * kw)
            if kh != kw or sy != sx or py != px or n_in * n_out * kh * kw + n_out != params.size:
                raise ValueError(f"convolution {len(layers)}: unexpected geometry")
            w = params[:-n_out].reshape(n_out, n_in * kh * kw)
            layers.append(_Conv(np.ascontiguousarray(w.T), params[-n_out:].copy(), kh, sy, py))
        elif name == "affine_":
            params = r.tensor().ravel()
            half = params.size // 2
            layers.append(_Affine(params[:half].copy(), params[half:].copy()))
        elif name in ("max_pool_2", "avg_pool_2"):
            kh, kw, sy, sx, py, px = (r.int() for _ in range(6))
            if kh != kw or sy != sx or py or px:
                raise ValueError(f"pool {len(layers)}: unexpected geometry")
            layers.append((name[:3], kh, sy))
        elif name == "fc_2":
            n_out, n_in = r.int(), r.int()
            layers.append(("fc", np.ascontiguousarray(r.tensor().reshape(n_in, n_out))))
        else:
            layers.append(name.rstrip("_"))
    return mean, layers


def _kind(layer) -> str:
    if isinstance(layer, _Conv):
        return "con"
    if isinstance(layer, _Affine):
        return "affine"
    return layer if isinstance(layer, str) else layer[0]


_ARES = ["con", "affine", "relu", "con", "affine", "add_prev", "relu"]
_ARES_DOWN = ["con", "affine", "relu", "con", "affine", "avg", "add_prev", "relu"]
#: (block, filters) in input-to-output order: the architecture in the module docstring.
_BLOCKS = ([("ares", 32)] * 3 + [("ares_down", 64)] + [("ares", 64)] * 3 + [("ares_down", 128)]
           + [("ares", 128)] * 2 + [("ares_down", 256)] + [("ares", 256)] * 2 + [("ares_down", 256)])


def _check_architecture(layers: list) -> None:
    kinds = [_kind(x) for x in layers]
    want = ["con", "affine", "relu", "max"]
    for block, _ in _BLOCKS:
        want += _ARES if block == "ares" else _ARES_DOWN
    want += ["avg", "fc"]
    if kinds != want:
        raise ValueError("layer sequence differs from dlib's face recognition ResNet v1")
    convs = [x for x in layers if isinstance(x, _Conv)]
    if convs[0].weights.shape != (3 * 7 * 7, 32) or (convs[0].stride, convs[0].pad) != (2, 0):
        raise ValueError("first convolution differs")
    for i, (block, filters) in enumerate(_BLOCKS):
        first, second = convs[1 + 2 * i], convs[2 + 2 * i]
        stride = 2 if block == "ares_down" else 1
        if (first.weights.shape[1], second.weights.shape[1]) != (filters, filters) \
                or (first.kernel, second.kernel) != (3, 3) or (first.stride, second.stride) != (stride, 1) \
                or (first.pad, second.pad) != (0 if stride == 2 else 1, 1):
            raise ValueError(f"block {i} differs")
    for conv, affine in zip(layers, layers[1:]):
        if isinstance(affine, _Affine) and (not isinstance(conv, _Conv)
                                            or affine.gamma.shape != (conv.weights.shape[1],)):
            raise ValueError("a batch-norm (affine) layer does not match its convolution")
    if layers[-2][1] != 0 or layers[-1][1].shape != (256, 128):
        raise ValueError("head differs")


def _conv(x: np.ndarray, c: _Conv) -> np.ndarray:
    """(N, H, W, C) -> (N, H', W', O): zero padding, im2col, one matrix product."""
    if c.pad:
        x = np.pad(x, ((0, 0), (c.pad, c.pad), (c.pad, c.pad), (0, 0)))
    windows = sliding_window_view(x, (c.kernel, c.kernel), axis=(1, 2))[:, ::c.stride, ::c.stride]
    n, h, w = windows.shape[:3]
    y = windows.reshape(n * h * w, -1) @ c.weights
    y += c.bias
    return y.reshape(n, h, w, -1)


def _pool(x: np.ndarray, kind: str, size: int, stride: int) -> np.ndarray:
    if size == 0:  # avg_pool_everything
        return x.mean(axis=(1, 2), keepdims=True)
    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    return windows.max(axis=(-2, -1)) if kind == "max" else windows.mean(axis=(-2, -1))


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's add_prev: both zero-padded to the larger size, aligned at the top left."""
    if a.shape == b.shape:
        return a + b
    out = np.zeros(np.maximum(a.shape, b.shape), np.float32)
    out[:, :a.shape[1], :a.shape[2], :a.shape[3]] += a
    out[:, :b.shape[1], :b.shape[2], :b.shape[3]] += b
    return out


class DlibResNet:
    """dlib's 128-d face descriptor network over numpy (see the module docstring).

    Stateless after loading; safe to call from several threads.
    """

    def __init__(self, mean: np.ndarray, layers: list) -> None:
        _check_architecture(layers)
        self._mean = mean
        self._layers = layers

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors of aligned chips.

        Parameters
        ----------
        chips : (N, 150, 150, 3) uint8
            RGB chips aligned like ``dlib.get_face_chip(size=150, padding=0.25)``.

        Returns
        -------
        (N, 128) ndarray of float32
        """
        chips = np.asarray(chips)
        if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (_CHIP, _CHIP, 3):
            raise ValueError(f"expected (N, {_CHIP}, {_CHIP}, 3) uint8 chips, got {chips.shape} {chips.dtype}")
        out = [self._forward(chips[i:i + _BATCH]) for i in range(0, len(chips), _BATCH)]
        return np.concatenate(out) if out else np.zeros((0, 128), np.float32)

    def _forward(self, chips: np.ndarray) -> np.ndarray:
        layers = self._layers
        x = (chips.astype(np.float32) - self._mean) / np.float32(256)
        x = self._run(x, layers[:4])
        i = 4
        for block, _ in _BLOCKS:
            inner = self._run(x, layers[i:i + 5])
            if block == "ares_down":
                _, size, stride = layers[i + 5]
                x = _pool(x, "avg", size, stride)
                i += 8
            else:
                i += 7
            x = np.maximum(_add(inner, x), 0)
        x = x.mean(axis=(1, 2))
        return (x @ layers[-1][1]).astype(np.float32)

    @staticmethod
    def _run(x: np.ndarray, layers: list) -> np.ndarray:
        for layer in layers:
            if isinstance(layer, _Conv):
                x = _conv(x, layer)
            elif isinstance(layer, _Affine):
                x = x * layer.gamma + layer.beta
            elif layer == "relu":
                x = np.maximum(x, 0)
            else:
                x = _pool(x, *layer)
        return x


#: sha256 of the model file the leak threshold was calibrated with
#: (``face_recognition_models`` 0.3.0; the file has not changed since 2017).
CALIBRATED_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"


def load_dlib_resnet(path: str | Path, *, sha256: str | None = CALIBRATED_SHA256) -> DlibResNet:
    """Read dlib's ``dlib_face_recognition_resnet_model_v1.dat``.

    Parameters
    ----------
    path : str or Path
    sha256 : str or None, keyword-only
        The file's expected sha256. The leak threshold holds only for the
        weights it was calibrated with, so other weights -- a damaged file, or
        one replaced -- are refused rather than measured with. None: any
        weights of the right architecture (tests).

    Raises
    ------
    ModelError
        The file is missing, is not that network, or holds other weights.
    """
    try:
        data = Path(path).read_bytes()
        net = DlibResNet(*_read_layers(data))
    except OSError as exc:
        raise ModelError(f"cannot read the face recognizer at {path}: {exc.strerror}") from exc
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not dlib's face recognition ResNet v1 ({exc})") from exc
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ModelError(f"{path} holds other weights than the recognizer veil's leak threshold was calibrated "
                         "with; reinstall face-recognition-models")
    return net
