"""Open-loop traffic probes: what the clients of the stack saw, request by request.

A `Probe` sends requests on a fixed schedule (one timetable per path, all paths at the same
rate, staggered) whether or not earlier requests have returned, so a stall shows up as
latency rather than as a silently lowered load (no coordinated omission). Every request is
kept as a `Record` whose latency is measured from its *scheduled* start.

Endpoint failover models a population of clients that resolve one name to several edge
load balancers, as a client with several DNS records would: request ``k`` starts at
endpoint ``k mod len(endpoints)`` (round robin, so every edge carries traffic and a fault on
any of them is visible) and, only when the connection could not be made (refused, reset
while connecting, no connection within ``connect_timeout_s``, 1 s by default: longer than
a starved event loop's hiccup, as long as the kernel's first SYN retransmit), so that nothing
was sent, tries the next endpoint while
its budget lasts, each endpoint at most once. A request that was sent and then lost (the
connection reset or closed after sending, no answer within the budget) is a failure, and an
HTTP answer, 5xx included, is never retried on another endpoint: that is the load
balancer's job. A request that needed more than one endpoint keeps ``attempts > 1`` and is
counted per window (``WindowStats.retried_count``).

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
import dataclasses
import json
import logging
import math
import resource
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from failover_tests.traffic.paths import PathSpec
from failover_tests.traffic.records import Event, LagStats, Record
from failover_tests.traffic.stats import HDR_HIGHEST_US, HDR_LOWEST_US, latency_histogram
from infra.errors import ScenarioError

log = logging.getLogger(__name__)

SERVED_BY_HEADER = "X-Served-By"
API_STATE_HEADER = "X-Api-State"
FALLBACK_STATES = frozenset({"fallback", "degraded"})

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
# Errors after which a client with several DNS records would try the next address: the
# connection was never made (refused, reset or timed out while connecting), so the request
# was not sent. aiohttp raises these two only from its connector, before writing anything;
# a reset or disconnect after the request was written is another error and is not retried.
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)
_START_LEAD_S = 0.02  # first request is scheduled this long after the loop is ready
_JOIN_GRACE_S = 1.0  # extra wait for in-flight requests beyond their own budget


def _check_endpoint(endpoint: str) -> str:
    """Return the endpoint without a trailing slash, or refuse anything but a loopback port."""
    hint = "use http://127.0.0.1:<port> or http://localhost:<port>, a port the stack publishes"
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as exc:
        raise ScenarioError(f"endpoint {endpoint!r} is not a valid URL: {exc}; {hint}") from exc
    if (
        parts.scheme != "http"
        or parts.hostname not in _LOOPBACK_HOSTS
        or port is None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ScenarioError(f"endpoint {endpoint!r} refused: traffic may only go to loopback ports; {hint}")
    return f"http://{parts.hostname}:{port}"


def _describe(exc: BaseException) -> str:
    """A short, single-line description of a transport error."""
    text = str(exc).strip().replace("\n", " ")
    name = type(exc).__name__
    return f"{name}: {text[:160]}" if text else name


@dataclass(frozen=True, slots=True)
class _Plan:
    """A PathSpec compiled for the hot loop: static URLs and body bytes precomputed."""

    spec: PathSpec
    templated: bool
    static_urls: tuple[URL, ...]
    static_body: bytes | None
    headers: Mapping[str, str]

    def url(self, endpoint_index: int, endpoint: str, seq: int) -> URL:
        """The URL of request `seq` on one endpoint."""
        if self.templated:
            return URL(endpoint + self.spec.url_path(seq))
        return self.static_urls[endpoint_index]

    def body(self, seq: int) -> bytes | None:
        """The encoded body of request `seq`."""
        if not callable(self.spec.body):
            return self.static_body
        value = self.spec.body(seq)
        return None if value is None else json.dumps(value).encode()


def _compile(spec: PathSpec, endpoints: Sequence[str]) -> _Plan:
    """Precompute what does not change between requests of a path."""
    templated = "{n}" in spec.path
    static_urls = () if templated else tuple(URL(e + spec.path) for e in endpoints)
    static_body = None
    if not callable(spec.body) and spec.body is not None:
        static_body = json.dumps(spec.body).encode()
    has_body = callable(spec.body) or spec.body is not None
    headers = {"Content-Type": "application/json"} if has_body else {}
    return _Plan(spec, templated, static_urls, static_body, MappingProxyType(headers))


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
        self.endpoints: tuple[str, ...] = tuple(_check_endpoint(e) for e in endpoints)
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
        self._plans = tuple(_compile(p, self.endpoints) for p in self.paths)

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
        self._lag_hist = latency_histogram()
        self._lag_sum_us = 0
        # Loop-thread state.
        self._session: aiohttp.ClientSession | None = None
        self._client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s)
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
        hist = self._lag_hist
        count = hist.get_total_count()
        if not count:
            return LagStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return LagStats(
            count=count,
            p50_ms=hist.get_value_at_percentile(50.0) / 1000.0,
            p90_ms=hist.get_value_at_percentile(90.0) / 1000.0,
            p99_ms=hist.get_value_at_percentile(99.0) / 1000.0,
            max_ms=hist.get_max_value() / 1000.0,
            mean_ms=self._lag_sum_us / count / 1000.0,
        )

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
        # One connection per request (no keep-alive): a pooled connection the server closed
        # while idle (an LB reload, a keep-alive timeout) would fail a request the server never
        # saw, and a real client would quietly resend it. Without a pool every request connects
        # first, so "could not connect" (retried on the other edge) and "sent, then lost" (a
        # failure) are told apart exactly. A loopback connect costs well under a millisecond.
        connector = aiohttp.TCPConnector(limit=self.max_in_flight, limit_per_host=0, force_close=True)
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self._client_timeout,
            headers={"User-Agent": "stackdrill-probe"},
            auto_decompress=False,
        )
        # aiohttp silently resends an idempotent request (GET, PUT) once on a new connection
        # when the first was reset or closed after sending (RFC 9112 9.3.1.1). A probe must
        # see that loss, not hide it behind an uncounted retry on the same edge. There is no
        # public switch; aiohttp's own test client turns it off the same way, and
        # test_a_request_sent_and_then_lost_is_a_failure_not_retried guards it.
        session._retry_connection = False
        self._session = session
        try:
            setup_base = await self._run_setup(loop)
            self._origin = loop.time() + _START_LEAD_S
            # Setup records were timed from the first setup request; move them before zero.
            shift_s = setup_base - self._origin
            self._setup_records[:] = [_shift(r, shift_s) for r in self._setup_records]
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
            plan = _compile(spec.setup, self.endpoints)
            due = loop.time()
            await self._send(plan, 0, due, due - base, self._setup_records, index)
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
            self._launch(plans[g % n_paths], g // n_paths, due, g * spacing)
            g += 1
        self._next_g = g
        if g >= self._total and not self._halted:
            log.info("probe %s: schedule complete after %d requests", self.name, g)
        self._finish_scheduling()

    def _launch(self, plan: _Plan, seq: int, due: float, scheduled_s: float) -> None:
        """Start one request, or record it as not sent when max_in_flight is reached."""
        if self._in_flight >= self.max_in_flight:
            self._records.append(
                Record(
                    path=plan.spec.name,
                    seq=seq,
                    scheduled_s=scheduled_s,
                    latency_ms=0.0,
                    status=0,
                    ok=False,
                    replica=None,
                    endpoint=None,
                    error=f"not sent: max_in_flight={self.max_in_flight} requests in flight",
                    fallback=False,
                    completed_s=scheduled_s,
                    attempts=0,
                )
            )
            return
        assert self._loop is not None
        self._in_flight += 1
        first = self._next_endpoint
        self._next_endpoint = (first + 1) % len(self.endpoints)
        task = self._loop.create_task(self._send(plan, seq, due, scheduled_s, self._records, first, measure_lag=True))
        self._tasks.add(task)
        task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished request task."""
        self._tasks.discard(task)
        self._in_flight -= 1

    async def _send(
        self,
        plan: _Plan,
        seq: int,
        due: float,
        scheduled_s: float,
        sink: list[Record],
        first_endpoint: int,
        *,
        measure_lag: bool = False,
    ) -> None:
        """Send one request, on the next endpoint only if it could not connect, and record it."""
        loop = asyncio.get_running_loop()
        lag_s = loop.time() - due
        if measure_lag:
            lag_us = max(HDR_LOWEST_US, min(HDR_HIGHEST_US, int(lag_s * 1e6)))
            self._lag_hist.record_value(lag_us)
            self._lag_sum_us += lag_us
        session = self._session
        assert session is not None
        spec = plan.spec
        endpoints = self.endpoints
        n_endpoints = len(endpoints)
        body = plan.body(seq)
        status = 0
        error: str | None = None
        replica: str | None = None
        endpoint: str | None = None
        fallback = False
        detail = ""
        attempts = 0
        connect_failures = 0
        try:
            async with asyncio.timeout_at(due + spec.timeout_s):
                for i in range(n_endpoints):
                    index = (first_endpoint + i) % n_endpoints
                    endpoint = endpoints[index]
                    attempts += 1
                    try:
                        async with session.request(
                            spec.method,
                            plan.url(index, endpoint, seq),
                            data=body,
                            headers=plan.headers,
                            allow_redirects=False,
                        ) as resp:
                            payload = await resp.read()
                            status = resp.status
                            replica = resp.headers.get(SERVED_BY_HEADER)
                            state = resp.headers.get(API_STATE_HEADER)
                    except _CONNECT_ERRORS as exc:
                        # Nothing was sent: a client with another address tries that one.
                        error = _describe(exc)
                        connect_failures += 1
                        continue
                    error = None
                    fallback = (state is not None and state.lower() in FALLBACK_STATES) or (
                        _body_says_fallback(payload)
                    )
                    detail = _body_error(payload) if status >= 400 else ""
                    break
        except TimeoutError:
            error = f"timeout: no answer within the {spec.timeout_s:g} s budget" + (
                f" ({attempts} attempts; {connect_failures} could not connect, last: {error})"
                if connect_failures and error
                else ""
            )
        except (aiohttp.ClientError, OSError) as exc:
            # Sent, then lost (reset, closed before an answer, bad payload): a failure the
            # client saw, never retried elsewhere, since the edge may have acted on it.
            error = _describe(exc)
        except asyncio.CancelledError:
            error = "cancelled: the probe stopped before an answer"
            raise
        finally:
            if error is not None:
                status = 0
                if connect_failures == n_endpoints > 1:
                    error = f"{error} (all {n_endpoints} endpoints failed)"
            elapsed_s = loop.time() - due
            sink.append(
                _record(
                    spec,
                    seq=seq,
                    scheduled_s=scheduled_s,
                    elapsed_s=elapsed_s,
                    status=status,
                    error=error,
                    replica=replica,
                    endpoint=endpoint,
                    fallback=fallback,
                    attempts=attempts,
                    lag_s=lag_s,
                    detail=detail,
                )
            )


def _record(
    spec: PathSpec,
    *,
    seq: int,
    scheduled_s: float,
    elapsed_s: float,
    status: int,
    error: str | None,
    replica: str | None,
    endpoint: str | None,
    fallback: bool,
    attempts: int,
    lag_s: float,
    detail: str = "",
) -> Record:
    """Build the Record of a finished request; a non-ok status becomes its error (with the body's)."""
    ok = error is None and spec.is_ok(status)
    if error is None and not ok:
        error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    return Record(
        path=spec.name,
        seq=seq,
        scheduled_s=scheduled_s,
        latency_ms=elapsed_s * 1000.0,
        status=status,
        ok=ok,
        replica=replica,
        endpoint=endpoint,
        error=error,
        fallback=fallback,
        completed_s=scheduled_s + elapsed_s,
        attempts=attempts,
        lag_ms=max(lag_s, 0.0) * 1000.0,
    )


def _body_error(payload: bytes) -> str:
    """The `error` of a JSON error body (`{"error": ..., "status": ...}`), shortened; '' if none."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return ""
    text = doc.get("error") if isinstance(doc, dict) else None
    return str(text)[:120] if text else ""


def _body_says_fallback(payload: bytes) -> bool:
    """Whether a JSON body carries a top-level `"fallback": true`."""
    if b'"fallback"' not in payload:
        return False
    try:
        doc = json.loads(payload)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("fallback") is True


def _shift(rec: Record, offset_s: float) -> Record:
    """The same record with its times moved by `offset_s`."""
    return dataclasses.replace(rec, scheduled_s=rec.scheduled_s + offset_s, completed_s=rec.completed_s + offset_s)
