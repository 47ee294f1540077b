"""The drill's JUnit XML: valid against the schema CI servers read, and saying what report.json says."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from failover_tests.outcomes import Outcome
from failover_tests.report import write_report
from failover_tests.report.junit import junit_xml, write_junit
from tests.junit_schema import junit_xsd
from tests.unit.test_report import PREFLIGHT, make_results


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(junit_xsd()))


def report_of(tmp_path: Path) -> dict[str, object]:
    failing, passing, crashed = make_results()
    tests = [
        Outcome(PREFLIGHT, "passed", 0.3, ""),
        Outcome("suites/test_matrix.py::test_lose_one[a]", "failed", 31.0, "SLO violated", (failing.name,)),
        Outcome("suites/test_matrix.py::test_lose_one[b]", "passed", 30.5, "", (passing.name,)),
        Outcome("suites/test_outages.py::test_crash", "error", 0.1, "FaultError: not found", (crashed.name,)),
    ]
    json_path, _ = write_report([failing, passing, crashed], tmp_path, {"topology": "default", "seed": 42}, tests=tests)
    return dict(json.loads(json_path.read_text()))


def test_the_junit_file_is_valid_against_the_jenkins_schema(schema: xmlschema.XMLSchema, tmp_path: Path) -> None:
    path = write_junit(report_of(tmp_path), tmp_path / "out" / "junit.xml")
    schema.validate(str(path))  # raises with the first violation
    assert path.read_bytes().startswith(b"<?xml")


def test_the_schema_rejects_what_ci_servers_would_not_read(schema: xmlschema.XMLSchema) -> None:
    # The validation is real: a testcase without a name, or with properties, is refused.
    assert not schema.is_valid("<testsuites><testsuite name='s' tests='1' failures='0' errors='0'>"
                               "<testcase classname='c'/></testsuite></testsuites>")  # fmt: skip
    assert not schema.is_valid("<testsuites><testsuite name='s' tests='1' failures='0' errors='0'>"
                               "<testcase name='t'><properties/></testcase></testsuite></testsuites>")  # fmt: skip


def test_one_testcase_per_test_with_its_outcome_and_failed_checks(tmp_path: Path) -> None:
    report = report_of(tmp_path)
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == 4
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    preflight, failed, passed, crashed = cases
    assert preflight.get("classname") == "failover_tests.suites.test_preflight"
    assert list(preflight) == [] and list(passed.iter("failure")) == []
    failure = failed.find("failure")
    assert failure is not None and failure.get("message") == "SLO violated"
    # Every failed check of the scenario is in the failure text, as report.json lists them.
    scenario = next(s for s in report["scenarios"] if s["name"] == make_results()[0].name)  # type: ignore[attr-defined]
    assert scenario["verdict"]["failures"] and all(m in (failure.text or "") for m in scenario["verdict"]["failures"])
    error = crashed.find("error")
    assert error is not None and "FaultError" in (error.text or "")


def test_figures_are_suite_properties_and_in_each_testcase_output(tmp_path: Path) -> None:
    root = ET.fromstring(junit_xml(report_of(tmp_path)))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    name = make_results()[1].name
    for figure in ("status", "success", "p99_ms", "longest_failure_run", "recovery_s", "requests"):
        assert f"{name}.{figure}" in props, figure
    assert props[f"{name}.status"] == "pass"
    assert (props["verdict"], props["exit_code"], props["topology"]) == ("failed", "1", "default")
    out = root.find("testsuite/testcase[3]/system-out")
    assert out is not None and f"{name}.p99_ms = {props[f'{name}.p99_ms']}" in (out.text or "")


def test_lb_detection_and_store_figures_are_named_per_lb_and_check() -> None:
    from failover_tests.report.junit import figures

    scenario = {
        "name": "lose-one-api",
        "status": "pass",
        "worst": {"success_ratio": 0.99},
        "verdict": {
            "checks": [
                {
                    "name": "lb_down",
                    "observed": 1.25,
                    "message": "sd-x-edge-0: be_api/sd-x-api-2 marked down after 1.2 s",
                },
                {"name": "lb_down", "observed": None, "message": "sd-x-edge-1: be_api/sd-x-api-2 not marked down"},
                {"name": "lost_writes", "observed": 0.0, "message": "0 of 300 lost"},
                {"name": "write_gap", "observed": 1.7, "message": "longest write gap 1.7 s"},
            ]
        },
    }
    assert figures(scenario) == {
        "status": "pass",
        "success": "0.99",
        "detection_s.sd-x-edge-0.sd-x-api-2": "1.25",
        "detection_s.sd-x-edge-1.sd-x-api-2": "never",
        "lost_writes": "0",
        "write_gap_s": "1.7",
    }
