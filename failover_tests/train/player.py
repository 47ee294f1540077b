"""Playing a lesson: each step's narrative and question on the page, the step run and judged like a
drill (one test per step in the report), the answer revealed, then the next step: on the
instructor's word, or at once with `auto`.

The results go to a `ReportCollector`, so a session saves as the same report.html as a drill.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from failover_tests.runner import ReportCollector, ScenarioRunner
from failover_tests.traffic import Probe
from failover_tests.train.lesson import Lesson, Step
from failover_tests.train.session import TrainSession
from infra.errors import SLOViolation, StackdrillError

log = logging.getLogger(__name__)


def nodeid(lesson: Lesson, step: Step) -> str:
    """The step's test id in the report."""
    return f"lesson/{lesson.name}::{step.scenario.name}"


class Player:
    """Plays one lesson on a session."""

    def __init__(
        self,
        session: TrainSession,
        lesson: Lesson,
        collector: ReportCollector,
        *,
        auto: bool,
        update: Callable[[str], None],
        say: Callable[[str], None] = lambda text: None,
    ) -> None:
        """`update(topology)` applies a topology in place (a Pulumi update); `say` prints for the room."""
        self.session, self.lesson, self.collector = session, lesson, collector
        self.auto, self.update, self.say = auto, update, say
        self.doc: dict[str, Any] = {
            "name": lesson.name,
            "title": lesson.title,
            "index": 0,
            "waiting": False,
            "finished": False,
            "verdict": None,
            "steps": [
                {"title": s.title, "narrative": s.narrative, "question": s.question, "answer": None, "state": "pending"}
                for s in lesson.steps
            ],
        }
        with session.lesson.lock:
            session.lesson.doc = self.doc

    def _set(self, **changes: Any) -> None:
        with self.session.lesson.lock:
            self.doc.update(changes)

    def _set_step(self, index: int, **changes: Any) -> None:
        with self.session.lesson.lock:
            self.doc["steps"][index].update(changes)

    def play(self) -> None:
        """Every step in order; returns when the lesson is over (Ctrl-C goes through)."""
        for index, step in enumerate(self.lesson.steps):
            self._set(index=index)
            self.say(f"[{index + 1}/{len(self.lesson.steps)}] {step.title}\n{step.narrative}")
            if step.question:
                self.say(f"Question for the room: {step.question}")
            if not self.auto:
                self._wait_for_room()
            self._set_step(index, state="running")
            self.session.log(f"step {index + 1}: {step.title}")
            state = self._run(step)
            self._set_step(index, state=state, answer=step.answer)
            self.session.log(f"step {index + 1}: {state}")
            if step.answer:
                self.say(f"Answer: {step.answer}")
        verdict = self.collector.tests.verdict()
        self._set(finished=True, verdict=f"{verdict.verdict}: {verdict.describe()}", waiting=False)

    def _wait_for_room(self) -> None:
        event = self.session.lesson.next_event
        event.clear()
        self._set(waiting=True)
        self.say("Press 'Next step' on the dashboard to run it.")
        while not event.wait(0.5):
            pass
        self._set(waiting=False)

    def _run(self, step: Step) -> str:
        """Run and judge one step as a test of the report; its state for the page."""
        test = nodeid(self.lesson, step)
        tests = self.collector.tests
        tests.start(test, (step.scenario.name,))
        runner = ScenarioRunner(self.session.stack, self.collector, test, (step.scenario.name,))
        action = None
        if step.update:
            target = step.update

            def action(probe: Probe) -> None:
                probe.mark(f"pulumi up {target}")
                self.update(target)

        t0 = time.monotonic()
        outcome, message, kit_error, state = "passed", "", False, "passed"
        try:
            result = runner.run(step.scenario, action=action)
            state = "caught" if result.status == "caught" else "passed"
        except SLOViolation as exc:
            outcome, message = "failed", str(exc)
        except StackdrillError as exc:
            outcome, message, kit_error = "failed", str(exc), True
        tests.phase(
            test, when="call", outcome=outcome, duration_s=time.monotonic() - t0, message=message, kit_error=kit_error
        )
        tests.phase(test, when="teardown", outcome="passed", duration_s=0.0)
        if outcome == "passed":
            return state
        log.warning("step %s: %s", step.scenario.name, message)
        return "error" if kit_error else "failed"
