"""`stackdrill train`: a live game day on a real stack, for a room.

Brings the stack up (or attaches to a deployed one), starts continuous traffic on every path,
serves the dashboard on 127.0.0.1, and plays a lesson step by step (on the instructor's word, or
at once with `--auto`). Every exit path (the end, Ctrl-C, SIGTERM, a crash) reverts every fault,
stops the traffic, saves the session as a drill report and tears the stack down unless it was
attached.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from failover_tests.runner import ReportCollector
from failover_tests.train import lesson as lesson_mod
from failover_tests.train.lesson import Lesson
from failover_tests.train.player import Player
from failover_tests.train.server import TrainServer
from failover_tests.train.session import TrainSession
from infra.errors import EXIT_BAD_INPUT, ScenarioError

log = logging.getLogger(__name__)

# A fault from the panel is reverted once no browser has been connected for this long.
NO_BROWSER_REVERT_S = 20.0


def list_lessons(out: Console) -> None:
    """The shipped lessons as a table."""
    table = Table(title="lessons")
    for col in ("lesson", "topology", "steps", "title"):
        table.add_column(col)
    for name, path in lesson_mod.shipped().items():
        lesson = lesson_mod.load(str(path))
        table.add_row(name, lesson.topology, str(len(lesson.steps)), lesson.title)
    out.print(table)


def run_train(
    lesson_name: str | None,
    *,
    topology: str | None,
    stack_name: str,
    port: int,
    auto: bool,
    minutes: float,
    report_dir: Path,
    console: Console,
    out: Console,
) -> int:
    """Run a session; the exit code (with --auto: the lesson's verdict, like a drill)."""
    from failover_tests.stack import DrillStack, provision
    from infra import topology as topo_mod
    from infra.lifecycle import StackManager
    from infra.toolchain import require_ready

    lesson: Lesson | None = lesson_mod.load(lesson_name) if lesson_name else None
    if auto and lesson is None:
        raise ScenarioError("--auto plays a lesson: give its name (stackdrill train --list)")
    if not 1 <= minutes <= 480:
        raise ScenarioError(f"--minutes {minutes:g}: give 1 to 480")
    topo_name = topology or (lesson.topology if lesson else "default")
    topo = topo_mod.load(topo_name)
    require_ready()
    name = stack_name or f"train{os.getpid() % 100000}"
    attached = bool(stack_name) and StackManager(name).exists()
    console.print(f"\\[train] {'attaching to' if attached else 'bringing up'} stack {name} ({topo_name})")
    t0 = time.monotonic()
    stack: DrillStack = provision(topo, name, keep=attached)
    console.print(f"\\[train] stack {name} ready in {time.monotonic() - t0:.0f} s")
    session = TrainSession(stack, topology_name=topo_name)
    collector = ReportCollector(report_dir)
    collector.meta.update({"stack": name, "topology": dict(stack.outputs.topology), "seed": stack.seed})
    if lesson is not None:
        collector.meta["lesson"] = lesson.name
    server = TrainServer(session, session, port=port, title=f"stackdrill train: {lesson.title if lesson else name}")
    code = 0
    try:
        session.start()
        server.start()
        out.print(f"[bold]dashboard: {server.url}[/]  (Ctrl-C ends the session, reverts every fault)")
        deadline = time.monotonic() + minutes * 60
        if lesson is not None:

            def update(target: str) -> None:
                session.stack.update(topo_mod.load(target), rolling=True)
                session.topology_name = target

            player = Player(session, lesson, collector, auto=auto, update=update, say=out.print)
            worker = threading.Thread(target=_play, args=(player, session), daemon=True, name="train-lesson")
            worker.start()
            while worker.is_alive() and time.monotonic() < deadline:
                worker.join(0.5)
                _watch_browser(session, server)
            if auto:
                code = _finish(collector, out, lesson)
                return code
            out.print("\\[train] lesson over: free play on the dashboard until Ctrl-C")
        while time.monotonic() < deadline:
            time.sleep(0.5)
            _watch_browser(session, server)
        out.print(f"\\[train] {minutes:g} min are up: ending the session")
        return code
    finally:
        # Faults, traffic and the stack first; the terminal may be gone (a closed pipe), so
        # nothing printed may stand in the way of the teardown.
        server.stop()
        active = len(session.panel.ids())
        problems = session.close()
        try:
            if collector.results and not auto:
                _finish(collector, out, lesson)
        finally:
            if not attached:
                _say(console, f"\\[train] tearing down stack {name}")
                stack.manager.down()
            for problem in problems:
                _say(console, f"[yellow]{problem}[/]")
            _say(console, f"\\[train] reverted {active} fault(s) of the dashboard; traffic stopped")


def _say(console: Console, text: str) -> None:
    """Print unless the terminal is gone."""
    with contextlib.suppress(OSError):
        console.print(text)


def _play(player: Player, session: TrainSession) -> None:
    try:
        player.play()
    except Exception as exc:  # noqa: BLE001 - shown on the page and the terminal; Ctrl-C ends the session
        session.log(f"lesson stopped: {exc}")
        log.exception("lesson stopped")


def _watch_browser(session: TrainSession, server: TrainServer) -> None:
    """Revert the panel's faults when no browser has been connected for a while."""
    if session.panel.ids() and server.clients() == 0 and server.idle_s() > NO_BROWSER_REVERT_S:
        n = session.panel.revert_all()
        session.log(f"no browser for {NO_BROWSER_REVERT_S:.0f} s: reverted {n} fault(s)")


def _finish(collector: ReportCollector, out: Console, lesson: Lesson | None) -> int:
    """Save the session as a drill report, print the drill's verdict table; the exit code."""
    from stackdrill.drill import print_table, rows_of

    written = collector.write()
    verdict = collector.tests.verdict()
    report: dict[str, object] = {}
    if written is not None:
        import json

        report = json.loads(written[0].read_text())
    rows = rows_of(collector.tests.outcomes(), report)
    print_table(
        out,
        rows,
        report,
        0.0,
        written[1].parent if written else None,
        title=f"lesson {lesson.name}" if lesson else "training session",
    )
    out.print(f"{verdict.describe()}: {verdict.verdict.upper()} (exit {verdict.exit_code})")
    return verdict.exit_code if verdict.tests else EXIT_BAD_INPUT
