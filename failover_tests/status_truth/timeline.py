"""The per-slice timeline status truth is judged on: client health per path, page states per component.

The run is cut into slices (`slice_bounds`); per slice, a path's health comes from the requests
scheduled in it (`path_health`), a component's expected state is the worst health of the paths
using it (`worst_health`), and the page's states are those of every sample standing during it
(`shown_states`).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from failover_tests.status_truth.rules import STATES, Health, State, StatusSample, StatusTruthRules
from failover_tests.traffic import JSONValue, Record

_SEVERITY: dict[str, int] = {"unknown": 0, "fine": 1, "marginal": 2, "impaired": 3}
EPS_S = 1e-9  # slice bounds are sums of floats; a stretch at the tolerance must not fail on rounding


@dataclass(frozen=True)
class PathSlice:
    """What clients of one path saw in one slice."""

    path: str
    requests: int
    real_successes: int  # ok and not a fallback answer
    health: Health

    @property
    def real_success_share(self) -> float | None:
        """Real successes / requests, None without requests."""
        return self.real_successes / self.requests if self.requests else None

    def to_dict(self) -> dict[str, JSONValue]:
        """The path slice as a JSON-ready dict (every field, in declaration order)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ComponentSlice:
    """One component in one slice: the state clients imply, and what the page showed."""

    component: str
    expected: Health  # worst health of the known paths that use it; unknown when none
    shown_best: State | None  # least severe state standing during the slice; None: no sample
    shown_worst: State | None  # most severe state standing during the slice

    def to_dict(self) -> dict[str, JSONValue]:
        """The component slice as a JSON-ready dict (every field, in declaration order)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TruthSlice:
    """One time slice [start_s, end_s): client health per path, page state per component."""

    start_s: float
    end_s: float
    paths: tuple[PathSlice, ...]
    components: tuple[ComponentSlice, ...]
    unreported: tuple[str, ...]  # paths impaired while the page said all their components operational
    overreported: tuple[str, ...]  # components shown outage while every path using them was fine

    def to_dict(self) -> dict[str, JSONValue]:
        """The slice as a JSON-ready dict."""
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "paths": [p.to_dict() for p in self.paths],
            "components": [c.to_dict() for c in self.components],
            "unreported": list(self.unreported),
            "overreported": list(self.overreported),
        }


def slice_bounds(start_s: float, end_s: float, slice_s: float) -> list[float]:
    """Slice boundaries from start to end; the last slice may be shorter, never empty."""
    count = max(1, math.ceil((end_s - start_s) / slice_s - EPS_S))
    bounds = [start_s + i * slice_s for i in range(count)]
    bounds.append(end_s)
    return bounds


def _slice_index(bounds: Sequence[float], t_s: float) -> int | None:
    """The slice holding time t (half-open), None outside the run."""
    if t_s < bounds[0] or t_s >= bounds[-1]:
        return None
    return bisect.bisect_right(bounds, t_s) - 1


def path_health(
    records: Sequence[Record], paths: Sequence[str], bounds: Sequence[float], rules: StatusTruthRules
) -> dict[str, list[PathSlice]]:
    """Per path and slice: request count, real successes and health."""
    n = len(bounds) - 1
    counts = {p: [0] * n for p in paths}
    good = {p: [0] * n for p in paths}
    for rec in records:
        if rec.path not in counts:
            continue
        i = _slice_index(bounds, rec.scheduled_s)
        if i is None:
            continue
        counts[rec.path][i] += 1
        if rec.ok and not rec.fallback:
            good[rec.path][i] += 1
    return {
        p: [
            PathSlice(
                path=p,
                requests=counts[p][i],
                real_successes=good[p][i],
                health=rules.health(counts[p][i], good[p][i]),
            )
            for i in range(n)
        ]
        for p in paths
    }


def component_order(samples: Sequence[StatusSample]) -> list[str]:
    """Every component the page reported, in order of first appearance."""
    order: dict[str, None] = {}
    for _, states in samples:
        for name in states:
            order.setdefault(name, None)
    return list(order)


def shown_states(
    samples: Sequence[StatusSample], components: Sequence[str], bounds: Sequence[float], hold_s: float
) -> dict[str, list[set[str]]]:
    """Per component and slice: the states standing during the slice (empty set: nothing known).

    A sample stands from its time until the next sample, at most `hold_s`. An unrecognised
    state or a component missing from a sample counts as nothing known for that sample.
    """
    n = len(bounds) - 1
    shown: dict[str, list[set[str]]] = {c: [set() for _ in range(n)] for c in components}
    for k, (t_s, states) in enumerate(samples):
        until_s = t_s + hold_s
        if k + 1 < len(samples):
            until_s = min(until_s, samples[k + 1][0])
        if until_s <= t_s:
            until_s = t_s + EPS_S  # two samples at the same time: each still stands for an instant
        first = max(0, bisect.bisect_right(bounds, t_s) - 1)
        for i in range(first, n):
            if bounds[i] >= until_s:
                break
            if bounds[i + 1] <= t_s:
                continue
            for c, state in states.items():
                if state in STATES:
                    shown[c][i].add(state)
    return shown


def worst_health(healths: Iterable[PathSlice]) -> Health:
    """The most severe known health, unknown when none is known."""
    worst: Health = "unknown"
    for ps in healths:
        if _SEVERITY[ps.health] > _SEVERITY[worst]:
            worst = ps.health
    return worst


def extreme(states: set[str], *, worst: bool) -> State | None:
    """The most (or least) severe state of a set, None when empty."""
    ranked = [s for s in STATES if s in states]
    if not ranked:
        return None
    return ranked[-1] if worst else ranked[0]
