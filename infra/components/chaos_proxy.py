"""ChaosProxy: Toxiproxy on the dependency edges, so latency and failures can be injected per edge."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi

from infra.components.common import StackContext, entry
from infra.outputs import TIER_CHAOS, Container
from infra.resources import Backend, ContainerHandle
from infra.specs import Attachment, ContainerSpec

API_PORT = 8474


@dataclass(frozen=True)
class ProxyEdge:
    """One Toxiproxy proxy: `name` listens on `listen_port` and forwards to `upstream`."""

    name: str
    edge: str
    listen_port: int
    upstream: str


@dataclass(frozen=True)
class ChaosProxyArgs:
    """Inputs of a ChaosProxy."""

    ctx: StackContext
    proxies: tuple[ProxyEdge, ...]
    zone: str
    # On the containers, not the component: Pulumi deletes by dependency depth, and a component's
    # dependency puts its children one level deeper than every other tier's (a second delete wave).
    depends_on: list[pulumi.Resource] = field(default_factory=list)


# Its fixed address in the back subnet (Redis nodes are from .10, Sentinels from .20).
CHAOS_IP_OFFSET = 5


def chaos_hosts(ctx: StackContext) -> dict[str, str]:
    """name -> fixed back-network address of the chaos proxy ({} without a fixed subnet).

    Every API call to the store, the model and the integration dials this proxy by name. Left to
    Docker's embedded DNS, a new connection's lookup depends on dockerd, which answers from the
    same libnetwork state it locks while a container of the network stops or starts; a stall
    there would time out every API replica's dependency calls together (suspected, not shown,
    for the rolling-restart-api red of 2026-12-05). The store's names are fixed the same way.
    """
    return {ctx.name(TIER_CHAOS, 0): ctx.fixed_ip(CHAOS_IP_OFFSET)} if ctx.back_subnet else {}


class ChaosProxy(pulumi.ComponentResource):
    """One Toxiproxy container on both networks, its API published on 127.0.0.1."""

    containers: list[Container]
    handle: ContainerHandle
    host: str

    def __init__(
        self, name: str, args: ChaosProxyArgs, backend: Backend, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("stackdrill:index:ChaosProxy", name, None, opts)
        ctx = args.ctx
        self.host = ctx.name(TIER_CHAOS, 0)
        config = [
            {"name": p.name, "listen": f"0.0.0.0:{p.listen_port}", "upstream": p.upstream, "enabled": True}
            for p in args.proxies
        ]
        networks = [ctx.front_network, ctx.back_network]
        spec = ContainerSpec(
            name=self.host,
            image=ctx.image,
            command=(
                "toxiproxy-server",
                "-host",
                "0.0.0.0",
                "-port",
                str(API_PORT),
                "-config",
                "/etc/stackdrill/toxiproxy.json",
            ),
            labels=ctx.labels(TIER_CHAOS, 0, args.zone),
            networks=tuple(
                Attachment(n, (), ipv4=ctx.hosts.get(self.host, "") if n == ctx.back_network else "") for n in networks
            ),
            files={"/etc/stackdrill/toxiproxy.json": json.dumps(config, indent=2)},
            publish=(API_PORT,),
            health=ctx.http_health(API_PORT, "/version"),
            extra_hosts=ctx.hosts,
        )
        self.handle = backend.container(spec, pulumi.ResourceOptions(parent=self, depends_on=args.depends_on))
        self.containers = [entry(self.host, TIER_CHAOS, 0, args.zone, networks, role="chaos")]
        self.register_outputs({"containers": [c.model_dump(mode="json") for c in self.containers]})
