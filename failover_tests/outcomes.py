"""What each test of a drill came to, and the run's overall verdict and exit code (no pytest needed).

Every test the drill *started* gets exactly one outcome:

- ``passed``: its body ran and every phase passed.
- ``failed``: a verdict on the topology: its body raised an ``AssertionError`` (``SLOViolation``
  included) or called ``pytest.fail``.
- ``error``: the kit could not run it: setup or teardown failed (the stack could not be brought
  up, a fault could not be reverted), or the body raised anything but an assertion
  (``ScenarioError: ... not steady``, ``FaultError``, a bug).
- ``skipped``: skipped on purpose.
- ``interrupted``: it started and did not finish (Ctrl-C or SIGTERM). Never ``passed``.

The run's verdict, and the exit code of ``stackdrill drill`` that goes with it, in precedence order:

=============== ==== ======================================================================
verdict         exit when
=============== ==== ======================================================================
``interrupted`` 130  the run was interrupted, whatever had finished before
``failed``      1    any test failed (a known failure outranks an inconclusive error)
``error``       3    any test errored, or no test was judged at all (nothing ran, all skipped)
``passed``      0    every test that ran passed (skips allowed)
=============== ==== ======================================================================

Bad input (no test matches the names given, a scenario file that does not validate) exits 2
before any test runs, so it never has a verdict.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from failover_tests.traffic import JSONValue
from infra.errors import EXIT_BAD_INPUT, EXIT_KIT_ERROR

__all__ = [
    "ERROR",
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_KIT_ERROR",
    "EXIT_PASSED",
    "FAILED",
    "INTERRUPTED",
    "PASSED",
    "REPORT_SCHEMA",
    "SKIPPED",
    "Outcome",
    "OutcomeLog",
    "RunVerdict",
    "run_verdict",
]

# The version of report.json, whose top level is the run's verdict and exit code (`write_report`).
REPORT_SCHEMA = "stackdrill.report/1"

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
INTERRUPTED = "interrupted"

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[str, int] = {
    PASSED: EXIT_PASSED,
    FAILED: EXIT_FAILED,
    ERROR: EXIT_KIT_ERROR,
    INTERRUPTED: EXIT_INTERRUPTED,
}


@dataclass(frozen=True)
class Outcome:
    """One test of the run: its outcome, time, failure message and the scenarios it stands for."""

    nodeid: str
    outcome: str
    duration_s: float = 0.0
    message: str = ""
    scenarios: tuple[str, ...] = ()  # the scenarios it ran, else the ones it declared

    @property
    def test(self) -> str:
        """The test's name without its file: `test_ports_listen`, `test_lose_one[lose-one-api]`."""
        return self.nodeid.split("::")[-1]

    @property
    def name(self) -> str:
        """What the report and the summary table call it: its scenario names, else the test's name."""
        return ", ".join(self.scenarios) if self.scenarios else self.test

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Outcome:
        """An outcome read back from report.json's `tests` (the inverse of `to_dict`)."""
        return cls(
            nodeid=str(doc["nodeid"]),
            outcome=str(doc["outcome"]),
            duration_s=float(doc.get("duration_s") or 0.0),
            message=str(doc.get("message") or ""),
            scenarios=tuple(str(n) for n in doc.get("scenarios") or ()),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The outcome as a JSON-ready dict."""
        return {
            "name": self.name,
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
            "scenarios": list(self.scenarios),
        }


@dataclass
class _Entry:
    """A test while it runs (mutable; becomes an `Outcome`)."""

    nodeid: str
    declared: tuple[str, ...] = ()
    ran: list[str] = field(default_factory=list)
    outcome: str | None = None
    duration_s: float = 0.0
    message: str = ""
    finished: bool = False
    started_s: float | None = None  # time.monotonic() when it started

    def freeze(self) -> Outcome:
        outcome = self.outcome
        duration_s = self.duration_s
        if not self.finished and self.started_s is not None:
            duration_s = max(duration_s, time.monotonic() - self.started_s)  # its unfinished phase too
        if not self.finished and outcome in (None, PASSED):
            outcome = INTERRUPTED  # started, never reached its teardown's end
        elif outcome is None:
            outcome = ERROR
        message = self.message
        if outcome == INTERRUPTED and not message:
            message = "interrupted before the test finished"
        return Outcome(
            nodeid=self.nodeid,
            outcome=outcome,
            duration_s=duration_s,
            message=message,
            scenarios=tuple(self.ran) or self.declared,
        )


class OutcomeLog:
    """Outcomes of the tests of one run, fed phase by phase (setup, call, teardown)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self.interrupted = False

    def __contains__(self, nodeid: object) -> bool:
        return nodeid in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def start(self, nodeid: str, declared: Sequence[str] = ()) -> None:
        """A test starts; `declared` are the scenario names it declared at collection."""
        entry = self._entries.setdefault(nodeid, _Entry(nodeid))
        entry.declared = tuple(declared)
        entry.started_s = time.monotonic()

    def ran_scenario(self, nodeid: str, name: str) -> None:
        """The test ran the scenario `name` (what the report calls it from then on).

        An id that is not a started test (a helper's own label) is ignored: a test is only
        ever reported under the nodeid pytest gave it.
        """
        entry = self._entries.get(nodeid)
        if entry is not None and name not in entry.ran:
            entry.ran.append(name)

    def phase(
        self,
        nodeid: str,
        *,
        when: str,
        outcome: str,
        duration_s: float,
        message: str = "",
        kit_error: bool = False,
    ) -> None:
        """Record one phase's report (`when` in setup/call/teardown, pytest's `outcome`).

        The first failure decides: in the call phase it is `failed` unless `kit_error`
        (the body raised something other than an assertion); in setup or teardown it is `error`.
        """
        entry = self._entries.setdefault(nodeid, _Entry(nodeid))
        entry.duration_s += duration_s
        if outcome == "failed":
            if entry.outcome in (None, PASSED, SKIPPED):
                entry.outcome = FAILED if when == "call" and not kit_error else ERROR
                entry.message = message
        elif outcome == "skipped":
            if entry.outcome is None:
                entry.outcome = SKIPPED
                entry.message = message
        elif when == "call" and entry.outcome is None:
            entry.outcome = PASSED
        if when == "teardown":
            entry.finished = True

    def outcome_of(self, nodeid: str) -> Outcome | None:
        """The outcome of one test so far (`interrupted` while it has not finished)."""
        entry = self._entries.get(nodeid)
        return entry.freeze() if entry is not None else None

    def outcomes(self) -> list[Outcome]:
        """Every test started, in the order they started."""
        return [entry.freeze() for entry in self._entries.values()]

    def verdict(self) -> RunVerdict:
        """The run's verdict over every test started."""
        return run_verdict(self.outcomes(), interrupted=self.interrupted)


@dataclass(frozen=True)
class RunVerdict:
    """The run's overall verdict, its exit code and the counts it rests on."""

    verdict: str
    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    interrupted: int

    @property
    def exit_code(self) -> int:
        """The exit code of `stackdrill drill` for this verdict."""
        return EXIT_CODES[self.verdict]

    def describe(self) -> str:
        """`3 passed, 1 failed, 0 errors, 0 skipped, 0 interrupted`."""
        return (
            f"{self.passed} passed, {self.failed} failed, {self.errors} errors, "
            f"{self.skipped} skipped, {self.interrupted} interrupted"
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The verdict and its counts as a JSON-ready dict."""
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "tests": self.tests,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "interrupted": self.interrupted,
        }


def run_verdict(outcomes: Iterable[Outcome], *, interrupted: bool = False) -> RunVerdict:
    """The overall verdict of a run (see the module docstring for the rules)."""
    counts = {PASSED: 0, FAILED: 0, ERROR: 0, SKIPPED: 0, INTERRUPTED: 0}
    for item in outcomes:
        counts[item.outcome] += 1
    if interrupted or counts[INTERRUPTED]:
        verdict = INTERRUPTED
    elif counts[FAILED]:
        verdict = FAILED
    elif counts[ERROR] or not counts[PASSED]:
        verdict = ERROR
    else:
        verdict = PASSED
    return RunVerdict(
        verdict=verdict,
        tests=sum(counts.values()),
        passed=counts[PASSED],
        failed=counts[FAILED],
        errors=counts[ERROR],
        skipped=counts[SKIPPED],
        interrupted=counts[INTERRUPTED],
    )
