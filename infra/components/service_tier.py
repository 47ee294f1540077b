"""ServiceTier: N replicas of one of our Python services (api, web, model, integration, status)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi

from infra.components.common import StackContext, entry
from infra.outputs import Container
from infra.resources import Backend, ContainerHandle
from infra.specs import Attachment, ContainerSpec
from services.app.settings import CommonSettings, ServiceSettings


@dataclass(frozen=True)
class ServiceTierArgs:
    """Inputs of a ServiceTier."""

    ctx: StackContext
    tier: str
    module: str
    replicas: int
    zones: list[str]
    networks: list[str]
    # The replica's settings, given its common ones; deployed as their `to_env()`.
    settings: Callable[[CommonSettings], ServiceSettings]
    publish: tuple[int, ...] = ()
    secret_env: pulumi.Input[dict[str, str]] | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class ServiceTier(pulumi.ComponentResource):
    """Replicas of one service, each a labelled container with a Docker health check."""

    containers: list[Container]
    handles: list[ContainerHandle]

    def __init__(
        self, name: str, args: ServiceTierArgs, backend: Backend, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("stackdrill:index:ServiceTier", name, None, opts)
        ctx = args.ctx
        self.containers = []
        self.handles = []
        for i in range(args.replicas):
            zone = args.zones[i % len(args.zones)]
            cname = ctx.name(args.tier, i)
            common = CommonSettings(role=args.tier, replica=cname, zone=zone, port=ctx.port)
            env = {"PYTHONUNBUFFERED": "1", **args.settings(common).to_env()}
            spec = ContainerSpec(
                name=cname,
                image=ctx.image,
                command=("python3", "-m", args.module),
                labels=ctx.labels(args.tier, i, zone),
                networks=tuple(Attachment(n, (ctx.alias(args.tier),)) for n in args.networks),
                env=env,
                publish=args.publish,
                health=ctx.http_health(ctx.port, "/healthz"),
                # fixed back-network addresses: of no use (or reach) on the front network alone
                extra_hosts=ctx.hosts if ctx.back_network in args.networks else {},
            )
            handle = backend.container(
                spec,
                pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
                secret_env=args.secret_env,
            )
            self.handles.append(handle)
            self.containers.append(entry(cname, args.tier, i, zone, args.networks))
        self.register_outputs({"containers": [c.model_dump(mode="json") for c in self.containers]})
