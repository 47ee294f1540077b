"""The checks a scenario adds to its SLO verdict: LB detection and rejoin, lost and delayed writes,
the status page's expected states."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from failover_tests.lb_detection import LBView, Transition
from failover_tests.scenario.spec import LBExpectation, StatusExpectation
from failover_tests.traffic import PathSpec, Record
from failover_tests.verdict import Check


def lb_check(
    stack: LBView, exp: LBExpectation, targets: list[str], *, t0: float | None = None
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


def lb_rejoin(stack: LBView, exp: LBExpectation, targets: list[str], *, t0: float | None = None) -> list[Check]:
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


def _transition_check(tr: Transition, exp: LBExpectation, *, up: bool) -> Check:
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
    return Check(
        name=name,
        path=exp.lb,
        window=window,
        window_start_s=0.0,
        window_end_s=0.0,
        observed=tr.after_s,
        limit=budget,
        passed=ok,
        message=msg,
    )


def lost_writes(
    edge: str, spec: PathSpec, records: Sequence[Record], limit: int | None, start_s: float, end_s: float
) -> Check:
    """Read back every session write the API acknowledged; count the ones the store lost."""
    import requests

    acked = [r for r in records if r.path == spec.name and r.ok]
    lost = 0
    http = requests.Session()
    for rec in acked[:3000]:
        resp = http.get(f"{edge}{spec.url_path(rec.seq)}", timeout=3)
        if resp.status_code == 404:
            lost += 1
    passed = limit is None or lost <= limit
    where = f"after recovery [{start_s:.1f} s..{end_s:.1f} s]"
    msg = f"api.sessions: {lost} of {len(acked)} acknowledged writes lost {where}"
    if limit is not None and not passed:
        msg = f"api.sessions: {lost} of {len(acked)} acknowledged writes lost > {limit} {where}"
    return Check(
        name="lost_writes",
        path="api.sessions",
        window="after",
        window_start_s=start_s,
        window_end_s=end_s,
        observed=float(lost),
        limit=None if limit is None else float(limit),
        passed=passed,
        message=msg,
    )


@dataclass(frozen=True)
class WriteGap:
    """The longest stretch of failed requests of one path from a fault on, in scheduled time."""

    gap_s: float  # 0.0 when no request failed
    start_s: float | None  # scheduled time of the first failure of that stretch
    first_ok_after_fault_s: float | None  # fault start -> first success after the first failure
    recovered: bool  # a success came after the last failure


def write_gap(records: Sequence[Record], path: str, fault_start_s: float, end_s: float) -> WriteGap:
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


def write_gap_check(
    records: Sequence[Record],
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
    return Check(
        name=name,
        path="api.sessions",
        window=window,
        window_start_s=start_s,
        window_end_s=end_s,
        observed=gap.gap_s,
        limit=limit_s,
        passed=passed,
        message=msg,
    )


def status_checks(
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
        name="status_during", path=f"status.{comp}", window="during", window_start_s=start_s, window_end_s=end_s,
        observed=None if hit is None else hit - start_s, limit=exp.within_s, passed=ok,
        message=f"status.{comp}: {exp.during} after {hit - start_s:.1f} s" if ok and hit is not None
        else f"status.{comp}: never {exp.during} within {exp.within_s:.0f} s of the fault "
        f"(saw {', '.join(seen) or 'nothing'})",
    ))  # fmt: skip
    after = [(t, s.get(comp)) for t, s in samples if t > end_s]
    back = next(
        (t for t, st in after if st == "operational" and all(s2 == "operational" for t2, s2 in after if t2 >= t)), None
    )
    ok_after = back is not None and back - end_s <= exp.recover_within_s
    checks.append(Check(
        name="status_after", path=f"status.{comp}", window="after", window_start_s=end_s, window_end_s=last_s,
        observed=None if back is None else back - end_s, limit=exp.recover_within_s, passed=ok_after,
        message=f"status.{comp}: operational again {back - end_s:.1f} s after revert" if ok_after and back is not None
        else f"status.{comp}: not operational within {exp.recover_within_s:.0f} s after revert",
    ))  # fmt: skip
    return checks
