"""compare.json: the two topologies, what changed, every run, and every scenario compared.

Schema `stackdrill.compare/1`. It opens with the verdict and exit code: `regressed` (exit 1),
`passed` (exit 0: nothing regressed), `error` (exit 3: the kit could not judge some run),
`interrupted` (130).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from failover_tests.compare.diff import Change, SpofDiff
from failover_tests.compare.judge import IMPROVED, REGRESSED, SAME, Deltas
from failover_tests.compare.sources import TopologySource
from failover_tests.outcomes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_KIT_ERROR, EXIT_PASSED

COMPARE_SCHEMA = "stackdrill.compare/1"


@dataclass(frozen=True)
class RunRecord:
    """One drill of one side: where its report is, how it ended, how long it took."""

    side: str  # base or candidate
    index: int  # 1-based
    report_dir: Path
    exit_code: int
    duration_s: float
    report: dict[str, Any]

    @property
    def verdict(self) -> str:
        return str(self.report.get("verdict") or ("interrupted" if self.exit_code == EXIT_INTERRUPTED else "error"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "run": self.index,
            "report_dir": str(self.report_dir),
            "exit_code": self.exit_code,
            "verdict": self.verdict,
            "duration_s": round(self.duration_s, 1),
        }


def exit_code_of(deltas: Deltas, runs: Sequence[RunRecord], *, interrupted: bool = False) -> int:
    """130 interrupted; 3 when a run could not be judged (no report, a scenario in error); 1 on a regression; 0."""
    if interrupted:
        return EXIT_INTERRUPTED
    if any(not r.report for r in runs) or deltas.errors:
        return EXIT_KIT_ERROR
    return EXIT_FAILED if deltas.regressed else EXIT_PASSED


_VERDICTS = {EXIT_PASSED: "passed", EXIT_FAILED: "regressed", EXIT_KIT_ERROR: "error"}


def _side(source: TopologySource) -> dict[str, Any]:
    return {"spec": source.spec, "label": source.label, "path": str(source.path), "topology": source.topology.to_dict()}


def build_compare(
    *,
    base: TopologySource,
    candidate: TopologySource,
    changes: Sequence[Change],
    spof: SpofDiff,
    deltas: Deltas,
    runs: Sequence[RunRecord],
    scenarios: Sequence[str],
    seed: int,
    parallel: bool,
    duration_s: float,
    interrupted: bool = False,
) -> dict[str, Any]:
    """The compare.json document."""
    code = exit_code_of(deltas, runs, interrupted=interrupted)
    states = [s.state for s in deltas.scenarios]
    return {
        "schema": COMPARE_SCHEMA,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "verdict": "interrupted" if code == EXIT_INTERRUPTED else _VERDICTS[code],
        "exit_code": code,
        "base": _side(base),
        "candidate": _side(candidate),
        "selection": list(scenarios),
        "seed": seed,
        "repeat": max(deltas.runs),
        "parallel": parallel,
        "tolerance": deltas.tolerance,
        "duration_s": round(duration_s, 1),
        "changes": [c.to_dict() for c in changes],
        "spof": spof.to_dict(),
        "summary": {
            "scenarios": len(states),
            "regressed": states.count(REGRESSED),
            "improved": states.count(IMPROVED),
            "same": states.count(SAME),
            "only_base": sum(s.only == "base" for s in deltas.scenarios),
            "only_candidate": sum(s.only == "candidate" for s in deltas.scenarios),
            "errors": len(deltas.errors),
        },
        "runs": [r.to_dict() for r in runs],
        "notes": list(deltas.notes),
        "scenarios": [s.to_dict() for s in deltas.scenarios],
    }


def junit_document(doc: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    """compare.json as a report.json-shaped document for the JUnit writer: one testcase per scenario,
    the regressions as its failure, the candidate's figures (its last run, `candidate`) as properties."""
    tests = []
    for s in doc["scenarios"]:
        if s["state"] == REGRESSED:
            outcome, message = "failed", "\n".join(s["regressions"])
        elif "error" in s["base"]["runs"] or "error" in s["candidate"]["runs"]:
            outcome, message = "error", "the kit could not judge it on some run (see the run's report)"
        else:
            outcome, message = "passed", ""
        tests.append(
            {
                "name": s["name"],
                "nodeid": f"compare::{s['name']}",
                "outcome": outcome,
                "message": message,
                "scenarios": [s["name"]],
            }
        )
    return {
        "schema": doc["schema"],
        "verdict": doc["verdict"],
        "exit_code": doc["exit_code"],
        "meta": {"topology": f"{doc['base']['label']} -> {doc['candidate']['label']}", "seed": doc["seed"]},
        "tests": tests,
        "scenarios": list(candidate.get("scenarios") or []),
    }
