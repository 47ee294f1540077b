"""`stackdrill mutate`: the mutant generator, the budget plan, and a run on throwaway drills (no stack)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from failover_tests.catalog.matrix import entries
from failover_tests.compare import sources
from failover_tests.compare.mutants import Mutant, generate
from infra import topology
from stackdrill.mutate import plan, round_robin, run_mutate
from tests.unit.test_compare import SUITE

ROOT = Path(__file__).resolve().parents[2]
SUITE_SCENARIOS = {"pause-one-web", "pause-one-api", "pause-one-model"}
NAMED = {
    "slow-model-protected", "third-party-outage", "datastore-failover", "primary-zone-loss",
    "partition-api", "cpu-starved-api", "edge-lb-loss",
}  # fmt: skip


def test_every_mutant_of_default_is_a_valid_topology_that_differs_in_what_it_says() -> None:
    default = topology.load("default")
    found, notes = generate(default)
    assert not notes and len(found) >= 25
    assert len({m.name for m in found}) == len(found)
    for m in found:
        weak = m.apply(default)
        assert weak != default, m.name
    by_name = {m.name: m.apply(default) for m in found}
    assert by_name["api_lb-checks-off"].api_lb.health_check.enabled is False
    assert by_name["edge-checks-slow"].edge.health_check.inter_ms == 5000
    assert by_name["edge-checks-slow"].edge.health_check.fastinter_ms is None
    assert by_name["web-one-fewer"].web.replicas == 1
    assert by_name["store-no-replica"].store.replicas == 0
    assert by_name["zones-collapsed"].zones == ["a"] and by_name["zones-collapsed"].store.sentinel_zones == []
    assert by_name["status-poll-minute"].status.poll_interval_s == 60.0


def test_every_scenario_a_mutant_names_exists_for_the_topology() -> None:
    for name in ("default", "ha", "minimal", "naive"):
        topo = topology.load(name)
        known = {e.name for e in entries(topo)} | SUITE_SCENARIOS | NAMED
        for m in generate(topo)[0]:
            assert set(m.scenarios) <= known, (name, m.name, set(m.scenarios) - known)


def test_the_generator_follows_the_topology() -> None:
    minimal, _ = generate(topology.load("minimal"))
    names = {m.name for m in minimal}
    # One of everything: no replica to spare, no LB with a second server to fail over to, one zone.
    assert not any(n.endswith("-one-fewer") for n in names)
    assert not any(n.startswith(("edge-", "api_lb-", "model_lb-")) for n in names)
    assert "zones-collapsed" not in names and "store-no-replica" not in names
    naive, _ = generate(topology.load("naive"))
    assert not any(m.family in ("breakers", "bulkheads") for m in naive)


def test_keys_select_mutants_by_name_or_family() -> None:
    found, _ = generate(topology.load("default"), ("store",))
    assert {m.family for m in found} == {"store"}
    found, _ = generate(topology.load("default"), ("checks-off",))
    assert {m.name for m in found} == {"edge-checks-off", "api_lb-checks-off", "model_lb-checks-off"}


def _m(name: str, family: str, *scenarios: str) -> Mutant:
    return Mutant(name, name, {}, scenarios, "", family)


def test_a_budget_takes_families_in_turn_and_counts_the_base_run_once() -> None:
    mutants = [_m("a1", "a", "s1"), _m("a2", "a", "s1"), _m("b1", "b", "s2"), _m("c1", "c", "s1", "s2")]
    assert [m.name for m in round_robin(mutants)] == ["a1", "b1", "c1", "a2"]
    # Stack 100 s, scenario 50 s. Base stack 100; a1: 100 + 50 + 50 (new s1 on the base run) = 200 -> 300;
    # b1: 200 -> 500; c1: 100 + 100 (no new scenario) = 200 -> 700; a2: 150 -> 850.
    chosen, over = plan(mutants, 700, lambda _: 50.0, 100.0)
    assert [m.name for m in chosen] == ["a1", "b1", "c1"] and [m.name for m in over] == ["a2"]
    assert [m.name for m in plan(mutants, 299, lambda _: 50.0, 100.0)[0]] == []


def test_a_run_scores_a_caught_and_a_missed_mutant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The throwaway suite's latency is 4x the model latency; its SLO is p99 <= 5000 ms. 1500 ms of
    # model latency fails the verdict (caught); 250 ms moves only the figures (missed, seen in figures).
    monkeypatch.setenv("STACKDRILL_STATE", str(tmp_path / "state"))
    suite = tmp_path / "suite" / "test_mutate_suite.py"
    suite.parent.mkdir()
    suite.write_text(SUITE)
    mutants = [
        Mutant("model-1500", "model latency 1500 ms", {"model": {"latency_ms": 1500}}, (str(suite),), "h1", "a"),
        Mutant("model-250", "model latency 250 ms", {"model": {"latency_ms": 250}}, (str(suite),), "h2", "b"),
    ]
    monkeypatch.setattr("stackdrill.mutate.generate", lambda topo, keys: (mutants, ["a note"]))
    text = io.StringIO()
    code = run_mutate(
        sources.resolve("default"),
        keys=(),
        budget_min=30,
        seed=3,
        out_dir=tmp_path / "mut",
        console=Console(file=io.StringIO(), width=200),
        out=Console(file=text, width=200),
    )
    doc: dict[str, Any] = json.loads((tmp_path / "mut" / "mutate.json").read_text())
    assert code == 0 and doc["score"] == {"caught": 1, "run": 2, "total": 2, "ratio": 0.5}
    by_name = {m["name"]: m for m in doc["mutants"]}
    assert by_name["model-1500"]["status"] == "caught"
    assert by_name["model-1500"]["caught_by"][0]["scenario"] == "kill-api"
    assert "p99" in by_name["model-1500"]["caught_by"][0]["check"]
    assert by_name["model-250"]["status"] == "missed"
    assert by_name["model-250"]["figures_moved"][0].startswith("kill-api: api.complete: p99 202 ms -> 1002 ms")
    assert [m["name"] for m in doc["mutants"]] == ["model-250", "model-1500"]  # missed first
    assert "mutation score 1/2 (50%)" in text.getvalue()
    page = (tmp_path / "mut" / "mutate.html").read_text()
    assert "model-250" in page and "1/2" in page and 'href="model-1500/report.html"' in page
    weak = topology.load(str(tmp_path / "mut" / "mutants" / "Pulumi.model-1500.yaml"))
    assert weak.model.latency_ms == 1500


def test_a_budget_too_small_for_anything_runs_nothing_and_says_so(tmp_path: Path) -> None:
    from infra.errors import ScenarioError

    with pytest.raises(ScenarioError, match="--budget 0"):
        run_mutate(
            sources.resolve("default"), keys=(), budget_min=0, seed=1, out_dir=tmp_path,
            console=Console(file=io.StringIO()), out=Console(file=io.StringIO()),
        )  # fmt: skip
