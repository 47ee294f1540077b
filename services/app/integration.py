"""A stand-in third-party webhook sink: accepts hooks and counts them.

``POST /hook`` -> 202 ``{"accepted": true}``; ``GET /received`` -> ``{"count": n}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from services.app.server import create_app, load_settings, run
from services.app.settings import IntegrationSettings


@dataclass
class HookCounter:
    """How many hooks this replica has accepted."""

    count: int = 0


COUNTER_KEY = web.AppKey("hooks", HookCounter)


async def hook(request: web.Request) -> web.Response:
    """Accept one hook (any body) and count it."""
    await request.read()
    request.app[COUNTER_KEY].count += 1
    return web.json_response({"accepted": True}, status=202)


async def received(request: web.Request) -> web.Response:
    """Report how many hooks were accepted."""
    return web.json_response({"count": request.app[COUNTER_KEY].count})


def create_integration_app(settings: IntegrationSettings) -> web.Application:
    """Build the integration app."""
    app = create_app(settings.common)
    app[COUNTER_KEY] = HookCounter()
    app.router.add_post("/hook", hook)
    app.router.add_get("/received", received)
    return app


def main() -> None:
    """Run the integration role until SIGTERM."""
    run(create_integration_app(load_settings(IntegrationSettings.from_env)))


if __name__ == "__main__":
    main()
