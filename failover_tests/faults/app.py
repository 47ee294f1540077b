"""Application faults in our own services: HTTP errors, aborted connections, delays.

Toxiproxy works at TCP level and cannot return HTTP errors; our services carry a fault
middleware switched through an admin endpoint bound to 127.0.0.1 inside each container,
which only the kit reaches (through `docker exec`).
"""

from __future__ import annotations

import json
from typing import Any

from failover_tests import drill_docker as dk
from failover_tests.faults.base import REQUIRED, Fault, Param, register
from infra import outputs as O
from infra.errors import FaultError

SERVICE_TIERS = frozenset({O.TIER_API, O.TIER_WEB, O.TIER_MODEL, O.TIER_INTEGRATION, O.TIER_STATUS})
_PATHS = Param("paths", str, "", "comma-separated path prefixes (empty: every path)")
# A fraction in [0, 1], not a rate per second; scenarios written when it was called `rate` still work.
_FRACTION = Param("fraction", float, 1.0, "fraction of requests affected", minimum=0.0, maximum=1.0, aliases=("rate",))


class AdminClient:
    """The services' fault switch: the admin endpoint on 127.0.0.1 inside a container, via docker exec."""

    def __init__(self, port: int, fault: str = "app") -> None:
        self.port = port
        self.fault = fault  # named in errors

    def call(self, name: str, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request to `/fault` of container `name`; its JSON answer ({} when empty)."""
        cmd = ["curl", "-sS", "-X", method, f"http://127.0.0.1:{self.port}/fault"]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        code, out = dk.exec_run(name, cmd)
        if code != 0:
            raise FaultError(
                f"admin endpoint of {name}: curl exit {code}: {out.strip()[:200]}", fault=self.fault, target=name
            )
        try:
            return dict(json.loads(out)) if out.strip() else {}
        except json.JSONDecodeError as exc:
            raise FaultError(f"admin endpoint of {name} answered {out[:200]!r}", fault=self.fault, target=name) from exc

    def current(self, name: str) -> dict[str, Any]:
        """The fault switched on in container `name` ({} when none)."""
        return dict(self.call(name, "GET").get("fault") or {})

    def clear(self, name: str) -> None:
        """Switch any fault off in container `name`."""
        self.call(name, "DELETE")


class AppFault(Fault):
    """A fault set through the service's admin endpoint."""

    family = "application"
    tiers = SERVICE_TIERS
    mechanism = "the service's admin endpoint (PUT /fault on 127.0.0.1 inside the container, via docker exec)"

    def body(self) -> dict[str, Any]:
        """The PUT /fault body."""
        raise NotImplementedError

    def _full_body(self) -> dict[str, Any]:
        body = {"kind": self.name, "fraction": float(self.values["fraction"]), **self.body()}
        paths = [p.strip() for p in str(self.values.get("paths", "")).split(",") if p.strip()]
        if paths:
            body["paths"] = paths
        return body

    @property
    def admin(self) -> AdminClient:
        """The admin endpoint client of this stack's services."""
        return AdminClient(self.env.admin_port, self.name)

    def act(self, name: str) -> None:
        self.admin.call(name, "PUT", self._full_body())

    def took_effect(self, name: str) -> bool:
        return self.admin.current(name).get("kind") == self.name

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        if dk.state(name) == "running":
            self.admin.clear(name)

    def undone(self, name: str, saved: dict[str, Any]) -> bool:
        return dk.state(name) != "running" or not self.admin.current(name)


@register
class HttpError(AppFault):
    """Answer a fraction of requests with an HTTP error status."""

    name = "http_error"
    summary = "answer a fraction of requests with an HTTP error"
    params = (Param("status", int, 503, "HTTP status to return", minimum=400, maximum=599), _FRACTION, _PATHS)

    def body(self) -> dict[str, Any]:
        return {"status": int(self.values["status"])}


@register
class Abort(AppFault):
    """Close a fraction of connections without answering."""

    name = "abort"
    summary = "close a fraction of connections without a response"
    params = (_FRACTION, _PATHS)

    def body(self) -> dict[str, Any]:
        return {}


@register
class Delay(AppFault):
    """Delay a fraction of requests inside the service."""

    name = "delay"
    summary = "delay a fraction of requests inside the service"
    params = (Param("delay_ms", int, REQUIRED, "added delay in ms", minimum=0), _FRACTION, _PATHS)

    def body(self) -> dict[str, Any]:
        return {"delay_ms": int(self.values["delay_ms"])}
