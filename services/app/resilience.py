"""Client-side resilience for the API's dependencies: bulkhead, retries in a budget, breaker.

One :class:`Guard` per dependency wraps every call to it. The layers, outside in:

    bulkhead (a semaphore; a short wait, then reject)
      -> retries (tenacity; only retryable errors, short jittered backoff, within the budget)
        -> circuit breaker (purgatory; one per dependency, counts each attempt)
          -> timeout (what is left of the budget)
            -> the call

The budget bounds the whole call, retries included: an attempt may use all that is left of it, and
another attempt starts only while enough is left. So retries help against fast failures (refused,
reset, dropped connections, connect timeouts, which the clients bound at budget / attempts) and
never stretch a slow call past the budget.

The ``naive`` profile builds a guard with every layer off (:meth:`Guard.unguarded`): no bulkhead,
one attempt, no breaker, no timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random

log = logging.getLogger(__name__)

T = TypeVar("T")

# A retry is only worth starting if at least this much of the budget is left.
MIN_ATTEMPT_MS = 5.0


class DependencyError(Exception):
    """A dependency call failed; ``reason`` is a short machine-friendly word."""

    def __init__(self, dependency: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{dependency}: {reason}" + (f" ({detail})" if detail else ""))
        self.dependency = dependency
        self.reason = reason


class BulkheadFull(DependencyError):
    """Every slot of a dependency's bulkhead stayed busy for the whole wait."""


class CircuitOpen(DependencyError):
    """The dependency's circuit breaker is open; the call was not made."""


class Bulkhead:
    """A per-dependency concurrency limit that rejects instead of queueing for long."""

    def __init__(self, name: str, limit: int, wait_ms: float) -> None:
        self.name = name
        self.limit = limit
        self.wait_ms = wait_ms
        self._semaphore = asyncio.Semaphore(limit)
        self.in_use = 0
        self.rejected = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block; raise :class:`BulkheadFull` if none frees up in time."""
        if self._semaphore.locked():
            try:
                if self.wait_ms <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self._semaphore.acquire(), timeout=self.wait_ms / 1000.0)
            except TimeoutError:
                self.rejected += 1
                raise BulkheadFull(self.name, "bulkhead_full", f"{self.limit} in use") from None
        else:
            await self._semaphore.acquire()  # free slot: returns without waiting
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self._semaphore.release()


class _stop_when_budget_spent(stop_base):
    """Stop retrying when too little of the budget is left for another attempt."""

    def __init__(self, deadline: float, reserve_ms: float) -> None:
        self.deadline = deadline
        self.reserve_ms = reserve_ms

    def __call__(self, retry_state: RetryCallState) -> bool:
        remaining_ms = (self.deadline - asyncio.get_running_loop().time()) * 1000.0
        return remaining_ms < self.reserve_ms


@dataclass(frozen=True, kw_only=True)
class Policy:
    """How one dependency is called; ``budget_ms=None`` means no timeout at all."""

    budget_ms: float | None
    attempts: int = 1
    backoff_min_ms: float = 5.0
    backoff_max_ms: float = 25.0


class Guard:
    """Calls one dependency through its bulkhead, retries, breaker and timeout."""

    def __init__(
        self,
        name: str,
        policy: Policy,
        *,
        retryable: Callable[[BaseException], bool],
        bulkhead: Bulkhead | None = None,
        breakers: AsyncCircuitBreakerFactory | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.retryable = retryable
        self.bulkhead = bulkhead
        self.breakers = breakers
        self.attempts_made = 0

    @classmethod
    def unguarded(cls, name: str) -> Guard:
        """A guard that adds nothing: no timeout, one attempt, no breaker, no bulkhead."""
        return cls(name, Policy(budget_ms=None), retryable=lambda exc: False)

    async def breaker_state(self) -> str | None:
        """The breaker's state (``closed``, ``opened``, ``half-opened``) or None without one."""
        if self.breakers is None:
            return None
        breaker = await self.breakers.get_breaker(self.name)
        return breaker.context.state

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` under every layer of this guard; failures surface as raised exceptions."""
        if self.bulkhead is None:
            return await self._within_budget(fn)
        async with self.bulkhead.slot():
            return await self._within_budget(fn)

    async def _within_budget(self, fn: Callable[[], Awaitable[T]]) -> T:
        policy = self.policy
        if policy.budget_ms is None and policy.attempts == 1:
            return await self._attempt(fn, None)
        loop = asyncio.get_running_loop()
        deadline = None if policy.budget_ms is None else loop.time() + policy.budget_ms / 1000.0
        stop: Any = stop_after_attempt(policy.attempts)
        if deadline is not None:
            # Leave room for the longest backoff plus a useful attempt, or stop now.
            reserve_ms = policy.backoff_max_ms + MIN_ATTEMPT_MS
            stop = stop | _stop_when_budget_spent(deadline, reserve_ms)
        retrying = AsyncRetrying(
            stop=stop,
            wait=wait_random(policy.backoff_min_ms / 1000.0, policy.backoff_max_ms / 1000.0),
            retry=retry_if_exception(self.retryable),
            reraise=True,
            before_sleep=self._log_retry,
        )
        async for attempt in retrying:
            with attempt:
                timeout_s = None if deadline is None else max(0.0, deadline - loop.time())
                return await self._attempt(fn, timeout_s)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _attempt(self, fn: Callable[[], Awaitable[T]], timeout_s: float | None) -> T:
        self.attempts_made += 1
        if self.breakers is None:
            return await self._timed(fn, timeout_s)
        try:
            breaker = await self.breakers.get_breaker(self.name)
            async with breaker:
                return await self._timed(fn, timeout_s)
        except OpenedState:
            raise CircuitOpen(self.name, "circuit_open") from None

    @staticmethod
    async def _timed(fn: Callable[[], Awaitable[T]], timeout_s: float | None) -> T:
        if timeout_s is None:
            return await fn()
        async with asyncio.timeout(timeout_s):
            return await fn()

    def _log_retry(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        attempt = retry_state.attempt_number
        log.info("%s: attempt %d failed (%r), retrying", self.name, attempt, error)


def breaker_factory(failures: int, reset_s: float) -> AsyncCircuitBreakerFactory:
    """A breaker factory that opens after ``failures`` consecutive failures for ``reset_s``."""
    factory = AsyncCircuitBreakerFactory(default_threshold=failures, default_ttl=reset_s)

    def on_event(name: str, event_type: str, event: Any) -> None:
        if event_type == "state_changed":
            log.warning("circuit breaker %s is now %s", name, getattr(event, "state", "?"))

    factory.add_listener(on_event)
    return factory
