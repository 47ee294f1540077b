"""SIGTERM as Ctrl-C: one handler for the CLI and for bare `pytest` runs.

A runner stopped with SIGTERM (a CI job cancelled, `kill`) must unwind like Ctrl-C does, so
that every fault's context manager reverts it and every stack goes down. The handler raises
KeyboardInterrupt in the main thread.
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType


def _term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds context managers, so faults revert and stacks clean up


def sigterm_as_interrupt() -> bool:
    """Install the handler where SIGTERM still has its default; return whether this call installed it.

    Where it is already installed (the CLI runs pytest in-process) or handled otherwise, or
    outside the main thread, nothing changes and the caller must not remove it later.
    """
    if not hasattr(signal, "SIGTERM") or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    try:
        signal.signal(signal.SIGTERM, _term)
    except ValueError:  # not the main thread
        return False
    return True


def sigint_as_interrupt() -> None:
    """Ctrl-C (SIGINT) raises KeyboardInterrupt even where the parent ignored it.

    A shell starts background jobs (`cmd &`) with SIGINT ignored, and Python then keeps it
    ignored: a `kill -INT` to a backgrounded `stackdrill fault` would leave its fault in place.
    """
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, signal.default_int_handler)


def restore_sigterm() -> None:
    """Put the default SIGTERM back if this module's handler is installed."""
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) is _term:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
