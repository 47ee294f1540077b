"""Pulumi dynamic resources for Docker networks and containers, built on the Docker SDK.

Used where the `pulumi-docker` provider plugin is not installed (it cannot be built
offline). Containers are replaced on any change, except a change of files alone on a
container that declares a reload signal, which is applied in place (HAProxy reloads
seamlessly on SIGUSR2, so an LB picks up a new replica without dropping traffic).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

_OUT_KEYS = ("container_id", "host_ports", "secret_env_sha")


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value or {}, sort_keys=True).encode()).hexdigest()


def _public(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if not k.startswith("__") and k != "secret_env"}


class ContainerProvider(ResourceProvider):
    """Create, diff, update (files + reload signal), read and delete one container."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from infra import docker_resources

        secret_env = props.get("secret_env") or {}
        spec = _public(props)
        spec["env"] = {**(spec.get("env") or {}), **secret_env}
        out = docker_resources.create_container(spec)
        outs = {k: v for k, v in _public(props).items() if k not in _OUT_KEYS}
        outs.update(out)
        outs["secret_env_sha"] = _sha(secret_env)
        return CreateResult(id_=out["container_id"], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k, v in _public(news).items() if k not in _OUT_KEYS and olds.get(k) != v]
        if _sha(news.get("secret_env")) != olds.get("secret_env_sha"):
            changed.append("secret_env")
        in_place = changed == ["files"] and bool(news.get("reload_signal"))
        return DiffResult(
            changes=bool(changed),
            replaces=[] if in_place else changed,
            stables=[],
            delete_before_replace=True,
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from infra import docker_resources

        docker_resources.update_files(news["name"], news["files"], news["reload_signal"])
        outs = {k: v for k, v in _public(news).items() if k not in _OUT_KEYS}
        outs.update({k: olds.get(k) for k in _OUT_KEYS})
        return UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from infra import docker_resources

        if not docker_resources.container_exists(id_):
            return ReadResult(id_=None, outs={})
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from infra import docker_resources

        docker_resources.remove_container(props.get("name") or _id)


class NetworkProvider(ResourceProvider):
    """Create and delete one bridge network."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from infra import docker_resources

        net_id = docker_resources.create_network(
            props["name"], props["labels"], props.get("subnet") or "", props.get("ip_range") or ""
        )
        return CreateResult(id_=net_id, outs={**_public(props), "network_id": net_id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k, v in _public(news).items() if k != "network_id" and olds.get(k) != v]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from infra import docker_resources

        docker_resources.remove_network(props["name"])


class DockerNetwork(Resource, module="docker", name="Network"):
    """A Docker network managed through the dynamic provider."""

    network_id: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(NetworkProvider(), name, {**props, "network_id": None}, opts)


class DockerContainer(Resource, module="docker", name="Container"):
    """A Docker container managed through the dynamic provider."""

    container_id: pulumi.Output[str]
    host_ports: pulumi.Output[dict[str, int]]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        inputs = {**props, "container_id": None, "host_ports": None, "secret_env_sha": None}
        super().__init__(ContainerProvider(), name, inputs, opts)
