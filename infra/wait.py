"""One polling primitive for every wait in the kit: no bare sleeps for synchronisation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from infra.errors import StackError

T = TypeVar("T")


class GiveUp(StackError):
    """Raised by a probe when waiting longer cannot help (a container exited, say)."""


class Stopped(StackError):
    """Raised by `wait_until` when its `stop` event was set before the probe reported done."""


def wait_until(
    probe: Callable[[], tuple[bool, T]],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 0.25,
    hint: str = "",
    stop: threading.Event | None = None,
) -> T:
    """Poll `probe` until it reports done; return its last value, or raise with what was last seen.

    `probe` returns (done, observation); exceptions it raises count as "not yet" and are shown
    as the last observation if the deadline passes. Setting `stop` ends the wait early (`Stopped`).
    """
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            done, seen = probe()
            last = seen
            if done:
                return seen
        except GiveUp:
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the timeout message
            last = f"{exc.__class__.__name__}: {exc}"
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout_s:.0f} s waiting for {what}; last seen: {last}"
            raise StackError(msg + (f"; hint: {hint}" if hint else ""))
        if stop is None:
            time.sleep(interval_s)
        elif stop.wait(interval_s):
            raise Stopped(f"stopped waiting for {what}; last seen: {last}")
