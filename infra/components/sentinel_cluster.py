"""SentinelCluster: a Redis primary, its replicas, and Sentinels that fail over between them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from infra.components.common import StackContext, entry, render
from infra.outputs import TIER_REDIS, TIER_SENTINEL, Container
from infra.resources import Backend, ContainerHandle
from infra.specs import Attachment, ContainerSpec
from infra.topology import Store

MASTER_NAME = "sessions"
SENTINEL_PORT = 26379
REDIS_PORT = 6379
# Written by the start-up fence once a node has served: its presence tells a restart from a first start.
FENCE_MARKER = "/var/lib/stackdrill/.served"
# Sentinel's own timers (SENTINEL DEBUG, Redis >= 7.0), applied at every start.
# - info-period 1000: Sentinel refreshes a replica's INFO every 10 s until the primary is down,
#   but trusts it for only 5 s once the primary is down: about half the time the first election
#   ends in `-failover-abort-no-good-slave` and the next try waits twice failover-timeout.
# - publish-period 1000: hello messages every second, so a Sentinel restored with a stale view
#   learns the new primary and epoch within a second or two.
# - tilt-period 5000: a Sentinel whose timer stalled (a loaded host) stops acting and voting
#   for 30 s by default; 5 s is enough to let its view settle.
SENTINEL_TIMING = "info-period 1000 publish-period 1000 tilt-period 5000"


# Fixed addresses in the back subnet: Redis nodes from .10, Sentinels from .20.
REDIS_IP_OFFSET = 10
SENTINEL_IP_OFFSET = 20


def store_hosts(ctx: StackContext, store: Store) -> dict[str, str]:
    """name -> fixed address of every Redis node and Sentinel ({} without a fixed subnet).

    A failover must not wait on DNS: Docker's embedded DNS has no entry for a stopped container
    and forwards the query upstream, where it can stall for seconds (seen here: a Sentinel froze
    5 s resolving the dead primary, entered TILT and stopped voting, so no failover happened in
    a whole zone loss). With fixed addresses in /etc/hosts, every name resolves at once, dead or
    alive, and a dial to a dead node fails on its own timeout.
    """
    if not ctx.back_subnet:
        return {}
    hosts = {ctx.name(TIER_REDIS, i): ctx.fixed_ip(REDIS_IP_OFFSET + i) for i in range(1 + store.replicas)}
    hosts |= {ctx.name(TIER_SENTINEL, i): ctx.fixed_ip(SENTINEL_IP_OFFSET + i) for i in range(store.sentinels)}
    return hosts


@dataclass(frozen=True)
class SentinelClusterArgs:
    """Inputs of a SentinelCluster."""

    ctx: StackContext
    store: Store
    zones: list[str]
    password: pulumi.Output[str]
    # On the containers, not the component: Pulumi deletes by dependency depth, and a component's
    # dependency puts its children one level deeper than every other tier's (a second delete wave).
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class SentinelCluster(pulumi.ComponentResource):
    """Redis nodes (node 0 starts as primary) and Sentinels monitoring them by hostname."""

    containers: list[Container]
    redis_names: list[str]
    sentinel_names: list[str]
    handles: list[ContainerHandle]

    def __init__(
        self, name: str, args: SentinelClusterArgs, backend: Backend, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("stackdrill:index:SentinelCluster", name, None, opts)
        ctx, store = args.ctx, args.store
        secret_env = args.password.apply(lambda pw: {"REDIS_PASSWORD": pw, "REDISCLI_AUTH": pw})
        # Sentinels have no password of their own: redis-cli must not send AUTH to them.
        sentinel_env = args.password.apply(lambda pw: {"REDIS_PASSWORD": pw})
        net = [ctx.back_network]
        self.containers, self.handles = [], []
        self.redis_names = [ctx.name(TIER_REDIS, i) for i in range(1 + store.replicas)]
        primary = self.redis_names[0]
        self.sentinel_names = [ctx.name(TIER_SENTINEL, i) for i in range(store.sentinels)]
        # An old primary must not come back while Sentinel replaces it (services/app/redis_fence.py).
        # With nothing to promote there is nothing to wait for; `restart_fence: false` turns it off.
        bound_s = (store.down_after_ms + 2 * store.failover_timeout_ms) / 1000 + 2
        fence = (
            "python3 -m services.app.redis_fence --me {me} "
            f"--sentinels {','.join(self.sentinel_names)} --master {MASTER_NAME} "
            f"--down-after-ms {store.down_after_ms} --bound-s {bound_s:g} --marker {FENCE_MARKER}; "
            if store.replicas and store.restart_fence
            else ""
        )
        redis_zones = store.zones or args.zones
        for i, cname in enumerate(self.redis_names):
            zone = redis_zones[i % len(redis_zones)]
            conf = render(
                "redis/redis.conf.j2",
                hostname=cname,
                primary=primary if i else "",
                persistence=store.persistence,
                min_replicas_to_write=store.min_replicas_to_write,
            )
            spec = ContainerSpec(
                name=cname,
                image=ctx.image,
                command=(
                    "sh",
                    "-c",
                    fence.format(me=cname)
                    + 'exec redis-server /etc/stackdrill/redis.conf --requirepass "$REDIS_PASSWORD" '
                    '--masterauth "$REDIS_PASSWORD"',
                ),
                labels=ctx.labels(TIER_REDIS, i, zone),
                networks=(Attachment(ctx.back_network, (), ipv4=ctx.hosts.get(cname, "")),),
                extra_hosts=ctx.hosts,
                files={"/etc/stackdrill/redis.conf": conf, "/var/lib/stackdrill/.keep": ""},
                health=ctx.health("redis-cli", "--no-auth-warning", "ping"),
            )
            handle = backend.container(
                spec, pulumi.ResourceOptions(parent=self, depends_on=args.depends_on), secret_env=secret_env
            )
            self.handles.append(handle)
            self.containers.append(entry(cname, TIER_REDIS, i, zone, net, role="primary" if i == 0 else "replica"))
        sentinel_zones = store.sentinel_zones or args.zones
        for i, cname in enumerate(self.sentinel_names):
            zone = sentinel_zones[i % len(sentinel_zones)]
            conf = render(
                "redis/sentinel.conf.j2",
                hostname=cname,
                master=MASTER_NAME,
                primary=primary,
                quorum=store.quorum,
                down_after_ms=store.down_after_ms,
                failover_timeout_ms=store.failover_timeout_ms,
            )
            spec = ContainerSpec(
                name=cname,
                image=ctx.image,
                command=(
                    "sh",
                    "-c",
                    # Sentinel exits if the primary's name does not resolve yet: wait for it
                    # (bounded), so Sentinels need not wait for the Redis containers to be created.
                    f"for i in $(seq 150); do getent hosts {primary} >/dev/null && break; sleep 0.2; done; "
                    # A restarted Sentinel must resume from the state it rewrote (current primary,
                    # epoch, known peers), not from the initial config: that would split the brain.
                    "if [ ! -s /var/lib/stackdrill/sentinel.conf ]; then "
                    "cp /etc/stackdrill/sentinel.conf /var/lib/stackdrill/sentinel.conf && "
                    f'printf "sentinel auth-pass {MASTER_NAME} %s\\n" "$REDIS_PASSWORD" '
                    ">> /var/lib/stackdrill/sentinel.conf; fi && "
                    "{ redis-sentinel /var/lib/stackdrill/sentinel.conf & pid=$!; }; "
                    "trap 'kill -TERM $pid' TERM INT; "
                    # Timing Sentinel keeps out of its config file (lost on restart): see SENTINEL_TIMING.
                    "for i in $(seq 100); do redis-cli -p 26379 SENTINEL DEBUG "
                    f"{SENTINEL_TIMING} >/dev/null 2>&1 && break; sleep 0.1; done; "
                    "wait $pid",
                ),
                labels=ctx.labels(TIER_SENTINEL, i, zone),
                networks=(Attachment(ctx.back_network, (), ipv4=ctx.hosts.get(cname, "")),),
                extra_hosts=ctx.hosts,
                files={"/etc/stackdrill/sentinel.conf": conf, "/var/lib/stackdrill/.keep": ""},
                health=ctx.health("redis-cli", "-p", str(SENTINEL_PORT), "ping"),
            )
            handle = backend.container(
                spec, pulumi.ResourceOptions(parent=self, depends_on=args.depends_on), secret_env=sentinel_env
            )
            self.handles.append(handle)
            self.containers.append(entry(cname, TIER_SENTINEL, i, zone, net, role="sentinel"))
        self.register_outputs({"containers": [c.model_dump(mode="json") for c in self.containers]})
