"""The resilience layers on their own: bulkhead, retries within a budget, breaker."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.app.resilience import (
    Bulkhead,
    BulkheadFull,
    CircuitOpen,
    Guard,
    Policy,
    breaker_factory,
)
from services.app.testing import wait_until


def transient(exc: BaseException) -> bool:
    """Connection errors and timeouts are worth retrying."""
    return isinstance(exc, ConnectionError | TimeoutError)


def test_bulkhead_without_wait_admits_when_free_and_rejects_when_full() -> None:
    async def scenario() -> None:
        bulkhead = Bulkhead("x", limit=1, wait_ms=0)
        async with bulkhead.slot():
            assert bulkhead.in_use == 1
            with pytest.raises(BulkheadFull):
                async with bulkhead.slot():
                    pass
        async with bulkhead.slot():
            pass
        assert (bulkhead.in_use, bulkhead.rejected) == (0, 1)

    asyncio.run(scenario())


def test_bulkhead_waits_briefly_for_a_slot() -> None:
    async def scenario() -> None:
        bulkhead = Bulkhead("x", limit=1, wait_ms=500)
        release = asyncio.Event()

        async def hold() -> None:
            async with bulkhead.slot():
                await release.wait()

        holder = asyncio.create_task(hold())
        await wait_until(lambda: bulkhead.in_use == 1, timeout_s=1.0, what="the holder's slot")
        asyncio.get_running_loop().call_later(0.05, release.set)
        async with bulkhead.slot():
            assert bulkhead.in_use == 1
        await holder

    asyncio.run(scenario())


def test_retries_transient_errors_up_to_the_attempts() -> None:
    async def scenario() -> None:
        calls = 0

        async def flaky() -> str:
            nonlocal calls
            calls += 1
            if calls < 3:
                raise ConnectionResetError("reset")
            return "ok"

        guard = Guard("x", Policy(budget_ms=1000, attempts=3), retryable=transient)
        assert await guard.call(flaky) == "ok"
        assert calls == 3

    asyncio.run(scenario())


def test_no_retry_for_other_errors() -> None:
    async def scenario() -> None:
        calls = 0

        async def broken() -> None:
            nonlocal calls
            calls += 1
            raise ValueError("bad answer")

        guard = Guard("x", Policy(budget_ms=1000, attempts=3), retryable=transient)
        with pytest.raises(ValueError):
            await guard.call(broken)
        assert calls == 1

    asyncio.run(scenario())


def test_the_budget_bounds_the_whole_call_retries_included() -> None:
    async def scenario() -> float:
        calls = 0

        async def hangs() -> None:
            nonlocal calls
            calls += 1
            await asyncio.sleep(5)

        guard = Guard("x", Policy(budget_ms=100, attempts=3), retryable=transient)
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await guard.call(hangs)
        assert calls == 1, "no retry starts once the budget is spent"
        return time.perf_counter() - started

    assert asyncio.run(scenario()) < 0.1 + 0.15


def test_breaker_counts_attempts_and_rejects_while_open() -> None:
    async def scenario() -> None:
        calls = 0

        async def refused() -> None:
            nonlocal calls
            calls += 1
            raise ConnectionRefusedError("refused")

        guard = Guard(
            "dep",
            Policy(budget_ms=1000, attempts=2),
            retryable=transient,
            breakers=breaker_factory(failures=3, reset_s=60),
        )
        with pytest.raises(ConnectionRefusedError):
            await guard.call(refused)  # attempts 1 and 2
        with pytest.raises(CircuitOpen):
            await guard.call(refused)  # attempt 3 opens it; the retry is refused by the breaker
        with pytest.raises(CircuitOpen):
            await guard.call(refused)
        assert calls == 3
        assert await guard.breaker_state() == "opened"

    asyncio.run(scenario())
