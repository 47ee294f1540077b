"""The kit's one polling primitive (infra.wait.wait_until)."""

from __future__ import annotations

import threading
import time

import pytest

from infra.errors import StackError
from infra.wait import GiveUp, Stopped, wait_until


def test_a_stopped_wait_ends_at_once_with_what_it_last_saw() -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(Stopped, match=r"stopped waiting for nothing; last seen: 3"):
        wait_until(lambda: (False, 3), what="nothing", timeout_s=60, interval_s=0.05, stop=stop)
    assert time.monotonic() - t0 < 5


def test_a_timeout_names_the_last_observation_and_an_error_counts_as_not_yet() -> None:
    calls = iter([(False, "warming"), ValueError("refused")])

    def probe() -> tuple[bool, str]:
        step = next(calls, (False, "still"))
        if isinstance(step, Exception):
            raise step
        return step

    with pytest.raises(StackError, match=r"waiting for it; last seen: still"):
        wait_until(probe, what="it", timeout_s=0.3, interval_s=0.05)


def test_give_up_ends_the_wait_and_done_returns_the_observation() -> None:
    with pytest.raises(GiveUp):
        wait_until(lambda: (_ for _ in ()).throw(GiveUp("container exited")), what="x", timeout_s=60)
    assert wait_until(lambda: (True, "ready"), what="x", timeout_s=1) == "ready"


def test_a_faults_check_that_raises_ends_the_wait_with_its_own_error() -> None:
    from failover_tests.faults.base import wait_for

    def check() -> bool:
        raise RuntimeError("admin endpoint refused")

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="admin endpoint refused"):
        wait_for(check, "x", timeout_s=30)
    assert time.monotonic() - t0 < 5
    assert wait_for(lambda: False, "never", timeout_s=0.2) is False
