"""Proof that the suites can fail: each broken topology is caught by the drills that matter,
and the default topology passes the very same drills."""

from __future__ import annotations

from typing import Any

import pytest

from failover_tests.catalog.named import lose_api_replica, replica_loss, slow_model
from failover_tests.runner import ScenarioRunner

BROKEN = {
    "no-health-checks": ("tests/topologies/Pulumi.no-health-checks.yaml", lambda: replica_loss("api", "pause")),
    "single-api": ("tests/topologies/Pulumi.single-api.yaml", lose_api_replica),
    "naive": ("naive", lambda: slow_model("slow-model-naive")),
    "no-retries": ("tests/topologies/Pulumi.no-retries.yaml", lambda: replica_loss("api", "pause")),
}


@pytest.mark.destructive
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_topology_is_caught(case: str, stack_factory: Any, drill_report: Any) -> None:
    path, make = BROKEN[case]
    broken = stack_factory(path)
    drill = make()
    drill["name"] = f"{drill['name']}-on-{case}"
    drill["expect"] = "fail"  # the runner raises if every SLO held: the drill would be blind
    result = ScenarioRunner(broken, drill_report, f"broken::{case}").run(drill)
    assert result.verdict is not None
    # Caught for the right reason: the fault window (or the LB/status checks), not a cold start.
    during = [c.message for c in result.verdict.failures if c.window == "during"]
    assert during, f"{case}: failures only outside the fault: {result.verdict.failure_message()}"


@pytest.mark.destructive
@pytest.mark.parametrize("case", list(BROKEN))
def test_default_topology_passes_the_same_drill(case: str, stack: Any, drill_report: Any) -> None:
    drill = BROKEN[case][1]()
    drill["name"] = f"{drill['name']}-on-default"
    ScenarioRunner(stack, drill_report, f"default::{case}").run(drill)
