"""Single points of failure of a topology, found before anything is deployed.

A component is listed when the topology cannot survive its loss: a tier or LB with one
replica, a store without a replica, a Sentinel group that loses its quorum with one
Sentinel gone, a zone that holds every replica of a tier. The chaos proxy is test
instrumentation, not part of the user's topology: it is listed apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.topology import Topology


@dataclass(frozen=True)
class Spof:
    """One single point of failure."""

    component: str
    reason: str
    instrumentation: bool = False

    def __str__(self) -> str:
        return f"{self.component}: {self.reason}"


def find(topo: Topology) -> list[Spof]:
    """Every single point of failure of the topology, user components first."""
    out: list[Spof] = []
    tiers = topo.serving_tiers()
    for tier, n in tiers.items():
        if n < 2:
            out.append(Spof(tier, "one replica: losing it takes the tier down"))
    if topo.integration.replicas < 2 and topo.api.resilience.profile == "naive":
        out.append(Spof("integration", "one replica, called inline by the naive API: its loss fails completions"))
    if topo.store.replicas == 0:
        out.append(Spof("store", "no Redis replica: losing the primary loses every session"))
    if topo.store.sentinels - 1 < topo.store.quorum:
        out.append(
            Spof(
                "sentinel",
                f"{topo.store.sentinels} Sentinel(s) with quorum {topo.store.quorum}: "
                "one Sentinel down and the store can no longer fail over",
            )
        )
    zones = topo.zones
    if len(zones) == 1:
        out.append(Spof(f"zone {zones[0]}", "the only zone: losing it loses everything"))
    else:
        counts = {**tiers, "redis": 1 + topo.store.replicas}
        for tier, n in counts.items():
            used = {topo.zone_of(i) for i in range(n)}
            if len(used) == 1 and n >= 1 and tiers.get(tier, 2) >= 2:
                out.append(Spof(f"zone {next(iter(used))}", f"holds every {tier} replica"))
    out.append(Spof("chaos", "Toxiproxy on the dependency edges (test instrumentation, not your topology)", True))
    return out
