"""Changes under load: a rolling restart of the API tier, then a scale-out by a Pulumi update,
both with 0 client-visible errors."""

from __future__ import annotations

from typing import Any

import pytest

from failover_tests import drill_docker as dk
from failover_tests.catalog.presets import scenario, slo
from infra import outputs as O
from infra.wait import wait_until

ZERO_ERRORS = [
    slo(p, min_success=1.0, max_run=0, p99_ms=2000, recovery_s=None)
    for p in ("api.complete", "api.sessions", "web.home")
]


@pytest.mark.destructive
@pytest.mark.failover(name="rolling-restart-api")
def test_rolling_restart(scenario_runner: Any, stack: Any) -> None:
    """Restart every API replica one at a time; wait for each to rejoin before the next."""
    replicas = [c.name for c in stack.containers("api")]

    def roll(probe: Any) -> None:
        for name in replicas:
            with stack.fault("restart", name, {"grace_s": 10}):
                pass  # in effect once it runs again with a new start time

            # Readiness gate before the next replica goes: Docker reports the new process healthy
            # and every edge LB has it back in rotation.
            def healthy(n: str = name) -> tuple[bool, str]:
                status = str(dk.inspect(n)["State"].get("Health", {}).get("Status"))
                return status == "healthy", status

            wait_until(
                healthy,
                what=f"{name} healthy after its restart",
                timeout_s=30,
                interval_s=0.2,
            )
            for lb in stack.lbs("edge"):
                stack.wait_lb(lb, O.BE_API, name, up=True, timeout_s=20)
            probe.mark(f"{name} back")

    scenario_runner.run(
        scenario(
            "rolling-restart-api",
            "restart api-0..N one at a time under load: 0 errors",
            None,
            slos=ZERO_ERRORS,
            recovery_s=3.0,
        ),
        action=roll,
    )


@pytest.mark.destructive
@pytest.mark.failover(name="scale-out-api")
def test_scale_out_under_load(scenario_runner: Any, stack: Any) -> None:
    """Grow the API tier by one replica with a Pulumi update while traffic flows: 0 errors,
    and the new replica serves traffic."""
    before = stack.topology
    n = before.api.replicas
    grown = before.model_copy(update={"api": before.api.model_copy(update={"replicas": n + 1})})
    new_name = f"sd-{stack.name}-api-{n}"
    image = stack.image
    try:
        result = scenario_runner.run(
            scenario(
                "scale-out-api",
                f"pulumi update: api {n} -> {n + 1} replicas under load; the LBs reload in place",
                None,
                slos=ZERO_ERRORS,
                recovery_s=5.0,
            ),
            action=lambda probe: stack.update(grown, image),
        )
        after = result.fault_end_s or 0.0
        served = {r.replica for r in result.records if r.path.startswith("api.") and r.scheduled_s >= after}
        assert new_name in served, (
            f"{new_name} served no traffic after the scale-out (served: {sorted(filter(None, served))})"
        )
    finally:
        stack.update(before, image)  # back to the topology the rest of the session expects
