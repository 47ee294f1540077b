"""Status truth: over-reporting, whole scenarios, the per-slice timeline and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from failover_tests.status_truth import (
    DEFAULT_RULES,
    DEPENDENCIES,
    ComponentSlice,
    PathSlice,
    StatusTruthRules,
    judge_status,
)
from infra.errors import ScenarioError
from tests.unit.status_truth_cases import COMPONENTS, flow, judge, over, page, traffic, under

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
