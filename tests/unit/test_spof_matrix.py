"""Single points of failure and the failover matrix, derived from topologies before any deploy."""

from __future__ import annotations

from failover_tests.matrix import entries
from infra import spof, topology


def test_default_topology_has_no_spof_and_lists_the_chaos_proxy_apart() -> None:
    found = spof.find(topology.load("default"))
    assert [s.component for s in found if not s.instrumentation] == []
    assert [s.component for s in found if s.instrumentation] == ["chaos"]


def test_minimal_topology_spofs() -> None:
    found = {s.component for s in spof.find(topology.load("minimal")) if not s.instrumentation}
    assert found == {"edge", "web", "api_lb", "api", "model_lb", "model", "store", "sentinel", "zone a"}


def test_all_replicas_of_a_tier_in_one_zone_is_a_spof() -> None:
    topo = topology.parse({"zones": ["a", "b"], "web": {"replicas": 1}})
    found = [str(s) for s in spof.find(topo)]
    assert "web: one replica: losing it takes the tier down" in found


def test_sentinels_without_quorum_margin() -> None:
    topo = topology.parse({"store": {"sentinels": 2, "quorum": 2}})
    assert any(s.component == "sentinel" for s in spof.find(topo))


def test_naive_profile_makes_the_integration_a_spof() -> None:
    assert any(s.component == "integration" for s in spof.find(topology.load("naive")))
    assert not any(s.component == "integration" for s in spof.find(topology.load("default")))


def test_matrix_covers_every_group_and_the_store_primary() -> None:
    matrix = {e.name: e for e in entries(topology.load("default"))}
    assert set(matrix) == {
        "lose-one-edge", "lose-one-web", "lose-one-api_lb", "lose-one-api", "lose-one-model_lb",
        "lose-one-model", "lose-one-integration", "lose-one-sentinel", "lose-store-primary",
    }  # fmt: skip
    assert all(e.survivable for e in matrix.values())
    assert matrix["lose-store-primary"].scenario["fault"] == {"name": "kill", "target": "role=primary"}


def test_matrix_marks_single_replica_groups_as_not_survivable() -> None:
    matrix = {e.name: e for e in entries(topology.load("minimal"))}
    assert not matrix["lose-one-api"].survivable
    assert not matrix["lose-store-primary"].survivable
    assert matrix["lose-one-integration"].survivable  # the protected API does not need it
