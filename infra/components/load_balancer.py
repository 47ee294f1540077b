"""LoadBalancer: HAProxy replicas with health checks, retries and redispatch from the topology."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pulumi

from infra import outputs as O
from infra.components.common import StackContext, entry, render
from infra.outputs import Container
from infra.resources import Backend, ContainerHandle
from infra.specs import Attachment, ContainerSpec
from infra.topology import LoadBalancer as LBSettings
from services.app.settings import DEFAULT_AGENT_PORT

STATS_PORT = 8404


@dataclass(frozen=True)
class Route:
    """Requests whose path starts with `prefix` go to backend `backend`."""

    prefix: str
    backend: str


@dataclass(frozen=True)
class LoadBalancerArgs:
    """Inputs of a LoadBalancer."""

    ctx: StackContext
    tier: str
    settings: LBSettings
    zones: list[str]
    networks: list[str]
    backends: dict[str, list[str]]  # backend name -> server container names
    default_backend: str
    routes: tuple[Route, ...] = ()
    publish_service: bool = False
    depends_on: list[pulumi.Resource] = field(default_factory=list)


def haproxy_config(args: LoadBalancerArgs) -> str:
    """The haproxy.cfg for this LB, rendered from the topology."""
    return render(
        "haproxy/haproxy.cfg.j2",
        lb=args.settings,
        port=args.ctx.port,
        agent_port=DEFAULT_AGENT_PORT,  # what every service's CommonSettings listens on
        routes=[replace(r, backend=O.lb_backend(r.backend)) for r in args.routes],
        default_backend=O.lb_backend(args.default_backend),
        backends=[{"name": O.lb_backend(n), "servers": s} for n, s in args.backends.items()],
    )


class LoadBalancer(pulumi.ComponentResource):
    """HAProxy replicas; a config change reloads them in place (no dropped connections)."""

    containers: list[Container]
    handles: list[ContainerHandle]

    def __init__(
        self, name: str, args: LoadBalancerArgs, backend: Backend, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("stackdrill:index:LoadBalancer", name, None, opts)
        ctx = args.ctx
        config = haproxy_config(args)
        self.containers = []
        self.handles = []
        publish = (ctx.port, STATS_PORT) if args.publish_service else (STATS_PORT,)
        for i in range(args.settings.replicas):
            zone = args.zones[i % len(args.zones)]
            cname = ctx.name(args.tier, i)
            spec = ContainerSpec(
                name=cname,
                image=ctx.image,
                command=("haproxy", "-W", "-db", "-f", "/etc/stackdrill/haproxy.cfg"),
                labels=ctx.labels(args.tier, i, zone),
                networks=tuple(Attachment(n, (ctx.alias(args.tier),)) for n in args.networks),
                files={"/etc/stackdrill/haproxy.cfg": config},
                publish=publish,
                health=ctx.http_health(ctx.port, "/lb-health"),
            )
            handle = backend.container(
                spec,
                pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
                reload_signal="SIGUSR2",
            )
            self.handles.append(handle)
            self.containers.append(entry(cname, args.tier, i, zone, args.networks, role="lb"))
        self.register_outputs({"containers": [c.model_dump(mode="json") for c in self.containers]})
