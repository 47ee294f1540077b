"""Per-session helpers behind the pytest fixtures (usable without pytest): fault and probe sets,
the scenario runner, and the report collector."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from failover_tests import scenario as scenario_mod
from failover_tests.faults import Fault
from failover_tests.live import LiveStack
from failover_tests.outcomes import OutcomeLog
from failover_tests.report import ScenarioResult, write_report
from failover_tests.traffic import Probe
from failover_tests.verdict import Check, Verdict
from infra.errors import ScenarioError, SLOViolation, StackdrillError

log = logging.getLogger(__name__)


class FaultSet:
    """Faults made during one test; `revert_all` undoes every one still active."""

    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        self.made: list[Fault] = []

    def make(self, name: str, target: str, params: dict[str, Any] | None = None) -> Fault:
        """A fault (not yet applied): `with faults.make("kill", "api-1"): ...`."""
        fault = self.stack.fault(name, target, params)
        self.made.append(fault)
        return fault

    def apply(self, name: str, target: str, params: dict[str, Any] | None = None) -> Fault:
        """Make and apply a fault; it is reverted when the test ends (or earlier by `.revert()`)."""
        fault = self.make(name, target, params)
        fault.apply()
        return fault

    def revert_all(self) -> None:
        """Revert every fault still active, last first."""
        errors = []
        for fault in reversed(self.made):
            try:
                fault.revert()
            except Exception as exc:  # noqa: BLE001 - each fault gets its turn
                errors.append(str(exc))
        if errors:
            raise AssertionError("faults not reverted: " + "; ".join(errors))


class TrafficSet:
    """Probes made during one test; `stop_all` stops every one still running."""

    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        self.made: list[Probe] = []

    def probe(self, *, rate_per_s: float = 20, duration_s: float = 20, paths: list[Any] | None = None) -> Probe:
        """An open-loop probe against both edges (not started)."""
        probe = self.stack.probe(rate_per_s=rate_per_s, duration_s=duration_s, paths=paths)
        self.made.append(probe)
        return probe

    def stop_all(self) -> None:
        """Stop every probe and wait for in-flight requests."""
        for probe in self.made:
            if probe.running:
                probe.stop()
                probe.join(timeout_s=10)


class ReportCollector:
    """Everything a session ran: every test's outcome and every scenario's result.

    Writes report.json and report.html once, at the end of the session.
    """

    def __init__(self, out_dir: Path, spof: list[str] | None = None) -> None:
        self.out_dir = out_dir
        self.results: list[ScenarioResult] = []
        self.tests = OutcomeLog()
        self.meta: dict[str, Any] = {}
        self.spof = spof or []
        self._logs_fresh = False

    def logs_dir(self, scenario_name: str) -> Path:
        """Where a red scenario's container logs go; the first call drops an earlier run's logs."""
        root = self.out_dir / "logs"
        if not self._logs_fresh:
            shutil.rmtree(root, ignore_errors=True)
            self._logs_fresh = True
        return root / scenario_name

    def add(self, result: ScenarioResult) -> None:
        """Keep one scenario's result."""
        self.results.append(result)

    def write(self) -> tuple[Path, Path] | None:
        """Write the report if anything ran (a test or a scenario); return the paths."""
        if not self.results and not len(self.tests):
            return None
        paths = write_report(
            self.results,
            self.out_dir,
            self.meta,
            tests=self.tests.outcomes(),
            interrupted=self.tests.interrupted,
            spof=self.spof,
        )
        log.warning("drill report (%s): %s", self.tests.verdict().verdict, paths[1])
        return paths


class ScenarioRunner:
    """Runs scenarios against the session's stack, records them, and asserts the verdict."""

    def __init__(
        self, stack: LiveStack, collector: ReportCollector, test_id: str, declared: tuple[str, ...] = ()
    ) -> None:
        self.stack = stack
        self.collector = collector
        self.test_id = test_id
        self.declared = declared  # scenario names the test declared at collection (failover marker)
        collector.meta.setdefault("stack", stack.name)
        collector.meta.setdefault("topology", dict(stack.outputs.topology))
        collector.meta.setdefault("seed", stack.seed)

    def run(
        self,
        scenario: scenario_mod.Scenario | dict[str, Any],
        *,
        check: bool = True,
        action: Callable[[Any], None] | None = None,
    ) -> ScenarioResult:
        """Run a scenario (model or mapping); with check, raise SLOViolation on a failed verdict.

        A scenario the kit could not run (a fault not applied, the stack not steady) raises a
        StackdrillError, not an assertion: the test is an error of the run, not a verdict.
        """
        sc = scenario if isinstance(scenario, scenario_mod.Scenario) else scenario_mod.parse(scenario, self.test_id)
        if self.declared and sc.name not in self.declared:
            raise ScenarioError(
                f"{self.test_id} runs scenario {sc.name!r} but declares {list(self.declared)} in its "
                f"failover marker: make them agree, or `stackdrill drill {sc.name}` will not select it"
            )
        self.collector.tests.ran_scenario(self.test_id, sc.name)
        t0 = time.monotonic()
        wall0 = time.time()
        try:
            result = scenario_mod.run(self.stack, sc, action=action)
        except StackdrillError:  # not steady before it: what the stack was doing is the clue
            self._keep_logs(sc.name, since_epoch_s=wall0 - 60.0)
            raise
        log.info("scenario %s: %s in %.1f s", sc.name, result.status, time.monotonic() - t0)
        not_caught: str | None = None
        if check and sc.expect == "fail" and result.error is None and result.verdict is not None:
            not_caught = expected_failure_not_caught(result)
            if not_caught is not None:
                # The report must not call it "caught" because some check failed.
                result = _with_failed_expectation(result, not_caught)
        self.collector.add(result)
        if result.status in ("fail", "error"):
            self._keep_logs(sc.name, since_epoch_s=wall0 - 5.0)
        if result.error:
            raise StackdrillError(f"{sc.name}: {result.error}")
        if check and result.verdict is not None:
            if not_caught is not None:
                raise SLOViolation(f"{sc.name}: {not_caught}")
            if sc.expect != "fail":
                result.verdict.raise_if_failed()
        return result

    def _keep_logs(self, scenario_name: str, *, since_epoch_s: float) -> None:
        """Keep every container's log of a red scenario (report dir, `logs/<scenario>/`): the
        Sentinel timeline of a failed failover is gone once the stack is torn down."""
        from failover_tests import drill_docker as dk

        folder = self.collector.logs_dir(scenario_name)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for entry in self.stack.containers():
                name = entry.name
                (folder / f"{name}.log").write_text(dk.logs_since(name, since_epoch_s))
        except (OSError, StackdrillError) as exc:
            log.warning("could not keep the logs of %s: %s", scenario_name, exc)
            return
        log.warning("scenario %s is red: container logs kept in %s", scenario_name, folder)


# Checks whose damage the fault did although they are measured after it: an acknowledged
# write that the store lost is a failure the clients saw (their data is gone).
FAULT_DAMAGE_CHECKS = frozenset({"lost_writes"})


def expected_failure_not_caught(result: ScenarioResult) -> str | None:
    """Why an `expect: fail` scenario did not catch its failure; None when it did.

    Caught means: every client check of the `before` window passed (the stack was fine until the
    fault), and a client SLO, a check on one of the probe's traffic paths (not an LB or
    status-page check), failed in the fault window (`during`), or the fault lost
    acknowledged writes. Anything else would blame the topology for a cold start, or for
    what no client saw.
    """
    verdict = result.verdict
    assert verdict is not None
    label = result.fault_label or result.name
    during = next((w for w in result.windows if w.name == "during"), None)
    where = during.describe(label) if during is not None else f"during {label}"
    paths = set(result.path_names)
    # Client checks only: a status-page check's stretch can start on the slice the fault lands in.
    before = [c for c in verdict.failures if c.window == "before" and c.path in paths]
    if before:
        return (
            f"expected failure not caught: the before window already failed, so {label} cannot be blamed: "
            + "; ".join(c.message for c in before)
        )
    caught = [
        c for c in verdict.failures if c.path in paths and (c.window == "during" or c.name in FAULT_DAMAGE_CHECKS)
    ]
    if caught:
        return None
    if verdict.passed:
        return f"expected failure not caught: every check held, no client SLO failed {where}"
    return f"expected failure not caught: no client SLO failed {where}; failed instead: " + "; ".join(
        c.message for c in verdict.failures
    )


def _with_failed_expectation(result: ScenarioResult, message: str) -> ScenarioResult:
    """The result judged as a plain failure, with the missed expectation as one more failed check."""
    verdict = result.verdict
    assert verdict is not None
    during = next((w for w in result.windows if w.name == "during"), None)
    missed = Check(
        name="expected_failure",
        path=result.name,
        window="during",
        window_start_s=during.start_s if during is not None else 0.0,
        window_end_s=during.end_s if during is not None else 0.0,
        observed=None,
        limit=None,
        passed=False,
        message=message,
    )
    judged = Verdict(verdict.fault_label, verdict.checks + (missed,), verdict.stats)
    return dataclasses.replace(result, verdict=judged, expect_failure=False)
