"""The open-loop probe against a real local aiohttp server (no Docker): schedule, endpoints, failover."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from failover_tests.traffic import (
    PathSpec,
    Probe,
    default_paths,
    summarize,
)
from infra.errors import ScenarioError
from tests.fakes import DroppingServer, FakeServer, closed_port_url

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
