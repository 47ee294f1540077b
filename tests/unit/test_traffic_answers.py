"""The open-loop probe (no Docker): what answers count as, life cycle and bounds, validation."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from failover_tests.traffic import (
    PathSpec,
    Probe,
    default_paths,
    summarize,
)
from infra.errors import ScenarioError
from infra.wait import wait_until
from tests.fakes import FakeServer

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
        wait_until(lambda: (len(probe.records) >= 5, None), what="5 records", timeout_s=5.0, interval_s=0.01)
        applied = probe.mark("fault applied")
        wait_until(lambda: (len(probe.records) >= 10, None), what="10 records", timeout_s=5.0, interval_s=0.01)
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
