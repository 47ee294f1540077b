"""The measured part of the steady-state hypothesis: every path answers, and a burst at the drill's
own rate comes back clean, before any fault is applied."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import replace

from failover_tests.live import LiveStack
from failover_tests.scenario.spec import Scenario
from failover_tests.traffic import PathSpec
from infra.errors import ScenarioError, StackdrillError

# A burst at the drill's rate, every request ok and answered within BASELINE_MAX_MS (`baseline`).
BASELINE_S = 1.5
BASELINE_MAX_MS = 1000.0
# Idle time between a clean baseline and the drill's own traffic. A stack near its capacity
# carries a burst's queue into what follows: the naive topology (a 4-worker synchronous API at
# 60 req/s) passed its baseline, then failed the drill's `before` window 0.75 s in (make drill,
# 3rd of 5 runs on 45274ef). After the pause the drill starts on an idle stack, as it did before
# the baseline existed.
BASELINE_DRAIN_S = 2.0


def specs_for(scenario: Scenario, table: Mapping[str, PathSpec], run_id: str) -> list[PathSpec]:
    """The scenario's paths as the probe sends them; session keys carry `run_id`."""
    return [
        replace(p, path=p.path.replace("drill-{n}", f"{run_id}-{{n}}"), timeout_s=scenario.traffic.timeout_s)
        for p in (table[n] for n in scenario.traffic.paths)
    ]


def baseline(stack: LiveStack, scenario: Scenario, table: Mapping[str, PathSpec], timeout_s: float = 45.0) -> None:
    """Steady-state hypothesis, measured: a burst at the drill's own rate comes back clean.

    A few requests in a row say every path answers; they say nothing of how the stack takes
    the drill's concurrency. A fresh stack's first burst opens connections through every hop
    at once, and it stalled: in CI, one API replica of a stack made seconds earlier held
    requests for 3 s in the first second of traffic, so the `before` window failed and the
    drill proved nothing. So open-loop traffic at the drill's rate runs for BASELINE_S (on
    keys of its own: the drill's read-back of acknowledged writes stays its own) until one
    burst has every request answered ok within BASELINE_MAX_MS; a stack that never gets
    there is not steady, which is the kit's error, not a verdict.
    """
    from infra.wait import wait_until

    rate = scenario.traffic.rate_per_s

    def one_burst() -> tuple[bool, str]:
        specs = specs_for(scenario, table, f"baseline-{uuid.uuid4().hex[:6]}")
        probe = stack.probe(rate_per_s=rate, duration_s=BASELINE_S, paths=specs, name=f"{scenario.name}-baseline")
        with probe:
            probe.join(BASELINE_S + scenario.traffic.timeout_s + 5)  # it stops by itself
        records = probe.records
        bad = [r for r in records if not r.ok or r.latency_ms > BASELINE_MAX_MS]
        if records and not bad:
            return True, "clean"
        worst = max(records, key=lambda r: (not r.ok, r.latency_ms), default=None)
        if worst is None:
            return False, "no request was sent"
        return False, (
            f"{len(bad)} of {len(records)} requests failed or took over {BASELINE_MAX_MS:.0f} ms "
            f"(worst: {worst.path} {worst.error or f'{worst.latency_ms:.0f} ms'})"
        )

    try:
        wait_until(one_burst, what=f"a clean baseline at {rate:g} req/s per path", timeout_s=timeout_s, interval_s=0.0)
    except StackdrillError as exc:
        raise ScenarioError(f"stack {stack.name} is not steady, so no fault was applied: {exc}") from exc
    threading.Event().wait(BASELINE_DRAIN_S)


def warm_up(stack: LiveStack, specs: list[PathSpec], rounds: int = 3, timeout_s: float = 45.0) -> None:
    """Steady-state hypothesis: every path answers through every edge, `rounds` times in a row.

    A stack that is not steady before the fault makes the verdict meaningless, so the scenario
    waits for it (a fresh stack warms its connections) and fails clearly if it never comes.
    """
    import requests

    from infra.wait import wait_until

    http = requests.Session()
    streak = {"n": 0}

    def one_round() -> tuple[bool, str]:
        for edge in stack.edges:
            for spec in specs:
                for step in (spec.setup, spec):
                    if step is None:
                        continue
                    url = f"{edge}{step.url_path(0)}"
                    resp = http.request(step.method, url, json=step.body_for(0), timeout=step.timeout_s)
                    if not step.is_ok(resp.status_code):
                        streak["n"] = 0
                        return False, f"{step.name} via {edge}: HTTP {resp.status_code}"
        streak["n"] += 1
        return streak["n"] >= rounds, f"{streak['n']} good rounds"

    try:
        wait_until(one_round, what="the steady state before the fault", timeout_s=timeout_s, interval_s=0.2)
    except StackdrillError as exc:
        raise ScenarioError(f"stack {stack.name} is not steady, so no fault was applied: {exc}") from exc
