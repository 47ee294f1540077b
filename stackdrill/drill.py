"""`stackdrill drill`: run the failover suites through pytest with a progress bar and a summary table.

The table, report.json and report.html hold every test the drill started (preflight checks
included) with its outcome; the exit code is the run's verdict (`failover_tests.outcomes`):
0 passed, 1 a verdict failed, 2 bad input (no test matches, a scenario file does not
validate), 3 the kit could not run (setup failed, stack not steady), 130 interrupted.

With a drift gate (`--baseline DIR`, `failover_tests.baseline`) the run is also judged against
the newest green report.json files in DIR, read before the run starts; report.json and
report.html are written again as judged, and the JUnit file, the table and the exit code follow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import failover_tests
from failover_tests.baseline import Gate, GateSettings, History, apply, load_baselines, save_baseline
from failover_tests.outcomes import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_KIT_ERROR,
    EXIT_PASSED,
    INTERRUPTED,
    Outcome,
    RunVerdict,
)
from failover_tests.plugin import COLLECTOR_KEY, RECORD_ALL_KEY, scenario_names

if TYPE_CHECKING:
    from failover_tests.runner import ReportCollector

SUITES = Path(failover_tests.__file__).parent / "suites"


def _norm(name: str) -> str:
    return name.replace("-", "_").lower()


def selection_names(item: pytest.Item) -> tuple[str, ...]:
    """The names that select a test exactly: its declared scenario names (failover marker, YAML),
    its parameter id (matrix entries), and its test name with and without parameters."""
    names = list(scenario_names(item))
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        names.append(callspec.id)
    names.append(item.name)
    names.append(getattr(item, "originalname", item.name))
    return tuple(names)


def select(items: Sequence[pytest.Item], names: Iterable[str]) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """Split items into (kept, dropped) by the names given on the command line.

    A name keeps the tests it names exactly (`selection_names`, ignoring case and `-` vs `_`);
    only when it names none does it keep every test whose node id or names contain it
    (`pause` keeps every pause drill, `lose-one-api` keeps only lose-one-api).
    """
    wanted: set[int] = set()
    for raw in names:
        name = _norm(raw)
        exact = [i for i, item in enumerate(items) if name in {_norm(n) for n in selection_names(item)}]
        if not exact:
            exact = [
                i for i, item in enumerate(items) if name in _norm(" ".join((item.nodeid, *selection_names(item))))
            ]
        wanted.update(exact)
    keep = [item for i, item in enumerate(items) if i in wanted]
    drop = [item for i, item in enumerate(items) if i not in wanted]
    return keep, drop


def exit_code(pytest_code: int, *, verdict: RunVerdict | None, collection_errors: int) -> int:
    """The exit code of `stackdrill drill` from pytest's exit code and the run's verdict.

    130 interrupted; 2 bad input (nothing matched, a file did not collect, a usage error);
    3 when the kit could not run (pytest's own internal error, or nothing was recorded);
    otherwise the verdict's own code, so it always matches report.json.
    """
    if verdict is not None and verdict.verdict == INTERRUPTED:
        return EXIT_INTERRUPTED
    if collection_errors or pytest_code in (int(pytest.ExitCode.NO_TESTS_COLLECTED), int(pytest.ExitCode.USAGE_ERROR)):
        return EXIT_BAD_INPUT
    if verdict is None or pytest_code == int(pytest.ExitCode.INTERNAL_ERROR):
        return EXIT_KIT_ERROR
    return verdict.exit_code


class _DrillProgress:
    """pytest plugin object: drives the progress bar and keeps each test's outcome."""

    def __init__(self, console: Console, names: list[str] | None = None) -> None:
        self.console = console
        self.lines = not console.is_terminal  # no live bar in a log: one line per finished test instead
        self.done = 0
        self.total = 0
        self.names = list(names or [])
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        )  # fmt: skip
        self.task = self.progress.add_task("collecting", total=None)
        self.errors: list[str] = []
        self.config: pytest.Config | None = None

    @property
    def collector(self) -> ReportCollector | None:
        """The session's report collector, once a test has started."""
        return self.config.stash.get(COLLECTOR_KEY, None) if self.config is not None else None

    def pytest_configure(self, config: pytest.Config) -> None:
        """Under the drill every test is part of the report, whatever fixtures it uses."""
        self.config = config
        config.stash[RECORD_ALL_KEY] = True

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep only the tests named on the command line (by scenario, parameter or test name)."""
        if not self.names:
            return
        keep, drop = select(items, self.names)
        items[:] = keep
        if drop:
            config.hook.pytest_deselected(items=drop)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        if self.lines:
            if self.total:
                self.console.print(f"[drill] {self.total} tests; bringing the stack up", markup=False)
            return
        self.progress.update(self.task, total=self.total, description="bringing the stack up")
        self.progress.start()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(str(report.longrepr).strip().splitlines()[-1])

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.progress.update(self.task, description=location[2])

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A test finished (its teardown ran): advance, and in a log print its outcome."""
        if report.when != "teardown":
            return
        self.progress.advance(self.task)
        self.done += 1
        collector = self.collector
        outcome = collector.tests.outcome_of(report.nodeid) if collector else None
        if self.lines and outcome is not None:
            self.console.print(
                f"[drill] {self.done}/{self.total} {outcome.name} {outcome.outcome.upper()} "
                f"in {outcome.duration_s:.1f} s",
                markup=False,
            )

    def pytest_sessionfinish(self) -> None:
        self.progress.stop()


def run_drill(
    scenarios: list[str],
    *,
    topology: str,
    stack_name: str,
    keep_stack: bool,
    report_dir: str,
    seed: int | None,
    as_json: bool,
    console: Console,
    out: Console,
    junit: Path | None = None,
    baseline: GateSettings | None = None,
) -> int:
    """Run the suites (or the named scenarios); print the summary; return the exit code.

    With `junit`, the JUnit XML of the run is written there on every path (a run that judged
    nothing gets one error testcase saying why). With `baseline`, the run is also judged against
    the green runs kept in its directory (read before the run, so a run is never its own baseline).
    """
    history = load_baselines(baseline.dir, baseline.runs) if baseline is not None else None
    args = ["-p", "no:terminal", "-p", "no:cacheprovider", "--topology", topology, "--report-dir", report_dir]
    if stack_name:
        args += ["--stack-name", stack_name]
    if keep_stack:
        args.append("--keep-stack")
    if seed is not None:
        args += ["--seed", str(seed)]
    files = [s for s in scenarios if Path(s).exists()]
    names = [s for s in scenarios if not Path(s).exists()]
    args += files or [str(SUITES)]
    plugin = _DrillProgress(console, names)
    started_wall = time.time()
    t0 = time.monotonic()
    pytest_code = int(pytest.main(args, plugins=[plugin]))
    elapsed = time.monotonic() - t0
    collector = plugin.collector
    verdict = collector.tests.verdict() if collector is not None else None
    code = exit_code(pytest_code, verdict=verdict, collection_errors=len(plugin.errors))
    for err in plugin.errors:
        console.print(f"[red]error:[/] {err}")
    if code == EXIT_BAD_INPUT:
        why = "; ".join(plugin.errors) or f"no scenario matches {' '.join(scenarios)}; see failover_tests/suites/"
        if not plugin.errors:
            console.print(f"[red]error:[/] {why}")
        _write_junit(junit, {}, code, why)
        return code
    report_path = Path(report_dir) / "report.json"
    report = _load_report(report_path, not_before=started_wall)
    outcomes = collector.tests.outcomes() if collector is not None else []
    gate: Gate | None = None
    if baseline is not None and report:
        assert history is not None  # read with the settings, before the run
        gate = _judge_against_history(report, history, baseline, Path(report_dir), collector)
        report, outcomes, verdict = gate.report, gate.outcomes(), gate.verdict
        code = exit_code(pytest_code, verdict=verdict, collection_errors=len(plugin.errors))
    _write_junit(junit, report, code, f"the drill ran no test to judge (pytest exit code {pytest_code})")
    saved = _save_baseline(baseline, gate, code, report_path)
    rows = rows_of(outcomes, report)
    verdict_name = verdict.verdict if verdict is not None else "error"
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "exit_code": code,
                    "verdict": verdict_name,
                    "counts": verdict.to_dict() if verdict is not None else None,
                    "duration_s": elapsed,
                    "tests": rows,
                    "report": str(Path(report_dir) / "report.html") if report else None,
                    **({"baseline": _gate_json(gate, saved)} if gate is not None else {}),
                }
            )
        )
    else:
        print_table(out, rows, report, elapsed, Path(report_dir) if report else None)
        if gate is not None:
            _print_gate(out, gate, saved, save=baseline is not None and baseline.save)
        if verdict is not None:
            out.print(f"{verdict.describe()} in {elapsed:.0f} s: {verdict_name.upper()} (exit {code})")
    if code == EXIT_INTERRUPTED:
        console.print("interrupted")
    elif code == EXIT_KIT_ERROR and verdict is None:
        console.print(f"[red]error:[/] the drill ran no test to judge (pytest exit code {pytest_code})")
    return code


def _judge_against_history(
    report: dict[str, Any],
    history: History,
    settings: GateSettings,
    report_dir: Path,
    collector: ReportCollector | None,
) -> Gate:
    """Judge the run's report against its history; write report.json and report.html again, as judged.

    The HTML draws its charts from the session's results (report.json keeps no single request)
    and takes every verdict from the judged document, so the two files agree.
    """
    from failover_tests.report import render_html, write_report_json

    gate = apply(report, history, settings.tolerance)
    write_report_json(gate.report, report_dir)
    if collector is not None:
        render_html(collector.results, gate.report, report_dir)
    return gate


def _save_baseline(settings: GateSettings | None, gate: Gate | None, code: int, report_path: Path) -> Path | None:
    """With `--baseline-save`, a green run's report.json joins the history; None when nothing was saved."""
    if settings is None or not settings.save or gate is None or code != EXIT_PASSED:
        return None
    return save_baseline(report_path, str(gate.report["generated_at"]), settings.dir)


def _print_gate(out: Console, gate: Gate, saved: Path | None, *, save: bool) -> None:
    """One line per regression, one for the gate, its notes, and whether the run joined the history."""
    for judged in gate.regressions:
        out.print(f"[red]REGRESSION[/] {escape(judged.figure.scenario)}: {escape(judged.message)}", highlight=False)
    out.print(gate.describe(), markup=False, highlight=False)
    for note in gate.report["baseline"]["notes"]:
        out.print(f"  {note}", markup=False, highlight=False)
    if saved is not None:
        out.print(f"saved as a green baseline: {saved}", markup=False, highlight=False)
    elif save:
        out.print("not saved as a baseline: the run is not green", markup=False, highlight=False)


def _gate_json(gate: Gate, saved: Path | None) -> dict[str, Any]:
    """The drift gate's part of `--json`: what it judged, what regressed, where the run was saved."""
    return {
        "summary": gate.describe(),
        "judged": len(gate.judgements),
        "runs": len(gate.history.runs),
        "regressions": [{"scenario": j.figure.scenario, "message": j.message} for j in gate.regressions],
        "notes": list(gate.report["baseline"]["notes"]),
        "saved": str(saved) if saved is not None else None,
    }


def _write_junit(path: Path | None, report: dict[str, Any], code: int, why: str) -> None:
    """The run's JUnit XML; without a report.json, one error testcase that says why."""
    if path is None:
        return
    from failover_tests.report.junit import write_junit

    if not report.get("tests"):
        error = {"name": "stackdrill drill", "nodeid": "stackdrill", "outcome": "error", "message": why}
        report = {**report, "verdict": report.get("verdict", "error"), "exit_code": code, "tests": [error]}
    write_junit(report, path)


def _load_report(path: Path, *, not_before: float) -> dict[str, Any]:
    """This run's report.json, or {} if it was not written (an older one is not this run's)."""
    try:
        if path.stat().st_mtime < not_before - 1.0:
            return {}
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


_BAD_STATUS = ("fail", "error")


def rows_of(outcomes: Sequence[Outcome], report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per test the drill started, with its scenario's fault and worst figures if any."""
    by_name = {s["name"]: s for s in report.get("scenarios", [])}
    rows = []
    for item in outcomes:
        docs = [by_name[n] for n in item.scenarios if n in by_name]
        doc = next((d for d in docs if d.get("status") in _BAD_STATUS), docs[0] if docs else {})
        rows.append({
            "test": item.name,
            "nodeid": item.nodeid,
            "fault": doc.get("fault") or "",
            "verdict": item.outcome,
            "worst": doc.get("worst") or {},
            "duration_s": round(item.duration_s, 1),
            "message": item.message,
        })  # fmt: skip
    return rows


def _fmt_worst(worst: dict[str, Any]) -> str:
    parts = []
    if worst.get("success_ratio") is not None:
        parts.append(f"success {100 * worst['success_ratio']:.1f}%")
    if worst.get("p99_ms") is not None:
        parts.append(f"p99 {worst['p99_ms']:.0f} ms")
    if worst.get("longest_failure_run"):
        parts.append(f"{worst['longest_failure_run']} failures in a row")
    if worst.get("fallback_share"):
        parts.append(f"fallback {100 * worst['fallback_share']:.1f}% ({worst.get('fallback_where', '')})")
    if worst.get("recovery_checked"):
        recovery = worst.get("recovery_s")
        parts.append("no recovery" if recovery is None else f"recovery {recovery:.1f} s")
    return ", ".join(parts)


def _fmt_requests(worst: dict[str, Any]) -> str:
    """Requests per window, all paths together: `before 60, during 180, after 150`."""
    by_window = worst.get("requests_by_window") or {}
    return ", ".join(f"{name} {count}" for name, count in by_window.items())


_COLOURS = {"passed": "green", "failed": "red", "error": "yellow", "skipped": "dim", "interrupted": "magenta"}


def print_table(
    out: Console,
    rows: list[dict[str, Any]],
    report: dict[str, Any],
    elapsed: float,
    report_dir: Path | None,
    *,
    title: str = "failover drill",
) -> None:
    """The drill's verdict table, its failures and errors, and where the report is."""
    table = Table(title=title)
    for col in ("scenario / test", "fault", "outcome", "worst numbers", "requests per window", "time"):
        table.add_column(col)
    for r in rows:
        verdict = f"[{_COLOURS.get(r['verdict'], 'white')}]{r['verdict'].upper()}[/]"
        first_line = r["message"].strip().splitlines()[0] if r["message"].strip() else ""
        worst = _fmt_worst(r["worst"]) or (first_line[:100] if r["verdict"] != "passed" else "")
        table.add_row(r["test"], r["fault"], verdict, worst, _fmt_requests(r["worst"]), f"{r['duration_s']:.1f} s")
    out.print(table)
    for r in rows:
        if r["verdict"] == "failed":
            out.print(f"[red]FAILED[/] {r['test']}: {r['message']}")
    errors = [r for r in rows if r["verdict"] == "error"]
    if errors:
        out.print("errors of the kit's run (not verdicts on the topology):")
        for r in errors:
            out.print(f"[yellow]ERROR[/] {r['test']}: {r['message']}")
    spof = report.get("spof") or []
    if spof:
        out.print(f"single points of failure: {'; '.join(str(s) for s in spof)}")
    if report_dir is not None:
        out.print(f"report: {report_dir / 'report.html'} ({elapsed:.0f} s)")
