"""What every role shares: the app factory, middlewares, health endpoints, faults, and serving.

Every role builds its main app with :func:`create_app` and runs it with :func:`run`:

* ``X-Served-By: <SD_REPLICA>`` on every response (main and admin, errors included);
* one error body shape, ``{"error": ..., "status": ...}``, for unknown routes and unhandled errors;
* ``GET /healthz`` (alive), ``GET /readyz`` (dependency checks), ``GET /version``;
* application faults (``http_error``, ``abort``, ``delay``) injected by a middleware and driven
  from the admin server (``PUT``/``GET``/``DELETE /fault``), bound to ``127.0.0.1`` only;
* graceful SIGTERM: mark not ready, drain, stop listening, finish in-flight requests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.app.settings import CommonSettings, SettingsError

log = logging.getLogger(__name__)

T = TypeVar("T")

CheckFn = Callable[[], Awaitable[None]]
FaultKind = Literal["http_error", "abort", "delay"]

SERVED_BY_HEADER = "X-Served-By"
FAULT_KINDS: tuple[FaultKind, ...] = ("http_error", "abort", "delay")

COMMON_KEY = web.AppKey("common", CommonSettings)


def error_response(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    """Build the one error body shape, ``{"error": message, "status": status}``."""
    return web.json_response({"error": message, "status": status}, status=status, headers=headers)


class RequestError(Exception):
    """A request the service refuses; the error middleware answers ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def json_body(request: web.Request) -> object:
    """Parse the request body as JSON or raise a 400 :class:`RequestError`."""
    try:
        return await request.json()
    except ValueError:
        raise RequestError(400, "body is not valid JSON") from None


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One application fault: what to do, how often, and on which path prefixes."""

    kind: FaultKind
    rate: float = 1.0
    status: int = 503
    delay_ms: float = 0.0
    paths: tuple[str, ...] = ()

    def matches(self, path: str) -> bool:
        """True when the fault applies to ``path`` (no prefixes means every path)."""
        return not self.paths or any(path.startswith(prefix) for prefix in self.paths)

    def as_dict(self) -> dict[str, Any]:
        """The fault as the JSON the admin endpoint shows."""
        body = asdict(self)
        body["paths"] = list(self.paths)
        return body

    @classmethod
    def from_json(cls, body: object) -> Fault:
        """Validate a ``PUT /fault`` body; raises ``ValueError`` naming the bad field."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object with a 'kind'")
        unknown = set(body) - {"kind", "rate", "status", "delay_ms", "paths"}
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        kind = body.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind={kind!r} is not one of {', '.join(FAULT_KINDS)}")
        rate = body.get("rate", 1.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate!r} must be a number in [0, 1]")
        status = body.get("status", 503)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"status={status!r} must be an integer in [400, 599]")
        delay_ms = body.get("delay_ms", 0.0)
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int | float) or delay_ms < 0:
            raise ValueError(f"delay_ms={delay_ms!r} must be a number >= 0")
        if kind == "delay" and "delay_ms" not in body:
            raise ValueError("kind='delay' needs delay_ms")
        paths = body.get("paths", [])
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            raise ValueError(f"paths={paths!r} must be a list of path prefixes starting with '/'")
        return cls(
            kind=kind,
            rate=float(rate),
            status=status,
            delay_ms=float(delay_ms),
            paths=tuple(paths),
        )


@dataclass
class FaultState:
    """The one active fault (or none) and how many requests it has hit."""

    current: Fault | None = None
    injected: int = 0

    def set(self, fault: Fault | None) -> None:
        """Replace the active fault (``None`` clears it) and reset the hit counter."""
        self.current = fault
        self.injected = 0

    def as_dict(self) -> dict[str, Any]:
        """The state as the JSON the admin endpoint shows."""
        return {
            "fault": None if self.current is None else self.current.as_dict(),
            "injected": self.injected,
        }


FAULTS_KEY = web.AppKey("faults", FaultState)


def fault_middleware(faults: FaultState) -> Middleware:
    """Inject the active fault into matching requests of the main app."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = faults.current
        if fault is None or not fault.matches(request.path) or random.random() >= fault.rate:
            return await handler(request)
        faults.injected += 1
        if fault.kind == "http_error":
            return error_response(fault.status, "injected fault")
        if fault.kind == "abort":
            if request.transport is not None:
                request.transport.abort()
            # aiohttp treats a cancelled handler as a vanished client: no response is written.
            raise asyncio.CancelledError("injected abort")
        await asyncio.sleep(fault.delay_ms / 1000.0)
        return await handler(request)

    return middleware


async def _get_fault(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS_KEY].as_dict())


async def _put_fault(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        fault = Fault.from_json(body)
    except ValueError as exc:
        return error_response(400, str(exc))
    state = request.app[FAULTS_KEY]
    state.set(fault)
    log.warning("fault set: %s", fault)
    return web.json_response(state.as_dict())


async def _delete_fault(request: web.Request) -> web.Response:
    state = request.app[FAULTS_KEY]
    cleared = state.current is not None
    state.set(None)
    if cleared:
        log.warning("fault cleared")
    return web.json_response({**state.as_dict(), "cleared": cleared})


# ---------------------------------------------------------------------------------------------
# Readiness


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


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "replica": request.app[COMMON_KEY].replica})


async def _readyz(request: web.Request) -> web.Response:
    ready, body = await request.app[READINESS_KEY].evaluate()
    return web.json_response(body, status=200 if ready else 503)


async def _version(request: web.Request) -> web.Response:
    common = request.app[COMMON_KEY]
    return web.json_response({"version": common.version, "role": common.role, "replica": common.replica})


# ---------------------------------------------------------------------------------------------
# App factory


def _served_by(replica: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[SERVED_BY_HEADER] = replica

    return add_header


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn HTTP exceptions and unhandled errors into the one JSON error body."""
    try:
        return await handler(request)
    except RequestError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "not found" if exc.status == 404 else exc.reason.lower()
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, message, headers=headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error")


def create_app(
    common: CommonSettings,
    *,
    readiness: Readiness | None = None,
    faults: FaultState | None = None,
    middlewares: Iterable[Middleware] = (),
) -> web.Application:
    """Build a main app with the shared middlewares and ``/healthz``, ``/readyz``, ``/version``.

    ``middlewares`` run inside the error middleware and outside the fault middleware, so a role's
    own middleware (the naive worker pool) also holds requests that a ``delay`` fault slows down.
    """
    faults = FaultState() if faults is None else faults
    app = web.Application(
        middlewares=[error_middleware, *middlewares, fault_middleware(faults)],
    )
    app[COMMON_KEY] = common
    app[FAULTS_KEY] = faults
    app[READINESS_KEY] = Readiness() if readiness is None else readiness
    app.on_response_prepare.append(_served_by(common.replica))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/version", _version)
    return app


def create_admin_app(common: CommonSettings, faults: FaultState) -> web.Application:
    """Build the admin app (fault control and its own ``/healthz``); serve it on 127.0.0.1 only."""
    app = web.Application(middlewares=[error_middleware])
    app[COMMON_KEY] = common
    app[FAULTS_KEY] = faults
    app.on_response_prepare.append(_served_by(common.replica))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/fault", _get_fault)
    app.router.add_put("/fault", _put_fault)
    app.router.add_delete("/fault", _delete_fault)
    return app


# ---------------------------------------------------------------------------------------------
# HTML

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Render a template (autoescaped) with the replica and zone added to ``context``."""
    common = request.app[COMMON_KEY]
    text = TEMPLATES.get_template(template).render({"replica": common.replica, "zone": common.zone, **context})
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


# ---------------------------------------------------------------------------------------------
# Serving


def configure_logging(common: CommonSettings) -> None:
    """Log to stderr at ``SD_LOG_LEVEL``, each line naming the replica."""
    logging.basicConfig(
        level=common.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {common.replica} %(name)s: %(message)s",
    )


async def serve(main: web.Application, admin: web.Application | None = None) -> None:
    """Serve ``main`` on 0.0.0.0:SD_PORT and ``admin`` on 127.0.0.1:SD_ADMIN_PORT until SIGTERM.

    On SIGTERM or SIGINT: ``/readyz`` turns 503 (draining) for ``SD_DRAIN_MS`` so load balancers
    stop sending, then listening stops and in-flight requests get ``SD_SHUTDOWN_TIMEOUT_S``.
    """
    common = main[COMMON_KEY]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    access_log = logging.getLogger("aiohttp.access") if common.access_log else None
    runners: list[web.AppRunner] = []
    try:
        main_runner = web.AppRunner(main, access_log=access_log, shutdown_timeout=common.shutdown_timeout_s)
        runners.append(main_runner)
        await main_runner.setup()
        await web.TCPSite(main_runner, "0.0.0.0", common.port).start()
        if admin is not None:
            admin_runner = web.AppRunner(admin, access_log=access_log, shutdown_timeout=1.0)
            runners.append(admin_runner)
            await admin_runner.setup()
            await web.TCPSite(admin_runner, "127.0.0.1", common.admin_port).start()
        log.info(
            "%s %s serving on %s (admin %s)",
            common.role,
            common.replica,
            main_runner.addresses,
            runners[-1].addresses if admin is not None else "off",
        )
        await stop.wait()
        log.info("SIGTERM: draining for %d ms", common.drain_ms)
        main[READINESS_KEY].draining = True
        if common.drain_ms:
            await asyncio.sleep(common.drain_ms / 1000.0)
    finally:
        for runner in runners:
            try:
                await runner.cleanup()
            except Exception:
                log.exception("cleanup failed")
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped")


def load_settings(loader: Callable[[], T]) -> T:
    """Read settings once at start; exit with status 2 and the reason when they are invalid."""
    try:
        return loader()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def run(main_app: web.Application) -> None:
    """Entry point of ``python -m services.app.<role>``: serve the app and its admin app."""
    configure_logging(main_app[COMMON_KEY])
    admin_app = create_admin_app(main_app[COMMON_KEY], main_app[FAULTS_KEY])
    asyncio.run(serve(main_app, admin_app))
