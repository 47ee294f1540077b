"""Shared pieces of the component resources: names, labels, health checks, container entries."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from infra.outputs import (
    LABEL_OWNER_PID,
    LABEL_REPLICA,
    LABEL_STACK,
    LABEL_TIER,
    LABEL_ZONE,
    Container,
)
from infra.specs import HealthSpec
from infra.topology import Healthcheck

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
_templates = Environment(
    loader=FileSystemLoader(str(SERVICES_DIR)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # config files, not HTML
)


@dataclass(frozen=True)
class StackContext:
    """What every component needs to know about the stack it belongs to."""

    stack: str
    image: str
    owner_pid: str
    healthcheck: Healthcheck
    port: int
    front_network: str
    back_network: str
    # The back network's subnet when it has one: the store's nodes and Sentinels then get fixed
    # addresses, and `hosts` (name -> address) goes into /etc/hosts where those names are dialled.
    back_subnet: str = ""
    hosts: dict[str, str] = field(default_factory=dict)

    def fixed_ip(self, offset: int) -> str:
        """The address `offset` into the back subnet ('' when the network has no fixed subnet)."""
        if not self.back_subnet:
            return ""
        return str(ipaddress.ip_network(self.back_subnet)[offset])

    def name(self, tier: str, replica: int) -> str:
        """Container name: stack-prefixed, one per tier replica."""
        return f"sd-{self.stack}-{tier.replace('_', '-')}-{replica}"

    def alias(self, tier: str) -> str:
        """DNS alias shared by every replica of a tier."""
        return f"sd-{self.stack}-{tier.replace('_', '-')}"

    def labels(self, tier: str, replica: int, zone: str) -> dict[str, str]:
        """The stackdrill.* labels on every container."""
        return {
            LABEL_STACK: self.stack,
            LABEL_TIER: tier,
            LABEL_REPLICA: str(replica),
            LABEL_ZONE: zone,
            LABEL_OWNER_PID: self.owner_pid,
        }

    def health(self, *test: str) -> HealthSpec:
        """A Docker health check with the topology's timings."""
        return HealthSpec(
            test=tuple(test),
            interval_ms=self.healthcheck.interval_ms,
            timeout_ms=self.healthcheck.timeout_ms,
            retries=self.healthcheck.retries,
            start_period_ms=2000,
        )

    def http_health(self, port: int, path: str) -> HealthSpec:
        """A health check that curls a local HTTP endpoint."""
        url = f"http://127.0.0.1:{port}{path}"
        return self.health("curl", "-fsS", "-o", "/dev/null", "--max-time", "1", url)


def dynamic_range(subnet: str) -> str:
    """The upper half of a subnet: where Docker hands out dynamic addresses, away from fixed ones."""
    if not subnet:
        return ""
    return str(list(ipaddress.ip_network(subnet).subnets(prefixlen_diff=1))[1])


def render(template: str, **values: Any) -> str:
    """Render a config template from services/."""
    return _templates.get_template(template).render(**values)


def entry(name: str, tier: str, replica: int, zone: str, networks: list[str], role: str = "") -> Container:
    """One entry of the `containers` stack output."""
    return Container(name=name, tier=tier, replica=replica, zone=zone, role=role or tier, networks=tuple(networks))
