"""Health and readiness: /healthz, /readyz, required versus optional checks, draining."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp

from services.app.readiness import Readiness, ReadinessCheck, run_check
from services.app.testing import DEMO_SETTINGS, demo_app, fetch_json, serving

REPLICA = DEMO_SETTINGS.replica


async def ok() -> None:
    """A dependency that answers."""
    return None


async def broken() -> None:
    """A dependency that refuses connections."""
    raise ConnectionRefusedError("nobody home")


async def hangs() -> None:
    """A dependency that never answers."""
    await asyncio.sleep(5)


def test_healthz_and_empty_readyz() -> None:
    async def scenario() -> None:
        async with serving(demo_app()) as url, aiohttp.ClientSession() as http:
            assert await fetch_json(http, "GET", f"{url}/healthz") == (
                200,
                {"status": "ok", "replica": REPLICA},
                REPLICA,
            )
            assert await fetch_json(http, "GET", f"{url}/readyz") == (
                200,
                {"status": "ready", "checks": {}, "degraded": []},
                REPLICA,
            )

    asyncio.run(scenario())


def test_readyz_required_checks_decide_and_optional_ones_degrade() -> None:
    async def scenario() -> None:
        degraded_only = Readiness(checks=[ReadinessCheck("a", ok), ReadinessCheck("b", broken, required=False)])
        not_ready = Readiness(checks=[ReadinessCheck("a", hangs)], timeout_ms=100)
        async with serving(demo_app(degraded_only)) as url, aiohttp.ClientSession() as http:
            status, body, _ = await fetch_json(http, "GET", f"{url}/readyz")
            assert (status, body["status"], body["degraded"]) == (200, "ready", ["b"])
            assert body["checks"]["b"]["error"] == "ConnectionRefusedError: nobody home"
        async with serving(demo_app(not_ready)) as url, aiohttp.ClientSession() as http:
            status, body, _ = await fetch_json(http, "GET", f"{url}/readyz")
            assert (status, body["status"]) == (503, "not_ready")
            assert body["checks"]["a"]["error"] == "timed out after 100 ms"
            assert body["checks"]["a"]["latency_ms"] >= 100

    asyncio.run(scenario())


def test_a_check_failing_without_a_message_is_named_by_its_type() -> None:
    async def bare() -> None:
        raise ConnectionResetError

    result = asyncio.run(run_check(bare, timeout_ms=100))
    assert (result.ok, result.error) == (False, "ConnectionResetError")
    assert asyncio.run(run_check(ok, timeout_ms=100)).as_dict()["error"] is None


def test_draining_is_not_ready_even_when_every_check_passes_and_extra_is_merged() -> None:
    async def extra() -> Mapping[str, Any]:
        return {"primary": "redis-0"}

    readiness = Readiness(checks=[ReadinessCheck("a", ok)], draining=True, extra=extra)
    ready, body = asyncio.run(readiness.evaluate())
    assert ready is False
    assert (body["status"], body["draining"], body["degraded"], body["primary"]) == (
        "not_ready",
        True,
        [],
        "redis-0",
    )
