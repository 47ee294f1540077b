"""The scenario engine on a fake stack (no Docker): real traffic against a local HTTP stand-in,
a real fault life cycle (journal, revert on every exit path), the steady-state gate before and after."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from failover_tests import scenario
from failover_tests.faults import base
from failover_tests.faults.base import Fault, FaultEnv, fault_class
from failover_tests.journal import Journal
from failover_tests.scenario import engine, gate
from failover_tests.targets import Inventory
from failover_tests.traffic import PathSpec, Probe, default_paths
from infra import topology
from infra.errors import FaultError, StackNotSteady
from infra.outputs import Container
from tests import fakes


class Outage(Fault):
    """Every answer of the fake edge becomes a 503 while it holds (registered per test only)."""

    name = "outage"
    family = "test"
    summary = "the edge answers 503"
    mechanism = "in memory"
    server: ClassVar[fakes.FakeServer]
    refuse = False  # act raises: a fault that cannot be applied

    def act(self, name: str) -> None:
        if self.refuse:
            raise RuntimeError("engine refused")
        self.server.status = 503

    def took_effect(self, name: str) -> bool:
        return self.server.status == 503

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        self.server.status = 200


class FakeLiveStack:
    """A LiveStack whose edges are one local HTTP server and whose gate answers from a script."""

    def __init__(self, server: fakes.FakeServer, journal_root: Path) -> None:
        self.name = "t"
        self.seed = 7
        self.topology = topology.load("default")
        self.outputs = fakes.outputs(fakes.containers([("api", 2)]), edges=(server.url, server.url))
        self.env = FaultEnv(
            stack="t", inventory=Inventory(self.outputs), toxiproxy_url="", journal=Journal("t", root=journal_root)
        )
        self.unsteady: list[list[str]] = []  # what steady_problems answers, call by call; then []
        self.gate_calls = 0

    @property
    def edges(self) -> list[str]:
        return list(self.outputs.edges)

    def containers(self, tier: str | None = None) -> list[Container]:
        return self.outputs.of_tier(tier)

    def fault(
        self, name: str, target: str, params: Mapping[str, Any] | None = None, rng: random.Random | None = None
    ) -> Fault:
        return fault_class(name)(self.env, target, params, rng=rng or random.Random(self.seed))

    def probe(
        self,
        *,
        rate_per_s: float = 20,
        duration_s: float = 20,
        paths: Sequence[PathSpec] | None = None,
        name: str = "probe",
    ) -> Probe:
        return Probe(
            self.edges, list(paths or default_paths()), rate_per_s=rate_per_s, duration_s=duration_s, name=name
        )

    def lbs(self, tier: str) -> list[str]:
        return []

    def lb_servers(self, lb: str, backend: str) -> dict[str, str]:
        return {}

    def status_page(self) -> dict[str, Any]:
        return {"components": {"api": {"state": "operational"}}}

    def store_contents(self) -> str:
        return "redis-0: master, 0 keys"

    def steady_problems(self) -> list[str]:
        self.gate_calls += 1
        return self.unsteady.pop(0) if self.unsteady else []


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLiveStack]:
    monkeypatch.setitem(base.REGISTRY, Outage.name, Outage)
    monkeypatch.setattr(gate, "BASELINE_S", 0.5)
    monkeypatch.setattr(gate, "BASELINE_DRAIN_S", 0.0)
    monkeypatch.setattr(engine, "STEADY_TIMEOUT_S", 1.0)
    server = fakes.FakeServer().start()
    Outage.server = server
    Outage.refuse = False
    stack = FakeLiveStack(server, tmp_path)
    yield stack
    server.close()


def drill(with_fault: bool = True) -> scenario.Scenario:
    return scenario.parse(
        {
            "name": "outage-drill",
            "steady_state_s": 1.0,
            "duration_s": 1.5,
            "recovery_s": 2.0,
            "judge_status": False,
            "traffic": {"rate_per_s": 20, "paths": ["api.complete"]},
            "slos": [{"path": "api.complete", "min_success": 0.99}],
            **({"fault": {"name": "outage", "target": "api-0"}} if with_fault else {}),
        }
    )


def windows_passed(result: Any) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for check in result.verdict.checks:
        out[check.window] = out.get(check.window, True) and check.passed
    return out


def test_a_fault_that_breaks_clients_fails_during_only_and_is_reverted(live: FakeLiveStack) -> None:
    result = engine.run(live, drill())
    assert result.error is None
    assert result.fault_label == "outage(api-0)" and result.targets == ["sd-t-api-0"]
    assert windows_passed(result) == {"before": True, "during": False, "after": True}
    failed = [c for c in result.verdict.failures]
    assert failed and all(c.path == "api.complete" for c in failed), result.verdict.failure_message()
    assert Outage.server.status == 200, "the fault was not reverted"
    assert live.env.journal.entries() == [], "a reverted fault stayed in the journal"
    assert live.gate_calls >= 2, "the steady state was not checked before and after"


def test_without_a_fault_the_same_slos_pass(live: FakeLiveStack) -> None:
    result = engine.run(live, drill(with_fault=False))
    assert result.error is None and result.verdict.passed, result.verdict.failure_message()
    assert result.fault_label == "baseline"


def test_a_stack_never_steady_before_is_a_kit_error_and_no_fault_lands(live: FakeLiveStack) -> None:
    live.unsteady = [["sd-t-api-1 is unhealthy"]] * 100
    with pytest.raises(StackNotSteady, match="sd-t-api-1 is unhealthy"):
        engine.run(live, drill())
    assert Outage.server.arrivals == [] and Outage.server.status == 200


def test_a_revert_that_never_converges_is_the_scenarios_error(live: FakeLiveStack) -> None:
    # Steady for the gate before (one call), then never again after the revert.
    live.unsteady = [[]] + [["status page says api outage"]] * 100
    result = engine.run(live, drill())
    assert result.error is not None and "StackNotSteady" in result.error
    assert "status page says api outage" in result.error
    assert Outage.server.status == 200


def test_a_fault_that_cannot_be_applied_is_rolled_back_and_reported(live: FakeLiveStack) -> None:
    Outage.refuse = True
    result = engine.run(live, drill())
    assert result.error is not None and "RuntimeError: engine refused" in result.error
    assert Outage.server.status == 200
    assert live.env.journal.entries() == []
    assert not isinstance(result.error, FaultError)
