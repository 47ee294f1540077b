"""The topology model: every tier size, LB setting and resilience knob of a replica stack.

A topology is read from a Pulumi stack config file (`Pulumi.<name>.yaml`, key
`stackdrill:topology`) and validated before anything is created. Validation errors are
turned into one line naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.errors import TopologyError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_KEY = "stackdrill:topology"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class HealthCheck(_Model):
    """HAProxy active health checks on every server of a backend."""

    enabled: bool = True
    inter_ms: int = Field(500, gt=0)
    fall: int = Field(2, ge=1)
    rise: int = Field(2, ge=1)
    # Interval while a server is in transition (after its first failed or first passed check):
    # the second check of `fall` comes this soon, not a whole `inter_ms` later. None: inter_ms.
    fastinter_ms: int | None = Field(None, gt=0)


class LoadBalancer(_Model):
    """One HAProxy tier: its size and failover settings."""

    replicas: int = Field(1, ge=1, le=4)
    health_check: HealthCheck = HealthCheck()
    timeout_connect_ms: int = Field(300, gt=0)
    timeout_server_ms: int = Field(1000, gt=0)
    timeout_client_ms: int = Field(10000, gt=0)
    retries: int = Field(2, ge=0, le=10)
    redispatch: bool = True
    retry_on: str = "conn-failure empty-response response-timeout"
    # Off by default: with `observe layer7 ... on-error mark-down`, an API replica that answers 503
    # because the *store* is failing over is taken out of rotation; in the zone-loss drill that
    # removed the last healthy replica. Active health checks on /healthz decide instead.
    observe_layer7: bool = False
    max_servers: int = Field(8, ge=1, le=32)
    # A server that comes back UP (after health checks saw it DOWN) gets its share of traffic
    # ramped over this period instead of all of it at once: a cold Python process flooded with
    # a full share times out its own dependency calls. 0 = off (HAProxy's default).
    slowstart_ms: int = Field(0, ge=0, le=120000)
    # HAProxy agent checks: every health-check interval the LB reads each server's weight from its
    # load agent (event-loop lag -> 100% down to 5%), so a replica starved of CPU gets a smaller
    # share instead of its full one. Health checks alone keep such a replica at full weight: its
    # /healthz costs 1-2 ms and fits a 5% quota, while the requests it is sent time out.
    agent_check: bool = False


class Tier(_Model):
    """A replicated service tier."""

    replicas: int = Field(2, ge=1, le=8)


class ModelTier(Tier):
    """The slow dependent system: simulated inference."""

    latency_ms: int = Field(50, ge=0)
    jitter_ms: int = Field(10, ge=0)


class Resilience(_Model):
    """Client-side resilience of the API (and the web tier's call to it)."""

    profile: Literal["protected", "naive"] = "protected"
    model_timeout_ms: int = Field(600, gt=0)
    store_timeout_ms: int = Field(800, gt=0)
    integration_timeout_ms: int = Field(300, gt=0)
    web_api_timeout_ms: int = Field(800, gt=0)
    retry_attempts: int = Field(2, ge=1, le=5)
    breaker_failures: int = Field(5, ge=1)
    # How long an open breaker waits before it lets one call through: the fallback period after
    # a dependency recovers. 2 s: one probe call per 2 s per replica while the dependency is down.
    breaker_reset_s: float = Field(2.0, gt=0)
    bulkhead_model: int = Field(16, ge=1)
    bulkhead_store: int = Field(32, ge=1)
    naive_workers: int = Field(4, ge=1)


class ApiTier(Tier):
    """The JSON API tier and its resilience profile."""

    replicas: int = Field(3, ge=1, le=8)
    resilience: Resilience = Resilience()


class Store(_Model):
    """Redis primary + replicas watched by Sentinels."""

    replicas: int = Field(1, ge=0, le=3)
    sentinels: int = Field(3, ge=1, le=5)
    # Sentinels need a majority to fail over: with two zones, a third (witness) zone for one
    # Sentinel lets the store survive the loss of either zone. Empty: the topology's zones.
    sentinel_zones: list[str] = Field(default_factory=list)
    quorum: int = Field(2, ge=1)
    down_after_ms: int = Field(1000, gt=0)
    failover_timeout_ms: int = Field(3000, gt=0)
    # aof: every node keeps an append-only file, so a restarted primary cannot come back empty and
    # wipe its replica. none: nothing survives a restart (unsafe; for the kit's own tests).
    persistence: Literal["aof", "none"] = "aof"
    # A primary accepts a write only while at least this many replicas are connected and acked
    # within the last 10 s. An old primary back from a restart or a lost zone has none, so it
    # refuses the writes it would otherwise acknowledge and then drop when Sentinel turns it into
    # a replica of the new primary. Below `replicas`, so losing one replica does not stop writes.
    min_replicas_to_write: int = Field(0, ge=0)
    # A restarted Redis node the Sentinels still name the primary does not start before they have
    # promoted another (services/app/redis_fence.py): an old primary cannot come back as a primary
    # and acknowledge writes the promotion it raced will drop. false: the node starts at once (unsafe).
    restart_fence: bool = True
    # The zones the Redis nodes spread over, one after another; empty: the topology's zones.
    zones: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _quorum_fits(self) -> Store:
        if self.quorum > self.sentinels:
            raise ValueError(
                f"store.quorum {self.quorum} > store.sentinels {self.sentinels}; "
                "quorum must be at most the number of sentinels"
            )
        if self.min_replicas_to_write > self.replicas:
            raise ValueError(
                f"store.min_replicas_to_write {self.min_replicas_to_write} > store.replicas {self.replicas}: "
                "the primary could never accept a write; lower it or add replicas"
            )
        return self


class Status(_Model):
    """The public status page service."""

    poll_interval_s: float = Field(1.0, gt=0)
    check_timeout_ms: int = Field(1000, gt=0)
    mode: Literal["live", "static"] = "live"


class Healthcheck(_Model):
    """Docker health checks on every container.

    Every check is a `docker exec`, which costs the engine about 75 ms of CPU: at 1 s on the
    default stack's 21 containers the idle stack kept 78.5% of this machine's 2 cores busy and
    starved the drills. Load balancers check their servers themselves (every 500 ms), so
    Docker's checks only gate start-up and the steady state: every 5 s is enough.
    """

    interval_ms: int = Field(5000, ge=100)
    timeout_ms: int = Field(2000, ge=100)
    retries: int = Field(3, ge=1)


class Topology(_Model):
    """A whole replica stack."""

    zones: list[str] = Field(default_factory=lambda: ["a", "b"], min_length=1)
    service_port: int = Field(8080, ge=1024, le=65535)
    edge: LoadBalancer = LoadBalancer(replicas=2)
    api_lb: LoadBalancer = LoadBalancer()
    model_lb: LoadBalancer = LoadBalancer(timeout_server_ms=5000)
    web: Tier = Tier()
    api: ApiTier = ApiTier()
    model: ModelTier = ModelTier()
    integration: Tier = Tier(replicas=1)
    store: Store = Store()
    status: Status = Status()
    healthcheck: Healthcheck = Healthcheck()

    def zone_of(self, replica: int) -> str:
        """Zone of the replica with this index (round-robin over the zones)."""
        return self.zones[replica % len(self.zones)]

    def store_zone_of(self, node: int) -> str:
        """Zone of the Redis node with this index (round-robin over the store's zones)."""
        zones = self.store.zones or self.zones
        return zones[node % len(zones)]

    def serving_tiers(self) -> dict[str, int]:
        """Replica count of every tier on a request path, in data-path order."""
        return {
            "edge": self.edge.replicas,
            "web": self.web.replicas,
            "api_lb": self.api_lb.replicas,
            "api": self.api.replicas,
            "model_lb": self.model_lb.replicas,
            "model": self.model.replicas,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, for stack outputs and reports."""
        return self.model_dump(mode="json")


def _loc(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"]) or "topology"


def _one_line(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    key = _loc(err)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        allowed = _allowed_keys(parent)
        return f"{source}: unknown key '{key}'; allowed keys here: {', '.join(allowed)}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{source}: {key} = {value!r} is not allowed; use one of {expected}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{source}: {key} = {value!r} is not an integer; give a whole number"
    if kind in ("float_parsing", "float_type"):
        return f"{source}: {key} = {value!r} is not a number; give a number such as 1.5"
    if kind == "missing":
        return f"{source}: {key} is required"
    if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        ctx = err.get("ctx", {})
        bound = {
            "greater_than": f"> {ctx.get('gt')}",
            "greater_than_equal": f">= {ctx.get('ge')}",
            "less_than_equal": f"<= {ctx.get('le')}",
            "less_than": f"< {ctx.get('lt')}",
        }[kind]
        return f"{source}: {key} = {value!r} is out of range; it must be {bound}"
    if kind == "value_error":
        return f"{source}: {err['msg'].removeprefix('Value error, ')}"
    return f"{source}: {key} = {value!r}: {err['msg']}"


def _allowed_keys(dotted: str) -> list[str]:
    model: type[BaseModel] = Topology
    for part in [p for p in dotted.split(".") if p]:
        field = model.model_fields.get(part)
        ann = field.annotation if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            break
    return sorted(model.model_fields)


def parse(data: Any, source: str = "topology") -> Topology:
    """Validate a topology given as a plain mapping; raise TopologyError with one line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: the topology must be a mapping, got {type(data).__name__}")
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(_one_line(exc, source)) from exc


def builtin_names() -> list[str]:
    """Names of the topologies shipped as Pulumi stack files next to Pulumi.yaml."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in PROJECT_ROOT.glob("Pulumi.*.yaml"))


def resolve_path(name_or_path: str) -> Path:
    """Map a topology name (`default`) or a path to its stack config file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise TopologyError(f"topology file {name_or_path} does not exist")
        return candidate
    path = PROJECT_ROOT / f"Pulumi.{name_or_path}.yaml"
    if not path.is_file():
        raise TopologyError(
            f"unknown topology '{name_or_path}'; use one of {', '.join(builtin_names())} "
            "or a path to a Pulumi.<name>.yaml file"
        )
    return path


def load(name_or_path: str) -> Topology:
    """Read and validate a topology from a Pulumi stack config file, by name or path."""
    path = resolve_path(name_or_path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path}: not valid YAML ({exc.__class__.__name__}): fix the syntax") from exc
    if not isinstance(doc, dict):
        raise TopologyError(f"{path}: expected a mapping with a 'config' key")
    config = doc.get("config") or {}
    return parse(config.get(CONFIG_KEY), source=str(path.name))
