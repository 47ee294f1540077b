"""The drift gate wired into `stackdrill drill --baseline` (no stack, no Docker): bad options refused
before anything is created, reports as the kit writes them judged against their history, and a
drill run in-process on throwaway tests turned red by a regression."""

from __future__ import annotations

import html
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from failover_tests.baseline import GateSettings, apply, load_baselines
from failover_tests.report import build_report, render_html, write_report, write_report_json
from tests.fakes import DrillRun, drill_in_process
from tests.unit.test_report import PATHS, make_results

ROOT = Path(__file__).resolve().parents[2]

# -- bad options: one line, exit 2, nothing created --------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--baseline", "{file}"], "--baseline {file}: is a file; give the directory where the pipeline keeps green"),
        (["--baseline", "{dir}", "--baseline-runs", "0"], "--baseline-runs 0: give 1 or more"),
        (["--baseline", "{dir}", "--baseline-tolerance", "10"], "--baseline-tolerance 10: give a fraction from 0"),
        (["--baseline", "{dir}", "--baseline-tolerance", "-0.5"], "--baseline-tolerance -0.5: give a fraction from 0"),
        (["--baseline-save"], "--baseline-save needs --baseline DIR, the directory that keeps green report.json"),
        (["--baseline-runs", "5"], "--baseline-runs needs --baseline DIR"),
        (["--baseline-tolerance", "0.2"], "--baseline-tolerance needs --baseline DIR"),
    ],
)
def test_bad_baseline_options_exit_2_with_one_line_before_anything_is_created(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    message: str,
) -> None:
    from stackdrill import cli

    file = tmp_path / "report.json"
    file.write_text("{}")
    where = {"file": str(file), "dir": str(tmp_path / "history")}

    def no_drill(*args: object, **kwargs: object) -> int:
        raise AssertionError("the drill started: the options were not refused first")

    monkeypatch.chdir(ROOT)  # the topology resolves from the repo
    monkeypatch.setattr("stackdrill.drill.run_drill", no_drill)
    monkeypatch.setattr("failover_tests.interrupts.sigint_as_interrupt", lambda: None)
    monkeypatch.setattr("failover_tests.interrupts.sigterm_as_interrupt", lambda: None)
    monkeypatch.setattr("logging.basicConfig", lambda **kwargs: None)
    reports = tmp_path / "reports"
    argv = ["stackdrill", "drill", "--report-dir", str(reports), *(o.format(**where) for o in options)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: " + message.format(**where)), err
    assert not reports.exists() and not (tmp_path / "history").exists()


# -- reports as the kit writes them ------------------------------------------------------------


def test_a_report_judged_against_itself_holds_every_figure(tmp_path: Path) -> None:
    # The figures are read from report.json as `build_report` writes it, not only from the unit tests' dicts.
    _, passing, _ = make_results()
    write_report_json(build_report([passing], {}), tmp_path / "history")
    current = build_report([passing], {})
    gate = apply(current, load_baselines(tmp_path / "history"))
    kinds = {(j.figure.path, j.figure.kind.name, j.figure.window) for j in gate.judgements}
    expected = {(p, k, "during") for p in PATHS for k in ("p99_ms", "longest_failure_run", "fallback_share")}
    assert kinds == expected | {(p, "recovery_s", "after") for p in PATHS}
    assert all(j.passed for j in gate.judgements)
    assert (gate.report["verdict"], gate.report["exit_code"]) == ("passed", 0)


def test_the_html_shows_the_gate_as_report_json_says(tmp_path: Path) -> None:
    _, passing, _ = make_results()
    green = build_report([passing], {})
    for stats in green["scenarios"][0]["stats"]:  # type: ignore[index]
        stats["p99_ms"] /= 3  # the history was three times faster
    write_report_json(green, tmp_path / "history")
    gate = apply(build_report([passing], {}), load_baselines(tmp_path / "history"))
    assert gate.regressions
    page = render_html([passing], gate.report, tmp_path / "out").read_text()
    assert 'data-status="fail"' in page and 'data-verdict="failed"' in page
    assert 'id="baseline"' in page and html.escape(gate.regressions[0].message) in page
    _, plain = write_report([passing], tmp_path / "plain", {})
    assert 'id="baseline"' not in plain.read_text() and 'data-status="pass"' in plain.read_text()


# -- a drill run in-process, on a throwaway scenario ------------------------------------------

SUITE = """
from failover_tests.results import ScenarioResult
from failover_tests.slo import SLO, evaluate, windows_around
from failover_tests.traffic import Record

LATENCY_MS = {latency_ms}


def test_kill_api(drill_report, request):
    records = [
        Record(path="api.complete", seq=i, scheduled_s=i * 0.1, latency_ms=LATENCY_MS + i % 3, status=200, ok=True,
               replica="api-0", endpoint="edge-0", error=None, fallback=False,
               completed_s=i * 0.1 + LATENCY_MS / 1000)
        for i in range(100)
    ]
    windows = windows_around(2.0, 6.0, 10.0)
    verdict = evaluate(records, [SLO("api.complete", max_p99_ms=5000)], windows, "kill(api-1)")
    drill_report.tests.ran_scenario(request.node.nodeid, "kill-api")
    drill_report.add(ScenarioResult(
        name="kill-api", fault_label="kill(api-1)", fault_start_s=2.0, fault_end_s=6.0, windows=windows,
        verdict=verdict, records=records, duration_s=10.0, paths=("api.complete",),
    ))
"""


def drill(tmp_path: Path, latency_ms: float, settings: GateSettings) -> DrillRun:
    """`stackdrill drill --baseline ...` in-process on one throwaway test that reports one scenario."""
    return drill_in_process(tmp_path, SUITE.format(latency_ms=latency_ms), stem="gate_suite", baseline=settings)


def test_a_drill_keeps_its_green_runs_and_a_regression_fails_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # topology files resolve from the repo
    history = tmp_path / "ci-cache" / "history"
    settings = GateSettings(dir=history, save=True)

    first = drill(tmp_path, 100.0, settings)
    assert first.code == 0 and first.report["verdict"] == "passed"
    assert f"drift gate skipped: no green run in {history} to judge against" in first.out
    [saved] = history.glob("report-*.json")
    assert f"saved as a green baseline: {saved}" in first.out
    assert json.loads(saved.read_text()) == first.report

    slow = drill(tmp_path, 300.0, settings)
    assert slow.code == 1
    doc = slow.report
    assert (doc["verdict"], doc["exit_code"], doc["scenarios"][0]["status"]) == ("failed", 1, "fail")
    [regression] = doc["scenarios"][0]["verdict"]["failures"]
    pattern = r"api\.complete: p99 30\d ms > 11\d ms during the fault \(median 10\d ms of 1 green run \+ 10% \+ 5 ms\)"
    assert re.fullmatch(pattern, regression), regression
    assert [(t["outcome"], t["message"]) for t in doc["tests"]] == [("failed", regression)]
    assert f"REGRESSION kill-api: {regression}" in slow.out
    assert f"drift gate: 3 figures judged against 1 green run in {history} (tolerance 10%): 1 regression" in slow.out
    assert "not saved as a baseline: the run is not green" in slow.out
    assert "0 passed, 1 failed, 0 errors, 0 skipped, 0 interrupted in" in slow.out and "FAILED (exit 1)" in slow.out
    failure = ET.parse(slow.reports / "junit.xml").find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == regression
    assert 'data-status="fail"' in (slow.reports / "report.html").read_text()
    assert list(history.glob("report-*.json")) == [saved]  # a red run does not join the history
