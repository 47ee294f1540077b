"""Unit tests of the status-truth checks: the status page judged against synthetic client records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from failover_tests.status_truth import (
    DEFAULT_RULES,
    DEPENDENCIES,
    ComponentSlice,
    PathSlice,
    StatusTruth,
    StatusTruthRules,
    judge_status,
)
from failover_tests.traffic import Record
from failover_tests.verdict import Check
from infra.errors import ScenarioError

COMPONENTS = ("web", "api", "model", "edge", "store", "integration")
PATHS = ("api.complete", "api.sessions", "api.sessions_read", "web.home")
RUN_END_S = 30.0
FAULT = (10.0, 20.0)
STEP_S = 0.125  # 8 requests a second, on exact binary fractions so slice edges are exact
Span = tuple[float, float]
Override = tuple[str, str, float, float]
Sample = tuple[float, dict[str, str]]


def flow(
    path: str,
    start_s: float = 0.0,
    end_s: float = RUN_END_S,
    *,
    step_s: float = STEP_S,
    bad: Sequence[Span] = (),
    fallback: Sequence[Span] = (),
    every_nth_bad: int = 0,
) -> list[Record]:
    """Requests of one path every `step_s`: failed inside `bad`, fallback answers inside `fallback`."""
    out = []
    n = 0
    t = start_s
    while t < end_s:
        failed = any(a <= t < b for a, b in bad) or (every_nth_bad > 0 and n % every_nth_bad == 0)
        cached = any(a <= t < b for a, b in fallback)
        out.append(
            Record(
                path=path,
                seq=n,
                scheduled_s=t,
                latency_ms=10.0,
                status=503 if failed else 200,
                ok=not failed,
                replica=None if failed else "api-0",
                endpoint="http://127.0.0.1:8080",
                error="HTTP 503" if failed else None,
                fallback=cached and not failed,
                completed_s=t + 0.01,
            )
        )
        n += 1
        t = start_s + n * step_s
    return out


def traffic(bad: Mapping[str, Sequence[Span]] | None = None, **fallback: Sequence[Span]) -> list[Record]:
    """All four default paths; `bad` maps a path to its failing spans, keywords give fallback spans."""
    bad = bad or {}
    out: list[Record] = []
    for path in PATHS:
        out += flow(path, bad=bad.get(path, ()), fallback=fallback.get(path.replace(".", "_"), ()))
    return out


def page(*overrides: Override, start_s: float = 0.0, end_s: float = RUN_END_S, step_s: float = 0.5) -> list[Sample]:
    """Status samples every `step_s`: everything operational except (component, state, from_s, to_s)."""
    samples: list[Sample] = []
    t = start_s
    while t < end_s:
        states = dict.fromkeys(COMPONENTS, "operational")
        for component, state, a, b in overrides:
            if a <= t < b:
                states[component] = state
        samples.append((t, states))
        t += step_s
    return samples


def judge(
    records: Sequence[Record],
    samples: Sequence[tuple[float, Mapping[str, str]]],
    *,
    poll_interval_s: float = 1.0,
    rules: StatusTruthRules = DEFAULT_RULES,
) -> StatusTruth:
    """Judge with the default fault window and run end."""
    return judge_status(
        records,
        samples,
        poll_interval_s=poll_interval_s,
        fault_start_s=FAULT[0],
        fault_end_s=FAULT[1],
        run_end_s=RUN_END_S,
        rules=rules,
    )


def check(truth: StatusTruth, name: str, subject: str) -> Check:
    """The one check of a name and subject (`api.sessions`, `store`)."""
    found = [c for c in truth.checks if c.name == name and c.path == f"status.{subject}"]
    assert len(found) == 1, [c.path for c in truth.checks]
    return found[0]


def under(truth: StatusTruth, path: str) -> Check:
    """The under-reporting check of a path."""
    return check(truth, "status_truth_under", path)


def over(truth: StatusTruth, component: str) -> Check:
    """The over-reporting check of a component."""
    return check(truth, "status_truth_over", component)


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


# -- over-reporting ------------------------------------------------------------------------------


def test_pause_one_api_claiming_a_store_outage_while_writes_succeed_fails() -> None:
    samples = page(("api", "degraded", 11.0, 19.0), ("store", "outage", 13.0, 17.0))
    truth = judge(traffic(), samples)
    assert [c.message for c in truth.failures] == [
        "status: store shown outage for 4.0 s [13.0 s..17.0 s] while api.sessions, api.sessions_read were fine"
    ]
    got = over(truth, "store")
    assert (got.window, got.window_start_s, got.window_end_s, got.observed, got.limit) == (
        "during",
        13.0,
        17.0,
        4.0,
        3.0,
    )
    assert over(truth, "api").message == "status: api no mismatch over 30.0 s judged"


def test_over_reporting_exactly_at_the_tolerance_passes() -> None:
    truth = judge(traffic(), page(("store", "outage", 13.0, 16.0)))
    assert truth.passed
    assert over(truth, "store").message == (
        "status: store shown outage for 3.0 s [13.0 s..16.0 s] while api.sessions, api.sessions_read were "
        "fine, within the 3.0 s tolerance"
    )


def test_over_reporting_names_a_single_fine_path_in_the_singular() -> None:
    records = flow("api.complete")
    truth = judge(records, page(("model", "outage", 13.0, 20.0)))
    assert over(truth, "model").message == (
        "status: model shown outage for 7.0 s [13.0 s..20.0 s] while api.complete was fine"
    )


def test_an_outage_that_flickers_within_a_slice_is_not_outage_throughout() -> None:
    # outage at x.0, operational at x.5: never outage throughout a slice
    overrides = [("store", "outage", float(t), t + 0.5) for t in range(12, 20)]
    truth = judge(traffic(), page(*overrides))
    assert truth.passed
    assert truth.slices[12].components[4] == ComponentSlice("store", "fine", "operational", "outage")


def test_degraded_while_clients_are_fine_is_never_flagged() -> None:
    samples = page(*((c, "degraded", 0.0, 30.0) for c in COMPONENTS))
    truth = judge(traffic(), samples)
    assert truth.passed


def test_an_outage_while_a_path_using_it_fails_is_not_over_reporting() -> None:
    records = traffic({"api.sessions_read": [(12.0, 20.0)]})
    truth = judge(records, page(("store", "outage", 12.0, 20.0)))
    assert truth.passed
    assert truth.slices[14].overreported == ()


# -- whole scenarios -----------------------------------------------------------------------------


def test_naive_cascade_with_a_static_page_fails_under_reporting() -> None:
    # Slow model, naive profile: completions, sessions and the home page fail; the static page
    # says everything is operational.
    failing = {p: [(10.0, 20.0)] for p in ("api.complete", "api.sessions", "web.home")}
    truth = judge(traffic(failing), page())
    assert [c.message for c in truth.failures] == [
        "status: api.complete failing for 10.0 s [10.0 s..20.0 s] while the page said edge, api, model operational",
        "status: api.sessions failing for 10.0 s [10.0 s..20.0 s] while the page said edge, api, store operational",
        "status: web.home failing for 10.0 s [10.0 s..20.0 s] while the page said edge, web, api, model operational",
    ]
    assert under(truth, "api.sessions_read").passed


def test_a_correct_page_passes() -> None:
    # The same failures, and a page that shows model and store degraded a poll or two later.
    failing = {p: [(10.0, 20.0)] for p in ("api.complete", "api.sessions", "web.home")}
    samples = page(("model", "degraded", 11.5, 21.5), ("store", "degraded", 12.0, 22.0))
    truth = judge(traffic(failing), samples)
    assert truth.passed
    assert under(truth, "api.sessions").message == (
        "status: api.sessions failing for 2.0 s [10.0 s..12.0 s] while the page said edge, api, store "
        "operational, within the 3.0 s tolerance"
    )


# -- the timeline --------------------------------------------------------------------------------


def test_slices_hold_client_health_and_page_states() -> None:
    records = traffic({"api.sessions": [(12.0, 20.0)]}, api_complete=[(12.0, 12.5)])
    truth = judge(records, page(("store", "outage", 12.5, 13.0), ("web", "degraded", 0.0, 30.0)))
    assert len(truth.slices) == 30
    s = truth.slices[12]
    assert (s.start_s, s.end_s) == (12.0, 13.0)
    assert s.paths == (
        PathSlice("api.complete", 8, 4, "impaired"),
        PathSlice("api.sessions", 8, 0, "impaired"),
        PathSlice("api.sessions_read", 8, 8, "fine"),
        PathSlice("web.home", 8, 8, "fine"),
    )
    assert s.paths[0].real_success_share == 0.5
    assert s.components == (
        ComponentSlice("web", "fine", "degraded", "degraded"),
        ComponentSlice("api", "impaired", "operational", "operational"),
        ComponentSlice("model", "impaired", "operational", "operational"),
        ComponentSlice("edge", "impaired", "operational", "operational"),
        ComponentSlice("store", "impaired", "operational", "outage"),
        ComponentSlice("integration", "unknown", "operational", "operational"),
    )
    assert s.unreported == ("api.complete",)  # the store outage reports api.sessions; web is off its path
    assert truth.slices[14].unreported == ("api.sessions",)
    assert truth.slices[14].overreported == ()


def test_slices_mark_over_reported_components() -> None:
    truth = judge(traffic(), page(("store", "outage", 13.0, 14.0)))
    assert [s.start_s for s in truth.slices if s.overreported] == [13.0]
    assert truth.slices[13].overreported == ("store",)


def test_the_last_slice_may_be_shorter() -> None:
    truth = judge_status(traffic(), page(), poll_interval_s=1.0, fault_start_s=10.0, fault_end_s=20.0, run_end_s=29.5)
    assert (truth.slices[-1].start_s, truth.slices[-1].end_s) == (29.0, 29.5)
    assert truth.slices[-1].paths[0] == PathSlice("api.complete", 4, 4, "fine")
    assert len(truth.slices) == 30


def test_to_dict_is_json_ready() -> None:
    truth = judge(traffic({"api.sessions": [(12.0, 20.0)]}), page())
    doc = json.loads(json.dumps(truth.to_dict()))
    assert doc["passed"] is False
    assert doc["tolerance_s"] == 3.0
    assert doc["checks"][1]["message"] == (
        "status: api.sessions failing for 8.0 s [12.0 s..20.0 s] while the page said edge, api, store operational"
    )
    assert doc["slices"][12]["unreported"] == ["api.sessions"]
    assert doc["slices"][12]["paths"][1] == {
        "path": "api.sessions",
        "requests": 8,
        "real_successes": 0,
        "health": "impaired",
    }
    assert doc["slices"][12]["components"][4] == {
        "component": "store",
        "expected": "impaired",
        "shown_best": "operational",
        "shown_worst": "operational",
    }
    assert DEFAULT_RULES.to_dict()["dependencies"] == {p: list(c) for p, c in DEPENDENCIES.items()}


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"slice_s": 0.0}, "status truth rules: slice_s=0.0 must be a finite number > 0 (seconds)"),
        ({"sample_hold_s": -1.0}, "status truth rules: sample_hold_s=-1.0 must be a finite number > 0 (seconds)"),
        ({"grace_s": -0.5}, "status truth rules: grace_s=-0.5 must be a finite number >= 0 (seconds)"),
        ({"grace_s": float("inf")}, "status truth rules: grace_s=inf must be a finite number >= 0 (seconds)"),
        ({"impaired_below": 0.0}, "status truth rules: impaired_below=0.0 is a ratio in (0, 1] (e.g. 0.9)"),
        ({"impaired_below": 1.5}, "status truth rules: impaired_below=1.5 is a ratio in (0, 1] (e.g. 0.9)"),
        (
            {"fine_at_least": 0.5},
            "status truth rules: fine_at_least=0.5 must be in [impaired_below=0.9, 1]",
        ),
        (
            {"fine_at_least": 1.01},
            "status truth rules: fine_at_least=1.01 must be in [impaired_below=0.9, 1]",
        ),
        ({"min_requests": 0}, "status truth rules: min_requests=0 must be >= 1"),
        (
            {"dependencies": {"api.sessions": ()}},
            "status truth rules: dependencies['api.sessions']=[] must name a path and at least one component",
        ),
        (
            {"dependencies": {"": ("api",)}},
            "status truth rules: dependencies['']=['api'] must name a path and at least one component",
        ),
    ],
)
def test_rules_reject_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        StatusTruthRules(**kwargs)
    assert str(err.value) == message


def test_rules_freeze_the_dependency_map() -> None:
    deps = {"api.sessions": ["store"]}
    rules = StatusTruthRules(dependencies=deps)  # type: ignore[arg-type]
    deps["api.sessions"].append("api")
    assert dict(rules.dependencies) == {"api.sessions": ("store",)}
    with pytest.raises(TypeError):
        rules.dependencies["x"] = ("api",)  # type: ignore[index]


def test_a_bad_poll_interval_is_rejected() -> None:
    with pytest.raises(ScenarioError) as err:
        judge(traffic(), page(), poll_interval_s=0.0)
    assert str(err.value) == "status truth: poll_interval_s=0.0 must be a finite number > 0 (seconds)"


def test_a_fault_window_outside_the_run_is_rejected() -> None:
    with pytest.raises(ScenarioError) as err:
        judge_status(traffic(), page(), poll_interval_s=1.0, fault_start_s=10.0, fault_end_s=40.0, run_end_s=30.0)
    assert str(err.value) == (
        "status truth needs run start <= fault start <= fault end <= run end; got 0.000 s, 10.000 s, 40.000 s, 30.000 s"
    )
