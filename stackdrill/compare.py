"""`stackdrill compare BASE CANDIDATE [SCENARIO...]`: did failover get better or worse?

Each side is a drill (`stackdrill drill`, in a child process of its own, on a stack of its own,
with the same seed and the same scenario selection); `--repeat N` runs each side N times, the
sides taking turns so that the machine's mood falls on both; `--parallel` runs the two sides'
drills at the same moment. The reports of every run are kept under the output directory; the
comparison (`failover_tests.compare`) goes to compare.json, compare.html and, with `--junit`,
JUnit XML.

Exit codes: 0 nothing regressed, 1 a regression, 2 bad input (nothing is created), 3 the kit
could not judge a run (no engine, stack not steady), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from failover_tests.compare.diff import Change, SpofDiff, spof_diff, topology_diff
from failover_tests.compare.document import RunRecord, build_compare, junit_document
from failover_tests.compare.judge import DEFAULT_TOLERANCE, IMPROVED, REGRESSED, Deltas, compare_reports
from failover_tests.compare.sources import TopologySource
from failover_tests.compare.view import render_compare_html
from failover_tests.outcomes import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_KIT_ERROR
from infra.errors import ScenarioError
from stackdrill.child_drills import DrillJob, run_batch

SIDES = ("base", "candidate")


@dataclass(frozen=True, kw_only=True)
class CompareSettings:
    """What `stackdrill compare` was asked, validated."""

    base: TopologySource
    candidate: TopologySource
    scenarios: tuple[str, ...] = ()
    repeat: int = 1
    parallel: bool = False
    seed: int = 0
    tolerance: float = DEFAULT_TOLERANCE
    out_dir: Path = Path("reports/compare")
    junit: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.repeat <= 10:
            raise ScenarioError(f"--repeat {self.repeat}: give 1 to 10 runs per side")
        if not 0.0 <= self.tolerance < 10.0:
            raise ScenarioError(f"--tolerance {self.tolerance:g}: give a fraction from 0 to below 10 (0.25 is 25%)")
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ScenarioError(f"--out {self.out_dir}: is a file; give a directory for the reports")


def new_seed() -> int:
    """A seed for both sides when none was given."""
    return random.randrange(1 << 30)


def _jobs(settings: CompareSettings) -> list[list[DrillJob]]:
    """The drills to run, in batches: one drill a batch, or both sides of a repeat with --parallel."""
    tag = os.getpid() % 100000
    batches: list[list[DrillJob]] = []
    for k in range(1, settings.repeat + 1):
        pair = [
            DrillJob(
                side,
                k,
                source.path,
                settings.out_dir / side / f"run{k}",
                f"cmp{tag}{side[0]}{k}",
                settings.scenarios,
                settings.seed,
            )  # fmt: skip
            for side, source in zip(SIDES, (settings.base, settings.candidate), strict=True)
        ]
        batches += [pair] if settings.parallel else [[job] for job in pair]
    return batches


@dataclass(frozen=True)
class CompareOutcome:
    """A finished compare: its exit code, its document, and where it was written."""

    code: int
    doc: dict[str, Any]
    deltas: Deltas
    json_path: Path
    html_path: Path


def print_changes(out: Console, base: TopologySource, candidate: TopologySource) -> tuple[list[Change], SpofDiff]:
    """The topology diff and the single-point-of-failure diff, printed before anything runs."""
    changes = topology_diff(base.topology, candidate.topology)
    spof = spof_diff(base.topology, candidate.topology)
    out.print(f"[bold]compare[/] {escape(base.spec)} -> {escape(candidate.spec)}")
    if changes:
        out.print(f"topology: {len(changes)} key(s) changed")
        for change in changes:
            out.print(f"  {escape(str(change))}", highlight=False)
    else:
        out.print("topology: no key changed (the same topology on both sides)")
    for s in spof.removed:
        out.print(f"  [green]SPOF removed[/]  {escape(s)}")
    for s in spof.added:
        out.print(f"  [red]SPOF added[/]    {escape(s)}")
    if not spof.removed and not spof.added:
        out.print(f"single points of failure: no change ({len(spof.kept)} on both sides)")
    return changes, spof


def run_compare(settings: CompareSettings, *, console: Console, out: Console, as_json: bool = False) -> CompareOutcome:
    """Print what changed, run both sides, compare, write compare.json/html (and JUnit); the outcome."""
    started = time.monotonic()
    changes, spof = print_changes(console if as_json else out, settings.base, settings.candidate)
    if settings.parallel and (os.cpu_count() or 1) < 4:
        console.print(
            f"note: --parallel on {os.cpu_count()} cores: both stacks share them, "
            "so figures are noisier than one at a time"
        )
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            console.print(line, markup=False, highlight=False)

    runs: list[RunRecord] = []
    interrupted = False
    for batch in _jobs(settings):
        try:
            done = run_batch(batch, say)
        except KeyboardInterrupt:
            interrupted = True
            break
        runs += done
        bad = [r for r in done if r.exit_code == EXIT_BAD_INPUT]
        if bad:
            raise ScenarioError(
                f"the {bad[0].side} drill refused its input (exit 2): see {bad[0].report_dir / 'drill.log'}"
            )
        if any(r.exit_code == EXIT_INTERRUPTED for r in done):
            interrupted = True
            break
    deltas = compare_reports(
        [r.report for r in runs if r.side == "base" and r.report],
        [r.report for r in runs if r.side == "candidate" and r.report],
        settings.tolerance,
    )
    doc = build_compare(
        base=settings.base,
        candidate=settings.candidate,
        changes=changes,
        spof=spof,
        deltas=deltas,
        runs=runs,
        scenarios=settings.scenarios,
        seed=settings.seed,
        parallel=settings.parallel,
        duration_s=time.monotonic() - started,
        interrupted=interrupted,
    )
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    json_path = settings.out_dir / "compare.json"
    json_path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    html_path = render_compare_html(doc, settings.out_dir / "compare.html")
    if settings.junit is not None:
        from failover_tests.report.junit import junit_xml

        last = next((r.report for r in reversed(runs) if r.side == "candidate" and r.report), {})
        settings.junit.parent.mkdir(parents=True, exist_ok=True)
        settings.junit.write_bytes(junit_xml(junit_document(doc, last), suite="stackdrill compare"))
    outcome = CompareOutcome(int(doc["exit_code"]), doc, deltas, json_path, html_path)
    if as_json:
        out.print_json(json.dumps({**doc, "compare_json": str(json_path), "compare_html": str(html_path)}))
    else:
        print_outcome(out, outcome, runs)
    return outcome


_BADGE = {"pass": "green", "caught": "green", "fail": "red", "error": "yellow", "unjudged": "dim"}


def _verdict_cell(verdict: str, statuses: Sequence[str]) -> str:
    if not statuses:
        return "[dim]absent[/]"
    text = f"[{_BADGE.get(verdict, 'white')}]{verdict.upper()}[/]"
    return text + (f" ({', '.join(statuses)})" if len(statuses) > 1 else "")


def print_outcome(out: Console, outcome: CompareOutcome, runs: Sequence[RunRecord]) -> None:
    """The side-by-side table, regressions first, and the verdict line."""
    doc = outcome.doc
    table = Table(title=f"compare {doc['base']['label']} -> {doc['candidate']['label']}")
    for col in ("scenario", doc["base"]["label"], doc["candidate"]["label"], "change", "what moved"):
        table.add_column(col)
    for s in outcome.deltas.scenarios:
        state = s.state
        colour = "red" if state == REGRESSED else "green" if state == IMPROVED else "dim"
        moved = s.regressions or s.improvements
        name = s.name + (f" (only in {s.only})" if s.only else "")
        table.add_row(
            escape(name),
            _verdict_cell(s.base_verdict, s.base),
            _verdict_cell(s.candidate_verdict, s.candidate),
            f"[{colour}]{state.upper()}[/]",
            escape("\n".join(moved[:4]) + (f"\n(+{len(moved) - 4} more)" if len(moved) > 4 else "")),
        )
    out.print(table)
    for r in runs:
        if r.exit_code not in (0, 1):
            out.print(f"[yellow]{r.side} run {r.index}[/]: drill exit {r.exit_code}; see {r.report_dir / 'drill.log'}")
    summary = doc["summary"]
    out.print(
        f"{summary['regressed']} regressed, {summary['improved']} improved, {summary['same']} unchanged "
        f"of {summary['scenarios']} scenarios in {doc['duration_s']:.0f} s: {doc['verdict'].upper()} "
        f"(exit {doc['exit_code']})"
    )
    out.print(f"compare: {outcome.html_path} and {outcome.json_path.name}")
    if doc["exit_code"] == EXIT_KIT_ERROR:
        out.print("[yellow]the kit could not judge every run: the comparison is incomplete[/]")
