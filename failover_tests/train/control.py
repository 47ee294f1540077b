"""The fault panel of a training session: any catalog fault on any target, for a while, reverted like in a drill.

Faults are made by the stack (`LiveStack.fault`), so they resolve targets, journal themselves
before taking effect and revert idempotently, exactly as in a drill. The panel adds a timer per
fault (its duration), the list of active ones, and the session's guarantee: as a context
manager it reverts every fault on every exit path, including a fault whose `apply()` was still
running when the session ended. Bad input (unknown fault, bad parameter, unknown target, bad
duration) raises `ScenarioError` with one line before anything is touched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from failover_tests.faults import REGISTRY, Fault, Param, fault_class, validate_params
from failover_tests.faults.base import REQUIRED
from failover_tests.targets import INSTRUMENTATION_TIERS
from failover_tests.traffic import JSONValue
from infra.errors import ScenarioError
from infra.outputs import StackOutputs

log = logging.getLogger(__name__)

MAX_DURATION_S = 3600.0
_CLOSE_WAIT_S = 30.0  # how long closing waits for applies in progress before reverting what it has


class NoSuchFault(ScenarioError):
    """The panel holds no active fault of that id (already reverted, or never applied)."""


class FaultMaker(Protocol):
    """What the panel needs of a stack: its outputs (for the targets) and its faults."""

    outputs: StackOutputs

    def fault(self, name: str, target: str, params: Mapping[str, Any] | None = None) -> Fault:
        """A fault on this stack (not yet applied)."""
        ...


@dataclass(frozen=True, kw_only=True)
class ActiveFault:
    """A fault the panel holds in effect."""

    id: str
    name: str
    label: str
    family: str
    selector: str
    targets: tuple[str, ...]
    params: Mapping[str, Any]
    applied_s: float  # the panel's clock
    until_s: float | None  # when its timer reverts it; None: held until reverted

    def to_dict(self, now_s: float) -> dict[str, JSONValue]:
        """The fault as the page lists it, with the seconds it has left."""
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "family": self.family,
            "target": self.selector,
            "targets": list(self.targets),
            "params": {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in self.params.items()},
            "applied_s": round(self.applied_s, 3),
            "until_s": None if self.until_s is None else round(self.until_s, 3),
            "left_s": None if self.until_s is None else round(max(0.0, self.until_s - now_s), 1),
        }


def _param_doc(p: Param) -> dict[str, JSONValue]:
    """One parameter as the page's form builds its input."""
    required = p.default is REQUIRED
    return {
        "name": p.name,
        "type": p.kind.__name__,
        "default": None if required else p.default,
        "required": required,
        "help": p.help,
        "minimum": p.minimum,
        "maximum": p.maximum,
        "choices": list(p.choices),
    }


def catalog(outputs: StackOutputs) -> dict[str, JSONValue]:
    """Every fault with its parameters, and every target of the stack (containers, groups, edges)."""
    faults: list[JSONValue] = [
        {
            "name": name,
            "family": cls.family,
            "on": cls.on,
            "summary": cls.summary,
            "tiers": [t for t in sorted(cls.tiers)] if cls.tiers is not None else None,
            "params": [_param_doc(p) for p in cls.params],
        }
        for name, cls in sorted(REGISTRY.items())
    ]
    containers = [c for c in outputs.containers if c.tier not in INSTRUMENTATION_TIERS]
    tiers = list(dict.fromkeys(c.tier for c in containers))
    zones = sorted({c.zone for c in containers})
    groups = [f"{t}:random" for t in tiers] + [f"{t}:all-but-one" for t in tiers]
    groups += [f"zone={z}" for z in zones] + ["role=primary", "zone=@primary"]
    return {
        "faults": faults,
        "targets": {
            "containers": [
                {"name": c.name, "short": f"{c.tier.replace('_', '-')}-{c.replica}", "tier": c.tier, "zone": c.zone}
                for c in containers
            ],
            "tiers": list(tiers),
            "groups": list(groups),
            "edges": list(outputs.edges_proxied),
        },
    }


class FaultPanel:
    """Faults applied from the page or a lesson, each reverted by its timer, by hand, or when the session ends."""

    def __init__(
        self,
        stack: FaultMaker,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_duration_s: float = MAX_DURATION_S,
    ) -> None:
        """An empty panel on one stack."""
        self.stack = stack
        self.clock = clock
        self.max_duration_s = max_duration_s
        self._lock = threading.Condition()
        self._active: dict[str, tuple[Fault, ActiveFault]] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._applying = 0
        self._closed = False
        self.errors: list[str] = []  # reverts that failed (shown on the page; the journal keeps them)

    def catalog(self) -> dict[str, JSONValue]:
        """The faults and targets the page offers."""
        return catalog(self.stack.outputs)

    def apply(
        self, name: str, target: str, params: Mapping[str, Any] | None = None, duration_s: float | None = None
    ) -> ActiveFault:
        """Apply a fault (blocks until it took effect); its timer reverts it after ``duration_s`` (None: never)."""
        if not isinstance(name, str) or not isinstance(target, str) or not target.strip():
            raise ScenarioError(f"a fault needs a name and a target; got name={name!r}, target={target!r}")
        if params is not None and not isinstance(params, Mapping):
            raise ScenarioError(f"fault {name}: params must be a mapping of name to value, got {params!r}")
        if duration_s is not None and (
            isinstance(duration_s, bool)
            or not isinstance(duration_s, int | float)
            or not 0 < duration_s <= self.max_duration_s
        ):
            raise ScenarioError(
                f"fault {name}: duration_s={duration_s!r} must be a number of seconds in (0, {self.max_duration_s:g}]"
            )
        cls = fault_class(name)
        values = validate_params(name, dict(params or {}))
        fault = self.stack.fault(name, target.strip(), values)  # resolves the target: ScenarioError if unknown
        with self._lock:
            if self._closed:
                raise ScenarioError(f"the session is ending; {fault.label} was not applied")
            self._applying += 1
        try:
            fault.apply()
        finally:
            with self._lock:
                self._applying -= 1
                self._lock.notify_all()
        now = self.clock()
        held = ActiveFault(
            id=fault.id,
            name=name,
            label=fault.label,
            family=cls.family,
            selector=target.strip(),
            targets=tuple(fault.target_names),
            params=MappingProxyType(dict(fault.values)),
            applied_s=now,
            until_s=None if duration_s is None else now + float(duration_s),
        )
        with self._lock:
            closed = self._closed
            if not closed:
                self._active[fault.id] = (fault, held)
                if duration_s is not None:
                    timer = threading.Timer(float(duration_s), self._expire, args=(fault.id,))
                    timer.daemon = True
                    timer.name = f"stackdrill-revert-{fault.id}"
                    self._timers[fault.id] = timer
                    timer.start()
        if closed:  # the session ended while it was being applied: it must not outlive it
            fault.revert()
            raise ScenarioError(f"the session ended while {fault.label} was applied; it was reverted")
        log.info("panel: %s applied%s", held.label, "" if duration_s is None else f" for {duration_s:g} s")
        return held

    def active(self) -> list[ActiveFault]:
        """The faults in effect, oldest first."""
        with self._lock:
            return [held for _, held in self._active.values()]

    def faulted(self) -> dict[str, tuple[str, ...]]:
        """Container (or proxy) name -> the names of the faults in effect on it."""
        out: dict[str, tuple[str, ...]] = {}
        for held in self.active():
            for name in held.targets:
                out[name] = (*out.get(name, ()), held.name)
        return out

    def revert(self, fault_id: str) -> ActiveFault:
        """Revert one fault now; NoSuchFault if the panel holds none of that id."""
        with self._lock:
            found = self._active.pop(fault_id, None)
            timer = self._timers.pop(fault_id, None)
            known = ", ".join(self._active) or "none"
        if timer is not None:
            timer.cancel()
        if found is None:
            raise NoSuchFault(f"no active fault '{fault_id}'; active: {known}")
        fault, held = found
        try:
            fault.revert()
        except Exception as exc:
            self.errors.append(str(exc).splitlines()[0])
            with self._lock:
                self._active[fault_id] = found  # still in effect: revert-all and the session's end try again
            raise
        log.info("panel: %s reverted", held.label)
        return held

    def revert_all(self) -> list[str]:
        """Revert every fault in effect, newest first; return the errors (each fault gets its turn)."""
        errors: list[str] = []
        for held in reversed(self.active()):
            try:
                self.revert(held.id)
            except NoSuchFault:
                pass  # its timer got there first
            except Exception as exc:  # noqa: BLE001 - every fault gets its turn
                errors.append(str(exc).splitlines()[0])
        return errors

    def close(self) -> list[str]:
        """End the panel: no new fault; wait for applies in progress (bounded); revert every fault."""
        with self._lock:
            self._closed = True
            self._lock.wait_for(lambda: self._applying == 0, timeout=_CLOSE_WAIT_S)
        errors = self.revert_all()
        for line in errors:
            log.error("revert failed at the end of the session: %s; run: stackdrill reap", line)
        return errors

    def __enter__(self) -> FaultPanel:
        """The panel, ready."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Revert every fault, whatever happened."""
        self.close()

    def _expire(self, fault_id: str) -> None:
        """A fault's timer ran out: revert it (an error is kept for the page; the journal keeps the fault)."""
        with self._lock:
            self._timers.pop(fault_id, None)
        try:
            self.revert(fault_id)
        except NoSuchFault:
            pass
        except Exception:  # noqa: BLE001 - logged and listed on the page; `stackdrill reap` reverts it
            log.exception("timed revert of %s failed", fault_id)
