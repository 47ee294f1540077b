"""Network faults: partition (disconnect from a network) and blackhole (an edge that never answers)."""

from __future__ import annotations

from typing import Any

from failover_tests import drill_docker as dk
from failover_tests.faults.base import Fault, Param, register
from failover_tests.faults.edge import ToxicFault
from infra.errors import ScenarioError


@register
class Partition(Fault):
    """Disconnect the container from one of the stack's networks; revert reconnects it."""

    name = "partition"
    family = "network"
    summary = "disconnect the container from a network (back or front)"
    mechanism = "docker network disconnect; revert reconnects (same aliases, address) and restores /etc/hosts"
    params = (Param("network", str, "back", "which stack network: back or front", choices=("back", "front")),)

    def _network(self, name: str) -> str:
        wanted = f"sd-{self.env.stack}-{self.values['network']}"
        if wanted not in dk.networks_of(name) and not self.active:
            raise ScenarioError(f"fault partition: {name} is not on network {wanted}")
        return wanted

    def save(self, name: str) -> dict[str, Any]:
        net = self._network(name)
        return {"network": net, "aliases": dk.networks_of(name).get(net, [])}

    def act(self, name: str) -> None:
        dk.disconnect(name, self.saved[name]["network"])

    def took_effect(self, name: str) -> bool:
        return self.saved[name]["network"] not in dk.networks_of(name)

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        dk.connect(name, saved["network"], list(saved.get("aliases") or []))

    def undone(self, name: str, saved: dict[str, Any]) -> bool:
        # Reconnected, and with the /etc/hosts entries Docker drops on a reconnect put back.
        return saved["network"] in dk.networks_of(name) and not dk.missing_extra_hosts(name)


@register
class Blackhole(ToxicFault):
    """An edge that accepts connections and never answers (data dropped, connection held open)."""

    name = "blackhole"
    family = "network"
    summary = "the edge accepts connections and never answers"
    mechanism = "Toxiproxy timeout toxic with timeout=0 (this kernel has no netem/iptables tricks needed)"
    toxic_type = "timeout"
    params = ToxicFault.common_params

    def attributes(self) -> dict[str, Any]:
        return {"timeout": 0}
