"""`stackdrill drill`: run the failover suites through pytest with a progress bar and a summary table."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

SUITES = Path(__file__).parent / "suites"


class _DrillProgress:
    """pytest plugin object: drives the progress bar and keeps each test's outcome."""

    def __init__(self, console: Console, names: list[str] | None = None) -> None:
        self.console = console
        self.lines = not console.is_terminal  # no live bar in a log: one line per finished test instead
        self.done = 0
        self.total = 0
        self.names = [n.replace("-", "_").lower() for n in names or []]
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        )  # fmt: skip
        self.task = self.progress.add_task("collecting", total=None)
        self.rows: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep only the scenarios named on the command line (by test or scenario name)."""
        if not self.names:
            return
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            label = getattr(getattr(item, "scenario", None), "name", "")
            hay = f"{item.nodeid} {label}".replace("-", "_").lower()
            (keep if any(n in hay for n in self.names) else drop).append(item)
        items[:] = keep
        config.hook.pytest_deselected(items=drop)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        if self.lines:
            if self.total:
                self.console.print(f"[drill] {self.total} scenarios; bringing the stack up", markup=False)
            return
        self.progress.update(self.task, total=self.total, description="bringing the stack up")
        self.progress.start()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(str(report.longrepr).strip().splitlines()[-1])

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.progress.update(self.task, description=location[2])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = self.rows.setdefault(report.nodeid, {"outcome": "passed", "duration_s": 0.0, "message": ""})
        row["duration_s"] += report.duration
        if report.failed:
            row["outcome"] = "error" if report.when != "call" else "failed"
            text = getattr(report.longrepr, "reprcrash", None)
            row["message"] = text.message if text is not None else str(report.longrepr).strip().splitlines()[-1]
        elif report.skipped and report.when in ("setup", "call"):
            row["outcome"] = "skipped"
        if report.when == "teardown":
            self.progress.advance(self.task)
            self.done += 1
            if self.lines:
                name = report.nodeid.split("::", 1)[-1]
                self.console.print(
                    f"[drill] {self.done}/{self.total} {name} {row['outcome'].upper()} in {row['duration_s']:.1f} s",
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
) -> int:
    """Run the suites (or the named scenarios); print the summary; return the exit code."""
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
    t0 = time.monotonic()
    code = int(pytest.main(args, plugins=[plugin]))
    elapsed = time.monotonic() - t0
    if code == int(pytest.ExitCode.NO_TESTS_COLLECTED):
        console.print(f"[red]error:[/] no scenario matches {' '.join(scenarios)}; see failover_tests/suites/")
        return 2
    report = _load_report(Path(report_dir) / "report.json")
    rows = _rows(plugin, report)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "exit_code": code,
                    "duration_s": elapsed,
                    "scenarios": rows,
                    "report": str(Path(report_dir) / "report.html"),
                }
            )
        )
    else:
        _table(out, rows, report, elapsed, Path(report_dir))
    for err in plugin.errors:
        console.print(f"[red]error:[/] {err}")
    return 0 if code == 0 else 1


def _load_report(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _rows(plugin: _DrillProgress, report: dict[str, Any]) -> list[dict[str, Any]]:
    by_name = {s["name"]: s for s in report.get("scenarios", [])}
    nodes = (report.get("meta") or {}).get("nodes") or {}
    rows = []
    for nodeid, row in plugin.rows.items():
        name = nodes.get(nodeid) or nodeid.split("::")[-1]
        sc = by_name.get(name)
        worst = (sc or {}).get("worst") or {}
        rows.append({
            "test": name if sc else nodeid.split("/")[-1],
            "fault": (sc or {}).get("fault") or "",
            "verdict": row["outcome"],
            "worst": worst,
            "duration_s": round(row["duration_s"], 1),
            "message": row["message"],
        })  # fmt: skip
    return rows


def _fmt_worst(worst: dict[str, Any]) -> str:
    parts = []
    if worst.get("success_ratio") is not None:
        parts.append(f"success {100 * worst['success_ratio']:.1f}%")
    if worst.get("p99_ms") is not None:
        parts.append(f"p99 {worst['p99_ms']:.0f} ms")
    if worst.get("failure_run"):
        parts.append(f"{worst['failure_run']} failures in a row")
    if worst.get("recovery_s") is not None:
        parts.append(f"recovery {worst['recovery_s']:.1f} s")
    return ", ".join(parts)


def _table(out: Console, rows: list[dict[str, Any]], report: dict[str, Any], elapsed: float, report_dir: Path) -> None:
    table = Table(title="failover drill")
    for col in ("scenario", "fault", "verdict", "worst numbers", "time"):
        table.add_column(col)
    colours = {"passed": "green", "failed": "red", "error": "red", "skipped": "yellow"}
    for r in rows:
        verdict = f"[{colours.get(r['verdict'], 'white')}]{r['verdict'].upper()}[/]"
        worst = _fmt_worst(r["worst"]) or (r["message"][:80] if r["verdict"] != "passed" else "")
        table.add_row(r["test"], r["fault"], verdict, worst, f"{r['duration_s']:.1f} s")
    out.print(table)
    for r in rows:
        if r["verdict"] in ("failed", "error"):
            out.print(f"[red]{r['test']}[/]: {r['message']}")
    spof = report.get("spof") or []
    if spof:
        out.print(f"single points of failure: {'; '.join(str(s) for s in spof)}")
    passed = sum(r["verdict"] == "passed" for r in rows)
    out.print(
        f"{passed} passed, {len(rows) - passed} not passed in {elapsed:.0f} s; report: {report_dir / 'report.html'}"
    )
