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
    if 0 < topo.store.replicas == topo.store.min_replicas_to_write:
        out.append(
            Spof(
                "store",
                f"min_replicas_to_write {topo.store.min_replicas_to_write} with {topo.store.replicas} replica(s): "
                "losing one replica stops every session write",
            )
        )
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
        nodes = 1 + topo.store.replicas
        for zone in sorted({topo.store_zone_of(i) for i in range(nodes)}):
            left = sum(topo.store_zone_of(i) != zone for i in range(nodes))
            if topo.store.min_replicas_to_write and 0 < left < 1 + topo.store.min_replicas_to_write:
                out.append(
                    Spof(
                        f"zone {zone}",
                        f"losing it leaves {left} Redis node(s), too few for min_replicas_to_write "
                        f"{topo.store.min_replicas_to_write}: session writes stop",
                    )
                )
        placed = {tier: {topo.zone_of(i) for i in range(n)} for tier, n in tiers.items() if n >= 2}
        placed["redis"] = {topo.store_zone_of(i) for i in range(nodes)}
        for tier, used in placed.items():
            if len(used) == 1:
                out.append(Spof(f"zone {next(iter(used))}", f"holds every {tier} replica"))
    out.append(Spof("chaos", "Toxiproxy on the dependency edges (test instrumentation, not your topology)", True))
    return out
