"""A deployed stack as the failover side sees it: outputs, faults, traffic, LB and status views.

Works without pytest; the plugin's `stack` fixture hands one of these to tests.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import requests

from failover_tests.fault_env import fault_env
from failover_tests.fault_sweep import reap_faults
from failover_tests.faults import Fault, FaultEnv, fault_class
from failover_tests.lbstats import is_up, server_states, server_weights
from failover_tests.traffic import PathSpec, Probe, default_paths
from infra import outputs as O
from infra import store_state
from infra.errors import StackError
from infra.lifecycle import StackManager
from infra.outputs import Container, StackOutputs
from infra.topology import Topology
from infra.wait import wait_until

log = logging.getLogger(__name__)


@dataclass
class DrillStack:
    """One live stack: its outputs and everything the drills do to it."""

    name: str
    outputs: StackOutputs
    topology: Topology
    seed: int = field(default_factory=lambda: random.randrange(1 << 30))
    owner_pid: int = 0

    @property
    def edges(self) -> list[str]:
        """Both edge endpoints (`http://127.0.0.1:port`)."""
        return list(self.outputs.edges)

    @property
    def image(self) -> str:
        """The service image the stack was deployed with."""
        return self.outputs.image

    @property
    def status_url(self) -> str:
        """The status page service."""
        return self.outputs.status_url

    @property
    def manager(self) -> StackManager:
        """Lifecycle of this stack."""
        return StackManager(self.name, owner_pid=self.owner_pid)

    @cached_property
    def env(self) -> FaultEnv:
        """Inventory, chaos proxy and journal of this stack."""
        return fault_env(self.outputs)

    def containers(self, tier: str | None = None) -> list[Container]:
        """Container entries of the outputs, optionally of one tier."""
        return self.outputs.of_tier(tier)

    def fault(
        self, name: str, target: str, params: Mapping[str, Any] | None = None, rng: random.Random | None = None
    ) -> Fault:
        """A fault on this stack (not yet applied): use it as a context manager."""
        return fault_class(name)(self.env, target, params, rng=rng or random.Random(self.seed))

    def probe(
        self,
        *,
        rate_per_s: float = 20,
        duration_s: float = 20,
        paths: Sequence[PathSpec] | None = None,
        name: str = "probe",
    ) -> Probe:
        """An open-loop probe against both edges."""
        return Probe(
            self.edges, list(paths or default_paths()), rate_per_s=rate_per_s, duration_s=duration_s, name=name
        )

    def lb_servers(self, lb: str, backend: str) -> dict[str, str]:
        """server -> status as one LB container (e.g. `sd-s-edge-0`) sees a backend (`be_api`)."""
        return server_states(self.outputs.lb_stats[lb]).get(backend, {})

    def lb_weights(self, lb: str, backend: str) -> dict[str, int]:
        """server -> current weight as one LB container sees a backend (agent checks lower it)."""
        return server_weights(self.outputs.lb_stats[lb]).get(backend, {})

    def lbs(self, tier: str) -> list[str]:
        """LB container names of a tier (edge, api_lb, model_lb)."""
        return [c.name for c in self.containers(tier)]

    def wait_lb(self, lb: str, backend: str, server: str, *, up: bool, timeout_s: float = 15) -> float:
        """Wait until an LB reports a server up (or down); return how long it took."""
        import time

        t0 = time.monotonic()
        wait_until(
            lambda: ((is_up(s := self.lb_servers(lb, backend).get(server, "missing"))) == up, s),
            what=f"{lb} to report {backend}/{server} {'UP' if up else 'DOWN'}",
            timeout_s=timeout_s,
            interval_s=0.1,
        )
        return time.monotonic() - t0

    def status_page(self) -> dict[str, Any]:
        """The status service's /status.json."""
        return dict(requests.get(f"{self.status_url}/status.json", timeout=3).json())

    def store_contents(self) -> str:
        """Each Redis node's role, key count, AOF state and offset, on one line (lost-writes detail)."""
        return store_state.contents(self.outputs.containers)

    def component_state(self, component: str) -> str:
        """operational, degraded or outage, as the status page says."""
        return str(self.status_page()["components"][component]["state"])

    def steady_problems(self) -> list[str]:
        """What keeps the stack from its steady state right now (the scenario gate's check)."""
        from failover_tests import steady

        return steady.problems(self)

    def wait_steady(self, timeout_s: float = 90) -> None:
        """Wait until every container is healthy and both edges serve both paths."""
        from infra.lifecycle import StackInfo

        self.manager.wait_ready(StackInfo(self.name, self.outputs), timeout_s=timeout_s)

    def reap(self) -> list[str]:
        """Revert faults left behind by dead runs."""
        return reap_faults(self.outputs)

    def update(
        self,
        topology: Topology,
        image: str | None = None,
        progress: Callable[[str, str, bool], None] | None = None,
        *,
        rolling: bool = False,
    ) -> None:
        """Apply a changed topology in place (a Pulumi update) with the image the stack runs.

        `rolling`: containers the update replaces go one replica index at a time, each drained
        first and back in every LB before the next (see `failover_tests.rolling`); what changes in
        place (an LB's configuration, reloaded) and what is new goes first.
        """
        image = image or self.image
        if rolling:
            from failover_tests.rolling import rolling_update

            rolling_update(self.manager, self.outputs, topology, image, progress)
        info = self.manager.up(topology, image, progress)
        self.outputs = info.outputs
        self.topology = topology
        self.__dict__.pop("env", None)


def provision(
    topology: Topology, stack_name: str, *, keep: bool, progress: Callable[[str, str, bool], None] | None = None
) -> DrillStack:
    """Reap orphans, then reuse a kept stack of that name or bring a new one up."""
    from infra import images
    from infra.orphans import reap
    from infra.toolchain import require_ready

    require_ready()
    for line in reap():
        log.warning("%s", line)
    from infra.leases import DRILL_TTL_S

    owner = 0 if keep else os.getpid()
    manager = StackManager(stack_name, owner_pid=owner, ttl_s=None if keep else DRILL_TTL_S)
    if manager.exists():
        info = manager.info()
        _refuse_half_removed(stack_name, info.outputs)
        stack = DrillStack(stack_name, info.outputs, topology, owner_pid=_owner_of(info.outputs))
        for line in stack.reap():
            log.warning("reap: %s", line)
        stack.wait_steady()
        return stack
    try:
        info = manager.up(topology, images.app_image(), progress)
    except BaseException:
        # A stack that failed (or was interrupted) half-way up has no owner to tear it down:
        # nobody would get the DrillStack. Take it down here unless it was to be kept.
        if not keep:
            _down_quietly(manager)
        raise
    return DrillStack(stack_name, info.outputs, topology, owner_pid=owner)


def _refuse_half_removed(stack_name: str, outputs: StackOutputs) -> None:
    """A stack still in Pulumi's state whose containers are gone is what a teardown that did not
    finish leaves (Docker 20.10 can keep a removed stack's network with a stale endpoint, which
    fails the destroy): say so, instead of failing later on the first missing container."""
    from infra import docker_resources

    present = docker_resources.health_of(stack_name)  # every container of the stack, by name
    gone = [c.name for c in outputs.containers if c.name not in present]
    if gone:
        raise StackError(
            f"stack {stack_name} is in Pulumi's state but {len(gone)} of its {len(outputs.containers)} containers "
            f"are gone ({', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''}): its last teardown did not finish; "
            f"fix: stackdrill down -s {stack_name} (if that warns of a stale network endpoint: stop dockerd, "
            "then make setup starts a new one; or use another stack name)"
        )


def _down_quietly(manager: StackManager) -> None:
    """Tear a half-built stack down; a second Ctrl-C leaves it to `stackdrill reap`."""
    try:
        manager.down()
    except KeyboardInterrupt:
        log.warning("teardown of %s skipped; remove it with: stackdrill reap --remove", manager.name)
    except Exception as exc:  # noqa: BLE001 - the original error matters more
        log.warning("teardown of half-built stack %s failed: %s; run: stackdrill reap --remove", manager.name, exc)


def _owner_of(outputs: StackOutputs) -> int:
    """The owner pid label the stack was created with (updates must keep it, or all is replaced)."""
    from failover_tests import drill_docker as dk

    first = outputs.containers[0].name
    return int(dk.inspect(first)["Config"]["Labels"].get(O.LABEL_OWNER_PID, "0") or 0)
