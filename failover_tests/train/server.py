"""The dashboard's web server: the page, a server-sent event stream of frames, and the fault panel's API.

Routes (every error body is ``{"error": <one line>, "status": <code>}``)::

    GET    /                 the page (failover_tests/templates/train.html, self-contained)
    GET    /events           server-sent events: a full frame, then a frame every ``interval_s``
    GET    /api/catalog      faults with their parameters, and the stack's targets
    GET    /api/faults       the faults in effect
    POST   /api/faults       {name, target, params, duration_s}: apply one (answers once it took effect)
    DELETE /api/faults/{id}  revert one
    POST   /api/revert-all   revert every fault
    POST   /api/next         the lesson's "next" button
    GET    /healthz          ok

The server runs on its own thread and event loop, bound to 127.0.0.1 on an allocated port
(port 0) unless one is given; handlers are thin: parse, call the session, map errors, serialise.
Applying and reverting block (a fault waits until it took effect), so they run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from failover_tests.traffic import JSONValue
from failover_tests.train.control import ActiveFault, NoSuchFault
from infra.errors import ScenarioError, StackdrillError, TopologyError

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent.parent / "templates" / "train.html"
EVENT_INTERVAL_S = 0.4  # 2.5 frames a second


class Panel(Protocol):
    """What the server needs of the fault panel (`failover_tests.train.control.FaultPanel`)."""

    def catalog(self) -> dict[str, JSONValue]:
        """The faults and targets the page offers."""
        ...

    def apply(
        self, name: str, target: str, params: Mapping[str, Any] | None = None, duration_s: float | None = None
    ) -> ActiveFault:
        """Apply a fault; its timer reverts it after duration_s."""
        ...

    def active(self) -> list[ActiveFault]:
        """The faults in effect."""
        ...

    def revert(self, fault_id: str) -> ActiveFault:
        """Revert one fault."""
        ...

    def revert_all(self) -> list[str]:
        """Revert every fault; the errors."""
        ...


class Dashboard(Protocol):
    """What the server shows and drives (`failover_tests.train.session.Session` is one)."""

    @property
    def panel(self) -> Panel:
        """The fault panel."""
        ...

    @property
    def ended(self) -> bool:
        """Whether the session is over."""
        ...

    def now_s(self) -> float:
        """The session clock."""
        ...

    def frame(self, *, full: bool = False) -> dict[str, JSONValue]:
        """The newest frame."""
        ...

    def press_next(self) -> bool:
        """The lesson's "next" button; False when no lesson waits for it."""
        ...


def _error(status: int, message: str) -> web.Response:
    """The one error body shape, with a one-line message."""
    line = (message.strip().splitlines() or ["error"])[0]
    return web.json_response({"error": line, "status": status}, status=status)


def _guarded(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Map errors to the one error body: bad input 400, unknown fault 404, the kit's failures 500."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except NoSuchFault as exc:
            return _error(404, str(exc))
        except (ScenarioError, TopologyError) as exc:
            return _error(400, str(exc))
        except StackdrillError as exc:
            return _error(500, str(exc))
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - a page never sees a traceback; the log keeps it
            log.exception("%s %s failed", request.method, request.path)
            return _error(500, f"{exc.__class__.__name__}: {exc}")

    return run


def build_app(dashboard: Dashboard, *, interval_s: float = EVENT_INTERVAL_S, page: Path = PAGE) -> web.Application:
    """The aiohttp application of one dashboard."""
    html = page.read_text()

    async def index(request: web.Request) -> web.StreamResponse:
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def healthz(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        full = True
        try:
            while True:
                frame = dashboard.frame(full=full)
                full = False
                await response.write(f"event: frame\ndata: {json.dumps(frame)}\n\n".encode())
                if dashboard.ended:
                    await response.write(b"event: end\ndata: {}\n\n")
                    break
                await asyncio.sleep(interval_s)
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the browser went away
        return response

    async def catalog(request: web.Request) -> web.StreamResponse:
        return web.json_response(dashboard.panel.catalog())

    async def active(request: web.Request) -> web.StreamResponse:
        now = dashboard.now_s()
        return web.json_response({"faults": [f.to_dict(now) for f in dashboard.panel.active()]})

    async def apply(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ScenarioError("the body must be JSON: {name, target, params, duration_s}") from None
        if not isinstance(body, dict):
            raise ScenarioError("the body must be a JSON object: {name, target, params, duration_s}")
        unknown = sorted(set(body) - {"name", "target", "params", "duration_s"})
        if unknown:
            raise ScenarioError(f"unknown key '{unknown[0]}'; keys: name, target, params, duration_s")
        # The panel checks every value (types included) and says what is wrong in one line.
        name: Any = body.get("name")
        target: Any = body.get("target")
        call = functools.partial(dashboard.panel.apply, name, target, body.get("params"), body.get("duration_s"))
        held = await asyncio.get_running_loop().run_in_executor(None, call)
        return web.json_response({"fault": held.to_dict(dashboard.now_s())}, status=201)

    async def revert(request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        held = await loop.run_in_executor(None, dashboard.panel.revert, request.match_info["fault_id"])
        return web.json_response({"reverted": held.to_dict(dashboard.now_s())})

    async def revert_all(request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        errors = await loop.run_in_executor(None, dashboard.panel.revert_all)
        if errors:
            return _error(500, f"revert all: {'; '.join(errors)}; the journal keeps them: stackdrill reap")
        return web.json_response({"reverted": True})

    async def next_step(request: web.Request) -> web.StreamResponse:
        if not dashboard.press_next():
            return _error(409, "no lesson step is waiting for next")
        return web.json_response({"next": True})

    app = web.Application()
    app.router.add_get("/", _guarded(index))
    app.router.add_get("/healthz", _guarded(healthz))
    app.router.add_get("/events", events)
    app.router.add_get("/api/catalog", _guarded(catalog))
    app.router.add_get("/api/faults", _guarded(active))
    app.router.add_post("/api/faults", _guarded(apply))
    app.router.add_delete("/api/faults/{fault_id}", _guarded(revert))
    app.router.add_post("/api/revert-all", _guarded(revert_all))
    app.router.add_post("/api/next", _guarded(next_step))
    return app


class DashboardServer:
    """The dashboard served from its own thread on 127.0.0.1; `url` once started."""

    def __init__(self, dashboard: Dashboard, *, port: int = 0, interval_s: float = EVENT_INTERVAL_S) -> None:
        """Record the settings; nothing listens until `start()`."""
        self.dashboard = dashboard
        self.port = port
        self.interval_s = interval_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> DashboardServer:
        """Listen; returns once the port is bound (StackError-like ScenarioError if it cannot be)."""
        ready = threading.Event()

        async def main() -> None:
            runner = web.AppRunner(
                build_app(self.dashboard, interval_s=self.interval_s), access_log=None, shutdown_timeout=1.0
            )
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", self.port)
                await site.start()
                self.port = int(runner.addresses[0][1])
                self._loop = asyncio.get_running_loop()
                self._stopped = asyncio.Event()
                ready.set()
                await self._stopped.wait()
            finally:
                await runner.cleanup()

        def thread_main() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self._failure = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=thread_main, name="stackdrill-train-web", daemon=True)
        self._thread.start()
        ready.wait(10.0)
        if self._failure is not None or self._loop is None:
            why = self._failure or "it did not start within 10 s"
            raise ScenarioError(f"the dashboard cannot listen on 127.0.0.1:{self.port}: {why}")
        log.info("dashboard on %s", self.url)
        return self

    def close(self) -> None:
        """Stop serving (open event streams end)."""
        if self._loop is not None and self._stopped is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(5.0)

    def __enter__(self) -> DashboardServer:
        """Start serving."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.close()
