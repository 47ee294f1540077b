"""The dashboard's live figures: per path, success and fallback shares and p50/p99 over a sliding
window, one point per tick, from every probe that runs against the stack; and the live "the status
page is lying" rule over the same records.

Records are read incrementally (`Probe.records_from`), bucketed by the wall-clock time they
completed, so several probes (the session's own traffic and a lesson step's drill) add up.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from failover_tests.status_truth import StatusTruthRules
from failover_tests.traffic import Record, percentiles

WINDOW_S = 2.0  # each point summarises the requests completed in the last WINDOW_S
HISTORY_S = 120.0  # the charts show this much
# A path's health (status_truth's vocabulary) as the page's "clients measure" column shows it.
MEASURED = {"fine": "operational", "marginal": "degraded", "impaired": "outage"}


class RecordSource(Protocol):
    """What the feed reads of a probe."""

    name: str

    @property
    def origin_monotonic_s(self) -> float | None:
        """`time.monotonic()` of the probe's time zero."""
        ...

    @property
    def running(self) -> bool:
        """Whether it still sends."""
        ...

    def records_from(self, index: int) -> tuple[list[Record], int]:
        """New records since an index, and the next index."""
        ...


@dataclass(frozen=True)
class Point:
    """One path's figures at one tick (shares None when no request completed in the window)."""

    t_s: float
    n: int
    success: float | None
    fallback: float | None
    p50_ms: float | None
    p99_ms: float | None
    real_success: float | None  # ok and not a fallback: what the status truth rule counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the rule's internal share."""
        return {
            "t_s": round(self.t_s, 2),
            "n": self.n,
            "success": self.success,
            "fallback": self.fallback,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
        }


def summarise(records: Sequence[Record], t_s: float) -> Point:
    """The figures of the records of one window."""
    n = len(records)
    if not n:
        return Point(t_s, 0, None, None, None, None, None)
    ok = sum(1 for r in records if r.ok)
    fallback = sum(1 for r in records if r.ok and r.fallback)
    p50, p99 = percentiles([r.latency_ms for r in records], 50, 99)
    return Point(t_s, n, ok / n, fallback / n, round(p50, 1), round(p99, 1), (ok - fallback) / n)


class LiveFeed:
    """Per-path points every tick from the registered probes, and the lying rule's state."""

    def __init__(
        self,
        paths: Sequence[str],
        *,
        origin_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        rules: StatusTruthRules | None = None,
        poll_interval_s: float = 1.0,
    ) -> None:
        """`origin_s`: the session's time zero on `clock`; every `t_s` counts from it."""
        self.paths = list(paths)
        self.clock = clock
        self.origin_s = clock() if origin_s is None else origin_s
        self.rules = rules or StatusTruthRules()
        self.tolerance_s = self.rules.tolerance_s(poll_interval_s)
        self._lock = threading.Lock()
        self._sources: list[tuple[RecordSource, list[int]]] = []
        self._recent: deque[tuple[float, Record]] = deque()  # (completed at, on the session clock)
        self._points: dict[str, deque[Point]] = {p: deque() for p in self.paths}
        self._page: dict[str, str] = {}
        self._mismatch_since: dict[str, float] = {}  # path -> impaired while its components show operational

    def add(self, source: RecordSource) -> None:
        """Read a probe's records from now on (from its first record)."""
        with self._lock:
            self._sources.append((source, [0]))

    def _pull(self) -> None:
        for source, index in self._sources:
            origin = source.origin_monotonic_s
            if origin is None:
                continue
            new, index[0] = source.records_from(index[0])
            shift = origin - self.origin_s
            self._recent.extend((r.completed_s + shift, r) for r in new)
        self._sources = [(s, i) for s, i in self._sources if s.running or s.origin_monotonic_s is None]

    def tick(self) -> dict[str, Point]:
        """Take in new records and add one point per path; returns the new points."""
        with self._lock:
            self._pull()
            now = self.clock() - self.origin_s
            while self._recent and self._recent[0][0] < now - WINDOW_S - 30:
                self._recent.popleft()
            window = [r for t, r in self._recent if now - WINDOW_S <= t <= now]
            out = {}
            for path in self.paths:
                point = summarise([r for r in window if r.path == path], now)
                points = self._points[path]
                points.append(point)
                while points and points[0].t_s < now - HISTORY_S:
                    points.popleft()
                out[path] = point
                if self._health(point) == "impaired" and self._shown_operational(path):
                    self._mismatch_since.setdefault(path, now)
                else:
                    self._mismatch_since.pop(path, None)
            return out

    def set_page(self, page: Mapping[str, str]) -> None:
        """The status page's latest component states ({} when it could not be read)."""
        with self._lock:
            self._page = dict(page)

    def _shown(self, path: str) -> list[str]:
        return [c for c in self.rules.dependencies.get(path, ()) if c in self._page]

    def _shown_operational(self, path: str) -> bool:
        shown = self._shown(path)
        return bool(shown) and all(self._page[c] == "operational" for c in shown)

    def _health(self, point: Point) -> str:
        if point.real_success is None:
            return "unknown"
        return self.rules.health(point.n, round(point.real_success * point.n))

    def series(self) -> dict[str, list[dict[str, Any]]]:
        """Every path's points of the last HISTORY_S, JSON-ready."""
        with self._lock:
            return {p: [pt.to_dict() for pt in pts] for p, pts in self._points.items()}

    def latest(self) -> dict[str, Point]:
        """The newest point of each path that has one."""
        with self._lock:
            return {p: pts[-1] for p, pts in self._points.items() if pts}

    def truth(self) -> dict[str, Any]:
        """What clients measure per path against what the status page says, and the lying banner.

        The rule is the drills' (`failover_tests.status_truth`): a path impaired (real success
        below `impaired_below`) while the page shows every component it depends on operational,
        for longer than one poll interval plus the grace, is the page lying.
        """
        latest = self.latest()
        now = self.clock() - self.origin_s
        with self._lock:
            page, mismatch_since = dict(self._page), dict(self._mismatch_since)
            shown = {p: self._shown(p) for p in latest}
        measured = {}
        lies = []
        for path, point in latest.items():
            health = self._health(point)
            measured[path] = MEASURED.get(health, "unknown")
            if health == "impaired" and (point.success or 0.0) >= self.rules.fine_at_least:
                # Every request answered, from the fallback: degraded for the room, still a real
                # impairment for the lying rule (the drills count fallbacks the same way).
                measured[path] = "degraded"
            since = mismatch_since.get(path)
            if since is not None and now - since > self.tolerance_s:
                share = 100 * (point.real_success or 0.0)
                lies.append(
                    f"{path}: {share:.0f}% real success for {now - since:.0f} s while the page says "
                    f"{', '.join(shown[path])} operational"
                )
        return {"page": page, "measured": measured, "lying": bool(lies), "message": "; ".join(lies)}
