"""Signals turn into :class:`veil.errors.Interrupted`, so that a run stops cleanly.

SIGTERM (a service manager, ``kill``), SIGHUP (a closed terminal or SSH
session) and SIGINT (Ctrl-C) all raise ``Interrupted`` in the main thread;
every ``atomic_output`` on the way out removes its temporary file. Worker
processes of ``--jobs`` get the same, and also SIGTERM when their parent dies
(even by SIGKILL), where the platform allows it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Iterator

from ..errors import Interrupted

__all__ = ["STOP_SIGNALS", "interruptible", "deferred_signals", "die_with_parent", "redeliver_swallowed_stops"]

#: The signals a run stops on; SIGKILL cannot be caught (the next run into the
#: same folder removes what it left, see veil.media.atomic).
STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None),
                                 signal.SIGINT) if s is not None)


#: Seconds after a stop during which further stops are ignored: a second Ctrl-C a moment later
#: must not cut short the cleanup the first one started (temporaries removed, the report written,
#: worker threads joined; raised in the middle of that, it left native threads running and the
#: process aborted, exit 134). Later ones raise again, should the first have been lost.
STOP_GRACE_S = 5.0
_stopped_at = [None]  # monotonic time of the stop on its way, or None


def _raise(signum, _frame):
    now = time.monotonic()
    if _stopped_at[0] is not None and now - _stopped_at[0] < STOP_GRACE_S:
        return
    _stopped_at[0] = now
    raise Interrupted(signum)


def _redeliver(unraisable) -> None:
    # A handler's Interrupted raised inside a weakref callback, a __del__ or the
    # import machinery's lock cleanup cannot propagate: Python prints "Exception
    # ignored" and carries on as if no signal had come. Sent again a moment later
    # (not from here: a signal raised now would be handled inside this hook), it
    # is raised at a point that can unwind, and clean up, instead.
    if isinstance(unraisable.exc_value, Interrupted):
        _stopped_at[0] = None  # this one did not arrive: let it in again
        again = threading.Timer(0.01, os.kill, (os.getpid(), unraisable.exc_value.signum))
        again.daemon = True
        again.start()
        return
    sys.__unraisablehook__(unraisable)


def redeliver_swallowed_stops() -> None:
    """Make a stop signal that struck where Python cannot raise arrive again (``sys.unraisablehook``).

    For processes whose handlers raise :class:`Interrupted` for good (``--jobs`` workers);
    :func:`interruptible` does it for its block.
    """
    sys.unraisablehook = _redeliver


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, a stop signal raises :class:`Interrupted` in the main thread.

    Outside the main thread (a library caller's worker thread) signals cannot
    be handled and the block runs as is. The previous handlers come back after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in STOP_SIGNALS}
    hook, sys.unraisablehook = sys.unraisablehook, _redeliver
    _stopped_at[0] = None
    try:
        yield
    finally:
        _stopped_at[0] = None
        sys.unraisablehook = hook
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold stop signals back during the block (writing the report); they arrive after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def die_with_parent(signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux).

    Returns whether it could. A worker of a parent killed by SIGKILL then
    stops and removes its temporary file instead of writing on, unsupervised.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
