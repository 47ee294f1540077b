"""The fault base class, its parameters, and the registry of fault names.

A fault records its settings when constructed, takes effect in `apply()` (journal first, then
the action, then a check that it took effect) and is undone by `revert()`, which is idempotent.
As a context manager it reverts on every exit path, and undoes partial work if `apply()` fails.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, ClassVar, Literal

from failover_tests.journal import Entry, Journal
from failover_tests.targets import EdgeTarget, Inventory, Target, describe
from infra.errors import FaultError, RevertError, ScenarioError, StackError
from infra.wait import GiveUp, wait_until

log = logging.getLogger(__name__)
REQUIRED: Any = object()


@dataclass(frozen=True)
class Param:
    """One parameter of a fault: name, type, default (or REQUIRED), allowed range, help, old names."""

    name: str
    kind: type
    default: Any = REQUIRED
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # Names the parameter had before; scenarios that still use one keep working unchanged.
    aliases: tuple[str, ...] = ()

    def coerce(self, fault: str, value: Any, *, given_as: str | None = None) -> Any:
        """Convert and check a value; raise ScenarioError naming the fault, parameter and value.

        ``given_as`` is the name the scenario used (an alias), so the message quotes the input.
        """
        where = f"fault {fault}: {given_as or self.name} = {value!r}"
        try:
            if self.kind is bool and isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                out: Any = value.lower() in ("true", "1", "yes")
            elif self.kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            else:
                out = self.kind(value)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{where} is not a valid {self.kind.__name__}") from exc
        if self.minimum is not None and out < self.minimum:
            raise ScenarioError(f"{where} is too small; it must be >= {self.minimum}")
        if self.maximum is not None and out > self.maximum:
            raise ScenarioError(f"{where} is too large; it must be <= {self.maximum}")
        if self.choices and out not in self.choices:
            raise ScenarioError(f"{where} is not allowed; use one of {', '.join(self.choices)}")
        return out


@dataclass(frozen=True)
class FaultEnv:
    """What faults act on: the stack's inventory, its chaos proxy, its journal."""

    stack: str
    inventory: Inventory
    toxiproxy_url: str
    journal: Journal
    admin_port: int = 9901


REGISTRY: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    """Class decorator: add a fault to the registry under its snake_case name."""
    if cls.name in REGISTRY:
        raise RuntimeError(f"fault name {cls.name} registered twice")
    names = [n for p in cls.params for n in (p.name, *p.aliases)]
    if len(names) != len(set(names)):
        raise RuntimeError(f"fault {cls.name}: parameter names and aliases must be distinct: {', '.join(names)}")
    REGISTRY[cls.name] = cls
    return cls


def fault_class(name: str) -> type[Fault]:
    """The fault registered under a name; raises ScenarioError listing the catalog."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ScenarioError(f"unknown fault '{name}'; known faults: {', '.join(sorted(REGISTRY))}") from None


def validate_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check parameters against a fault's declaration; returns them, under their current names, with defaults.

    A parameter given by an old name (an alias) counts as given by its current name; giving both is an error.
    """
    cls = fault_class(name)
    declared = {p.name: p for p in cls.params}
    accepted = set(declared).union(*(p.aliases for p in cls.params))
    unknown = sorted(set(params) - accepted)
    if unknown:
        listed = ", ".join(declared) or "none"
        raise ScenarioError(f"fault {name}: unknown parameter '{unknown[0]}'; parameters: {listed}")
    out: dict[str, Any] = {}
    for p in cls.params:
        given = [key for key in (p.name, *p.aliases) if key in params]
        if len(given) > 1:
            raise ScenarioError(f"fault {name}: {' and '.join(given)} are the same parameter; give only {p.name}")
        if given:
            out[p.name] = p.coerce(name, params[given[0]], given_as=given[0])
        elif p.default is REQUIRED:
            raise ScenarioError(f"fault {name}: missing parameter '{p.name}' ({p.help})")
        else:
            out[p.name] = p.default
    return out


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> bool:
    """Poll a condition until true or the deadline (`infra.wait.wait_until`); return whether it came true.

    An error raised by the check ends the wait and propagates (a Docker or admin-endpoint error
    is the fault's error, not a "not yet")."""

    def probe() -> tuple[bool, None]:
        try:
            return check(), None
        except Exception as exc:
            raise _CheckRaised(str(exc)) from exc

    try:
        wait_until(probe, what=what, timeout_s=timeout_s, interval_s=0.1)
    except _CheckRaised as exc:
        assert exc.__cause__ is not None
        raise exc.__cause__ from None
    except StackError as exc:
        log.warning("%s", exc)
        return False
    return True


class _CheckRaised(GiveUp):
    """Carries an error of a `wait_for` check out of `wait_until` (which retries other errors)."""


class Fault(ABC):
    """One fault on one or more targets (containers, or a dependency edge)."""

    name: ClassVar[str]
    family: ClassVar[str]
    summary: ClassVar[str]
    mechanism: ClassVar[str]
    on: ClassVar[Literal["container", "edge"]] = "container"
    params: ClassVar[tuple[Param, ...]] = ()
    tiers: ClassVar[frozenset[str] | None] = None  # tiers it may target (None: any)

    def __init__(
        self,
        env: FaultEnv,
        target: str,
        params: Mapping[str, Any] | None = None,
        *,
        rng: random.Random | None = None,
        resolved: list[Target] | EdgeTarget | None = None,
    ) -> None:
        """Resolve `target` on the stack (or take `resolved` as is: a journaled fault's targets)."""
        self.env = env
        self.selector = target
        self.values = validate_params(self.name, params or {})
        self.targets: list[Target] = []
        self.edge: EdgeTarget | None = None
        if isinstance(resolved, EdgeTarget):
            self.edge = resolved
        elif resolved is not None:
            self.targets = resolved
        elif self.on == "edge":
            self.edge = env.inventory.resolve_edge(target)
        else:
            self.targets = env.inventory.resolve(target, rng)
            if self.tiers is not None:
                bad = [t.short for t in self.targets if t.tier not in self.tiers]
                if bad:
                    raise ScenarioError(
                        f"fault {self.name} cannot target {', '.join(bad)}; "
                        f"it works on tiers {', '.join(sorted(self.tiers))}"
                    )
        self.id = f"{self.name}-{uuid.uuid4().hex[:8]}"
        self.saved: dict[str, Any] = {}
        self.applied_to: list[str] = []
        self.active = False
        self.applied_at_s: float | None = None
        self.reverted_at_s: float | None = None

    # -- what subclasses implement -------------------------------------------------------
    def save(self, name: str) -> dict[str, Any]:
        """State to remember before acting on one target (for revert); default none."""
        return {}

    @abstractmethod
    def act(self, name: str) -> None:
        """Make the fault take effect on one target."""

    @abstractmethod
    def took_effect(self, name: str) -> bool:
        """Whether the fault is in effect on one target."""

    @abstractmethod
    def undo(self, name: str, saved: dict[str, Any]) -> None:
        """Revert the fault on one target; must be harmless if it is not in effect."""

    def undone(self, name: str, saved: dict[str, Any]) -> bool:
        """Whether the target is back to its steady state."""
        return not self.took_effect(name)

    # -- the life cycle --------------------------------------------------------------------
    @property
    def target_names(self) -> list[str]:
        """Container names, or proxy names for an edge fault."""
        return list(self.edge.proxies) if self.edge else [t.name for t in self.targets]

    @property
    def label(self) -> str:
        """`kill(api-2)`, used in reports and SLO messages."""
        if self.edge:
            return f"{self.name}({self.edge.short})"
        if len(self.targets) > 2:  # a group: name the selector, not every member
            return f"{self.name}({self.selector}: {len(self.targets)} containers)"
        return f"{self.name}({describe(self.targets)})"

    def describe(self) -> dict[str, Any]:
        """Plain description for reports and the journal."""
        return {
            "fault": self.name,
            "label": self.label,
            "targets": self.target_names,
            "params": self.values,
            "mechanism": self.mechanism,
        }

    def _entry(self) -> Entry:
        import os

        return Entry(
            id=self.id,
            fault=self.name,
            selector=self.selector,
            targets=self.target_names,
            params=self.values,
            saved=self.saved,
            pid=os.getpid(),
            applied_at=time.time(),
        )

    def apply(self) -> None:
        """Take effect on every target; on failure undo what was done and raise FaultError."""
        if self.active:
            return
        try:
            for name in self.target_names:
                self.saved[name] = self.save(name)
            self.env.journal.record(self._entry())
            self.active = True
            for name in self.target_names:
                self.applied_to.append(name)
                self.act(name)
            for name in self.target_names:
                if not wait_for(partial(self.took_effect, name), f"{self.label} on {name}"):
                    raise FaultError(
                        f"{self.label} did not take effect on {name} (mechanism: {self.mechanism})",
                        fault=self.name,
                        target=name,
                    )
        except BaseException:
            self.revert()
            raise
        self.applied_at_s = time.monotonic()
        log.info("applied %s via %s", self.label, self.mechanism)

    def revert(self) -> None:
        """Undo the fault on every target it reached; harmless when called twice."""
        if not self.active:
            return
        errors = []
        for name in reversed(self.applied_to):
            try:
                self.undo(name, self.saved.get(name, {}))
                saved = self.saved.get(name, {})
                if not wait_for(partial(self.undone, name, saved), f"revert of {self.label} on {name}", 30):
                    errors.append(f"{name}: still faulty after revert")
            except Exception as exc:  # noqa: BLE001 - every target gets its chance
                errors.append(f"{name}: {exc}")
        if errors:
            raise RevertError(
                f"reverting {self.label} failed: {'; '.join(errors)}; the journal keeps it, run: stackdrill reap",
                fault=self.name,
                target=",".join(self.applied_to),
            )
        self.active = False
        self.env.journal.remove(self.id)
        self.reverted_at_s = time.monotonic()
        log.info("reverted %s", self.label)

    def __enter__(self) -> Fault:
        self.apply()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.revert()

    def hold(self, duration_s: float, stop: threading.Event | None = None) -> None:
        """Apply, keep the fault for duration_s (or until `stop` is set), then revert."""
        with self:
            (stop or threading.Event()).wait(duration_s)

    @classmethod
    def restore(cls, env: FaultEnv, entry: Entry) -> Fault:
        """Rebuild a journaled fault so that it can be reverted by another process."""
        resolved: list[Target] | EdgeTarget
        if cls.on == "edge":
            resolved = EdgeTarget(entry.selector, tuple(entry.targets))
        else:
            resolved = [env.inventory.by_name(n) or Target(n, "?", 0, "?", "?") for n in entry.targets]
        inst = cls(env, entry.selector, entry.params, resolved=resolved)
        inst.id = entry.id
        inst.saved = dict(entry.saved)
        inst.applied_to = list(entry.targets)
        inst.active = True
        return inst
