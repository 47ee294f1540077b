"""Scenarios: steady state, fault, observation, revert, steady state again, judged against SLOs.

A scenario is data (a pydantic model, so YAML and Python share one validated form) and one
engine runs it: traffic starts, the steady state is observed, the fault is applied and held,
reverted, the recovery is observed, and the records are judged. Bad scenarios fail on load,
before any stack is touched.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from failover_tests import status_truth, steady
from failover_tests.faults import validate_params
from failover_tests.results import ScenarioResult
from failover_tests.slo import SLO, Check, Verdict, evaluate, windows_around
from failover_tests.traffic import PathSpec, default_paths
from infra import outputs as O
from infra.errors import ScenarioError, StackdrillError, StackNotSteady

log = logging.getLogger(__name__)
PATHS = {p.name: p for p in default_paths()}
IN_FLIGHT_S = 1.0
# How long the steady-state gate waits for the stack to converge, before and after a scenario.
STEADY_TIMEOUT_S = 60.0
# The measured part of the steady-state gate: a burst at the drill's rate, every request ok and
# answered within BASELINE_MAX_MS (see `_baseline`).
BASELINE_S = 1.5
BASELINE_MAX_MS = 1000.0
# Idle time between a clean baseline and the drill's own traffic. A stack near its capacity
# carries a burst's queue into what follows: the naive topology (a 4-worker synchronous API at
# 60 req/s) passed its baseline, then failed the drill's `before` window 0.75 s in (make drill,
# 3rd of 5 runs on 45274ef). After the pause the drill starts on an idle stack, as it did before
# the baseline existed.
BASELINE_DRAIN_S = 2.0
# The longest an action scenario (rolling restart, Pulumi update) may take.
ACTION_BUDGET_S = 600.0
WINDOWS: tuple[Literal["before", "during", "after"], ...] = ("before", "during", "after")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultSpec(_Model):
    """Which fault, on which target, with which parameters."""

    name: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> FaultSpec:
        validate_params(self.name, self.params)
        return self


class TrafficSpec(_Model):
    """Open-loop traffic during the whole scenario."""

    rate_per_s: float = Field(20.0, gt=0, le=500)
    paths: list[str] = Field(default_factory=lambda: list(PATHS))
    timeout_s: float = Field(3.0, gt=0, le=60)

    @model_validator(mode="after")
    def _known_paths(self) -> TrafficSpec:
        for p in self.paths:
            if p not in PATHS:
                raise ValueError(f"unknown path '{p}'; paths: {', '.join(PATHS)}")
        return self


class SLOSpec(_Model):
    """An SLO of one path in some windows (before, during, after)."""

    path: str
    windows: list[Literal["before", "during", "after"]] = Field(default_factory=lambda: list(WINDOWS))
    min_success: float | None = Field(None, ge=0, le=1)
    max_p50_ms: float | None = Field(None, ge=0)
    max_p90_ms: float | None = Field(None, ge=0)
    max_p99_ms: float | None = Field(None, ge=0)
    max_consecutive_failures: int | None = Field(None, ge=0)
    max_recovery_s: float | None = Field(None, ge=0)
    max_fallback_share: float | None = Field(None, ge=0, le=1)
    allow_fallback: bool = True

    def to_slo(self) -> SLO:
        """The library SLO."""
        return SLO(
            path=self.path,
            window=tuple(self.windows),
            min_success=self.min_success,
            max_p50_ms=self.max_p50_ms,
            max_p90_ms=self.max_p90_ms,
            max_p99_ms=self.max_p99_ms,
            max_consecutive_failures=self.max_consecutive_failures,
            max_recovery_s=self.max_recovery_s,
            max_fallback_share=self.max_fallback_share,
            allow_fallback=self.allow_fallback,
        )


class LBExpectation(_Model):
    """The LBs of a tier must mark the fault's targets down while it lasts, and up again after."""

    lb: str = "edge"
    backend: str = O.BE_API
    within_s: float = Field(5.0, gt=0)
    rejoin_within_s: float = Field(15.0, gt=0)


class StatusExpectation(_Model):
    """The status page must show a component in a state during the fault, and recover after."""

    component: str
    during: Literal["degraded", "outage", "operational"] = "degraded"
    within_s: float = Field(10.0, gt=0)
    recover_within_s: float = Field(15.0, gt=0)


class Scenario(_Model):
    """One drill."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    destructive: bool = True
    steady_state_s: float = Field(3.0, ge=0.5, le=120)
    fault: FaultSpec | None = None
    duration_s: float = Field(10.0, gt=0, le=600)
    recovery_s: float = Field(8.0, ge=1, le=300)
    traffic: TrafficSpec = TrafficSpec()
    slos: list[SLOSpec] = Field(default_factory=list)
    lb_marks_down: LBExpectation | None = None
    status: StatusExpectation | None = None
    expect: Literal["pass", "fail"] = "pass"  # "fail": the drill must catch a failure (broken topology)
    verify_writes: bool = False
    max_lost_writes: int | None = Field(None, ge=0)
    # Judge the status page against what clients saw (under- and over-reporting).
    judge_status: bool = True
    # The longest stretch of failed session writes, in seconds, from the fault on (None: not judged).
    max_write_gap_s: float | None = Field(None, ge=0)
    # The same, counted from the moment the revert began: what bringing the targets back costs.
    max_restore_write_gap_s: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _slo_paths(self) -> Scenario:
        for s in self.slos:
            if s.path not in self.traffic.paths:
                raise ValueError(f"SLO path '{s.path}' is not in traffic.paths ({', '.join(self.traffic.paths)})")
            # `after` is judged once the recovery budget is spent: something must be left of it.
            if s.max_recovery_s is not None and "after" in s.windows and s.max_recovery_s >= self.recovery_s:
                raise ValueError(
                    f"recovery_s {self.recovery_s:g} leaves nothing of the after window to judge for {s.path} "
                    f"(max_recovery_s {s.max_recovery_s:g}); make recovery_s at least "
                    f"{s.max_recovery_s + 3:g}"
                )
        return self


def _one_line(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'"
    if err["type"] == "missing":
        return f"{source}: missing key '{key}'"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" = {value!r}"
    return f"{source}: {key}{shown}: {msg}" if key else f"{source}: {msg}"


def parse(data: Any, source: str = "scenario") -> Scenario:
    """Validate a scenario given as a mapping; ScenarioError with one line on any mistake."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_one_line(exc, source)) from None
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def load_file(path: Path) -> list[Scenario]:
    """Scenarios of a YAML file: one mapping, or a list under `scenarios:`."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path.name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    items = doc.get("scenarios") if isinstance(doc, dict) and "scenarios" in doc else [doc]
    if not isinstance(items, list):
        raise ScenarioError(f"{path.name}: 'scenarios' must be a list")
    return [parse(item, f"{path.name}[{i}]" if len(items) > 1 else path.name) for i, item in enumerate(items)]


class _StatusSampler(threading.Thread):
    """Polls the status page during a scenario, on the probe's clock."""

    def __init__(self, stack: Any, clock: Any, interval_s: float = 0.5) -> None:
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


def _lb_check(
    stack: Any, exp: LBExpectation, targets: list[str], *, t0: float | None = None
) -> tuple[list[Check], threading.Thread]:
    """Watch every LB of the tier in parallel: each must mark every target down within the budget.

    `t0` is the fault's start (`time.monotonic()`; default: now): each (LB, target) check
    reports the seconds from it to that LB marking the target down, against `within_s`, so
    the budget applies per LB and the watch ends by `t0 + within_s` however many LBs there are.
    The checks are appended to the returned list once the returned thread has finished.
    """
    from failover_tests import lb_detection

    origin_s = time.monotonic() if t0 is None else t0
    results: list[Check] = []
    lbs = stack.lbs(exp.lb)

    def watch() -> None:
        seen = lb_detection.watch(stack, lbs, exp.backend, targets, up=False, origin_s=origin_s, budget_s=exp.within_s)
        results.extend(_transition_check(tr, exp, up=False) for tr in seen)

    thread = threading.Thread(target=watch, daemon=True, name=f"lb-check-{exp.lb}")
    thread.start()
    return results, thread


def _lb_rejoin(stack: Any, exp: LBExpectation, targets: list[str], *, t0: float | None = None) -> list[Check]:
    """After the revert every target must be back in rotation on every LB of the tier (watched in parallel).

    `t0` is the revert (`time.monotonic()`; default: now); each (LB, target) check reports the
    seconds from it to that LB routing to the target again, against `rejoin_within_s`.
    """
    from failover_tests import lb_detection

    origin_s = time.monotonic() if t0 is None else t0
    seen = lb_detection.watch(
        stack, stack.lbs(exp.lb), exp.backend, targets, up=True, origin_s=origin_s, budget_s=exp.rejoin_within_s
    )
    return [_transition_check(tr, exp, up=True) for tr in seen]


def _transition_check(tr: Any, exp: LBExpectation, *, up: bool) -> Check:
    """One LB's view of one target going down (during the fault) or back up (after the revert)."""
    where = f"{tr.lb}: {exp.backend}/{tr.server}"
    budget = exp.rejoin_within_s if up else exp.within_s
    ok = tr.after_s is not None and tr.after_s <= budget
    if up:
        if tr.after_s is None:
            msg = f"{where} not back up within {budget:g} s of revert (last seen: {tr.last_seen})"
        elif ok:
            msg = f"{where} back up {tr.after_s:.1f} s after revert"
        else:
            msg = f"{where} back up {tr.after_s:.2f} s > {budget:.2f} s after revert"
    elif tr.after_s is None:
        msg = f"{where} not marked down within {budget:.1f} s (last seen: {tr.last_seen})"
    elif ok:
        msg = f"{where} marked down after {tr.after_s:.1f} s"
    else:
        msg = f"{where} marked down after {tr.after_s:.2f} s > {budget:.2f} s"
    name, window = ("lb_rejoin", "after") if up else ("lb_down", "during")
    return Check(name, exp.lb, window, 0.0, 0.0, tr.after_s, budget, ok, msg)


def _lost_writes(
    stack: Any, spec: PathSpec, records: list[Any], limit: int | None, start_s: float, end_s: float
) -> Check:
    """Read back every session write the API acknowledged; count the ones the store lost."""
    import requests

    acked = [r for r in records if r.path == spec.name and r.ok]
    lost = 0
    http = requests.Session()
    edge = stack.edges[0]
    for rec in acked[:3000]:
        resp = http.get(f"{edge}{spec.url_path(rec.seq)}", timeout=3)
        if resp.status_code == 404:
            lost += 1
    passed = limit is None or lost <= limit
    where = f"after recovery [{start_s:.1f} s..{end_s:.1f} s]"
    msg = f"api.sessions: {lost} of {len(acked)} acknowledged writes lost {where}"
    if limit is not None and not passed:
        msg = f"api.sessions: {lost} acknowledged writes lost > {limit} {where}"
    return Check(
        "lost_writes",
        "api.sessions",
        "after",
        start_s,
        end_s,
        float(lost),
        None if limit is None else float(limit),
        passed,
        msg,
    )


@dataclass(frozen=True)
class WriteGap:
    """The longest stretch of failed requests of one path from a fault on, in scheduled time."""

    gap_s: float  # 0.0 when no request failed
    start_s: float | None  # scheduled time of the first failure of that stretch
    first_ok_after_fault_s: float | None  # fault start -> first success after the first failure
    recovered: bool  # a success came after the last failure


def write_gap(records: Sequence[Any], path: str, fault_start_s: float, end_s: float) -> WriteGap:
    """Measure the longest run of failures of `path` scheduled at or after the fault's start.

    A run lasts from its first failure's scheduled time to the scheduled time of the next
    success (or to `end_s` when none came): the time during which a client could not write.
    """
    recs = sorted(
        (r for r in records if r.path == path and r.scheduled_s >= fault_start_s), key=lambda r: r.scheduled_s
    )
    longest, longest_start = 0.0, None
    first_fail: float | None = None
    first_ok_after: float | None = None
    run_start: float | None = None
    for r in recs:
        if not r.ok:
            first_fail = r.scheduled_s if first_fail is None else first_fail
            run_start = r.scheduled_s if run_start is None else run_start
            continue
        if first_fail is not None and first_ok_after is None:
            first_ok_after = r.scheduled_s - fault_start_s
        if run_start is not None:
            if r.scheduled_s - run_start > longest:
                longest, longest_start = r.scheduled_s - run_start, run_start
            run_start = None
    if run_start is not None and end_s - run_start > longest:
        longest, longest_start = end_s - run_start, run_start
    return WriteGap(longest, longest_start, first_ok_after, run_start is None)


def _write_gap_check(
    records: Sequence[Any],
    limit_s: float | None,
    start_s: float,
    end_s: float,
    *,
    since: str = "the fault",
    name: str = "write_gap",
    window: str = "during",
) -> Check:
    """The longest stretch of failed session writes from `start_s` (the fault, or the revert) on."""
    gap = write_gap(records, "api.sessions", start_s, end_s)
    passed = limit_s is None or (gap.recovered and gap.gap_s <= limit_s)
    first = (
        "no write failed"
        if gap.start_s is None
        else f"first write {gap.first_ok_after_fault_s:.1f} s after {since}"
        if gap.first_ok_after_fault_s is not None
        else f"no write succeeded after {since}"
    )
    where = "" if gap.start_s is None else f" from {gap.start_s:.1f} s"
    if not gap.recovered:
        msg = f"api.sessions: writes still failing at the end of the run{where} ({first})"
    elif limit_s is not None and not passed:
        msg = f"api.sessions: writes failed for {gap.gap_s:.1f} s > {limit_s:.1f} s{where} ({first})"
    else:
        msg = f"api.sessions: longest write gap {gap.gap_s:.1f} s{where} ({first})"
    return Check(name, "api.sessions", window, start_s, end_s, gap.gap_s, limit_s, passed, msg)


def _status_checks(
    exp: StatusExpectation, samples: list[tuple[float, dict[str, str]]], start_s: float, end_s: float, last_s: float
) -> list[Check]:
    """Did the status page show the component `during` within budget, and recover after?"""
    comp = exp.component
    during = [(t, s.get(comp)) for t, s in samples if start_s <= t <= end_s]
    hit = next((t for t, st in during if st == exp.during or (exp.during == "degraded" and st == "outage")), None)
    seen = sorted({st for _, st in during if st})
    checks = []
    ok = hit is not None and hit - start_s <= exp.within_s
    checks.append(Check(
        "status_during", f"status.{comp}", "during", start_s, end_s,
        None if hit is None else hit - start_s, exp.within_s, ok,
        f"status.{comp}: {exp.during} after {hit - start_s:.1f} s" if ok and hit is not None
        else f"status.{comp}: never {exp.during} within {exp.within_s:.0f} s of the fault "
        f"(saw {', '.join(seen) or 'nothing'})",
    ))  # fmt: skip
    after = [(t, s.get(comp)) for t, s in samples if t > end_s]
    back = next(
        (t for t, st in after if st == "operational" and all(s2 == "operational" for t2, s2 in after if t2 >= t)), None
    )
    ok_after = back is not None and back - end_s <= exp.recover_within_s
    checks.append(Check(
        "status_after", f"status.{comp}", "after", end_s, last_s,
        None if back is None else back - end_s, exp.recover_within_s, ok_after,
        f"status.{comp}: operational again {back - end_s:.1f} s after revert" if ok_after and back is not None
        else f"status.{comp}: not operational within {exp.recover_within_s:.0f} s after revert",
    ))  # fmt: skip
    return checks


def run(
    stack: Any,
    scenario: Scenario,
    *,
    paths: dict[str, PathSpec] | None = None,
    action: Callable[[Any], None] | None = None,
) -> ScenarioResult:
    """Run one scenario against a live stack; never raises for a failed verdict (see result).

    With `action` (a callable given the probe) instead of a fault, the "during" window is the
    time the action takes: a rolling restart or a Pulumi update under load.
    """
    table = paths or PATHS
    specs = _specs(scenario, table, f"{scenario.name}-{uuid.uuid4().hex[:6]}")
    steady.wait_steady(stack, timeout_s=STEADY_TIMEOUT_S, when="before the scenario")
    _warm_up(stack, specs)
    _baseline(stack, scenario, table)
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
                        extra, lb_thread = _lb_check(stack, scenario.lb_marks_down, names, t0=origin + fault_start)
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
                extra += _lb_rejoin(stack, scenario.lb_marks_down, targets, t0=origin + revert_start)
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
        extra.append(_lost_writes(stack, writes, records, scenario.max_lost_writes, fault_end, end_s))
    if scenario.max_write_gap_s is not None or (scenario.verify_writes and fault is not None):
        extra.append(_write_gap_check(records, scenario.max_write_gap_s, fault_start, end_s))
    if scenario.max_restore_write_gap_s is not None and fault is not None and error is None:
        # Bringing the fault's targets back (an old primary, a Sentinel with a stale view) is
        # judged on its own, from the moment the revert began.
        extra.append(
            _write_gap_check(
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
        extra += _status_checks(scenario.status, sampler.samples, fault_start, fault_end, end_s)
    if scenario.judge_status and sampler.samples:
        topo = getattr(stack, "topology", None)
        poll_s = float(topo.status.poll_interval_s) if topo is not None else 1.0
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


def _specs(scenario: Scenario, table: Mapping[str, PathSpec], run_id: str) -> list[PathSpec]:
    """The scenario's paths as the probe sends them; session keys carry `run_id`."""
    return [
        PathSpec(
            p.name, p.method, p.path.replace("drill-{n}", f"{run_id}-{{n}}"), p.body,
            scenario.traffic.timeout_s, p.ok_statuses, setup=p.setup,
        )
        for p in (table[n] for n in scenario.traffic.paths)
    ]  # fmt: skip


def _baseline(stack: Any, scenario: Scenario, table: Mapping[str, PathSpec], timeout_s: float = 45.0) -> None:
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
        specs = _specs(scenario, table, f"baseline-{uuid.uuid4().hex[:6]}")
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


def _warm_up(stack: Any, specs: list[PathSpec], rounds: int = 3, timeout_s: float = 45.0) -> None:
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


def _before_ends(records: Sequence[Any], fault_start_s: float) -> float:
    """Where `before` ends: it judges only requests the fault cannot have touched.

    A request still in flight when the fault lands is part of its damage (an edge killed under
    it, a timeout that runs into the fault): "during" opens IN_FLIGHT_S before the fault, or
    earlier, at the earliest request still unanswered when the fault began, but never so early
    that less than half of the steady state is left to `before`.
    """
    start = fault_start_s - min(IN_FLIGHT_S, fault_start_s / 2)
    pending = [r.scheduled_s for r in records if r.scheduled_s < start and r.completed_s > fault_start_s]
    return max(fault_start_s / 2, min([start, *pending])) if fault_start_s > 0 else 0.0


def _sleep_until(probe: Any, t_s: float) -> None:
    """Hold until the probe clock reaches t_s (scenario timing, not synchronisation)."""
    remaining = t_s - probe.now_s()
    if remaining > 0:
        threading.Event().wait(remaining)
