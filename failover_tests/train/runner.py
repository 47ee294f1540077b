"""Plays a lesson on a session, step by step: for a room (the page's "next" button) or unattended (``auto``).

Per step: show the narrative and the question; (interactive: wait for "next"); run the action;
let the room watch ``watch_s``; then judge the step's checks, polled with `infra.wait.wait_until`
until they all pass or ``within_s`` runs out; reveal the answer with the verdicts; (interactive:
wait for "next"). The result is one `StepVerdict` per step, judged like a drill's checks. An
action that fails (a target that does not resolve, a fault that did not take effect) ends the
lesson with an error verdict: later steps would build on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from failover_tests.traffic import JSONValue
from failover_tests.train.lesson import Action, Expect, Lesson, Step
from failover_tests.train.session import Session
from failover_tests.verdict import Check
from infra import topology as topo_mod
from infra.errors import StackdrillError, StackError
from infra.topology import Topology
from infra.wait import Stopped, wait_until

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class StepVerdict:
    """One step as it ran: its action, its checks (the last evaluation) and how long it took."""

    index: int
    title: str
    action: str
    checks: tuple[Check, ...]
    started_s: float
    duration_s: float
    error: str | None = None

    @property
    def passed(self) -> bool:
        """No error and every check passed."""
        return self.error is None and all(c.passed for c in self.checks)

    @property
    def outcome(self) -> str:
        """passed, failed or error, as in the drill's table."""
        if self.error is not None:
            return "error"
        return "passed" if self.passed else "failed"

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, JSONValue]:
        """The verdict as a JSON-ready dict."""
        return {
            "index": self.index,
            "title": self.title,
            "action": self.action,
            "outcome": self.outcome,
            "checks": [c.to_dict() for c in self.checks],
            "started_s": round(self.started_s, 3),
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
        }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def judge_path(session: Session, expect: Expect, since_s: float) -> list[Check]:
    """A path check over the last ``window_s`` of settled traffic (or the whole step): one Check per bound."""
    assert expect.path is not None
    end = session.now_s() - session.settings.settle_s
    start = since_s if expect.window_s is None else end - expect.window_s
    window = "step" if expect.window_s is None else f"last {expect.window_s:g} s"
    stats = session.aggregator.window(expect.path, start, end, fallback_is_failure=expect.real)
    where = f"over [{start:.1f}s..{end:.1f}s]"
    success = "real success" if expect.real else "success"
    bounds: list[tuple[str, float | None, float | None, bool, str]] = [
        ("min_success", expect.min_success, stats.success_ratio, True, success),
        ("max_success", expect.max_success, stats.success_ratio, False, success),
        ("min_fallback_share", expect.min_fallback_share, stats.fallback_share, True, "fallback share"),
        ("max_fallback_share", expect.max_fallback_share, stats.fallback_share, False, "fallback share"),
        ("max_p99_ms", expect.max_p99_ms, stats.p99_ms, False, "p99"),
    ]
    checks = []
    for name, limit, observed, at_least, label in bounds:
        if limit is None:
            continue
        if observed is None:
            passed, message = False, f"{expect.path}: no requests {where}"
        else:
            passed = observed >= limit if at_least else observed <= limit
            if name == "max_p99_ms":
                shown, want = f"{observed:.0f} ms", f"{limit:.0f} ms"
            else:
                shown, want = _pct(observed), _pct(limit)
            op = (">=" if passed else "<") if at_least else ("<=" if passed else ">")
            message = f"{expect.path}: {label} {shown} {op} {want} {where} ({stats.count} requests)"
        checks.append(
            Check(
                name=name,
                path=expect.path,
                window=window,
                window_start_s=start,
                window_end_s=end,
                observed=observed,
                limit=limit,
                passed=passed,
                message=message,
            )
        )
    return checks


def judge_status(session: Session, expect: Expect) -> Check:
    """A status component's state on the page now, against the accepted states."""
    now = session.now_s()
    snapshot = session.snapshot
    component = expect.status_component or ""
    states = snapshot.components if snapshot is not None else None
    shown = None if states is None else states.get(component)
    want = " or ".join(expect.states)
    if states is None:
        passed, message = False, f"status page: not read, want {component} {want}"
    elif shown is None:
        passed, message = False, f"status page: no component {component} (it has {', '.join(states)})"
    else:
        passed = shown in expect.states
        message = f"status page says {component} {shown}" + ("" if passed else f", want {want}")
    return Check(
        name="status_state",
        path=component,
        window="now",
        window_start_s=now,
        window_end_s=now,
        observed=None,
        limit=None,
        passed=passed,
        message=message,
    )


def judge_truth(session: Session, expect: Expect) -> Check:
    """Whether the status page tells the truth now (the live under-reporting rule), against what the lesson expects."""
    view = session.truth.latest
    truthful = not view.lying
    passed = truthful == expect.status_truthful
    said = view.headline() if view.lying else "the status page tells the truth"
    want = "" if passed else f" (the lesson expects it {'truthful' if expect.status_truthful else 'lying'})"
    return Check(
        name="status_truthful",
        path="status page",
        window="now",
        window_start_s=view.slice_start_s,
        window_end_s=view.slice_end_s,
        observed=1.0 if truthful else 0.0,
        limit=1.0 if expect.status_truthful else 0.0,
        passed=passed,
        message=said + want,
    )


def judge(session: Session, expect: Expect, since_s: float) -> list[Check]:
    """The checks one expectation makes now."""
    if expect.path is not None:
        return judge_path(session, expect, since_s)
    if expect.status_component is not None:
        return [judge_status(session, expect)]
    return [judge_truth(session, expect)]


class LessonPlayer:
    """Runs a lesson's steps on a session and publishes their progress to the page."""

    def __init__(
        self,
        session: Session,
        lesson: Lesson,
        *,
        auto: bool,
        load_topology: Callable[[str], Topology] = topo_mod.load,
    ) -> None:
        """A player at the first step."""
        self.session = session
        self.lesson = lesson
        self.auto = auto
        self.load_topology = load_topology
        self.verdicts: list[StepVerdict] = []

    def play(self) -> list[StepVerdict]:
        """Every step in turn; stops after a step whose action failed. Returns the verdicts."""
        for index, step in enumerate(self.lesson.steps):
            verdict = self._step(index, step)
            self.verdicts.append(verdict)
            if verdict.error is not None:
                break
        self._publish(len(self.lesson.steps) - 1, None, phase="finished", waiting=False)
        return list(self.verdicts)

    def _step(self, index: int, step: Step) -> StepVerdict:
        """Run one step: wait, act, watch, judge, reveal."""
        self._publish(index, step, phase="ready", waiting=not self.auto)
        if not self.auto:
            self.session.wait_next()
        started = self.session.now_s()
        t0 = time.monotonic()
        label = step.action.describe() if step.action else "(narrative only)"
        self._publish(index, step, phase="running", waiting=False)
        try:
            if step.action is not None:
                self._act(step.action)
        except StackdrillError as exc:
            log.warning("step %d (%s): %s", index + 1, step.title, exc)
            verdict = StepVerdict(
                index=index,
                title=step.title,
                action=label,
                checks=(),
                started_s=started,
                duration_s=time.monotonic() - t0,
                error=str(exc).splitlines()[0],
            )
            self._publish(index, step, phase="done", waiting=False, verdict=verdict)
            return verdict
        if step.watch_s:
            self._pause(step.watch_s)
        self._publish(index, step, phase="judging", waiting=False)
        checks = self._judge(index, step, started)
        verdict = StepVerdict(
            index=index,
            title=step.title,
            action=label,
            checks=tuple(checks),
            started_s=started,
            duration_s=time.monotonic() - t0,
        )
        self._publish(index, step, phase="done", waiting=not self.auto, verdict=verdict)
        if not self.auto:
            self.session.wait_next()
        return verdict

    def _act(self, action: Action) -> None:
        """Do one action on the session's stack."""
        session = self.session
        if action.fault is not None:
            f = action.fault
            session.panel.apply(f.name, f.target, f.params, f.duration_s)
        elif action.update is not None:
            topology = self.load_topology(action.update.topology)
            edges = list(session.stack.edges)
            session.stack.update(topology)
            session.on_update(topology, edges)
        elif action.wait is not None:
            self._pause(action.wait.seconds)
        elif action.traffic is not None:
            session.traffic.set_rate(action.traffic.rate_per_s, action.traffic.duration_s)
        else:
            errors = session.panel.revert_all()
            if errors:
                raise StackError(f"revert all: {'; '.join(errors)}; run: stackdrill reap")

    def _pause(self, seconds: float) -> None:
        """Let time pass on the session; the session ending interrupts it."""
        if self.session.stopping.wait(seconds) or self.session.ended:
            raise KeyboardInterrupt

    def _judge(self, index: int, step: Step, since_s: float) -> list[Check]:
        """Poll the step's checks until all pass or ``within_s`` runs out; the last evaluation."""
        if not step.expect:
            return []
        last: list[Check] = []

        def evaluate() -> tuple[bool, str]:
            nonlocal last
            last = [c for e in step.expect for c in judge(self.session, e, since_s)]
            self._publish(index, step, phase="judging", waiting=False, checks=last)
            failed = [c.message for c in last if not c.passed]
            return not failed, "; ".join(failed)

        try:
            wait_until(
                evaluate,
                what=f"the checks of step {index + 1} ({step.title})",
                timeout_s=step.within_s,
                interval_s=0.5,
                stop=self.session.stopping,
            )
        except Stopped:
            raise KeyboardInterrupt from None
        except StackError as exc:  # the deadline: the last evaluation is the verdict
            log.info("%s", exc)
        return last

    def _publish(
        self,
        index: int,
        step: Step | None,
        *,
        phase: str,
        waiting: bool,
        verdict: StepVerdict | None = None,
        checks: list[Check] | None = None,
    ) -> None:
        """Tell the page where the lesson is."""
        lesson = self.lesson
        doc: dict[str, JSONValue] = {
            "name": lesson.name,
            "title": lesson.title,
            "index": index,
            "total": len(lesson.steps),
            "phase": phase,
            "waiting": waiting,
            "auto": self.auto,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }
        if step is not None:
            revealed = phase == "done"
            doc["step"] = {
                "title": step.title,
                "narrative": step.narrative,
                "question": step.question,
                "answer": step.answer if revealed else None,
                "has_answer": step.answer is not None,
                "action": step.action.describe() if step.action else None,
            }
        shown = verdict.checks if verdict is not None else checks
        doc["checks"] = [c.to_dict() for c in shown or ()]
        doc["outcome"] = verdict.outcome if verdict is not None else None
        doc["error"] = verdict.error if verdict is not None else None
        self.session.publish_lesson(doc)
