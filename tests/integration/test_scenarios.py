"""Scenarios end to end: one written only in YAML and one in Python run through pytest against the
live stack, pass, and appear in the report; an impossible SLO fails with the documented message;
an invalid YAML scenario fails at collection; the HTML report draws its charts in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from failover_tests.catalog.presets import scenario, slo
from failover_tests.runner import ReportCollector, ScenarioRunner
from infra import outputs as O
from infra.docker_resources import kit_objects
from infra.errors import SLOViolation
from tests.integration.conftest import ROOT

PY_SCENARIO = """
from failover_tests.catalog.presets import scenario, responsive


def test_python_kill_one_model(scenario_runner):
    scenario_runner.run(scenario("python-kill-one-model", "kill model-0 from a Python test",
                                 {"name": "kill", "target": "model-0"}, duration_s=4, recovery_s=8))
"""


@pytest.fixture(scope="module")
def report_run(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the shipped YAML scenario and a Python scenario through pytest, against this session's stack."""
    work = tmp_path_factory.mktemp("drill")
    shutil.copy(ROOT / "failover_tests" / "suites" / "scenario_smoke.yaml", work / "scenario_smoke.yaml")
    (work / "test_python_scenario.py").write_text(PY_SCENARIO)
    reports = work / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(work), "-q", "-p", "no:cacheprovider", "--rootdir", str(work),
         "--stack-name", stack.name, "--keep-stack", "--report-dir", str(reports)],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=False,
    )  # fmt: skip
    return {"proc": proc, "reports": reports}


def test_yaml_and_python_scenarios_pass_and_are_reported(report_run: dict[str, Any]) -> None:
    proc = report_run["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout
    doc = json.loads((report_run["reports"] / "report.json").read_text())
    names = {s["name"]: s["status"] for s in doc["scenarios"]}
    assert names == {"yaml-kill-one-api": "pass", "python-kill-one-model": "pass"}
    html = (report_run["reports"] / "report.html").read_text()
    assert "yaml-kill-one-api" in html and "python-kill-one-model" in html


def test_report_charts_are_drawn_in_a_real_browser(report_run: dict[str, Any]) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "headless Chromium is needed: apt-get install -y chromium (make test installs it)"
    html = report_run["reports"] / "report.html"
    assert not re.search(r'(src|href)="https?://', html.read_text()), "the report must be self-contained"
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"]  # fmt: skip
        dom = subprocess.run([chromium, *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True,
                             timeout=120, check=False).stdout  # fmt: skip
        shot = ROOT / "reports" / "e2e-report.png"
        shot.parent.mkdir(exist_ok=True)
        subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1400,2200", html.as_uri()],
                       capture_output=True, timeout=120, check=False)  # fmt: skip
    charts = re.findall(r'<svg[^>]*class="chart"[^>]*data-chart="(\w+)"', dom)
    assert {"latency", "replicas", "status"} <= set(charts), charts
    assert dom.count("<path") > 10 and "fault window" in dom.lower()
    assert shot.exists() and shot.stat().st_size > 20_000


def test_impossible_slo_fails_with_the_documented_message(stack: Any, tmp_path: Path) -> None:
    runner = ScenarioRunner(stack, ReportCollector(tmp_path), "impossible")
    impossible = scenario(
        "impossible-slo", "p99 of 1 ms cannot hold", {"name": "kill", "target": "api-1"},
        slos=[slo("api.complete", p99_ms=1, windows=("during",), recovery_s=None)], duration_s=3, recovery_s=3,
    )  # fmt: skip
    with pytest.raises(SLOViolation) as info:
        runner.run(impossible)
    assert isinstance(info.value, AssertionError)
    line = str(info.value).splitlines()[0]
    assert re.fullmatch(r"api\.complete: p99 \d+ ms > 1 ms during kill\(api-1\) \[\d+\.\d s\.\.\d+\.\d s\]", line), line
    stack.wait_steady()


def test_invalid_yaml_scenario_fails_at_collection_before_any_stack(tmp_path: Path) -> None:
    (tmp_path / "scenario_bad.yaml").write_text("name: bad\nfault: {name: latency, target: api_model}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--stack-name", "neverup"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "scenario_bad.yaml: fault latency: missing parameter 'latency_ms'" in proc.stdout
    assert "Traceback" not in proc.stdout
    assert kit_objects(f"{O.LABEL_STACK}=neverup") == ([], [])
