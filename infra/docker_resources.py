"""The one place on the infra side that talks to the Docker engine (Docker SDK)."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import os
import socket
import tarfile
import threading
import time
import zlib
from collections.abc import Collection, Iterable
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors
import docker.types
import tenacity
from docker.models.containers import Container

from infra.errors import StackError, StaleNetwork, ToolchainError
from infra.labels import LABEL_KIT, LABEL_STACK
from infra.wait import wait_until

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def client() -> docker.DockerClient:
    """A Docker client for the engine named by DOCKER_HOST (or the local socket)."""
    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except docker.errors.DockerException as exc:
        raise ToolchainError(
            "Docker engine not reachable (is dockerd running?); run `make setup` "
            f"or start dockerd, then retry ({exc.__class__.__name__})"
        ) from exc
    return c


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    dirs = sorted({str(parent) for p in files for parent in PurePosixPath(p.lstrip("/")).parents} - {"."})
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in dirs:
            dinfo = tarfile.TarInfo(d)
            dinfo.type = tarfile.DIRTYPE
            dinfo.mode = 0o755
            dinfo.uid = dinfo.gid = 10001
            tar.addfile(dinfo)
        for path, content in sorted(files.items()):
            data = content.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = 0o644
            info.uid = info.gid = 10001
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def create_network(name: str, labels: dict[str, str], subnet: str = "", ip_range: str = "") -> str:
    """Create a bridge network (or adopt an existing one with the same name); return its id."""
    c = client()
    for net in c.networks.list(names=[name]):
        if net.name == name:
            return str(net.id)
    ipam = None
    if subnet:
        pool = docker.types.IPAMPool(subnet=subnet, iprange=ip_range or None)
        ipam = docker.types.IPAMConfig(pool_configs=[pool])
    try:
        net = c.networks.create(name, driver="bridge", labels={**labels, LABEL_KIT: "1"}, ipam=ipam)
    except docker.errors.APIError as exc:
        raise StackError(
            f"creating network {name} ({subnet or 'any subnet'}) failed: {exc.explanation or exc}"
        ) from exc
    return str(net.id)


# Fixed-address networks are carved from this range, one /24 per stack; Docker's own default
# pools (172.17-31.x, 192.168.x) never overlap it.
KIT_SUBNETS = "10.213.{}.0/24"


def used_subnets() -> set[str]:
    """Every IPv4 subnet an existing Docker network uses, and, for an engine on this host, every
    subnet this host routes (another engine's bridges: two engines on one kernel share its routes)."""
    out = set()
    for net in client().api.networks():
        for cfg in (net.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet"):
                out.add(str(cfg["Subnet"]))
    if os.environ.get("DOCKER_HOST", "unix://").startswith("unix://"):
        out |= host_routes()
    return out


def host_routes(path: Path = Path("/proc/net/route")) -> set[str]:
    """The IPv4 subnets of this host's routing table (`10.213.4.0/24`), from /proc/net/route."""
    found: set[str] = set()
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest, mask = (ipaddress.IPv4Address(int(f, 16).to_bytes(4, "little")) for f in (fields[1], fields[7]))
        if int(mask):
            found.add(str(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
    return found


def network_subnet(name: str) -> str:
    """The subnet of an existing network ('' if there is none, or it has none)."""
    for net in client().api.networks(names=[name]):
        if net["Name"] == name:
            for cfg in (net.get("IPAM") or {}).get("Config") or []:
                return str(cfg.get("Subnet") or "")
    return ""


def pick_subnet(network: str, seed: str) -> str:
    """The network's subnet if it exists, else a free kit /24 chosen from `seed` (stable per stack)."""
    existing = network_subnet(network)
    if existing:
        return existing
    used = used_subnets()
    start = zlib.crc32(seed.encode()) % 256
    for k in range(256):
        candidate = KIT_SUBNETS.format((start + k) % 256)
        if candidate not in used:
            return candidate
    raise StackError("no free 10.213.x.0/24 subnet left for a stack network; fix: stackdrill reap --remove")


def _endpoints_linger(exc: BaseException) -> bool:
    return isinstance(exc, docker.errors.APIError) and "active endpoints" in str(exc)


def remove_network(name: str) -> None:
    """Remove a network by name; missing is fine.

    The engine releases a removed container's endpoint a moment after the container is gone, so
    "has active endpoints" is retried for a while. Once in a test run here it never went: the
    network listed no container, `docker network disconnect -f` knew no endpoint, and only a
    restart of dockerd frees such a network. That case raises StaleNetwork, which a sweep reports
    and steps over instead of failing the next run's reaping.
    """
    try:
        _remove_network(name)
    except docker.errors.APIError as exc:
        if not _endpoints_linger(exc):
            raise
        raise StaleNetwork(
            f"network {name} keeps a stale endpoint in the Docker engine with no container attached; "
            "restarting dockerd frees it (make setup starts a new one)"
        ) from exc


@tenacity.retry(
    retry=tenacity.retry_if_exception(_endpoints_linger),
    wait=tenacity.wait_fixed(0.5),
    stop=tenacity.stop_after_delay(10),
    reraise=True,
)
def _remove_network(name: str) -> None:
    for net in client().networks.list(names=[name]):
        if net.name != name:
            continue
        net.reload()
        for cont in net.containers:
            with contextlib.suppress(docker.errors.APIError):
                net.disconnect(cont, force=True)
        with contextlib.suppress(docker.errors.NotFound):
            net.remove()


def create_container(props: dict[str, Any]) -> dict[str, Any]:
    """Create, configure and start a container from ContainerSpec props; return id and host ports."""
    c = client()
    name = props["name"]
    remove_container(name)  # a leftover of a crashed run must not block the name
    health = props.get("health")
    healthcheck = None
    if health:
        healthcheck = {
            "test": ["CMD", *health["test"]],
            "interval": int(health["interval_ms"]) * 1_000_000,
            "timeout": int(health["timeout_ms"]) * 1_000_000,
            "retries": int(health["retries"]),
            "start_period": int(health["start_period_ms"]) * 1_000_000,
        }
    publish = [int(p) for p in props["publish"]]  # numbers arrive as floats through the engine

    def attempt() -> str:
        try:
            return _create_and_start(c, props, healthcheck, publish)
        except docker.errors.APIError:
            remove_container(name)  # a half-made container must not block the next try's name
            raise

    # Docker picks a new random host port each time a container restarts; a port chosen here
    # and bound explicitly survives kill/start, so the stack outputs stay true during drills.
    # A chosen port can still be taken by the time Docker binds it (another container of a
    # stack coming up in parallel drew the same one: seen once in `make test`, "Bind for
    # 127.0.0.1:47071 failed: port is already allocated"), so a port clash is retried with
    # fresh ports; any other error is the stack's.
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_port_clash),
        stop=tenacity.stop_after_attempt(_PORT_ATTEMPTS),
        before_sleep=lambda _state: log.warning("container %s: host port clash; retrying with fresh ports", name),
        reraise=True,
    )
    try:
        cid = retrying(attempt)
    except docker.errors.APIError as exc:
        raise StackError(f"creating container {name} failed: {exc.explanation or exc}") from exc
    return {"container_id": cid, "host_ports": host_ports(cid, publish)}


_PORT_ATTEMPTS = 5
_PORT_CLASH = ("port is already allocated", "address already in use")


def _is_port_clash(exc: BaseException) -> bool:
    """Whether a failed start is a host port taken since it was chosen (worth a try on fresh ports)."""
    return isinstance(exc, docker.errors.APIError) and any(m in str(exc.explanation or exc) for m in _PORT_CLASH)


def _create_and_start(
    c: docker.DockerClient, props: dict[str, Any], healthcheck: dict[str, Any] | None, publish: list[int]
) -> str:
    """One try at creating, configuring and starting a container, on freshly chosen host ports."""
    name = props["name"]
    held = _held_host_ports(c) if publish else set()
    bindings = {p: ("127.0.0.1", free_port(avoid=held)) for p in publish}
    networks = props["networks"]
    first = networks[0]
    host_config = c.api.create_host_config(
        port_bindings={f"{p}/tcp": bindings[p] for p in publish},
        cap_drop=["ALL"],
        cap_add=props.get("cap_add") or None,
        init=True,
        security_opt=["no-new-privileges"],
        restart_policy={"Name": "no"},
        extra_hosts=props.get("extra_hosts") or None,
    )
    networking = c.api.create_networking_config(
        {
            first["network"]: c.api.create_endpoint_config(
                aliases=first["aliases"] or None, ipv4_address=first.get("ipv4") or None
            )
        }
    )
    created = c.api.create_container(
        image=props["image"],
        command=props["command"],
        name=name,
        hostname=props.get("hostname") or name,
        user=props["user"],
        environment=props["env"],
        labels=props["labels"] | {LABEL_KIT: "1"},
        ports=[(p, "tcp") for p in publish],
        host_config=host_config,
        networking_config=networking,
        healthcheck=healthcheck,
    )
    cid = created["Id"]
    for att in networks[1:]:
        c.api.connect_container_to_network(
            cid, att["network"], aliases=att["aliases"] or None, ipv4_address=att.get("ipv4") or None
        )
    if props["files"]:
        c.api.put_archive(cid, "/", _tar(props["files"]))
    c.api.start(cid)
    return str(cid)


def free_port(avoid: Collection[int] = ()) -> int:
    """A free TCP port on 127.0.0.1, chosen by the kernel (never a fixed number), not in `avoid`."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
    raise StackError("no free host port on 127.0.0.1 after 64 tries; is the ephemeral port range exhausted?")


def _held_host_ports(c: docker.DockerClient) -> set[int]:
    """Host ports Docker holds for any container: the kernel may not see them as taken (no
    docker-proxy listens on them), so its choice is checked against these."""
    held: set[int] = set()
    for entry in c.api.containers(all=True):
        held.update(int(p["PublicPort"]) for p in entry.get("Ports") or [] if p.get("PublicPort"))
    # A killed container keeps its ports for its restart, but lists none while it is down.
    for entry in c.api.containers(all=True, filters={"label": LABEL_KIT, "status": ["created", "exited", "dead"]}):
        try:
            info = c.api.inspect_container(entry["Id"])
        except docker.errors.NotFound:  # removed since it was listed (a parallel create's retry)
            continue
        for bindings in (info["HostConfig"].get("PortBindings") or {}).values():
            held.update(int(b["HostPort"]) for b in bindings or [] if b.get("HostPort"))
    return held


def host_ports(container_id: str, ports: Iterable[int]) -> dict[str, int]:
    """The 127.0.0.1 host ports Docker allocated for the container's published ports."""
    wanted = list(ports)
    if not wanted:
        return {}

    def bound() -> tuple[bool, dict[str, int]]:
        ports = client().api.inspect_container(container_id)["NetworkSettings"]["Ports"] or {}
        out = {str(p): int(b[0]["HostPort"]) for p in wanted if (b := ports.get(f"{p}/tcp")) and b[0].get("HostPort")}
        return len(out) == len(wanted), out

    return wait_until(
        bound, what=f"Docker to bind host ports {wanted} of {container_id[:12]}", timeout_s=10, interval_s=0.05
    )


# Docker 20.10 keeps a count of each network's endpoints. Many containers of one network exiting
# at once (a teardown's parallel force-removals) sometimes leave that count one too high: the
# network then lists no container yet refuses removal ("has active endpoints") until dockerd
# restarts (moby/moby#43286, #42119). Measured here with 21 `sleep` containers on two networks
# force-removed from 64 threads: 3 of 30 teardowns left a stale network (and 1 of 7 with each
# container SIGKILLed and waited for before its removal). Taking each running container off its
# networks one at a time first, so that no two endpoint deletions of this process overlap and
# its exit has none left to delete: 0 of 60. Paused first: a running HAProxy container cut off
# from its networks then took 3.6-3.9 s to remove in 5 of 7 destroys of the default stack; paused,
# none of 3 took over 1 s. The cost: the disconnects, 70-100 ms each, one at a time.
_ENDPOINTS = threading.Lock()


def leave_networks(name_or_id: str) -> bool:
    """Pause a running container, then disconnect it from every network it is on, one endpoint at a
    time per process (see _ENDPOINTS); False if there is no such container."""
    try:
        attrs = client().api.inspect_container(name_or_id)
    except docker.errors.NotFound:
        return False
    state = attrs.get("State") or {}
    if not state.get("Running"):
        return True  # a stopped container's endpoints went when it stopped
    if not state.get("Paused"):
        try:
            client().api.pause(name_or_id)
        except docker.errors.APIError as exc:  # stopped meanwhile, or a paused fault's revert: remove anyway
            log.debug("pausing %s before it leaves its networks: %s", name_or_id, exc)
    for network in (attrs.get("NetworkSettings") or {}).get("Networks") or {}:
        try:
            with _ENDPOINTS:
                client().api.disconnect_container_from_network(name_or_id, network, force=True)
        except docker.errors.APIError as exc:  # removed or stopped meanwhile: its exit took it
            log.debug("disconnecting %s from %s: %s", name_or_id, network, exc)
    return True


def remove_container(name_or_id: str) -> None:
    """Force-remove a container and its anonymous volumes; missing is fine."""
    try:
        if not leave_networks(name_or_id):
            return  # a fresh name at create: one inspect, no second call
        client().api.remove_container(name_or_id, force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise
        _wait_removed(name_or_id)


def _wait_removed(name_or_id: str, timeout_s: float = 20.0) -> None:
    """Wait until another caller's removal of the container is done: a network it was attached
    to cannot be removed before that (the provider's delete, the sweep and the reaper can meet)."""
    deadline = time.monotonic() + timeout_s
    while container_exists(name_or_id) and time.monotonic() < deadline:
        time.sleep(0.1)


def container_exists(name_or_id: str) -> bool:
    """Whether a container exists (in any state)."""
    try:
        client().api.inspect_container(name_or_id)
        return True
    except docker.errors.NotFound:
        return False


def stack_containers(stack: str) -> list[Container]:
    """Every container labelled as part of this stack."""
    return list(client().containers.list(all=True, filters={"label": f"{LABEL_STACK}={stack}"}))


def health_of(stack: str) -> dict[str, str]:
    """Container name -> health (`healthy`, `starting`, `unhealthy`, or the state if no check)."""
    out: dict[str, str] = {}
    for cont in client().api.containers(all=True, filters={"label": f"{LABEL_STACK}={stack}"}):
        name = cont["Names"][0].lstrip("/")
        status = cont.get("Status", "")
        if cont["State"] != "running":
            out[name] = cont["State"]
        elif "(healthy)" in status:
            out[name] = "healthy"
        elif "(unhealthy)" in status:
            out[name] = "unhealthy"
        elif "health: starting" in status:
            out[name] = "starting"
        else:
            out[name] = "running"
    return out


def kit_objects(label_filter: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Raw container and network summaries of everything carrying the kit label."""
    flt = {"label": label_filter or f"{LABEL_KIT}=1"}
    api = client().api
    return api.containers(all=True, filters=flt), api.networks(filters=flt)


def update_files(name: str, files: dict[str, str], reload_signal: str) -> None:
    """Rewrite a running container's files and signal it to reload (HAProxy: SIGUSR2)."""
    api = client().api
    try:
        api.put_archive(name, "/", _tar(files))
        api.kill(name, signal=reload_signal)
    except docker.errors.APIError as exc:
        raise StackError(f"reloading {name} failed: {exc.explanation or exc}") from exc


def image_exists(tag: str) -> bool:
    """Whether an image with this tag is present locally."""
    try:
        client().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_image(context: Path, tag: str, buildargs: dict[str, str]) -> None:
    """Build an image from a local context with no network."""
    try:
        client().images.build(path=str(context), tag=tag, buildargs=buildargs, rm=True, network_mode="none", pull=False)
    except docker.errors.BuildError as exc:
        lines = [str(x.get("stream", x.get("error", ""))).strip() for x in exc.build_log]
        raise StackError(f"building {tag} failed: {' | '.join(x for x in lines if x)[-400:]}") from exc


def save_image(tag: str, path: Path) -> None:
    """`docker save` one image to a tarball (written beside, then renamed: never half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as out:
        for chunk in client().images.get(tag).save(named=True):
            out.write(chunk)
    tmp.rename(path)


def load_image(path: Path) -> None:
    """`docker load` a tarball made by `save_image`."""
    with path.open("rb") as tarball:
        client().images.load(tarball)


def remove_images(prefix: str = "stackdrill/") -> list[str]:
    """Remove every image whose tag starts with prefix; return the tags removed."""
    removed = []
    for image in client().images.list():
        for tag in image.tags:
            if tag.startswith(prefix):
                try:
                    client().images.remove(tag, force=True)
                    removed.append(tag)
                except docker.errors.APIError:
                    pass
    return removed


def log_tail(name: str, lines: int = 5) -> str:
    """The last log lines of a container, joined on one line (for error messages)."""
    try:
        raw = client().api.logs(name, tail=lines).decode(errors="replace")
    except docker.errors.APIError as exc:
        return f"(no logs: {exc.explanation or exc})"
    return " | ".join(line.strip() for line in raw.splitlines() if line.strip())[-600:]


def states(names: Iterable[str]) -> dict[str, str]:
    """Container name -> state (`running`, `exited`, `paused`, ...; `missing` if there is none)."""
    wanted = set(names)
    out = dict.fromkeys(wanted, "missing")
    for cont in client().api.containers(all=True, filters={"label": f"{LABEL_KIT}=1"}):
        name = cont["Names"][0].lstrip("/")
        if name in wanted:
            out[name] = cont["State"]
    return out


def exec_in(name: str, cmd: list[str], timeout_s: int = 5) -> tuple[int, str]:
    """Run a command in a running container (bounded by `timeout`); return (exit code, output)."""
    try:
        result = client().api.exec_create(name, ["timeout", str(timeout_s), *cmd])
        output = client().api.exec_start(result["Id"])
        code = client().api.exec_inspect(result["Id"]).get("ExitCode")
    except docker.errors.APIError as exc:
        return 1, f"exec failed: {exc.explanation or exc}"
    return int(code or 0), (output or b"").decode(errors="replace")
