"""GPU where there is one (issue 16): the detector asks onnxruntime for CUDA when onnxruntime-gpu
offers it, falls back to the CPU with one notice, and never lets onnxruntime pick a provider.
No GPU here: onnxruntime's provider list is mocked."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import veil.detect.centerface as centerface
import veil.detect.providers as providers
from veil.cli import main
from veil.errors import ExitCode


class _Session:
    """onnxruntime's session on the CPU, whatever was asked; records what was asked."""

    asked: list = []
    real = ort.InferenceSession

    def __init__(self, model, options, providers):
        type(self).asked.append(list(providers))
        self._inner = self.real(model, options, providers=["CPUExecutionProvider"])

    def get_providers(self):
        return ["CPUExecutionProvider"]

    def run(self, *args, **kwargs):
        return self._inner.run(*args, **kwargs)


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(centerface, "_CACHE", {})  # no session made before the mocks
    monkeypatch.setattr(providers, "_notice", [])
    monkeypatch.setattr(ort, "InferenceSession", _Session)
    _Session.asked = []
    return monkeypatch


def test_cuda_is_asked_for_first_when_onnxruntime_offers_it(fresh):
    fresh.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    dets = centerface.CenterFace(threads=1).detect(np.zeros((64, 96, 3), np.uint8))
    assert len(dets) == 0
    assert _Session.asked == [["CUDAExecutionProvider", "CPUExecutionProvider"]]
    # It got the CPU (no GPU here): one notice, once.
    notice = providers.provider_notice()
    assert notice is not None and "\n" not in notice and "CPU" in notice
    centerface.CenterFace(threads=2).detect(np.zeros((64, 96, 3), np.uint8))
    assert providers.provider_notice() == notice


def test_the_cpu_alone_without_onnxruntime_gpu(fresh):
    fresh.setattr(ort, "get_available_providers", lambda: ["AzureExecutionProvider", "CPUExecutionProvider"])
    centerface.CenterFace(threads=1).detect(np.zeros((64, 96, 3), np.uint8))
    assert _Session.asked == [["CPUExecutionProvider"]]  # never Azure, never onnxruntime's own pick
    assert providers.provider_notice() is None


def test_the_run_says_it_fell_back_to_the_cpu(fresh, tmp_path, face_photo, capsys):
    fresh.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])

    assert main(["anonymize", str(face_photo), "-o", str(tmp_path / "out"), "--no-verify",
                 "--threshold", "0.11"]) == ExitCode.OK
    err = capsys.readouterr().err
    assert err.count("CUDA is not usable") == 1
