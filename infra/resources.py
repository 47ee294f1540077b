"""The seam between the Pulumi program and Docker: `pulumi_docker` or the kit's dynamic resources.

Both backends take the same ContainerSpec/NetworkSpec and expose the same outputs
(`name`, `host_ports`), so components never know which one they use.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pulumi

from infra.specs import ContainerSpec, NetworkSpec


@dataclass(frozen=True)
class ContainerHandle:
    """What a component gets back for one container."""

    resource: pulumi.Resource
    name: str
    host_ports: pulumi.Output[dict[str, int]]


class Backend(Protocol):
    """Creates Docker objects as Pulumi resources."""

    kind: str

    def network(self, spec: NetworkSpec, opts: pulumi.ResourceOptions) -> pulumi.Resource:
        """A network resource."""
        ...

    def container(
        self,
        spec: ContainerSpec,
        opts: pulumi.ResourceOptions,
        *,
        secret_env: pulumi.Input[dict[str, str]] | None = None,
        reload_signal: str = "",
    ) -> ContainerHandle:
        """A container resource."""
        ...


class DynamicBackend:
    """The kit's own dynamic resources on the Docker SDK (works offline)."""

    kind = "dynamic"

    def network(self, spec: NetworkSpec, opts: pulumi.ResourceOptions) -> pulumi.Resource:
        from infra.dynamic import DockerNetwork

        props = {"name": spec.name, "labels": spec.labels, "subnet": spec.subnet, "ip_range": spec.ip_range}
        return DockerNetwork(spec.name, props, opts)

    def container(
        self,
        spec: ContainerSpec,
        opts: pulumi.ResourceOptions,
        *,
        secret_env: pulumi.Input[dict[str, str]] | None = None,
        reload_signal: str = "",
    ) -> ContainerHandle:
        from infra.dynamic import DockerContainer

        props: dict[str, Any] = spec.to_props()
        props["reload_signal"] = reload_signal
        props["secret_env"] = pulumi.Output.secret(secret_env or {})
        res = DockerContainer(spec.name, props, opts)
        return ContainerHandle(res, spec.name, res.host_ports)


class PulumiDockerBackend:
    """The `pulumi_docker` provider, where its plugin is installed."""

    kind = "pulumi_docker"

    def network(self, spec: NetworkSpec, opts: pulumi.ResourceOptions) -> pulumi.Resource:
        import pulumi_docker as docker

        labels = [docker.NetworkLabelArgs(label=k, value=v) for k, v in spec.labels.items()]
        ipam = (
            [docker.NetworkIpamConfigArgs(subnet=spec.subnet, ip_range=spec.ip_range or None)] if spec.subnet else None
        )
        return docker.Network(spec.name, name=spec.name, labels=labels, ipam_configs=ipam, opts=opts)

    def container(
        self,
        spec: ContainerSpec,
        opts: pulumi.ResourceOptions,
        *,
        secret_env: pulumi.Input[dict[str, str]] | None = None,
        reload_signal: str = "",
    ) -> ContainerHandle:
        import pulumi_docker as docker

        envs: pulumi.Input[list[str]] = [f"{k}={v}" for k, v in spec.env.items()]
        if secret_env is not None:
            envs = pulumi.Output.secret(
                pulumi.Output.from_input(secret_env).apply(
                    lambda extra: [f"{k}={v}" for k, v in {**spec.env, **extra}.items()]
                )
            )
        health = None
        if spec.health:
            health = docker.ContainerHealthcheckArgs(
                tests=["CMD", *spec.health.test],
                interval=f"{spec.health.interval_ms}ms",
                timeout=f"{spec.health.timeout_ms}ms",
                retries=spec.health.retries,
                start_period=f"{spec.health.start_period_ms}ms",
            )
        res = docker.Container(
            spec.name,
            name=spec.name,
            image=spec.image,
            command=list(spec.command),
            envs=envs,
            hostname=spec.hostname or spec.name,
            user=spec.user,
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in spec.labels.items()],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=a.network, aliases=list(a.aliases), ipv4_address=a.ipv4 or None
                )
                for a in spec.networks
            ],
            hosts=[docker.ContainerHostArgs(host=h, ip=ip) for h, ip in spec.extra_hosts.items()] or None,
            ports=[docker.ContainerPortArgs(internal=p, ip="127.0.0.1") for p in spec.publish],
            uploads=[docker.ContainerUploadArgs(file=p, content=c) for p, c in spec.files.items()],
            healthcheck=health,
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"], adds=list(spec.cap_add)),
            init=True,
            restart="no",
            opts=opts,
        )
        host_ports = res.ports.apply(lambda ports: {str(p.internal): int(p.external or 0) for p in (ports or [])})
        return ContainerHandle(res, spec.name, host_ports)


def docker_plugin_installed() -> bool:
    """Whether a `pulumi-resource-docker` provider plugin is available to the engine."""
    if shutil.which("pulumi-resource-docker"):
        return True
    home = Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))
    return any((home / "plugins").glob("resource-docker-v*"))


def select_backend(prefer: str = "auto") -> Backend:
    """`pulumi_docker` where its plugin is installed (or when asked), else the dynamic resources."""
    if prefer == "pulumi_docker" or (prefer == "auto" and docker_plugin_installed()):
        return PulumiDockerBackend()
    return DynamicBackend()
