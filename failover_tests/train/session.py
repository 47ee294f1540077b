"""A training session on a live stack: continuous open-loop traffic on every path, the live feed,
the map, the status page against what clients measure, the fault panel, and the lesson state;
`snapshot()` is what the dashboard shows, and the session is the dashboard's `Control`.

`TrainStack` is the drill's stack with one difference: every probe made on it (the session's own
traffic and each lesson step's drill) feeds the dashboard.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from failover_tests.stack import DrillStack
from failover_tests.traffic import PathSpec, Probe, default_paths
from failover_tests.train.control import FaultPanel, catalog
from failover_tests.train.feed import LiveFeed
from failover_tests.train.map_state import MapPoller
from infra.errors import ScenarioError

log = logging.getLogger(__name__)

SESSION_RATE_PER_S = 8.0  # per path: enough points for a 2 s window, light on 2 cores
MAX_SESSION_S = 4 * 3600.0  # the session's traffic is bounded like every probe


class TrainStack(DrillStack):
    """A DrillStack whose probes feed the dashboard."""

    feed: LiveFeed | None = None

    def probe(
        self,
        *,
        rate_per_s: float = 20,
        duration_s: float = 20,
        paths: Sequence[PathSpec] | None = None,
        name: str = "probe",
    ) -> Probe:
        """An open-loop probe against both edges, read by the dashboard while it runs."""
        probe = super().probe(rate_per_s=rate_per_s, duration_s=duration_s, paths=paths, name=name)
        if self.feed is not None:
            self.feed.add(probe)
        return probe

    @classmethod
    def of(cls, stack: DrillStack) -> TrainStack:
        """The same stack, fed to the dashboard."""
        fields = {f.name: getattr(stack, f.name) for f in dataclasses.fields(stack)}
        return cls(**fields)


class LessonState:
    """What the lesson panel shows; the player updates it, the page reads it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.doc: dict[str, Any] | None = None
        self.next_event = threading.Event()

    def snapshot(self) -> dict[str, Any] | None:
        """A copy of the panel's state."""
        with self.lock:
            if self.doc is None:
                return None
            return {**self.doc, "steps": [dict(s) for s in self.doc["steps"]]}


class TrainSession:
    """Everything the dashboard shows and does, on one stack."""

    def __init__(
        self,
        stack: DrillStack,
        *,
        topology_name: str,
        rate_per_s: float = SESSION_RATE_PER_S,
        max_s: float = MAX_SESSION_S,
    ) -> None:
        """Nothing starts until `start()`."""
        self.origin_s = time.monotonic()
        paths = [p.name for p in default_paths()]
        self.feed = LiveFeed(
            paths, origin_s=self.origin_s, poll_interval_s=float(stack.topology.status.poll_interval_s)
        )
        self.stack = TrainStack.of(stack)
        self.stack.feed = self.feed
        self.topology_name = topology_name
        self.rate_per_s = rate_per_s
        self.max_s = max_s
        self.lesson = LessonState()
        self._log: deque[dict[str, Any]] = deque(maxlen=40)
        self.panel = FaultPanel(self.stack, origin_s=self.origin_s, on_log=self.log)
        self.poller = MapPoller(lambda: self.stack.outputs)
        self.traffic: Probe | None = None
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, daemon=True, name="train-ticker")
        self._status = threading.Thread(target=self._status_loop, daemon=True, name="train-status")

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> TrainSession:
        """Start traffic, the feed's ticks, the map and the status page polls."""
        self.traffic = self.stack.probe(rate_per_s=self.rate_per_s, duration_s=self.max_s, name="train")
        self.traffic.start()
        self.poller.start()
        self._ticker.start()
        self._status.start()
        self.log(f"traffic: {self.rate_per_s:g} req/s on each of {len(self.feed.paths)} paths")
        return self

    def close(self) -> list[str]:
        """Revert every fault, stop traffic and the threads; returns problems (empty when clean)."""
        problems = []
        try:
            n = self.panel.close()
            if n:
                self.log(f"reverted {n} fault(s) of the panel")
        except Exception as exc:  # noqa: BLE001 - keep closing; reported to the caller
            problems.append(str(exc))
        try:
            left = self.stack.reap()  # anything a step left journaled
            problems += [f"reverted a left-over fault: {line}" for line in left]
        except Exception as exc:  # noqa: BLE001
            problems.append(f"reap: {exc}")
        self._stop.set()
        self.poller.stop()
        if self.traffic is not None:
            self.traffic.stop()
            self.traffic.join(timeout_s=10)
        for thread in (self._ticker, self._status, self.poller):
            if thread.is_alive():
                thread.join(timeout=3)
        return problems

    def now_s(self) -> float:
        """Seconds since the session began."""
        return time.monotonic() - self.origin_s

    def log(self, text: str) -> None:
        """An entry of the page's event log (and the terminal's)."""
        self._log.append({"t_s": round(self.now_s(), 1), "text": text})
        log.info("%s", text)

    def _tick_loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.feed.tick()
            except Exception as exc:  # noqa: BLE001 - a lost tick is a gap in the chart
                log.debug("tick: %s", exc)

    def _status_loop(self) -> None:
        interval_s = float(self.stack.topology.status.poll_interval_s)
        while not self._stop.wait(min(1.0, interval_s)):
            try:
                page = self.stack.status_page()
                self.feed.set_page({k: str(v["state"]) for k, v in page["components"].items()})
            except Exception as exc:  # noqa: BLE001 - an unreachable page shows as unknown
                self.feed.set_page({})
                log.debug("status page: %s", exc)

    # -- what the page shows ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The dashboard's state (see failover_tests/train/server.py)."""
        return {
            "stack": self.stack.name,
            "topology": self.topology_name,
            "t_s": round(self.now_s(), 2),
            "series": self.feed.series(),
            "map": self.poller.snapshot(),
            "status": self.feed.truth(),
            "faults": {"active": self.panel.active()},
            "lesson": self.lesson.snapshot(),
            "log": list(self._log),
        }

    # -- what the page does (the server's Control) ----------------------------------------

    def catalog(self) -> dict[str, Any]:
        """Faults and targets for the panel."""
        return catalog(self.stack)

    def apply(self, name: str, target: str, params: dict[str, Any], duration_s: float) -> str:
        """Apply a fault from the panel."""
        fault_id = self.panel.apply(name, target, params, duration_s)
        self.poller.poke()
        return fault_id

    def revert(self, fault_id: str) -> None:
        """Revert one fault of the panel."""
        self.panel.revert(fault_id)
        self.poller.poke()

    def revert_all(self) -> int:
        """Revert every fault of the panel."""
        n = self.panel.revert_all()
        self.poller.poke()
        self.log(f"revert all: {n} fault(s)")
        return n

    def next_step(self) -> None:
        """The instructor moves the lesson on."""
        with self.lesson.lock:
            waiting = self.lesson.doc is not None and self.lesson.doc.get("waiting")
        if not waiting:
            raise ScenarioError("no lesson step is waiting for the room; wait for the current step to finish")
        self.lesson.next_event.set()
