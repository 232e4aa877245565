"""dlib's face recognizer, used only to compare a face with its own anonymized copy.

veil never compares a face with another person's face: there is no gallery,
no search and no identification. The recognizer answers one question, "does
the anonymized picture, at the same place and with the same alignment, still
look like the face that was there?".

Models: dlib's 5-point landmark predictor and its ResNet face embedding
(128-d, trained by Davis King; public domain / CC0), located by path inside
``face_recognition_models`` (see :func:`veil.models.dlib_model_path`). The
68-point predictor is non-commercial and never used. Models load on first use
and are cached per process. The ResNet's weights are read from dlib's file and
run with numpy (:mod:`veil.verify.resnet`: same descriptors, ~4.8x faster here,
and the GIL is released); landmarks and chips are dlib's own.

Alignment
---------
Verification works on an *aligned crop*: the face rotated upright and scaled
like ``dlib.get_face_chip`` does, but with a wide margin (``CROP_PADDING``) so
that attacks (deconvolution, inpainting) see the surroundings. The 150 x 150
chip the embedding network expects is the centre of that crop
(:func:`inner_chip`), which matches ``dlib.get_face_chip(size=150,
padding=0.25)`` to within interpolation error. The anonymized picture is always
aligned with the landmarks of the *original*, so both chips cover the same
place.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from ..models import dlib_model_path

__all__ = [
    "Recognizer",
    "get_recognizer",
    "face_distance",
    "shape_points",
    "make_shape",
    "inner_chip",
    "CHIP_SIZE",
    "CHIP_PADDING",
    "CROP_SIZE",
    "CROP_PADDING",
]

#: Side of the chip the embedding network takes, and dlib's default padding.
CHIP_SIZE = 150
CHIP_PADDING = 0.25
#: The aligned crop: same alignment, wider margin. With these values its centre
#: ``CHIP_SIZE`` x ``CHIP_SIZE`` window is exactly the 0.25-padded chip:
#: ``CROP_SIZE / (1 + 2 * CROP_PADDING) == CHIP_SIZE / (1 + 2 * CHIP_PADDING)``.
CROP_PADDING = 0.75
CROP_SIZE = 250
_INNER0 = (CROP_SIZE - CHIP_SIZE) // 2

_lock = threading.Lock()
_models: dict[str, object] = {}


def _model(name: str):
    """Load (once per process) and return a dlib model: 'landmarks5' or 'recognizer'."""
    with _lock:
        if name not in _models:
            path = str(dlib_model_path(name))
            if name == "landmarks5":
                import dlib

                _models[name] = dlib.shape_predictor(path)
            else:
                from .resnet import load_dlib_resnet

                _models[name] = load_dlib_resnet(path)
        return _models[name]


def shape_points(shape) -> np.ndarray:
    """(5, 2) float32 landmark coordinates ``(x, y)`` of a dlib shape."""
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32).reshape(-1, 2)


def make_shape(points: np.ndarray, box: Sequence[float]):
    """Build a ``dlib.full_object_detection`` from (5, 2) points and an xyxy box."""
    import dlib

    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    rect = dlib.rectangle(x1, y1, x2, y2)
    pts = [dlib.point(int(round(float(x))), int(round(float(y)))) for x, y in np.asarray(points).reshape(-1, 2)]
    return dlib.full_object_detection(rect, pts)


def inner_chip(crop: np.ndarray) -> np.ndarray:
    """The ``CHIP_SIZE`` chip at the centre of an aligned ``CROP_SIZE`` crop (a view)."""
    if crop.shape[:2] != (CROP_SIZE, CROP_SIZE):
        raise ValueError(f"expected a {CROP_SIZE}x{CROP_SIZE} aligned crop, got {crop.shape[:2]}")
    return crop[_INNER0:_INNER0 + CHIP_SIZE, _INNER0:_INNER0 + CHIP_SIZE]


def face_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance between embeddings (the raw score; no decision).

    Parameters
    ----------
    a : (128,) or (N, 128) array
    b : (128,) or (M, 128) array

    Returns
    -------
    float or (N,) or (N, M) ndarray of float64
        Broadcasts like ``face_recognition.face_distance``: one row against many
        gives ``(M,)``; two stacks give the ``(N, M)`` matrix.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim == 1 and b.ndim == 1:
        return float(np.linalg.norm(a - b))
    if a.ndim == 1:
        return np.linalg.norm(b - a[None, :], axis=1)
    if b.ndim == 1:
        return np.linalg.norm(a - b[None, :], axis=1)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)


def _contiguous_rgb8(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB picture, got {img.shape} {img.dtype}")
    return np.ascontiguousarray(img)


class Recognizer:
    """Landmarks, alignment and embeddings (dlib, 5-point, ResNet 128-d).

    Cheap to construct: the models load on first use and are shared by every
    instance of the process.

    Examples
    --------
    >>> rec = Recognizer()                                 # doctest: +SKIP
    >>> shape = rec.landmarks(rgb, (85, 131, 232, 284))    # doctest: +SKIP
    >>> emb = rec.embed([rec.chip(rgb, shape)])            # doctest: +SKIP
    """

    #: Embedding distance dlib documents as "same person" (for reference only;
    #: veil decides with its own calibrated threshold, see ``threshold.py``).
    DLIB_SAME_PERSON = 0.6

    def landmarks(self, rgb: np.ndarray, box: Sequence[float]):
        """5-point landmarks of the face in ``box``.

        Parameters
        ----------
        rgb : (H, W, 3) uint8
            The ORIGINAL picture.
        box : (4,) xyxy in pixels

        Returns
        -------
        dlib.full_object_detection
            Use :func:`shape_points` for a ``(5, 2)`` array.
        """
        import dlib

        x1, y1, x2, y2 = (float(v) for v in box)
        rect = dlib.rectangle(int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2)))
        return _model("landmarks5")(_contiguous_rgb8(rgb), rect)

    def chip(self, rgb: np.ndarray, shape, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
        """Aligned face chip via ``dlib.get_face_chip``.

        Parameters
        ----------
        rgb : (H, W, 3) uint8
        shape : dlib.full_object_detection
            Landmarks, normally of the ORIGINAL picture (also for its anonymized copy).

        Returns
        -------
        (size, size, 3) uint8
        """
        import dlib

        return np.asarray(dlib.get_face_chip(_contiguous_rgb8(rgb), shape, size=int(size), padding=float(padding)))

    def aligned_crop(self, rgb: np.ndarray, shape) -> np.ndarray:
        """Aligned crop with a wide margin: ``(CROP_SIZE, CROP_SIZE, 3)`` uint8."""
        return self.chip(rgb, shape, size=CROP_SIZE, padding=CROP_PADDING)

    @staticmethod
    def align_mask(mask: np.ndarray, shape) -> np.ndarray:
        """Carry a picture-sized bool mask into aligned-crop coordinates.

        A crop pixel is covered when any of its interpolated support is
        (conservative, like :func:`veil.region.union_mask`).
        """
        import dlib

        m = np.ascontiguousarray(np.asarray(mask, dtype=np.float32))
        if m.ndim != 2:
            raise ValueError("mask must be (H, W)")
        warped = np.asarray(dlib.get_face_chip(m, shape, size=CROP_SIZE, padding=CROP_PADDING))
        return warped > 1e-3

    @staticmethod
    def crop_scale(shape) -> float:
        """Picture pixels per aligned-crop pixel for this face."""
        import dlib

        details = dlib.get_face_chip_details(shape, size=CROP_SIZE, padding=CROP_PADDING)
        return float(details.rect.width()) / CROP_SIZE

    def embed(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """Embed aligned chips in one batch.

        Parameters
        ----------
        chips : sequence of (150, 150, 3) uint8
            Chips aligned like ``dlib.get_face_chip`` (see :meth:`chip`, :func:`inner_chip`).

        Returns
        -------
        (N, 128) ndarray of float32
        """
        batch = []
        for c in chips:
            c = _contiguous_rgb8(c)
            if c.shape[:2] != (CHIP_SIZE, CHIP_SIZE):
                raise ValueError(f"chips must be {CHIP_SIZE}x{CHIP_SIZE}, got {c.shape[:2]}")
            batch.append(c)
        if not batch:
            return np.zeros((0, 128), np.float32)
        return _model("recognizer")(np.stack(batch))


_default: Recognizer | None = None


def get_recognizer() -> Recognizer:
    """The process-wide :class:`Recognizer` (models shared, loaded lazily)."""
    global _default
    if _default is None:
        _default = Recognizer()
    return _default
