"""Named scenarios shared by the suites and by the broken-topology proofs, so both run the same drill."""

from __future__ import annotations

from typing import Any

from failover_tests.presets import scenario, slo

# tier -> (LB tier, backend on it, status page component)
WATCHED_TIERS = {
    "web": ("edge", "be_web", "web"),
    "api": ("edge", "be_api", "api"),
    "model": ("model_lb", "be_model", "model"),
}


def replica_loss(tier: str, fault: str, replica: int = 1) -> dict[str, Any]:
    """Kill or pause one replica: paths within SLO, LB marks it down, status degraded, rejoins."""
    lb, backend, component = WATCHED_TIERS[tier]
    return scenario(
        f"{fault}-one-{tier}",
        f"{fault} {tier}-{replica} while traffic flows; the LB routes around it and takes it back after revert",
        {"name": fault, "target": f"{tier}-{replica}"},
        lb_marks_down={"lb": lb, "backend": backend, "within_s": 3.0},
        status={"component": component, "during": "degraded", "within_s": 10.0},
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
