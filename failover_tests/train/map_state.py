"""The dashboard's map of the stack: every container by tier and zone with its state and health,
the faults the journal holds on it, each LB's view of its servers, and the Redis primary.

Read by one polling thread (`MapPoller`): Docker's container list once a second (one API call
for all), each LB's stats page, and the Sentinels' answer every few seconds (it costs a
`docker exec` per Redis and Sentinel container).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from failover_tests.journal import Journal
from failover_tests.lbstats import server_states
from infra import outputs as O
from infra import store_state
from infra.docker_resources import health_of
from infra.outputs import StackOutputs

log = logging.getLogger(__name__)

TIERS = (
    O.TIER_EDGE,
    O.TIER_WEB,
    O.TIER_API_LB,
    O.TIER_API,
    O.TIER_MODEL_LB,
    O.TIER_MODEL,
    O.TIER_INTEGRATION,
    O.TIER_REDIS,
    O.TIER_SENTINEL,
    O.TIER_STATUS,
    O.TIER_CHAOS,
)
THROTTLING = ("cpu_throttle", "memory_limit")
PRIMARY_EVERY_S = 2.0


def container_view(
    outputs: StackOutputs,
    health: Mapping[str, str],
    faults: Mapping[str, Sequence[str]],
    primary: str,
) -> list[dict[str, Any]]:
    """One entry per container of the outputs: where it sits and how it is."""
    out = []
    for c in outputs.containers:
        seen = health.get(c.name, "missing")
        state = seen if seen in ("paused", "exited", "dead", "restarting", "created", "missing") else "running"
        if state == "exited" and "kill" in faults.get(c.name, ()):
            state = "killed"
        out.append({
            "name": c.name,
            "short": c.name.removeprefix(f"sd-{outputs.stack}-"),
            "tier": c.tier,
            "zone": c.zone,
            "state": state,
            "health": seen if state == "running" else state,
            "throttled": any(f in THROTTLING for f in faults.get(c.name, ())),
            "primary": c.name == primary,
            "faults": list(faults.get(c.name, ())),
        })  # fmt: skip
    return out


def journal_faults(journal: Journal) -> dict[str, list[str]]:
    """target container -> names of the faults the journal holds on it."""
    out: dict[str, list[str]] = {}
    for entry in journal.entries():
        for target in entry.targets:
            out.setdefault(target, []).append(entry.fault)
    return out


class MapPoller(threading.Thread):
    """Keeps the latest map of one stack; `snapshot()` hands it out."""

    def __init__(
        self,
        outputs: Callable[[], StackOutputs],
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`outputs` is called on every poll: a Pulumi update may change the stack's containers."""
        super().__init__(daemon=True, name="train-map")
        self.outputs, self.interval_s, self.clock = outputs, interval_s, clock
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._map: dict[str, Any] = {"zones": [], "tiers": list(TIERS), "containers": [], "lbs": []}
        self._primary = ""
        self._primary_at = -1e9
        self.polls = 0

    def snapshot(self) -> dict[str, Any]:
        """The latest map."""
        with self._lock:
            return self._map

    def run(self) -> None:
        """Poll until stopped; a failed poll keeps the previous map."""
        while not self.stop_event.is_set():
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - the page shows the last good map
                log.debug("map poll failed: %s", exc)
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def poke(self) -> None:
        """Poll now (a fault was just applied or reverted), not at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        """End the polling loop."""
        self.stop_event.set()
        self._wake.set()

    def poll(self) -> None:
        """Read everything once."""
        outputs = self.outputs()
        health = health_of(outputs.stack)
        faults = journal_faults(Journal(outputs.stack))
        lbs = []
        prefix = f"sd-{outputs.stack}-"
        for key, url in outputs.lb_stats.items():
            name = key if key.startswith(prefix) else prefix + key
            short = name.removeprefix(prefix)
            try:
                backends = server_states(url, timeout_s=0.8)
            except Exception:  # noqa: BLE001 - a killed or paused LB answers nothing
                backends = {}
            tier = next((c.tier for c in outputs.containers if c.name == name), short.rsplit("-", 1)[0])
            lbs.append({"lb": name, "short": short, "tier": tier, "backends": backends, "answering": bool(backends)})
        zones = sorted({c.zone for c in outputs.containers})
        new = {
            "zones": zones,
            "tiers": [t for t in TIERS if any(c.tier == t for c in outputs.containers)],
            "containers": container_view(outputs, health, faults, self._primary),
            "lbs": lbs,
            "primary": self._primary,
        }
        with self._lock:
            self._map = new
            self.polls += 1
        # Asking the Sentinels takes a `docker exec` each: after the map is out, not before it.
        if self.clock() - self._primary_at >= PRIMARY_EVERY_S:
            self._primary_at = self.clock()
            try:
                self._primary = store_state.read(outputs.containers).primary()
            except Exception as exc:  # noqa: BLE001 - no primary known right now
                log.debug("primary: %s", exc)
