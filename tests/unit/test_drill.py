"""Unit tests of `stackdrill drill`'s plumbing: selection by scenario name, test outcomes, the run's
verdict and exit code, and a drill run in-process on throwaway tests (no stack, no Docker)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from failover_tests.outcomes import Outcome, OutcomeLog, RunVerdict, run_verdict
from stackdrill.drill import _fmt_requests, _fmt_worst, exit_code, select
from tests.fakes import DrillRun, drill_in_process

# -- selection ------------------------------------------------------------------------------


@dataclass
class FakeScenario:
    name: str


@dataclass
class FakeCallSpec:
    id: str


@dataclass
class FakeItem:
    """What `select` reads from a pytest item."""

    nodeid: str
    marks: list[pytest.Mark] = field(default_factory=list)
    callspec: FakeCallSpec | None = None
    scenario: FakeScenario | None = None

    @property
    def name(self) -> str:
        return self.nodeid.split("::")[-1]

    @property
    def originalname(self) -> str:
        return self.name.split("[")[0]

    def iter_markers(self, name: str | None = None) -> Iterator[pytest.Mark]:
        return iter([m for m in self.marks if name is None or m.name == name])


def failover(**kwargs: Any) -> pytest.Mark:
    return cast(pytest.Mark, pytest.mark.failover(**kwargs).mark)


ITEMS = [
    FakeItem("suites/test_preflight.py::test_ports_listen"),
    FakeItem("suites/test_outages.py::test_slow_dependency_is_contained", [failover(name="slow-model-protected")]),
    FakeItem("suites/test_outages.py::test_zone_loss", [failover(name="zone-a-loss", fault="kill")]),
    FakeItem("suites/test_replica_loss.py::test_replica_loss[api-pause]", [failover(name="pause-one-api")]),
    FakeItem("suites/test_replica_loss.py::test_replica_loss[web-pause]", [failover(name="pause-one-web")]),
    FakeItem("suites/test_matrix.py::test_lose_one[lose-one-api]", callspec=FakeCallSpec("lose-one-api")),
    FakeItem("suites/test_matrix.py::test_lose_one[lose-one-api_lb]", callspec=FakeCallSpec("lose-one-api_lb")),
    FakeItem("suites/scenario_smoke.yaml::kill-one-model", scenario=FakeScenario("kill-one-model")),
    FakeItem(
        "suites/test_outages.py::test_slow_dependency_cascades_without_protection",
        [failover(name=["slow-model-naive", "slow-model-protected-again"])],
    ),
]


def selected(*names: str) -> list[str]:
    keep, drop = select(cast(list[pytest.Item], ITEMS), names)
    assert len(keep) + len(drop) == len(ITEMS)
    return [item.nodeid.split("/")[-1] for item in keep]


def test_a_marker_name_selects_its_test() -> None:
    assert selected("slow-model-protected") == ["test_outages.py::test_slow_dependency_is_contained"]
    assert selected("zone-a-loss") == ["test_outages.py::test_zone_loss"]
    assert selected("pause-one-api") == ["test_replica_loss.py::test_replica_loss[api-pause]"]


def test_a_marker_may_name_several_scenarios() -> None:
    assert selected("slow-model-naive") == ["test_outages.py::test_slow_dependency_cascades_without_protection"]


def test_a_parameter_id_selects_exactly_that_matrix_entry() -> None:
    assert selected("lose-one-api") == ["test_matrix.py::test_lose_one[lose-one-api]"]
    assert selected("lose-one-api_lb") == ["test_matrix.py::test_lose_one[lose-one-api_lb]"]


def test_a_yaml_scenario_name_selects_it() -> None:
    assert selected("kill-one-model") == ["scenario_smoke.yaml::kill-one-model"]


def test_names_ignore_case_and_dashes_versus_underscores() -> None:
    assert selected("Zone_A_Loss") == ["test_outages.py::test_zone_loss"]


def test_test_function_names_still_select() -> None:
    assert selected("test_ports_listen") == ["test_preflight.py::test_ports_listen"]
    assert selected("test_lose_one") == [
        "test_matrix.py::test_lose_one[lose-one-api]",
        "test_matrix.py::test_lose_one[lose-one-api_lb]",
    ]


def test_a_name_that_names_nothing_exactly_selects_by_substring() -> None:
    assert selected("pause") == [
        "test_replica_loss.py::test_replica_loss[api-pause]",
        "test_replica_loss.py::test_replica_loss[web-pause]",
    ]
    assert selected("preflight") == ["test_preflight.py::test_ports_listen"]


def test_several_names_keep_the_collection_order() -> None:
    assert selected("kill-one-model", "test_ports_listen") == [
        "test_preflight.py::test_ports_listen",
        "scenario_smoke.yaml::kill-one-model",
    ]


def test_an_unknown_name_selects_nothing() -> None:
    assert selected("no-such-drill") == []


# -- outcomes and the run's verdict ---------------------------------------------------------


def phases(log: OutcomeLog, nodeid: str, *steps: tuple[str, str], kit_error: bool = False) -> None:
    log.start(nodeid)
    for when, outcome in steps:
        message = f"{when} {outcome}" if outcome != "passed" else ""
        log.phase(nodeid, when=when, outcome=outcome, duration_s=1.0, message=message, kit_error=kit_error)


OK = (("setup", "passed"), ("call", "passed"), ("teardown", "passed"))


def test_outcome_of_each_kind_of_test() -> None:
    log = OutcomeLog()
    phases(log, "t::ok", *OK)
    phases(log, "t::verdict", ("setup", "passed"), ("call", "failed"), ("teardown", "passed"))
    phases(log, "t::not_steady", ("setup", "passed"), ("call", "failed"), ("teardown", "passed"), kit_error=True)
    phases(log, "t::no_stack", ("setup", "failed"), ("teardown", "passed"))
    phases(log, "t::revert", ("setup", "passed"), ("call", "passed"), ("teardown", "failed"))
    phases(log, "t::skip", ("setup", "skipped"), ("teardown", "passed"))
    phases(log, "t::cut", ("setup", "passed"))  # Ctrl-C in the body: no call report, no teardown
    got = {o.nodeid: (o.outcome, o.message, o.duration_s) for o in log.outcomes()}
    assert got == {
        "t::ok": ("passed", "", 3.0),
        "t::verdict": ("failed", "call failed", 3.0),
        "t::not_steady": ("error", "call failed", 3.0),
        "t::no_stack": ("error", "setup failed", 2.0),
        "t::revert": ("error", "teardown failed", 3.0),
        "t::skip": ("skipped", "setup skipped", 2.0),
        "t::cut": ("interrupted", "interrupted before the test finished", 1.0),
    }


def test_a_passed_call_is_not_passed_until_its_teardown_ran() -> None:
    log = OutcomeLog()
    phases(log, "t::a", ("setup", "passed"), ("call", "passed"))
    outcome = log.outcome_of("t::a")
    assert outcome is not None and outcome.outcome == "interrupted"


def test_a_test_is_named_by_the_scenarios_it_ran_else_declared_else_itself() -> None:
    log = OutcomeLog()
    log.start("s/test_x.py::test_a", ("pause-one-api",))
    log.start("s/test_x.py::test_b", ("declared",))
    log.ran_scenario("s/test_x.py::test_b", "ran")
    log.start("s/test_x.py::test_c[p1]")
    log.ran_scenario("broken::single-api", "ignored: not a test")
    assert [o.name for o in log.outcomes()] == ["pause-one-api", "ran", "test_c[p1]"]


def verdict_of(*outcomes: str, interrupted: bool = False) -> RunVerdict:
    return run_verdict([Outcome(f"t::{i}", o) for i, o in enumerate(outcomes)], interrupted=interrupted)


@pytest.mark.parametrize(
    ("outcomes", "interrupted", "verdict", "code"),
    [
        (("passed", "passed"), False, "passed", 0),
        (("passed", "skipped"), False, "passed", 0),
        (("passed", "failed"), False, "failed", 1),
        (("passed", "error"), False, "error", 3),
        (("failed", "error"), False, "failed", 1),  # a known failure outranks an inconclusive error
        (("skipped",), False, "error", 3),  # nothing was judged
        ((), False, "error", 3),
        (("passed", "interrupted"), False, "interrupted", 130),
        (("passed", "failed"), True, "interrupted", 130),
        ((), True, "interrupted", 130),
    ],
)
def test_run_verdict_and_its_exit_code(outcomes: tuple[str, ...], interrupted: bool, verdict: str, code: int) -> None:
    got = verdict_of(*outcomes, interrupted=interrupted)
    assert (got.verdict, got.exit_code) == (verdict, code)
    assert got.to_dict()["exit_code"] == code


def test_run_verdict_counts() -> None:
    got = verdict_of("passed", "failed", "error", "error", "skipped", "interrupted")
    assert got.to_dict() == {
        "verdict": "interrupted",
        "exit_code": 130,
        "tests": 6,
        "passed": 1,
        "failed": 1,
        "errors": 2,
        "skipped": 1,
        "interrupted": 1,
    }
    assert got.describe() == "1 passed, 1 failed, 2 errors, 1 skipped, 1 interrupted"


OKAY, FAILED, USAGE, NO_TESTS, INTERNAL, STOPPED = 0, 1, 4, 5, 3, 2


@pytest.mark.parametrize(
    ("pytest_code", "verdict", "collection_errors", "code"),
    [
        (OKAY, verdict_of("passed"), 0, 0),
        (FAILED, verdict_of("passed", "failed"), 0, 1),
        (FAILED, verdict_of("error", "error"), 0, 3),  # the stack never came up: every setup errored
        (FAILED, verdict_of("passed", "error"), 0, 3),  # stack not steady before one scenario
        (NO_TESTS, None, 0, 2),  # no scenario matches
        (NO_TESTS, verdict_of(), 0, 2),
        (STOPPED, verdict_of(), 1, 2),  # a scenario file that does not validate
        (USAGE, None, 0, 2),
        (STOPPED, verdict_of("passed", interrupted=True), 0, 130),
        (STOPPED, verdict_of(interrupted=True), 0, 130),  # Ctrl-C while collecting
        (INTERNAL, verdict_of("passed"), 0, 3),
        (OKAY, None, 0, 3),
    ],
)
def test_exit_code_mapping(pytest_code: int, verdict: RunVerdict | None, collection_errors: int, code: int) -> None:
    assert exit_code(pytest_code, verdict=verdict, collection_errors=collection_errors) == code


# -- summary table cells --------------------------------------------------------------------


def test_table_shows_the_longest_failure_run_requests_and_fallbacks() -> None:
    worst = {
        "success_ratio": 0.9,
        "p99_ms": 1234.0,
        "longest_failure_run": 81,
        "fallback_share": 0.8,
        "fallback_where": "api.complete during",
        "recovery_s": None,
        "recovery_checked": True,
        "requests_by_window": {"before": 60, "during": 180, "after": 150},
    }
    assert _fmt_worst(worst) == (
        "success 90.0%, p99 1234 ms, 81 failures in a row, fallback 80.0% (api.complete during), no recovery"
    )
    assert _fmt_requests(worst) == "before 60, during 180, after 150"


# -- a drill run, in-process, on throwaway tests ----------------------------------------------


SUITE = """
import pytest
from infra.errors import ScenarioError


@pytest.fixture
def broken_stack():
    raise RuntimeError("stack drill1 could not be brought up")


@pytest.mark.failover(name="fine-one")
def test_fine():
    pass


@pytest.mark.failover(name="slo-miss")
def test_verdict_fails():
    assert False, "api.complete: success 90.0% < 99.0% during kill(api-1)"


@pytest.mark.failover(name="not-steady")
def test_not_steady():
    raise ScenarioError("stack drill1 is not steady, so no fault was applied")


def test_setup_errors(broken_stack):
    pass


def test_interrupted():
    raise KeyboardInterrupt
"""


@pytest.fixture
def drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `stackdrill drill` in-process on one file holding the SUITE tests named by `keep`."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # topology files resolve from the repo

    def run(*names: str, as_json: bool = False) -> DrillRun:
        return drill_in_process(tmp_path, SUITE, *names, as_json=as_json)

    return run


def test_drill_all_passed(drill: Any) -> None:
    run = drill("fine-one")
    assert run.code == 0
    assert (run.report["verdict"], run.report["exit_code"]) == ("passed", 0)
    assert "[drill] 1/1 fine-one PASSED in" in run.err
    assert "1 passed, 0 failed, 0 errors, 0 skipped, 0 interrupted in" in run.out


def test_drill_reports_every_test_and_separates_errors_from_failures(drill: Any) -> None:
    run = drill("fine-one", "slo-miss", "not-steady", "test_setup_errors")
    assert run.code == 1
    doc = run.report
    assert (doc["verdict"], doc["exit_code"]) == ("failed", 1)
    assert {k: doc["summary"][k] for k in ("tests", "passed", "failed", "errors")} == {
        "tests": 4,
        "passed": 1,
        "failed": 1,
        "errors": 2,
    }
    got = {t["name"]: (t["outcome"], t["message"]) for t in doc["tests"]}
    assert got == {
        "fine-one": ("passed", ""),
        "slo-miss": ("failed", "api.complete: success 90.0% < 99.0% during kill(api-1)\nassert False"),
        "not-steady": ("error", "ScenarioError: stack drill1 is not steady, so no fault was applied"),
        "test_setup_errors": ("error", "RuntimeError: stack drill1 could not be brought up"),
    }
    assert "FAILED slo-miss: api.complete: success 90.0%" in run.out
    assert "errors of the kit's run (not verdicts on the topology):" in run.out
    assert "ERROR not-steady: ScenarioError: stack drill1 is not steady" in run.out
    assert "1 passed, 1 failed, 2 errors, 0 skipped, 0 interrupted in" in run.out
    assert "FAILED (exit 1)" in run.out


def test_drill_that_could_not_run_exits_3(drill: Any) -> None:
    run = drill("not-steady", "test_setup_errors")
    assert run.code == 3
    assert (run.report["verdict"], run.report["exit_code"]) == ("error", 3)


def test_drill_interrupted_exits_130_and_never_says_passed_for_the_unfinished_test(drill: Any) -> None:
    run = drill("fine-one", "test_interrupted")
    assert run.code == 130
    assert run.err.rstrip().endswith("interrupted")
    assert (run.report["verdict"], run.report["exit_code"]) == ("interrupted", 130)
    got = {t["name"]: t["outcome"] for t in run.report["tests"]}
    assert got == {"fine-one": "passed", "test_interrupted": "interrupted"}
    assert "[drill] 1/2 fine-one PASSED" in run.err
    assert "test_interrupted PASSED" not in run.err + run.out
    assert run.out.count("PASSED") == 1 and "INTERRUPTED" in run.out


def test_drill_with_no_matching_name_is_bad_input(drill: Any) -> None:
    run = drill("no-such-drill")
    assert run.code == 2
    assert "no scenario matches" in run.err
    assert run.report == {}


def test_drill_json_output_carries_the_verdict(drill: Any) -> None:
    run = drill("fine-one", "slo-miss", as_json=True)
    doc = json.loads(run.out)
    assert (doc["exit_code"], doc["verdict"]) == (1, "failed")
    assert [(t["test"], t["verdict"]) for t in doc["tests"]] == [("fine-one", "passed"), ("slo-miss", "failed")]


def test_the_default_suites_are_where_the_drill_looks() -> None:
    from stackdrill.drill import SUITES

    names = {p.name for p in SUITES.iterdir()}
    assert {"test_outages.py", "scenario_smoke.yaml"} <= names, sorted(names)


def junit_cases(run: DrillRun) -> dict[str, str]:
    """testcase name -> passed, or the kind of its outcome element (failure, error, skipped)."""
    root = ET.parse(run.junit).getroot()
    return {
        c.get("name", ""): next((e.tag for e in c if e.tag != "system-out"), "passed") for c in root.iter("testcase")
    }


def test_drill_junit_holds_every_test_and_tells_failures_from_errors(drill: Any) -> None:
    import xmlschema

    from tests.junit_schema import junit_xsd

    run = drill("fine-one", "slo-miss", "not-steady", "test_setup_errors", "test_interrupted")
    xmlschema.XMLSchema(str(junit_xsd())).validate(str(run.junit))
    assert junit_cases(run) == {
        "fine-one": "passed",
        "slo-miss": "failure",
        "not-steady": "error",
        "test_setup_errors": "error",
        "test_interrupted": "error",
    }
    root = ET.parse(run.junit).getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert (props["verdict"], props["exit_code"]) == ("interrupted", str(run.code))
    failure = root.find(".//testcase[@name='slo-miss']/failure")
    assert failure is not None and failure.get("message", "").startswith("api.complete: success 90.0% < 99.0%")


def test_a_drill_that_judged_nothing_still_writes_junit_saying_why(drill: Any) -> None:
    run = drill("no-such-drill")
    assert run.code == 2
    error = ET.parse(run.junit).getroot().find(".//testcase[@name='stackdrill drill']/error")
    assert error is not None and "no scenario matches" in (error.text or "") and "no-such-drill" in (error.text or "")
