"""Two sets of drill runs, scenario by scenario: verdicts base -> candidate and the deltas of their figures.

A **regression** is either
- a verdict that got worse: a scenario that passed (or was `caught`) on every base run and failed
  on some candidate run; a scenario only the candidate has that fails counts too; or
- a figure worse by more than the noise: the candidate's median above
  `base median * (1 + max(tolerance, band)) + floor`, where `band` is the relative spread
  (`noise_band`: (max - min) / median) of the base runs or of the candidate runs, whichever is
  wider. A side with one run has no spread of its own: the band measured between identical runs
  here (`SINGLE_RUN_BAND`: 3.0 for a fault window's p99, 0.5 for failure runs, failed share and
  write gaps) stands in for it.

An **improvement** is the mirror image (a failed verdict that now passes, or a figure below
`base median / (1 + allowance) - floor`).

Figures, all lower-is-better, per scenario: the drift gate's (`failover_tests.baseline`: p99,
longest failure run, fallback share per path in the fault window; slowest detection and rejoin
per LB tier; write gaps; recovery per path) plus the failed share of requests per path and the
lost writes. A figure is compared only where both sides judged the scenario (pass, caught, fail).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from failover_tests.baseline import KINDS, Figure, Kind, noise_band, scenario_figures
from failover_tests.baseline.history import ScenarioDoc, stats_of

DEFAULT_TOLERANCE = 0.25
FAILED_SHARE = Kind("failed_share", "failed share", 0.01, "%", 1)
LOST_WRITES = Kind("lost_writes", "lost writes", 0.0, "", 0)
FIGURE_KINDS: Mapping[str, Kind] = {**KINDS, FAILED_SHARE.name: FAILED_SHARE, LOST_WRITES.name: LOST_WRITES}
# The noise band of a figure when a side has one run, so no spread of its own: the widest spread
# measured between identical runs (6 drills of `default`, 3 `compare default default` here, on
# lose-one-api, pause-one-api and datastore-failover). The p99 of a fault window holds ~150
# requests per path, so it is the one or two requests the fault caught: 103-366 ms for the same
# scenario (a 2.5 band). The rest: failure runs 0.39, failed share 0.34, write gap 0.30, LB
# detection and rejoin under the tolerance. With `--repeat N` (N >= 2) the runs' own spread is used.
SINGLE_RUN_BAND: Mapping[str, float] = {
    "p99_ms": 3.0,
    "longest_failure_run": 0.5,
    "failed_share": 0.5,
    "write_gap_s": 0.5,
    "restore_write_gap_s": 0.5,
}

# How good a scenario's status is; a run's worst counts for its side.
_RANK = {"pass": 0, "caught": 0, "fail": 2, "error": 3}
JUDGED = frozenset({"pass", "caught", "fail"})

REGRESSED, IMPROVED, SAME = "regressed", "improved", "same"


def compare_figures(doc: ScenarioDoc) -> list[Figure]:
    """Every lower-is-better figure compare reads from one scenario of report.json."""
    out = scenario_figures(doc)
    window = "during" if any(w.name == "during" for w in doc.windows) else "all"
    for path in dict.fromkeys([*doc.paths, *(s.path for s in doc.stats)]):
        stats = stats_of(doc, path, window)
        if stats is not None and stats.count and stats.success_ratio is not None:
            failed = round(1.0 - stats.success_ratio, 9)
            out.append(Figure(doc.name, path, FAILED_SHARE, failed, stats.window, stats.start_s, stats.end_s))
    for check in doc.verdict.checks if doc.verdict is not None else []:
        if check.name == "lost_writes" and check.observed is not None:
            out.append(
                Figure(
                    doc.name, check.path, LOST_WRITES, check.observed, check.window,
                    check.window_start_s, check.window_end_s,
                )
            )  # fmt: skip
    return out


@dataclass(frozen=True)
class FigureDelta:
    """One figure of one scenario on both sides."""

    path: str
    kind: Kind
    window: str
    base: tuple[float, ...]
    candidate: tuple[float, ...]
    band: float
    tolerance: float

    @property
    def base_median(self) -> float:
        return float(statistics.median(self.base))

    @property
    def candidate_median(self) -> float:
        return float(statistics.median(self.candidate))

    @property
    def allowance(self) -> float:
        return max(self.tolerance, self.band)

    @property
    def limit(self) -> float:
        """Above this the candidate regressed."""
        return round(self.base_median * (1.0 + self.allowance) + self.kind.floor, 9)

    @property
    def floor_limit(self) -> float:
        """Below this the candidate improved."""
        return round(self.base_median / (1.0 + self.allowance) - self.kind.floor, 9)

    @property
    def state(self) -> str:
        if self.candidate_median > self.limit:
            return REGRESSED
        if self.candidate_median < self.floor_limit:
            return IMPROVED
        return SAME

    @property
    def name(self) -> str:
        """`api.complete p99` / `edge slowest detection`."""
        return f"{self.path} {self.kind.label}"

    def describe(self) -> str:
        """`api.complete: p99 410 ms -> 1210 ms (limit 517 ms: +25% + 5 ms)`."""
        k = self.kind
        room = f"{self.allowance * 100:.0f}%" + (" noise band" if self.band > self.tolerance else "")
        bound = self.limit if self.state != IMPROVED else self.floor_limit
        return (
            f"{self.path}: {k.label} {k.show(self.base_median)} -> {k.show(self.candidate_median)} "
            f"({'limit' if self.state != IMPROVED else 'improved below'} {k.show(bound)}: "
            f"{room} + {k.floor_text()})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "figure": self.kind.name,
            "label": self.kind.label,
            "unit": self.kind.unit,
            "window": self.window,
            "base": list(self.base),
            "candidate": list(self.candidate),
            "base_median": self.base_median,
            "candidate_median": self.candidate_median,
            "delta": self.candidate_median - self.base_median,
            "band": self.band,
            "tolerance": self.tolerance,
            "limit": self.limit,
            "state": self.state,
            "message": self.describe(),
        }


@dataclass(frozen=True)
class ScenarioDelta:
    """One scenario on both sides: the status of every run, the figures, what regressed."""

    name: str
    base: tuple[str, ...]  # status of each base run that has it (pass, caught, fail, error, unjudged)
    candidate: tuple[str, ...]
    figures: tuple[FigureDelta, ...] = ()
    failures: tuple[str, ...] = ()  # the candidate's failed checks (first run that failed)

    @property
    def only(self) -> str:
        """`base` or `candidate` when the scenario ran on one side only; empty otherwise."""
        if not self.candidate:
            return "base"
        return "candidate" if not self.base else ""

    @staticmethod
    def _worst(statuses: Sequence[str]) -> str:
        ranked = [s for s in statuses if s in _RANK]
        return max(ranked, key=lambda s: _RANK[s]) if ranked else (statuses[0] if statuses else "")

    @property
    def base_verdict(self) -> str:
        return self._worst(self.base)

    @property
    def candidate_verdict(self) -> str:
        return self._worst(self.candidate)

    @property
    def errors(self) -> bool:
        """The kit could not judge it on some run (stack not steady, a fault that did not apply)."""
        return "error" in self.base or "error" in self.candidate

    @property
    def verdict_state(self) -> str:
        b, c = self.base_verdict, self.candidate_verdict
        if self.only == "base" or c not in JUDGED or (self.only == "" and b not in JUDGED):
            return SAME
        if self.only == "candidate":
            return REGRESSED if _RANK[c] > 0 else SAME
        if _RANK[c] > _RANK[b]:
            return REGRESSED
        return IMPROVED if _RANK[c] < _RANK[b] else SAME

    @property
    def regressions(self) -> list[str]:
        """One line per regression: the verdict first, then each figure."""
        out = []
        if self.verdict_state == REGRESSED:
            runs = f" ({self.candidate.count('fail')} of {len(self.candidate)} runs)" if len(self.candidate) > 1 else ""
            was = f"{self.base_verdict} -> " if self.base else "new scenario, "
            why = f": {self.failures[0]}" if self.failures else ""
            out.append(f"verdict {was}{self.candidate_verdict}{runs}{why}")
        out += [f.describe() for f in self.figures if f.state == REGRESSED]
        return out

    @property
    def improvements(self) -> list[str]:
        out = [f"verdict {self.base_verdict} -> {self.candidate_verdict}"] if self.verdict_state == IMPROVED else []
        return out + [f.describe() for f in self.figures if f.state == IMPROVED]

    @property
    def state(self) -> str:
        if self.regressions:
            return REGRESSED
        return IMPROVED if self.improvements else SAME

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "only": self.only or None,
            "base": {"verdict": self.base_verdict, "runs": list(self.base)},
            "candidate": {"verdict": self.candidate_verdict, "runs": list(self.candidate)},
            "state": self.state,
            "verdict_state": self.verdict_state,
            "regressions": self.regressions,
            "improvements": self.improvements,
            "candidate_failures": list(self.failures),
            "figures": [f.to_dict() for f in self.figures],
        }


def _scenarios(reports: Sequence[Mapping[str, Any]]) -> dict[str, list[ScenarioDoc]]:
    """Each scenario name's documents over the runs of one side, in first-seen order."""
    out: dict[str, list[ScenarioDoc]] = {}
    for report in reports:
        for raw in report.get("scenarios") or []:
            doc = ScenarioDoc.model_validate(raw)
            out.setdefault(doc.name, []).append(doc)
    return out


def _figures(docs: Sequence[ScenarioDoc]) -> dict[tuple[str, str, str], list[float]]:
    out: dict[tuple[str, str, str], list[float]] = {}
    for doc in docs:
        if doc.status in JUDGED:
            for f in compare_figures(doc):
                out.setdefault((f.path, f.kind.name, f.window), []).append(f.value)
    return out


def _failures(raw_reports: Sequence[Mapping[str, Any]], name: str) -> tuple[str, ...]:
    """The failed checks of the first run where the scenario failed, its test's own headline first
    (a single point of failure says so: `single point of failure: losing api-0 took ...`)."""
    for report in raw_reports:
        for s in report.get("scenarios") or []:
            if s.get("name") == name and s.get("status") == "fail":
                checks = [str(m) for m in (s.get("verdict") or {}).get("failures") or []]
                tests = [t for t in report.get("tests") or [] if name in (t.get("scenarios") or [])]
                head = [str(t.get("message") or "").strip().splitlines()[0] for t in tests if t.get("message")]
                return tuple(dict.fromkeys([*head[:1], *checks]))
    return ()


def scenario_delta(
    name: str,
    base: Sequence[ScenarioDoc],
    candidate: Sequence[ScenarioDoc],
    tolerance: float,
    failures: Sequence[str] = (),
) -> ScenarioDelta:
    """One scenario compared: statuses, and every figure both sides have."""
    b, c = _figures(base), _figures(candidate)
    deltas = []
    for key in [k for k in b if k in c]:
        path, kind, window = key
        band = max(noise_band(b[key]), noise_band(c[key]))
        if min(len(b[key]), len(c[key])) < 2:
            band = max(band, SINGLE_RUN_BAND.get(kind, 0.0))
        deltas.append(FigureDelta(path, FIGURE_KINDS[kind], window, tuple(b[key]), tuple(c[key]), band, tolerance))
    return ScenarioDelta(
        name, tuple(d.status for d in base), tuple(d.status for d in candidate), tuple(deltas), tuple(failures)
    )


@dataclass(frozen=True)
class Deltas:
    """Every scenario of both sides compared, regressions first."""

    scenarios: tuple[ScenarioDelta, ...]
    tolerance: float
    runs: tuple[int, int] = (1, 1)
    notes: tuple[str, ...] = field(default=())

    @property
    def regressed(self) -> list[ScenarioDelta]:
        return [s for s in self.scenarios if s.state == REGRESSED]

    @property
    def improved(self) -> list[ScenarioDelta]:
        return [s for s in self.scenarios if s.state == IMPROVED]

    @property
    def errors(self) -> list[ScenarioDelta]:
        return [s for s in self.scenarios if s.errors]


def compare_reports(
    base: Sequence[Mapping[str, Any]], candidate: Sequence[Mapping[str, Any]], tolerance: float = DEFAULT_TOLERANCE
) -> Deltas:
    """Compare the report.json documents of the base runs with those of the candidate runs."""
    b, c = _scenarios(base), _scenarios(candidate)
    names = list(dict.fromkeys([*b, *c]))
    found = [scenario_delta(n, b.get(n, []), c.get(n, []), tolerance, _failures(candidate, n)) for n in names]
    order = {REGRESSED: 0, IMPROVED: 1, SAME: 2}
    ranked = sorted(found, key=lambda s: (order[s.state], 0 if s.errors else 1))
    return Deltas(tuple(ranked), tolerance, (len(base), len(candidate)))
