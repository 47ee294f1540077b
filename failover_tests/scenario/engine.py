"""The scenario engine: steady state, fault, observation, revert, steady state again, judged.

Traffic starts, the steady state is observed, the fault is applied and held, reverted, the
recovery is observed, and the records are judged against the scenario's SLOs and checks.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from failover_tests import status_truth, steady
from failover_tests.live import LiveStack
from failover_tests.results import ScenarioResult
from failover_tests.scenario.checks import lb_check, lb_rejoin, lost_writes, status_checks, write_gap_check
from failover_tests.scenario.gate import baseline, specs_for, warm_up
from failover_tests.scenario.spec import PATHS, Scenario
from failover_tests.slo import evaluate, windows_around
from failover_tests.traffic import PathSpec, Probe, Record
from failover_tests.verdict import Check, Verdict
from infra.errors import ScenarioError, StackNotSteady

log = logging.getLogger(__name__)
IN_FLIGHT_S = 1.0
# How long the steady-state gate waits for the stack to converge, before and after a scenario.
STEADY_TIMEOUT_S = 60.0
# The longest an action scenario (rolling restart, Pulumi update) may take.
ACTION_BUDGET_S = 600.0


class _StatusSampler(threading.Thread):
    """Polls the status page during a scenario, on the probe's clock."""

    def __init__(self, stack: LiveStack, clock: Callable[[], float], interval_s: float = 0.5) -> None:
        super().__init__(daemon=True, name="status-sampler")
        self.stack, self.clock, self.interval_s = stack, clock, interval_s
        self.samples: list[tuple[float, dict[str, str]]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                page = self.stack.status_page()
                states = {k: v["state"] for k, v in page["components"].items()}
                self.samples.append((self.clock(), states))
            except Exception as exc:  # noqa: BLE001 - a missing sample is shown as a gap
                log.debug("status sample failed: %s", exc)
            self.stop_event.wait(self.interval_s)


def run(
    stack: LiveStack,
    scenario: Scenario,
    *,
    paths: dict[str, PathSpec] | None = None,
    action: Callable[[Probe], None] | None = None,
) -> ScenarioResult:
    """Run one scenario against a live stack; never raises for a failed verdict (see result).

    With `action` (a callable given the probe) instead of a fault, the "during" window is the
    time the action takes: a rolling restart or a Pulumi update under load.
    """
    table = paths or PATHS
    specs = specs_for(scenario, table, f"{scenario.name}-{uuid.uuid4().hex[:6]}")
    steady.wait_steady(stack, timeout_s=STEADY_TIMEOUT_S, when="before the scenario")
    warm_up(stack, specs)
    baseline(stack, scenario, table)
    total_s = scenario.steady_state_s + scenario.duration_s + scenario.recovery_s
    if action is not None or scenario.fault is not None:
        # An action takes as long as it takes (a rolling restart of N replicas), and so does a
        # revert (a killed zone comes back one container at a time, each once it answers its
        # health check): the probe runs until recovery_s after it ends, so the `after` window
        # never comes out empty.
        total_s = scenario.steady_state_s + scenario.duration_s + ACTION_BUDGET_S + scenario.recovery_s
    probe = stack.probe(rate_per_s=scenario.traffic.rate_per_s, duration_s=total_s, paths=specs, name=scenario.name)
    fault = stack.fault(scenario.fault.name, scenario.fault.target, scenario.fault.params) if scenario.fault else None
    label = fault.label if fault else (scenario.name if action else "baseline")
    started = time.monotonic()
    extra: list[Check] = []
    sampler = _StatusSampler(stack, probe.now_s)
    error: str | None = None
    fault_start = fault_end = revert_start = 0.0
    with probe:
        sampler.start()
        _sleep_until(probe, scenario.steady_state_s)
        fault_start = probe.now_s()
        probe.mark(f"apply {label}")
        lb_thread = None
        try:
            if fault:
                with fault:
                    if scenario.lb_marks_down and fault.targets:
                        names = [t.name for t in fault.targets]
                        origin = probe.origin_monotonic_s or time.monotonic()
                        extra, lb_thread = lb_check(stack, scenario.lb_marks_down, names, t0=origin + fault_start)
                    _sleep_until(probe, fault_start + scenario.duration_s)
                    revert_start = probe.now_s()
                    probe.mark(f"revert {label}")
                # The fault lasts until its revert is complete: a killed zone is back only when
                # its last container answers its health check (they come back dependencies
                # first, one at a time); "after" and recovery count from there.
                fault_end = probe.now_s()
                probe.mark(f"reverted {label}")
            elif action is not None:
                action(probe)
                fault_end = probe.now_s()
                probe.mark(f"end {label}")
                _sleep_until(probe, fault_end + scenario.recovery_s)
                total_s = fault_end + scenario.recovery_s
                probe.stop()
            else:
                _sleep_until(probe, fault_start + scenario.duration_s)
                fault_end = probe.now_s()
        except Exception as exc:  # the fault is reverted by its context manager already
            error = f"{exc.__class__.__name__}: {exc}"
            fault_end = probe.now_s()
            probe.stop()
        if lb_thread:
            lb_thread.join(timeout=scenario.lb_marks_down.within_s + 5 if scenario.lb_marks_down else 5)
            if scenario.lb_marks_down and fault and not error:
                origin = probe.origin_monotonic_s or time.monotonic()
                targets = [t.name for t in fault.targets]
                extra += lb_rejoin(stack, scenario.lb_marks_down, targets, t0=origin + revert_start)
        if fault is not None and error is None:
            _sleep_until(probe, fault_end + scenario.recovery_s)
            total_s = fault_end + scenario.recovery_s
            probe.stop()
        probe.join()
    sampler.stop_event.set()
    sampler.join(timeout=5)
    if error is None and (fault is not None or action is not None):
        # The revert is verified like the steady state before: the next scenario must not
        # start on what this one left behind, and a revert that never converges is this
        # scenario's error.
        try:
            steady.wait_steady(stack, timeout_s=STEADY_TIMEOUT_S, when="after the revert")
        except StackNotSteady as exc:
            error = f"{exc.__class__.__name__}: {exc}"
    records = probe.records
    end_s = max([total_s, fault_end] + [r.scheduled_s for r in records])
    windows = windows_around(_before_ends(records, fault_start), fault_end, end_s)
    verdict = evaluate(records, [s.to_slo() for s in scenario.slos], windows, label, fault_end_s=fault_end)
    empty = [c.message for c in verdict.checks if c.name == "requests" and not c.passed]
    if empty and error is None:
        # Requests are scheduled whatever the stack does: an empty window is the kit's timing,
        # never a verdict on the topology.
        error = f"ScenarioError: a window held no requests, the drill is too short: {'; '.join(empty)}"
    if scenario.verify_writes:
        writes = next((p for p in specs if p.name == "api.sessions"), None)
        if writes is None:
            raise ScenarioError(f"{scenario.name}: verify_writes needs the api.sessions path in traffic.paths")
        lost = lost_writes(stack.edges[0], writes, records, scenario.max_lost_writes, fault_end, end_s)
        if lost.observed:
            # Which node lost them, and how: a wiped store reads 0 keys everywhere.
            detail = stack.store_contents()
            log.warning("%s: %s; store now: %s", scenario.name, lost.message, detail)
            lost = dataclasses.replace(lost, message=f"{lost.message} (store now: {detail})")
        extra.append(lost)
    if scenario.max_write_gap_s is not None or (scenario.verify_writes and fault is not None):
        extra.append(write_gap_check(records, scenario.max_write_gap_s, fault_start, end_s))
    if scenario.max_restore_write_gap_s is not None and fault is not None and error is None:
        # Bringing the fault's targets back (an old primary, a Sentinel with a stale view) is
        # judged on its own, from the moment the revert began.
        extra.append(
            write_gap_check(
                records,
                scenario.max_restore_write_gap_s,
                revert_start,
                end_s,
                since="the revert began",
                name="restore_write_gap",
                window="after",
            )
        )
    if scenario.status:
        extra += status_checks(scenario.status, sampler.samples, fault_start, fault_end, end_s)
    if scenario.judge_status and sampler.samples:
        poll_s = float(stack.topology.status.poll_interval_s)
        truth = status_truth.judge_status(
            records,
            sampler.samples,
            poll_interval_s=poll_s,
            fault_start_s=fault_start,
            fault_end_s=max(fault_start, fault_end),
            run_end_s=max(end_s, fault_end),
        )
        extra += truth.checks
    if extra:
        verdict = Verdict(verdict.fault_label, verdict.checks + tuple(extra), verdict.stats)
    return ScenarioResult(
        name=scenario.name,
        description=scenario.description,
        fault_label=label,
        targets=fault.target_names if fault else (),
        seed=stack.seed,
        fault_start_s=fault_start,
        fault_end_s=fault_end,
        windows=windows,
        verdict=verdict,
        records=records,
        events=probe.events,
        status_samples=sampler.samples,
        duration_s=time.monotonic() - started,
        error=error,
        schedule_lag=probe.schedule_lag,
        paths=[s.name for s in specs],
        expect_failure=scenario.expect == "fail",
    )


def _before_ends(records: Sequence[Record], fault_start_s: float) -> float:
    """Where `before` ends: it judges only requests the fault cannot have touched.

    A request still in flight when the fault lands is part of its damage (an edge killed under
    it, a timeout that runs into the fault): "during" opens IN_FLIGHT_S before the fault, or
    earlier, at the earliest request still unanswered when the fault began, but never so early
    that less than half of the steady state is left to `before`.
    """
    start = fault_start_s - min(IN_FLIGHT_S, fault_start_s / 2)
    pending = [r.scheduled_s for r in records if r.scheduled_s < start and r.completed_s > fault_start_s]
    return max(fault_start_s / 2, min([start, *pending])) if fault_start_s > 0 else 0.0


def _sleep_until(probe: Probe, t_s: float) -> None:
    """Hold until the probe clock reaches t_s (scenario timing, not synchronisation)."""
    remaining = t_s - probe.now_s()
    if remaining > 0:
        threading.Event().wait(remaining)
