"""The kit's detection power, key by key: a topology weakened on one key turns the drill that
guards it red, while the default topology passes the very same drill.

Each weakened topology is the default with one override (written to a temporary
`Pulumi.<name>.yaml`). Broken topologies that live in `tests/topologies/` are proven in
`test_broken_topologies.py` and `test_store_durability.py`; this file covers the other keys.
Keys with no weakening that hurts failover at the traffic these drills offer are listed in
NOT_DRILLED with the reason, so the table stays complete.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from failover_tests.catalog.matrix import entries
from failover_tests.catalog.named import datastore_failover, primary_zone_loss, replica_loss, slow_model
from failover_tests.runner import ScenarioRunner
from infra import topology
from infra.topology import CONFIG_KEY

ROOT = Path(__file__).resolve().parents[2]


def _matrix(name: str) -> Callable[[str], dict[str, Any]]:
    """The failover matrix's scenario of that name, as generated for a topology (default: default)."""

    def make(topology_path: str = "default") -> dict[str, Any]:
        return copy.deepcopy(next(e.scenario for e in entries(topology.load(topology_path)) if e.name == name))

    return make


@dataclass(frozen=True)
class Weakening:
    """One key weakened, and the drill that must catch it."""

    override: dict[str, Any]
    drill: Callable[[], dict[str, Any]] | None = None
    matrix: str = ""  # or: the failover matrix's scenario of this name, generated for the weakened topology

    def scenario(self, topology_path: str) -> dict[str, Any]:
        """The drill's scenario for the topology it runs on."""
        if self.matrix:
            return _matrix(self.matrix)(topology_path)
        assert self.drill is not None
        return self.drill()


WEAKENINGS: dict[str, Weakening] = {
    # A hung replica holds its requests until `timeout server`: 10 s outlives the client's 3 s budget.
    "w-edge-timeout": Weakening(
        {"edge": {"timeout_server_ms": 10000}, "api_lb": {"timeout_server_ms": 10000}},
        lambda: replica_loss("api", "pause"),
    ),
    # Retries without redispatch go back to the same hung server.
    "w-redispatch": Weakening(
        {"edge": {"redispatch": False}, "api_lb": {"redispatch": False}}, lambda: replica_loss("api", "pause")
    ),
    # The web path reaches the API through the internal LB: without its checks, web pages hang.
    "w-apilb-checks": Weakening({"api_lb": {"health_check": {"enabled": False}}}, lambda: replica_loss("api", "pause")),
    # Without a short model timeout, +2 s on the model is +2 s on every completion.
    "w-model-timeout": Weakening({"api": {"resilience": {"model_timeout_ms": 5000}}}, slow_model),
    # Sentinel waits 8 s before calling the primary down: writes fail for longer than 3 s.
    "w-down-after": Weakening({"store": {"down_after_ms": 8000}}, datastore_failover),
    # A quorum no zone loss can reach: the primary's zone takes a Sentinel with it, no failover.
    "w-quorum": Weakening({"store": {"quorum": 3}}, primary_zone_loss),
    # Nothing to promote.
    "w-no-replica": Weakening({"store": {"replicas": 0}}, datastore_failover),
    # A status page that never looks: the store failover goes unreported.
    "w-static-status": Weakening({"status": {"mode": "static"}}, datastore_failover),
    # One replica of a tier: losing it is an outage of its path.
    "w-one-web": Weakening({"web": {"replicas": 1}}, matrix="lose-one-web"),
    "w-one-model": Weakening({"model": {"replicas": 1}}, matrix="lose-one-model"),
    "w-one-edge": Weakening({"edge": {"replicas": 1}}, matrix="lose-one-edge"),
}

# Keys whose weakening no drill here can see, and why (kept beside the table on purpose).
NOT_DRILLED = {
    "api.resilience.bulkhead_model / bulkhead_store": "the protected API is asynchronous: an unbounded "
    "bulkhead only matters once a slow dependency holds more calls than the event loop can carry, far "
    "above the 10-40 req/s these drills offer",
    "healthcheck.*": "Docker health checks gate readiness (up, steady-state gate), not failover",
    "model_lb.timeout_server_ms": "the API's own model timeout (600 ms) cuts first",
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def _write_topology(tmp: Path, name: str, override: dict[str, Any]) -> str:
    default = yaml.safe_load((ROOT / "Pulumi.default.yaml").read_text())["config"][CONFIG_KEY]
    path = tmp / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {CONFIG_KEY: _merge(default, override)}}))
    topology.load(str(path))  # a weakening must still be a valid topology
    return str(path)


@pytest.mark.destructive
@pytest.mark.parametrize("case", list(WEAKENINGS))
def test_weakened_topology_is_caught(
    case: str, stack_factory: Any, drill_report: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    weakening = WEAKENINGS[case]
    path = _write_topology(tmp_path_factory.mktemp("topologies"), case, weakening.override)
    weak = stack_factory(path)
    drill = weakening.scenario(path)
    drill["name"] = f"{drill['name']}-on-{case}"
    drill["expect"] = "fail"  # shown as an expected failure in the report
    # Judged here rather than with `expect: fail`, which counts client checks only: a lying
    # status page is caught by the status checks, and that is the point of its drill.
    result = ScenarioRunner(weak, drill_report, f"weakened::{case}").run(drill, check=False)
    if _failed_before(result):
        # Open defect, not understood yet: a stack made seconds earlier sometimes holds requests
        # for 3 s in the first second of a drill's traffic, after a clean baseline burst (CI:
        # 2 of 12 weakened stacks per run, never on the default stack). Such a run proves
        # nothing either way, so the drill runs once more on the same, now warm, stack.
        result = ScenarioRunner(weak, drill_report, f"weakened::{case}::again").run(drill, check=False)
    assert result.error is None, result.error
    assert result.verdict is not None
    failures = result.verdict.failures
    assert failures, f"{case}: every check held: no drill sees this weakening"
    before = _failed_before(result)
    assert not before, f"{case}: clients failed before the fault, so it proves nothing: {before}"


def _failed_before(result: Any) -> list[str]:
    """The client checks of the `before` window that failed."""
    if result.verdict is None:
        return []
    paths = set(result.path_names)
    return [c.message for c in result.verdict.failures if c.window == "before" and c.path in paths]


DEFAULT_DRILLS: dict[str, Callable[[], dict[str, Any]]] = {
    "pause-one-api": lambda: replica_loss("api", "pause"),
    "slow-model-protected": slow_model,
    "datastore-failover": datastore_failover,
    "primary-zone-loss": primary_zone_loss,
    "lose-one-web": lambda: _matrix("lose-one-web")("default"),
    "lose-one-model": lambda: _matrix("lose-one-model")("default"),
    "lose-one-edge": lambda: _matrix("lose-one-edge")("default"),
}


def test_every_weakening_has_a_drill_the_default_passes() -> None:
    """The drills of the weakenings are exactly the ones run on the default below."""
    names = {w.scenario("default")["name"] for w in WEAKENINGS.values()}
    assert names <= set(DEFAULT_DRILLS), sorted(names - set(DEFAULT_DRILLS))


@pytest.mark.destructive
@pytest.mark.parametrize("drill_name", list(DEFAULT_DRILLS))
def test_default_topology_passes_the_same_drill(drill_name: str, stack: Any, drill_report: Any) -> None:
    drill = DEFAULT_DRILLS[drill_name]()
    drill["name"] = f"{drill['name']}-on-default"
    ScenarioRunner(stack, drill_report, f"default::{drill_name}").run(drill)
