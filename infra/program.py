"""The Pulumi program: one replica stack from a validated topology.

Run inline by the Automation API (infra/lifecycle.py) or as a normal Pulumi project
(infra/__main__.py). Exports the outputs named in infra/outputs.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pulumi

from infra import outputs as O
from infra.components.chaos_proxy import ChaosProxy, ChaosProxyArgs, ProxyEdge, chaos_hosts
from infra.components.common import StackContext
from infra.components.load_balancer import STATS_PORT, LoadBalancer, LoadBalancerArgs, Route
from infra.components.networks import StackNetworks
from infra.components.sentinel_cluster import (
    MASTER_NAME,
    REDIS_PORT,
    SENTINEL_PORT,
    SentinelCluster,
    SentinelClusterArgs,
    store_hosts,
)
from infra.components.service_tier import ServiceTier, ServiceTierArgs
from infra.resources import Backend
from infra.topology import Topology
from services.app.settings import (
    DEFAULT_ADMIN_PORT,
    ApiSettings,
    IntegrationSettings,
    ModelSettings,
    StatusSettings,
    WebSettings,
)

PORT_WEB_API = 18000
PORT_API_MODEL = 18001
PORT_API_INTEGRATION = 18003
PORT_API_REDIS_BASE = 18100
ADMIN_PORT = DEFAULT_ADMIN_PORT


@dataclass(frozen=True)
class ProgramArgs:
    """Everything the program needs besides the topology."""

    stack: str
    image: str
    owner_pid: str
    backend: Backend
    # The back network's subnet ("10.213.7.0/24"): fixed addresses for the store (see
    # SentinelCluster). Empty: Docker picks the subnet and the store is found by DNS alone.
    back_subnet: str = ""


def build(topo: Topology, args: ProgramArgs, password: pulumi.Output[str]) -> dict[str, Any]:
    """Declare every resource of the stack; return (and export) the stack outputs."""
    nets = StackNetworks("networks", args.stack, args.owner_pid, args.backend, back_subnet=args.back_subnet)
    ctx = StackContext(
        stack=args.stack,
        image=args.image,
        owner_pid=args.owner_pid,
        healthcheck=topo.healthcheck,
        port=topo.service_port,
        front_network=nets.front_name,
        back_network=nets.back_name,
        back_subnet=args.back_subnet,
    )
    # Names dialled on the back network resolve from /etc/hosts, never from Docker's DNS.
    ctx = replace(ctx, hosts=store_hosts(ctx, topo.store) | chaos_hosts(ctx))
    after_nets = nets.resources
    zones = topo.zones
    port = topo.service_port
    chaos_host = ctx.name(O.TIER_CHAOS, 0)
    res = topo.api.resilience

    store = SentinelCluster(
        "store",
        SentinelClusterArgs(ctx=ctx, store=topo.store, zones=zones, password=password, depends_on=after_nets),
        args.backend,
    )
    redis_proxies = tuple(
        ProxyEdge(f"{O.EDGE_API_REDIS}_{i}", O.EDGE_API_REDIS, PORT_API_REDIS_BASE + i, f"{name}:{REDIS_PORT}")
        for i, name in enumerate(store.redis_names)
    )
    proxies = (
        ProxyEdge(O.EDGE_WEB_API, O.EDGE_WEB_API, PORT_WEB_API, f"{ctx.alias(O.TIER_API_LB)}:{port}"),
        ProxyEdge(O.EDGE_API_MODEL, O.EDGE_API_MODEL, PORT_API_MODEL, f"{ctx.alias(O.TIER_MODEL_LB)}:{port}"),
        ProxyEdge(
            O.EDGE_API_INTEGRATION,
            O.EDGE_API_INTEGRATION,
            PORT_API_INTEGRATION,
            f"{ctx.alias(O.TIER_INTEGRATION)}:{port}",
        ),
        *redis_proxies,
    )
    chaos = ChaosProxy(
        "chaos",
        ChaosProxyArgs(ctx=ctx, proxies=proxies, zone=zones[0], depends_on=after_nets),
        args.backend,
    )

    model = ServiceTier(
        "model",
        ServiceTierArgs(
            ctx=ctx,
            tier=O.TIER_MODEL,
            module="services.app.model",
            replicas=topo.model.replicas,
            zones=zones,
            networks=[nets.back_name],
            settings=lambda common: ModelSettings(
                common=common, latency_ms=topo.model.latency_ms, jitter_ms=topo.model.jitter_ms
            ),
            depends_on=after_nets,
        ),
        args.backend,
    )
    integration = ServiceTier(
        "integration",
        ServiceTierArgs(
            ctx=ctx,
            tier=O.TIER_INTEGRATION,
            module="services.app.integration",
            replicas=topo.integration.replicas,
            zones=zones,
            networks=[nets.back_name],
            settings=lambda common: IntegrationSettings(common=common),
            depends_on=after_nets,
        ),
        args.backend,
    )
    sentinels = tuple((s, SENTINEL_PORT) for s in store.sentinel_names)
    addr_map = tuple(
        ((name, REDIS_PORT), (chaos_host, p.listen_port))
        for name, p in zip(store.redis_names, redis_proxies, strict=True)
    )
    api = ServiceTier(
        "api",
        ServiceTierArgs(
            ctx=ctx,
            tier=O.TIER_API,
            module="services.app.api",
            replicas=topo.api.replicas,
            zones=zones,
            networks=[nets.back_name],
            settings=lambda common: ApiSettings(
                common=common,
                profile=res.profile,
                model_url=f"http://{chaos_host}:{PORT_API_MODEL}",
                integration_url=f"http://{chaos_host}:{PORT_API_INTEGRATION}",
                sentinels=sentinels,
                sentinel_master=MASTER_NAME,
                redis_addr_map=addr_map,
                model_timeout_ms=res.model_timeout_ms,
                store_timeout_ms=res.store_timeout_ms,
                integration_timeout_ms=res.integration_timeout_ms,
                retry_attempts=res.retry_attempts,
                breaker_failures=res.breaker_failures,
                breaker_reset_s=res.breaker_reset_s,
                bulkhead_model=res.bulkhead_model,
                bulkhead_store=res.bulkhead_store,
                naive_workers=res.naive_workers,
            ),
            secret_env=password.apply(lambda pw: {ApiSettings.env_name("redis_password"): pw}),
            depends_on=after_nets,
        ),
        args.backend,
    )
    web = ServiceTier(
        "web",
        ServiceTierArgs(
            ctx=ctx,
            tier=O.TIER_WEB,
            module="services.app.web",
            replicas=topo.web.replicas,
            zones=zones,
            networks=[nets.front_name],
            settings=lambda common: WebSettings(
                common=common,
                api_url=f"http://{chaos_host}:{PORT_WEB_API}",
                api_timeout_ms=res.web_api_timeout_ms,
                profile=res.profile,
            ),
            depends_on=after_nets,
        ),
        args.backend,
    )
    api_names = [c.name for c in api.containers]
    web_names = [c.name for c in web.containers]
    model_names = [c.name for c in model.containers]
    lb_common = {"ctx": ctx, "zones": zones}
    edge = LoadBalancer(
        "edge",
        LoadBalancerArgs(
            tier=O.TIER_EDGE,
            settings=topo.edge,
            networks=[nets.front_name, nets.back_name],
            backends={"api": api_names, "web": web_names},
            default_backend="web",
            routes=(Route("/v1/", "api"),),
            publish_service=True,
            depends_on=after_nets,
            **lb_common,  # type: ignore[arg-type]
        ),
        args.backend,
    )
    api_lb = LoadBalancer(
        "api-lb",
        LoadBalancerArgs(
            tier=O.TIER_API_LB,
            settings=topo.api_lb,
            networks=[nets.back_name],
            backends={"api": api_names},
            default_backend="api",
            depends_on=after_nets,
            **lb_common,  # type: ignore[arg-type]
        ),
        args.backend,
    )
    model_lb = LoadBalancer(
        "model-lb",
        LoadBalancerArgs(
            tier=O.TIER_MODEL_LB,
            settings=topo.model_lb,
            networks=[nets.back_name],
            backends={"model": model_names},
            default_backend="model",
            depends_on=after_nets,
            **lb_common,  # type: ignore[arg-type]
        ),
        args.backend,
    )
    components = {
        "web": [f"http://{n}:{port}/healthz" for n in web_names],
        "api": [f"http://{n}:{port}/healthz" for n in api_names],
        # The replicas themselves, and the model as the API reaches it (through its LB and the
        # api->model edge): a slow or cut-off model edge is a model problem clients feel.
        "model": [f"http://{n}:{port}/healthz" for n in model_names]
        + [f"http://{ctx.alias(O.TIER_API_LB)}:{port}/readyz#model"],
        "edge": [f"http://{c.name}:{port}/lb-health" for c in edge.containers],
        # Dependencies as the API sees them, asked through the internal API LB (so the loss of
        # one API replica is not reported as a store or integration problem).
        "store": [f"http://{ctx.alias(O.TIER_API_LB)}:{port}/readyz#store"],
        "integration": [f"http://{ctx.alias(O.TIER_API_LB)}:{port}/readyz#integration"],
    }
    status = ServiceTier(
        "status",
        ServiceTierArgs(
            ctx=ctx,
            tier=O.TIER_STATUS,
            module="services.app.status",
            replicas=1,
            zones=zones,
            networks=[nets.front_name, nets.back_name],
            settings=lambda common: StatusSettings(
                common=common,
                components=tuple((name, tuple(urls)) for name, urls in components.items()),
                poll_interval_s=topo.status.poll_interval_s,
                check_timeout_ms=topo.status.check_timeout_ms,
                mode=topo.status.mode,
            ),
            publish=(port,),
            depends_on=after_nets,
        ),
        args.backend,
    )

    containers = [
        *edge.containers,
        *web.containers,
        *api_lb.containers,
        *api.containers,
        *model_lb.containers,
        *model.containers,
        *integration.containers,
        *status.containers,
        *store.containers,
        *chaos.containers,
    ]
    key = str(port)
    lb_handles = {
        lb.containers[i].name: lb.handles[i].host_ports
        for lb in (edge, api_lb, model_lb)
        for i in range(len(lb.handles))
    }
    result: dict[str, Any] = {
        O.STACK: args.stack,
        O.EDGES: pulumi.Output.all(*(h.host_ports for h in edge.handles)).apply(
            lambda ports: [f"http://127.0.0.1:{p[key]}" for p in ports]
        ),
        O.STATUS_URL: status.handles[0].host_ports.apply(lambda p: f"http://127.0.0.1:{p[key]}"),
        O.TOXIPROXY_URL: chaos.handle.host_ports.apply(lambda p: f"http://127.0.0.1:{p[str(8474)]}"),
        O.LB_STATS: pulumi.Output.all(**lb_handles).apply(
            lambda m: {n: f"http://127.0.0.1:{p[str(STATS_PORT)]}" for n, p in m.items()}
        ),
        O.NETWORKS: {"front": nets.front_name, "back": nets.back_name},
        O.CONTAINERS: [c.model_dump(mode="json") for c in containers],
        O.EDGES_PROXIED: {
            O.EDGE_WEB_API: [O.EDGE_WEB_API],
            O.EDGE_API_MODEL: [O.EDGE_API_MODEL],
            O.EDGE_API_INTEGRATION: [O.EDGE_API_INTEGRATION],
            O.EDGE_API_REDIS: [p.name for p in redis_proxies],
        },
        O.TOPOLOGY: topo.to_dict(),
        O.IMAGE: args.image,
        O.BACKEND: args.backend.kind,
        O.ADMIN_PORT: ADMIN_PORT,
    }
    for k, v in result.items():
        pulumi.export(k, v)
    return result
