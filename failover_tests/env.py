"""Build the fault environment of a deployed stack from its outputs, and find live roles."""

from __future__ import annotations

import logging
from typing import Any

from failover_tests.faults.base import FaultEnv
from failover_tests.journal import Journal
from failover_tests.targets import Inventory
from infra import outputs as O
from infra import store_state
from infra.errors import FaultError
from services.app.settings import DEFAULT_ADMIN_PORT

log = logging.getLogger(__name__)
MASTER = "sessions"


def redis_primary(inventory: Inventory) -> str:
    """The container name of the current Redis primary: the Sentinels' answer at the highest epoch."""
    containers = [{O.C_NAME: t.name, O.C_TIER: t.tier} for t in inventory.targets]
    state = store_state.read(containers)
    primary = state.primary()
    if primary and inventory.by_name(primary):
        return primary
    seen = [s.primary or s.error for s in state.sentinels]
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
        admin_port=int(outputs.get(O.ADMIN_PORT, DEFAULT_ADMIN_PORT)),
    )
