"""Shared fixtures. Tests never read ../shared: everything is generated here or in tests/data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

DATA = Path(__file__).parent / "data"
# Shared test helpers (metadata_samples.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def hamilton_clip() -> Path:
    return DATA / "short_hamilton_clip.mp4"


@pytest.fixture(scope="session")
def face_photo() -> Path:
    """A CC0 photo with one large unmasked face."""
    return DATA / "face_mask" / "maksssksksss343.jpg"
