"""Revert what a killed run left behind on a live stack: journaled faults, then a sweep.

The sweep catches anything the journal could not: paused or stopped containers, CPU and
memory limits, toxics named by the kit, detached networks, application faults.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from failover_tests import drill_docker as dk
from failover_tests.fault_env import fault_env
from failover_tests.faults import fault_class
from failover_tests.faults.app import SERVICE_TIERS, AdminClient
from failover_tests.faults.resources import host_memory_bytes
from failover_tests.toxiproxy import ToxiproxyClient
from infra import outputs as O
from infra.host import pid_alive
from infra.outputs import StackOutputs

log = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    return pid == os.getpid() or pid_alive(pid)


def reap_faults(outputs: StackOutputs, *, include_live: bool = False) -> list[str]:
    """Revert journaled faults of dead runs, then sweep the stack back to steady state."""
    env = fault_env(outputs)
    done: list[str] = []
    live_owned: set[str] = set()
    for entry in env.journal.entries():
        if _alive(entry.pid) and not include_live:
            live_owned.update(entry.targets)
            continue
        fault = fault_class(entry.fault).restore(env, entry)
        try:
            fault.revert()
            done.append(f"reverted {fault.label} left by pid {entry.pid}")
        except Exception as exc:  # noqa: BLE001 - the sweep below gets another go
            done.append(f"could not revert {fault.label}: {exc}")
            env.journal.remove(entry.id)
    done += _sweep(env.inventory.targets, outputs, env, live_owned)
    return done


def _sweep(targets: list[Any], outputs: StackOutputs, env: Any, live_owned: set[str]) -> list[str]:
    done = []
    stack = outputs.stack
    declared = {c.name: c.networks for c in outputs.containers}
    for t in targets:
        if t.name in live_owned:
            continue
        try:
            st = dk.state(t.name)
        except Exception:  # noqa: BLE001 - a missing container is the stack's problem, not a fault
            continue
        if st == "paused":
            dk.unpause(t.name)
            done.append(f"unpaused {t.short}")
        elif st in ("exited", "created"):
            dk.start(t.name)
            done.append(f"started {t.short}")
        hc = dk.inspect(t.name)["HostConfig"]
        if int(hc.get("CpuQuota") or 0) > 0:
            dk.update_resources(t.name, cpu_quota=-1)
            done.append(f"lifted CPU quota of {t.short}")
        attached = dk.networks_of(t.name)
        memory = int(hc.get("Memory") or 0)
        if memory and memory != host_memory_bytes():
            dk.update_resources(t.name, mem_limit=host_memory_bytes(), memswap_limit=host_memory_bytes())
            done.append(f"lifted memory limit of {t.short}")
        for net in declared.get(t.name, []):
            if net not in attached:
                alias = f"sd-{stack}-{t.tier.replace('_', '-')}"
                dk.connect(t.name, net, [alias] if t.tier not in (O.TIER_CHAOS, O.TIER_REDIS, O.TIER_SENTINEL) else [])
                done.append(f"reconnected {t.short} to {net}")
        if t.tier in SERVICE_TIERS and dk.state(t.name) == "running":
            admin = AdminClient(env.admin_port)
            try:
                if admin.current(t.name):
                    admin.clear(t.name)
                    done.append(f"cleared application fault on {t.short}")
            except Exception as exc:  # noqa: BLE001
                log.info("admin endpoint of %s not answering: %s", t.name, exc)
    client = ToxiproxyClient(env.toxiproxy_url)
    try:
        for proxy in client.proxies():
            for toxic in client.toxics(proxy):
                if toxic.name.startswith("sd-") and not live_owned & {proxy}:
                    client.remove_toxic(proxy, toxic.name)
                    done.append(f"removed toxic {toxic.name} from {proxy}")
    except Exception as exc:  # noqa: BLE001
        log.info("Toxiproxy sweep skipped: %s", exc)
    return done
