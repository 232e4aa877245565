"""Masks of what was covered, as PNG files (``--masks``): for evaluation and review."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..media.atomic import atomic_output

__all__ = ["write_mask"]


def write_mask(path: Path, mask: np.ndarray) -> None:
    """Write a ``(H, W)`` bool mask as an 8-bit PNG (covered 255, else 0), atomically."""
    import cv2

    with atomic_output(path) as tmp:
        ok, data = cv2.imencode(".png", mask.astype(np.uint8) * 255)
        if not ok:
            raise MediaError(f"could not encode mask {path.name}")
        tmp.write_bytes(data.tobytes())
