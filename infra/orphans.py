"""Reaping: remove what a killed run left behind (containers and networks of stacks whose owner is gone).

Stacks brought up by `stackdrill up` are owned by nobody (owner pid 0) and are kept until
`stackdrill down`; stacks brought up by a test session carry its pid and are reaped once it is gone.
"""

from __future__ import annotations

import logging

from infra import docker_resources
from infra.host import pid_alive, state_dir
from infra.outputs import LABEL_OWNER_PID, LABEL_STACK

log = logging.getLogger(__name__)


def _drop_stale_locks(stack: str) -> None:
    """Remove Pulumi lock files of this stack left by a killed CLI (the local backend never expires them)."""
    locks = state_dir() / "backend" / ".pulumi" / "locks"
    for lock in locks.glob(f"*/*/{stack}/*.json"):
        lock.unlink(missing_ok=True)
        log.info("removed stale Pulumi lock %s", lock)


def orphaned_stacks() -> set[str]:
    """Names of stacks whose owning process is gone."""
    containers, networks = docker_resources.kit_objects()
    orphans: set[str] = set()
    for obj in [*containers, *networks]:
        labels = obj.get("Labels") or {}
        stack = labels.get(LABEL_STACK)
        pid = int(labels.get(LABEL_OWNER_PID, "0") or 0)
        if stack and pid and not pid_alive(pid):
            orphans.add(stack)
    return orphans


def reap(stack: str | None = None) -> list[str]:
    """Remove orphaned stacks (or the named stack, whoever owns it); return what was done."""
    from infra.lifecycle import StackManager, sweep_stack

    done = []
    targets = {stack} if stack else orphaned_stacks()
    for name in sorted(targets):
        n_cont, n_net = sweep_stack(name)
        _drop_stale_locks(name)
        try:
            StackManager(name).down()
        except Exception as exc:  # noqa: BLE001 - the sweep above already removed the objects
            log.info("forgetting Pulumi state of %s failed: %s", name, exc)
        done.append(f"reaped stack {name}: {n_cont} containers, {n_net} networks")
    return done
