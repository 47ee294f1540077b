"""Lessons as data: the scenario format extended with steps, each with a narrative for the room,
an optional question and its answer, and the step's action (a fault, a Pulumi update in place, or
just traffic) judged like a drill before the lesson moves on.

Shipped lessons live in `failover_tests/lessons/*.yaml`; any path works too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from failover_tests.scenario.spec import Scenario, validate
from infra.errors import ScenarioError

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Model):
    """One step: what the room hears, what it is asked, what the kit does and checks."""

    title: str = Field(min_length=1)
    narrative: str = Field(min_length=1)
    question: str | None = None
    answer: str | None = None
    # The action and its checks: a scenario (fault, traffic, SLOs, `expect`), judged like a drill.
    scenario: Scenario
    # A Pulumi update in place to this topology (name or path) while the scenario's traffic flows;
    # the scenario then has no fault, and its "during" window is the update.
    update: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if self.update and self.scenario.fault is not None:
            raise ValueError(f"step '{self.title}': give a fault or an update, not both")
        if self.answer and not self.question:
            raise ValueError(f"step '{self.title}': an answer needs its question")
        return self


class Lesson(_Model):
    """A guided training session on one topology."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str = Field(min_length=1)
    description: str = ""
    topology: str = "default"
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_steps(self) -> Lesson:
        names = [s.scenario.name for s in self.steps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"scenario names must be unique within a lesson; repeated: {', '.join(dupes)}")
        return self


def parse(data: Any, source: str) -> Lesson:
    """Validate a lesson mapping; ScenarioError with one line on any mistake."""
    return validate(Lesson, data, source, "a lesson")


def shipped() -> dict[str, Path]:
    """name -> file of every lesson shipped with the kit."""
    return {p.stem: p for p in sorted(LESSONS_DIR.glob("*.yaml"))}


def load(name_or_path: str) -> Lesson:
    """A shipped lesson by name, or a lesson file by path; ScenarioError naming what exists."""
    path = shipped().get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise ScenarioError(
            f"unknown lesson '{name_or_path}'; shipped lessons: {', '.join(shipped()) or 'none'} (or give a path)"
        )
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path.name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse(doc, path.name)
