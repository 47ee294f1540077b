"""Build the fault environment of a deployed stack from its outputs, and find live roles."""

from __future__ import annotations

import logging
from typing import Any

from failover_tests import docker_actions as dk
from failover_tests.faults.base import FaultEnv
from failover_tests.journal import Journal
from failover_tests.targets import Inventory
from infra import outputs as O
from infra.errors import FaultError

log = logging.getLogger(__name__)
MASTER = "sessions"


def redis_primary(inventory: Inventory) -> str:
    """The container name of the current Redis primary, as the Sentinels report it."""
    seen = []
    for sentinel in inventory.tier(O.TIER_SENTINEL):
        if dk.state(sentinel.name) != "running":
            continue
        code, out = dk.exec_run(
            sentinel.name, ["redis-cli", "-p", "26379", "SENTINEL", "get-master-addr-by-name", MASTER], 5
        )
        lines = out.split()
        if code == 0 and lines:
            host = lines[0]
            if inventory.by_name(host):
                return host
            seen.append(host)
    raise FaultError(f"no Sentinel reports a known primary for {MASTER} (answers: {seen})", target="role=primary")


def fault_env(outputs: dict[str, Any]) -> FaultEnv:
    """The FaultEnv of a stack: inventory (with role lookup), Toxiproxy URL, journal."""
    inventory = Inventory(outputs)

    def roles(role: str) -> str:
        return redis_primary(inventory)

    inventory = Inventory(outputs, role_lookup=roles)
    return FaultEnv(
        stack=str(outputs[O.STACK]),
        inventory=inventory,
        toxiproxy_url=str(outputs[O.TOXIPROXY_URL]),
        journal=Journal(str(outputs[O.STACK])),
        admin_port=int(outputs.get("admin_port", 9901)),
    )
