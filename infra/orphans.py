"""Reaping: remove stacks whose owner is gone or whose lease expired (`infra.leases`).

Stacks brought up by `stackdrill up` are owned by nobody (owner pid 0) and are kept until
`stackdrill down` or their `--ttl`; stacks brought up by a test session or a drill carry its pid
(label and lease) and are reaped once it is gone, or after `leases.DRILL_TTL_S`. A stack with a
living owner inside its lease is never touched.
"""

from __future__ import annotations

import logging

from infra import docker_resources, leases
from infra.host import pid_alive, state_dir
from infra.labels import LABEL_OWNER_PID, LABEL_STACK

log = logging.getLogger(__name__)


def _drop_stale_locks(stack: str) -> None:
    """Remove Pulumi lock files of this stack left by a killed CLI (the local backend never expires them)."""
    locks = state_dir() / "backend" / ".pulumi" / "locks"
    for lock in locks.glob(f"*/*/{stack}/*.json"):
        lock.unlink(missing_ok=True)
        log.info("removed stale Pulumi lock %s", lock)


def orphaned_stacks() -> dict[str, str]:
    """Stacks that may be removed -> why: their owning process is gone, or their lease expired."""
    containers, networks = docker_resources.kit_objects()
    orphans: dict[str, str] = {}
    existing: set[str] = set()
    for obj in [*containers, *networks]:
        labels = obj.get("Labels") or {}
        stack = labels.get(LABEL_STACK)
        pid = int(labels.get(LABEL_OWNER_PID, "0") or 0)
        if stack:
            existing.add(stack)
        if stack and pid and not pid_alive(pid):
            orphans[stack] = f"its owner (pid {pid}) is gone"
    for lease in leases.held():
        why = lease.why_reapable()
        if why and lease.stack in existing:
            orphans.setdefault(lease.stack, why)
        elif why and lease.stack not in existing:
            leases.release(lease.stack)  # its stack is gone already
    return orphans


def reap(stack: str | None = None) -> list[str]:
    """Remove orphaned stacks (or the named stack, whoever owns it); return what was done."""
    from infra.teardown import destroy, sweep_stack

    done = []
    targets = {stack: "asked for"} if stack else orphaned_stacks()
    for name, why in sorted(targets.items()):
        n_cont, n_net = sweep_stack(name)
        _drop_stale_locks(name)
        try:
            destroy(name)
        except Exception as exc:  # noqa: BLE001 - the sweep above already removed the objects
            log.info("forgetting Pulumi state of %s failed: %s", name, exc)
        leases.release(name)
        done.append(f"reaped stack {name} ({why}): {n_cont} containers, {n_net} networks")
    return done
