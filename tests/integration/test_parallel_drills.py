"""Two drills started at the same moment on one host, on two stack names, both pass without
touching each other: their ports, networks, journals, reports and Pulumi state stay apart."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from infra import docker_resources
from infra import outputs as O
from tests.integration.conftest import ROOT, STACKDRILL, light_drill

SCENARIO = light_drill("parallel-latency")


def test_two_drills_at_once_on_two_stacks_both_pass_apart(tmp_path: Path, stack: Any) -> None:
    scenario = tmp_path / "scenario_parallel.yaml"
    scenario.write_text(SCENARIO)
    names = [f"para{os.getpid()}", f"parb{os.getpid()}"]
    procs = {
        name: subprocess.Popen(
            [
                STACKDRILL,
                "drill",
                str(scenario),
                "-t",
                "minimal",
                "--stack-name",
                name,
                "--report-dir",
                str(tmp_path / name),
                "--junit",
                str(tmp_path / name / "junit.xml"),
                "--seed",
                "7",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in names
    }
    try:
        done = {name: proc.communicate(timeout=900) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    for name, (out, err) in done.items():
        assert procs[name].returncode == 0, f"{name}: exit {procs[name].returncode}\n{out[-2000:]}\n{err[-2000:]}"
        report = json.loads((tmp_path / name / "report.json").read_text())
        assert report["meta"]["stack"] == name and report["verdict"] == "passed"
        assert [s["status"] for s in report["scenarios"]] == ["pass"]
        assert report["scenarios"][0]["fault"] == "latency(api_model)"
        cases = ET.parse(tmp_path / name / "junit.xml").getroot().findall(".//testcase")
        assert [c.get("name") for c in cases] == ["parallel-latency"]
        # Torn down afterwards, each its own: nothing of either stack is left.
        assert docker_resources.kit_objects(f"{O.LABEL_STACK}={name}") == ([], [])
    assert docker_resources.kit_objects(f"{O.LABEL_STACK}={stack.name}")[0], "the session's stack was touched"
