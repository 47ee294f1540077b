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


@dataclass(frozen=True)
class Attachment:
    """A container's membership of a network, with the DNS aliases it answers to there."""

    network: str
    aliases: tuple[str, ...] = ()


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

    def to_props(self) -> dict[str, object]:
        """Serialisable form used as Pulumi dynamic resource inputs."""
        return {
            "name": self.name,
            "image": self.image,
            "command": list(self.command),
            "labels": dict(self.labels),
            "networks": [{"network": a.network, "aliases": list(a.aliases)} for a in self.networks],
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
        }
