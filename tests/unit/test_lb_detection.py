"""LB detection times: every LB watched in parallel from the fault's start, the budget per LB.

A fake stack stands in for the LBs: each (LB, server) pair changes state at a scripted time
after the fault's start, on the real monotonic clock, so the wall time of a watch shows
whether the LBs were watched one after another or at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from failover_tests import lb_detection
from failover_tests.scenario import LBExpectation
from failover_tests.scenario.checks import lb_check as _lb_check
from failover_tests.scenario.checks import lb_rejoin as _lb_rejoin
from failover_tests.verdict import Check

LBS = ("edge-0", "edge-1")
# Scripted times carry this much slack: a poll every 0.1 s, plus a busy 2-core machine.
SLACK_S = 0.25


@dataclass
class FakeLBs:
    """LBs whose view of a backend flips at scripted seconds after `origin_s`."""

    origin_s: float
    flips_at_s: Mapping[tuple[str, str], float]  # (lb, server) -> when it flips
    before: str = "UP"
    after: str = "DOWN"
    unreadable: frozenset[str] = frozenset()  # LBs whose stats never answer
    reads: list[tuple[str, float]] = field(default_factory=list)

    def lbs(self, tier: str) -> list[str]:
        assert tier == "edge"
        return list(LBS)

    def lb_servers(self, lb: str, backend: str) -> dict[str, str]:
        elapsed_s = time.monotonic() - self.origin_s
        self.reads.append((lb, elapsed_s))
        if lb in self.unreadable:
            raise ConnectionError("stats port refused")
        assert backend == "be_api"
        return {
            server: self.after if elapsed_s >= at_s else self.before
            for (where, server), at_s in self.flips_at_s.items()
            if where == lb
        }


def run_check(stack: FakeLBs, exp: LBExpectation, targets: list[str]) -> tuple[list[Check], float]:
    """Run _lb_check from the stack's origin to the end; return its checks and its wall time."""
    checks, thread = _lb_check(stack, exp, targets, t0=stack.origin_s)
    thread.join(timeout=10.0)
    assert not thread.is_alive(), "the LB check did not end within 10 s"
    return checks, time.monotonic() - stack.origin_s


def test_every_lb_is_watched_at_once_and_timed_from_the_fault_start() -> None:
    stack = FakeLBs(time.monotonic(), {("edge-0", "api-1"): 0.6, ("edge-1", "api-1"): 0.6})
    checks, wall_s = run_check(stack, LBExpectation(within_s=2.0), ["api-1"])

    assert [(c.name, c.path, c.window, c.limit, c.passed) for c in checks] == [
        ("lb_down", "edge", "during", 2.0, True),
        ("lb_down", "edge", "during", 2.0, True),
    ]
    for lb, check in zip(LBS, checks, strict=True):
        assert check.observed is not None and 0.6 <= check.observed <= 0.6 + SLACK_S, check
        assert check.message == f"{lb}: be_api/api-1 marked down after {check.observed:.1f} s"
    # One after another would take 0.6 s for edge-0, then edge-1's wait on top (1.2 s in all).
    assert wall_s < 0.6 + SLACK_S + 0.1, wall_s
    # Both LBs were read while the other was still being watched.
    early = {lb for lb, t_s in stack.reads if t_s < 0.5}
    assert early == set(LBS)


def test_each_lb_gets_the_budget_from_the_fault_start_not_after_the_previous_one() -> None:
    stack = FakeLBs(time.monotonic(), {("edge-0", "api-1"): 0.2, ("edge-1", "api-1"): 1.5})
    checks, wall_s = run_check(stack, LBExpectation(within_s=0.6), ["api-1"])

    fast, slow = checks
    assert fast.passed and fast.observed is not None and 0.2 <= fast.observed <= 0.2 + SLACK_S
    assert fast.message == f"edge-0: be_api/api-1 marked down after {fast.observed:.1f} s"
    assert (slow.passed, slow.observed, slow.limit) == (False, None, 0.6)
    assert slow.message == "edge-1: be_api/api-1 not marked down within 0.6 s (last seen: UP)"
    # The watch ends at the per-LB budget: not at 2 x 0.6 s, not at edge-1's 1.5 s.
    assert 0.6 <= wall_s < 0.6 + SLACK_S + 0.1, wall_s


def test_time_counts_from_t0_even_when_the_watch_starts_later() -> None:
    # The fault started 0.3 s before the watch (applying it took that long).
    stack = FakeLBs(time.monotonic() - 0.3, {("edge-0", "api-1"): 0.5, ("edge-1", "api-1"): 0.5})
    checks, _wall_s = run_check(stack, LBExpectation(within_s=2.0), ["api-1"])

    for check in checks:
        assert check.observed is not None and 0.5 <= check.observed <= 0.5 + SLACK_S, check


def test_every_target_on_every_lb_gets_its_own_time() -> None:
    flips = {
        ("edge-0", "api-1"): 0.1,
        ("edge-0", "api-2"): 0.4,
        ("edge-1", "api-1"): 0.4,
        ("edge-1", "api-2"): 0.1,
    }
    stack = FakeLBs(time.monotonic(), flips)
    checks, _wall_s = run_check(stack, LBExpectation(within_s=2.0), ["api-1", "api-2"])

    got = [(c.message.split(" marked")[0], c.observed) for c in checks]
    assert [where for where, _ in got] == [
        "edge-0: be_api/api-1",
        "edge-0: be_api/api-2",
        "edge-1: be_api/api-1",
        "edge-1: be_api/api-2",
    ]
    expected = [0.1, 0.4, 0.4, 0.1]
    for (where, observed), at_s in zip(got, expected, strict=True):
        assert observed is not None and at_s <= observed <= at_s + SLACK_S, (where, observed)


def test_an_lb_that_no_longer_lists_the_server_has_marked_it_down() -> None:
    # edge-0 puts api-1 in maintenance; edge-1 does not list api-1 at all.
    stack = FakeLBs(time.monotonic(), {("edge-0", "api-1"): 0.0}, after="MAINT")
    checks, _wall_s = run_check(stack, LBExpectation(within_s=1.0), ["api-1"])

    assert [c.passed for c in checks] == [True, True]
    assert [c.observed is not None and c.observed < SLACK_S for c in checks] == [True, True]


def test_an_lb_whose_stats_never_answer_fails_with_the_reason() -> None:
    stack = FakeLBs(time.monotonic(), {("edge-0", "api-1"): 0.1}, unreadable=frozenset({"edge-1"}))
    checks, _wall_s = run_check(stack, LBExpectation(within_s=0.4), ["api-1"])

    assert [c.passed for c in checks] == [True, False]
    assert checks[1].message == (
        "edge-1: be_api/api-1 not marked down within 0.4 s "
        "(last seen: stats not read (ConnectionError: stats port refused))"
    )


def test_late_detection_is_a_failure_with_both_figures() -> None:
    # A stats read that answers only after the budget: seen, but too late.
    stack = FakeLBs(time.monotonic(), {("edge-0", "api-1"): 0.0, ("edge-1", "api-1"): 0.0})
    seen = lb_detection.watch(
        stack, ["edge-0"], "be_api", ["api-1"], up=False, origin_s=stack.origin_s - 1.0, budget_s=0.5
    )

    (tr,) = seen
    assert (tr.lb, tr.server, tr.up, tr.seen, tr.last_seen) == ("edge-0", "api-1", False, True, "DOWN")
    assert tr.after_s is not None and tr.after_s >= 1.0
    checks, _thread = _lb_check(stack, LBExpectation(within_s=0.5), ["api-1"], t0=stack.origin_s - 1.0)
    _thread.join(timeout=5.0)
    assert [c.passed for c in checks] == [False, False]
    assert all(c.observed is not None and c.observed > 0.5 for c in checks)
    assert checks[0].message == f"edge-0: be_api/api-1 marked down after {checks[0].observed:.2f} s > 0.50 s"


def test_rejoin_is_watched_in_parallel_from_the_revert() -> None:
    stack = FakeLBs(
        time.monotonic(),
        {("edge-0", "api-1"): 0.5, ("edge-1", "api-1"): 0.5},
        before="DOWN",
        after="UP",
    )
    checks = _lb_rejoin(stack, LBExpectation(rejoin_within_s=2.0), ["api-1"], t0=stack.origin_s)
    wall_s = time.monotonic() - stack.origin_s

    assert [(c.name, c.window, c.passed) for c in checks] == [("lb_rejoin", "after", True)] * 2
    for lb, check in zip(LBS, checks, strict=True):
        assert check.observed is not None and 0.5 <= check.observed <= 0.5 + SLACK_S
        assert check.message == f"{lb}: be_api/api-1 back up {check.observed:.1f} s after revert"
    assert wall_s < 0.5 + SLACK_S + 0.1, wall_s


def test_rejoin_budget_applies_per_lb() -> None:
    stack = FakeLBs(
        time.monotonic(),
        {("edge-0", "api-1"): 0.1, ("edge-1", "api-1"): 5.0},
        before="DOWN",
        after="UP 1/2",
    )
    checks = _lb_rejoin(stack, LBExpectation(rejoin_within_s=0.5), ["api-1"], t0=stack.origin_s)

    assert [c.passed for c in checks] == [True, False]
    assert checks[1].message == "edge-1: be_api/api-1 not back up within 0.5 s of revert (last seen: DOWN)"


@pytest.mark.parametrize("up", [True, False])
def test_watch_with_no_budget_reads_once(up: bool) -> None:
    stack = FakeLBs(time.monotonic(), {("edge-0", "api-1"): 0.0, ("edge-1", "api-1"): 0.0})
    seen = lb_detection.watch(stack, LBS, "be_api", ["api-1"], up=up, origin_s=stack.origin_s, budget_s=0.0)

    assert [t.seen for t in seen] == [not up, not up]
    assert len(stack.reads) == 2
