"""SLO windows, validation, messages and edge cases, on synthetic records."""

from __future__ import annotations

import pytest

from failover_tests.slo import (
    SLO,
    Window,
    evaluate,
    recovery_time_s,
    windows_around,
)
from infra.errors import ScenarioError, SLOViolation
from tests.unit.slo_cases import FAULT, WINDOWS, only_failures, rec, steady

# -- windows -----------------------------------------------------------------------------


def test_windows_around_names_and_bounds() -> None:
    before, during, after = windows_around(12.0, 22.0, 30.0)
    assert (before.name, before.start_s, before.end_s) == ("before", 0.0, 12.0)
    assert (during.name, during.start_s, during.end_s) == ("during", 12.0, 22.0)
    assert (after.name, after.start_s, after.end_s) == ("after", 22.0, 30.0)
    assert during.contains(12.0) and not during.contains(22.0)
    assert during.describe(FAULT) == "during kill(api-2) [12.0 s..22.0 s]"


def test_windows_around_rejects_misordered_times() -> None:
    with pytest.raises(ScenarioError, match="fault start <= fault end"):
        windows_around(22.0, 12.0, 30.0)


def test_window_rejects_backwards_bounds() -> None:
    with pytest.raises(ScenarioError, match="ends before it starts"):
        Window("during", 5.0, 4.0)


# -- SLO validation ----------------------------------------------------------------------


def test_slo_rejects_success_given_as_percent() -> None:
    with pytest.raises(ScenarioError, match="min_success=99.9 is a ratio"):
        SLO("api.complete", min_success=99.9)


def test_slo_rejects_negative_latency_limit() -> None:
    with pytest.raises(ScenarioError, match="max_p99_ms=-1"):
        SLO("api.complete", max_p99_ms=-1)


def test_slo_window_accepts_a_single_name() -> None:
    assert SLO("api.complete", window="during").window_names == ("during",)


def test_unknown_window_name_is_rejected_before_evaluating() -> None:
    with pytest.raises(ScenarioError, match=r"unknown window\(s\) \['durin'\]"):
        evaluate([], [SLO("api.complete", window="durin")], WINDOWS, FAULT)


def test_duplicate_window_names_are_rejected() -> None:
    with pytest.raises(ScenarioError, match="used twice"):
        evaluate([], [], [Window("a", 0, 1), Window("a", 1, 2)], FAULT)


def test_recovery_without_fault_end_is_rejected() -> None:
    with pytest.raises(ScenarioError, match="needs the fault's end"):
        evaluate([], [SLO("web.home", window="x", max_recovery_s=5)], [Window("x", 0, 1)], "f")


# -- message formats ---------------------------------------------------------------------


def test_success_message_format() -> None:
    # 250 requests in [12, 22): 7 failures -> 97.2%
    records = steady("api.complete", 12.0, 22.0, step_s=0.04)
    records = [rec(r.path, r.seq, r.scheduled_s, ok=False) if r.seq < 7 else r for r in records]
    verdict = evaluate(records, [SLO("api.complete", "during", min_success=0.999)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["api.complete: success 97.2% < 99.9% during kill(api-2) [12.0 s..22.0 s]"]


def test_p99_message_format() -> None:
    records = steady("api.complete", 12.0, 22.0, latency_ms=1830.0)
    verdict = evaluate(records, [SLO("api.complete", "during", max_p99_ms=500)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["api.complete: p99 1830 ms > 500 ms during kill(api-2) [12.0 s..22.0 s]"]


def test_p50_message_format() -> None:
    records = steady("api.complete", 12.0, 22.0, latency_ms=120.0)
    verdict = evaluate(records, [SLO("api.complete", "during", max_p50_ms=100)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["api.complete: p50 120 ms > 100 ms during kill(api-2) [12.0 s..22.0 s]"]


def test_consecutive_failures_message_format() -> None:
    bad = [12.0 + i * 0.1 for i in range(14)]
    records = steady("api.sessions", 12.0, 22.0, bad=bad)
    slo = SLO("api.sessions", "during", max_consecutive_failures=3)
    verdict = evaluate(records, [slo], WINDOWS, FAULT)
    assert only_failures(verdict) == ["api.sessions: 14 consecutive failures > 3 during kill(api-2) [12.0 s..22.0 s]"]


def test_recovery_message_format() -> None:
    bad = [22.0 + i * 0.1 for i in range(73)]  # last bad at 29.2 s -> recovered at 29.3 s
    records = steady("web.home", 22.0, 30.0, bad=bad)
    verdict = evaluate(records, [SLO("web.home", "after", max_recovery_s=5.0)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["web.home: recovery 7.3 s > 5.0 s after kill(api-2) [22.0 s..30.0 s]"]


def test_no_recovery_message_format() -> None:
    records = steady("web.home", 22.0, 30.0, bad=[29.9])
    verdict = evaluate(records, [SLO("web.home", "after", max_recovery_s=5.0)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["web.home: no recovery after kill(api-2) [22.0 s..30.0 s]"]
    (check,) = verdict.failures
    assert check.observed is None


def test_no_requests_message_format() -> None:
    records = steady("api.complete", 0.0, 12.0)
    verdict = evaluate(records, [SLO("api.complete", "during", min_success=0.9)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["api.complete: no requests during kill(api-2) [12.0 s..22.0 s]"]


def test_too_few_requests_message_format() -> None:
    records = steady("api.complete", 12.0, 12.5)
    slo = SLO("api.complete", "during", min_success=0.9, min_requests=10)
    verdict = evaluate(records, [slo], WINDOWS, FAULT)
    assert only_failures(verdict) == ["api.complete: 5 requests < 10 during kill(api-2) [12.0 s..22.0 s]"]


def test_observed_value_gets_decimals_until_it_differs_from_the_limit() -> None:
    # 9986 ok of 10000 = 99.86%, which rounds to the limit's 99.9 at one decimal
    records = [rec("a", i, 12.0 + i * 0.0009, ok=i >= 14) for i in range(10000)]
    verdict = evaluate(records, [SLO("a", "during", min_success=0.999)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["a: success 99.86% < 99.90% during kill(api-2) [12.0 s..22.0 s]"]


def test_raise_if_failed_lists_every_failure_one_per_line() -> None:
    records = steady("api.complete", 12.0, 22.0, latency_ms=1830.0, bad=[12.0, 12.1])
    records += steady("web.home", 22.0, 30.0, bad=[29.9])
    slos = [
        SLO("api.complete", "during", min_success=0.999, max_p99_ms=500),
        SLO("web.home", "after", max_recovery_s=5.0),
    ]
    verdict = evaluate(records, slos, WINDOWS, FAULT)
    with pytest.raises(SLOViolation) as info:
        verdict.raise_if_failed()
    assert isinstance(info.value, AssertionError)
    assert str(info.value).splitlines() == [
        "api.complete: success 98.0% < 99.9% during kill(api-2) [12.0 s..22.0 s]",
        "api.complete: p99 1830 ms > 500 ms during kill(api-2) [12.0 s..22.0 s]",
        "web.home: no recovery after kill(api-2) [22.0 s..30.0 s]",
    ]


def test_passing_verdict_does_not_raise_and_keeps_passing_messages() -> None:
    records = steady("api.complete", 0.0, 30.0)
    slo = SLO("api.complete", min_success=0.99, max_p99_ms=50, max_recovery_s=1.0)
    verdict = evaluate(records, [slo], WINDOWS, FAULT)
    verdict.raise_if_failed()
    assert verdict.passed and verdict.failures == ()
    messages = [c.message for c in verdict.checks]
    assert "api.complete: success 100.0% >= 99.0% before kill(api-2) [0.0 s..12.0 s]" in messages
    assert "api.complete: recovery 0.0 s <= 1.0 s after kill(api-2) [22.0 s..30.0 s]" in messages


# -- edge cases --------------------------------------------------------------------------


def test_empty_window_fails_instead_of_passing_vacuously() -> None:
    slo = SLO("api.complete", min_success=0.99, max_p99_ms=100, max_consecutive_failures=0)
    verdict = evaluate([], [slo], WINDOWS, FAULT)
    assert not verdict.passed
    assert [c.name for c in verdict.checks] == ["requests", "requests", "requests"]
    assert all(c.message.startswith("api.complete: no requests ") for c in verdict.checks)


def test_min_requests_zero_lets_an_empty_window_pass() -> None:
    slo = SLO("api.complete", "during", min_success=0.99, min_requests=0)
    verdict = evaluate([], [slo], WINDOWS, FAULT)
    assert verdict.passed


def test_all_failures() -> None:
    records = steady("api.complete", 12.0, 22.0, bad=[12.0 + i * 0.1 for i in range(100)])
    slo = SLO("api.complete", "during", min_success=0.5, max_consecutive_failures=10)
    verdict = evaluate(records, [slo], WINDOWS, FAULT)
    assert only_failures(verdict) == [
        "api.complete: success 0.0% < 50.0% during kill(api-2) [12.0 s..22.0 s]",
        "api.complete: 100 consecutive failures > 10 during kill(api-2) [12.0 s..22.0 s]",
    ]
    stats = verdict.stats_for("api.complete", "during")
    assert stats is not None and stats.ok_count == 0 and stats.longest_failure_run == 100


def test_fault_at_the_very_start_leaves_an_empty_before_window() -> None:
    windows = windows_around(0.0, 5.0, 10.0)
    assert windows[0].duration_s == 0.0
    records = steady("api.complete", 0.0, 10.0)
    verdict = evaluate(records, [SLO("api.complete", min_success=0.99)], windows, FAULT)
    assert only_failures(verdict) == ["api.complete: no requests before kill(api-2) [0.0 s..0.0 s]"]
    assert [c.passed for c in verdict.checks] == [False, True, True]


def test_recovery_that_never_comes() -> None:
    records = steady("web.home", 0.0, 30.0, bad=[t / 10 for t in range(120, 300)])
    assert recovery_time_s(records, "web.home", 22.0) is None
    verdict = evaluate(records, [SLO("web.home", "after", max_recovery_s=60)], WINDOWS, FAULT)
    # A 60 s budget leaves nothing of the 8 s `after` window to judge once recovery is over.
    assert only_failures(verdict) == [
        "web.home: no requests after kill(api-2) [30.0 s..30.0 s]",
        "web.home: no recovery after kill(api-2) [22.0 s..30.0 s]",
    ]


def test_recovery_with_no_requests_after_the_fault() -> None:
    records = steady("web.home", 0.0, 22.0)
    verdict = evaluate(records, [SLO("web.home", "during", max_recovery_s=5)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["web.home: no requests to measure recovery after kill(api-2) [22.0 s..30.0 s]"]


def test_recovery_counts_slow_answers_as_not_recovered() -> None:
    records = steady("web.home", 22.0, 30.0)
    records = [rec(r.path, r.seq, r.scheduled_s, latency_ms=900.0) if r.scheduled_s < 24.0 else r for r in records]
    assert recovery_time_s(records, "web.home", 22.0) == 0.0
    assert recovery_time_s(records, "web.home", 22.0, max_latency_ms=500) == pytest.approx(2.0)


def test_recovery_uses_scheduled_order_not_completion_order() -> None:
    # The last *scheduled* failure is at 25.0 s, but it completed before 24.0 s's success.
    records = [
        rec("p", 0, 22.0, ok=False, completed_s=22.5),
        rec("p", 1, 24.0, ok=True, completed_s=27.0),
        rec("p", 2, 25.0, ok=False, completed_s=25.1),
        rec("p", 3, 26.0, ok=True, completed_s=26.1),
    ]
    assert recovery_time_s(records, "p", 22.0) == pytest.approx(4.0)


def test_fallback_answers_fail_only_when_disallowed() -> None:
    records = [rec("api.complete", i, 12.0 + i * 0.1, fallback=i % 2 == 0) for i in range(100)]
    lenient = SLO("api.complete", "during", min_success=0.99)
    strict = SLO("api.complete", "during", min_success=0.99, allow_fallback=False)
    assert evaluate(records, [lenient], WINDOWS, FAULT).passed
    verdict = evaluate(records, [strict], WINDOWS, FAULT)
    assert only_failures(verdict) == [
        "api.complete: success 50.0% < 99.0% (50 fallback answers counted as failures) "
        "during kill(api-2) [12.0 s..22.0 s]"
    ]
