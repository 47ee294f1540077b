"""Replica loss per tier: kill one replica, then pause one (a hung process), with traffic flowing.

Kills of one replica of every group run in the failover matrix (test_matrix.py), which
watches the same LBs; this file adds the hung-process case.

The paths stay within SLO, the LBs mark the replica down within the check budget, the
status page shows the tier degraded, and the replica rejoins after revert.
"""

from __future__ import annotations

from typing import Any

import pytest

from failover_tests.catalog.named import replica_loss
from failover_tests.catalog.presets import WATCHED_TIERS


@pytest.mark.destructive
@pytest.mark.parametrize("fault", ["pause"])
@pytest.mark.parametrize(
    "tier", [pytest.param(t, marks=pytest.mark.failover(name=f"pause-one-{t}"), id=t) for t in WATCHED_TIERS]
)
def test_replica_loss(scenario_runner: Any, tier: str, fault: str) -> None:
    scenario_runner.run(replica_loss(tier, fault))
