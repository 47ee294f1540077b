"""The steady-state gate: the whole stack is as it should be before a scenario starts, and again after.

A verdict is only meaningful on a stack that was steady when the fault landed, and a scenario
that leaves the stack broken spoils the next one. So before every scenario, and after its revert,
the whole stack is checked, not just container health:

- every container of the stack is running and not unhealthy;
- the session store has converged: every Sentinel names the same primary at the same epoch and
  every replica's link to it is up (`infra.store_state`);
- every server of every backend is UP on every load balancer;
- the status page says every component is operational.

The gate waits for convergence up to a bound, then raises `StackNotSteady` (a kit error, shown
apart from FAILED verdicts on the topology) naming what was still wrong.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from failover_tests.lbstats import server_states
from infra import docker_resources, store_state
from infra.errors import StackdrillError, StackNotSteady
from infra.outputs import StackOutputs
from infra.wait import wait_until

log = logging.getLogger(__name__)
STEADY_LB_STATES = frozenset({"UP", "no check"})


class Inspectable(Protocol):
    """What `problems` reads of a live stack: its outputs and its status page."""

    name: str
    outputs: StackOutputs

    def status_page(self) -> dict[str, Any]:
        """The status service's /status.json."""
        ...


class SteadyStack(Protocol):
    """What the gate needs of a live stack: what keeps it from its steady state right now."""

    name: str

    def steady_problems(self) -> list[str]:
        """Empty when the stack is steady (`problems` for a real one)."""
        ...


def problems(stack: Inspectable) -> list[str]:
    """What keeps the stack from its steady state right now; empty when it is steady."""
    out: list[str] = []
    names = {c.name for c in stack.outputs.containers}
    # Running and not unhealthy: Docker checks every few seconds, so a container restarted by a
    # revert stays "starting" for a while; whether it serves is what the LB, store and status
    # checks below see.
    health = docker_resources.health_of(stack.name)
    out += [
        f"{n} is {health.get(n, 'missing')}"
        for n in sorted(names)
        if health.get(n) not in ("healthy", "starting", "running")
    ]
    out += store_state.read(stack.outputs.containers).problems()
    for lb, url in sorted(stack.outputs.lb_stats.items()):
        try:
            backends = server_states(url)
        except Exception as exc:  # noqa: BLE001 - an LB that does not answer is not steady
            out.append(f"{lb} stats do not answer ({exc.__class__.__name__})")
            continue
        for backend, servers in sorted(backends.items()):
            out += [f"{lb} sees {backend}/{s} {st}" for s, st in sorted(servers.items()) if st not in STEADY_LB_STATES]
    try:
        page = stack.status_page()
        out += [
            f"status page says {name} {comp['state']}"
            for name, comp in sorted(page["components"].items())
            if comp["state"] != "operational"
        ]
    except Exception as exc:  # noqa: BLE001 - a status page that does not answer is not steady
        out.append(f"status page does not answer ({exc.__class__.__name__})")
    return out


def wait_steady(stack: SteadyStack, *, timeout_s: float = 60.0, when: str = "before the scenario") -> float:
    """Wait until the whole stack is steady; return how long it took, or raise StackNotSteady."""
    t0 = time.monotonic()

    def steady() -> tuple[bool, str]:
        found = stack.steady_problems()
        return not found, "; ".join(found)

    try:
        wait_until(steady, what=f"stack {stack.name} to be steady {when}", timeout_s=timeout_s, interval_s=0.5)
    except StackdrillError as exc:
        last = str(exc).partition("last seen: ")[2] or str(exc)
        raise StackNotSteady(f"stack not steady {when} after {timeout_s:.0f} s: {last}") from exc
    took = time.monotonic() - t0
    if took > 1.0:
        log.info("stack %s steady %s after %.1f s", stack.name, when, took)
    return took
