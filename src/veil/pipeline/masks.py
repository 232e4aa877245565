"""What a run writes beside its outputs: masks of what was covered (``--masks``), and
a person's edits into the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..media.atomic import atomic_output

__all__ = ["write_mask", "record_edits"]


def write_mask(path: Path, mask: np.ndarray) -> None:
    """Write a ``(H, W)`` bool mask as an 8-bit PNG (covered 255, else 0), atomically."""
    import cv2

    with atomic_output(path) as tmp:
        ok, data = cv2.imencode(".png", mask.astype(np.uint8) * 255)
        if not ok:
            raise MediaError(f"could not encode mask {path.name}")
        tmp.write_bytes(data.tobytes())


def record_edits(report, applied, size: tuple[int, int], config) -> None:
    """Put a person's edits into the report: the review record, what is covered after them, faces left visible.

    Parameters
    ----------
    report : veil.report.FileReport
    applied : veil.edits.AppliedEdits
    size : (height, width)
    config : veil.config.Config
    """
    from ..edits import excuse_left_visible
    from ..report import covered_counts

    report.faces, report.covered = applied.faces, covered_counts(applied.kinds, config)
    report.review = applied.record
    report.verification = excuse_left_visible(report.verification, applied, height=size[0], width=size[1],
                                              region_scale=config.region_scale, region_shape=config.region_shape)
