"""The fault switch: the application fault a service injects right now, and the admin routes that flip it.

The test side's ``failover_tests.faults.app`` faults (``http_error``, ``abort``, ``delay``) act
through this switch: they ``PUT`` a :class:`FaultSwitch` to ``/fault`` on the admin server (bound
to 127.0.0.1 inside the container), and :func:`fault_middleware` injects it into matching
requests of the main app until ``DELETE /fault`` turns it off. One switch per process; a new
``PUT`` replaces the old one.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import asdict, dataclass
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.app.http_conventions import error_response, json_body

log = logging.getLogger(__name__)

SwitchKind = Literal["http_error", "abort", "delay"]
SWITCH_KINDS: tuple[SwitchKind, ...] = ("http_error", "abort", "delay")

# ``fraction`` was called ``rate`` first; bodies that still say ``rate`` mean the same thing.
FRACTION_OLD_NAME = "rate"
_FIELDS = frozenset({"kind", "fraction", FRACTION_OLD_NAME, "status", "delay_ms", "paths"})


@dataclass(frozen=True, kw_only=True)
class FaultSwitch:
    """One application fault: what to do, to which fraction of requests, on which path prefixes."""

    kind: SwitchKind
    fraction: float = 1.0
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
    def from_json(cls, body: object) -> FaultSwitch:
        """Validate a ``PUT /fault`` body; raises ``ValueError`` naming the bad field."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object with a 'kind'")
        unknown = set(body) - _FIELDS
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        kind = body.get("kind")
        if kind not in SWITCH_KINDS:
            raise ValueError(f"kind={kind!r} is not one of {', '.join(SWITCH_KINDS)}")
        if "fraction" in body and FRACTION_OLD_NAME in body:
            raise ValueError(f"fraction and {FRACTION_OLD_NAME} are the same field; give only fraction")
        key = FRACTION_OLD_NAME if FRACTION_OLD_NAME in body else "fraction"
        fraction = body.get(key, 1.0)
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0.0 <= fraction <= 1.0:
            raise ValueError(f"{key}={fraction!r} must be a number in [0, 1]")
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
            fraction=float(fraction),
            status=status,
            delay_ms=float(delay_ms),
            paths=tuple(paths),
        )


@dataclass
class SwitchState:
    """The one active fault (or none) and how many requests it has hit."""

    current: FaultSwitch | None = None
    injected: int = 0

    def set(self, fault: FaultSwitch | None) -> None:
        """Replace the active fault (``None`` clears it) and reset the hit counter."""
        self.current = fault
        self.injected = 0

    def as_dict(self) -> dict[str, Any]:
        """The state as the JSON the admin endpoint shows."""
        return {
            "fault": None if self.current is None else self.current.as_dict(),
            "injected": self.injected,
        }


SWITCH_KEY = web.AppKey("fault_switch", SwitchState)


def fault_middleware(switch: SwitchState) -> Middleware:
    """Inject the active fault into matching requests of the main app."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = switch.current
        if fault is None or not fault.matches(request.path) or random.random() >= fault.fraction:
            return await handler(request)
        switch.injected += 1
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
    return web.json_response(request.app[SWITCH_KEY].as_dict())


async def _put_fault(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        fault = FaultSwitch.from_json(body)
    except ValueError as exc:
        return error_response(400, str(exc))
    switch = request.app[SWITCH_KEY]
    switch.set(fault)
    log.warning("fault set: %s", fault)
    return web.json_response(switch.as_dict())


async def _delete_fault(request: web.Request) -> web.Response:
    switch = request.app[SWITCH_KEY]
    cleared = switch.current is not None
    switch.set(None)
    if cleared:
        log.warning("fault cleared")
    return web.json_response({**switch.as_dict(), "cleared": cleared})


def add_switch_routes(app: web.Application) -> None:
    """Route ``GET``/``PUT``/``DELETE /fault`` of an admin app to the switch at ``app[SWITCH_KEY]``."""
    app.router.add_get("/fault", _get_fault)
    app.router.add_put("/fault", _put_fault)
    app.router.add_delete("/fault", _delete_fault)
