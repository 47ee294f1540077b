"""The store's convergence verdict, from the raw text redis-cli prints (no Docker needed)."""

from __future__ import annotations

from infra.store_state import NodeView, SentinelView, StoreState, parse_node, parse_sentinel

SENTINEL_RAW = "\n".join(
    ["name", "sessions", "ip", "sd-s-redis-1", "port", "6379", "flags", "master"]
    + ["num-slaves", "1", "num-other-sentinels", "2", "config-epoch", "4"]
)
NODE_RAW = "# Replication\r\nrole:slave\r\nmaster_host:sd-s-redis-1\r\nmaster_link_status:up\r\nconnected_slaves:0\r\n"


def _good() -> StoreState:
    sentinels = tuple(SentinelView(f"s{i}", "r1", 4, "master", 2, 1) for i in range(3))
    nodes = (NodeView("r0", "slave", "r1", True), NodeView("r1", "master", "", False, 1))
    return StoreState(sentinels, nodes)


def test_parsers_read_redis_cli_output() -> None:
    assert parse_sentinel("s0", 0, SENTINEL_RAW) == SentinelView("s0", "sd-s-redis-1", 4, "master", 2, 1)
    assert parse_node("r0", 0, NODE_RAW) == NodeView("r0", "slave", "sd-s-redis-1", True, 0)
    assert parse_sentinel("s0", 1, "Could not connect to Redis").error == "Could not connect to Redis"
    assert parse_node("r0", 1, "").error == "exit 1"


def test_a_converged_store_has_no_problems() -> None:
    assert _good().problems() == []
    assert _good().primary() == "r1"


def test_a_stale_sentinel_is_outvoted_by_epoch_and_named() -> None:
    good = _good()
    stale = StoreState((SentinelView("s0", "r0", 3, "master", 2, 1), *good.sentinels[1:]), good.nodes)
    assert stale.primary() == "r1"
    assert stale.problems() == ["sentinels disagree: s0 says r0@3, s1 says r1@4, s2 says r1@4"]


def test_a_broken_replica_link_and_a_dead_sentinel_are_named() -> None:
    good = _good()
    state = StoreState(
        (SentinelView("s0", error="not running"), *good.sentinels[1:]),
        (NodeView("r0", "slave", "r1", False), NodeView("r1", "master", "", False, 0)),
    )
    assert state.problems() == [
        "s0 does not answer (not running)",
        "r0's replication link to r1 is down",
        "primary r1 has 0 of 1 replicas",
    ]
    demoted = StoreState(good.sentinels, (NodeView("r0", "master"), good.nodes[1]))
    assert demoted.problems() == ["r0 is a master, not a replica of r1"]


def test_a_primary_flagged_down_or_failing_over_is_not_steady() -> None:
    good = _good()
    flagged = StoreState((SentinelView("s0", "r1", 4, "master,s_down", 2, 1), *good.sentinels[1:]), good.nodes)
    assert flagged.problems() == ["s0 flags the primary master,s_down"]
    nobody = StoreState(tuple(SentinelView(f"s{i}", error="not running") for i in range(3)), good.nodes)
    assert nobody.problems()[-1] == "no sentinel names a primary"
