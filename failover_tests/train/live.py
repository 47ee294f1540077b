"""Live traffic for a training session: open-loop probes back to back, and a rolling per-path view of them.

- `LiveTraffic` keeps traffic flowing for a whole session as consecutive bounded `Probe` chunks
  (each one open-loop, as in a drill), all on one session clock, bounded in total by ``max_s``.
  The next chunk starts a little before the current one's schedule ends, and the current one
  stops scheduling once the next is ready: no gap and no overlap in the schedule, while the old
  chunk's in-flight requests finish in their own thread.
- `LiveAggregator` keeps the records of the last ``keep_s`` seconds on that clock and turns them
  into per-path buckets of ``bucket_s`` (success share, fallback share, p50/p99 from the kit's
  one percentile definition, `failover_tests.traffic.percentiles`). A bucket is recomputed only
  when a record lands in it, so a tick costs what arrived since the last one.

A request is answered (or timed out) within its path's budget, so a bucket is settled
``SETTLE_S`` after it ends; checks and the status-truth rule read settled buckets only.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from failover_tests.traffic import JSONValue, PathSpec, Probe, Record, WindowStats, percentiles, summarize
from infra.errors import ScenarioError

log = logging.getLogger(__name__)

BUCKET_S = 0.5
WINDOW_S = 120.0  # what the charts show
KEEP_S = 600.0  # records kept for checks over a whole step (an in-place update takes minutes)
CHUNK_S = 30.0
MAX_SESSION_S = 4 * 3600.0
SETTLE_S = 3.5  # the paths' 3 s budget and a margin: every request of an older bucket has answered
_LEAD_S = 1.0  # the next chunk starts this long before the current one's schedule would end
_CHUNK_SPARE_S = 5.0  # a chunk's own schedule outlasts its turn, in case the next one is slow to start


@dataclass(frozen=True, kw_only=True)
class LiveBucket:
    """One path's requests scheduled in one bucket [t_s, t_s + bucket_s) of the session clock."""

    path: str
    t_s: float
    count: int
    ok: int  # ok answers, fallback answers included
    fallback: int  # ok answers that were a fallback (cached completion, degraded page)
    p50_ms: float
    p99_ms: float

    @property
    def success_share(self) -> float:
        """Ok answers (fallbacks included) / requests."""
        return self.ok / self.count

    @property
    def fallback_share(self) -> float:
        """Fallback answers / requests."""
        return self.fallback / self.count

    def to_dict(self) -> dict[str, JSONValue]:
        """The bucket as the dashboard draws it."""
        return {
            "t_s": self.t_s,
            "count": self.count,
            "ok": self.ok,
            "fallback": self.fallback,
            "success": round(self.success_share, 4),
            "fallback_share": round(self.fallback_share, 4),
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
        }


@dataclass(frozen=True)
class Counts:
    """Requests and their outcomes over a time range, without percentiles (cheap)."""

    requests: int = 0
    ok: int = 0
    fallback: int = 0

    @property
    def real(self) -> int:
        """Ok answers that were not a fallback: what the status-truth rule calls a real success."""
        return self.ok - self.fallback

    def to_dict(self) -> dict[str, JSONValue]:
        """The counts and their shares (None without requests)."""
        n = self.requests
        return {
            "requests": n,
            "success": round(self.ok / n, 4) if n else None,
            "real_success": round(self.real / n, 4) if n else None,
            "fallback_share": round(self.fallback / n, 4) if n else None,
        }


@dataclass(frozen=True)
class _Span:
    """A named [start_s, end_s) range of the session clock (a `TimeSpan` for `summarize`)."""

    name: str
    start_s: float
    end_s: float


class LiveAggregator:
    """Records on the session clock, kept for ``keep_s``, summarised per path in ``bucket_s`` buckets."""

    def __init__(self, *, bucket_s: float = BUCKET_S, window_s: float = WINDOW_S, keep_s: float = KEEP_S) -> None:
        """An empty aggregator."""
        if not (bucket_s > 0 and window_s >= bucket_s and keep_s >= window_s):
            raise ScenarioError(
                f"aggregator needs 0 < bucket_s <= window_s <= keep_s; got {bucket_s}, {window_s}, {keep_s}"
            )
        self.bucket_s = bucket_s
        self.window_s = window_s
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._records: dict[str, dict[int, list[Record]]] = {}
        self._cache: dict[tuple[str, int], LiveBucket] = {}

    @property
    def paths(self) -> list[str]:
        """Every path seen, in order of first appearance."""
        with self._lock:
            return list(self._records)

    def add(self, records: Iterable[Record]) -> int:
        """Take records whose times are already on the session clock; return how many."""
        n = 0
        with self._lock:
            for rec in records:
                index = math.floor(rec.scheduled_s / self.bucket_s)
                self._records.setdefault(rec.path, {}).setdefault(index, []).append(rec)
                self._cache.pop((rec.path, index), None)
                n += 1
        return n

    def prune(self, now_s: float) -> None:
        """Forget buckets that ended more than ``keep_s`` ago."""
        oldest = math.floor((now_s - self.keep_s) / self.bucket_s)
        with self._lock:
            for path, buckets in self._records.items():
                for index in [i for i in buckets if i < oldest]:
                    del buckets[index]
                    self._cache.pop((path, index), None)

    def buckets(self, path: str, since_s: float = -math.inf, until_s: float = math.inf) -> list[LiveBucket]:
        """A path's non-empty buckets starting in [since_s, until_s), in time order."""
        with self._lock:
            found = self._records.get(path, {})
            indexes = sorted(i for i in found if since_s <= i * self.bucket_s < until_s)
            return [self._bucket(path, i, found[i]) for i in indexes]

    def series(self, now_s: float, span_s: float) -> dict[str, list[dict[str, JSONValue]]]:
        """Per path, the buckets of the last ``span_s`` seconds as the dashboard draws them."""
        return {p: [b.to_dict() for b in self.buckets(p, since_s=now_s - span_s)] for p in self.paths}

    def counts(self, path: str, start_s: float, end_s: float) -> Counts:
        """Requests of a path scheduled in [start_s, end_s), whole buckets only (no percentiles)."""
        first, last = math.ceil(start_s / self.bucket_s - 1e-9), math.floor(end_s / self.bucket_s + 1e-9)
        requests = ok = fallback = 0
        with self._lock:
            found = self._records.get(path, {})
            for index in range(first, last):
                for rec in found.get(index, ()):
                    requests += 1
                    ok += rec.ok
                    fallback += rec.ok and rec.fallback
        return Counts(requests, ok, fallback)

    def window(self, path: str, start_s: float, end_s: float, *, fallback_is_failure: bool = False) -> WindowStats:
        """The kit's window statistics (`summarize`) of one path over [start_s, end_s) of what is kept."""
        with self._lock:
            found = self._records.get(path, {})
            recs = [r for i, bucket in found.items() for r in bucket if start_s - self.bucket_s <= i * self.bucket_s]
        return summarize(recs, path, _Span("live", start_s, end_s), fallback_is_failure=fallback_is_failure)

    def _bucket(self, path: str, index: int, recs: Sequence[Record]) -> LiveBucket:
        """A bucket's figures, from the cache unless a record arrived since (caller holds the lock)."""
        cached = self._cache.get((path, index))
        if cached is not None:
            return cached
        p50, p99 = percentiles([r.latency_ms for r in recs], 50.0, 99.0)
        bucket = LiveBucket(
            path=path,
            t_s=round(index * self.bucket_s, 6),
            count=len(recs),
            ok=sum(r.ok for r in recs),
            fallback=sum(r.ok and r.fallback for r in recs),
            p50_ms=p50,
            p99_ms=p99,
        )
        self._cache[(path, index)] = bucket
        return bucket


class ProbeMaker(Protocol):
    """What live traffic needs of a stack: an open-loop probe against its edges (`LiveStack.probe`)."""

    @property
    def edges(self) -> list[str]:
        """Both edge endpoints."""
        ...

    def probe(
        self,
        *,
        rate_per_s: float = 20,
        duration_s: float = 20,
        paths: Sequence[PathSpec] | None = None,
        name: str = "probe",
    ) -> Probe:
        """An open-loop probe against both edges."""
        ...


@dataclass
class _Chunk:
    """One probe of the session and how far its records have been read."""

    probe: Probe
    offset_s: float  # the probe's time zero on the session clock
    seen: set[tuple[str, int]] = dataclasses.field(default_factory=set)


class LiveTraffic:
    """Open-loop traffic for a whole session, as bounded probes back to back, read into an aggregator."""

    def __init__(
        self,
        source: ProbeMaker,
        aggregator: LiveAggregator,
        *,
        rate_per_s: float = 10.0,
        paths: Sequence[PathSpec] | None = None,
        chunk_s: float = CHUNK_S,
        max_s: float = MAX_SESSION_S,
    ) -> None:
        """Record the settings; nothing is sent until `start()`."""
        if not (0 < rate_per_s <= 500) or not (chunk_s > _LEAD_S) or not (max_s > 0):
            raise ScenarioError(
                f"live traffic needs 0 < rate_per_s <= 500, chunk_s > {_LEAD_S} and max_s > 0; "
                f"got {rate_per_s}, {chunk_s}, {max_s}"
            )
        self.source = source
        self.aggregator = aggregator
        self.base_rate_per_s = rate_per_s
        self.paths = list(paths) if paths is not None else None
        self.chunk_s = chunk_s
        self.max_s = max_s
        self.finished = threading.Event()  # set when max_s is reached or traffic stops
        self._rate_per_s = rate_per_s
        self._rate_until_s: float | None = None
        self._t0: float | None = None
        self._lock = threading.Lock()
        self._chunks: list[_Chunk] = []
        self._stop = threading.Event()
        self._rotate = threading.Event()
        self._thread: threading.Thread | None = None
        self._serial = 0

    @property
    def rate_per_s(self) -> float:
        """The rate each path runs at now."""
        return self._rate_per_s

    def now_s(self) -> float:
        """Seconds since the session's traffic started (the session clock)."""
        if self._t0 is None:
            raise ScenarioError("live traffic has no clock yet; call start() first")
        return time.monotonic() - self._t0

    def start(self) -> LiveTraffic:
        """Start the first probe (returns once it sends) and the thread that starts the next ones."""
        if self._thread is not None:
            raise ScenarioError("live traffic was already started")
        self._t0 = time.monotonic()
        self._start_chunk()
        self._thread = threading.Thread(target=self._run, name="stackdrill-live-traffic", daemon=True)
        self._thread.start()
        return self

    def set_rate(self, rate_per_s: float, hold_s: float | None = None) -> None:
        """Change every path's rate now (a new chunk); with ``hold_s``, go back to the base rate after it."""
        if not 0 < rate_per_s <= 500:
            raise ScenarioError(f"rate_per_s={rate_per_s} must be in (0, 500]")
        with self._lock:
            self._rate_per_s = rate_per_s
            self._rate_until_s = None if hold_s is None else self.now_s() + hold_s
        self._rotate.set()

    def restart(self) -> None:
        """Start a new chunk now (the edges changed in an update, say)."""
        self._rotate.set()

    def poll(self) -> int:
        """Move every new record of every chunk into the aggregator; return how many."""
        with self._lock:
            chunks = list(self._chunks)
        n = 0
        for chunk in chunks:
            running = chunk.probe.running  # read first: a chunk that stopped has all its records
            fresh = [r for r in chunk.probe.records if (r.path, r.seq) not in chunk.seen]
            chunk.seen.update((r.path, r.seq) for r in fresh)
            n += self.aggregator.add(
                dataclasses.replace(
                    r, scheduled_s=r.scheduled_s + chunk.offset_s, completed_s=r.completed_s + chunk.offset_s
                )
                for r in fresh
            )
            if not running and chunk is not chunks[-1]:
                with self._lock:
                    self._chunks.remove(chunk)
                self._join_quietly(chunk.probe)
        return n

    def stop(self) -> None:
        """Stop scheduling; in-flight requests finish within their budget."""
        self._stop.set()
        self._rotate.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10.0)
        with self._lock:
            chunks = list(self._chunks)
        for chunk in chunks:
            chunk.probe.stop()
        for chunk in chunks:
            self._join_quietly(chunk.probe)
        self.finished.set()

    def __enter__(self) -> LiveTraffic:
        """Start the traffic."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the traffic."""
        self.stop()

    # -- the rotation thread ----------------------------------------------------------------

    def _start_chunk(self) -> None:
        """Start the next probe at the current rate; then stop the one it replaces."""
        with self._lock:
            if self._rate_until_s is not None and self.now_s() >= self._rate_until_s:
                self._rate_per_s, self._rate_until_s = self.base_rate_per_s, None
            rate = self._rate_per_s
            previous = self._chunks[-1] if self._chunks else None
        left_s = self.max_s - self.now_s()
        probe = self.source.probe(
            rate_per_s=rate,
            duration_s=max(0.1, min(self.chunk_s + _CHUNK_SPARE_S, left_s)),
            paths=self.paths,
            name=f"train-{self._serial}",
        )
        self._serial += 1
        probe.start()
        origin = probe.origin_monotonic_s
        assert origin is not None and self._t0 is not None
        with self._lock:
            self._chunks.append(_Chunk(probe, origin - self._t0))
        if previous is not None:
            previous.probe.stop()  # its schedule ends where the new one's begins

    def _run(self) -> None:
        """Start a new chunk whenever the current one's turn ends, the rate changes, or a restart is asked."""
        try:
            while not self._stop.is_set():
                with self._lock:
                    current = self._chunks[-1]
                    until = self._rate_until_s
                turn_end_s = current.offset_s + self.chunk_s
                due_s = turn_end_s - _LEAD_S
                if until is not None:
                    due_s = min(due_s, until)
                if self.now_s() >= self.max_s:
                    break
                self._rotate.wait(max(0.0, min(due_s, self.max_s) - self.now_s()))
                self._rotate.clear()
                if self._stop.is_set() or self.now_s() >= self.max_s - 0.1:
                    break
                self._start_chunk()
        except Exception:  # a probe that cannot start ends the session's traffic, loudly
            log.exception("live traffic stopped")
        finally:
            if self._stop.is_set() or self.now_s() >= self.max_s - 0.1:
                log.info("live traffic ended after %.0f s", self.now_s())
            with self._lock:
                chunks = list(self._chunks)
            for chunk in chunks:
                chunk.probe.stop()
            self.finished.set()

    @staticmethod
    def _join_quietly(probe: Probe) -> None:
        """Join a stopped probe; a crash is logged, not raised (the session goes on)."""
        try:
            probe.join(timeout_s=10.0)
        except Exception:  # noqa: BLE001 - one chunk's crash must not end the session
            log.exception("probe %s crashed", probe.name)
