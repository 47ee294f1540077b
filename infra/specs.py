"""Plain descriptions of the Docker objects a stack needs, shared by every resource backend."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HealthSpec:
    """A Docker health check."""

    test: tuple[str, ...]
    interval_ms: int = 1000
    timeout_ms: int = 2000
    retries: int = 3
    start_period_ms: int = 2000


@dataclass(frozen=True)
class NetworkSpec:
    """A user-defined bridge network."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    # An explicit IPv4 subnet ("10.213.7.0/24") so some containers can have fixed addresses;
    # Docker then hands out dynamic addresses only from `ip_range` (the upper half).
    subnet: str = ""
    ip_range: str = ""


@dataclass(frozen=True)
class Attachment:
    """A container's membership of a network, with the DNS aliases it answers to there."""

    network: str
    aliases: tuple[str, ...] = ()
    ipv4: str = ""  # a fixed address on that network (needs a network with a subnet)


@dataclass(frozen=True)
class ContainerSpec:
    """One container: image, command, settings, files written before start, health check."""

    name: str
    image: str
    command: tuple[str, ...]
    labels: dict[str, str]
    networks: tuple[Attachment, ...]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    publish: tuple[int, ...] = ()
    health: HealthSpec | None = None
    user: str = "10001:10001"
    cap_add: tuple[str, ...] = ()
    hostname: str = ""
    # name -> address lines for /etc/hosts: names that resolve without DNS, even when their
    # container is stopped (a lookup of a stopped container's name can stall for seconds).
    extra_hosts: dict[str, str] = field(default_factory=dict)

    def to_props(self) -> dict[str, object]:
        """Serialisable form used as Pulumi dynamic resource inputs."""
        return {
            "name": self.name,
            "image": self.image,
            "command": list(self.command),
            "labels": dict(self.labels),
            "networks": [{"network": a.network, "aliases": list(a.aliases), "ipv4": a.ipv4} for a in self.networks],
            "env": dict(self.env),
            "files": dict(self.files),
            "publish": list(self.publish),
            "health": None
            if self.health is None
            else {
                "test": list(self.health.test),
                "interval_ms": self.health.interval_ms,
                "timeout_ms": self.health.timeout_ms,
                "retries": self.health.retries,
                "start_period_ms": self.health.start_period_ms,
            },
            "user": self.user,
            "cap_add": list(self.cap_add),
            "hostname": self.hostname,
            "extra_hosts": dict(self.extra_hosts),
        }
