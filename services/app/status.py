"""The public status page: polls every component's checks and shows a state per component.

``SD_COMPONENTS`` maps a component to check URLs. A plain URL is ok when it answers 2xx within
``SD_CHECK_TIMEOUT_MS``; ``http://host/readyz#store`` is ok when the JSON answer has
``checks.store.ok == true`` (the status code is ignored then). A component is ``operational``
when all its checks are ok and none took over 80% of the timeout, ``degraded`` when only some are
ok (or all are ok but one was slow), ``outage`` when none is.

``SD_STATUS_MODE=static`` keeps polling but always reports everything operational: the lying
status page of the outage story.

Routes: ``GET /status.json``, ``GET /`` (HTML), plus the common ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from aiohttp import web

from services.app.http_conventions import render_html
from services.app.server import create_app, load_settings, run
from services.app.settings import StatusSettings

log = logging.getLogger(__name__)

State = Literal["operational", "degraded", "outage"]
SEVERITY: dict[State, int] = {"operational": 0, "degraded": 1, "outage": 2}
SLOW_FRACTION = 0.8


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check URL in one round."""

    ok: bool
    latency_ms: float
    error: str | None = None


@dataclass(frozen=True)
class ComponentStatus:
    """What the page says about one component."""

    state: State
    since: datetime
    checks_ok: int
    checks_total: int

    def as_dict(self) -> dict[str, Any]:
        """The component as ``status.json`` shows it."""
        return {
            "state": self.state,
            "since": iso8601(self.since),
            "checks_ok": self.checks_ok,
            "checks_total": self.checks_total,
        }


def iso8601(moment: datetime) -> str:
    """Format a UTC time as ISO 8601 with milliseconds."""
    return moment.isoformat(timespec="milliseconds")


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def component_state(outcomes: Sequence[CheckOutcome], timeout_ms: float) -> State:
    """All ok (and none slow) -> operational; some ok -> degraded; none ok -> outage."""
    ok = sum(1 for o in outcomes if o.ok)
    if ok == 0:
        return "outage"
    if ok < len(outcomes):
        return "degraded"
    if any(o.latency_ms > SLOW_FRACTION * timeout_ms for o in outcomes):
        return "degraded"
    return "operational"


def worst(states: Iterable[State]) -> State:
    """The most severe state, or operational when there are none."""
    return max(states, key=SEVERITY.__getitem__, default="operational")


class Poller:
    """Polls every component's checks and keeps each component's state and ``since``."""

    def __init__(
        self,
        settings: StatusSettings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.started_at = clock()
        self.updated_at = self.started_at
        self.components: dict[str, ComponentStatus] = {}
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session."""
        self._http = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()

    async def check(self, url: str) -> CheckOutcome:
        """Run one check URL (``#key`` reads ``checks.<key>.ok`` from a JSON answer)."""
        if self._http is None:
            raise RuntimeError("Poller.start() has not run")
        target, _, key = url.partition("#")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.check_timeout_ms / 1000.0):
                async with self._http.get(target) as response:
                    if key:
                        body = await response.json(content_type=None)
                        ok = bool(body["checks"][key]["ok"] is True)
                        error = None if ok else f"checks.{key}.ok is not true"
                    else:
                        await response.read()
                        ok = 200 <= response.status < 300
                        error = None if ok else f"HTTP {response.status}"
        except TimeoutError:
            ok, error = False, "timeout"
        except (aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
            ok, error = False, type(exc).__name__
        latency_ms = (time.perf_counter() - started) * 1000.0
        return CheckOutcome(ok=ok, latency_ms=latency_ms, error=error)

    async def poll_once(self) -> None:
        """Run every check of every component concurrently and update the states."""
        names = [name for name, _ in self.settings.components]
        rounds = await asyncio.gather(
            *(asyncio.gather(*(self.check(url) for url in urls)) for _, urls in self.settings.components)
        )
        now = self.clock()
        for name, outcomes in zip(names, rounds, strict=True):
            state = component_state(outcomes, self.settings.check_timeout_ms)
            previous = self.components.get(name)
            since = previous.since if previous is not None and previous.state == state else now
            if previous is not None and previous.state != state:
                log.warning("%s: %s -> %s", name, previous.state, state)
            self.components[name] = ComponentStatus(
                state=state,
                since=since,
                checks_ok=sum(1 for o in outcomes if o.ok),
                checks_total=len(outcomes),
            )
        self.updated_at = now

    async def run_forever(self) -> None:
        """Poll every ``SD_POLL_INTERVAL_S``, measured from the start of each round."""
        loop = asyncio.get_running_loop()
        next_round = loop.time() + self.settings.poll_interval_s
        while True:
            await asyncio.sleep(max(0.0, next_round - loop.time()))
            next_round = loop.time() + self.settings.poll_interval_s
            try:
                await self.poll_once()
            except Exception:
                log.exception("status poll round failed")

    def report(self) -> dict[str, Any]:
        """The ``status.json`` body (everything operational in static mode)."""
        components: dict[str, ComponentStatus] = {}
        for name, urls in self.settings.components:
            real = self.components.get(name)
            if self.settings.mode == "static" or real is None:
                # static: the page never admits anything; before the first round: nothing known.
                total = len(urls)
                components[name] = ComponentStatus("operational", self.started_at, total, total)
            else:
                components[name] = real
        return {
            "updated_at": iso8601(self.updated_at),
            "overall": worst(c.state for c in components.values()),
            "components": {name: c.as_dict() for name, c in components.items()},
        }


POLLER_KEY = web.AppKey("poller", Poller)


async def status_json(request: web.Request) -> web.Response:
    """``GET /status.json``: the machine-readable status."""
    return web.json_response(request.app[POLLER_KEY].report())


async def status_page(request: web.Request) -> web.Response:
    """``GET /``: the HTML status page."""
    poller = request.app[POLLER_KEY]
    report = poller.report()
    return render_html(
        request,
        "status.html.j2",
        {
            "overall": report["overall"],
            "components": report["components"],
            "updated_at": report["updated_at"],
            "refresh_s": max(1, round(poller.settings.poll_interval_s)),
        },
    )


def create_status_app(settings: StatusSettings, *, clock: Callable[[], datetime] = utc_now) -> web.Application:
    """Build the status app; the poller's first round runs before the app serves."""
    poller = Poller(settings, clock=clock)
    app = create_app(settings.common)
    app[POLLER_KEY] = poller

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await poller.start()
        await poller.poll_once()
        task = asyncio.create_task(poller.run_forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await poller.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/status.json", status_json)
    app.router.add_get("/", status_page)
    return app


def main() -> None:
    """Run the status role until SIGTERM."""
    run(create_status_app(load_settings(StatusSettings.from_env)))


if __name__ == "__main__":
    main()
