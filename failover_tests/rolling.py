"""A Pulumi update applied under traffic without dropping a request: a rolling update.

The dynamic provider replaces a container on any change but its files (delete, then create), and
the engine would replace every replica of a tier at once. Here the update goes in waves:

1. what changes in place (an LB's configuration, reloaded by HAProxy without closing
   connections) and what is new, in one targeted `pulumi up`;
2. then the replaced containers one replica index at a time (api-0, web-0 and model-0, then the
   -1s, ...): each is first stopped gracefully (SIGTERM: its readiness turns 503, the LBs' health
   checks take it out, in-flight requests finish), then replaced by a targeted `pulumi up`, and
   the next wave waits until it is healthy and UP in every LB that routes to it.

The caller runs a last full `pulumi up`, which finds nothing left to change but the outputs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial

from failover_tests import drill_docker as dk
from failover_tests.lbstats import is_up, server_states
from infra.errors import StackError
from infra.lifecycle import PlannedStep, StackManager
from infra.outputs import StackOutputs
from infra.topology import Topology
from infra.wait import wait_until

log = logging.getLogger(__name__)

STOP_GRACE_S = 10  # docker stop's timeout: the services drain, then exit, well within it
BACK_IN_LB_S = 30.0

ProgressFn = Callable[[str, str, bool], None]


def waves(steps: list[PlannedStep]) -> tuple[list[PlannedStep], list[list[PlannedStep]]]:
    """The in-place wave, then the replacements grouped by replica index (in index order).

    Raises StackError for a change no rolling update can keep traffic through (a network replaced).
    """
    networks = [s.resource for s in steps if s.type.endswith(":Network") and s.replaces]
    if networks:
        raise StackError(
            f"the update replaces network {', '.join(networks)}: every container on it goes down at once; "
            "apply it with `stackdrill up` outside a drill"
        )
    first = [s for s in steps if not s.replaces]
    by_index: dict[int, list[PlannedStep]] = {}
    for step in steps:
        if step.replaces:
            match = re.search(r"-(\d+)$", step.resource)
            by_index.setdefault(int(match.group(1)) if match else 0, []).append(step)
    return first, [by_index[i] for i in sorted(by_index)]


def rolling_update(
    manager: StackManager,
    outputs: StackOutputs,
    topology: Topology,
    image: str,
    progress: ProgressFn | None = None,
) -> None:
    """Apply `topology` to the deployed stack (`outputs`) wave by wave (see the module docstring)."""
    first, replaced = waves(manager.plan(topology, image))
    log.info(
        "rolling update of %s: %d in place or new, then %d wave(s) of replacements: %s",
        manager.name,
        len(first),
        len(replaced),
        [[s.resource for s in wave] for wave in replaced],
    )
    if first:
        manager.up(topology, image, progress, targets=[s.urn for s in first], wait=False)
    for wave in replaced:
        names = [s.resource for s in wave]
        routed = _lb_routes(outputs, names)
        for name in names:
            dk.stop(name, timeout_s=STOP_GRACE_S)  # graceful: drained before it exits
        manager.up(topology, image, progress, targets=[s.urn for s in wave], wait=False)
        for name in names:
            wait_until(
                partial(_healthy, name),
                what=f"{name} healthy after its replacement",
                timeout_s=BACK_IN_LB_S,
                interval_s=0.2,
            )
        for url, server in routed:
            wait_until(
                partial(_up_everywhere, url, server),
                what=f"{server} back in rotation at {url}",
                timeout_s=BACK_IN_LB_S,
                interval_s=0.2,
            )


def _healthy(name: str) -> tuple[bool, str]:
    """Whether Docker says a container is healthy (running, for one without a check); what it says."""
    st = dk.inspect(name)["State"]
    seen = (
        str(st.get("Health", {}).get("Status", "healthy")) if st.get("Status") == "running" else str(st.get("Status"))
    )
    return seen == "healthy", seen


def _lb_routes(outputs: StackOutputs, names: list[str]) -> list[tuple[str, str]]:
    """(LB stats URL, server) for every LB that routes to one of `names`."""
    routes = []
    for url in outputs.lb_stats.values():
        try:
            backends = server_states(url)
        except Exception:  # noqa: BLE001 - an LB that does not answer routes nothing now
            continue
        for servers in backends.values():
            routes += [(url, n) for n in names if n in servers]
    return routes


def _up_everywhere(url: str, server: str) -> tuple[bool, str]:
    states = [s.get(server, "") for s in server_states(url).values() if server in s]
    return bool(states) and all(is_up(st) for st in states), ", ".join(states)
