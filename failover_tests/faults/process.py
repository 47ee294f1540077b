"""Process faults: kill, stop (graceful), restart, pause (a hung process)."""

from __future__ import annotations

from typing import Any

from failover_tests import drill_docker as dk
from failover_tests.faults.base import Fault, Param, register


@register
class Kill(Fault):
    """SIGKILL the container's processes; revert starts it again."""

    name = "kill"
    family = "process"
    summary = "kill the container (SIGKILL); revert starts it"
    mechanism = "docker kill (SIGKILL), docker start on revert (one at a time, each once it answers its health check)"

    def act(self, name: str) -> None:
        dk.kill(name)

    def took_effect(self, name: str) -> bool:
        return dk.state(name) == "exited"

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        dk.start(name)

    def undone(self, name: str, saved: dict[str, Any]) -> bool:
        # Reverted once it serves, not once it runs: the revert goes through the targets in
        # reverse order (a zone comes back store first, edge last), and starting the next one
        # only when this one answers keeps a zone's cold starts from landing on 2 cores at once.
        return dk.serving(name)


@register
class Stop(Kill):
    """Graceful stop (SIGTERM, then SIGKILL after the grace period); revert starts it."""

    name = "stop"
    summary = "stop the container gracefully (SIGTERM); revert starts it"
    mechanism = "docker stop (SIGTERM, SIGKILL after grace_s), docker start on revert"
    params = (Param("grace_s", int, 10, "seconds between SIGTERM and SIGKILL", minimum=0, maximum=120),)

    def act(self, name: str) -> None:
        dk.stop(name, int(self.values["grace_s"]))


@register
class Restart(Fault):
    """Graceful restart; in effect once the container runs again with a new start time."""

    name = "restart"
    family = "process"
    summary = "restart the container gracefully"
    mechanism = "docker restart"
    params = (Param("grace_s", int, 10, "seconds between SIGTERM and SIGKILL", minimum=0, maximum=120),)

    def save(self, name: str) -> dict[str, Any]:
        return {"started_at": dk.inspect(name)["State"]["StartedAt"]}

    def act(self, name: str) -> None:
        dk.restart(name, int(self.values["grace_s"]))

    def took_effect(self, name: str) -> bool:
        info = dk.inspect(name)["State"]
        return bool(info["Running"]) and info["StartedAt"] != self.saved.get(name, {}).get("started_at")

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        dk.start(name)

    def undone(self, name: str, saved: dict[str, Any]) -> bool:
        return dk.state(name) == "running"


@register
class Pause(Fault):
    """Freeze every process (a hung service: connections accepted by the kernel, never answered)."""

    name = "pause"
    family = "process"
    summary = "freeze the container (a hung process); revert thaws it"
    mechanism = "docker pause (cgroup freezer), docker unpause on revert"

    def act(self, name: str) -> None:
        dk.pause(name)

    def took_effect(self, name: str) -> bool:
        return dk.state(name) == "paused"

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        dk.unpause(name)
