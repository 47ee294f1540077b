"""Single points of failure and the failover matrix, derived from topologies before any deploy."""

from __future__ import annotations

from failover_tests.catalog.matrix import entries, spof_message
from failover_tests.slo import SLO, evaluate, windows_around
from failover_tests.traffic import Record
from failover_tests.verdict import Verdict
from infra import spof, topology

LABEL = "kill(api-0)"
WINDOWS = windows_around(2.0, 8.0, 13.0)


def records(path: str, *, ok_during: int) -> list[Record]:
    """A path at 10 req/s: fine before and after the fault, `ok_during` of its requests ok during it."""
    out = []
    for seq in range(130):
        t_s = seq / 10.0
        in_fault = 2.0 <= t_s < 8.0
        ok = not in_fault or (seq - 20) < ok_during
        out.append(
            Record(
                path=path,
                seq=seq,
                scheduled_s=t_s,
                latency_ms=10.0,
                status=200 if ok else 0,
                ok=ok,
                replica="api-0" if ok else None,
                endpoint="http://127.0.0.1:8080",
                error=None if ok else "timeout: no answer within the 3 s budget",
                fallback=False,
                completed_s=t_s + 0.01,
            )
        )
    return out


def verdict_for(ok_during: dict[str, int]) -> Verdict:
    """The verdict of paths whose fault window had these many ok requests (of 60), at 98% during."""
    recs = [r for path, ok in ok_during.items() for r in records(path, ok_during=ok)]
    slos = [SLO(path, window="during", min_success=0.98) for path in ok_during]
    return evaluate(recs, slos, WINDOWS, LABEL)


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


def test_writes_that_need_every_replica_are_a_spof() -> None:
    """min_replicas_to_write equal to the replicas: one lost replica (or its zone) stops writes."""
    topo = topology.parse({"store": {"replicas": 1, "min_replicas_to_write": 1, "sentinel_zones": ["a", "b", "c"]}})
    found = [str(s) for s in spof.find(topo)]
    assert any(s.startswith("store: min_replicas_to_write 1 with 1 replica(s)") for s in found), found
    assert any(s.startswith("zone a: losing it leaves 1 Redis node(s)") for s in found), found
    # Two replicas over three zones: any one zone can go, writes keep a replica to land on.
    spread = topology.parse(
        {"zones": ["a", "b"], "store": {"replicas": 2, "min_replicas_to_write": 1, "zones": ["a", "b", "c"]}}
    )
    assert not [s for s in spof.find(spread) if "min_replicas_to_write" in str(s)]
    # The same two replicas over the two service zones: zone a holds two of the three nodes.
    packed = topology.parse({"zones": ["a", "b"], "store": {"replicas": 2, "min_replicas_to_write": 1}})
    assert "zone b" not in {s.component for s in spof.find(packed) if "Redis" in s.reason}
    assert "zone a" in {s.component for s in spof.find(packed) if "Redis" in s.reason}


def test_min_replicas_to_write_above_the_replicas_is_refused() -> None:
    import pytest

    from infra.errors import TopologyError

    with pytest.raises(TopologyError, match="min_replicas_to_write 2 > store.replicas 1"):
        topology.parse({"store": {"replicas": 1, "min_replicas_to_write": 2}})


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
    assert (matrix["lose-one-api"].victim, matrix["lose-store-primary"].victim) == ("api-0", "role=primary")


def test_a_spof_entry_runs_with_the_normal_slos_expecting_a_pass() -> None:
    minimal = {e.name: e for e in entries(topology.load("minimal"))}
    default = {e.name: e for e in entries(topology.load("default"))}
    spof_api, api = minimal["lose-one-api"].scenario, default["lose-one-api"].scenario
    assert "expect" not in spof_api  # a loss that hurts clients is FAILED, not an expected failure
    assert spof_api["slos"] == api["slos"]
    assert spof_api["fault"] == {"name": "kill", "target": "api-0"}


def test_spof_message_names_the_victim_and_the_worst_path_in_the_fault_window() -> None:
    verdict = verdict_for({"api.complete": 0, "web.home": 60})

    assert spof_message("api-0", verdict) == (
        "single point of failure: losing api-0 took api.complete to 0% during the fault\n"
        "api.complete: success 0.0% < 98.0% during kill(api-0) [2.0 s..8.0 s]"
    )


def test_spof_message_picks_the_lowest_share_and_lists_every_failure() -> None:
    verdict = verdict_for({"api.complete": 45, "api.sessions": 20, "web.home": 59})  # web.home 98.3% passes

    assert spof_message("api-0", verdict).splitlines() == [
        "single point of failure: losing api-0 took api.sessions to 33.3% during the fault",
        "api.complete: success 75.0% < 98.0% during kill(api-0) [2.0 s..8.0 s]",
        "api.sessions: success 33.3% < 98.0% during kill(api-0) [2.0 s..8.0 s]",
    ]


def test_spof_share_is_rounded_down_never_up() -> None:
    # 58 of 60 is 96.67%: shown as 96.6%, not 96.7%.
    assert spof_message("api-0", verdict_for({"api.complete": 58})).splitlines()[0] == (
        "single point of failure: losing api-0 took api.complete to 96.6% during the fault"
    )


def test_spof_message_when_every_path_kept_its_requests() -> None:
    slow = evaluate(
        records("api.complete", ok_during=60),
        [SLO("api.complete", window="during", max_p50_ms=5.0)],
        WINDOWS,
        LABEL,
    )

    assert spof_message("redis-0", slow) == (
        "single point of failure: losing redis-0 failed the drill, though every path kept 100% during the fault\n"
        "api.complete: p50 10 ms > 5 ms during kill(api-0) [2.0 s..8.0 s]"
    )
