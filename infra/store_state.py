"""The replicated session store as its Sentinels and Redis nodes report it, and whether it has converged.

One read asks every running Sentinel (`SENTINEL MASTER`) and every running Redis node
(`INFO replication`) through `docker exec`, so it works from the host without dialling any
container address. Both `stackdrill up` (it returns only once the store has converged) and the
drills' steady-state gate use it; the failover side's `role=primary` target uses `primary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from infra import docker_resources
from infra import outputs as O
from infra.outputs import Container

MASTER = "sessions"
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelView:
    """What one Sentinel says about the primary (`error` set when it could not be asked)."""

    name: str
    primary: str = ""
    epoch: int = -1
    flags: str = ""
    other_sentinels: int = 0
    replicas: int = 0
    error: str = ""


@dataclass(frozen=True)
class NodeView:
    """What one Redis node says about its replication (`error` set when it could not be asked)."""

    name: str
    role: str = ""
    primary: str = ""
    link_up: bool = False
    connected_replicas: int = 0
    error: str = ""


@dataclass(frozen=True)
class StoreState:
    """Every Sentinel's and every node's view, read at one moment."""

    sentinels: tuple[SentinelView, ...]
    nodes: tuple[NodeView, ...]

    def primary(self) -> str:
        """The primary named at the highest config epoch by any answering Sentinel ('' if none)."""
        answers = [s for s in self.sentinels if not s.error and s.primary]
        return max(answers, key=lambda s: s.epoch).primary if answers else ""

    def problems(self) -> list[str]:
        """Why the store has not converged; empty when it has.

        Converged: every Sentinel answers and names the same primary at the same epoch, sees
        the other Sentinels and every replica, and does not flag the primary down; the primary
        is a primary with every replica connected, and every replica's link to it is up.
        """
        out: list[str] = []
        for s in self.sentinels:
            if s.error:
                out.append(f"{s.name} does not answer ({s.error})")
        answered = [s for s in self.sentinels if not s.error]
        views = sorted({(s.primary, s.epoch) for s in answered})
        if len(views) > 1:
            out.append("sentinels disagree: " + ", ".join(f"{s.name} says {s.primary}@{s.epoch}" for s in answered))
        primary = self.primary()
        if not primary:
            return out + ["no sentinel names a primary"]
        for s in answered:
            if "down" in s.flags or "failover" in s.flags:
                out.append(f"{s.name} flags the primary {s.flags}")
            if s.other_sentinels != len(self.sentinels) - 1:
                out.append(f"{s.name} knows {s.other_sentinels} other sentinels, not {len(self.sentinels) - 1}")
            if s.replicas < len(self.nodes) - 1:
                out.append(f"{s.name} knows {s.replicas} replicas, not {len(self.nodes) - 1}")
        for n in self.nodes:
            if n.error:
                out.append(f"{n.name} does not answer ({n.error})")
            elif n.name == primary:
                if n.role != "master":
                    out.append(f"{n.name} is named primary but is a {n.role}")
                elif n.connected_replicas < len(self.nodes) - 1:
                    out.append(f"primary {n.name} has {n.connected_replicas} of {len(self.nodes) - 1} replicas")
            elif n.role != "slave" or n.primary != primary:
                now = f"a replica of {n.primary}" if n.role == "slave" else f"a {n.role}"
                out.append(f"{n.name} is {now}, not a replica of {primary}")
            elif not n.link_up:
                out.append(f"{n.name}'s replication link to {primary} is down")
        return out


def _pairs(text: str) -> dict[str, str]:
    lines = [x.strip() for x in text.splitlines()]
    return dict(zip(lines[0::2], lines[1::2], strict=False))


def _info(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            out[key] = value
    return out


def parse_sentinel(name: str, code: int, text: str) -> SentinelView:
    """A SentinelView from `redis-cli SENTINEL MASTER` output (raw, one field per line)."""
    fields = _pairs(text)
    if code != 0 or "ip" not in fields:
        return SentinelView(name, error=text.strip()[:120] or f"exit {code}")
    return SentinelView(
        name,
        primary=fields["ip"],
        epoch=int(fields.get("config-epoch", "0") or 0),
        flags=fields.get("flags", ""),
        other_sentinels=int(fields.get("num-other-sentinels", "0") or 0),
        replicas=int(fields.get("num-slaves", "0") or 0),
    )


def parse_node(name: str, code: int, text: str) -> NodeView:
    """A NodeView from `redis-cli INFO replication` output."""
    info = _info(text)
    if code != 0 or "role" not in info:
        return NodeView(name, error=text.strip()[:120] or f"exit {code}")
    return NodeView(
        name,
        role=info["role"],
        primary=info.get("master_host", ""),
        link_up=info.get("master_link_status") == "up",
        connected_replicas=int(info.get("connected_slaves", "0") or 0),
    )


def _ask(name: str, cmd: list[str], running: bool) -> tuple[int, str]:
    if not running:
        return 1, "not running"
    return docker_resources.exec_in(name, cmd, timeout_s=3)


def read(containers: Sequence[Container]) -> StoreState:
    """Ask every Sentinel and Redis node of a stack (its output container entries), concurrently."""
    sentinels = [c.name for c in containers if c.tier == O.TIER_SENTINEL]
    nodes = [c.name for c in containers if c.tier == O.TIER_REDIS]
    states = docker_resources.states(sentinels + nodes)
    s_cmd = ["redis-cli", "--raw", "-p", str(SENTINEL_PORT), "SENTINEL", "MASTER", MASTER]
    n_cmd = ["redis-cli", "--no-auth-warning", "INFO", "replication"]
    with ThreadPoolExecutor(max_workers=len(sentinels) + len(nodes) or 1) as pool:
        s_futs = [pool.submit(_ask, n, s_cmd, states.get(n) == "running") for n in sentinels]
        n_futs = [pool.submit(_ask, n, n_cmd, states.get(n) == "running") for n in nodes]
        return StoreState(
            tuple(parse_sentinel(n, *f.result()) for n, f in zip(sentinels, s_futs, strict=True)),
            tuple(parse_node(n, *f.result()) for n, f in zip(nodes, n_futs, strict=True)),
        )


def contents(containers: Sequence[Container]) -> str:
    """Each Redis node's role, key count and AOF state, on one line: what a lost-writes verdict
    needs to tell a wiped store (0 keys everywhere) from writes that went to a demoted node."""
    nodes = [c.name for c in containers if c.tier == O.TIER_REDIS]
    states = docker_resources.states(nodes)
    script = (
        "redis-cli --no-auth-warning --raw DBSIZE; "
        "redis-cli --no-auth-warning INFO persistence | grep -E '^(aof_enabled|loading):'; "
        "redis-cli --no-auth-warning INFO replication | grep -E '^(role|master_repl_offset):'"
    )

    def one(name: str) -> str:
        code, text = _ask(name, ["sh", "-c", script], states.get(name) == "running")
        if code != 0:
            return f"{name}: {text.strip()[:60] or f'exit {code}'}"
        lines = [x.strip() for x in text.splitlines() if x.strip()]
        info = _info("\n".join(lines[1:]))
        return (
            f"{name}: {info.get('role', '?')}, {lines[0] if lines else '?'} keys, "
            f"aof {'on' if info.get('aof_enabled') == '1' else 'off'}, offset {info.get('master_repl_offset', '?')}"
        )

    with ThreadPoolExecutor(max_workers=len(nodes) or 1) as pool:
        return "; ".join(pool.map(one, nodes))
