"""The failover matrix, generated from the topology under test: lose one of each."""

from __future__ import annotations

from typing import Any

import pytest

from failover_tests.catalog.matrix import entries, spof_message
from infra import topology
from infra.errors import SLOViolation


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "entry" in metafunc.fixturenames:
        from failover_tests.plugin import option

        topo = topology.load(option(metafunc.config, "topology"))
        found = entries(topo)
        metafunc.parametrize("entry", found, ids=[e.name for e in found])


@pytest.mark.destructive
def test_lose_one(scenario_runner: Any, entry: Any) -> None:
    """Lose one of each: a single point of failure is judged like any replica, so losing it is FAILED."""
    result = scenario_runner.run(entry.scenario, check=entry.survivable)
    verdict = result.verdict
    if not entry.survivable and verdict is not None and not verdict.passed:
        raise SLOViolation(spof_message(", ".join(result.targets) or entry.victim, verdict))
