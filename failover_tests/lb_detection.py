"""How long each load balancer took to mark a fault's targets down (or back up), measured in parallel.

Every LB of a tier is watched at once, one thread per LB, each polling that LB's view of a
backend (one stats read covers all its servers) until every target is in the wanted state.
Times count from one moment given by the caller, normally the fault's start, so each LB's
detection time is its own and the budget applies per LB: with two LBs the wait lasts as long
as the slower one, not the sum of both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from failover_tests.lbstats import is_up
from infra.errors import StackError
from infra.wait import wait_until

__all__ = ["DEFAULT_INTERVAL_S", "LBView", "Transition", "watch"]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.1
MISSING = "missing"  # the LB does not list the server at all: not routable


class LBView(Protocol):
    """What the LB checks need of a stack: its LBs and how each one sees a backend."""

    def lbs(self, tier: str) -> list[str]:
        """LB container names of a tier (edge, api_lb, model_lb)."""
        ...

    def lb_servers(self, lb: str, backend: str) -> dict[str, str]:
        """server -> HAProxy status (UP, DOWN, MAINT, `UP 1/2`, ...) as one LB sees a backend."""
        ...


@dataclass(frozen=True)
class Transition:
    """When one LB first showed one server in the wanted state, counted from the watch's origin."""

    lb: str
    backend: str
    server: str
    up: bool  # the wanted state: routable (True) or not (False)
    after_s: float | None  # seconds from the origin; None when not seen within the budget
    last_seen: str  # the last status read (or why the read failed)

    @property
    def seen(self) -> bool:
        """Whether the wanted state was seen before the watch gave up."""
        return self.after_s is not None


def watch(
    view: LBView,
    lbs: Sequence[str],
    backend: str,
    servers: Sequence[str],
    *,
    up: bool,
    origin_s: float,
    budget_s: float,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> list[Transition]:
    """Watch every LB in parallel until it shows every server up (or down) or the budget ends.

    `origin_s` is a `time.monotonic()` value; each LB has until `origin_s + budget_s`, so
    the call returns at about that time at the latest, however many LBs there are. The
    result holds one Transition per (LB, server), in the order given.
    """
    found: dict[str, list[Transition]] = {}

    def run(lb: str) -> None:
        try:
            found[lb] = _watch_one(
                view, lb, backend, servers, up=up, origin_s=origin_s, budget_s=budget_s, interval_s=interval_s
            )
        except Exception:  # a bug here must not pass for "not marked down": say so in the check
            log.exception("watching %s for %s failed", lb, backend)

    threads = [threading.Thread(target=run, args=(lb,), name=f"lb-watch-{lb}", daemon=True) for lb in lbs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    crashed = "not watched: its watch thread failed (see the log)"
    return [t for lb in lbs for t in found.get(lb, [Transition(lb, backend, s, up, None, crashed) for s in servers])]


def _watch_one(
    view: LBView,
    lb: str,
    backend: str,
    servers: Sequence[str],
    *,
    up: bool,
    origin_s: float,
    budget_s: float,
    interval_s: float,
) -> list[Transition]:
    """Poll one LB until every server is in the wanted state; one Transition per server."""
    after: dict[str, float] = {}
    last = dict.fromkeys(servers, "not read yet")

    def poll() -> tuple[bool, str]:
        try:
            states = view.lb_servers(lb, backend)
        except Exception as exc:  # noqa: BLE001 - an unreadable LB is "not yet", and shown
            reason = f"stats not read ({exc.__class__.__name__}: {exc})"
            for server in servers:
                if server not in after:
                    last[server] = reason
            return False, reason
        # The answer's arrival time: the LB showed the state by then (never flatters).
        now_s = time.monotonic()
        for server in servers:
            status = states.get(server, MISSING)
            last[server] = status
            if server not in after and is_up(status) == up:
                after[server] = now_s - origin_s
        pending = [s for s in servers if s not in after]
        return not pending, ", ".join(f"{s} {last[s]}" for s in pending) or "all seen"

    remaining_s = max(0.0, origin_s + budget_s - time.monotonic())
    try:
        wait_until(
            poll,
            what=f"{lb} to report {backend}/{','.join(servers)} {'UP' if up else 'DOWN'}",
            timeout_s=remaining_s,
            interval_s=interval_s,
        )
    except StackError as exc:
        log.info("%s", exc)
    return [Transition(lb, backend, s, up, after.get(s), last[s]) for s in servers]
