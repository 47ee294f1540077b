"""Replica loss per tier: kill one replica, then pause one (a hung process), with traffic flowing.

(Kills of every replica group also run in the failover matrix, test_matrix.py.)

The paths stay within SLO, the LBs mark the replica down within the check budget, the
status page shows the tier degraded, and the replica rejoins after revert.
"""

from __future__ import annotations

from typing import Any

import pytest

from failover_tests.presets import scenario

# tier -> (LB tier, backend on it, status page component)
TIERS = {
    "web": ("edge", "be_web", "web"),
    "api": ("edge", "be_api", "api"),
    "model": ("model_lb", "be_model", "model"),
}


@pytest.mark.destructive
@pytest.mark.parametrize("fault", ["kill", "pause"])
@pytest.mark.parametrize("tier", list(TIERS))
def test_replica_loss(scenario_runner: Any, tier: str, fault: str) -> None:
    lb, backend, component = TIERS[tier]
    scenario_runner.run(
        scenario(
            f"{fault}-one-{tier}",
            f"{fault} {tier}-1 while traffic flows; the LB routes around it and takes it back after revert",
            {"name": fault, "target": f"{tier}-1"},
            lb_marks_down={"lb": lb, "backend": backend, "within_s": 3.0},
            status={"component": component, "during": "degraded", "within_s": 10.0},
        )
    )
