"""The training dashboard's web server: one page, a server-sent event stream of state, a small fault API.

It runs aiohttp on its own event loop in a background thread, bound to 127.0.0.1 only. Handlers are
thin: parse, call the `Control` in a worker thread (a fault can take seconds of Docker calls), map a
`StackdrillError` to `{"error": ..., "status": 400}`, serialise.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from infra.errors import ScenarioError, StackdrillError, ToolchainError

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_NAME = "train.html.j2"
HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 2.0
SNAPSHOT_MIN_AGE_S = 0.25  # beside the stream's own, snapshot() is called at most ~4x/s however many ask
PING_S = 15.0  # a comment line keeps idle proxies from closing the stream
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class StateSource(Protocol):
    """Where the dashboard's state comes from."""

    def snapshot(self) -> dict[str, Any]:
        """The whole dashboard state as a JSON-ready dict."""


class Control(Protocol):
    """What the instructor can do from the page."""

    def catalog(self) -> dict[str, Any]:
        """{"faults": [{"name", "description", "params": {name: default}}], "targets": [...]}."""

    def apply(self, name: str, target: str, params: dict[str, Any], duration_s: float) -> str:
        """Apply a fault; return its id. Bad input raises a StackdrillError."""

    def revert(self, fault_id: str) -> None:
        """Revert one active fault."""

    def revert_all(self) -> int:
        """Revert every active fault; return how many."""

    def next_step(self) -> None:
        """Move the lesson past a step that waits for the instructor."""


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else exc.__class__.__name__


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except StackdrillError as exc:
        return web.json_response({"error": _one_line(exc), "status": 400}, status=400)
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken Control must not take the page down
        log.exception("train dashboard: %s %s failed", request.method, request.path)
        return web.json_response({"error": _one_line(exc), "status": 500}, status=500)


def _fault_request(body: object) -> tuple[str, str, dict[str, Any], float]:
    """Validate a POST /api/faults body; a malformed one raises ScenarioError (a 400)."""
    if not isinstance(body, dict):
        raise ScenarioError("body must be a JSON object with name, target, params, duration_s")
    name, target, params = body.get("name"), body.get("target"), body.get("params", {})
    duration_s = body.get("duration_s")
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"name must be a fault name, got {name!r}")
    if not isinstance(target, str) or not target:
        raise ScenarioError(f"target must be a container name, got {target!r}")
    if not isinstance(params, dict):
        raise ScenarioError(f"params must be an object, got {params!r}")
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float) or duration_s <= 0:
        raise ScenarioError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
    return name, target, params, float(duration_s)


class TrainServer:
    """The dashboard on http://127.0.0.1:<port>/ until `stop()`; usable as a context manager."""

    def __init__(
        self,
        source: StateSource,
        control: Control,
        *,
        port: int = 0,
        interval_s: float = 0.5,
        title: str = "stackdrill train",
    ) -> None:
        self._source, self._control, self._port, self._interval_s = source, control, port, interval_s
        env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(["html", "j2"]),
            undefined=StrictUndefined,
        )
        self._page = env.get_template(TEMPLATE_NAME).render(title=title, interval_ms=int(interval_s * 1000))
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="train-control")
        app = web.Application(middlewares=[_errors])
        get, post = web.get, web.post
        app.add_routes([get("/", self._index), get("/events", self._events), get("/api/state", self._state)])
        app.add_routes([get("/api/catalog", self._catalog), post("/api/faults", self._apply)])
        app.add_routes([post("/api/faults/{id}/revert", self._revert), post("/api/revert-all", self._revert_all)])
        app.add_routes([post("/api/lesson/next", self._next)])
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        self._closing, self._tick = asyncio.Event(), asyncio.Condition()  # bound to the loop on first use
        self._ticker: asyncio.Task[None] | None = None
        self._seq = 0
        self._message = "{}"
        self._taken_at = float("-inf")
        self._reuse_s = max(interval_s, SNAPSHOT_MIN_AGE_S)  # a page load or /api/state reuses the stream's
        self._failing = False
        self._clients = 0
        self._idle_since = time.monotonic()
        self._lock = threading.Lock()

    def start(self) -> TrainServer:
        """Listen and serve in a background thread; return once listening."""
        self._idle_since = time.monotonic()
        self._thread = threading.Thread(target=self._loop.run_forever, name="train-server", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(START_TIMEOUT_S)
        except OSError as exc:
            self._halt()
            if exc.errno == errno.EADDRINUSE:
                raise ToolchainError(f"port {self._port} is in use; pick another with --port") from exc
            raise ToolchainError(f"cannot listen on {HOST}:{self._port}: {exc}") from exc
        return self

    def stop(self) -> None:
        """Close the SSE streams and the listener (within ~2 s), then end the thread."""
        if self._thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(STOP_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - stopping must not fail; the thread is a daemon
            log.warning("train dashboard did not shut down cleanly", exc_info=True)
        self._halt()

    def clients(self) -> int:
        """SSE clients connected right now."""
        with self._lock:
            return self._clients

    def idle_s(self) -> float:
        """Seconds without any SSE client (since the last left, or since start); 0.0 while one is connected."""
        with self._lock:
            return 0.0 if self._clients else time.monotonic() - self._idle_since

    def __enter__(self) -> TrainServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _halt(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            if not self._thread.is_alive():
                self._loop.close()
        self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _serve(self) -> None:
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, HOST, self._port).start()
        except OSError:
            await self._runner.cleanup()
            raise
        self.url = f"http://{HOST}:{self._runner.addresses[0][1]}/"
        self._ticker = self._loop.create_task(self._broadcast())

    async def _shutdown(self) -> None:
        self._closing.set()
        async with self._tick:
            self._tick.notify_all()
        await self._runner.cleanup()
        if self._ticker is not None:
            self._ticker.cancel()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._loop.run_in_executor(self._pool, fn, *args)

    async def _snapshot(self, max_age_s: float) -> str:
        """The latest snapshot as JSON, at most `max_age_s` old; the previous one if snapshot() fails."""
        if time.monotonic() - self._taken_at >= max_age_s:
            self._taken_at = time.monotonic()
            try:
                self._message = json.dumps(await self._call(self._source.snapshot), default=str)
                self._failing = False
            except Exception:  # noqa: BLE001 - the stream goes on with the previous state
                log.warning(
                    "train dashboard: snapshot() failed; sending the previous state", exc_info=not self._failing
                )
                self._failing = True
        return self._message

    async def _broadcast(self) -> None:
        while not self._closing.is_set():
            if self.clients():
                await self._snapshot(0.0)
                self._seq += 1
                async with self._tick:
                    self._tick.notify_all()
            await asyncio.sleep(self._interval_s)  # the stream's clock, not a synchronisation

    def _news(self, seen: int) -> bool:
        return self._seq != seen or self._closing.is_set()

    async def _events(self, request: web.Request) -> web.StreamResponse:
        closing, tick = self._closing, self._tick
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        with self._lock:
            self._clients += 1
        try:
            seen = self._seq
            await resp.write(f"retry: 1000\ndata: {await self._snapshot(self._reuse_s)}\n\n".encode())
            while not closing.is_set():
                async with tick:  # never write while holding it: one slow client must not stall the others
                    try:
                        fresh = await asyncio.wait_for(tick.wait_for(functools.partial(self._news, seen)), PING_S)
                    except TimeoutError:
                        fresh = False
                if closing.is_set():
                    break
                seen = self._seq
                await resp.write(f"data: {self._message}\n\n".encode() if fresh else b": ping\n\n")
        except ConnectionError:
            pass  # the client went away
        finally:
            with self._lock:
                self._clients -= 1
                if not self._clients:
                    self._idle_since = time.monotonic()
        return resp

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html")

    async def _state(self, request: web.Request) -> web.Response:
        return web.Response(text=await self._snapshot(self._reuse_s), content_type="application/json")

    async def _catalog(self, request: web.Request) -> web.Response:
        return web.json_response(await self._call(self._control.catalog))

    async def _apply(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            raise ScenarioError(f"body is not JSON: {exc}") from exc
        fault_id = await self._call(self._control.apply, *_fault_request(body))
        return web.json_response({"id": fault_id})

    async def _revert(self, request: web.Request) -> web.Response:
        fault_id = request.match_info["id"]
        await self._call(self._control.revert, fault_id)
        return web.json_response({"reverted": fault_id})

    async def _revert_all(self, request: web.Request) -> web.Response:
        return web.json_response({"reverted": await self._call(self._control.revert_all)})

    async def _next(self, request: web.Request) -> web.Response:
        await self._call(self._control.next_step)
        return web.json_response({"ok": True})
