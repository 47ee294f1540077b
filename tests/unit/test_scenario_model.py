"""Scenario validation (one test per rule) and the write-gap measurement, without a stack."""

from __future__ import annotations

from typing import Any

import pytest

from failover_tests.scenario import parse, write_gap
from failover_tests.traffic import Record
from infra.errors import ScenarioError


def _scenario(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "s",
        "fault": {"name": "kill", "target": "api-1"},
        "recovery_s": 8,
        "traffic": {"paths": ["api.complete", "api.sessions"]},
        "slos": [{"path": "api.complete", "max_recovery_s": 5}],
    }
    return base | over


def test_a_recovery_budget_must_leave_part_of_the_after_window() -> None:
    assert parse(_scenario()).recovery_s == 8
    with pytest.raises(ScenarioError) as info:
        parse(_scenario(recovery_s=5), "x.yaml")
    assert str(info.value) == (
        "x.yaml: recovery_s 5 leaves nothing of the after window to judge for api.complete "
        "(max_recovery_s 5); make recovery_s at least 8"
    )


def test_an_slo_path_must_be_in_the_traffic() -> None:
    with pytest.raises(ScenarioError, match=r"SLO path 'web.home' is not in traffic.paths"):
        parse(_scenario(slos=[{"path": "web.home"}]))


def test_max_write_gap_and_fallback_share_are_validated() -> None:
    with pytest.raises(ScenarioError, match=r"max_write_gap_s = -1"):
        parse(_scenario(max_write_gap_s=-1))
    with pytest.raises(ScenarioError, match=r"max_fallback_share = 1.5"):
        parse(_scenario(slos=[{"path": "api.complete", "max_fallback_share": 1.5}]))


def _rec(t: float, ok: bool) -> Record:
    return Record(
        path="api.sessions", seq=int(t * 10), scheduled_s=t, latency_ms=5.0, status=200 if ok else 503, ok=ok,
        replica=None, endpoint=None, error=None if ok else "HTTP 503", fallback=False, completed_s=t,
    )  # fmt: skip


def test_write_gap_runs_from_the_first_failure_to_the_next_success() -> None:
    recs = [_rec(t / 10, not (30 <= t < 52)) for t in range(0, 100)]
    gap = write_gap(recs, "api.sessions", 2.0, 10.0)
    assert (round(gap.gap_s, 3), gap.start_s, round(gap.first_ok_after_fault_s or 0, 3), gap.recovered) == (
        2.2,
        3.0,
        3.2,
        True,
    )


def test_write_gap_without_failures_and_without_recovery() -> None:
    ok = [_rec(t / 10, True) for t in range(0, 50)]
    assert write_gap(ok, "api.sessions", 1.0, 5.0).gap_s == 0.0
    never = [_rec(t / 10, t < 20) for t in range(0, 50)]
    gap = write_gap(never, "api.sessions", 1.0, 5.0)
    assert (gap.gap_s, gap.start_s, gap.first_ok_after_fault_s, gap.recovered) == (3.0, 2.0, None, False)


def test_the_engine_does_not_depend_on_the_renderer() -> None:
    import subprocess
    import sys

    code = "import sys, failover_tests.scenario; print('jinja2' in sys.modules, 'failover_tests.report' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_the_restore_is_judged_from_the_revert_on() -> None:
    from failover_tests.scenario.checks import write_gap_check as _write_gap_check

    # writes fail for 2 s during the fault and for 1.5 s once the revert began at 11 s
    recs = [_rec(t / 10, not (20 <= t < 40 or 120 <= t < 135)) for t in range(0, 200)]
    whole = _write_gap_check(recs, 3.0, 2.0, 20.0)
    assert (whole.name, whole.passed, round(whole.observed or 0, 3)) == ("write_gap", True, 2.0)
    restore = _write_gap_check(
        recs, 1.0, 11.0, 20.0, since="the revert began", name="restore_write_gap", window="after"
    )
    assert (restore.name, restore.window, restore.passed) == ("restore_write_gap", "after", False)
    assert restore.message == (
        "api.sessions: writes failed for 1.5 s > 1.0 s from 12.0 s (first write 2.5 s after the revert began)"
    )
    with pytest.raises(ScenarioError, match=r"max_restore_write_gap_s = -1"):
        parse(_scenario(max_restore_write_gap_s=-1))


def test_before_holds_only_requests_answered_before_the_fault() -> None:
    from dataclasses import replace

    from failover_tests.scenario.engine import _before_ends

    quick = [_rec(t / 10, True) for t in range(0, 40)]  # answered at once, fault at 4 s
    assert _before_ends(quick, 4.0) == 3.0  # IN_FLIGHT_S before the fault
    stuck = [*quick, replace(_rec(2.2, False), completed_s=5.2)]  # sent at 2.2 s, lost in the fault
    assert _before_ends(stuck, 4.0) == 2.2
    early = [*quick, replace(_rec(0.5, False), completed_s=5.0)]  # half the steady state stays "before"
    assert _before_ends(early, 4.0) == 2.0
    assert _before_ends([], 0.0) == 0.0
