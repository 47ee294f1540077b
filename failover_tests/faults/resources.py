"""Resource faults: CPU throttle and memory limit, through `docker update`."""

from __future__ import annotations

import os
from typing import Any

from failover_tests import drill_docker as dk
from failover_tests.faults.base import Fault, Param, register

CPU_PERIOD_US = 100_000


@register
class CpuThrottle(Fault):
    """Limit the container to a fraction of one core (CFS quota); revert lifts the quota."""

    name = "cpu_throttle"
    family = "resources"
    summary = "limit the container to a fraction of one CPU core"
    mechanism = "docker update --cpu-period/--cpu-quota (CFS quota, read back from HostConfig)"
    params = (Param("cpus", float, 0.05, "fraction of one core, e.g. 0.05", minimum=0.01, maximum=64),)

    def _quota(self) -> int:
        return max(1000, int(float(self.values["cpus"]) * CPU_PERIOD_US))

    def save(self, name: str) -> dict[str, Any]:
        hc = dk.inspect(name)["HostConfig"]
        return {"cpu_quota": int(hc.get("CpuQuota") or 0), "cpu_period": int(hc.get("CpuPeriod") or 0)}

    def act(self, name: str) -> None:
        dk.update_resources(name, cpu_period=CPU_PERIOD_US, cpu_quota=self._quota())

    def took_effect(self, name: str) -> bool:
        hc = dk.inspect(name)["HostConfig"]
        return int(hc.get("CpuQuota") or 0) == self._quota() and int(hc.get("CpuPeriod") or 0) == CPU_PERIOD_US

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        quota = int(saved.get("cpu_quota") or 0)
        dk.update_resources(name, cpu_quota=quota if quota > 0 else -1)

    def undone(self, name: str, saved: dict[str, Any]) -> bool:
        quota = int(dk.inspect(name)["HostConfig"].get("CpuQuota") or 0)
        want = int(saved.get("cpu_quota") or 0)
        return quota == want or (want <= 0 and quota <= 0)


def host_memory_bytes() -> int:
    """Physical memory of the Docker host (this machine)."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


@register
class MemoryLimit(Fault):
    """Cap the container's memory (and swap) to `mb` MiB."""

    name = "memory_limit"
    family = "resources"
    summary = "cap the container's memory"
    mechanism = (
        "docker update --memory/--memory-swap; Docker cannot remove a limit once set, so revert "
        "restores the old limit or, if there was none, sets it to the host's physical memory"
    )
    params = (Param("mb", int, 64, "limit in MiB", minimum=6, maximum=1 << 20),)

    def save(self, name: str) -> dict[str, Any]:
        hc = dk.inspect(name)["HostConfig"]
        return {"memory": int(hc.get("Memory") or 0), "memory_swap": int(hc.get("MemorySwap") or 0)}

    def act(self, name: str) -> None:
        limit = int(self.values["mb"]) << 20
        dk.update_resources(name, mem_limit=limit, memswap_limit=limit)

    def took_effect(self, name: str) -> bool:
        return int(dk.inspect(name)["HostConfig"].get("Memory") or 0) == int(self.values["mb"]) << 20

    def _restored(self, saved: dict[str, Any]) -> int:
        return int(saved.get("memory") or 0) or host_memory_bytes()

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        dk.update_resources(name, mem_limit=self._restored(saved), memswap_limit=self._restored(saved))

    def undone(self, name: str, saved: dict[str, Any]) -> bool:
        return int(dk.inspect(name)["HostConfig"].get("Memory") or 0) == self._restored(saved)
