"""Names of the stack outputs, defined once; the Pulumi program writes them, the test side reads them.

Shape of the outputs of a deployed stack:

    stack:          "default"
    edges:          ["http://127.0.0.1:41001", "http://127.0.0.1:41002"]   # the two edge HAProxies
    status_url:     "http://127.0.0.1:41003"                                # status page service
    toxiproxy_url:  "http://127.0.0.1:41004"                                # chaos proxy API
    lb_stats:       {"edge-0": "http://127.0.0.1:41005", ...}              # HAProxy stats (CSV at ;csv)
    networks:       {"front": "sd-default-front", "back": "sd-default-back"}
    containers:     [ {name, tier, replica, zone, role, networks}, ... ]
    edges_proxied:  {"web_api": ["web_api"], "api_model": ["api_model"],
                     "api_redis": ["api_redis_0", "api_redis_1"], "api_integration": ["api_integration"]}
    topology:       the validated topology as a plain dict
    image:          the service image the containers run
    backend:        "docker"
    admin_port:     9901
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from infra import labels as _labels
from infra.errors import StackError

STACK = "stack"
EDGES = "edges"
STATUS_URL = "status_url"
TOXIPROXY_URL = "toxiproxy_url"
LB_STATS = "lb_stats"
NETWORKS = "networks"
CONTAINERS = "containers"
EDGES_PROXIED = "edges_proxied"
TOPOLOGY = "topology"
IMAGE = "image"
BACKEND = "backend"  # the resource backend that made the containers ("docker")
ADMIN_PORT = "admin_port"  # the services' loopback-only admin port (fault injection)

# Docker labels on every object the kit creates: defined in infra.labels, which imports no
# pydantic, so the dynamic-provider host can use them cheaply; re-exported here. The rule: the
# provider host's path (infra.docker_resources) and bench/sdk_down.py import infra.labels; the rest
# of the kit uses these names.
LABEL_STACK = _labels.LABEL_STACK
LABEL_TIER = _labels.LABEL_TIER
LABEL_REPLICA = _labels.LABEL_REPLICA
LABEL_ZONE = _labels.LABEL_ZONE
LABEL_OWNER_PID = _labels.LABEL_OWNER_PID
LABEL_KIT = _labels.LABEL_KIT

# Tier names.
TIER_EDGE = "edge"
TIER_WEB = "web"
TIER_API = "api"
TIER_API_LB = "api_lb"
TIER_MODEL = "model"
TIER_MODEL_LB = "model_lb"
TIER_INTEGRATION = "integration"
TIER_STATUS = "status"
TIER_REDIS = "redis"
TIER_SENTINEL = "sentinel"
TIER_CHAOS = "chaos"


def lb_backend(tier: str) -> str:
    """The HAProxy backend that serves a tier, as the LB configs and their stats name it."""
    return f"be_{tier}"


BE_WEB = lb_backend(TIER_WEB)
BE_API = lb_backend(TIER_API)
BE_MODEL = lb_backend(TIER_MODEL)

# Dependency edges carried by the chaos proxy.
EDGE_WEB_API = "web_api"
EDGE_API_MODEL = "api_model"
EDGE_API_REDIS = "api_redis"
EDGE_API_INTEGRATION = "api_integration"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Container(_Frozen):
    """One entry of the `containers` output: a container of the stack and where it sits."""

    name: str
    tier: str
    replica: int
    zone: str
    role: str
    networks: tuple[str, ...]


class StackOutputs(_Frozen):
    """The outputs of a deployed stack, parsed once (`parse`) from what the Pulumi program exported.

    The field names are the output keys above; the program writes them, everything else reads this.
    """

    stack: str
    edges: tuple[str, ...]
    status_url: str
    toxiproxy_url: str
    lb_stats: Mapping[str, str]
    networks: Mapping[str, str]
    containers: tuple[Container, ...]
    edges_proxied: Mapping[str, tuple[str, ...]]
    topology: Mapping[str, Any]
    image: str
    backend: str
    admin_port: int

    @classmethod
    def parse(cls, raw: Mapping[str, Any], stack: str = "") -> StackOutputs:
        """Typed outputs from the exported ones; StackError naming the first problem."""
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise StackError(
                f"stack {stack or raw.get(STACK, '?')} has outputs this kit cannot read ({where}: {first['msg']}); "
                "it was made by another version: stackdrill down, then up"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the keys the program exported)."""
        return self.model_dump(mode="json")

    def of_tier(self, tier: str | None = None) -> list[Container]:
        """Containers of one tier (all when None), in output order."""
        return [c for c in self.containers if tier is None or c.tier == tier]

    def container(self, name: str) -> Container:
        """The container of that name; KeyError if the stack has none."""
        for c in self.containers:
            if c.name == name:
                return c
        raise KeyError(name)


OUTPUT_KEYS = (
    STACK, EDGES, STATUS_URL, TOXIPROXY_URL, LB_STATS, NETWORKS, CONTAINERS, EDGES_PROXIED, TOPOLOGY, IMAGE, BACKEND,
    ADMIN_PORT,
)  # fmt: skip
