"""Lessons as data: the scenario format extended with steps, validated before anything runs.

A lesson names a topology and a traffic rate, then steps. Each step has a narrative for the
room, an optional question (its answer is revealed once the step has run), at most one action,
and what the kit checks before moving on::

    name: outage-story
    title: The outage story
    topology: naive
    traffic: {rate_per_s: 10}
    steps:
      - title: A slow model
        narrative: The model gets 2 s slower.
        question: What happens to the web page?
        answer: It fails too: every request waits on the same worker pool.
        action: {fault: {name: latency, target: api_model, params: {latency_ms: 2000}}}
        watch_s: 10
        expect:
          - {path: web.home, max_success: 0.5}
          - {status_truthful: false}

Actions: ``fault`` (a catalog fault, held for ``duration_s`` or until a ``revert_all``),
``update`` (an in-place Pulumi update to another topology), ``wait``, ``revert_all`` and
``traffic`` (another rate, for ``duration_s`` or for good). Checks: a path's success share,
fallback share or p99 over the last ``window_s`` of settled traffic (or the whole step), a
status component's state, and whether the status page tells the truth (`failover_tests.train.truth`).
Every mistake is one line naming the file, the key and the value (`ScenarioError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from failover_tests.faults import validate_params
from failover_tests.scenario.spec import PATHS, FaultSpec, _one_line
from infra import topology as topo_mod
from infra.errors import ScenarioError, TopologyError

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
State = Literal["operational", "degraded", "outage"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultAction(FaultSpec):
    """A catalog fault on a target, held for ``duration_s`` (None: until a revert_all or the lesson's end)."""

    duration_s: float | None = Field(None, gt=0, le=3600)

    @model_validator(mode="after")
    def _known(self) -> FaultAction:
        """The catalog's check, as a validation error: the one line then says which step it is."""
        try:
            validate_params(self.name, self.params)
        except ScenarioError as exc:
            raise ValueError(str(exc)) from None
        return self


class UpdateAction(_Model):
    """An in-place Pulumi update of the running stack to another topology (a name or a Pulumi.<name>.yaml path)."""

    topology: str

    @model_validator(mode="after")
    def _exists(self) -> UpdateAction:
        try:
            topo_mod.load(self.topology)
        except TopologyError as exc:
            raise ValueError(str(exc)) from None
        return self


class WaitAction(_Model):
    """Let the room watch for a while."""

    seconds: float = Field(gt=0, le=3600)


class TrafficAction(_Model):
    """Every path at another rate, for ``duration_s`` (None: for the rest of the lesson)."""

    rate_per_s: float = Field(gt=0, le=100)
    duration_s: float | None = Field(None, gt=0, le=3600)


class Action(_Model):
    """Exactly one of: fault, update, wait, revert_all, traffic."""

    fault: FaultAction | None = None
    update: UpdateAction | None = None
    wait: WaitAction | None = None
    revert_all: bool = False
    traffic: TrafficAction | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [k for k in ("fault", "update", "wait", "traffic") if getattr(self, k) is not None]
        given += ["revert_all"] if self.revert_all else []
        if len(given) != 1:
            shown = ", ".join(given) or "none"
            raise ValueError(f"an action is exactly one of fault, update, wait, revert_all, traffic; got {shown}")
        return self

    @property
    def kind(self) -> str:
        """fault, update, wait, revert_all or traffic."""
        for k in ("fault", "update", "wait", "traffic"):
            if getattr(self, k) is not None:
                return k
        return "revert_all"

    def describe(self) -> str:
        """One line for the room and the verdict table."""
        if self.fault is not None:
            params = ", ".join(f"{k}={v}" for k, v in self.fault.params.items())
            held = f" for {self.fault.duration_s:g} s" if self.fault.duration_s else ""
            return f"{self.fault.name}({self.fault.target}{': ' + params if params else ''}){held}"
        if self.update is not None:
            return f"pulumi update in place to {self.update.topology}"
        if self.wait is not None:
            return f"wait {self.wait.seconds:g} s"
        if self.traffic is not None:
            held = f" for {self.traffic.duration_s:g} s" if self.traffic.duration_s else ""
            return f"traffic {self.traffic.rate_per_s:g}/s per path{held}"
        return "revert every fault"


class Expect(_Model):
    """One check before moving on: a path's figures, a status component's state, or the page's truthfulness."""

    path: str | None = None
    min_success: float | None = Field(None, ge=0, le=1)
    max_success: float | None = Field(None, ge=0, le=1)
    min_fallback_share: float | None = Field(None, ge=0, le=1)
    max_fallback_share: float | None = Field(None, ge=0, le=1)
    max_p99_ms: float | None = Field(None, gt=0)
    real: bool = False  # count fallback answers as failures
    window_s: float | None = Field(5.0, ge=1, le=600)  # None: the whole step, from its action's start
    status_component: str | None = None
    state: list[State] | None = None  # one state, or a list of the accepted ones
    status_truthful: bool | None = None

    @field_validator("state", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Expect:
        kinds = [k for k in ("path", "status_component", "status_truthful") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a check is exactly one of path, status_component, status_truthful; got {', '.join(kinds) or 'none'}"
            )
        bounds = ("min_success", "max_success", "min_fallback_share", "max_fallback_share", "max_p99_ms")
        if self.path is not None:
            if self.path not in PATHS:
                raise ValueError(f"unknown path '{self.path}'; paths: {', '.join(PATHS)}")
            if all(getattr(self, b) is None for b in bounds):
                raise ValueError(f"check on {self.path} has no bound; give one of {', '.join(bounds)}")
        elif any(getattr(self, b) is not None for b in bounds):
            raise ValueError(f"{', '.join(b for b in bounds if getattr(self, b) is not None)} needs a path")
        if self.status_component is not None and self.state is None:
            raise ValueError(f"check on status component {self.status_component} needs a state")
        if self.state is not None and self.status_component is None:
            raise ValueError("state needs a status_component")
        return self

    @property
    def states(self) -> tuple[State, ...]:
        """The accepted states of a status check."""
        return tuple(self.state or ())


class Step(_Model):
    """One step of a lesson: what the room hears, what the kit does, what it checks."""

    title: str = Field(min_length=1)
    narrative: str = Field(min_length=1)
    question: str | None = None
    answer: str | None = None
    action: Action | None = None
    watch_s: float = Field(0.0, ge=0, le=600)  # after the action, before the checks: the room watches
    within_s: float = Field(20.0, gt=0, le=900)  # the checks must all pass within this
    expect: list[Expect] = Field(default_factory=list)

    @model_validator(mode="after")
    def _answer_has_question(self) -> Step:
        if self.answer is not None and self.question is None:
            raise ValueError(f"step '{self.title}' has an answer but no question")
        return self


class LessonTraffic(_Model):
    """The traffic the lesson starts with."""

    rate_per_s: float = Field(10.0, gt=0, le=100)
    paths: list[str] = Field(default_factory=lambda: list(PATHS))

    @model_validator(mode="after")
    def _known_paths(self) -> LessonTraffic:
        for p in self.paths:
            if p not in PATHS:
                raise ValueError(f"unknown path '{p}'; paths: {', '.join(PATHS)}")
        return self


class Lesson(_Model):
    """A guided training session."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str = Field(min_length=1)
    description: str = ""
    topology: str = "default"
    traffic: LessonTraffic = LessonTraffic()
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Lesson:
        try:
            topo_mod.resolve_path(self.topology)
        except TopologyError as exc:
            raise ValueError(f"topology: {exc}") from None
        for i, step in enumerate(self.steps):
            for check in step.expect:
                if check.path is not None and check.path not in self.traffic.paths:
                    raise ValueError(
                        f"steps.{i}: check on {check.path}, which the lesson's traffic does not send "
                        f"({', '.join(self.traffic.paths)})"
                    )
        return self


def parse(data: Any, source: str = "lesson") -> Lesson:
    """Validate a lesson given as a mapping; ScenarioError with one line on any mistake."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a lesson must be a mapping")
    try:
        return Lesson.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_one_line(exc, source).splitlines()[0]) from None
    except ScenarioError as exc:  # a fault's parameters, checked by the catalog
        raise ScenarioError(f"{source}: {exc}") from None


def load_file(path: Path) -> Lesson:
    """One lesson from a YAML file."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"lesson {path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path.name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse(doc, path.name)


def shipped() -> list[Path]:
    """The lessons that come with the kit."""
    return sorted(LESSONS_DIR.glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    """A shipped lesson by name (`outage-story`) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ScenarioError(f"lesson file {name_or_path} does not exist")
        return candidate
    path = LESSONS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        names = ", ".join(p.stem for p in shipped()) or "none"
        raise ScenarioError(f"unknown lesson '{name_or_path}'; lessons: {names} (or a path to a .yaml file)")
    return path


def load(name_or_path: str) -> Lesson:
    """A lesson by name or path, validated."""
    return load_file(resolve(name_or_path))
