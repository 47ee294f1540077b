"""The failover matrix: "lose one of each" scenarios derived from a topology's redundancy.

Every replica group, every LB tier and the store primary gets a kill scenario with the
normal SLOs, so a tier added to the topology is drilled without anyone writing a test.
Groups with a single replica are single points of failure: their scenario runs with the
same SLOs, and losing it is a failed verdict on the topology (`spof_message` says what the
loss did), never a green "expected failure". `stackdrill spof` stays the static preview.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from failover_tests.catalog.presets import (
    EDGE_LOSS_DURING_MIN_SUCCESS,
    EDGE_LOSS_DURING_P99_MS,
    STATUS_COMPONENTS,
    WATCHED_TIERS,
    responsive,
    scenario,
    store_failover_slos,
    store_judged,
)
from failover_tests.verdict import Verdict
from infra.topology import Topology

__all__ = ["MatrixEntry", "entries", "spof_message"]


@dataclass(frozen=True)
class MatrixEntry:
    """One generated scenario, its victim, and whether the topology should survive losing it."""

    name: str
    scenario: dict[str, Any]
    survivable: bool  # False: a single point of failure, its loss is expected to hurt clients
    victim: str  # the fault's target as the scenario names it (`api-0`, `role=primary`)


def entries(topo: Topology) -> list[MatrixEntry]:
    """The matrix for a topology, in data-path order."""
    groups = {**topo.serving_tiers(), "integration": topo.integration.replicas, "sentinel": topo.store.sentinels}
    out = []
    for tier, n in groups.items():
        victim = f"{tier.replace('_', '-')}-{n - 1}"
        extra: dict[str, Any] = {}
        if tier in WATCHED_TIERS and n > 1:
            lb, backend = WATCHED_TIERS[tier]
            extra["lb_marks_down"] = {"lb": lb, "backend": backend, "within_s": 3.0}
        if tier in STATUS_COMPONENTS:
            extra["status"] = {"component": STATUS_COMPONENTS[tier], "during": "degraded", "within_s": 10.0}
        survivable = n > 1 or (tier == "integration" and topo.api.resilience.profile == "protected")
        if tier == "edge":
            extra["slos"] = responsive(
                during_min_success=EDGE_LOSS_DURING_MIN_SUCCESS, during_p99_ms=EDGE_LOSS_DURING_P99_MS
            )
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
                victim,
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
            "role=primary",
        )
    )
    return out


def spof_message(victim: str, verdict: Verdict) -> str:
    """Why losing a single point of failure is a failed verdict: the worst path's share, then every failure.

    `single point of failure: losing api-0 took api.complete to 0% during the fault`, naming
    the path with the lowest success share in the fault window (`during`), followed by every
    failed check, one per line. The share is rounded down to 0.1%, so it never looks better
    than it was.
    """
    during = [s for s in verdict.stats if s.window == "during" and s.success_ratio is not None]
    worst = min(during, key=lambda s: (s.success_ratio or 0.0, s.path), default=None)
    if worst is not None and worst.success_ratio is not None and worst.success_ratio < 1.0:
        share = math.floor(round(worst.success_ratio * 1000.0, 6)) / 10.0
        head = f"single point of failure: losing {victim} took {worst.path} to {share:g}% during the fault"
    else:
        head = (
            f"single point of failure: losing {victim} failed the drill, though every path kept 100% during the fault"
        )
    failures = verdict.failure_message()
    return f"{head}\n{failures}" if failures else head
