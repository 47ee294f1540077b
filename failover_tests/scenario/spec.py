"""Scenarios as data: one validated pydantic model shared by YAML and Python; bad ones fail on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from failover_tests.faults import validate_params
from failover_tests.slo import SLO
from failover_tests.traffic import default_paths
from infra import outputs as O
from infra.errors import ScenarioError

PATHS = {p.name: p for p in default_paths()}
WINDOWS: tuple[Literal["before", "during", "after"], ...] = ("before", "during", "after")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


class FaultSpec(_Model):
    """Which fault, on which target, with which parameters."""

    name: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> FaultSpec:
        validate_params(self.name, self.params)
        return self


class TrafficSpec(_Model):
    """Open-loop traffic during the whole scenario."""

    rate_per_s: float = Field(20.0, gt=0, le=500)
    paths: list[str] = Field(default_factory=lambda: list(PATHS))
    timeout_s: float = Field(3.0, gt=0, le=60)

    @model_validator(mode="after")
    def _known_paths(self) -> TrafficSpec:
        for p in self.paths:
            if p not in PATHS:
                raise ValueError(f"unknown path '{p}'; paths: {', '.join(PATHS)}")
        return self


class SLOSpec(_Model):
    """An SLO of one path in some windows (before, during, after)."""

    path: str
    windows: list[Literal["before", "during", "after"]] = Field(default_factory=lambda: list(WINDOWS))
    min_success: float | None = Field(None, ge=0, le=1)
    max_p50_ms: float | None = Field(None, ge=0)
    max_p90_ms: float | None = Field(None, ge=0)
    max_p99_ms: float | None = Field(None, ge=0)
    max_consecutive_failures: int | None = Field(None, ge=0)
    max_recovery_s: float | None = Field(None, ge=0)
    max_fallback_share: float | None = Field(None, ge=0, le=1)
    allow_fallback: bool = True

    def to_slo(self) -> SLO:
        """The library SLO."""
        return SLO(
            path=self.path,
            window=tuple(self.windows),
            min_success=self.min_success,
            max_p50_ms=self.max_p50_ms,
            max_p90_ms=self.max_p90_ms,
            max_p99_ms=self.max_p99_ms,
            max_consecutive_failures=self.max_consecutive_failures,
            max_recovery_s=self.max_recovery_s,
            max_fallback_share=self.max_fallback_share,
            allow_fallback=self.allow_fallback,
        )


class LBExpectation(_Model):
    """The LBs of a tier must mark the fault's targets down while it lasts, and up again after."""

    lb: str = "edge"
    backend: str = O.BE_API
    within_s: float = Field(5.0, gt=0)
    rejoin_within_s: float = Field(15.0, gt=0)


class StatusExpectation(_Model):
    """The status page must show a component in a state during the fault, and recover after."""

    component: str
    during: Literal["degraded", "outage", "operational"] = "degraded"
    within_s: float = Field(10.0, gt=0)
    recover_within_s: float = Field(15.0, gt=0)


class Scenario(_Model):
    """One drill."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    destructive: bool = True
    steady_state_s: float = Field(3.0, ge=0.5, le=120)
    fault: FaultSpec | None = None
    duration_s: float = Field(10.0, gt=0, le=600)
    recovery_s: float = Field(8.0, ge=1, le=300)
    traffic: TrafficSpec = TrafficSpec()
    slos: list[SLOSpec] = Field(default_factory=list)
    lb_marks_down: LBExpectation | None = None
    status: StatusExpectation | None = None
    expect: Literal["pass", "fail"] = "pass"  # "fail": the drill must catch a failure (broken topology)
    verify_writes: bool = False
    max_lost_writes: int | None = Field(None, ge=0)
    # Judge the status page against what clients saw (under- and over-reporting).
    judge_status: bool = True
    # The longest stretch of failed session writes, in seconds, from the fault on (None: not judged).
    max_write_gap_s: float | None = Field(None, ge=0)
    # The same, counted from the moment the revert began: what bringing the targets back costs.
    max_restore_write_gap_s: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _slo_paths(self) -> Scenario:
        for s in self.slos:
            if s.path not in self.traffic.paths:
                raise ValueError(f"SLO path '{s.path}' is not in traffic.paths ({', '.join(self.traffic.paths)})")
            # `after` is judged once the recovery budget is spent: something must be left of it.
            if s.max_recovery_s is not None and "after" in s.windows and s.max_recovery_s >= self.recovery_s:
                raise ValueError(
                    f"recovery_s {self.recovery_s:g} leaves nothing of the after window to judge for {s.path} "
                    f"(max_recovery_s {s.max_recovery_s:g}); make recovery_s at least "
                    f"{s.max_recovery_s + 3:g}"
                )
        return self


def _one_line(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'"
    if err["type"] == "missing":
        return f"{source}: missing key '{key}'"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" = {value!r}"
    return f"{source}: {key}{shown}: {msg}" if key else f"{source}: {msg}"


def validate(model: type[ModelT], data: Any, source: str, what: str) -> ModelT:
    """Validate a mapping as `model` (a scenario, a lesson); ScenarioError with one line on any mistake."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: {what} must be a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_one_line(exc, source)) from None
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def parse(data: Any, source: str = "scenario") -> Scenario:
    """Validate a scenario given as a mapping; ScenarioError with one line on any mistake."""
    return validate(Scenario, data, source, "a scenario")


def load_file(path: Path) -> list[Scenario]:
    """Scenarios of a YAML file: one mapping, or a list under `scenarios:`."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path.name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    items = doc.get("scenarios") if isinstance(doc, dict) and "scenarios" in doc else [doc]
    if not isinstance(items, list):
        raise ScenarioError(f"{path.name}: 'scenarios' must be a list")
    return [parse(item, f"{path.name}[{i}]" if len(items) > 1 else path.name) for i, item in enumerate(items)]
