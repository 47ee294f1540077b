"""`stackdrill compare` on two small real topologies: a replica taken away is a regression named by
its scenario and check, and the single point of failure it adds is shown before anything runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from infra import docker_resources
from infra import outputs as O
from tests.integration.conftest import cli

# The one-of-everything topology with a second API replica: losing one of them is survivable.
TWO_API = """
config:
  stackdrill:topology:
    zones: [a]
    edge: {replicas: 1}
    web: {replicas: 1}
    api: {replicas: 2}
    model: {replicas: 1}
    integration: {replicas: 1}
    store: {replicas: 0, sentinels: 1, quorum: 1}
"""


def _stacks_left() -> list[str]:
    containers, networks = docker_resources.kit_objects()
    labels = [c.get("Labels") or {} for c in containers] + [n.get("Labels") or {} for n in networks]
    return sorted(
        {str(lab.get(O.LABEL_STACK, "")) for lab in labels if str(lab.get(O.LABEL_STACK, "")).startswith("cmp")}
    )


def test_compare_names_the_scenario_a_removed_replica_breaks(tmp_path: Path) -> None:
    base = tmp_path / "Pulumi.two-api.yaml"
    base.write_text(TWO_API)
    out = tmp_path / "compare"
    done = cli(
        "compare", str(base), "minimal", "lose-one-api",
        "--seed", "5", "--out", str(out), "--junit", str(out / "junit.xml"),
        timeout_s=1500,
    )  # fmt: skip
    assert done.returncode == 1, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # Before anything ran: the key that changed and the single point of failure it adds.
    assert "api.replicas: 2 -> 1" in done.stdout
    assert "SPOF added    api: one replica: losing it takes the tier down" in done.stdout
    doc = json.loads((out / "compare.json").read_text())
    assert (doc["verdict"], doc["exit_code"]) == ("regressed", 1)
    [scenario] = doc["scenarios"]
    assert scenario["name"] == "lose-one-api" and scenario["state"] == "regressed"
    assert (scenario["base"]["verdict"], scenario["candidate"]["verdict"]) == ("pass", "fail")
    head = scenario["regressions"][0]
    assert head.startswith("verdict pass -> fail: single point of failure: losing sd-cmp") and "api-0 took" in head
    assert [(r["side"], r["verdict"]) for r in doc["runs"]] == [("base", "passed"), ("candidate", "failed")]
    case = ET.parse(out / "junit.xml").getroot().find(".//testcase[@name='lose-one-api']/failure")
    assert case is not None and "single point of failure" in case.get("message", "")
    page = (out / "compare.html").read_text()
    assert "lose-one-api" in page and "api.replicas" in page
    assert (out / "base" / "run1" / "report.html").is_file() and (out / "candidate" / "run1" / "report.html").is_file()
    assert _stacks_left() == [], "a compared stack was left behind"
