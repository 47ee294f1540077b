"""SLOs: fallback answers are not real answers; boundary values; window statistics."""

from __future__ import annotations

import json

import pytest

from failover_tests.slo import (
    SLO,
    evaluate,
    recovery_time_s,
)
from failover_tests.traffic import Record, summarize
from infra.errors import ScenarioError
from tests.unit.slo_cases import FAULT, WINDOWS, only_failures, rec, steady

# -- fallback answers are not real answers ---------------------------------------------------


def answers(start_s: float, n: int, *, fallbacks: int, path: str = "api.complete", first_seq: int = 0) -> list[Record]:
    """n ok answers every 0.1 s from start_s; the first `fallbacks` of them are fallback answers."""
    return [rec(path, first_seq + i, round(start_s + i * 0.1, 6), fallback=i < fallbacks) for i in range(n)]


def test_max_fallback_share_fails_above_the_limit() -> None:
    records = answers(12.0, 100, fallbacks=80)
    slo = SLO("api.complete", "during", max_fallback_share=0.5)
    verdict = evaluate(records, [slo], WINDOWS, "latency(api_model)")
    assert only_failures(verdict) == ["api.complete: fallback 80.0% > 50.0% during latency(api_model) [12.0 s..22.0 s]"]
    (check,) = verdict.checks
    assert (check.name, check.observed, check.limit) == ("fallback", 0.8, 0.5)


def test_max_fallback_share_exactly_at_the_limit_passes() -> None:
    records = answers(12.0, 100, fallbacks=50)
    verdict = evaluate(records, [SLO("api.complete", "during", max_fallback_share=0.5)], WINDOWS, FAULT)
    assert verdict.passed, only_failures(verdict)
    assert [c.message for c in verdict.checks] == [
        "api.complete: fallback 50.0% <= 50.0% during kill(api-2) [12.0 s..22.0 s]"
    ]


def test_max_fallback_share_one_above_the_limit_fails() -> None:
    records = answers(12.0, 100, fallbacks=51)
    verdict = evaluate(records, [SLO("api.complete", "during", max_fallback_share=0.5)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["api.complete: fallback 51.0% > 50.0% during kill(api-2) [12.0 s..22.0 s]"]


def test_max_fallback_share_zero_forbids_any_fallback() -> None:
    records = answers(12.0, 100, fallbacks=1)
    verdict = evaluate(records, [SLO("api.complete", "during", max_fallback_share=0.0)], WINDOWS, FAULT)
    assert only_failures(verdict) == ["api.complete: fallback 1.0% > 0.0% during kill(api-2) [12.0 s..22.0 s]"]


def test_failed_requests_are_not_fallback_answers() -> None:
    # A 503 flagged degraded is a failure; it neither counts as a fallback nor as a real answer.
    records = [rec("api.complete", 0, 12.0, ok=False, fallback=True), *answers(12.1, 3, fallbacks=1, first_seq=1)]
    stats = summarize(records, "api.complete", WINDOWS[1])
    assert (stats.count, stats.ok_count, stats.real_count, stats.fallback_count) == (4, 3, 2, 1)
    assert stats.fallback_share == 0.25


@pytest.mark.parametrize("share", [-0.1, 1.01])
def test_max_fallback_share_is_a_ratio(share: float) -> None:
    with pytest.raises(ScenarioError) as err:
        SLO("api.complete", max_fallback_share=share)
    assert str(err.value) == (f"SLO for 'api.complete': max_fallback_share={share} is a ratio in 0..1 (e.g. 0.5)")


def test_after_window_counts_only_real_answers() -> None:
    # slow-model-protected: 39 of 49 answers after the revert were still cached.
    records = answers(22.0, 49, fallbacks=39)
    slo = SLO("api.complete", "after", min_success=0.99)  # fallbacks allowed, yet not after the fault
    verdict = evaluate(records, [slo], WINDOWS, "latency(api_model)")
    assert only_failures(verdict) == [
        "api.complete: success 20.4% < 99.0% (39 fallback answers counted as failures) "
        "after latency(api_model) [22.0 s..30.0 s]"
    ]
    stats = verdict.stats_for("api.complete", "after")
    assert stats is not None and stats.fallback_is_failure and stats.longest_failure_run == 39


def test_during_window_still_accepts_allowed_fallbacks() -> None:
    records = answers(12.0, 49, fallbacks=39)
    verdict = evaluate(records, [SLO("api.complete", "during", min_success=0.99)], WINDOWS, FAULT)
    assert verdict.passed, only_failures(verdict)
    stats = verdict.stats_for("api.complete", "during")
    assert stats is not None and not stats.fallback_is_failure and stats.success_ratio == 1.0


def test_a_fallback_answer_does_not_end_the_recovery() -> None:
    # Every answer after the revert is ok, but the first 39 are cached: recovery is the first real one.
    records = answers(22.0, 49, fallbacks=39)
    assert recovery_time_s(records, "api.complete", 22.0) == pytest.approx(3.9)
    slo = SLO("api.complete", "after", max_recovery_s=3.0)
    verdict = evaluate(records, [slo], WINDOWS, "latency(api_model)")
    assert only_failures(verdict) == ["api.complete: recovery 3.9 s > 3.0 s after latency(api_model) [22.0 s..30.0 s]"]


def test_recovery_exactly_at_the_first_real_answer_passes() -> None:
    records = answers(22.0, 49, fallbacks=39)
    verdict = evaluate(
        records, [SLO("api.complete", "after", max_recovery_s=records[39].scheduled_s - 22.0)], WINDOWS, FAULT
    )
    assert [c.message for c in verdict.checks] == [
        "api.complete: recovery 3.9 s <= 3.9 s after kill(api-2) [22.0 s..30.0 s]"
    ]


def test_only_fallback_answers_after_the_fault_is_no_recovery() -> None:
    records = answers(22.0, 20, fallbacks=20)
    assert recovery_time_s(records, "api.complete", 22.0) is None
    verdict = evaluate(records, [SLO("api.complete", "after", max_recovery_s=5.0)], WINDOWS, FAULT)
    assert only_failures(verdict) == [
        "api.complete: no requests after kill(api-2) [27.0 s..30.0 s]",
        "api.complete: no recovery after kill(api-2) [22.0 s..30.0 s]",
    ]


def test_after_window_is_judged_from_the_end_of_the_recovery_budget() -> None:
    # A breaker still open for 2 s after the revert: 20 fallbacks, then real answers.
    records = answers(22.0, 80, fallbacks=20)
    slo = SLO("api.complete", "after", min_success=0.99, max_recovery_s=3.0)
    verdict = evaluate(records, [slo], WINDOWS, FAULT)
    assert only_failures(verdict) == []
    success = next(c for c in verdict.checks if c.name == "success")
    assert (success.window_start_s, success.window_end_s, success.observed) == (25.0, 30.0, 1.0)
    # A budget shorter than the transition fails recovery, and the window from 23 s sees fallbacks.
    short = evaluate(records, [SLO("api.complete", "after", min_success=0.99, max_recovery_s=1.0)], WINDOWS, FAULT)
    assert only_failures(short) == [
        "api.complete: success 85.7% < 99.0% (10 fallback answers counted as failures) after kill(api-2) "
        "[23.0 s..30.0 s]",
        "api.complete: recovery 2.0 s > 1.0 s after kill(api-2) [22.0 s..30.0 s]",
    ]


# -- boundary values ---------------------------------------------------------------------


def test_success_exactly_at_the_limit_passes() -> None:
    records = [rec("a", i, 12.0 + i * 0.005, ok=i != 0) for i in range(1000)]  # 99.9%
    verdict = evaluate(records, [SLO("a", "during", min_success=0.999)], WINDOWS, FAULT)
    assert verdict.passed, only_failures(verdict)


def test_latency_exactly_at_the_limit_passes() -> None:
    records = steady("a", 12.0, 22.0, latency_ms=500.0)
    slo = SLO("a", "during", max_p50_ms=500, max_p99_ms=500)
    verdict = evaluate(records, [slo], WINDOWS, FAULT)
    assert verdict.passed, only_failures(verdict)


def test_consecutive_failures_exactly_at_the_limit_passes() -> None:
    records = steady("a", 12.0, 22.0, bad=[12.0, 12.1, 12.2])
    verdict = evaluate(records, [SLO("a", "during", max_consecutive_failures=3)], WINDOWS, FAULT)
    assert verdict.passed, only_failures(verdict)


def test_recovery_exactly_at_the_limit_passes() -> None:
    records = steady("a", 22.0, 30.0, bad=[22.0 + i * 0.5 for i in range(10)])  # last bad 26.5
    assert recovery_time_s(records, "a", 22.0) == pytest.approx(4.6)
    slo = SLO("a", "after", max_recovery_s=records[46].scheduled_s - 22.0)
    verdict = evaluate(records, [slo], WINDOWS, FAULT)
    assert verdict.passed, only_failures(verdict)


# -- statistics --------------------------------------------------------------------------


def test_out_of_order_completions_use_scheduled_order_for_failure_runs() -> None:
    # Scheduled order: ok, bad, bad, bad, ok. Completion order interleaves them differently.
    records = [
        rec("p", 0, 12.0, ok=True, completed_s=15.0),
        rec("p", 1, 12.1, ok=False, completed_s=12.2),
        rec("p", 2, 12.2, ok=False, completed_s=16.0),
        rec("p", 3, 12.3, ok=False, completed_s=12.35),
        rec("p", 4, 12.4, ok=True, completed_s=12.41),
    ]
    by_completion = sorted(records, key=lambda r: r.completed_s)
    stats = summarize(by_completion, "p", WINDOWS[1])
    assert stats.longest_failure_run == 3
    assert stats.count == 5 and stats.ok_count == 2


def test_summarize_percentiles_replicas_and_fallbacks() -> None:
    records = [rec("p", i, 12.0 + i * 0.01, latency_ms=float(i + 1), replica=f"api-{i % 3}") for i in range(100)]
    records.append(rec("p", 100, 13.5, latency_ms=5.0, fallback=True, replica=None))
    stats = summarize(records, "p", WINDOWS[1])
    assert stats.count == 101
    assert stats.p50_ms == pytest.approx(50.0, rel=0.002)
    assert stats.p99_ms == pytest.approx(99.0, rel=0.002)
    assert stats.max_ms == 100.0
    assert dict(stats.replicas) == {"api-0": 34, "api-1": 33, "api-2": 33}
    assert stats.fallback_count == 1
    assert stats.window == "during"


def test_summarize_attributes_requests_by_scheduled_time() -> None:
    # Scheduled just before the fault, answered during it: belongs to "before".
    records = [rec("p", 0, 11.99, latency_ms=3000.0)]
    assert summarize(records, "p", WINDOWS[0]).count == 1
    assert summarize(records, "p", WINDOWS[1]).count == 0


def test_verdict_to_dict_is_json_ready() -> None:
    records = steady("api.complete", 0.0, 30.0, bad=[15.0])
    slo = SLO("api.complete", min_success=0.999, max_p99_ms=50, max_recovery_s=5)
    verdict = evaluate(records, [slo], WINDOWS, FAULT)
    doc = json.loads(json.dumps(verdict.to_dict()))
    assert doc["passed"] is False
    assert doc["failures"] == ["api.complete: success 99.0% < 99.9% during kill(api-2) [12.0 s..22.0 s]"]
    assert {s["window"] for s in doc["stats"]} == {"before", "during", "after"}
    assert {c["name"] for c in doc["checks"]} >= {"success", "p99", "recovery"}


def test_p90_catches_a_third_of_requests_slowed_by_a_hung_replica() -> None:
    # Retries hide a hung replica's failures, not its time: every third request takes 1 s.
    records = [rec("api.complete", i, 12.0 + i * 0.05, latency_ms=1050.0 if i % 3 == 0 else 50.0) for i in range(200)]
    slo = SLO("api.complete", "during", max_p90_ms=500, max_p99_ms=2000)
    assert only_failures(evaluate(records, [slo], WINDOWS, FAULT)) == [
        "api.complete: p90 1050 ms > 500 ms during kill(api-2) [12.0 s..22.0 s]"
    ]
    # Caught in time by health checks: only the first 5% are slow, p90 stays fast.
    early = [rec("api.complete", i, 12.0 + i * 0.05, latency_ms=1050.0 if i < 10 else 50.0) for i in range(200)]
    assert only_failures(evaluate(early, [slo], WINDOWS, FAULT)) == []
