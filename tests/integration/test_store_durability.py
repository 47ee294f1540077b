"""The session store keeps what it acknowledged: across a zone loss (default topology), and the kit
sees the loss when the topology is unsafe (no persistence). Checked directly against the API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from failover_tests import scenario as scenario_mod
from failover_tests.catalog.named import primary_restart
from failover_tests.catalog.presets import scenario, slo
from failover_tests.runner import ScenarioRunner
from infra import store_state


def _write(edge: str, keys: list[str]) -> None:
    for key in keys:
        resp = requests.put(f"{edge}/v1/sessions/{key}", json={"n": key}, timeout=5)
        assert resp.status_code in (200, 201, 204), f"writing {key}: HTTP {resp.status_code} {resp.text[:100]}"


def _still_there(edge: str, keys: list[str]) -> int:
    return sum(requests.get(f"{edge}/v1/sessions/{key}", timeout=5).status_code == 200 for key in keys)


@pytest.mark.destructive
def test_fifty_sessions_survive_the_loss_of_the_primarys_zone(stack: Any) -> None:
    """Write 50 sessions, lose the zone holding the primary, read them back: 50 of 50."""
    keys = [f"durable-{uuid.uuid4().hex[:8]}-{i}" for i in range(50)]
    _write(stack.edges[0], keys)
    before = store_state.read(stack.outputs.containers).primary()
    drill = scenario(
        "zone-loss-durability",
        "lose the primary's zone with 50 sessions written before it",
        {"name": "kill", "target": "zone=@primary"},
        slos=[slo("api.sessions", windows=("before",))],
        duration_s=8.0,
        recovery_s=6.0,
        paths=["api.sessions"],
    )
    result = scenario_mod.run(stack, scenario_mod.parse(drill))
    assert result.error is None, result.error
    after = store_state.read(stack.outputs.containers).primary()
    assert after != before, f"the zone loss did not move the primary (still {after}): no failover was exercised"
    kept = _still_there(stack.edges[1], keys)
    assert kept == 50, f"{50 - kept} of 50 sessions written before the zone loss are gone"


@pytest.mark.destructive
def test_a_primary_without_persistence_loses_writes_and_the_drill_says_so(
    stack_factory: Any, drill_report: Any
) -> None:
    """No AOF: a quick restart of the primary wipes it and its replica; primary-restart goes red."""
    broken = stack_factory("tests/topologies/Pulumi.no-persistence.yaml")
    keys = [f"volatile-{uuid.uuid4().hex[:8]}-{i}" for i in range(20)]
    _write(broken.edges[0], keys)
    drill = primary_restart()
    drill["name"] = "primary-restart-on-no-persistence"
    drill["expect"] = "fail"
    result = ScenarioRunner(broken, drill_report, "broken::no-persistence").run(drill)
    assert result.verdict is not None
    # Sentinel (5 s down-after there) does not notice the restart: the emptied primary wipes its
    # replica, and every session written before the restart is gone.
    lost = [c for c in result.verdict.failures if c.name == "lost_writes"]
    assert lost and lost[0].observed, f"no lost writes judged: {result.verdict.failure_message()}"
    # The verdict says what the store holds now, so a red run can tell a wipe from a demotion.
    assert "store now:" in lost[0].message and "keys, aof off" in lost[0].message, lost[0].message
    assert _still_there(broken.edges[0], keys) == 0, "sessions written before the restart survived it"


@pytest.mark.destructive
def test_the_default_store_keeps_every_write_across_a_primary_restart(stack: Any, drill_report: Any) -> None:
    """The same drill on the default topology (AOF): nothing lost."""
    keys = [f"kept-{uuid.uuid4().hex[:8]}-{i}" for i in range(20)]
    _write(stack.edges[0], keys)
    drill = primary_restart()
    drill["name"] = "primary-restart-on-default"
    result = ScenarioRunner(stack, drill_report, "default::primary-restart").run(drill)
    assert result.verdict is not None and result.verdict.passed
    assert _still_there(stack.edges[0], keys) == 20
