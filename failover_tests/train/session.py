"""A training session: live traffic, the map, the status-truth flag and the fault panel on one clock.

`Session` is a context manager. Entering starts the traffic and a tick thread that, every
``tick_s`` (0.5 s), reads the new records into the aggregator, reads the map, judges the status
page and builds one *frame*: everything the dashboard shows, as JSON. The server sends frames;
the lesson player reads the same figures for its checks. Leaving reverts every fault first (while
traffic still shows the recovery), then stops the traffic, whatever happened.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from failover_tests.scenario.spec import PATHS
from failover_tests.status_truth import DEFAULT_RULES, StatusTruthRules
from failover_tests.traffic import JSONValue
from failover_tests.train.control import FaultMaker, FaultPanel
from failover_tests.train.live import (
    BUCKET_S,
    CHUNK_S,
    MAX_SESSION_S,
    SETTLE_S,
    WINDOW_S,
    Counts,
    LiveAggregator,
    LiveTraffic,
    ProbeMaker,
)
from failover_tests.train.state import MapStack, StackReader, StackSnapshot
from failover_tests.train.truth import LiveTruth, TruthView
from infra.topology import Topology

log = logging.getLogger(__name__)
CLIENT_WINDOW_S = 5.0  # what "clients measure" next to the status page: the last 5 settled seconds


class TrainStack(MapStack, FaultMaker, ProbeMaker, Protocol):
    """What a session needs of a live stack (`failover_tests.stack.DrillStack` is one)."""

    topology: Topology

    def update(
        self, topology: Topology, image: str | None = None, progress: Callable[[str, str, bool], None] | None = None
    ) -> None:
        """Apply a changed topology in place (a Pulumi update)."""
        ...


@dataclass(frozen=True, kw_only=True)
class SessionSettings:
    """How a session runs: traffic, ticks, bounds and the status-truth rules."""

    rate_per_s: float = 10.0
    paths: tuple[str, ...] = tuple(PATHS)
    tick_s: float = 0.5
    chunk_s: float = CHUNK_S
    max_s: float = MAX_SESSION_S
    settle_s: float = SETTLE_S
    bucket_s: float = BUCKET_S
    window_s: float = WINDOW_S
    recent_s: float = 10.0  # a frame carries the buckets of the last recent_s (they may still change)
    rules: StatusTruthRules = DEFAULT_RULES


class Session:
    """Traffic, map, status truth and fault panel of one stack, ticking together."""

    def __init__(
        self, stack: TrainStack, settings: SessionSettings | None = None, *, reader: StackReader | None = None
    ) -> None:
        """A session that has not started yet."""
        self.stack = stack
        self.settings = settings = settings or SessionSettings()
        self.aggregator = LiveAggregator(bucket_s=settings.bucket_s, window_s=settings.window_s)
        self.traffic = LiveTraffic(
            stack,
            self.aggregator,
            rate_per_s=settings.rate_per_s,
            paths=[PATHS[p] for p in settings.paths],
            chunk_s=settings.chunk_s,
            max_s=settings.max_s,
        )
        self.truth = LiveTruth(
            self.aggregator,
            poll_interval_s=stack.topology.status.poll_interval_s,
            rules=settings.rules,
            settle_s=settings.settle_s,
        )
        self.panel = FaultPanel(stack, clock=self.now_s)
        self.reader = reader or StackReader(stack)
        self.stopping = threading.Event()
        self.snapshot: StackSnapshot | None = None
        self._lesson: dict[str, JSONValue] | None = None
        self._next = threading.Event()
        self._lock = threading.Lock()
        self._frame: dict[str, JSONValue] = {"seq": 0}
        self._seq = 0
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> Session:
        """Start the traffic, take a first tick, then tick in the background."""
        self.traffic.start()
        try:
            self.tick()
            self._thread = threading.Thread(target=self._run, name="stackdrill-train-tick", daemon=True)
            self._thread.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> list[str]:
        """Revert every fault, stop ticking and the traffic; return the reverts that failed."""
        self.stopping.set()
        try:
            errors = self.panel.close()
        finally:
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(10.0)
            self.traffic.stop()
            self.reader.close()
        return errors

    def __enter__(self) -> Session:
        """Start the session."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Revert every fault and stop the traffic, whatever happened."""
        self.close()

    @property
    def ended(self) -> bool:
        """Whether the session is over: closing, or its traffic reached the bound (``max_s``)."""
        return self.stopping.is_set() or self.traffic.finished.is_set()

    def now_s(self) -> float:
        """Seconds on the session clock."""
        return self.traffic.now_s()

    # -- what the page and the lesson read ------------------------------------------------------

    def tick(self) -> dict[str, JSONValue]:
        """Read new traffic, the map and the status page; judge the page; publish a new frame."""
        self.traffic.poll()
        now = self.now_s()
        self.aggregator.prune(now)
        faulted = self.panel.faulted()
        throttled = {n for n, names in faulted.items() if {"cpu_throttle", "memory_limit"} & set(names)}
        snapshot = self.reader.read(now, faults=faulted, throttled=throttled)
        self.snapshot = snapshot
        truth = self.truth.update(now, snapshot.components)
        frame = self._build(now, snapshot, truth, span_s=self.settings.recent_s)
        with self._lock:
            self._frame = frame
        return frame

    def frame(self, *, full: bool = False) -> dict[str, JSONValue]:
        """The newest frame; ``full`` carries every bucket of the chart window, not just the recent ones."""
        with self._lock:
            frame = dict(self._frame)
        if full and "t_s" in frame:
            now = float(frame["t_s"])  # type: ignore[arg-type]
            frame["series"] = self.aggregator.series(now, self.settings.window_s)  # type: ignore[assignment]
            frame["full"] = True
        return frame

    def clients(self, path: str, window_s: float = CLIENT_WINDOW_S) -> Counts:
        """What clients of a path measured over the last settled ``window_s``."""
        end = self.now_s() - self.settings.settle_s
        return self.aggregator.counts(path, end - window_s, end)

    def _build(self, now: float, snapshot: StackSnapshot, truth: TruthView, *, span_s: float) -> dict[str, JSONValue]:
        """One frame."""
        self._seq += 1
        with self._lock:
            lesson = self._lesson
        return {
            "seq": self._seq,
            "t_s": round(now, 3),
            "full": False,
            "stack": self.stack.name,
            "rate_per_s": self.traffic.rate_per_s,
            "bucket_s": self.settings.bucket_s,
            "window_s": self.settings.window_s,
            "settle_s": self.settings.settle_s,
            "paths": list(self.settings.paths),
            "series": self.aggregator.series(now, span_s),  # type: ignore[dict-item]
            "clients": {p: self.clients(p).to_dict() for p in self.settings.paths},
            "map": snapshot.to_dict(),
            "truth": truth.to_dict(),
            "faults": [f.to_dict(now) for f in self.panel.active()],
            "fault_errors": list(self.panel.errors[-5:]),
            "lesson": lesson,
            "ended": self.ended,
        }

    # -- the lesson's hooks ------------------------------------------------------------------------

    def publish_lesson(self, doc: dict[str, JSONValue] | None) -> None:
        """What the lesson panel shows from the next frame on."""
        with self._lock:
            self._lesson = doc

    def press_next(self) -> bool:
        """The page's "next" button; False when no lesson is waiting for it."""
        with self._lock:
            waiting = self._lesson is not None and self._lesson.get("waiting") is True
        if waiting:
            self._next.set()
        return waiting

    def wait_next(self) -> None:
        """Block until the page's "next" button is pressed (or the session ends: KeyboardInterrupt)."""
        while not self._next.wait(0.25):  # short waits keep Ctrl-C responsive in the main thread
            if self.ended:
                raise KeyboardInterrupt
        self._next.clear()

    def on_update(self, topology: Topology, edges_before: list[str]) -> None:
        """After an in-place update: new edges get a new chunk of traffic; the new status poll interval counts."""
        if list(self.stack.edges) != edges_before:
            self.traffic.restart()
        self.truth.tolerance_s = self.settings.rules.tolerance_s(topology.status.poll_interval_s)

    def _run(self) -> None:
        """Tick until the session stops; a tick that fails is logged and the next one tries again."""
        while not self.stopping.wait(self.settings.tick_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the dashboard must keep going
                log.exception("session tick failed")
