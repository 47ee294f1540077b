"""Named scenarios shared by the suites and by the broken-topology proofs, so both run the same drill."""

from __future__ import annotations

from typing import Any

from failover_tests.catalog.presets import (
    STATUS_COMPONENTS,
    WATCHED_TIERS,
    responsive,
    scenario,
    slo,
    store_failover_slos,
    store_judged,
    store_sessions_during,
)

HUNG_REPLICA_P99_MS = 2000
HUNG_REPLICA_P90_MS = 500
HUNG_REPLICA_WEB_FALLBACK = 0.2

# tier -> (LB tier, backend on it, status page component)


def replica_loss(tier: str, fault: str, replica: int | None = None) -> dict[str, Any]:
    """Kill or pause one replica: paths within SLO, LB marks it down, status degraded, rejoins."""
    lb, backend = WATCHED_TIERS[tier]
    component = STATUS_COMPONENTS[tier]
    # By default one replica chosen at random (seeded, reported), so the drill applies to any
    # topology: with a single replica it hits that one and judges the single point of failure.
    target = f"{tier}:random" if replica is None else f"{tier}-{replica}"
    victim = f"one {tier} replica (chosen at random)" if replica is None else target
    extra: dict[str, Any] = {}
    if fault == "pause":
        # A hung replica costs the requests already sent to it one LB server timeout (1 s) before
        # the retry on another replica, until the health checks take it out (about 1.5 s): over a
        # 10 s fault that is about 5% of requests, so p90 stays fast. Without health checks the LB
        # keeps sending it its share for the whole fault: retries hide the failures but not the
        # time (p90 about 1 s), and the web tier's own timeout turns them into degraded pages.
        slos = responsive(p99_ms=HUNG_REPLICA_P99_MS, p90_ms=HUNG_REPLICA_P90_MS)
        for entry in slos:
            if entry["path"] == "web.home" and entry["windows"] == ["during"]:
                entry["max_fallback_share"] = HUNG_REPLICA_WEB_FALLBACK
        extra["slos"] = slos
        extra["duration_s"] = 10.0
    return scenario(
        f"{fault}-one-{tier}",
        f"{fault} {victim} while traffic flows; the LB routes around it and takes it back after revert",
        {"name": fault, "target": target},
        lb_marks_down={"lb": lb, "backend": backend, "within_s": 3.0},
        status={"component": component, "during": "degraded", "within_s": 10.0},
        **extra,
    )


def lose_api_replica() -> dict[str, Any]:
    """Kill one API replica (api-0): the API path must stay within SLO."""
    return scenario("lose-api-0", "kill api-0; the other replicas carry the API", {"name": "kill", "target": "api-0"})


def slow_model(name: str = "slow-model-protected") -> dict[str, Any]:
    """+2 s on api->model: completions fall back within budget; sessions and web stay normal."""
    return scenario(
        name,
        "2 s of latency on the api->model edge; the protected API answers with its fallback within budget "
        "and nothing else slows down (no cascade)",
        {"name": "latency", "target": "api_model", "params": {"latency_ms": 2000}},
        slos=[slo("api.complete", p99_ms=1200), slo("api.sessions", p99_ms=500), slo("web.home", p99_ms=1800)],
        duration_s=8.0,
    )


def primary_restart() -> dict[str, Any]:
    """Restart the Redis primary: no acknowledged write may be lost.

    A primary without persistence comes back empty, and its replica resyncs from it: every
    session is gone (the failure Redis' replication docs warn of). The drill reads back every
    acknowledged write.
    """
    return scenario(
        "primary-restart",
        "restart the current Redis primary gracefully: back before Sentinel acts, or kept down by its "
        "start-up fence until Sentinel has promoted the replica; every acknowledged write is read back "
        "and none may be lost",
        {"name": "restart", "target": "role=primary", "params": {"grace_s": 2}},
        slos=[slo("api.complete"), slo("web.home"), slo("api.sessions", windows=("before",), recovery_s=None)],
        duration_s=4.0,
        verify_writes=True,
        max_lost_writes=0,
    )


def datastore_failover() -> dict[str, Any]:
    """Kill the Redis primary: writes back within 3 s, no acknowledged write lost."""
    return scenario(
        "datastore-failover",
        "kill the current Redis primary (found through Sentinel); writes resume within 3 s of the "
        "kill; every acknowledged write is read back and none may be lost",
        {"name": "kill", "target": "role=primary"},
        slos=store_failover_slos(),
        duration_s=10.0,
        **store_judged(),
        status={"component": "store", "during": "degraded", "within_s": 10.0, "recover_within_s": 20.0},
    )


def primary_zone_loss() -> dict[str, Any]:
    """Kill every container of the zone holding the Redis primary: the other zone carries the service."""
    return scenario(
        "primary-zone-loss",
        "every container of the zone that holds the Redis primary (found through Sentinel when the "
        "fault starts) killed at once: edge, web, api, model, LBs, the primary, a Sentinel; the other "
        "zone and the witness Sentinel carry the service; writes resume within 3 s, none is lost, "
        "and restoring the zone costs at most 1 s of failed writes",
        {"name": "kill", "target": "zone=@primary"},
        slos=[
            # Restoring a zone starts 11 processes at once on our 2 cores: a few slow seconds.
            slo("api.complete", min_success=0.95, max_run=5, p99_ms=2500, recovery_s=8.0),
            slo("web.home", min_success=0.95, max_run=5, p99_ms=2500, recovery_s=8.0),
            slo("api.sessions", windows=("before",), recovery_s=None),
            store_sessions_during(),
            slo("api.sessions", windows=("after",), min_success=0.9, p99_ms=2500, recovery_s=8.0),
        ],
        duration_s=10.0,
        recovery_s=14.0,
        # Restoring the zone brings back the old primary and a Sentinel with a stale view:
        # at most 1 s of failed writes from the moment the revert begins.
        max_restore_write_gap_s=1.0,
        **store_judged(),
    )
