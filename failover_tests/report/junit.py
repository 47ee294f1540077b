"""JUnit XML of a drill, derived from its report.json (so the two can never disagree).

One testcase per test the drill ran (a scenario test is named by its scenario), with the
outcome as failure, error or skipped and every failed check in the failure's text. The
figures of each scenario (success, fallback share, p99, longest failure run, detection per
LB, recovery, write gap, lost writes) are properties of the testsuite named
`<scenario>.<figure>`: the Jenkins/Surefire schema that CI servers read (junit-10.xsd) allows
properties there and not on a testcase; each testcase also lists its figures in system-out.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["figures", "junit_xml", "write_junit"]

_KIND = {"failed": "failure", "error": "error", "interrupted": "error", "skipped": "skipped"}


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def figures(scenario: Mapping[str, Any]) -> dict[str, str]:
    """The figures a pipeline charts for one scenario of report.json, as property values."""
    worst = scenario.get("worst") or {}
    out: dict[str, str] = {"status": str(scenario.get("status", ""))}
    for key, name in (
        ("success_ratio", "success"),
        ("fallback_share", "fallback_share"),
        ("p99_ms", "p99_ms"),
        ("longest_failure_run", "longest_failure_run"),
        ("recovery_s", "recovery_s"),
        ("requests", "requests"),
    ):
        if worst.get(key) is not None:
            out[name] = _fmt(worst[key])
    checks = (scenario.get("verdict") or {}).get("checks") or []
    for check in checks:
        observed = check.get("observed")
        if check.get("name") == "lb_down":
            # "sd-x-edge-0: be_api/sd-x-api-2 marked down after 1.2 s": the LB and server it names.
            where = str(check.get("message", "")).split(" ", 2)[:2]
            lb, server = where[0].rstrip(":"), where[1].split("/")[-1] if len(where) > 1 else ""
            out[f"detection_s.{lb}.{server}"] = "never" if observed is None else _fmt(observed)
        elif check.get("name") in ("lost_writes", "write_gap", "restore_write_gap") and observed is not None:
            out[str(check["name"]) + ("" if check["name"] == "lost_writes" else "_s")] = _fmt(observed)
    return out


def _failed_checks(scenarios: Sequence[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for s in scenarios:
        verdict = s.get("verdict") or {}
        lines += [str(m) for m in verdict.get("failures") or []]
        if s.get("error"):
            lines.append(f"{s['name']}: {s['error']}")
    return lines


def _classname(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return path.removesuffix(".py").removesuffix(".yaml").replace("/", ".")


def _testcases(report: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    by_name = {s["name"]: s for s in report.get("scenarios") or []}
    for test in report.get("tests") or []:
        yield test, [by_name[n] for n in test.get("scenarios") or [] if n in by_name]


def junit_xml(report: Mapping[str, Any], *, suite: str = "stackdrill drill") -> bytes:
    """The JUnit XML document of a report.json (as parsed)."""
    meta = report.get("meta") or {}
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_s = 0.0
    testsuite = ET.Element("testsuite", name=suite, hostname=socket.gethostname())
    props = ET.SubElement(testsuite, "properties")
    for key in ("topology", "stack", "seed"):
        if key in meta:
            ET.SubElement(props, "property", name=key, value=_fmt(meta[key]))
    ET.SubElement(props, "property", name="verdict", value=str(report.get("verdict", "")))
    ET.SubElement(props, "property", name="exit_code", value=_fmt(report.get("exit_code", "")))
    ET.SubElement(props, "property", name="report_schema", value=_fmt(report.get("schema", "")))
    for test, scenarios in _testcases(report):
        duration = float(test.get("duration_s") or 0.0)
        total_s += duration
        counts["tests"] += 1
        case = ET.SubElement(
            testsuite,
            "testcase",
            name=str(test.get("name", "")),
            classname=_classname(str(test.get("nodeid", ""))),
            time=f"{duration:.3f}",
        )
        outcome = str(test.get("outcome", ""))
        kind = _KIND.get(outcome)
        if kind is not None:
            counts["failures" if kind == "failure" else "errors" if kind == "error" else "skipped"] += 1
            message = str(test.get("message") or outcome).strip()
            node = ET.SubElement(case, kind, message=message.splitlines()[0][:500] if message else outcome)
            node.set("type", outcome)
            node.text = "\n".join([message, *_failed_checks(scenarios)]).strip()
        lines = []
        for s in scenarios:
            for name, value in figures(s).items():
                ET.SubElement(props, "property", name=f"{s['name']}.{name}", value=value)
                lines.append(f"{s['name']}.{name} = {value}")
        if lines:
            ET.SubElement(case, "system-out").text = "\n".join(lines)
    for key, count in counts.items():
        testsuite.set(key, str(count))
    testsuite.set("time", f"{total_s:.3f}")
    if report.get("generated_at"):
        testsuite.set("timestamp", str(report["generated_at"]))
    root = ET.Element("testsuites", name="stackdrill", time=f"{total_s:.3f}")
    for key in ("tests", "failures", "errors"):
        root.set(key, str(counts[key]))
    root.append(testsuite)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_junit(report: Mapping[str, Any], path: Path) -> Path:
    """Write the JUnit XML of a report.json to `path` (directories made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(report))
    return path
