"""Synthetic report.json documents for the drift-gate tests: one test per scenario, figures as given."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from failover_tests.baseline import History, Judgement, load_baselines
from failover_tests.outcomes import REPORT_SCHEMA, Outcome, run_verdict
from failover_tests.verdict import Check


def stats(path: str, window: str, *, p99_ms: float, run: int = 0, share: float = 0.0) -> dict[str, Any]:
    """One path in one window, with the keys `stats[]` has."""
    return {
        "path": path,
        "window": window,
        "start_s": 2.0 if window == "during" else 0.0,
        "end_s": 8.0 if window == "during" else 12.0,
        "count": 100,
        "ok_count": 100 - run,
        "success_ratio": (100 - run) / 100,
        "p50_ms": p99_ms / 2,
        "p99_ms": p99_ms,
        "longest_failure_run": run,
        "fallback_share": share,
    }


def check(
    name: str, path: str, observed: float | None, *, window: str = "during", passed: bool = True
) -> dict[str, Any]:
    """A check with the keys every check of report.json has."""
    return Check(
        name=name,
        path=path,
        window=window,
        window_start_s=2.0,
        window_end_s=8.0,
        observed=observed,
        limit=None,
        passed=passed,
        message=f"{path}: {name} {observed}",
    ).to_dict()


def scenario(
    name: str = "kill-api",
    *,
    status: str = "pass",
    p99_ms: float = 330.0,
    run: int = 0,
    share: float = 0.0,
    paths: Sequence[str] = ("api.complete",),
    checks: Sequence[dict[str, Any]] = (),
    windows: bool = True,
) -> dict[str, Any]:
    """One scenario: its `during` figures are the ones given; over the whole run p99 is a third of it."""
    slo_checks = [check("p99", p, p99_ms, passed=status != "fail") for p in paths]
    return {
        "name": name,
        "status": status,
        "duration_s": 12.0,
        "windows": [{"name": w, "start_s": 0.0, "end_s": 1.0} for w in ("before", "during", "after")]
        if windows
        else [],
        "verdict": {
            "fault": "kill(api-1)",
            "passed": status != "fail",
            "failures": [c["message"] for c in slo_checks if not c["passed"]],
            "checks": [*slo_checks, *checks],
        },
        "stats": [
            s
            for p in paths
            for s in (stats(p, "before", p99_ms=p99_ms / 4), stats(p, "during", p99_ms=p99_ms, run=run, share=share))
        ]
        if windows
        else [],
        "paths": {p: {"total": stats(p, "all", p99_ms=p99_ms / 3), "buckets": []} for p in paths},
    }


_OUTCOME = {"pass": "passed", "caught": "passed", "fail": "failed", "error": "error", "unjudged": "skipped"}


def report(*scenarios: dict[str, Any], at: str = "2026-03-01T12:00:00+00:00", **top: Any) -> dict[str, Any]:
    """A report.json document: one test per scenario (its outcome by the scenario's status)."""
    scenarios = scenarios or (scenario(),)
    outcomes = [
        Outcome(f"suites/test_x.py::test_{i}", _OUTCOME[s["status"]], 10.0, "", (s["name"],))
        for i, s in enumerate(scenarios)
    ]
    run = run_verdict(outcomes)
    counts = Counter(s["status"] for s in scenarios)
    doc: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "generated_at": at,
        "verdict": run.verdict,
        "exit_code": run.exit_code,
        "meta": {"stack": "drill1"},
        "summary": {
            **{k: v for k, v in run.to_dict().items() if k not in ("verdict", "exit_code")},
            "scenarios": len(scenarios),
            "scenario_status": {k: counts[k] for k in ("pass", "caught", "fail", "error", "unjudged")},
        },
        "tests": [o.to_dict() for o in outcomes],
        "spof": [],
        "scenarios": list(scenarios),
    }
    doc.update(top)
    return doc


def keep(directory: Path, name: str, doc: dict[str, Any] | str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def history_of(tmp_path: Path, *docs: dict[str, Any]) -> History:
    """The history of green runs `docs` (one day apart, the first the oldest)."""
    for day, doc in enumerate(docs, start=1):
        keep(tmp_path / "history", f"run{day}.json", {**doc, "generated_at": f"2026-03-{day:02d}T12:00:00+00:00"})
    return load_baselines(tmp_path / "history")


def p99_history(tmp_path: Path, *p99s: float) -> History:
    return history_of(tmp_path, *(report(scenario(p99_ms=v)) for v in p99s))


def p99_of(judged: Sequence[Judgement]) -> Judgement:
    """The one p99 judgement among `judged`."""
    [found] = [j for j in judged if j.figure.kind.name == "p99_ms"]
    return found
