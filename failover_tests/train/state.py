"""The stack as the dashboard's map shows it: every container by tier and zone, LB views, the Redis primary,
the status page.

`StackReader.read()` never waits on a slow source: each source (Docker's container list, each
LB's view of each backend, the status page, the Sentinels' primary) is read in its own worker and
`read()` takes the newest answer each one has given, so one paused LB or a busy Docker engine
slows its own part of the map, not the whole page. The primary costs a `docker exec` per
Sentinel and Redis node, so it is read every ``primary_every_s`` only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from failover_tests.lb_detection import LBView
from failover_tests.lbstats import is_up
from failover_tests.traffic import JSONValue
from infra import docker_resources, store_state
from infra import outputs as O
from infra.outputs import Container, StackOutputs

log = logging.getLogger(__name__)
T = TypeVar("T")

# Rows of the map, in the order requests travel; tiers a topology lacks are left out.
TIER_ORDER = (
    O.TIER_EDGE, O.TIER_WEB, O.TIER_API_LB, O.TIER_API, O.TIER_MODEL_LB, O.TIER_MODEL, O.TIER_INTEGRATION,
    O.TIER_REDIS, O.TIER_SENTINEL, O.TIER_STATUS, O.TIER_CHAOS,
)  # fmt: skip
# LB tier -> the backends its LBs serve (see infra/program.py).
LB_BACKENDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        O.TIER_EDGE: (O.BE_WEB, O.BE_API),
        O.TIER_API_LB: (O.BE_API,),
        O.TIER_MODEL_LB: (O.BE_MODEL,),
    }
)
THROTTLING_FAULTS = frozenset({"cpu_throttle", "memory_limit"})
READ_TIMEOUT_S = 2.0


class MapStack(LBView, Protocol):
    """What the map reads of a live stack: its outputs, its LBs' views and its status page."""

    name: str
    outputs: StackOutputs

    def status_page(self) -> dict[str, Any]:
        """The status service's /status.json."""
        ...


@dataclass(frozen=True, kw_only=True)
class ContainerView:
    """One container on the map."""

    name: str
    short: str
    tier: str
    replica: int
    zone: str
    role: str
    state: str  # running, paused, exited, restarting, dead, missing, unknown; throttled when a resource fault holds
    health: str  # healthy, starting, unhealthy, running, or the Docker state when not running
    primary: bool  # the Redis primary the Sentinels name
    faults: tuple[str, ...]  # the session's active faults on it

    def to_dict(self) -> dict[str, JSONValue]:
        """The container as the page draws it."""
        return {
            "name": self.name,
            "short": self.short,
            "tier": self.tier,
            "replica": self.replica,
            "zone": self.zone,
            "role": self.role,
            "state": self.state,
            "health": self.health,
            "primary": self.primary,
            "faults": list(self.faults),
        }


@dataclass(frozen=True)
class LBServerView:
    """One server of one backend as one LB sees it."""

    lb: str
    backend: str
    server: str
    status: str  # HAProxy's status (UP, DOWN, MAINT, `UP 1/2`, ...) or why it could not be read

    @property
    def up(self) -> bool:
        """Whether this LB routes to the server."""
        return is_up(self.status)

    def to_dict(self) -> dict[str, JSONValue]:
        """The server as the page draws it (`state` is UP or DOWN)."""
        return {
            "lb": self.lb,
            "backend": self.backend,
            "server": self.server,
            "status": self.status,
            "state": "UP" if self.up else "DOWN",
        }


@dataclass(frozen=True, kw_only=True)
class StackSnapshot:
    """The whole map at one moment of the session clock."""

    t_s: float
    stack: str
    tiers: tuple[str, ...]
    zones: tuple[str, ...]
    containers: tuple[ContainerView, ...]
    lb_servers: tuple[LBServerView, ...]
    primary: str
    components: Mapping[str, str] | None  # component -> state; None when the page did not answer
    problems: tuple[str, ...] = field(default=())  # sources that could not be read

    def container(self, name: str) -> ContainerView:
        """A container by full or short name; KeyError if the map has none."""
        for c in self.containers:
            if name in (c.name, c.short):
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, JSONValue]:
        """The snapshot as a JSON-ready dict."""
        return {
            "t_s": round(self.t_s, 3),
            "stack": self.stack,
            "tiers": list(self.tiers),
            "zones": list(self.zones),
            "containers": [c.to_dict() for c in self.containers],
            "lb_servers": [s.to_dict() for s in self.lb_servers],
            "primary": self.primary,
            "components": dict(self.components) if self.components is not None else None,
            "problems": list(self.problems),
        }


def display_state(health: str, throttled: bool) -> str:
    """The state a container is drawn in: Docker's state, or `throttled` for a running one under a resource fault."""
    running = health in ("healthy", "starting", "unhealthy", "running")
    if running:
        return "throttled" if throttled else "running"
    return health or "unknown"


def _primary_of(containers: Sequence[Container]) -> str:
    """The Redis primary the Sentinels name ('' when none answers)."""
    return store_state.read(containers).primary()


@dataclass
class _Source(Generic[T]):
    """One source of the map: its newest answer and the read in flight, if any."""

    every_s: float
    value: T
    blank: T  # the value after a failed read when stale answers must not stand (the status page)
    keep_on_error: bool = True
    error: str = ""
    read_at: float = -1e9
    first: bool = True
    pending: Future[T] | None = None

    def fail(self, exc: BaseException) -> None:
        """Record a failed read."""
        self.error = f"{exc.__class__.__name__}: {str(exc)[:120]}"
        if not self.keep_on_error:
            self.value = self.blank


class StackReader:
    """Reads the map of one stack; each source in its own worker, never waiting on a slow one."""

    def __init__(
        self,
        stack: MapStack,
        *,
        container_states: Callable[[str], Mapping[str, str]] | None = None,
        primary_of: Callable[[Sequence[Container]], str] | None = None,
        primary_every_s: float = 2.0,
        every_s: float = 0.4,
    ) -> None:
        """A reader that has read nothing yet.

        `container_states(stack name)` maps name -> health or state (default: Docker's
        `health_of`); `primary_of(containers)` names the Redis primary (default: the Sentinels).
        """
        self.stack = stack
        self._container_states = container_states or docker_resources.health_of
        self._primary_of = primary_of or _primary_of
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="stackdrill-map")
        self._states: _Source[Mapping[str, str]] = _Source(every_s, {}, {})
        # A page that stops answering shows nothing known, not its last answer.
        self._status: _Source[Mapping[str, str] | None] = _Source(every_s, None, None, keep_on_error=False)
        self._primary: _Source[str] = _Source(primary_every_s, "", "")
        self._lbs: dict[tuple[str, str], _Source[Mapping[str, str]]] = {}
        self._every_s = every_s

    def read(
        self,
        t_s: float,
        *,
        faults: Mapping[str, Sequence[str]] | None = None,
        throttled: Collection[str] = (),
    ) -> StackSnapshot:
        """The map now, from each source's newest answer; `faults` maps container -> active fault labels."""
        stack = self.stack
        outputs = stack.outputs
        states = self._refresh(self._states, lambda: dict(self._container_states(stack.name)))
        components = self._refresh(self._status, self._components)
        primary = self._refresh(self._primary, lambda: self._primary_of(outputs.containers))
        problems = [f"{what}: {src.error}" for what, src in (("docker", self._states), ("status page", self._status))]
        problems += [f"sentinels: {self._primary.error}"]
        lb_views: list[LBServerView] = []
        for tier, backends in LB_BACKENDS.items():
            for lb in stack.lbs(tier):
                for backend in backends:
                    src = self._lbs.setdefault((lb, backend), _Source(self._every_s, {}, {}, keep_on_error=False))
                    servers = self._refresh(src, partial(self._lb_read, lb, backend))
                    if src.error:
                        problems.append(f"{lb} {backend}: {src.error}")
                    lb_views += [LBServerView(lb, backend, s, st) for s, st in sorted(servers.items())]
        faults = faults or {}
        views = []
        for c in outputs.containers:
            health = states.get(c.name, "missing") if states else "unknown"
            views.append(
                ContainerView(
                    name=c.name,
                    short=f"{c.tier.replace('_', '-')}-{c.replica}",
                    tier=c.tier,
                    replica=c.replica,
                    zone=c.zone,
                    role=c.role,
                    state=display_state(health, c.name in throttled),
                    health=health,
                    primary=bool(primary) and c.name == primary,
                    faults=tuple(faults.get(c.name, ())),
                )
            )
        present = {c.tier for c in outputs.containers}
        tiers = tuple(t for t in TIER_ORDER if t in present) + tuple(sorted(present - set(TIER_ORDER)))
        return StackSnapshot(
            t_s=t_s,
            stack=stack.name,
            tiers=tiers,
            zones=tuple(sorted({c.zone for c in outputs.containers})),
            containers=tuple(views),
            lb_servers=tuple(lb_views),
            primary=primary,
            components=components,
            problems=tuple(p for p in problems if not p.endswith(": ")),
        )

    def close(self) -> None:
        """Stop the workers (reads in flight finish on their own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _components(self) -> Mapping[str, str] | None:
        """Component -> state, from the status page."""
        page = self.stack.status_page()
        return {name: str(comp["state"]) for name, comp in page["components"].items()}

    def _lb_read(self, lb: str, backend: str) -> Mapping[str, str]:
        """Server -> status as one LB sees one backend."""
        return dict(self.stack.lb_servers(lb, backend))

    def _refresh(self, src: _Source[T], read: Callable[[], T]) -> T:
        """Take a finished read's answer; start a new read when due and none is in flight; return the newest.

        Only a source's very first read is waited for (a little), so the first frame is not empty.
        """
        now = time.monotonic()
        if src.pending is None and now - src.read_at >= src.every_s:
            src.read_at = now
            try:
                src.pending = self._pool.submit(read)
            except RuntimeError:  # the pool is shut down: the session is ending
                return src.value
        if src.pending is not None and (src.pending.done() or src.first):
            src.first = False
            try:
                src.value, src.error = src.pending.result(timeout=READ_TIMEOUT_S), ""
                src.pending = None
            except TimeoutError as exc:
                src.fail(exc)
            except Exception as exc:  # noqa: BLE001 - shown on the map as a problem, the rest goes on
                src.fail(exc)
                src.pending = None
        return src.value
