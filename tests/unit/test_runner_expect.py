"""`expect: fail` is caught only by a client SLO failing in the fault window, after a clean `before`.

The verdicts here are built by hand (no stack, no probe): each test names which checks
failed and where, and the runner's judgement of the expected failure is checked word for word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from failover_tests import drill_docker as runner_dk
from failover_tests import runner
from failover_tests.results import ScenarioResult
from failover_tests.runner import ReportCollector, ScenarioRunner, expected_failure_not_caught
from failover_tests.scenario import Scenario
from failover_tests.slo import windows_around
from failover_tests.verdict import Check, Verdict
from infra.errors import SLOViolation
from infra.outputs import Container
from tests import fakes

LABEL = "kill(api-0)"
NAME = "lose-api-on-single-api"
WINDOWS = windows_around(3.0, 13.0, 20.0)
PATHS = ("api.complete", "api.sessions", "web.home")
DURING = "during kill(api-0) [3.0 s..13.0 s]"
BEFORE = "before kill(api-0) [0.0 s..3.0 s]"
AFTER = "after kill(api-0) [13.0 s..20.0 s]"


def check(name: str, path: str, window: str, passed: bool, message: str) -> Check:
    """A check as the scenario engine makes it, in one of WINDOWS (figures do not matter here)."""
    bounds = next(((w.start_s, w.end_s) for w in WINDOWS if w.name == window), (0.0, 0.0))
    return Check(
        name=name,
        path=path,
        window=window,
        window_start_s=bounds[0],
        window_end_s=bounds[1],
        observed=None,
        limit=None,
        passed=passed,
        message=message,
    )


HELD = (
    check("success", "api.complete", "before", True, f"api.complete: success 100.0% >= 99.0% {BEFORE}"),
    check("success", "api.complete", "during", True, f"api.complete: success 100.0% >= 98.0% {DURING}"),
)
CLIENT_DURING = check("success", "api.complete", "during", False, f"api.complete: success 0.0% < 98.0% {DURING}")
CLIENT_BEFORE = check("success", "api.complete", "before", False, f"api.complete: success 90.0% < 99.0% {BEFORE}")
LB_DOWN = check("lb_down", "edge", "during", False, "edge-0: be_api/api-0 not marked down within 3.0 s")
STATUS = check(
    "status_during",
    "status.api",
    "during",
    False,
    "status.api: never degraded within 10 s of the fault (saw operational)",
)
RECOVERY = check("recovery", "api.complete", "after", False, f"api.complete: recovery 6.0 s > 5.0 s {AFTER}")
LOST = check(
    "lost_writes",
    "api.sessions",
    "after",
    False,
    "api.sessions: 4 acknowledged writes lost > 0 after recovery [13.0 s..20.0 s]",
)
WRITE_GAP = check(
    "write_gap", "api.sessions", "during", False,
    "api.sessions: writes failed for 6.0 s > 3.0 s from 3.1 s (first write 6.1 s after the fault)",
)  # fmt: skip


def result_with(*failed: Check, expect_failure: bool = True) -> ScenarioResult:
    """A scenario result whose verdict holds HELD plus the given (failed) checks."""
    return ScenarioResult(
        name=NAME,
        fault_label=LABEL,
        windows=WINDOWS,
        verdict=Verdict(LABEL, HELD + failed),
        paths=PATHS,
        expect_failure=expect_failure,
    )


# -- the judgement -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failed",
    [(CLIENT_DURING,), (CLIENT_DURING, LB_DOWN, RECOVERY), (WRITE_GAP,), (LOST,)],
    ids=["client-slo-during", "with-other-failures", "write-gap-during", "lost-writes"],
)
def test_a_client_slo_failing_in_the_fault_window_is_caught(failed: tuple[Check, ...]) -> None:
    assert expected_failure_not_caught(result_with(*failed)) is None


def test_every_check_holding_is_not_caught() -> None:
    assert expected_failure_not_caught(result_with()) == (
        f"expected failure not caught: every check held, no client SLO failed {DURING}"
    )


def test_a_failed_before_window_is_not_caught_even_with_a_failure_during() -> None:
    assert expected_failure_not_caught(result_with(CLIENT_BEFORE, CLIENT_DURING)) == (
        "expected failure not caught: the before window already failed, so kill(api-0) cannot be blamed: "
        f"api.complete: success 90.0% < 99.0% {BEFORE}"
    )


def test_an_lb_check_alone_is_not_caught() -> None:
    assert expected_failure_not_caught(result_with(LB_DOWN)) == (
        f"expected failure not caught: no client SLO failed {DURING}; "
        "failed instead: edge-0: be_api/api-0 not marked down within 3.0 s"
    )


def test_a_status_page_check_alone_is_not_caught() -> None:
    assert expected_failure_not_caught(result_with(STATUS)) == (
        f"expected failure not caught: no client SLO failed {DURING}; "
        "failed instead: status.api: never degraded within 10 s of the fault (saw operational)"
    )


def test_a_client_slo_failing_only_after_the_fault_is_not_caught() -> None:
    assert expected_failure_not_caught(result_with(RECOVERY, LB_DOWN)) == (
        f"expected failure not caught: no client SLO failed {DURING}; failed instead: "
        f"api.complete: recovery 6.0 s > 5.0 s {AFTER}; edge-0: be_api/api-0 not marked down within 3.0 s"
    )


def test_a_path_the_probe_did_not_send_is_not_a_client_slo() -> None:
    other = check("success", "web.admin", "during", False, "web.admin: success 0.0% < 98.0%")
    result = ScenarioResult(
        name=NAME, fault_label=LABEL, windows=WINDOWS, verdict=Verdict(LABEL, (other,)), paths=("api.complete",)
    )
    message = expected_failure_not_caught(result)
    assert message is not None and message.startswith("expected failure not caught: no client SLO failed")


# -- the runner ----------------------------------------------------------------------------------


class FakeStack:
    """Just enough of a stack for ScenarioRunner: scenario.run is replaced in these tests."""

    name = "sd-unit"
    seed = 7
    outputs = fakes.outputs(fakes.containers([("redis", 1), ("sentinel", 1)], stack="unit"), stack="unit")

    def containers(self, tier: str | None = None) -> list[Container]:
        """Two containers, for the logs a red scenario keeps."""
        return self.outputs.of_tier(tier)


def runner_returning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, result: ScenarioResult
) -> tuple[ScenarioRunner, ReportCollector]:
    """A runner whose scenarios all produce `result`."""

    def fake_run(stack: Any, scenario: Scenario, *, action: Any = None) -> ScenarioResult:
        return result

    monkeypatch.setattr(runner.scenario_mod, "run", fake_run)
    collector = ReportCollector(tmp_path)
    return ScenarioRunner(FakeStack(), collector, "tests/unit::expect"), collector


def test_runner_accepts_a_caught_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runner, collector = runner_returning(monkeypatch, tmp_path, result_with(CLIENT_DURING))

    result = runner.run({"name": NAME, "expect": "fail"})

    assert result.status == "caught"
    assert [r.status for r in collector.results] == ["caught"]


def test_runner_fails_the_test_when_the_failure_was_not_caught(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runner, collector = runner_returning(monkeypatch, tmp_path, result_with(LB_DOWN))

    with pytest.raises(SLOViolation) as info:
        runner.run({"name": NAME, "expect": "fail"})

    message = (
        f"expected failure not caught: no client SLO failed {DURING}; "
        "failed instead: edge-0: be_api/api-0 not marked down within 3.0 s"
    )
    assert str(info.value) == f"{NAME}: {message}"
    assert isinstance(info.value, AssertionError)  # pytest reports FAILED, not a kit error
    # The report does not call it caught: it failed, and says why.
    (recorded,) = collector.results
    assert recorded.status == "fail"
    assert recorded.verdict is not None
    assert recorded.verdict.failures[-1].name == "expected_failure"
    assert recorded.verdict.failures[-1].message == message
    assert (recorded.verdict.failures[-1].window_start_s, recorded.verdict.failures[-1].window_end_s) == (3.0, 13.0)


def test_runner_fails_the_test_when_every_check_held(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runner, _collector = runner_returning(monkeypatch, tmp_path, result_with())

    with pytest.raises(SLOViolation, match="^lose-api-on-single-api: expected failure not caught: every check held"):
        runner.run({"name": NAME, "expect": "fail"})


def test_runner_without_check_only_records(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runner, collector = runner_returning(monkeypatch, tmp_path, result_with(LB_DOWN))

    result = runner.run({"name": NAME, "expect": "fail"}, check=False)

    assert result.status == "caught"  # unjudged by the runner: the caller asserts what it needs
    assert len(collector.results) == 1


def test_runner_expecting_a_pass_raises_every_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runner, _collector = runner_returning(monkeypatch, tmp_path, result_with(LB_DOWN, expect_failure=False))

    with pytest.raises(SLOViolation) as info:
        runner.run({"name": NAME})

    assert str(info.value) == "edge-0: be_api/api-0 not marked down within 3.0 s"


def test_a_red_scenario_keeps_every_containers_log_and_a_green_one_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: list[tuple[str, float]] = []

    def fake_logs(name: str, since_epoch_s: float) -> str:
        asked.append((name, since_epoch_s))
        return f"log of {name}\n"

    monkeypatch.setattr(runner_dk, "logs_since", fake_logs)
    stale = tmp_path / "logs" / "from-an-earlier-run"
    stale.mkdir(parents=True)
    runner, _collector = runner_returning(monkeypatch, tmp_path, result_with(LB_DOWN, expect_failure=False))

    with pytest.raises(SLOViolation):
        runner.run({"name": NAME})

    kept = tmp_path / "logs" / NAME
    assert sorted(p.name for p in kept.iterdir()) == ["sd-unit-redis-0.log", "sd-unit-sentinel-0.log"]
    assert (kept / "sd-unit-redis-0.log").read_text() == "log of sd-unit-redis-0\n"
    assert not stale.exists()  # a new run's logs replace the old run's
    assert {name for name, _ in asked} == {"sd-unit-redis-0", "sd-unit-sentinel-0"}

    asked.clear()
    green, _ = runner_returning(monkeypatch, tmp_path / "green", result_with(expect_failure=False))
    green.run({"name": NAME})
    assert asked == [] and not (tmp_path / "green" / "logs").exists()
