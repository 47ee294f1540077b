"""Serving a role: the app factories, settings and logging at start, and the SIGTERM-aware server.

Every role builds its main app with :func:`create_app` and runs it with :func:`run`:

* ``X-Served-By: <SD_REPLICA>`` on every response (main and admin, errors included);
* the error middleware outermost, so every error has the one body shape;
* ``GET /healthz``, ``GET /readyz`` (:mod:`services.app.readiness`) and ``GET /version``;
* the fault middleware innermost, and an admin app on ``127.0.0.1`` only that flips the fault
  switch (:mod:`services.app.fault_switch`);
* graceful SIGTERM: mark not ready, drain, stop listening, finish in-flight requests;
* a load agent on ``SD_AGENT_PORT`` (:mod:`services.app.load_agent`): the weight HAProxy's agent
  checks read, from the event loop's lag.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.app.fault_switch import SWITCH_KEY, SwitchState, add_switch_routes, fault_middleware
from services.app.http_conventions import COMMON_KEY, error_middleware
from services.app.load_agent import LagMonitor, LoadAgent
from services.app.readiness import READINESS_KEY, Readiness, healthz, readyz
from services.app.settings import CommonSettings, SettingsError

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVED_BY_HEADER = "X-Served-By"


def _served_by(replica: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[SERVED_BY_HEADER] = replica

    return add_header


async def _version(request: web.Request) -> web.Response:
    common = request.app[COMMON_KEY]
    return web.json_response({"version": common.version, "role": common.role, "replica": common.replica})


def create_app(
    common: CommonSettings,
    *,
    readiness: Readiness | None = None,
    switch: SwitchState | None = None,
    middlewares: Iterable[Middleware] = (),
) -> web.Application:
    """Build a main app with the shared middlewares and ``/healthz``, ``/readyz``, ``/version``.

    ``middlewares`` run inside the error middleware and outside the fault middleware, so a role's
    own middleware (the naive worker pool) also holds requests that a ``delay`` fault slows down.
    """
    switch = SwitchState() if switch is None else switch
    app = web.Application(
        middlewares=[error_middleware, *middlewares, fault_middleware(switch)],
    )
    app[COMMON_KEY] = common
    app[SWITCH_KEY] = switch
    app[READINESS_KEY] = Readiness() if readiness is None else readiness
    app.on_response_prepare.append(_served_by(common.replica))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/version", _version)
    return app


def create_admin_app(common: CommonSettings, switch: SwitchState) -> web.Application:
    """Build the admin app (fault control and its own ``/healthz``); serve it on 127.0.0.1 only."""
    app = web.Application(middlewares=[error_middleware])
    app[COMMON_KEY] = common
    app[SWITCH_KEY] = switch
    app.on_response_prepare.append(_served_by(common.replica))
    app.router.add_get("/healthz", healthz)
    add_switch_routes(app)
    return app


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
    Unless ``SD_AGENT_PORT`` is 0, the load agent answers on 0.0.0.0 at that port meanwhile.
    """
    common = main[COMMON_KEY]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    access_log = logging.getLogger("aiohttp.access") if common.access_log else None
    runners: list[web.AppRunner] = []
    agent: LoadAgent | None = None
    sampling: asyncio.Task[None] | None = None
    try:
        if common.agent_port:
            monitor = LagMonitor()
            sampling = loop.create_task(monitor.run())
            agent = LoadAgent(monitor, "0.0.0.0", common.agent_port).start()
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
            "%s %s serving on %s (admin %s, load agent %s)",
            common.role,
            common.replica,
            main_runner.addresses,
            runners[-1].addresses if admin is not None else "off",
            common.agent_port or "off",
        )
        await stop.wait()
        log.info("SIGTERM: draining for %d ms", common.drain_ms)
        main[READINESS_KEY].draining = True
        if common.drain_ms:
            await asyncio.sleep(common.drain_ms / 1000.0)
    finally:
        if agent is not None:
            agent.close()
        if sampling is not None:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
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
    admin_app = create_admin_app(main_app[COMMON_KEY], main_app[SWITCH_KEY])
    asyncio.run(serve(main_app, admin_app))
