"""Status truth: a healthy run, and under-reporting (the page says operational while clients fail)."""

from __future__ import annotations

import pytest

from failover_tests.status_truth import (
    DEFAULT_RULES,
    ComponentSlice,
    StatusTruthRules,
)
from failover_tests.verdict import Check
from tests.unit.status_truth_cases import Span, flow, judge, over, page, traffic, under

# -- a healthy run -------------------------------------------------------------------------------


def test_healthy_run_emits_one_passing_check_per_path_and_component() -> None:
    truth = judge(traffic(), page())
    assert truth.passed
    assert [(c.name, c.path) for c in truth.checks] == [
        ("status_truth_under", "status.api.complete"),
        ("status_truth_under", "status.api.sessions"),
        ("status_truth_under", "status.api.sessions_read"),
        ("status_truth_under", "status.web.home"),
        ("status_truth_over", "status.web"),
        ("status_truth_over", "status.api"),
        ("status_truth_over", "status.model"),
        ("status_truth_over", "status.edge"),
        ("status_truth_over", "status.store"),
    ]
    assert under(truth, "api.sessions") == Check(
        name="status_truth_under",
        path="status.api.sessions",
        window="run",
        window_start_s=0.0,
        window_end_s=30.0,
        observed=0.0,
        limit=3.0,
        passed=True,
        message="status: api.sessions no mismatch over 30.0 s judged",
    )
    assert over(truth, "store").message == "status: store no mismatch over 30.0 s judged"
    assert truth.tolerance_s == 3.0
    assert truth.failures == ()


def test_integration_is_on_no_path_so_never_judged_but_shown_in_the_timeline() -> None:
    truth = judge(traffic(), page(("integration", "outage", 0.0, 30.0)))
    assert truth.passed
    assert all(c.path != "status.integration" for c in truth.checks)
    integration = truth.slices[5].components[-1]
    assert integration == ComponentSlice("integration", "unknown", "outage", "outage")


# -- under-reporting -----------------------------------------------------------------------------


def test_under_reporting_exactly_at_the_tolerance_passes() -> None:
    truth = judge(traffic({"api.sessions": [(12.0, 15.0)]}), page())
    got = under(truth, "api.sessions")
    assert got.passed
    assert got.message == (
        "status: api.sessions failing for 3.0 s [12.0 s..15.0 s] while the page said edge, api, store "
        "operational, within the 3.0 s tolerance"
    )
    assert (got.window, got.window_start_s, got.window_end_s, got.observed, got.limit) == (
        "during",
        12.0,
        15.0,
        3.0,
        3.0,
    )


def test_under_reporting_one_slice_over_the_tolerance_fails() -> None:
    truth = judge(traffic({"api.sessions": [(12.0, 16.0)]}), page())
    got = under(truth, "api.sessions")
    assert not got.passed
    assert got.message == (
        "status: api.sessions failing for 4.0 s [12.0 s..16.0 s] while the page said edge, api, store operational"
    )
    assert truth.failures == (got,)


def test_under_reporting_half_a_second_over_fails_with_half_second_slices() -> None:
    rules = StatusTruthRules(slice_s=0.5)
    at = judge(traffic({"api.sessions": [(12.0, 15.0)]}), page(), rules=rules)
    assert under(at, "api.sessions").passed
    just_over = judge(traffic({"api.sessions": [(12.0, 15.5)]}), page(), rules=rules)
    assert under(just_over, "api.sessions").message == (
        "status: api.sessions failing for 3.5 s [12.0 s..15.5 s] while the page said edge, api, store operational"
    )
    assert not under(just_over, "api.sessions").passed


def test_tolerance_is_poll_interval_plus_grace() -> None:
    records = traffic({"api.sessions": [(12.0, 16.0)]})
    slow_poll = judge(records, page(), poll_interval_s=2.0)
    assert slow_poll.tolerance_s == 4.0
    assert under(slow_poll, "api.sessions").passed
    no_grace = judge(traffic({"api.sessions": [(12.0, 14.0)]}), page(), rules=StatusTruthRules(grace_s=0.0))
    assert under(no_grace, "api.sessions").message == (
        "status: api.sessions failing for 2.0 s [12.0 s..14.0 s] while the page said edge, api, store operational"
    )


def test_page_that_reacts_within_the_tolerance_passes() -> None:
    records = traffic({"api.sessions": [(12.0, 20.0)], "api.sessions_read": [(12.0, 20.0)]})
    truth = judge(records, page(("store", "outage", 15.0, 21.0)))
    assert truth.passed
    assert under(truth, "api.sessions").message == (
        "status: api.sessions failing for 3.0 s [12.0 s..15.0 s] while the page said edge, api, store "
        "operational, within the 3.0 s tolerance"
    )


def test_page_that_reacts_half_a_second_into_a_slice_still_covers_that_slice() -> None:
    records = traffic({"api.sessions": [(12.0, 20.0)]})
    truth = judge(records, page(("store", "outage", 15.5, 21.0)))
    assert under(truth, "api.sessions").passed
    assert under(truth, "api.sessions").observed == 3.0


def test_page_that_reacts_one_second_after_the_tolerance_fails() -> None:
    records = traffic({"api.sessions": [(12.0, 20.0)]})
    truth = judge(records, page(("store", "outage", 16.0, 21.0)))
    assert under(truth, "api.sessions").message == (
        "status: api.sessions failing for 4.0 s [12.0 s..16.0 s] while the page said edge, api, store operational"
    )


def test_page_that_goes_back_to_operational_while_clients_still_fail_is_judged_again() -> None:
    records = traffic({"api.sessions": [(12.0, 24.0)]})
    truth = judge(records, page(("store", "outage", 12.0, 16.0)))
    assert under(truth, "api.sessions").message == (
        "status: api.sessions failing for 8.0 s [16.0 s..24.0 s] while the page said edge, api, store operational"
    )


def test_a_non_operational_component_off_the_path_does_not_excuse_it() -> None:
    records = traffic({"api.sessions": [(12.0, 20.0)]})
    truth = judge(records, page(("model", "outage", 10.0, 30.0), ("web", "degraded", 10.0, 30.0)))
    assert not under(truth, "api.sessions").passed


@pytest.mark.parametrize("state", ["degraded", "outage"])
def test_any_non_operational_component_on_the_path_reports_it(state: str) -> None:
    records = traffic({"api.sessions": [(12.0, 20.0)]})
    truth = judge(records, page(("edge", state, 12.0, 20.0)))
    assert under(truth, "api.sessions").passed


def test_fallback_answers_count_as_impaired() -> None:
    truth = judge(traffic(api_complete=[(12.0, 20.0)]), page())
    assert under(truth, "api.complete").message == (
        "status: api.complete failing for 8.0 s [12.0 s..20.0 s] while the page said edge, api, model operational"
    )
    assert [c.message for c in truth.failures] == [under(truth, "api.complete").message]


def test_a_degraded_web_page_is_a_fallback_and_counts_as_impaired() -> None:
    truth = judge(traffic(web_home=[(12.0, 20.0)]), page())
    assert under(truth, "web.home").message == (
        "status: web.home failing for 8.0 s [12.0 s..20.0 s] while the page said edge, web, api, model operational"
    )


def test_slices_with_too_few_requests_are_never_judged() -> None:
    records = flow("api.sessions", step_s=0.5, bad=[(0.0, 30.0)])  # 2 a second, all failing
    truth = judge(records, page())
    assert truth.passed
    assert [c.message for c in truth.checks] == [
        "status: api.sessions not judged: no slice with 3+ requests and a status sample",
        "status: api not judged: no slice with a status sample and 3+ requests on a path using it",
        "status: edge not judged: no slice with a status sample and 3+ requests on a path using it",
        "status: store not judged: no slice with a status sample and 3+ requests on a path using it",
    ]
    assert under(truth, "api.sessions").observed is None


def test_three_requests_in_a_slice_are_enough_to_judge() -> None:
    records = flow("api.sessions", step_s=0.25, bad=[(0.0, 30.0)])
    records = [r for r in records if r.seq % 4 != 3]  # 3 a second, all failing
    truth = judge(records, page())
    assert under(truth, "api.sessions").message == (
        "status: api.sessions failing for 30.0 s [0.0 s..30.0 s] while the page said edge, api, store operational"
    )


def test_a_slice_without_requests_breaks_a_stretch() -> None:
    records = [r for r in traffic({"api.sessions": [(12.0, 18.0)]}) if not 15.0 <= r.scheduled_s < 16.0]
    truth = judge(records, page())
    got = under(truth, "api.sessions")
    assert got.passed
    assert got.message == (
        "status: api.sessions failing for 3.0 s [12.0 s..15.0 s] while the page said edge, api, store "
        "operational, within the 3.0 s tolerance"
    )


def test_a_marginal_slice_is_neither_impaired_nor_fine() -> None:
    assert DEFAULT_RULES.health(10, 9) == "marginal"
    assert DEFAULT_RULES.health(10, 8) == "impaired"
    assert DEFAULT_RULES.health(100, 99) == "fine"
    assert DEFAULT_RULES.health(100, 98) == "marginal"
    assert DEFAULT_RULES.health(3, 0) == "impaired"
    assert DEFAULT_RULES.health(2, 0) == "unknown"
    assert DEFAULT_RULES.health(0, 0) == "unknown"


def test_a_marginal_path_is_not_flagged_either_way() -> None:
    # 20 a second with every 20th failing: 95% in each slice, marginal.
    records = flow("api.sessions", step_s=0.05, every_nth_bad=20)
    truth = judge(records, page(("store", "outage", 10.0, 20.0)))
    assert {s.paths[0].health for s in truth.slices} == {"marginal"}
    assert truth.passed
    assert over(truth, "store").message == "status: store no mismatch over 30.0 s judged"


def test_several_stretches_over_the_tolerance_are_counted() -> None:
    records = traffic({"api.sessions": [(2.0, 6.0), (12.0, 20.0), (24.0, 28.0)]})
    got = under(judge(records, page()), "api.sessions")
    assert got.message == (
        "status: api.sessions failing for 8.0 s [12.0 s..20.0 s] while the page said edge, api, store "
        "operational (3 stretches over the 3.0 s tolerance)"
    )


@pytest.mark.parametrize(
    ("span", "window"),
    [((2.0, 7.0), "before"), ((12.0, 17.0), "during"), ((20.0, 25.0), "after"), ((8.0, 14.0), "before")],
)
def test_a_check_reports_the_window_its_worst_stretch_starts_in(span: Span, window: str) -> None:
    got = under(judge(traffic({"api.sessions": [span]}), page()), "api.sessions")
    assert (got.window, got.window_start_s, got.window_end_s) == (window, span[0], span[1])


def test_only_components_the_page_reports_are_named() -> None:
    samples = [(t, {c: s for c, s in states.items() if c != "edge"}) for t, states in page()]
    got = under(judge(traffic({"api.sessions": [(12.0, 20.0)]}), samples), "api.sessions")
    assert got.message == (
        "status: api.sessions failing for 8.0 s [12.0 s..20.0 s] while the page said api, store operational"
    )


def test_a_gap_in_the_samples_is_not_judged() -> None:
    # The sampler got no answer after 12.0 s: the last sample stands for at most 1 s.
    samples = [s for s in page() if s[0] <= 12.0]
    truth = judge(traffic({"api.sessions": [(12.0, 20.0)]}), samples)
    assert under(truth, "api.sessions").message == (
        "status: api.sessions failing for 1.0 s [12.0 s..13.0 s] while the page said edge, api, store "
        "operational, within the 3.0 s tolerance"
    )
    assert truth.slices[13].components[0].shown_worst is None


def test_unsorted_samples_and_unknown_states_are_handled() -> None:
    samples = list(reversed(page()))
    samples[0] = (samples[0][0], {**samples[0][1], "store": "maintenance"})
    truth = judge(traffic(), samples)
    assert truth.passed
    assert truth.slices[-1].components[4] == ComponentSlice("store", "fine", "operational", "operational")


def test_paths_missing_from_the_map_are_ignored() -> None:
    truth = judge(flow("custom.path", bad=[(0.0, 30.0)]), page())
    assert truth.checks == ()
    assert truth.slices[0].paths == ()


def test_the_dependency_map_can_be_overridden() -> None:
    rules = StatusTruthRules(dependencies={"api.sessions": ("store",)})
    truth = judge(traffic({"api.sessions": [(12.0, 20.0)]}), page(("edge", "outage", 12.0, 20.0)), rules=rules)
    assert [c.message for c in truth.checks] == [
        "status: api.sessions failing for 8.0 s [12.0 s..20.0 s] while the page said store operational",
        "status: store no mismatch over 30.0 s judged",
    ]
