"""The failover matrix, generated from the topology under test: lose one of each."""

from __future__ import annotations

from typing import Any

import pytest

from failover_tests.matrix import entries
from infra import topology


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "entry" in metafunc.fixturenames:
        from failover_tests.plugin import option

        topo = topology.load(option(metafunc.config, "topology"))
        found = entries(topo)
        metafunc.parametrize("entry", found, ids=[e.name for e in found])


@pytest.mark.destructive
def test_lose_one(scenario_runner: Any, entry: Any) -> None:
    result = scenario_runner.run(entry.scenario, check=entry.survivable)
    if not entry.survivable:
        assert result.verdict is not None and not result.verdict.passed, (
            f"{entry.name}: a single point of failure was lost and no SLO noticed"
        )
