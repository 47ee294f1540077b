"""The status page: component states from real HTTP checks, ``since`` bookkeeping, static mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from services.app.settings import CommonSettings, StatusSettings
from services.app.status import (
    POLLER_KEY,
    CheckOutcome,
    Poller,
    component_state,
    create_status_app,
    worst,
)
from services.app.testing import serving, wait_until


@dataclass
class Targets:
    """Check targets whose answers the test sets: ``/<name>`` and ``/readyz``."""

    statuses: dict[str, int] = field(default_factory=dict)
    delays_s: dict[str, float] = field(default_factory=dict)
    readyz: Any = None

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await asyncio.sleep(self.delays_s.get(name, 0.0))
        if name == "readyz":
            return web.json_response(self.readyz, status=503)
        return web.json_response({}, status=self.statuses.get(name, 200))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{name}", self.handle)
        return app


def ticking_clock() -> Callable[[], datetime]:
    """A clock that moves one second per call, so every state change gets a new ``since``."""
    moments: Iterator[datetime] = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n) for n in range(10_000))
    return lambda: next(moments)


def status_settings(components: dict[str, list[str]], **overrides: Any) -> StatusSettings:
    """Status settings for tests."""
    values: dict[str, Any] = {
        "common": CommonSettings(role="status", replica="sd-test-status-1"),
        "components": tuple((name, tuple(urls)) for name, urls in components.items()),
        "poll_interval_s": 0.05,
        "check_timeout_ms": 200.0,
    }
    values.update(overrides)
    return StatusSettings(**values)


def test_component_state_rules() -> None:
    ok, slow, bad = CheckOutcome(True, 10.0), CheckOutcome(True, 900.0), CheckOutcome(False, 5.0)
    assert component_state([ok, ok], timeout_ms=1000) == "operational"
    assert component_state([ok, bad], timeout_ms=1000) == "degraded"
    assert component_state([bad, bad], timeout_ms=1000) == "outage"
    assert component_state([ok, slow], timeout_ms=1000) == "degraded"
    assert worst(["operational", "outage", "degraded"]) == "outage"
    assert worst([]) == "operational"


def test_states_and_since_follow_the_checks() -> None:
    async def scenario() -> None:
        targets = Targets()
        async with serving(targets.app()) as url:
            poller = Poller(status_settings({"api": [f"{url}/a", f"{url}/b"]}), clock=ticking_clock())
            await poller.start()
            try:
                await poller.poll_once()
                first = poller.report()["components"]["api"]
                assert first == {
                    "state": "operational",
                    "since": first["since"],
                    "checks_ok": 2,
                    "checks_total": 2,
                }
                await poller.poll_once()
                assert poller.report()["components"]["api"]["since"] == first["since"]

                targets.statuses["b"] = 500
                await poller.poll_once()
                degraded = poller.report()["components"]["api"]
                assert (degraded["state"], degraded["checks_ok"]) == ("degraded", 1)
                assert degraded["since"] > first["since"]
                await poller.poll_once()
                assert poller.report()["components"]["api"]["since"] == degraded["since"]

                targets.statuses["a"] = 503
                await poller.poll_once()
                report = poller.report()
                assert (report["overall"], report["components"]["api"]["state"]) == (
                    "outage",
                    "outage",
                )
            finally:
                await poller.stop()

    asyncio.run(scenario())


def test_fragment_checks_read_the_named_readyz_check_and_ignore_the_status() -> None:
    async def scenario() -> None:
        targets = Targets(readyz={"checks": {"store": {"ok": True}, "model": {"ok": False}}})
        async with serving(targets.app()) as url:
            settings = status_settings({"store": [f"{url}/readyz#store"], "model": [f"{url}/readyz#model"]})
            poller = Poller(settings)
            await poller.start()
            try:
                await poller.poll_once()
                states = {n: c["state"] for n, c in poller.report()["components"].items()}
                assert states == {"store": "operational", "model": "outage"}
                targets.readyz = {"status": "not json shaped as expected"}
                await poller.poll_once()
                assert poller.report()["components"]["store"]["state"] == "outage"
            finally:
                await poller.stop()

    asyncio.run(scenario())


def test_slow_checks_degrade_and_hung_checks_fail() -> None:
    async def scenario() -> None:
        targets = Targets(delays_s={"slow": 0.17, "hung": 2.0})
        async with serving(targets.app()) as url:
            settings = status_settings({"slow": [f"{url}/slow"], "hung": [f"{url}/hung"], "fast": [f"{url}/fast"]})
            poller = Poller(settings)
            await poller.start()
            try:
                await poller.poll_once()
            finally:
                await poller.stop()
            states = {n: c["state"] for n, c in poller.report()["components"].items()}
            assert states == {"slow": "degraded", "hung": "outage", "fast": "operational"}

    asyncio.run(scenario())


def test_live_page_polls_in_the_background() -> None:
    async def scenario() -> None:
        targets = Targets()
        async with serving(targets.app()) as target_url:
            app = create_status_app(status_settings({"web": [f"{target_url}/w1", f"{target_url}/w2"]}))
            async with serving(app) as url, aiohttp.ClientSession() as http:

                async def web_state() -> str:
                    async with http.get(f"{url}/status.json") as response:
                        body = await response.json()
                        return str(body["components"]["web"]["state"])

                assert await web_state() == "operational"  # the first round ran at startup
                targets.statuses["w1"] = 500

                async def degraded() -> bool:
                    return await web_state() == "degraded"

                await wait_until(degraded, timeout_s=2.0, what="the poller to see w1 fail")
                async with http.get(f"{url}/") as response:
                    html = await response.text()
                    assert response.headers["Content-Type"].startswith("text/html")
                assert 'data-component="web" data-state="degraded"' in html
                assert 'data-overall="degraded"' in html

    asyncio.run(scenario())


def test_static_mode_always_says_operational_but_still_polls() -> None:
    async def scenario() -> None:
        targets = Targets(statuses={"api": 500})
        async with serving(targets.app()) as target_url:
            settings = status_settings({"api": [f"{target_url}/api"]}, mode="static")
            app = create_status_app(settings)
            async with serving(app) as url, aiohttp.ClientSession() as http:
                async with http.get(f"{url}/status.json") as response:
                    body = await response.json()
                assert body["overall"] == "operational"
                assert body["components"]["api"]["state"] == "operational"
                assert body["components"]["api"]["checks_ok"] == 1
                # Behind the lie, the poller knows.
                assert app[POLLER_KEY].components["api"].state == "outage"

    asyncio.run(scenario())
