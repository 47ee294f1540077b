"""Named scenarios shared by the suites and by the broken-topology proofs, so both run the same drill."""

from __future__ import annotations

from typing import Any

from failover_tests.presets import responsive, scenario, slo

HUNG_REPLICA_P99_MS = 2000

# tier -> (LB tier, backend on it, status page component)
WATCHED_TIERS = {
    "web": ("edge", "be_web", "web"),
    "api": ("edge", "be_api", "api"),
    "model": ("model_lb", "be_model", "model"),
}


def replica_loss(tier: str, fault: str, replica: int = 1) -> dict[str, Any]:
    """Kill or pause one replica: paths within SLO, LB marks it down, status degraded, rejoins."""
    lb, backend, component = WATCHED_TIERS[tier]
    extra: dict[str, Any] = {}
    if fault == "pause":
        # A hung replica costs the requests already sent to it one LB server timeout (1 s) before
        # the retry on another replica, until the health checks take it out (about 1.5 s).
        extra["slos"] = responsive(p99_ms=HUNG_REPLICA_P99_MS)
    return scenario(
        f"{fault}-one-{tier}",
        f"{fault} {tier}-{replica} while traffic flows; the LB routes around it and takes it back after revert",
        {"name": fault, "target": f"{tier}-{replica}"},
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
    """Restart the Redis primary faster than Sentinel notices: no acknowledged write may be lost.

    A primary without persistence comes back empty, and its replica resyncs from it: every
    session is gone (the failure Redis' replication docs warn of). The drill reads back every
    acknowledged write.
    """
    return scenario(
        "primary-restart",
        "restart the current Redis primary (gracefully, back within a second: before Sentinel acts); "
        "every acknowledged write is read back and none may be lost",
        {"name": "restart", "target": "role=primary", "params": {"grace_s": 2}},
        slos=[slo("api.complete"), slo("web.home"), slo("api.sessions", windows=("before",))],
        duration_s=4.0,
        verify_writes=True,
        max_lost_writes=0,
    )
