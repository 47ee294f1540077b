"""`stackdrill train`: a live dashboard and guided lessons on a real stack; the terminal side.

Brings a stack up (or attaches to a running one with ``--stack-name``), starts a session
(continuous traffic, map, status-truth flag, fault panel), serves the dashboard on 127.0.0.1, and
plays a lesson: for a room (the page's "next" button) or unattended (``--auto``, ending with a
verdict table like a drill's). Ctrl-C or SIGTERM reverts every fault, stops the traffic and tears
the stack down unless it was attached. ``--list`` touches nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from failover_tests.train import lesson as lesson_mod
from failover_tests.train.lesson import Lesson
from failover_tests.train.runner import StepVerdict
from infra.errors import ScenarioError, UnknownStack

_COLOURS = {"passed": "green", "failed": "red", "error": "yellow"}


def print_lessons(out: Console, *, as_json: bool) -> None:
    """The shipped lessons: name, title, topology, steps (validated, so a broken one says why)."""
    rows: list[dict[str, object]] = []
    for path in lesson_mod.shipped():
        try:
            found = lesson_mod.load_file(path)
            rows.append(
                {"name": found.name, "title": found.title, "topology": found.topology, "steps": len(found.steps)}
            )
        except ScenarioError as exc:
            rows.append({"name": path.stem, "title": f"INVALID: {exc}", "topology": "", "steps": 0})
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="lessons (stackdrill train LESSON)")
    for col in ("lesson", "title", "topology", "steps"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["name"]), str(r["title"]), str(r["topology"]), str(r["steps"]))
    out.print(table)


def exit_code(verdicts: Sequence[StepVerdict], steps: int) -> int:
    """0 when every step ran and passed, 1 when a check failed, 3 when an action could not run."""
    if any(v.outcome == "error" for v in verdicts) or len(verdicts) < steps:
        return 3
    return 0 if all(v.passed for v in verdicts) else 1


def print_verdicts(out: Console, lesson: Lesson, verdicts: Sequence[StepVerdict], *, as_json: bool) -> None:
    """The lesson's verdict table, like the drill's (or JSON)."""
    if as_json:
        doc = {
            "lesson": lesson.name,
            "passed": exit_code(verdicts, len(lesson.steps)) == 0,
            "steps": [v.to_dict() for v in verdicts],
        }
        out.print_json(json.dumps(doc))
        return
    table = Table(title=f"lesson {lesson.name}")
    for col in ("step", "action", "outcome", "checks", "time"):
        table.add_column(col)
    for v in verdicts:
        outcome = f"[{_COLOURS.get(v.outcome, 'white')}]{v.outcome.upper()}[/]"
        if v.error is not None:
            detail = v.error
        elif v.failures:
            detail = "; ".join(c.message for c in v.failures)
        else:
            detail = f"{len(v.checks)} checks passed" if v.checks else "-"
        table.add_row(f"{v.index + 1}. {v.title}", v.action, outcome, detail, f"{v.duration_s:.1f} s")
    for step in lesson.steps[len(verdicts) :]:
        table.add_row(step.title, step.action.describe() if step.action else "-", "[dim]NOT RUN[/]", "", "")
    out.print(table)


def run_train(
    lesson: str | None,
    *,
    topology: str,
    stack_name: str,
    port: int,
    auto: bool,
    console: Console,
    out: Console,
    as_json: bool = False,
) -> int:
    """Run a training session; the exit code (0 also for a free-play session ended by Ctrl-C: 130 is raised)."""
    from failover_tests.stack import provision
    from failover_tests.train.live import MAX_SESSION_S
    from failover_tests.train.runner import LessonPlayer
    from failover_tests.train.server import DashboardServer
    from failover_tests.train.session import Session, SessionSettings
    from infra import topology as topo_mod
    from infra.leases import DRILL_TTL_S
    from infra.lifecycle import StackManager

    # Every input is checked before anything is created.
    chosen = lesson_mod.load(lesson) if lesson else None
    if auto and chosen is None:
        raise ScenarioError("--auto plays a lesson: name one (see stackdrill train --list)")
    if not 0 <= port <= 65535:
        raise ScenarioError(f"--port {port}: give a TCP port (1-65535), or 0 for any free one")
    topo_name = topology or (chosen.topology if chosen else "default")
    topo = topo_mod.load(topo_name)
    attached = bool(stack_name)
    name = stack_name or f"train{os.getpid()}"
    if attached and not StackManager(name).exists():
        raise UnknownStack(
            f"no stack named {name} to attach to; bring one up (stackdrill up -s {name}) or leave -s out"
        )

    started = time.monotonic()
    with console.status(f"{'attaching to' if attached else 'bringing up'} stack {name} ({topo_name})"):
        stack = provision(topo, name, keep=attached)
    console.print(f"stack {name} ready in {time.monotonic() - started:.0f} s")
    try:
        settings = SessionSettings(
            rate_per_s=chosen.traffic.rate_per_s if chosen else 10.0,
            paths=tuple(chosen.traffic.paths) if chosen else SessionSettings().paths,
            # A stack this session owns has a lease: end the session well before it expires.
            max_s=MAX_SESSION_S if attached else min(MAX_SESSION_S, DRILL_TTL_S - 600.0),
        )
        session = Session(stack, settings)
        server = DashboardServer(session, port=port)
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(server.close)  # registered first: runs last, so the page sees the end
            cleanup.enter_context(session)
            server.start()
            console.print(f"[bold]dashboard: {server.url}[/]  (Ctrl-C ends the session and reverts every fault)")
            if chosen is not None:
                console.print(f"lesson {chosen.name}: {chosen.title} ({'auto' if auto else 'press Next on the page'})")
                verdicts = LessonPlayer(session, chosen, auto=auto).play()
                print_verdicts(out, chosen, verdicts, as_json=as_json)
                if auto:
                    return exit_code(verdicts, len(chosen.steps))
                console.print("the lesson is over; the dashboard stays up for free play until Ctrl-C")
            while not session.ended:
                session.stopping.wait(1.0)
            console.print("the session reached its time limit")
            return 0
    finally:
        if not attached:
            _teardown(console, name)


def _teardown(console: Console, name: str) -> None:
    """Tear the session's own stack down; a second Ctrl-C leaves it to `stackdrill reap`."""
    from infra.lifecycle import StackManager

    try:
        with console.status(f"tearing stack {name} down"):
            StackManager(name).down()
        console.print(f"stack {name} down")
    except KeyboardInterrupt:
        console.print(f"teardown of {name} skipped; remove it with: stackdrill reap --remove -s {name}")
        raise
