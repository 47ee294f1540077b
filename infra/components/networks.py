"""StackNetworks: the front (edge, web) and back (api, model, store) bridge networks of a stack."""

from __future__ import annotations

import pulumi

from infra.components.common import dynamic_range
from infra.outputs import LABEL_OWNER_PID, LABEL_STACK, LABEL_TIER
from infra.resources import Backend
from infra.specs import NetworkSpec


def network_name(stack: str, which: str) -> str:
    """The Docker name of a stack's `front` or `back` network."""
    return f"sd-{stack}-{which}"


class StackNetworks(pulumi.ComponentResource):
    """Two labelled networks, named after the stack."""

    def __init__(
        self,
        name: str,
        stack: str,
        owner_pid: str,
        backend: Backend,
        opts: pulumi.ResourceOptions | None = None,
        *,
        back_subnet: str = "",
    ) -> None:
        super().__init__("stackdrill:index:StackNetworks", name, None, opts)
        self.front_name = network_name(stack, "front")
        self.back_name = network_name(stack, "back")
        self.resources: list[pulumi.Resource] = []
        for net_name, tier in ((self.front_name, "front"), (self.back_name, "back")):
            labels = {LABEL_STACK: stack, LABEL_TIER: f"network-{tier}", LABEL_OWNER_PID: owner_pid}
            subnet = back_subnet if tier == "back" else ""
            spec = NetworkSpec(net_name, labels, subnet=subnet, ip_range=dynamic_range(subnet))
            self.resources.append(backend.network(spec, pulumi.ResourceOptions(parent=self)))
        self.register_outputs({"front": self.front_name, "back": self.back_name})
