"""Test support: serve on an ephemeral port, a demo app, JSON requests, fake dependencies, a memory store, polling.

Used by ``tests/unit/test_services_*.py``; nothing here runs in a deployed stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from services.app.fault_switch import SWITCH_KEY
from services.app.http_conventions import COMMON_KEY
from services.app.readiness import Readiness
from services.app.server import create_admin_app, create_app
from services.app.settings import CommonSettings

DEMO_SETTINGS = CommonSettings(role="testrole", replica="sd-test-x-1", version="9.9.9")


@contextlib.asynccontextmanager
async def serving(app: web.Application, *, shutdown_timeout_s: float = 0.2) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 on an ephemeral port; yield its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serving_with_admin(app: web.Application) -> AsyncIterator[tuple[str, str]]:
    """Serve ``app`` and its admin app; yield (main URL, admin URL)."""
    admin = create_admin_app(app[COMMON_KEY], app[SWITCH_KEY])
    async with serving(app) as main_url, serving(admin) as admin_url:
        yield main_url, admin_url


async def _hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": True})


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret detail")


def demo_app(readiness: Readiness | None = None) -> web.Application:
    """A main app on :data:`DEMO_SETTINGS` plus ``GET /v1/hello`` (answers) and ``GET /v1/boom`` (a bug)."""
    app = create_app(DEMO_SETTINGS, readiness=readiness)
    app.router.add_get("/v1/hello", _hello)
    app.router.add_get("/v1/boom", _boom)
    return app


async def fetch_json(
    http: aiohttp.ClientSession, method: str, url: str, *, json: Any = None
) -> tuple[int, Any, str | None]:
    """Make a request (with a JSON body unless ``json`` is None); return (status, JSON body, X-Served-By)."""
    async with http.request(method, url, json=json) as response:
        return response.status, await response.json(), response.headers.get("X-Served-By")


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.01,
) -> None:
    """Poll ``predicate`` until it is true; raise ``AssertionError`` naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)


@dataclass
class FakeDependency:
    """A controllable HTTP dependency: answers every path with ``status`` after ``delay_s``.

    ``/healthz`` answers ``health_status`` after ``health_delay_s`` and is not counted;
    ``abort_next`` drops that many requests' connections without an answer.
    """

    status: int = 200
    delay_s: float = 0.0
    body: dict[str, Any] = field(default_factory=dict)
    health_status: int = 200
    health_delay_s: float = 0.0
    abort_next: int = 0
    hits: int = 0
    in_flight: int = 0
    bodies: list[Any] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        """Count the request, wait, answer."""
        if request.path == "/healthz":
            await asyncio.sleep(self.health_delay_s)
            return web.json_response({"status": "ok"}, status=self.health_status)
        self.hits += 1
        raw = await request.read()
        self.bodies.append(raw.decode() if raw else None)
        if self.abort_next > 0:
            self.abort_next -= 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError("fake dependency dropped the connection")
        self.in_flight += 1
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return web.json_response(self.body, status=self.status)
        finally:
            self.in_flight -= 1

    def app(self) -> web.Application:
        """An app routing every method and path to :meth:`handle`."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


@dataclass
class MemoryStore:
    """An in-memory :class:`~services.app.store.SessionStore` that can fail or stall on demand."""

    data: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    fail_next: int = 0
    fail_always: bool = False
    delay_s: float = 0.0

    async def _maybe_fail(self) -> None:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_always or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            raise ConnectionError("store unreachable (injected)")

    async def get(self, key: str) -> str | None:
        """Return the value at ``key`` or None."""
        await self._maybe_fail()
        return self.data.get(key)

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` at ``key``."""
        await self._maybe_fail()
        self.data[key] = value

    async def ping(self) -> None:
        """Raise when the store is set to fail."""
        await self._maybe_fail()

    async def close(self) -> None:
        """Nothing to release."""
