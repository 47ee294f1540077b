"""`stackdrill mutate [TOPOLOGY]`: how much can the failover suite see?

Weakened variants of the topology (`failover_tests.compare.mutants`), one change each, are each
compared with the topology itself on the scenarios that could see them. The topology runs once, on
the union of those scenarios (its figures and verdicts are every mutant's base); each mutant runs
on a stack of its own. A mutant is **caught** when one of its scenarios' verdicts turned red (a
check that held on the topology failed on the mutant); a mutant whose figures moved beyond the
noise while every verdict held is **missed, seen in figures** (a drift gate or compare would
notice, a drill would not). The score is caught / run.

`--budget MIN` bounds the whole run: the cost of each mutant is estimated (one stack, plus its
scenarios' time on the base run) and mutants are taken family by family, round-robin, while they
fit; the rest are listed as not run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from failover_tests.compare.document import RunRecord
from failover_tests.compare.judge import REGRESSED, compare_reports
from failover_tests.compare.mutants import Mutant, generate
from failover_tests.compare.sources import TopologySource
from failover_tests.outcomes import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_KIT_ERROR, EXIT_PASSED
from infra.errors import ScenarioError
from infra.topology import CONFIG_KEY
from stackdrill.child_drills import DrillJob, run_batch

MUTATE_SCHEMA = "stackdrill.mutate/1"
# Estimates before the base run has measured anything, from `compare default default` here: a
# drill of 3 scenarios took 97 s, its stack's up and down about 35 s of it, a scenario 20-38 s.
STACK_COST_S = 45.0
SCENARIO_COST_S = 35.0

CAUGHT, MISSED, NOT_RUN, ERROR = "caught", "missed", "not run", "error"


@dataclass
class MutantResult:
    """One mutant: what it weakened and what the suite saw."""

    mutant: Mutant
    status: str = NOT_RUN
    caught_by: list[dict[str, str]] = field(default_factory=list)  # scenario, check
    figures: list[str] = field(default_factory=list)  # figure regressions while every verdict held
    duration_s: float = 0.0
    report_dir: str = ""
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.mutant.to_dict(),
            "status": self.status,
            "caught_by": self.caught_by,
            "figures_moved": self.figures,
            "duration_s": round(self.duration_s, 1),
            "report_dir": self.report_dir,
            "why": self.why,
        }


def round_robin(mutants: Sequence[Mutant]) -> list[Mutant]:
    """One mutant of each family in turn, so a small budget still spans the families."""
    families: dict[str, list[Mutant]] = {}
    for m in mutants:
        families.setdefault(m.family, []).append(m)
    out: list[Mutant] = []
    while any(families.values()):
        for queue in families.values():
            if queue:
                out.append(queue.pop(0))
    return out


def plan(
    mutants: Sequence[Mutant], budget_s: float, scenario_s: Callable[[str], float], stack_s: float
) -> tuple[list[Mutant], list[Mutant]]:
    """(to run, over budget): mutants in round-robin order while the base run and theirs fit the budget."""
    chosen: list[Mutant] = []
    rest: list[Mutant] = []
    union: set[str] = set()
    spent = stack_s
    for m in round_robin(mutants):
        new = [s for s in m.scenarios if s not in union]
        cost = stack_s + sum(scenario_s(s) for s in m.scenarios) + sum(scenario_s(s) for s in new)
        if spent + cost <= budget_s:
            chosen.append(m)
            union.update(m.scenarios)
            spent += cost
        else:
            rest.append(m)
    return chosen, rest


def _durations(report: dict[str, Any]) -> dict[str, float]:
    return {str(s["name"]): float(s.get("duration_s") or 0.0) for s in report.get("scenarios") or []}


def _judge(result: MutantResult, base: dict[str, Any], mutant_report: dict[str, Any]) -> None:
    names = {s["name"] for s in mutant_report.get("scenarios") or []}  # the same selection ran on both
    base_only = {**base, "scenarios": [s for s in base.get("scenarios") or [] if s["name"] in names]}
    deltas = compare_reports([base_only], [mutant_report])
    for s in deltas.scenarios:
        if s.verdict_state == REGRESSED:
            result.caught_by.append({"scenario": s.name, "check": s.failures[0] if s.failures else s.regressions[0]})
        else:
            result.figures += [f"{s.name}: {f.describe()}" for f in s.figures if f.state == REGRESSED]
    if result.caught_by:
        result.status = CAUGHT
    elif any(s.errors for s in deltas.scenarios) or not mutant_report:
        result.status, result.why = ERROR, "the kit could not judge the mutant's drill; see its drill.log"
    else:
        result.status = MISSED


def _write_topology(source: TopologySource, mutant: Mutant, directory: Path) -> Path:
    weak = mutant.apply(source.topology)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"Pulumi.{mutant.name}.yaml"
    header = f"# {source.spec} weakened: {mutant.description} (stackdrill mutate)\n"
    path.write_text(header + yaml.safe_dump({"config": {CONFIG_KEY: weak.to_dict()}}, sort_keys=False))
    return path


@dataclass
class Costs:
    """What a drill costs on this machine: estimates first, then what the base runs measured."""

    stack_s: float = STACK_COST_S
    measured: dict[str, float] = field(default_factory=dict)

    def scenario_s(self, name: str) -> float:
        return self.measured.get(name, SCENARIO_COST_S)

    def learn(self, run: RunRecord) -> None:
        """A base run's scenario times, and its stack's up and down (what the scenarios did not take)."""
        durations = _durations(run.report)
        self.measured.update(durations)
        self.stack_s = max(30.0, run.duration_s - sum(durations.values()))


def _run_mutant(
    result: MutantResult,
    base: RunRecord,
    costs: Costs,
    source: TopologySource,
    out_dir: Path,
    stack_name: str,
    seed: int,
    say: Callable[[str], None],
    budget_left_s: float,
) -> None:
    """Run one mutant's drill and judge it against the base run, if it still fits the budget."""
    m = result.mutant
    cost = costs.stack_s + sum(costs.scenario_s(s) for s in m.scenarios)
    if cost > budget_left_s:
        result.why = f"over the budget (about {cost:.0f} s to run, {max(0.0, budget_left_s):.0f} s left)"
        return
    result.why = ""
    topo_path = _write_topology(source, m, out_dir / "mutants")
    [record] = run_batch([DrillJob(m.name, 1, topo_path, out_dir / m.name, stack_name, m.scenarios, seed)], say)
    result.duration_s, result.report_dir = record.duration_s, str(record.report_dir)
    _judge(result, base.report, record.report)
    by = f" by {result.caught_by[0]['scenario']}" if result.caught_by else ""
    say(f"[{m.name}] {result.status.upper()}{by}")


def run_mutate(
    source: TopologySource,
    *,
    keys: tuple[str, ...],
    budget_min: float,
    seed: int,
    out_dir: Path,
    console: Console,
    out: Console,
    as_json: bool = False,
) -> int:
    """Run the mutants that fit the budget; write mutate.json and mutate.html; the exit code."""
    if budget_min <= 0:
        raise ScenarioError(f"--budget {budget_min:g}: give the minutes the whole run may take, e.g. 30")
    mutants, notes = generate(source.topology, keys)
    if not mutants:
        raise ScenarioError(f"no mutant of {source.spec} matches {' '.join(keys) or 'anything'}; see `mutate --list`")
    started = time.monotonic()
    budget_s = budget_min * 60.0
    results = {m.name: MutantResult(m, why="over the budget") for m in round_robin(mutants)}
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            console.print(line, markup=False, highlight=False)

    tag = os.getpid() % 100000
    stack_names = {name: f"mut{tag}m{i}" for i, name in enumerate(results)}
    costs = Costs()
    considered: set[str] = set()
    bases: list[RunRecord] = []
    code = EXIT_PASSED
    say(f"mutate {source.spec}: {len(mutants)} mutants, budget {budget_min:g} min")
    try:
        while True:
            left = [m for m in round_robin(mutants) if m.name not in considered]
            wave, _ = plan(left, budget_s - (time.monotonic() - started), costs.scenario_s, costs.stack_s)
            if not wave:
                break
            considered.update(m.name for m in wave)
            k = len(bases) + 1
            union = tuple(dict.fromkeys(s for m in wave for s in m.scenarios))
            say(f"wave {k}: {len(wave)} mutants; the topology itself on {len(union)} scenarios first")
            job = DrillJob("base", k, source.path, out_dir / f"base{k}", f"mut{tag}b{k}", union, seed)
            [base] = run_batch([job], say)
            bases.append(base)
            if base.exit_code == EXIT_BAD_INPUT:
                raise ScenarioError(f"the base drill refused its input (exit 2): see {base.report_dir / 'drill.log'}")
            if not base.report:
                code = EXIT_KIT_ERROR
                break
            costs.learn(base)
            for m in wave:
                left_s = budget_s - (time.monotonic() - started)
                _run_mutant(results[m.name], base, costs, source, out_dir, stack_names[m.name], seed, say, left_s)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    doc = _document(source, results, notes, budget_min, seed, time.monotonic() - started, bases, code)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "mutate.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    from failover_tests.compare.view import render_mutate_html

    html = render_mutate_html(doc, out_dir / "mutate.html")
    if as_json:
        out.print_json(json.dumps(doc))
    else:
        _print(out, doc, html)
    return int(doc["exit_code"])


def _document(
    source: TopologySource,
    results: dict[str, MutantResult],
    notes: Sequence[str],
    budget_min: float,
    seed: int,
    duration_s: float,
    bases: Sequence[RunRecord],
    code: int,
) -> dict[str, Any]:
    ran = [r for r in results.values() if r.status in (CAUGHT, MISSED)]
    caught = [r for r in ran if r.status == CAUGHT]
    if code == EXIT_PASSED and any(r.status == ERROR for r in results.values()):
        code = EXIT_KIT_ERROR
    order = {CAUGHT: 1, MISSED: 0, ERROR: 2, NOT_RUN: 3}
    return {
        "schema": MUTATE_SCHEMA,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "exit_code": code,
        "topology": {"spec": source.spec, "path": str(source.path)},
        "budget_min": budget_min,
        "seed": seed,
        "duration_s": round(duration_s, 1),
        "score": {
            "caught": len(caught),
            "run": len(ran),
            "total": len(results),
            "ratio": round(len(caught) / len(ran), 4) if ran else None,
        },
        "base_runs": [b.to_dict() for b in bases],
        "notes": list(notes),
        "mutants": [r.to_dict() for r in sorted(results.values(), key=lambda r: order[r.status])],
    }


_COLOUR = {CAUGHT: "green", MISSED: "red", ERROR: "yellow", NOT_RUN: "dim"}


def _print(out: Console, doc: dict[str, Any], html: Path) -> None:
    table = Table(title=f"mutants of {doc['topology']['spec']}")
    for col in ("mutant", "weakening", "result", "by / hint"):
        table.add_column(col)
    for m in doc["mutants"]:
        if m["status"] == CAUGHT:
            seen = "; ".join(f"{c['scenario']}: {c['check'].splitlines()[0][:90]}" for c in m["caught_by"][:2])
        elif m["status"] == MISSED:
            seen = f"look at: {m['hint']}" + (
                f" (figures moved: {m['figures_moved'][0][:80]})" if m["figures_moved"] else ""
            )
        else:
            seen = m["why"]
        colour = _COLOUR[m["status"]]
        table.add_row(escape(m["name"]), escape(m["description"]), f"[{colour}]{m['status'].upper()}[/]", escape(seen))
    out.print(table)
    score = doc["score"]
    ratio = "n/a" if score["ratio"] is None else f"{100 * score['ratio']:.0f}%"
    out.print(
        f"mutation score {score['caught']}/{score['run']} ({ratio}) of {score['total']} mutants "
        f"in {doc['duration_s'] / 60:.1f} min (budget {doc['budget_min']:g} min); {html}"
    )
