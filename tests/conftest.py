"""Shared fixtures. Tests never read ../shared: everything is generated here or in tests/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

DATA = Path(__file__).parent / "data"


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


@pytest.fixture(scope="session")
def photo_run(tmp_path_factory) -> Path:
    """A photo with five faces anonymized once (default settings, verified): ``root/in/<photo>``, ``root/out/``.

    Shared by the edits and review tests; tests that change it work on a copy.
    """
    import shutil

    from veil.cli import main

    root = tmp_path_factory.mktemp("photo-run")
    src = root / "in" / "maksssksksss230.jpg"
    src.parent.mkdir()
    shutil.copy(DATA / "face_mask" / src.name, src)
    assert main(["anonymize", str(src), "-o", str(root / "out")]) in (0, 3)
    return root
