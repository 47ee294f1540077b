"""The dashboard's fault panel: any catalog fault on any target, for a bounded time.

Each fault is applied and journaled like a drill's (`LiveStack.fault`), reverted when its time
is up, on the revert buttons, and by `close()` on every exit of the session. A fault never
outlives MAX_DURATION_S, so a closed browser leaves nothing behind for long; the session also
reverts everything once no browser has been connected for a while (see `session`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from failover_tests.faults import REGISTRY, Fault, validate_params
from failover_tests.faults.base import REQUIRED
from failover_tests.live import LiveStack
from infra.errors import FaultError, ScenarioError

log = logging.getLogger(__name__)

MAX_DURATION_S = 600.0


@dataclass
class _Active:
    id: str
    fault: Fault
    started_s: float
    ends_s: float


def catalog(stack: LiveStack) -> dict[str, Any]:
    """Every fault with its parameters' defaults, and every target a fault can take."""
    faults = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        faults.append({
            "name": name,
            "description": cls.summary,
            "on": cls.on,
            "params": {p.name: (None if p.default is REQUIRED else p.default) for p in cls.params},
        })  # fmt: skip
    containers = [c.name.removeprefix(f"sd-{stack.name}-") for c in stack.containers()]
    tiers = list(dict.fromkeys(c.tier for c in stack.containers()))
    zones = sorted({f"zone={c.zone}" for c in stack.containers()})
    edges = list(stack.outputs.edges_proxied)
    return {"faults": faults, "targets": containers + tiers + zones + ["role=primary"], "edges": edges}


class FaultPanel:
    """Faults applied from the page, each with a deadline; thread-safe."""

    def __init__(
        self,
        stack: LiveStack,
        *,
        clock: Callable[[], float] = time.monotonic,
        origin_s: float | None = None,
        on_log: Callable[[str], None] | None = None,
    ) -> None:
        """`origin_s`: the session's time zero on `clock` (the page's `t_s` counts from it)."""
        self.stack = stack
        self.clock = clock
        self.origin_s = clock() if origin_s is None else origin_s
        self.on_log = on_log or (lambda text: None)
        self._lock = threading.Lock()
        self._active: dict[str, _Active] = {}
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._expire_loop, daemon=True, name="train-fault-timer")
        self._timer.start()

    def _now(self) -> float:
        return self.clock() - self.origin_s

    def apply(self, name: str, target: str, params: Mapping[str, Any], duration_s: float) -> str:
        """Apply a fault for `duration_s`; ScenarioError or FaultError with one line when it cannot."""
        if not (
            isinstance(duration_s, (int, float)) and math.isfinite(duration_s) and 1 <= duration_s <= MAX_DURATION_S
        ):
            raise ScenarioError(f"duration_s = {duration_s!r}: give 1 to {MAX_DURATION_S:.0f} seconds")
        given = {k: v for k, v in params.items() if v is not None and v != ""}
        validate_params(name, given)
        fault = self.stack.fault(name, target, given)
        fault.apply()
        now = self._now()
        with self._lock:
            self._active[fault.id] = _Active(fault.id, fault, now, now + float(duration_s))
        self.on_log(f"applied {fault.label} for {duration_s:g} s")
        return fault.id

    def revert(self, fault_id: str) -> None:
        """Revert one fault of the panel; FaultError if it is not one."""
        with self._lock:
            active = self._active.pop(fault_id, None)
        if active is None:
            raise FaultError(f"no active fault {fault_id}; active: {', '.join(self.ids()) or 'none'}")
        self._revert(active)

    def _revert(self, active: _Active) -> None:
        try:
            active.fault.revert()
            self.on_log(f"reverted {active.fault.label}")
        except Exception as exc:
            self.on_log(f"revert of {active.fault.label} FAILED: {exc}; run: stackdrill reap")
            raise

    def revert_all(self) -> int:
        """Revert every fault of the panel, newest first; the count reverted."""
        with self._lock:
            actives = sorted(self._active.values(), key=lambda a: a.started_s, reverse=True)
            self._active.clear()
        errors = []
        for active in actives:
            try:
                self._revert(active)
            except Exception as exc:  # noqa: BLE001 - every fault gets its turn
                errors.append(str(exc))
        if errors:
            raise FaultError("faults not reverted: " + "; ".join(errors))
        return len(actives)

    def ids(self) -> list[str]:
        """Ids of the active faults."""
        with self._lock:
            return list(self._active)

    def active(self) -> list[dict[str, Any]]:
        """The active faults, JSON-ready."""
        with self._lock:
            return [
                {
                    "id": a.id,
                    "name": a.fault.name,
                    "label": a.fault.label,
                    "target": a.fault.selector,
                    "params": a.fault.values,
                    "started_s": round(a.started_s, 2),
                    "ends_s": round(a.ends_s, 2),
                }
                for a in self._active.values()
            ]

    def _expire_loop(self) -> None:
        while not self._stop.wait(0.2):
            now = self._now()
            with self._lock:
                due = [a for a in self._active.values() if a.ends_s <= now]
                for a in due:
                    del self._active[a.id]
            for a in due:
                try:
                    self._revert(a)
                except Exception as exc:  # noqa: BLE001 - logged on the page; reap undoes it
                    log.warning("expired fault %s not reverted: %s", a.id, exc)

    def close(self) -> int:
        """Stop the timer and revert everything still active."""
        self._stop.set()
        self._timer.join(timeout=2)
        return self.revert_all()
