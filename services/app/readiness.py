"""Health and readiness: ``GET /healthz`` (the process is alive) and ``GET /readyz`` (its dependencies).

A role hands :func:`~services.app.server.create_app` a :class:`Readiness` holding its
:class:`ReadinessCheck` list. ``/readyz`` runs every check concurrently under one timeout:
``required`` checks decide readiness (503 when one fails), the others only show as degraded.
On SIGTERM the server sets ``draining`` so load balancers stop sending before it stops listening.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from services.app.http_conventions import COMMON_KEY

CheckFn = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ReadinessCheck:
    """A named dependency check; ``required`` checks decide readiness, others only degrade."""

    name: str
    check: CheckFn
    required: bool = True


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one readiness check."""

    ok: bool
    latency_ms: float
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """The result as the JSON ``/readyz`` shows."""
        return {"ok": self.ok, "latency_ms": round(self.latency_ms, 3), "error": self.error}


async def run_check(check: CheckFn, timeout_ms: float) -> CheckResult:
    """Run one check under a timeout and time it; any exception is a failed check."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_ms / 1000.0):
            await check()
    except TimeoutError:
        error: str | None = f"timed out after {timeout_ms:.0f} ms"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    else:
        error = None
    latency_ms = (time.perf_counter() - started) * 1000.0
    return CheckResult(ok=error is None, latency_ms=latency_ms, error=error)


@dataclass
class Readiness:
    """The checks behind ``/readyz`` and the draining flag set on SIGTERM."""

    checks: Sequence[ReadinessCheck] = ()
    timeout_ms: float = 1000.0
    draining: bool = False
    extra: Callable[[], Awaitable[Mapping[str, Any]]] | None = field(default=None)

    async def evaluate(self) -> tuple[bool, dict[str, Any]]:
        """Run every check concurrently; return (ready, body)."""
        results = await asyncio.gather(*(run_check(c.check, self.timeout_ms) for c in self.checks))
        ready = not self.draining and all(r.ok for c, r in zip(self.checks, results, strict=True) if c.required)
        degraded = [c.name for c, r in zip(self.checks, results, strict=True) if not r.ok]
        body: dict[str, Any] = {
            "status": "ready" if ready else "not_ready",
            "checks": {c.name: r.as_dict() for c, r in zip(self.checks, results, strict=True)},
            "degraded": degraded,
        }
        if self.draining:
            body["draining"] = True
        if self.extra is not None:
            body.update(await self.extra())
        return ready, body


READINESS_KEY = web.AppKey("readiness", Readiness)


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the process answers; no dependency is checked."""
    return web.json_response({"status": "ok", "replica": request.app[COMMON_KEY].replica})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: 200 when every required check passes and the server is not draining, else 503."""
    ready, body = await request.app[READINESS_KEY].evaluate()
    return web.json_response(body, status=200 if ready else 503)
