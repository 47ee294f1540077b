"""Open-loop traffic probes: what the clients of the stack saw, request by request.

A `Probe` sends requests on a fixed schedule (one timetable per path, all paths at the same
rate, staggered) whether or not earlier requests have returned, so a stall shows up as
latency rather than as a silently lowered load (no coordinated omission). Every request is
kept as a `Record` whose latency is measured from its *scheduled* start. Each request tries the
endpoints in turn only while it cannot connect (see `failover_tests.traffic.send`).

The probe runs in its own thread with its own event loop, so test code can start it, apply
faults, mark them (`Probe.mark`) on the probe's clock, and stop or join it. It is bounded:
scheduling ends at ``duration_s`` or after ``max_requests`` requests (or at `Probe.stop`),
each request ends within its path's ``timeout_s`` counted from its scheduled start, and at
most ``max_in_flight`` requests are outstanding; a request due while that many are in
flight is not sent and is recorded as a failure (``attempts == 0``), never silently
dropped. The default bound is the most the schedule can have in flight, so it only bites
when set lower. A path's ``setup`` request (e.g. writing the key a read path reads) is sent
once before time zero and kept apart in `Probe.setup_records`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import resource
import threading
import time
from collections.abc import Sequence
from types import TracebackType

import aiohttp

from failover_tests.traffic.answers import not_sent_record, shifted
from failover_tests.traffic.paths import PathSpec
from failover_tests.traffic.plan import Plan, check_endpoint, compile_plan
from failover_tests.traffic.records import Event, LagStats, Record
from failover_tests.traffic.send import open_session, send_request
from failover_tests.traffic.stats import LagMeter
from infra.errors import ScenarioError

log = logging.getLogger(__name__)

_START_LEAD_S = 0.02  # first request is scheduled this long after the loop is ready
_JOIN_GRACE_S = 1.0  # extra wait for in-flight requests beyond their own budget


class Probe:
    """An open-loop traffic probe against loopback endpoints, run in its own thread."""

    def __init__(
        self,
        endpoints: Sequence[str],
        paths: Sequence[PathSpec],
        *,
        rate_per_s: float,
        duration_s: float,
        max_requests: int | None = None,
        max_in_flight: int | None = None,
        connect_timeout_s: float = 1.0,
        name: str = "probe",
    ) -> None:
        """Record the settings; nothing is sent until `start()` or `run()`."""
        if not endpoints:
            raise ScenarioError("Probe needs at least one endpoint (the stack's edge URLs)")
        if not paths:
            raise ScenarioError("Probe needs at least one PathSpec; see default_paths()")
        names = [p.name for p in paths]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ScenarioError(f"Probe paths must have unique names; repeated: {dupes}")
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
            raise ScenarioError(f"rate_per_s={rate_per_s!r} must be a positive number")
        if not (duration_s > 0 and math.isfinite(duration_s)):
            raise ScenarioError(f"duration_s={duration_s!r} must be a positive number")
        if not connect_timeout_s > 0:
            raise ScenarioError(f"connect_timeout_s={connect_timeout_s!r} must be positive")
        self.endpoints: tuple[str, ...] = tuple(check_endpoint(e) for e in endpoints)
        self.paths: tuple[PathSpec, ...] = tuple(paths)
        self.rate_per_s = float(rate_per_s)
        self.duration_s = float(duration_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.name = name
        n_paths = len(self.paths)
        if max_requests is None:
            max_requests = math.ceil(round(self.rate_per_s * self.duration_s * n_paths * 1.1, 6)) + 10
        if max_in_flight is None:
            # The most requests that can be in flight at once, given every request's budget.
            budget_s = sum(p.timeout_s for p in self.paths)
            max_in_flight = math.ceil(self.rate_per_s * budget_s) + 2 * n_paths + 16
        if max_requests < 1:
            raise ScenarioError(f"max_requests={max_requests} must be at least 1")
        if max_in_flight < 1:
            raise ScenarioError(f"max_in_flight={max_in_flight} must be at least 1")
        self.max_requests = max_requests
        self.max_in_flight = max_in_flight

        # Global request g is sent at g * spacing_s; it belongs to path g % n_paths with
        # sequence number g // n_paths, so every path runs at rate_per_s, staggered.
        self._spacing_s = 1.0 / (self.rate_per_s * n_paths)
        planned = math.ceil(round(self.duration_s / self._spacing_s, 6))
        self._total = min(planned, self.max_requests)
        self._plans = tuple(compile_plan(p, self.endpoints) for p in self.paths)

        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._finished = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._origin: float | None = None
        self._records: list[Record] = []
        self._setup_records: list[Record] = []
        self._events: list[Event] = []
        self._lag = LagMeter()
        # Loop-thread state.
        self._session: aiohttp.ClientSession | None = None
        self._next_g = 0
        self._next_endpoint = 0
        self._in_flight = 0
        self._halted = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduling_done: asyncio.Future[None] | None = None

    # -- public API ---------------------------------------------------------------------

    def start(self) -> Probe:
        """Start the probe thread; returns once setup requests are done and the clock runs."""
        with self._lock:
            if self._thread is not None:
                raise ScenarioError(f"probe {self.name!r} was already started; make a new one")
            self._warn_about_fd_limit()
            self._thread = threading.Thread(target=self._thread_main, name=f"stackdrill-{self.name}", daemon=True)
            self._thread.start()
        setup_budget_s = sum(p.setup.timeout_s for p in self.paths if p.setup is not None)
        if not self._ready.wait(timeout=setup_budget_s + 10.0):
            self.stop()
            self.join(timeout_s=5.0)
            raise ScenarioError(
                f"probe {self.name!r} did not start within {setup_budget_s + 10.0:.1f} s; "
                "the event loop thread is stuck"
            )
        if self._failure is not None:
            self.join()
        log.info(
            "probe %s started: %d paths x %.1f/s for %.1f s on %s",
            self.name,
            len(self.paths),
            self.rate_per_s,
            self.duration_s,
            ", ".join(self.endpoints),
        )
        return self

    def stop(self) -> None:
        """Stop scheduling new requests; in-flight ones finish within their budget."""
        with self._lock:
            loop = self._loop
            if loop is None or self._finished.is_set():
                return
            # _finished is set under this lock before the loop closes, so the loop is open.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._halt)

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait until the probe has finished; True if it has. Re-raises a probe crash."""
        thread = self._thread
        if thread is None:
            raise ScenarioError(f"probe {self.name!r} was never started; call start() first")
        thread.join(timeout_s)
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        return not thread.is_alive()

    def run(self) -> list[Record]:
        """Run the probe to completion (duration_s or max_requests) and return its records."""
        self.start()
        self.join()
        return self.records

    def mark(self, label: str) -> Event:
        """Record a labelled event now, on the probe's clock (seconds since start)."""
        event = Event(round(self.now_s(), 6), label)
        with self._lock:
            self._events.append(event)
        log.info("probe %s: %.3f s %s", self.name, event.t_s, label)
        return event

    def now_s(self) -> float:
        """Seconds since the probe's start (its clock origin)."""
        origin = self._origin
        if origin is None:
            raise ScenarioError(f"probe {self.name!r} has no clock yet; call start() first")
        return time.monotonic() - origin

    @property
    def origin_monotonic_s(self) -> float | None:
        """The `time.monotonic()` value of the probe's time zero, once started."""
        return self._origin

    @property
    def running(self) -> bool:
        """Whether the probe thread is still running."""
        return self._thread is not None and not self._finished.is_set()

    @property
    def records(self) -> list[Record]:
        """Every request recorded so far, in scheduled order."""
        recs = list(self._records)
        recs.sort(key=lambda r: r.scheduled_s)
        return recs

    def records_from(self, index: int) -> tuple[list[Record], int]:
        """Records completed since the `index`-th one, in completion order, and the next index.

        For a live view that polls a long probe: each call copies only what is new.
        """
        new = self._records[index:]
        return new, index + len(new)

    @property
    def setup_records(self) -> list[Record]:
        """The setup requests sent before time zero (negative scheduled times)."""
        return list(self._setup_records)

    @property
    def events(self) -> list[Event]:
        """Every event marked so far, in time order."""
        with self._lock:
            return sorted(self._events, key=lambda e: e.t_s)

    @property
    def schedule_lag(self) -> LagStats:
        """Send time minus scheduled time over all sent requests (HdrHistogram)."""
        return self._lag.stats()

    def __enter__(self) -> Probe:
        """Start the probe."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop scheduling and wait for in-flight requests."""
        self.stop()
        self.join()

    # -- loop thread ----------------------------------------------------------------------

    def _warn_about_fd_limit(self) -> None:
        """Log when max_in_flight could exhaust the process's file descriptors."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and self.max_in_flight > soft - 64:
            log.warning(
                "probe %s: max_in_flight=%d is close to the open-file limit %d; "
                "raise it with `ulimit -n` or lower the rate",
                self.name,
                self.max_in_flight,
                soft,
            )

    def _thread_main(self) -> None:
        """Own an event loop for the probe's lifetime."""
        loop = asyncio.new_event_loop()
        with self._lock:
            self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            log.exception("probe %s crashed", self.name)
            self._failure = exc
        finally:
            with self._lock:
                self._finished.set()
            # Only now, with any failure recorded, may a waiting start() return.
            self._ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _main(self) -> None:
        """Set up, run the schedule, then wait for in-flight requests."""
        loop = asyncio.get_running_loop()
        session = open_session(max_in_flight=self.max_in_flight, connect_timeout_s=self.connect_timeout_s)
        self._session = session
        try:
            setup_base = await self._run_setup(loop)
            self._origin = loop.time() + _START_LEAD_S
            # Setup records were timed from the first setup request; move them before zero.
            shift_s = setup_base - self._origin
            self._setup_records[:] = [shifted(r, shift_s) for r in self._setup_records]
            self._scheduling_done = loop.create_future()
            self._ready.set()
            if self._halted:
                self._finish_scheduling()
            else:
                self._timer = loop.call_at(self._origin, self._tick)
            await self._scheduling_done
            if self._tasks:
                budget_s = max(p.timeout_s for p in self.paths) + _JOIN_GRACE_S
                _done, pending = await asyncio.wait(set(self._tasks), timeout=budget_s)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending)
        finally:
            await session.close()
        lag = self.schedule_lag
        log.info(
            "probe %s finished: %d requests, schedule lag p99 %.2f ms (max %.2f ms)",
            self.name,
            len(self._records),
            lag.p99_ms,
            lag.max_ms,
        )

    async def _run_setup(self, loop: asyncio.AbstractEventLoop) -> float:
        """Send each path's setup request once; return the loop time they were timed from."""
        base = loop.time()
        for index, spec in enumerate(self.paths):
            if spec.setup is None:
                continue
            plan = compile_plan(spec.setup, self.endpoints)
            due = loop.time()
            await self._send(
                plan, seq=0, due=due, scheduled_s=due - base, sink=self._setup_records, first_endpoint=index
            )
            rec = self._setup_records[-1]
            if not rec.ok:
                log.warning(
                    "probe %s: setup %s %s failed (status %d, %s); its path may fail too",
                    self.name,
                    spec.setup.method,
                    spec.setup.path,
                    rec.status,
                    rec.error,
                )
        return base

    def _halt(self) -> None:
        """Stop scheduling (runs on the loop thread)."""
        self._halted = True
        if self._scheduling_done is not None:
            self._finish_scheduling()

    def _finish_scheduling(self) -> None:
        """Cancel the next tick and release `_main` (runs on the loop thread)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        done = self._scheduling_done
        if done is not None and not done.done():
            done.set_result(None)

    def _tick(self) -> None:
        """Launch every request that is due, then sleep until the next one (loop thread)."""
        loop = self._loop
        origin = self._origin
        assert loop is not None and origin is not None
        self._timer = None
        now = loop.time()
        spacing = self._spacing_s
        plans = self._plans
        n_paths = len(plans)
        g = self._next_g
        while g < self._total and not self._halted:
            due = origin + g * spacing
            if due > now:
                self._next_g = g
                self._timer = loop.call_at(due, self._tick)
                return
            self._launch(plans[g % n_paths], seq=g // n_paths, due=due, scheduled_s=g * spacing)
            g += 1
        self._next_g = g
        if g >= self._total and not self._halted:
            log.info("probe %s: schedule complete after %d requests", self.name, g)
        self._finish_scheduling()

    def _launch(self, plan: Plan, *, seq: int, due: float, scheduled_s: float) -> None:
        """Start one request, or record it as not sent when max_in_flight is reached."""
        if self._in_flight >= self.max_in_flight:
            self._records.append(
                not_sent_record(plan.spec, seq=seq, scheduled_s=scheduled_s, max_in_flight=self.max_in_flight)
            )
            return
        assert self._loop is not None
        self._in_flight += 1
        first = self._next_endpoint
        self._next_endpoint = (first + 1) % len(self.endpoints)
        task = self._loop.create_task(
            self._send(
                plan,
                seq=seq,
                due=due,
                scheduled_s=scheduled_s,
                sink=self._records,
                first_endpoint=first,
                measure_lag=True,
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished request task."""
        self._tasks.discard(task)
        self._in_flight -= 1

    async def _send(
        self,
        plan: Plan,
        *,
        seq: int,
        due: float,
        scheduled_s: float,
        sink: list[Record],
        first_endpoint: int,
        measure_lag: bool = False,
    ) -> None:
        """Send one request and record it (see `send_request`); with `measure_lag` its lateness counts."""
        lag_s = asyncio.get_running_loop().time() - due
        if measure_lag:
            self._lag.record(lag_s)
        session = self._session
        assert session is not None
        await send_request(
            session,
            plan,
            endpoints=self.endpoints,
            first_endpoint=first_endpoint,
            seq=seq,
            due=due,
            scheduled_s=scheduled_s,
            lag_s=lag_s,
            sink=sink,
        )
