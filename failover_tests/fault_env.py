"""Build the fault environment of a deployed stack from its outputs, and find live roles."""

from __future__ import annotations

import logging

from failover_tests.faults.base import FaultEnv
from failover_tests.journal import Journal
from failover_tests.targets import Inventory
from infra import store_state
from infra.errors import FaultError
from infra.outputs import StackOutputs

log = logging.getLogger(__name__)
MASTER = "sessions"


def redis_primary(inventory: Inventory) -> str:
    """The container name of the current Redis primary: the Sentinels' answer at the highest epoch."""
    state = store_state.read(inventory.containers)
    primary = state.primary()
    if primary and inventory.by_name(primary):
        return primary
    seen = [s.primary or s.error for s in state.sentinels]
    raise FaultError(f"no Sentinel reports a known primary for {MASTER} (answers: {seen})", target="role=primary")


def fault_env(outputs: StackOutputs) -> FaultEnv:
    """The FaultEnv of a stack: inventory (with role lookup), Toxiproxy URL, journal."""
    inventory = Inventory(outputs)

    def roles(role: str) -> str:
        return redis_primary(inventory)

    inventory = Inventory(outputs, role_lookup=roles)
    return FaultEnv(
        stack=outputs.stack,
        inventory=inventory,
        toxiproxy_url=outputs.toxiproxy_url,
        journal=Journal(outputs.stack),
        admin_port=outputs.admin_port,
    )
