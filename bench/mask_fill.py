"""Filling in a covered face offline: OpenCV inpainting and an eigenface completion.

Both methods are told exactly which pixels the occlusion hides (an attacker
who knows where the mask is: this favours the attacker).

* :func:`inpaint`: OpenCV's Telea inpainting, which propagates the colours
  around the hole into it; it knows nothing about faces.
* :class:`FaceCompletion`: the classical "learned" completion. A PCA model
  (eigenfaces) of aligned, uncovered faces of *other* people; the hidden
  pixels are the model's most probable values given the visible ones (the
  posterior mean of a probabilistic PCA: ridge regression of the visible
  pixels on the principal components, the prior variance of each component
  being its eigenvalue). It works on the chip at half resolution
  (:data:`PCA_SIDE`); visible pixels stay as they were.
"""

from __future__ import annotations

import cv2
import numpy as np

from veil.verify.recognizer import CHIP_SIZE

__all__ = ["PCA_SIDE", "FaceCompletion", "inpaint", "downsample_chip"]

#: Side of the chip the eigenface model works on (pixels).
PCA_SIDE = 75


def inpaint(rgb: np.ndarray, hidden: np.ndarray, *, radius: float = 5.0) -> np.ndarray:
    """Telea inpainting of the ``hidden`` pixels of ``rgb`` ((H, W, 3) uint8, (H, W) bool); a new array."""
    rgb = np.ascontiguousarray(rgb)
    hidden = np.asarray(hidden, bool)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or hidden.shape != rgb.shape[:2]:
        raise ValueError("inpaint expects (H, W, 3) uint8 and an (H, W) mask")
    if not hidden.any():
        return rgb.copy()
    return cv2.inpaint(rgb, hidden.astype(np.uint8), float(radius), cv2.INPAINT_TELEA)


def downsample_chip(chip: np.ndarray) -> np.ndarray:
    """A (150, 150, 3) uint8 chip at :data:`PCA_SIDE` px (area average), uint8."""
    return cv2.resize(np.ascontiguousarray(chip), (PCA_SIDE, PCA_SIDE), interpolation=cv2.INTER_AREA)


def _hidden_small(hidden: np.ndarray) -> np.ndarray:
    """A small pixel is hidden when any of the chip pixels it averages is."""
    f = CHIP_SIZE // PCA_SIDE
    return np.asarray(hidden, bool).reshape(PCA_SIDE, f, PCA_SIDE, f).any(axis=(1, 3))


class FaceCompletion:
    """Eigenface model of aligned faces that completes hidden pixels.

    Build with :meth:`fit`. Attributes: ``mean`` (d,), ``axes`` (d, k)
    orthonormal, ``variances`` (k,), ``noise`` (per-pixel residual variance),
    with ``d = PCA_SIDE * PCA_SIDE * 3`` in [0, 1] units.
    """

    def __init__(self, mean: np.ndarray, axes: np.ndarray, variances: np.ndarray, noise: float, *,
                 shrink: float = 1.0) -> None:
        self.mean = np.asarray(mean, np.float64)
        self.axes = np.asarray(axes, np.float64)
        self.variances = np.asarray(variances, np.float64)
        self.noise = float(noise)
        self.shrink = float(shrink)

    def with_shrink(self, shrink: float) -> "FaceCompletion":
        """The same model with another ridge factor (see :meth:`fit`)."""
        return FaceCompletion(self.mean, self.axes, self.variances, self.noise, shrink=shrink)

    @property
    def components(self) -> int:
        return self.axes.shape[1]

    @classmethod
    def fit(cls, small_chips: np.ndarray, *, components: int = 100, shrink: float = 1.0) -> "FaceCompletion":
        """Fit on uncovered faces.

        Parameters
        ----------
        small_chips : (N, PCA_SIDE, PCA_SIDE, 3) uint8
            Aligned chips from :func:`downsample_chip`, N > components.
        components : int, keyword-only
        shrink : float, keyword-only
            Multiplies the residual variance in the ridge term. 1 is the
            textbook posterior mean; on faces, where the residual is far from
            the isotropic noise the model assumes, a larger value (chosen on
            held-out people) keeps the completion from chasing the visible
            pixels' detail.
        """
        x = np.asarray(small_chips)
        if x.ndim != 4 or x.shape[1:] != (PCA_SIDE, PCA_SIDE, 3):
            raise ValueError(f"expected (N, {PCA_SIDE}, {PCA_SIDE}, 3) chips, got {x.shape}")
        n = x.shape[0]
        if not 0 < components < n:
            raise ValueError(f"components must be in (0, {n}), got {components}")
        x = x.reshape(n, -1).astype(np.float64) / 255.0
        mean = x.mean(axis=0)
        xc = x - mean
        # n << d: eigenvectors of the n x n Gram matrix give the principal axes.
        evals, evecs = np.linalg.eigh(xc @ xc.T)
        order = np.argsort(evals)[::-1][:components]
        evals, evecs = np.clip(evals[order], 1e-12, None), evecs[:, order]
        axes = (xc.T @ evecs) / np.sqrt(evals)
        variances = evals / (n - 1)
        total = float(np.sum(xc * xc)) / (n - 1)
        noise = max(total - float(variances.sum()), 1e-12) / x.shape[1]
        return cls(mean, axes, variances, noise, shrink=shrink)

    def complete_small(self, small: np.ndarray, hidden_small: np.ndarray) -> np.ndarray:
        """Posterior mean of the whole small chip given its visible pixels: (PCA_SIDE, PCA_SIDE, 3) float64 in [0, 1]."""
        x = np.asarray(small, np.float64).reshape(-1) / 255.0
        vis = ~np.repeat(np.asarray(hidden_small, bool).reshape(-1), 3)
        if not vis.any():
            return self.mean.reshape(PCA_SIDE, PCA_SIDE, 3).clip(0, 1)
        u_v = self.axes[vis]
        if vis.mean() > 0.5:  # U^T U = I: the smaller side is cheaper
            u_h = self.axes[~vis]
            gram = np.eye(self.components) - u_h.T @ u_h
        else:
            gram = u_v.T @ u_v
        gram[np.diag_indices_from(gram)] += self.shrink * self.noise / self.variances
        coef = np.linalg.solve(gram, u_v.T @ (x[vis] - self.mean[vis]))
        return (self.mean + self.axes @ coef).reshape(PCA_SIDE, PCA_SIDE, 3).clip(0, 1)

    def complete(self, chip: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """Fill the ``hidden`` pixels of a chip.

        Parameters
        ----------
        chip : (150, 150, 3) uint8
        hidden : (150, 150) bool

        Returns
        -------
        (150, 150, 3) uint8
            Visible pixels unchanged; hidden ones from the model (upsampled).
        """
        chip = np.asarray(chip)
        hidden = np.asarray(hidden, bool)
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3) or chip.dtype != np.uint8 or hidden.shape != chip.shape[:2]:
            raise ValueError("complete expects a (150, 150, 3) uint8 chip and a (150, 150) mask")
        out = chip.copy()
        if not hidden.any():
            return out
        full = self.complete_small(downsample_chip(chip), _hidden_small(hidden))
        big = cv2.resize((full * 255.0).astype(np.float32), (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_LINEAR)
        out[hidden] = np.clip(np.rint(big[hidden]), 0, 255).astype(np.uint8)
        return out
