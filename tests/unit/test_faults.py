"""Fault registry, parameter validation, target resolution and the journal (no Docker)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from failover_tests.faults import REGISTRY, Fault, FaultEnv, Param, fault_class, validate_params
from failover_tests.faults import app as app_faults
from failover_tests.faults.base import register
from failover_tests.journal import Entry, Journal
from failover_tests.targets import Inventory
from infra.errors import ScenarioError
from infra.outputs import StackOutputs
from services.app.fault_switch import FaultSwitch
from tests import fakes

CATALOG = {
    "kill", "stop", "restart", "pause", "cpu_throttle", "memory_limit", "partition", "blackhole",
    "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data",
    "http_error", "abort", "delay",
}  # fmt: skip


def _outputs() -> StackOutputs:
    tiers = (("edge", 2), ("web", 2), ("api", 3), ("model", 2), ("redis", 2), ("sentinel", 3), ("chaos", 1))
    return fakes.outputs(
        fakes.containers(tiers),
        edges_proxied={"api_model": ["api_model"], "api_redis": ["api_redis_0", "api_redis_1"]},
    )


def test_catalog_is_complete_and_snake_case() -> None:
    assert set(REGISTRY) == CATALOG
    for name, cls in REGISTRY.items():
        assert name == name.lower() and " " not in name
        assert cls.summary and cls.mechanism and cls.family


def test_unknown_fault_lists_the_catalog() -> None:
    with pytest.raises(ScenarioError, match=r"unknown fault 'kil'; known faults: abort, .*kill"):
        fault_class("kil")


def test_unknown_parameter() -> None:
    with pytest.raises(ScenarioError) as info:
        validate_params("latency", {"latency_ms": 5, "latnecy": 1})
    assert (
        str(info.value)
        == "fault latency: unknown parameter 'latnecy'; parameters: latency_ms, jitter_ms, stream, toxicity"
    )


def test_missing_parameter() -> None:
    with pytest.raises(ScenarioError, match="fault latency: missing parameter 'latency_ms'"):
        validate_params("latency", {})


def test_bad_value_type() -> None:
    with pytest.raises(ScenarioError, match=r"fault latency: latency_ms = 'slow' is not a valid int"):
        validate_params("latency", {"latency_ms": "slow"})


def test_bad_value_range_and_choice() -> None:
    with pytest.raises(ScenarioError, match=r"toxicity = 2 is too large; it must be <= 1.0"):
        validate_params("latency", {"latency_ms": 1, "toxicity": 2})
    with pytest.raises(ScenarioError, match=r"stream = 'sideways' is not allowed; use one of downstream, upstream"):
        validate_params("latency", {"latency_ms": 1, "stream": "sideways"})


def test_defaults_filled_and_strings_coerced() -> None:
    assert validate_params("latency", {"latency_ms": "500"}) == {
        "latency_ms": 500, "jitter_ms": 0, "stream": "downstream", "toxicity": 1.0,
    }  # fmt: skip


class Renamed(Fault):
    """A fault whose ``share`` parameter was once called ``ratio`` (and before that ``portion``)."""

    name = "renamed"
    family = "test"
    summary = "a parameter with old names"
    mechanism = "none"
    params = (
        Param("share", float, 1.0, "share of requests", minimum=0.0, maximum=1.0, aliases=("ratio", "portion")),
        Param("label", str, ""),
    )

    def act(self, name: str) -> None:
        """Nothing to do."""

    def took_effect(self, name: str) -> bool:
        """Always in effect."""
        return True

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        """Nothing to undo."""


@pytest.fixture
def renamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register :class:`Renamed` for one test only."""
    monkeypatch.setitem(REGISTRY, Renamed.name, Renamed)


@pytest.mark.usefixtures("renamed")
def test_an_old_parameter_name_counts_as_the_current_one() -> None:
    expected = {"share": 0.25, "label": ""}
    assert validate_params("renamed", {"share": 0.25}) == expected
    assert validate_params("renamed", {"ratio": "0.25"}) == expected
    assert validate_params("renamed", {"portion": 0.25}) == expected
    assert validate_params("renamed", {}) == {"share": 1.0, "label": ""}


@pytest.mark.usefixtures("renamed")
def test_a_bad_value_under_an_old_name_is_reported_under_that_name() -> None:
    with pytest.raises(ScenarioError) as info:
        validate_params("renamed", {"ratio": 2})
    assert str(info.value) == "fault renamed: ratio = 2 is too large; it must be <= 1.0"


@pytest.mark.usefixtures("renamed")
def test_giving_a_parameter_and_its_old_name_is_an_error() -> None:
    with pytest.raises(ScenarioError) as info:
        validate_params("renamed", {"share": 0.5, "ratio": 0.5})
    assert str(info.value) == "fault renamed: share and ratio are the same parameter; give only share"


@pytest.mark.usefixtures("renamed")
def test_unknown_parameter_lists_current_names_only() -> None:
    with pytest.raises(ScenarioError) as info:
        validate_params("renamed", {"shares": 0.5})
    assert str(info.value) == "fault renamed: unknown parameter 'shares'; parameters: share, label"


def test_an_alias_may_not_shadow_another_parameter() -> None:
    class Clash(Renamed):
        name = "clash"
        params = (Param("share", float, 1.0, aliases=("label",)), Param("label", str, ""))

    with pytest.raises(RuntimeError, match="fault clash: parameter names and aliases must be distinct"):
        register(Clash)
    assert "clash" not in REGISTRY


def test_app_faults_take_fraction_and_still_accept_rate() -> None:
    expected = {"status": 503, "fraction": 0.5, "paths": ""}
    assert validate_params("http_error", {"fraction": 0.5}) == expected
    assert validate_params("http_error", {"rate": 0.5}) == expected
    with pytest.raises(ScenarioError) as info:
        validate_params("abort", {"fraction": 0.5, "rate": 0.5})
    assert str(info.value) == "fault abort: fraction and rate are the same parameter; give only fraction"
    with pytest.raises(ScenarioError) as info:
        validate_params("delay", {"delay_ms": 10, "rate": 2})
    assert str(info.value) == "fault delay: rate = 2 is too large; it must be <= 1.0"


@pytest.mark.parametrize("given", ["fraction", "rate"])
def test_the_admin_body_an_app_fault_sends_is_one_the_service_accepts(
    given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[list[str]] = []

    def exec_run(name: str, cmd: list[str]) -> tuple[int, str]:
        sent.append(cmd)
        return 0, "{}"

    monkeypatch.setattr(app_faults.dk, "exec_run", exec_run)
    env = FaultEnv(stack="t", inventory=Inventory(_outputs()), toxiproxy_url="", journal=Journal("t", root=tmp_path))
    fault = app_faults.HttpError(env, "api-1", {"status": 502, given: 0.25, "paths": "/v1/, /api/"})
    fault.act("sd-t-api-1")
    body = json.loads(sent[0][sent[0].index("-d") + 1])
    assert body == {"kind": "http_error", "fraction": 0.25, "status": 502, "paths": ["/v1/", "/api/"]}
    accepted = FaultSwitch.from_json(body)
    assert accepted == FaultSwitch(kind="http_error", fraction=0.25, status=502, paths=("/v1/", "/api/"))


def test_targets_by_tier_name_zone_and_combination() -> None:
    inv = Inventory(_outputs())
    assert [t.short for t in inv.resolve("api")] == ["api-0", "api-1", "api-2"]
    assert [t.name for t in inv.resolve("api-2")] == ["sd-t-api-2"]
    assert [t.name for t in inv.resolve("sd-t-api-1")] == ["sd-t-api-1"]
    zone_a = inv.resolve("zone=a")
    assert zone_a and all(t.zone == "a" for t in zone_a)
    assert "chaos" not in {t.tier for t in zone_a}  # instrumentation is never part of a group
    assert [t.short for t in inv.resolve("tier=api,zone=b")] == ["api-1"]


def test_random_targets_are_seeded() -> None:
    inv = Inventory(_outputs())
    first = inv.resolve("api:random:2", random.Random(7))
    again = inv.resolve("api:random:2", random.Random(7))
    assert first == again and len(first) == 2
    survivors = {t.short for t in inv.tier("api")} - {t.short for t in inv.resolve("api:all-but-one", random.Random(1))}
    assert len(survivors) == 1


def test_role_primary_uses_the_lookup() -> None:
    inv = Inventory(_outputs(), role_lookup=lambda role: "sd-t-redis-1")
    assert [t.short for t in inv.resolve("role=primary")] == ["redis-1"]


def test_zone_of_the_primary_follows_the_lookup() -> None:
    inv = Inventory(_outputs(), role_lookup=lambda role: "sd-t-redis-1")
    zone_b = inv.resolve("zone=@primary")
    assert "redis-1" in {t.short for t in zone_b} and {t.zone for t in zone_b} == {"b"}
    inv_a = Inventory(_outputs(), role_lookup=lambda role: "sd-t-redis-0")
    assert {t.zone for t in inv_a.resolve("zone=@primary")} == {"a"}


def test_zone_of_the_primary_needs_a_lookup() -> None:
    with pytest.raises(ScenarioError, match=r"target 'zone=@primary': no Sentinel lookup here"):
        Inventory(_outputs()).resolve("zone=@primary")


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("apii", "unknown target 'apii'; tiers: edge, web, api"),
        ("api:random:9", "tier api has 3 replicas, cannot pick 9"),
        ("api:sometimes", "unknown mode 'sometimes'"),
        ("colour=red", "unknown key 'colour'"),
        ("zone=z", "matches nothing"),
        ("chaos-0:all-but-one", "unknown tier 'chaos-0'"),
    ],
)
def test_unknown_targets_say_what_exists(selector: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        Inventory(_outputs()).resolve(selector)


def test_unknown_edge_lists_edges() -> None:
    with pytest.raises(ScenarioError, match="unknown edge 'api_db'; edges: api_model, api_redis"):
        Inventory(_outputs()).resolve_edge("api_db")
    assert Inventory(_outputs()).resolve_edge("api_redis").proxies == ("api_redis_0", "api_redis_1")


def test_journal_records_and_removes(tmp_path: Path) -> None:
    journal = Journal("t", root=tmp_path)
    e1 = Entry("kill-1", "kill", "api-1", ["sd-t-api-1"], {}, pid=1, applied_at=1.0)
    e2 = Entry("pause-2", "pause", "api-2", ["sd-t-api-2"], {}, pid=2, applied_at=2.0)
    journal.record(e2)
    journal.record(e1)
    assert [e.id for e in Journal("t", root=tmp_path).entries()] == ["kill-1", "pause-2"]
    journal.remove("kill-1")
    journal.remove("kill-1")  # twice is harmless
    assert [e.id for e in journal.entries()] == ["pause-2"]


def test_corrupt_journal_is_set_aside(tmp_path: Path) -> None:
    journal = Journal("t", root=tmp_path)
    journal.path.write_text("{not json")
    assert journal.entries() == []
    assert journal.path.with_suffix(".corrupt").exists()
