"""The drift gate: each figure of a run against its history's median and noise band."""

from __future__ import annotations

import copy
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from failover_tests.baseline.history import (
    CHECK_NAME,
    DEFAULT_TOLERANCE,
    FAILURE_RUN,
    FALLBACK_SHARE,
    JUDGED_STATUSES,
    P99,
    SCENARIO_STATUSES,
    Figure,
    History,
    ScenarioDoc,
    scenario_figures,
)
from failover_tests.outcomes import FAILED, INTERRUPTED, PASSED, Outcome, RunVerdict, run_verdict
from failover_tests.traffic import JSONValue
from failover_tests.verdict import Check


def noise_band(values: Sequence[float]) -> float:
    """The relative spread of baseline values: (max - min) / median.

    0 with fewer than 2 values or a median of 0. The drift gate allows a figure
    `max(tolerance, noise_band)` above its median, so a figure that is noisy in green runs
    does not flap; `stackdrill compare --repeat` is to use this same band to say whether two
    sets of runs differ by more than their own noise.
    """
    if len(values) < 2:
        return 0.0
    median = statistics.median(values)
    if median == 0:
        return 0.0
    return (max(values) - min(values)) / median


@dataclass(frozen=True)
class Judgement:
    """One figure of the run against the same figure of the green runs."""

    figure: Figure
    values: tuple[float, ...]  # the green runs', newest first
    median: float
    band: float
    tolerance: float
    limit: float
    passed: bool
    message: str

    def to_check(self) -> dict[str, JSONValue]:
        """The judgement as a check of the scenario's verdict (the keys of every check)."""
        f = self.figure
        return Check(
            name=CHECK_NAME,
            path=f.path,
            window=CHECK_NAME,
            window_start_s=f.start_s,
            window_end_s=f.end_s,
            observed=f.value,
            limit=self.limit,
            passed=self.passed,
            message=self.message,
        ).to_dict()

    def to_dict(self) -> dict[str, JSONValue]:
        """The judgement for report.json's `baseline.figures`."""
        f = self.figure
        return {
            "scenario": f.scenario,
            "path": f.path,
            "figure": f.kind.name,
            "window": f.window,
            "current": f.value,
            "values": list(self.values),
            "median": self.median,
            "band": self.band,
            "tolerance": self.tolerance,
            "floor": f.kind.floor,
            "limit": self.limit,
            "passed": self.passed,
            "message": self.message,
        }


_WHERE = {"during": " during the fault", "all": " over the run"}


def judge_figure(figure: Figure, values: Sequence[float], tolerance: float) -> Judgement:
    """Judge one figure: it regresses above median * (1 + max(tolerance, band)) + floor."""
    kind = figure.kind
    median = float(statistics.median(values))
    band = noise_band(values)
    allowance = max(tolerance, band)
    limit = round(median * (1.0 + allowance) + kind.floor, 9)  # 100 ms * (1 + 1.3) + 5 ms is 235 ms, not 234.99...
    passed = figure.value <= limit
    obs, lim = kind.pair(figure.value, limit)
    runs = f"{len(values)} green run" + ("" if len(values) == 1 else "s")
    room = f"{allowance * 100:.0f}%" + (" noise band" if band > tolerance else "")
    where = _WHERE.get(figure.window, "") if kind in (P99, FAILURE_RUN, FALLBACK_SHARE) else ""
    message = (
        f"{figure.path}: {kind.label} {obs} {'<=' if passed else '>'} {lim}{where} "
        f"(median {kind.show(median)} of {runs} + {room} + {kind.floor_text()})"
    )
    return Judgement(figure, tuple(values), median, band, tolerance, limit, passed, message)


def _judge_scenario(
    scenario: Mapping[str, Any], base: Mapping[tuple[str, str, str, str], Sequence[float]], tolerance: float
) -> list[Judgement]:
    doc = ScenarioDoc.model_validate(scenario)
    if doc.status not in JUDGED_STATUSES:
        return []
    return [judge_figure(f, base[f.key], tolerance) for f in scenario_figures(doc) if base.get(f.key)]


def judge(report: Mapping[str, Any], history: History, tolerance: float = DEFAULT_TOLERANCE) -> list[Judgement]:
    """Every figure of a report.json document that some green run of `history` also has, judged."""
    base = history.values()
    return [j for s in report.get("scenarios") or [] for j in _judge_scenario(s, base, tolerance)]


# -- applying the judgement to the report -------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """A run judged against its history: the new report.json document and what it rests on."""

    report: dict[str, Any]
    judgements: tuple[Judgement, ...]
    history: History
    tolerance: float
    verdict: RunVerdict

    @property
    def regressions(self) -> tuple[Judgement, ...]:
        """The figures that regressed, in report order."""
        return tuple(j for j in self.judgements if not j.passed)

    def describe(self) -> str:
        """`drift gate: 14 figures judged against 3 green runs in ci/history (tolerance 10%): 1 regression`."""
        if not self.history.runs:
            return f"drift gate skipped: no green run in {self.history.dir} to judge against"
        runs = len(self.history.runs)
        regressed = len(self.regressions)
        return (
            f"drift gate: {len(self.judgements)} figures judged against {runs} green run{'' if runs == 1 else 's'} "
            f"in {self.history.dir} (tolerance {self.tolerance * 100:.0f}%): "
            f"{regressed} regression{'' if regressed == 1 else 's'}"
        )

    def outcomes(self) -> list[Outcome]:
        """Every test of the run, with the outcomes the gate gave them."""
        return [Outcome.from_dict(t) for t in self.report.get("tests") or []]


def _add_checks(scenario: dict[str, Any], judged: Sequence[Judgement]) -> list[str]:
    """Add the scenario's baseline checks; return the failed ones' messages if the gate turned it red."""
    verdict = scenario.get("verdict")
    if not judged or not isinstance(verdict, dict):
        return []
    verdict["checks"] = [*(verdict.get("checks") or []), *(j.to_check() for j in judged)]
    failed = [j.message for j in judged if not j.passed]
    if not failed:
        return []
    verdict["failures"] = [*(verdict.get("failures") or []), *failed]
    verdict["passed"] = False
    was = scenario.get("status")
    scenario["status"] = "fail"
    return failed if was == "pass" else []


def _fail_tests(report: dict[str, Any], turned_red: Mapping[str, Sequence[str]]) -> None:
    """A passed test that ran a scenario the gate turned red fails, with the regressions as its message.

    A scenario no test of the report ran (a helper's own label) gets a failed test of its own,
    named by it, as `write_report` makes for scenarios without tests: the verdict is the tests'.
    """
    tests: list[dict[str, Any]] = report.setdefault("tests", [])
    owned = {name for test in tests for name in test.get("scenarios") or []}
    for test in tests:
        messages = [m for name in test.get("scenarios") or [] for m in turned_red.get(name, ())]
        if messages and test.get("outcome") == PASSED:
            test["outcome"] = FAILED
            test["message"] = "\n".join(messages)
    durations = {s["name"]: float(s.get("duration_s") or 0.0) for s in report.get("scenarios") or []}
    for name, regressions in turned_red.items():
        if name not in owned:
            stand_in = Outcome(name, FAILED, durations.get(name, 0.0), "\n".join(regressions), (name,))
            tests.append(stand_in.to_dict())


def _rejudge(report: dict[str, Any]) -> RunVerdict:
    """The run's verdict, exit code and summary, from its tests and scenarios as they now stand."""
    outcomes = [Outcome.from_dict(t) for t in report.get("tests") or []]
    run = run_verdict(outcomes, interrupted=report.get("verdict") == INTERRUPTED)
    report["verdict"], report["exit_code"] = run.verdict, run.exit_code
    summary = report.setdefault("summary", {})
    summary.update({k: v for k, v in run.to_dict().items() if k not in ("verdict", "exit_code")})
    counts = Counter(s.get("status") for s in report.get("scenarios") or [])
    summary["scenario_status"] = {status: counts[status] for status in SCENARIO_STATUSES}
    return run


def _unmatched(report: Mapping[str, Any], judged: Iterable[Judgement]) -> list[str]:
    """A note per scenario that could be judged but that no green run has."""
    seen = {j.figure.scenario for j in judged}
    return [
        f"{s['name']}: in no green run, not judged"
        for s in report.get("scenarios") or []
        if s.get("status") in JUDGED_STATUSES and s["name"] not in seen
    ]


def _section(history: History, tolerance: float, judged: Sequence[Judgement], notes: Sequence[str]) -> dict[str, Any]:
    return {
        "dir": str(history.dir),
        "runs": [{"file": history.name_of(r), "generated_at": r.generated_at.isoformat()} for r in history.runs],
        "tolerance": tolerance,
        "judged": len(judged),
        "regressions": sum(not j.passed for j in judged),
        "figures": [j.to_dict() for j in judged],
        "notes": list(notes),
    }


def apply(report: Mapping[str, Any], history: History, tolerance: float = DEFAULT_TOLERANCE) -> Gate:
    """Judge a report.json document against `history`; the new document is `Gate.report`.

    Each judged figure becomes a `baseline` check of its scenario. A passed scenario with a
    failed one becomes `fail`, and so does every passed test that ran it (or a test of its own
    when none did); the run's verdict,
    exit code and summary are judged again by the usual rules (`failover_tests.outcomes`: a
    regression makes a passed run `failed`, exit 1; an interrupted run stays interrupted). The
    document gains a `baseline` section; the input is left untouched.
    """
    doc: dict[str, Any] = copy.deepcopy(dict(report))
    base = history.values()
    judged: list[Judgement] = []
    turned_red: dict[str, list[str]] = {}
    for scenario in doc.get("scenarios") or []:
        mine = _judge_scenario(scenario, base, tolerance)
        judged += mine
        failed = _add_checks(scenario, mine)
        if failed:
            turned_red.setdefault(scenario["name"], []).extend(failed)
    _fail_tests(doc, turned_red)
    verdict = _rejudge(doc)
    notes = [*history.notes, *(_unmatched(doc, judged) if history.runs else [])]
    doc["baseline"] = _section(history, tolerance, judged, notes)
    return Gate(doc, tuple(judged), history, tolerance, verdict)
