"""Unit tests of the open-loop probe against a real local aiohttp server (no Docker)."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from failover_tests.traffic import (
    PathSpec,
    Probe,
    Record,
    default_paths,
    summarize,
)
from infra.errors import ScenarioError
from tests.fakes import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer().start()
    yield srv
    srv.close()


@pytest.fixture
def make_server() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def make(**settings: object) -> FakeServer:
        srv = FakeServer(**settings).start()  # type: ignore[arg-type]
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.close()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class DroppingServer:
    """Accepts a connection, reads one whole request, then drops it without an answer.

    The request reached the server, so a client must count it as lost, not try another
    edge with it. With `reset`, the drop is a TCP reset (SO_LINGER 0) instead of a close.
    """

    def __init__(self, *, reset: bool = False) -> None:
        self.reset = reset
        self.requests_read = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> DroppingServer:
        """Serve until close()."""
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2.0)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if b"\r\n\r\n" in data:
                    self.requests_read += 1
                if self.reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self._stop.set()
        self._thread.join(5.0)
        self._sock.close()


@pytest.fixture
def dropping_server(request: pytest.FixtureRequest) -> Iterator[DroppingServer]:
    srv = DroppingServer(reset=getattr(request, "param", False)).start()
    yield srv
    srv.close()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll until predicate() is true, or fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


def by_path(records: list[Record], path: str) -> list[Record]:
    """The records of one path, in scheduled order."""
    return [r for r in records if r.path == path]


# -- the probe against a healthy server -------------------------------------------------


def test_default_paths_against_a_fake_stack(server: FakeServer) -> None:
    probe = Probe([server.url], default_paths(), rate_per_s=20, duration_s=0.5)
    records = probe.run()

    assert len(records) == 40
    assert [r.scheduled_s for r in records] == sorted(r.scheduled_s for r in records)
    for path in ("api.complete", "api.sessions", "api.sessions_read", "web.home"):
        stats = summarize(records, path)
        assert stats.count == 10, path
        assert stats.success_ratio == 1.0, (path, stats.statuses)
        assert dict(stats.replicas) == {"api-1": 10}
    # The steady key was written before time zero, and read back from then on.
    (setup,) = probe.setup_records
    assert setup.ok and setup.scheduled_s < 0
    first = server.arrivals[0]
    assert (first.method, first.path) == ("PUT", "/v1/sessions/drill-steady")
    # {n} is the path's sequence number; the body follows it.
    puts = [a for a in server.arrivals if a.path.startswith("/v1/sessions/drill-") and a.method == "PUT"]
    assert [a.path for a in puts[1:]] == [f"/v1/sessions/drill-{n}" for n in range(10)]
    assert [json.loads(a.body) for a in puts[1:]] == [{"n": n} for n in range(10)]
    posts = [a for a in server.arrivals if a.method == "POST"]
    assert {a.body for a in posts} == {b'{"prompt": "drill"}'}
    # Paths are staggered: every path runs at 20/s, the probe sends at 80/s overall.
    assert [r.path for r in records[:4]] == [
        "api.complete",
        "api.sessions",
        "api.sessions_read",
        "web.home",
    ]
    assert records[1].scheduled_s == pytest.approx(0.0125)
    lag = probe.schedule_lag
    assert lag.count == 40
    assert lag.p50_ms < 50.0  # the bound that matters is measured by bench/probe.py


def test_open_loop_keeps_sending_on_schedule_while_the_server_stalls(
    server: FakeServer,
) -> None:
    spec = PathSpec("stall", "GET", "/stall/{n}")
    probe = Probe([server.url], [spec], rate_per_s=20, duration_s=2.5)
    probe.start()
    origin = probe.origin_monotonic_s
    assert origin is not None
    server.stall(origin + 0.5, origin + 1.5)
    assert probe.join(timeout_s=10.0)
    records = probe.records

    assert len(records) == 50 and all(r.ok for r in records)
    arrival_s = {int(a.path.rsplit("/", 1)[1]): a.t_monotonic - origin for a in server.arrivals}
    in_stall = [r for r in records if 0.5 <= r.scheduled_s < 1.5]
    assert len(in_stall) == 20
    # Tolerances are wide because a busy 2-core machine can starve the process for 100 ms
    # or more; a closed-loop client would be off by the whole 1 s stall.
    tolerance_s = 0.25
    context = f"schedule lag {probe.schedule_lag}"
    # Sent on time although every earlier request is still waiting for its answer...
    late = {r.seq: round(arrival_s[r.seq] - r.scheduled_s, 3) for r in in_stall}
    assert all(d < tolerance_s for d in late.values()), (late, context)
    # ...and the latency, measured from the scheduled start, includes the stall.
    for r in in_stall:
        expected_ms = (1.5 - r.scheduled_s) * 1000.0
        assert expected_ms - 5.0 <= r.latency_ms <= expected_ms + tolerance_s * 1000, (
            r.seq,
            r.latency_ms,
            context,
        )
    # The server held most of them at once: a closed-loop client would have sent one.
    held = [s for s in arrival_s.values() if 0.5 <= s < 1.5]
    assert len(held) >= 17, (sorted(held), context)
    after = [r.latency_ms for r in records if r.scheduled_s >= 1.75]
    assert sorted(after)[len(after) // 2] < 50.0, (after, context)
    stats = summarize(records, "stall")
    assert stats.max_ms is not None and stats.max_ms >= 950.0


# -- endpoints and failover ---------------------------------------------------------------


def test_failover_to_the_second_endpoint_when_the_first_refuses(server: FakeServer) -> None:
    dead = closed_port_url()
    probe = Probe([dead, server.url], [PathSpec("web.home", "GET", "/")], rate_per_s=40, duration_s=0.5)
    records = probe.run()

    assert len(records) == 20
    assert all(r.ok for r in records), {r.error for r in records}
    assert {r.endpoint for r in records} == {server.url}
    # Requests rotate their first endpoint: those that started at the closed port used 2.
    assert sorted({r.attempts for r in records}) == [1, 2]
    assert sum(r.attempts == 2 for r in records) == 10
    stats = summarize(records, "web.home")
    assert (stats.count, stats.ok_count, stats.retried_count) == (20, 20, 10)
    assert stats.to_dict()["retried_count"] == 10


def test_a_refused_connection_is_retried_on_the_other_edge(server: FakeServer) -> None:
    dead = closed_port_url()
    spec = PathSpec("web.home", "GET", "/")
    records = Probe([dead, server.url], [spec], rate_per_s=10, duration_s=0.1).run()

    (first,) = records  # request 0 starts at endpoint 0: the closed port
    assert (first.ok, first.status, first.attempts, first.error) == (True, 200, 2, None)
    assert (first.endpoint, first.replica) == (server.url, "api-1")
    assert len(server.arrivals) == 1


@pytest.mark.parametrize("dropping_server", [False, True], ids=["closed", "reset"], indirect=True)
def test_a_request_sent_and_then_lost_is_a_failure_not_retried(
    dropping_server: DroppingServer, server: FakeServer
) -> None:
    spec = PathSpec("web.home", "GET", "/")
    records = Probe([dropping_server.url, server.url], [spec], rate_per_s=10, duration_s=0.1).run()

    (lost,) = records  # request 0 starts at endpoint 0: the server that drops it
    assert (lost.ok, lost.status, lost.attempts, lost.replica) == (False, 0, 1, None)
    assert lost.endpoint == dropping_server.url
    assert lost.error is not None and not lost.error.startswith("timeout"), lost.error
    assert "endpoints failed" not in lost.error
    # The request reached the first edge and never the second.
    assert dropping_server.requests_read == 1
    assert server.arrivals == []
    assert summarize(records, "web.home").retried_count == 0


def test_lost_requests_count_as_failures_on_a_rotating_probe(
    dropping_server: DroppingServer, server: FakeServer
) -> None:
    spec = PathSpec("web.home", "GET", "/")
    records = Probe([dropping_server.url, server.url], [spec], rate_per_s=40, duration_s=0.5).run()

    stats = summarize(records, "web.home")
    assert (stats.count, stats.ok_count, stats.retried_count) == (20, 10, 0)
    assert all(r.attempts == 1 for r in records)
    assert {r.endpoint for r in records if not r.ok} == {dropping_server.url}
    assert len(server.arrivals) == 10 and dropping_server.requests_read == 10


def test_http_5xx_is_recorded_not_retried_on_the_other_endpoint(
    make_server: Callable[..., FakeServer],
) -> None:
    failing = make_server(status=503, replica="lb-a")
    healthy = make_server(replica="lb-b")
    spec = PathSpec("web.home", "GET", "/")
    records = Probe([failing.url, healthy.url], [spec], rate_per_s=40, duration_s=0.5).run()

    assert len(records) == 20
    bad = [r for r in records if not r.ok]
    assert len(bad) == 10
    assert all(r.status == 503 and r.endpoint == failing.url for r in bad)
    assert all(r.error == "HTTP 503" and r.replica == "lb-a" for r in bad)
    assert all(r.attempts == 1 for r in records)
    assert len(failing.arrivals) == 10 and len(healthy.arrivals) == 10


def test_all_endpoints_refused_is_a_transport_error() -> None:
    spec = PathSpec("web.home", "GET", "/")
    probe = Probe([closed_port_url(), closed_port_url()], [spec], rate_per_s=20, duration_s=0.2)
    records = probe.run()

    assert len(records) == 4
    for r in records:
        assert (r.status, r.ok, r.attempts, r.replica) == (0, False, 2, None)
        assert r.error is not None and "all 2 endpoints failed" in r.error
        assert r.latency_ms < 1000.0  # refused at once: no connect timeout, no 3 s budget


def test_a_hung_server_times_out_at_the_request_budget(
    make_server: Callable[..., FakeServer],
) -> None:
    slow = make_server(delay_s=2.0)
    spec = PathSpec("api.complete", "POST", "/v1/complete", {"prompt": "drill"}, timeout_s=0.3)
    records = Probe([slow.url], [spec], rate_per_s=10, duration_s=0.3).run()

    assert len(records) == 3
    for r in records:
        assert (r.status, r.ok) == (0, False)
        assert r.error is not None and r.error.startswith("timeout: no answer within the 0.3 s")
        assert 300.0 <= r.latency_ms < 1000.0  # stopped at the budget, not at the 2 s answer


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://10.0.0.5:8080",
        "http://example.com:80",
        "https://127.0.0.1:8443",
        "http://127.0.0.1",
        "http://127.0.0.1:8080/api",
        "http://user@127.0.0.1:8080",
        "127.0.0.1:8080",
    ],
)
def test_only_loopback_ports_are_accepted(endpoint: str) -> None:
    with pytest.raises(ScenarioError, match="loopback|not a valid URL"):
        Probe([endpoint], default_paths(), rate_per_s=1, duration_s=1)


def test_localhost_and_trailing_slash_are_accepted() -> None:
    probe = Probe(
        ["http://localhost:8080/", "http://127.0.0.1:9"],
        default_paths(),
        rate_per_s=1,
        duration_s=1,
    )
    assert probe.endpoints == ("http://localhost:8080", "http://127.0.0.1:9")


# -- answers ----------------------------------------------------------------------------------


def test_fallback_from_body_or_api_state_header(make_server: Callable[..., FakeServer]) -> None:
    by_body = make_server(fallback=True)
    by_header = make_server(api_state="degraded")
    plain = make_server()
    spec = PathSpec("api.complete", "POST", "/v1/complete", {"prompt": "drill"})
    for srv, expected in ((by_body, True), (by_header, True), (plain, False)):
        records = Probe([srv.url], [spec], rate_per_s=20, duration_s=0.1).run()
        assert records and all(r.ok and r.fallback is expected for r in records)
    records = Probe([by_body.url], [spec], rate_per_s=20, duration_s=0.1).run()
    assert summarize(records, "api.complete").fallback_count == len(records)


def test_ok_statuses_override_the_2xx_default(server: FakeServer) -> None:
    spec = PathSpec("missing", "GET", "/v1/sessions/never-{n}", ok_statuses=frozenset({404}))
    records = Probe([server.url], [spec], rate_per_s=20, duration_s=0.1).run()
    assert records and all(r.ok and r.status == 404 and r.error is None for r in records)


# -- lifecycle and bounds ------------------------------------------------------------------------


def test_stop_ends_scheduling_early_and_marks_share_the_clock(server: FakeServer) -> None:
    spec = PathSpec("web.home", "GET", "/")
    with Probe([server.url], [spec], rate_per_s=50, duration_s=30) as probe:
        wait_until(lambda: len(probe.records) >= 5, 5.0, "5 records")
        applied = probe.mark("fault applied")
        wait_until(lambda: len(probe.records) >= 10, 5.0, "10 records")
        probe.mark("fault reverted")
    assert not probe.running
    records = probe.records
    assert 10 <= len(records) < 100
    first, second = probe.events
    assert (first.label, second.label) == ("fault applied", "fault reverted")
    assert records[0].scheduled_s <= applied.t_s <= records[-1].completed_s
    assert first.t_s < second.t_s


def test_max_requests_bounds_the_run(server: FakeServer) -> None:
    spec = PathSpec("web.home", "GET", "/")
    probe = Probe([server.url], [spec], rate_per_s=100, duration_s=5, max_requests=7)
    started = time.monotonic()
    records = probe.run()
    assert len(records) == 7
    assert time.monotonic() - started < 2.0


def test_default_bounds_follow_rate_duration_and_budget() -> None:
    probe = Probe(["http://127.0.0.1:9"], default_paths(), rate_per_s=10, duration_s=10)
    assert probe.max_requests == 450  # 4 paths x 10/s x 10 s x 1.1 + 10
    assert probe.max_in_flight >= 10 * 4 * 3.0


def test_max_in_flight_records_unsent_requests_as_failures(
    make_server: Callable[..., FakeServer],
) -> None:
    slow = make_server(delay_s=0.5)
    spec = PathSpec("web.home", "GET", "/")
    records = Probe([slow.url], [spec], rate_per_s=20, duration_s=0.3, max_in_flight=2).run()

    assert len(records) == 6
    sent = [r for r in records if r.attempts]
    unsent = [r for r in records if not r.attempts]
    assert len(sent) == 2 and all(r.ok for r in sent)
    assert len(unsent) == 4
    assert all(not r.ok and r.error == "not sent: max_in_flight=2 requests in flight" for r in unsent)


def test_start_twice_and_mark_before_start_are_errors(server: FakeServer) -> None:
    probe = Probe([server.url], [PathSpec("web.home", "GET", "/")], rate_per_s=10, duration_s=0.1)
    with pytest.raises(ScenarioError, match="call start"):
        probe.mark("too early")
    with pytest.raises(ScenarioError, match="never started"):
        probe.join()
    probe.run()
    with pytest.raises(ScenarioError, match="already started"):
        probe.start()


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (lambda: PathSpec("", "GET", "/"), "name is empty"),
        (lambda: PathSpec("a", "get", "/"), "method 'get'"),
        (lambda: PathSpec("a", "GET", "v1"), "must start with '/'"),
        (lambda: PathSpec("a", "GET", "/", timeout_s=0), "timeout_s=0"),
        (lambda: PathSpec("a", "GET", "/", ok_statuses=frozenset({700})), "ok_statuses"),
    ],
)
def test_pathspec_validation(spec: Callable[[], PathSpec], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        spec()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rate_per_s": 0.0}, "rate_per_s=0.0"),
        ({"duration_s": -1.0}, "duration_s=-1.0"),
        ({"max_requests": 0}, "max_requests=0"),
        ({"max_in_flight": 0}, "max_in_flight=0"),
    ],
)
def test_probe_validation(settings: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"rate_per_s": 1.0, "duration_s": 1.0} | settings
    with pytest.raises(ScenarioError, match=message):
        Probe(
            ["http://127.0.0.1:9"],
            default_paths(),
            rate_per_s=args["rate_per_s"],
            duration_s=args["duration_s"],
            max_requests=int(args["max_requests"]) if "max_requests" in args else None,
            max_in_flight=int(args["max_in_flight"]) if "max_in_flight" in args else None,
        )


def test_duplicate_path_names_are_rejected() -> None:
    spec = PathSpec("web.home", "GET", "/")
    with pytest.raises(ScenarioError, match="repeated: \\['web.home'\\]"):
        Probe(["http://127.0.0.1:9"], [spec, spec], rate_per_s=1, duration_s=1)


def test_body_factory_and_url_template() -> None:
    spec = PathSpec("s", "PUT", "/v1/sessions/drill-{n}", lambda n: {"n": n * 2})
    assert spec.url_path(7) == "/v1/sessions/drill-7"
    assert spec.body_for(7) == {"n": 14}
    assert spec.is_ok(204) and not spec.is_ok(301)


def test_failure_kinds_keep_what_the_server_said() -> None:
    from failover_tests.traffic import error_kind
    from failover_tests.traffic.answers import body_error as _body_error

    assert _body_error(b'{"error": "session store unavailable: Timeout", "status": 503}') == (
        "session store unavailable: Timeout"
    )
    assert _body_error(b"<html>503</html>") == ""
    assert error_kind("HTTP 503: session store unavailable: Timeout reading") == (
        "HTTP 503: session store unavailable: Timeout reading"
    )
    assert error_kind("timeout: no answer within the 3 s budget") == "timeout"
    assert error_kind("ServerDisconnectedError: Server disconnected") == "ServerDisconnectedError"
