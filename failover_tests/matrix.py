"""The failover matrix: "lose one of each" scenarios derived from a topology's redundancy.

Every replica group, every LB tier and the store primary gets a kill scenario with the
normal SLOs, so a tier added to the topology is drilled without anyone writing a test.
Groups with a single replica are single points of failure: their scenario is expected to fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from failover_tests.presets import scenario, store_failover_slos, store_judged
from infra.topology import Topology


@dataclass(frozen=True)
class MatrixEntry:
    """One generated scenario, and whether the topology should survive it."""

    name: str
    scenario: dict[str, Any]
    survivable: bool


# tier -> (LB tier and backend watching it, or None)
WATCHED = {"web": ("edge", "be_web"), "api": ("edge", "be_api"), "model": ("model_lb", "be_model")}
# tier -> the status page component that must show its loss (status page truth)
STATUS = {"edge": "edge", "web": "web", "api": "api", "model": "model", "integration": "integration"}


def entries(topo: Topology) -> list[MatrixEntry]:
    """The matrix for a topology, in data-path order."""
    groups = {**topo.serving_tiers(), "integration": topo.integration.replicas, "sentinel": topo.store.sentinels}
    out = []
    for tier, n in groups.items():
        victim = f"{tier.replace('_', '-')}-{n - 1}"
        extra: dict[str, Any] = {}
        if tier in WATCHED and n > 1:
            lb, backend = WATCHED[tier]
            extra["lb_marks_down"] = {"lb": lb, "backend": backend, "within_s": 3.0}
        if tier in STATUS:
            extra["status"] = {"component": STATUS[tier], "during": "degraded", "within_s": 10.0}
        survivable = n > 1 or (tier == "integration" and topo.api.resilience.profile == "protected")
        out.append(
            MatrixEntry(
                f"lose-one-{tier}",
                scenario(
                    f"lose-one-{tier}",
                    f"kill {victim} (one of {n} {tier})",
                    {"name": "kill", "target": victim},
                    **extra,
                ),
                survivable,
            )
        )
    out.append(
        MatrixEntry(
            "lose-store-primary",
            scenario(
                "lose-store-primary",
                "kill the Redis primary",
                {"name": "kill", "target": "role=primary"},
                slos=store_failover_slos(),
                duration_s=8.0,
                **store_judged(),
            ),
            topo.store.replicas > 0 and topo.store.sentinels - 1 >= topo.store.quorum,
        )
    )
    return out
