"""Dask worker set-up for veil (imported only with ``--cluster``: it imports distributed)."""

from __future__ import annotations

import signal

from distributed import WorkerPlugin

from ..commands.signals import die_with_parent

__all__ = ["VeilWorkerSetup"]


class VeilWorkerSetup(WorkerPlugin):
    """Run on every worker, also on one started after another died.

    Parameters
    ----------
    one_thread_per_process : bool
        OpenCV on one thread (worker processes share this machine's cores,
        as with ``--jobs``), and the worker stops when its parent (the nanny of
        a ``LocalCluster``) dies, even by SIGKILL.
    """

    def __init__(self, *, one_thread_per_process: bool) -> None:
        self.one_thread_per_process = one_thread_per_process

    def setup(self, worker) -> None:
        import os

        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        if self.one_thread_per_process:
            import cv2

            cv2.setNumThreads(1)
            die_with_parent(signal.SIGTERM)
