"""The one place on the fault side that talks to the Docker engine (Docker SDK, the client of
`infra.docker_resources`)."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import docker
import docker.errors
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from infra.docker_resources import client
from infra.errors import FaultError

log = logging.getLogger(__name__)


def inspect(name: str) -> dict[str, Any]:
    """Raw `docker inspect` of a container."""
    try:
        return dict(client().api.inspect_container(name))
    except docker.errors.NotFound as exc:
        raise FaultError(f"container {name} does not exist", target=name) from exc


def state(name: str) -> str:
    """running, paused, exited, created, ... of a container."""
    st = inspect(name)["State"]
    return "paused" if st.get("Paused") else str(st["Status"])


def kill(name: str, signal: str = "SIGKILL") -> None:
    """Send a signal (default SIGKILL) to the container's main process."""
    client().api.kill(name, signal=signal)


def stop(name: str, timeout_s: int = 10) -> None:
    """Stop gracefully: SIGTERM, then SIGKILL after timeout_s."""
    client().api.stop(name, timeout=timeout_s)


def start(name: str) -> None:
    """Start a stopped container (no-op if running)."""
    if state(name) != "running":
        client().api.start(name)


def restart(name: str, timeout_s: int = 10) -> None:
    """Graceful restart."""
    client().api.restart(name, timeout=timeout_s)


@retry(
    retry=retry_if_exception_type(docker.errors.APIError),
    stop=stop_after_attempt(4),
    wait=wait_fixed(0.2),
    reraise=True,
)
def pause(name: str) -> None:
    """Freeze every process of the container (cgroup freezer).

    The freezer can refuse transiently ("unable to freeze") when it races a process that is
    just being started in the container, such as a health-check exec: retried a few times.
    """
    if state(name) != "paused":
        client().api.pause(name)


def unpause(name: str) -> None:
    """Thaw a paused container (no-op if not paused)."""
    if state(name) == "paused":
        client().api.unpause(name)


def update_resources(
    name: str,
    *,
    cpu_quota: int | None = None,
    cpu_period: int | None = None,
    mem_limit: int | None = None,
    memswap_limit: int | None = None,
) -> None:
    """`docker update` of CPU quota/period and memory limits."""
    kwargs: dict[str, Any] = {}
    if cpu_quota is not None:
        kwargs["cpu_quota"] = cpu_quota
    if cpu_period is not None:
        kwargs["cpu_period"] = cpu_period
    if mem_limit is not None:
        kwargs["mem_limit"] = mem_limit
    if memswap_limit is not None:
        kwargs["memswap_limit"] = memswap_limit
    client().api.update_container(name, **kwargs)


def networks_of(name: str) -> dict[str, list[str]]:
    """Network name -> this container's aliases on it."""
    nets = inspect(name)["NetworkSettings"]["Networks"] or {}
    return {n: list(v.get("Aliases") or []) for n, v in nets.items()}


def disconnect(name: str, network: str) -> None:
    """Detach a container from a network."""
    client().api.disconnect_container_from_network(name, network, force=True)


def fixed_ip(name: str) -> str:
    """The container's fixed address, if it has one: its own name's line in its /etc/hosts extras."""
    for line in inspect(name)["HostConfig"].get("ExtraHosts") or []:
        host, _, ip = line.partition(":")
        if host == name:
            return str(ip)
    return ""


def connect(name: str, network: str, aliases: list[str]) -> None:
    """Attach a container to a network with these aliases and its fixed address (no-op if attached)."""
    if network in networks_of(name):
        return
    aliases = [a for a in aliases if a != inspect(name)["Id"][:12]]
    # A fixed address lies outside Docker's dynamic range, so it only applies on its own network.
    ipv4 = fixed_ip(name)
    subnet_ok = ipv4 and any(
        ipaddress.ip_address(ipv4) in ipaddress.ip_network(cfg["Subnet"])
        for cfg in (client().api.inspect_network(network).get("IPAM") or {}).get("Config") or []
        if cfg.get("Subnet")
    )
    client().api.connect_container_to_network(
        name, network, aliases=aliases or None, ipv4_address=ipv4 if subnet_ok else None
    )
    restore_extra_hosts(name)


def missing_extra_hosts(name: str) -> list[str]:
    """The container's `ExtraHosts` entries ("name:address") absent from its running /etc/hosts.

    Docker 20.10 rewrites a container's /etc/hosts when it is reconnected to a network and
    leaves its extra hosts out: a partitioned API replica then resolved the Sentinels through
    DNS again, which stalls for seconds on a stopped container's name (seen: 5.7 s of failed
    writes in a later zone loss, on that replica only).
    """
    extras = inspect(name)["HostConfig"].get("ExtraHosts") or []
    if not extras:
        return []
    code, text = exec_run(name, ["cat", "/etc/hosts"])
    if code != 0:
        raise FaultError(f"cannot read /etc/hosts of {name}: {text.strip()[:200]}", target=name)
    present: set[tuple[str, str]] = set()
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        present.update((fields[0], host) for host in fields[1:])
    return [e for e in extras if (e.partition(":")[2], e.partition(":")[0]) not in present]


def restore_extra_hosts(name: str) -> None:
    """Put back the container's extra hosts that Docker dropped from its /etc/hosts."""
    missing = missing_extra_hosts(name)
    if not missing:
        return
    lines = [f"{e.partition(':')[2]}\t{e.partition(':')[0]}" for e in missing]
    code, text = exec_run(name, ["sh", "-c", 'printf "%s\\n" "$@" >> /etc/hosts', "sh", *lines], user="0")
    if code != 0 or missing_extra_hosts(name):
        raise FaultError(f"cannot restore the /etc/hosts entries of {name}: {text.strip()[:200]}", target=name)


def exec_run(name: str, cmd: list[str], timeout_s: int = 10, user: str = "") -> tuple[int, str]:
    """Run a command inside a running container (as its own user unless given); return (exit code, output)."""
    wrapped = ["timeout", str(timeout_s), *cmd]
    try:
        result = client().containers.get(name).exec_run(wrapped, demux=False, user=user)
    except docker.errors.APIError as exc:
        raise FaultError(f"exec in {name} failed: {exc.explanation or exc}", target=name) from exc
    return int(result.exit_code or 0), (result.output or b"").decode(errors="replace")


def serving(name: str) -> bool:
    """Whether a container runs and its own Docker health check passes when run now.

    Docker runs the first check only an interval after the start (5 s by default here); the
    check's command, run at once through `docker exec`, says as soon as the service answers.
    A container without a health check counts as serving once it runs.
    """
    info = inspect(name)
    if not info["State"]["Running"]:
        return False
    test = list((info["Config"].get("Healthcheck") or {}).get("Test") or [])
    if not test or test[0] == "NONE":
        return True
    cmd = test[1:] if test[0] == "CMD" else ["sh", "-c", " ".join(test[1:])]
    try:
        code, _ = exec_run(name, cmd, timeout_s=2)
    except FaultError:  # not running any more, or exec refused while it starts
        return False
    return code == 0


def logs_since(name: str, since_epoch_s: float) -> str:
    """A container's stdout and stderr since a wall-clock time, with Docker's timestamps ("" if gone)."""
    try:
        raw = client().api.logs(name, stdout=True, stderr=True, timestamps=True, since=int(since_epoch_s))
    except docker.errors.DockerException:
        return ""
    return bytes(raw).decode("utf-8", "replace")


def containers_with_label(label: str) -> list[dict[str, Any]]:
    """Raw summaries of containers carrying a label (key=value)."""
    return list(client().api.containers(all=True, filters={"label": label}))
