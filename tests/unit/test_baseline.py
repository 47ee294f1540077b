"""Unit tests of the drift gate (`failover_tests.baseline`) on synthetic report.json documents:
which green runs count, the noise band, the limit and its floors, and how a regression turns a
scenario, its test, the run and its JUnit file red."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from failover_tests.baseline import (
    KINDS,
    Figure,
    GateSettings,
    apply,
    judge,
    judge_figure,
    load_baselines,
    noise_band,
    save_baseline,
)
from failover_tests.outcomes import Outcome
from failover_tests.report.junit import junit_xml
from infra.errors import ScenarioError, exit_code_of
from tests.junit_schema import junit_xsd
from tests.unit.baseline_cases import check, history_of, keep, p99_history, p99_of, report, scenario

# -- which green runs count -----------------------------------------------------------------


def test_the_newest_green_runs_count_by_generated_at_not_by_file_name(tmp_path: Path) -> None:
    root = tmp_path / "history"
    for day, name in ((1, "d.json"), (2, "c.json"), (3, "nested/b.json"), (4, "a.json")):
        keep(root, name, report(at=f"2026-03-0{day}T12:00:00+00:00"))
    history = load_baselines(root, runs=3)
    assert [history.name_of(r) for r in history.runs] == ["a.json", "nested/b.json", "c.json"]
    assert [r.generated_at.day for r in history.runs] == [4, 3, 2]
    assert history.notes == ("1 older green run(s) not used (the newest 3 are)",)


def test_other_schemas_bad_json_and_red_runs_are_skipped_with_a_note(tmp_path: Path) -> None:
    root = tmp_path / "history"
    keep(root, "green.json", report())
    keep(root, "old-schema.json", {**report(), "schema": "stackdrill.report/0"})
    keep(root, "junk.json", "{not json")
    keep(root, "list.json", "[1, 2]")
    keep(root, "red.json", report(scenario(status="fail")))
    keep(root, "no-date.json", {**report(), "generated_at": "yesterday"})
    keep(root, "notes.txt", "not a report")
    history = load_baselines(root)
    assert [r.file.name for r in history.runs] == ["green.json"]
    junk, no_schema, no_date, old, red = history.notes
    assert junk.startswith("skipped junk.json: not valid JSON (Expecting property name")
    assert no_schema == "skipped list.json: not a stackdrill report (no schema)"
    assert no_date.startswith("skipped no-date.json: not a readable stackdrill.report/1 report (generated_at: ")
    assert old == "skipped old-schema.json: schema 'stackdrill.report/0', not stackdrill.report/1"
    assert red == "skipped red.json: a red run (verdict failed)"


def test_a_run_kept_twice_counts_once(tmp_path: Path) -> None:
    # `--baseline reports --baseline-save`: reports/report.json and its saved copy are one run.
    root = tmp_path / "reports"
    keep(root, "report.json", report(at="2026-03-02T12:00:00+00:00"))
    keep(root, "report-20260302T120000Z.json", report(at="2026-03-02T12:00:00+00:00"))
    keep(root, "report-20260301T120000Z.json", report(at="2026-03-01T12:00:00+00:00"))
    history = load_baselines(root)
    assert [history.name_of(r) for r in history.runs] == [
        "report-20260302T120000Z.json",
        "report-20260301T120000Z.json",
    ]
    assert history.notes == ("skipped report.json: the same run as report-20260302T120000Z.json",)


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_no_history_is_no_error_and_the_gate_is_skipped(tmp_path: Path, make: str) -> None:
    root = tmp_path / "history"
    if make == "empty":
        root.mkdir()
    history = load_baselines(root)
    assert history.runs == ()
    note = (
        f"{root} does not exist: no green run to judge against yet"
        if make == "missing"
        else f"no green stackdrill.report/1 report in {root}: no run to judge against yet"
    )
    assert history.notes == (note,)
    current = report()
    gate = apply(current, history)
    assert gate.judgements == () and gate.describe() == f"drift gate skipped: no green run in {root} to judge against"
    assert (gate.report["verdict"], gate.report["exit_code"]) == ("passed", 0)
    assert gate.report["scenarios"] == current["scenarios"]
    assert gate.report["baseline"]["notes"] == [note]


def test_a_baseline_path_that_is_a_file_is_bad_input(tmp_path: Path) -> None:
    path = keep(tmp_path, "report.json", report())
    expected = f"--baseline {path}: is a file; give the directory where the pipeline keeps green report.json files"
    with pytest.raises(ScenarioError) as caught:
        load_baselines(path)
    assert str(caught.value) == expected and exit_code_of(caught.value) == 2
    with pytest.raises(ScenarioError, match="is a file"):
        GateSettings(dir=path)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"runs": 0}, "--baseline-runs 0: give 1 or more (the green runs to compare with)"),
        ({"tolerance": -0.1}, "--baseline-tolerance -0.1: give a fraction from 0 to below 10 (0.1 allows 10% above"),
        ({"tolerance": 10.0}, "--baseline-tolerance 10: give a fraction from 0 to below 10"),
        ({"tolerance": float("nan")}, "--baseline-tolerance nan: give a fraction"),
    ],
)
def test_gate_settings_are_validated(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        GateSettings(dir=tmp_path, **settings)
    assert str(caught.value).startswith(message)
    GateSettings(dir=tmp_path, runs=1, tolerance=0.0)
    GateSettings(dir=tmp_path / "not yet", runs=10, tolerance=9.99)


def test_only_scenarios_that_passed_in_a_green_run_count(tmp_path: Path) -> None:
    # A green run's `caught` scenario is a broken topology doing its job: no figure to keep.
    history = history_of(tmp_path, report(scenario("kill-api", status="caught"), scenario("other")))
    assert judge(report(scenario("kill-api")), history) == []
    assert judge(report(scenario("kill-api", status="caught")), history_of(tmp_path, report())) == []


# -- the noise band, the limit and its floors -------------------------------------------------


@pytest.mark.parametrize(
    ("values", "band"),
    [
        ([], 0.0),
        ([330.0], 0.0),
        ([300.0, 330.0, 360.0], 60.0 / 330.0),
        ([1.0, 3.0], 2.0 / 2.0),  # median of an even count: the mean of the middle two
        ([0.0, 0.0, 2.0], 0.0),  # a median of 0 has no relative spread
    ],
)
def test_noise_band_is_the_spread_over_the_median(values: list[float], band: float) -> None:
    assert noise_band(values) == pytest.approx(band)


def test_a_drift_beyond_the_tolerance_regresses(tmp_path: Path) -> None:
    got = p99_of(judge(report(scenario(p99_ms=412.0)), p99_history(tmp_path, 325, 330, 335)))
    assert (got.median, got.limit, got.passed) == (330.0, pytest.approx(368.0), False)
    assert got.values == (335.0, 330.0, 325.0)  # newest first
    assert (
        got.message == "api.complete: p99 412 ms > 368 ms during the fault (median 330 ms of 3 green runs + 10% + 5 ms)"
    )


def test_a_drift_within_the_noise_band_of_noisy_green_runs_passes(tmp_path: Path) -> None:
    history = p99_history(tmp_path, 250, 330, 400)  # band 150 / 330 = 45%: more room than the 10% tolerance
    ok = p99_of(judge(report(scenario(p99_ms=412.0)), history))
    assert ok.passed and ok.limit == pytest.approx(330.0 * (1 + 150.0 / 330.0) + 5.0)
    assert ok.message == (
        "api.complete: p99 412 ms <= 485 ms during the fault (median 330 ms of 3 green runs + 45% noise band + 5 ms)"
    )
    assert not p99_of(judge(report(scenario(p99_ms=490.0)), history)).passed


def test_the_tolerance_is_a_fraction_and_the_limit_is_inclusive() -> None:
    p99 = KINDS["p99_ms"]
    at_limit = judge_figure(Figure("s", "api.complete", p99, 235.0, "during"), [100.0, 100.0], 1.3)
    assert at_limit.passed and at_limit.limit == 235.0
    above = judge_figure(Figure("s", "api.complete", p99, 235.001, "during"), [100.0, 100.0], 1.3)
    assert not above.passed
    assert above.message.startswith(
        "api.complete: p99 235.001 ms > 235.000 ms during the fault (median 100 ms of 2 green runs + 130% + 5 ms)"
    )


@pytest.mark.parametrize(
    ("kind", "green", "still_ok", "regressed", "floor_text"),
    [
        ("p99_ms", 2.0, 7.2, 7.3, "5 ms"),  # 2 ms * 1.1 + 5 ms
        ("longest_failure_run", 0.0, 2.0, 3.0, "2"),
        ("fallback_share", 0.0, 0.02, 0.021, "2 points"),
        ("detection_s", 0.1, 0.36, 0.37, "0.25 s"),
        ("rejoin_s", 0.1, 0.36, 0.37, "0.25 s"),
        ("write_gap_s", 0.0, 0.25, 0.26, "0.25 s"),
        ("restore_write_gap_s", 0.0, 0.25, 0.26, "0.25 s"),
        ("recovery_s", 0.0, 0.25, 0.26, "0.25 s"),
    ],
)
def test_floors_keep_tiny_figures_from_flapping(
    kind: str, green: float, still_ok: float, regressed: float, floor_text: str
) -> None:
    values = [green, green, green]
    ok = judge_figure(Figure("s", "p", KINDS[kind], still_ok, "during"), values, 0.1)
    bad = judge_figure(Figure("s", "p", KINDS[kind], regressed, "during"), values, 0.1)
    assert (ok.passed, bad.passed) == (True, False)
    assert bad.message.endswith(f" + 10% + {floor_text})")


def test_figures_come_from_the_during_window_else_from_the_whole_run(tmp_path: Path) -> None:
    with_windows = {
        (j.figure.kind.name, j.figure.window, j.figure.value) for j in judge(report(), p99_history(tmp_path, 330))
    }
    assert with_windows == {
        ("p99_ms", "during", 330.0),
        ("longest_failure_run", "during", 0.0),
        ("fallback_share", "during", 0.0),
    }
    history = history_of(tmp_path / "w", report(scenario(windows=False)))
    p99 = p99_of(judge(report(scenario(windows=False, p99_ms=600.0)), history))
    assert (p99.figure.window, p99.figure.value, p99.median) == ("all", 200.0, 110.0)
    assert p99.message == "api.complete: p99 200 ms > 126 ms over the run (median 110 ms of 1 green run + 10% + 5 ms)"


def lb_checks(edge_s: Sequence[float | None], api_lb_s: float) -> list[dict[str, Any]]:
    return [
        *(check("lb_down", "edge", s, passed=s is not None) for s in edge_s),
        check("lb_down", "api_lb", api_lb_s),
        check("lb_rejoin", "edge", 1.0, window="after"),
        check("write_gap", "api.sessions", 1.8),
        check("restore_write_gap", "api.sessions", 0.4, window="after"),
        check("recovery", "api.complete", 0.5, window="after"),
        check("lost_writes", "api.sessions", 0.0, window="after"),  # a count judged absolutely, not a drift
    ]


def test_detection_rejoin_write_gaps_and_recovery_are_judged_by_the_slowest_check_per_path(tmp_path: Path) -> None:
    history = history_of(tmp_path, *(report(scenario(checks=lb_checks([1.0, 0.9], 0.5))) for _ in range(3)))
    current = report(scenario(checks=lb_checks([0.8, 1.6, None], 0.5)))
    got = {(j.figure.path, j.figure.kind.name): j for j in judge(current, history) if j.figure.kind.name.endswith("_s")}
    assert sorted(got) == [
        ("api.complete", "recovery_s"),
        ("api.sessions", "restore_write_gap_s"),
        ("api.sessions", "write_gap_s"),
        ("api_lb", "detection_s"),
        ("edge", "detection_s"),
        ("edge", "rejoin_s"),
    ]
    edge = got[("edge", "detection_s")]
    assert (edge.figure.value, edge.median, edge.passed) == (1.6, 1.0, False)
    assert edge.message == "edge: slowest detection 1.60 s > 1.35 s (median 1.00 s of 3 green runs + 10% + 0.25 s)"
    assert all(j.passed for key, j in got.items() if key != ("edge", "detection_s"))


def test_figures_missing_from_the_run_or_from_every_green_run_are_not_judged(tmp_path: Path) -> None:
    history = history_of(tmp_path, report(scenario(paths=("api.complete", "api.sessions")), scenario("gone")))
    current = report(scenario(paths=("api.complete", "web.home")), scenario("new-drill"))
    gate = apply(current, history)
    assert {(j.figure.scenario, j.figure.path) for j in gate.judgements} == {("kill-api", "api.complete")}
    assert gate.report["baseline"]["notes"] == ["new-drill: in no green run, not judged"]


# -- applying the gate to the report -----------------------------------------------------------


def test_a_regression_turns_the_scenario_its_test_and_the_run_red_with_exit_1(tmp_path: Path) -> None:
    history = history_of(tmp_path, *(report(scenario(p99_ms=v), scenario("pause-web")) for v in (325, 330, 335)))
    current = report(scenario("kill-api", p99_ms=412.0), scenario("pause-web", p99_ms=330.0))
    before = copy.deepcopy(current)
    gate = apply(current, history)
    assert current == before  # the input is left as it was
    doc = gate.report
    message = "api.complete: p99 412 ms > 368 ms during the fault (median 330 ms of 3 green runs + 10% + 5 ms)"
    kill, pause = doc["scenarios"]
    assert (kill["status"], kill["verdict"]["passed"], kill["verdict"]["failures"]) == ("fail", False, [message])
    added = [c for c in kill["verdict"]["checks"] if c["name"] == "baseline"]
    assert [list(c) for c in added] == [list(kill["verdict"]["checks"][0])] * 3  # the keys of every check
    assert added[0] == {
        "name": "baseline",
        "path": "api.complete",
        "window": "baseline",
        "window_start_s": 2.0,
        "window_end_s": 8.0,
        "observed": 412.0,
        "limit": pytest.approx(368.0),
        "passed": False,
        "message": message,
    }
    assert pause["status"] == "pass" and pause["verdict"]["passed"]
    assert [(t["outcome"], t["message"]) for t in doc["tests"]] == [("failed", message), ("passed", "")]
    assert (doc["verdict"], doc["exit_code"]) == ("failed", 1)
    assert (gate.verdict.verdict, gate.verdict.exit_code) == ("failed", 1)
    summary = doc["summary"]
    assert (summary["tests"], summary["passed"], summary["failed"], summary["scenarios"]) == (2, 1, 1, 2)
    assert summary["scenario_status"] == {"pass": 1, "caught": 0, "fail": 1, "error": 0, "unjudged": 0}
    section = doc["baseline"]
    assert section["dir"] == str(tmp_path / "history")
    assert section["runs"] == [
        {"file": f"run{day}.json", "generated_at": f"2026-03-0{day}T12:00:00+00:00"} for day in (3, 2, 1)
    ]
    assert (section["tolerance"], section["judged"], section["regressions"], section["notes"]) == (0.1, 6, 1, [])
    assert section["figures"][0]["message"] == message and section["figures"][0]["values"] == [335.0, 330.0, 325.0]
    assert gate.describe() == (
        f"drift gate: 6 figures judged against 3 green runs in {tmp_path / 'history'} (tolerance 10%): 1 regression"
    )
    assert [o.outcome for o in gate.outcomes()] == ["failed", "passed"]


def test_a_run_within_its_history_stays_green_with_its_checks_added(tmp_path: Path) -> None:
    gate = apply(report(scenario(p99_ms=340.0)), p99_history(tmp_path, 325, 330, 335))
    doc = gate.report
    assert (doc["verdict"], doc["exit_code"], doc["scenarios"][0]["status"]) == ("passed", 0, "pass")
    added = [c for c in doc["scenarios"][0]["verdict"]["checks"] if c["name"] == "baseline"]
    assert len(added) == 3 and all(c["passed"] for c in added)
    assert added[0]["message"] == (
        "api.complete: p99 340 ms <= 368 ms during the fault (median 330 ms of 3 green runs + 10% + 5 ms)"
    )
    assert gate.regressions == () and doc["tests"][0]["outcome"] == "passed"


@pytest.mark.parametrize(
    ("extra", "verdict", "code"),
    [
        ("interrupted", "interrupted", 130),  # an interrupted run stays interrupted, whatever regressed
        ("error", "failed", 1),  # a known failure outranks an inconclusive error (failover_tests.outcomes)
    ],
)
def test_the_run_is_judged_again_by_the_usual_rules(tmp_path: Path, extra: str, verdict: str, code: int) -> None:
    current = report(scenario(p99_ms=412.0))
    current["tests"].append(Outcome("suites/test_x.py::test_other", extra, 1.0, "cut").to_dict())
    current["verdict"] = extra
    gate = apply(current, p99_history(tmp_path, 330))
    assert (gate.report["verdict"], gate.report["exit_code"]) == (verdict, code)
    assert gate.report["tests"][0]["outcome"] == "failed"


def test_a_failed_scenario_keeps_its_failures_and_gains_the_regression(tmp_path: Path) -> None:
    current = report(scenario(status="fail", p99_ms=412.0))
    gate = apply(current, p99_history(tmp_path, 330))
    failures = gate.report["scenarios"][0]["verdict"]["failures"]
    assert failures[0] == current["scenarios"][0]["verdict"]["failures"][0] and failures[1].startswith(
        "api.complete: p99 412 ms >"
    )
    assert gate.report["tests"][0]["message"] == ""  # its test failed already, on its own message


def test_a_scenario_no_test_ran_gets_a_failed_test_of_its_own(tmp_path: Path) -> None:
    current = report(scenario(p99_ms=412.0))
    current["tests"][0]["scenarios"] = []  # a helper ran it under its own label
    gate = apply(current, p99_history(tmp_path, 330))
    stand_in = gate.report["tests"][-1]
    assert (stand_in["name"], stand_in["outcome"], stand_in["scenarios"]) == ("kill-api", "failed", ["kill-api"])
    assert (gate.report["verdict"], gate.report["summary"]["tests"]) == ("failed", 2)


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(junit_xsd()))


def test_the_junit_file_carries_the_regression(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    gate = apply(report(scenario(p99_ms=412.0), scenario("pause-web")), p99_history(tmp_path, 330))
    xml = junit_xml(gate.report)
    schema.validate(ET.fromstring(xml))
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failure = suite.find("testcase/failure")
    message = "api.complete: p99 412 ms > 368 ms during the fault (median 330 ms of 1 green run + 10% + 5 ms)"
    assert failure is not None and failure.get("message") == message and message in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert (props["verdict"], props["exit_code"], props["kill-api.status"]) == ("failed", "1", "fail")


def test_save_baseline_names_the_copy_by_its_generated_at_and_it_counts_next_time(tmp_path: Path) -> None:
    source = keep(tmp_path, "reports/report.json", report(at="2026-03-01T13:00:05+01:00"))
    saved = save_baseline(source, "2026-03-01T13:00:05+01:00", tmp_path / "cache" / "history")
    assert saved == tmp_path / "cache" / "history" / "report-20260301T120005Z.json"
    assert saved.read_bytes() == source.read_bytes()
    assert [r.file for r in load_baselines(tmp_path / "cache").runs] == [saved]


def test_save_baseline_keeps_only_the_newest_of_its_own_files(tmp_path: Path) -> None:
    history = tmp_path / "history"
    mine = keep(history, "my-notes.json", "{}")  # not a file --baseline-save wrote: never touched
    source = keep(tmp_path, "reports/report.json", report())
    for day in range(1, 6):
        save_baseline(source, f"2026-03-{day:02d}T12:00:00+00:00", history, keep=3)
    names = sorted(p.name for p in history.glob("report-*.json"))
    assert names == ["report-20260303T120000Z.json", "report-20260304T120000Z.json", "report-20260305T120000Z.json"]
    assert mine.is_file()


def test_the_gate_does_not_depend_on_the_renderer() -> None:
    import subprocess
    import sys

    code = "import sys, failover_tests.baseline; print('jinja2' in sys.modules, 'failover_tests.report' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
