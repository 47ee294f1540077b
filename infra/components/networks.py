"""StackNetworks: the front (edge, web) and back (api, model, store) bridge networks of a stack."""

from __future__ import annotations

import pulumi

from infra.outputs import LABEL_OWNER_PID, LABEL_STACK, LABEL_TIER
from infra.resources import Backend
from infra.specs import NetworkSpec


class StackNetworks(pulumi.ComponentResource):
    """Two labelled networks, named after the stack."""

    def __init__(
        self,
        name: str,
        stack: str,
        owner_pid: str,
        backend: Backend,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("stackdrill:index:StackNetworks", name, None, opts)
        self.front_name = f"sd-{stack}-front"
        self.back_name = f"sd-{stack}-back"
        self.resources: list[pulumi.Resource] = []
        for net_name, tier in ((self.front_name, "front"), (self.back_name, "back")):
            labels = {LABEL_STACK: stack, LABEL_TIER: f"network-{tier}", LABEL_OWNER_PID: owner_pid}
            self.resources.append(backend.network(NetworkSpec(net_name, labels), pulumi.ResourceOptions(parent=self)))
        self.register_outputs({"front": self.front_name, "back": self.back_name})
