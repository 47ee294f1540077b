"""Status-page truth: what the status page said, judged slice by slice against what clients saw.

The run is cut into time slices (``slice_s``, default 1 s, on the probe clock; the last one
may be shorter). Per slice:

- **Client health of a path**, from the requests *scheduled* in the slice (as in
  :mod:`failover_tests.slo`). A *real success* is an ok answer that is not a fallback answer:
  a cached completion or a degraded page is what the page must own up to, not a success.
  With fewer than ``min_requests`` requests the path is ``unknown`` and never judged;
  otherwise it is ``impaired`` when the real-success share is below ``impaired_below``,
  ``fine`` when it is at least ``fine_at_least``, and ``marginal`` in between (neither
  check fires on a marginal slice).
- **Expected state of a component**: the worst health (impaired > marginal > fine) of the
  known paths that use it, after :data:`DEPENDENCIES`; ``unknown`` when none is known.
- **What the page showed**: each status sample stands from its time until the next sample,
  for at most ``sample_hold_s`` (a failed sample leaves a gap, and a gap is never judged). A
  component's states in a slice are those of every sample standing during it.

Two checks, each over maximal runs of consecutive slices ("stretches"):

- ``status_truth_under`` (one per path): a stretch where the path is impaired while every
  component on it that the page reports stood at ``operational`` throughout each slice. It
  fails when the stretch lasts longer than the tolerance.
- ``status_truth_over`` (one per component): a stretch where the component stood at
  ``outage`` throughout each slice while its expected state was fine (every known path using
  it fine). It fails when the stretch lasts longer than the tolerance. ``degraded`` while
  clients are fine is never flagged: losing one replica is a real loss of redundancy.

Tolerance = the status service's poll interval + ``grace_s`` (default 2 s). Why the grace:
the page polls every dependency once per interval, each check under its own timeout
(``status.check_timeout_ms``, 1 s by default, and a timed-out check is only known when the
timeout fires), and the drill samples the page every 0.5 s; so a true change reaches the drill
up to one poll interval + one check timeout + one sample interval after clients felt it, and
the grace covers the last two with 0.5 s to spare. A stretch exactly as long as the tolerance
passes; one longer fails. Stretches are whole slices, so lengths move in ``slice_s`` steps.

Paths missing from the dependency map and components on no judged path (the integration,
whose notifications no client waits for in the protected profile) are shown in the
timeline but never judged.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from failover_tests.slo import Check
from failover_tests.traffic import JSONValue, Record
from infra.errors import ScenarioError

__all__ = [
    "DEFAULT_RULES",
    "DEPENDENCIES",
    "ComponentSlice",
    "Health",
    "PathSlice",
    "StatusTruth",
    "StatusTruthRules",
    "TruthSlice",
    "judge_status",
]

Health = Literal["fine", "marginal", "impaired", "unknown"]
State = Literal["operational", "degraded", "outage"]
StatusSample = tuple[float, Mapping[str, str]]

# Which status components can impair each probe path (see services/app/web.py, api.py and the
# edge routes in infra/program.py). The edge routes /v1/ to the API and everything else to the
# web tier; the web tier reaches the API through the internal API LB, which has no component.
# Both the home page and completions need the model: without it the protected API answers with
# its cached fallback (and the page says so), the naive one fails. The integration is left out:
# the protected API notifies it fire-and-forget. (The naive API awaits it inline on completions
# and runs every request in one shared worker pool; pass your own map to judge that coupling.)
DEPENDENCIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "api.complete": ("edge", "api", "model"),
        "api.sessions": ("edge", "api", "store"),
        "api.sessions_read": ("edge", "api", "store"),
        "web.home": ("edge", "web", "api", "model"),
    }
)

STATES: tuple[State, ...] = ("operational", "degraded", "outage")
_SEVERITY: dict[str, int] = {"unknown": 0, "fine": 1, "marginal": 2, "impaired": 3}
_EPS_S = 1e-9  # slice bounds are sums of floats; a stretch at the tolerance must not fail on rounding


@dataclass(frozen=True)
class StatusTruthRules:
    """How client impact is measured and how much lag the status page is allowed."""

    grace_s: float = 2.0
    slice_s: float = 1.0
    impaired_below: float = 0.9
    fine_at_least: float = 0.99
    min_requests: int = 3
    sample_hold_s: float = 1.0
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEPENDENCIES, hash=False)

    def __post_init__(self) -> None:
        """Reject impossible thresholds and an empty dependency; freeze the map."""
        where = "status truth rules"
        for key in ("slice_s", "sample_hold_s"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ScenarioError(f"{where}: {key}={value} must be a finite number > 0 (seconds)")
        if not (math.isfinite(self.grace_s) and self.grace_s >= 0):
            raise ScenarioError(f"{where}: grace_s={self.grace_s} must be a finite number >= 0 (seconds)")
        if not 0.0 < self.impaired_below <= 1.0:
            raise ScenarioError(f"{where}: impaired_below={self.impaired_below} is a ratio in (0, 1] (e.g. 0.9)")
        if not self.impaired_below <= self.fine_at_least <= 1.0:
            raise ScenarioError(
                f"{where}: fine_at_least={self.fine_at_least} must be in [impaired_below={self.impaired_below}, 1]"
            )
        if self.min_requests < 1:
            raise ScenarioError(f"{where}: min_requests={self.min_requests} must be >= 1")
        frozen: dict[str, tuple[str, ...]] = {}
        for path, components in self.dependencies.items():
            names = tuple(components)
            if not path or not names or any(not c for c in names):
                raise ScenarioError(
                    f"{where}: dependencies[{path!r}]={list(names)} must name a path and at least one component"
                )
            frozen[path] = names
        object.__setattr__(self, "dependencies", MappingProxyType(frozen))

    def tolerance_s(self, poll_interval_s: float) -> float:
        """How long a mismatch may last: one poll interval plus the grace."""
        return poll_interval_s + self.grace_s

    def health(self, requests: int, real_successes: int) -> Health:
        """A path's health in one slice, from its request count and real successes."""
        if requests < self.min_requests:
            return "unknown"
        share = real_successes / requests
        if share < self.impaired_below:
            return "impaired"
        if share >= self.fine_at_least:
            return "fine"
        return "marginal"

    def to_dict(self) -> dict[str, JSONValue]:
        """The rules as a JSON-ready dict."""
        return {
            "grace_s": self.grace_s,
            "slice_s": self.slice_s,
            "impaired_below": self.impaired_below,
            "fine_at_least": self.fine_at_least,
            "min_requests": self.min_requests,
            "sample_hold_s": self.sample_hold_s,
            "dependencies": {p: list(c) for p, c in self.dependencies.items()},
        }


DEFAULT_RULES = StatusTruthRules()


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
        """The path slice as a JSON-ready dict."""
        return {
            "path": self.path,
            "requests": self.requests,
            "real_successes": self.real_successes,
            "health": self.health,
        }


@dataclass(frozen=True)
class ComponentSlice:
    """One component in one slice: the state clients imply, and what the page showed."""

    component: str
    expected: Health  # worst health of the known paths that use it; unknown when none
    shown_best: State | None  # least severe state standing during the slice; None: no sample
    shown_worst: State | None  # most severe state standing during the slice

    def to_dict(self) -> dict[str, JSONValue]:
        """The component slice as a JSON-ready dict."""
        return {
            "component": self.component,
            "expected": self.expected,
            "shown_best": self.shown_best,
            "shown_worst": self.shown_worst,
        }


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


@dataclass(frozen=True)
class StatusTruth:
    """The status-truth checks of a run and the per-slice timeline they were judged on."""

    checks: tuple[Check, ...]
    slices: tuple[TruthSlice, ...]
    tolerance_s: float

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed, paths first, then components."""
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, JSONValue]:
        """The judgement as a JSON-ready dict."""
        return {
            "passed": self.passed,
            "tolerance_s": self.tolerance_s,
            "checks": [c.to_dict() for c in self.checks],
            "slices": [s.to_dict() for s in self.slices],
        }


@dataclass(frozen=True)
class _Stretch:
    """A maximal run of flagged slices."""

    start_s: float
    end_s: float
    first: int  # index of its first slice
    last: int  # index of its last slice

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def judge_status(
    records: Sequence[Record],
    status_samples: Sequence[StatusSample],
    *,
    poll_interval_s: float,
    fault_start_s: float,
    fault_end_s: float,
    run_end_s: float,
    run_start_s: float = 0.0,
    rules: StatusTruthRules = DEFAULT_RULES,
) -> StatusTruth:
    """Judge the status page against the clients: under- and over-reporting checks and the timeline.

    `status_samples` are ``(t_s, {component: state})`` on the probe clock, as the scenario's
    status sampler keeps them. The fault window only names the window a check reports
    (``before``, ``during`` or ``after``, by where its worst stretch starts); a check
    without a stretch reports the window ``run``. See the module docstring for the rules.
    """
    if not (math.isfinite(poll_interval_s) and poll_interval_s > 0):
        raise ScenarioError(f"status truth: poll_interval_s={poll_interval_s} must be a finite number > 0 (seconds)")
    if not run_start_s <= fault_start_s <= fault_end_s <= run_end_s:
        raise ScenarioError(
            "status truth needs run start <= fault start <= fault end <= run end; got "
            f"{run_start_s:.3f} s, {fault_start_s:.3f} s, {fault_end_s:.3f} s, {run_end_s:.3f} s"
        )
    tolerance_s = rules.tolerance_s(poll_interval_s)
    bounds = _slice_bounds(run_start_s, run_end_s, rules.slice_s)
    deps = rules.dependencies
    seen_paths = {r.path for r in records}
    paths = [p for p in deps if p in seen_paths]
    samples = sorted(status_samples, key=lambda s: s[0])
    components = _component_order(samples)

    health = _path_health(records, paths, bounds, rules)
    shown = _shown_states(samples, components, bounds, rules.sample_hold_s)
    users = {c: [p for p in paths if c in deps[p]] for c in components}
    expected = {c: [_worst_health(health[p][i] for p in users[c]) for i in range(len(bounds) - 1)] for c in components}

    n = len(bounds) - 1
    # Per path and slice: the path's components the page reported (in map order).
    on_page = {p: [[c for c in deps[p] if c in shown and shown[c][i]] for i in range(n)] for p in paths}
    under = {
        p: [
            health[p][i].health == "impaired"
            and bool(on_page[p][i])
            and all(shown[c][i] == {"operational"} for c in on_page[p][i])
            for i in range(n)
        ]
        for p in paths
    }
    over = {c: [expected[c][i] == "fine" and shown[c][i] == {"outage"} for i in range(n)] for c in components}

    windows = _WindowNamer(fault_start_s, fault_end_s, run_start_s, run_end_s, rules.slice_s)
    checks: list[Check] = []
    for path in paths:
        judged = [i for i in range(n) if health[path][i].health != "unknown" and on_page[path][i]]
        stretches = _stretches(bounds, under[path])
        said = [
            [c for c in deps[path] if any(c in on_page[path][i] for i in range(s.first, s.last + 1))] for s in stretches
        ]
        texts = [
            f"{path} failing for {_span(s)} while the page said {', '.join(names)} operational"
            for s, names in zip(stretches, said, strict=True)
        ]
        not_judged = f"no slice with {rules.min_requests}+ requests and a status sample"
        checks.append(
            _check("status_truth_under", path, stretches, texts, judged, bounds, tolerance_s, windows, not_judged)
        )
    for component in components:
        if not users[component]:
            continue
        judged = [i for i in range(n) if expected[component][i] != "unknown" and shown[component][i]]
        stretches = _stretches(bounds, over[component])
        texts = []
        for s in stretches:
            fine = [
                p for p in users[component] if any(health[p][i].health == "fine" for i in range(s.first, s.last + 1))
            ]
            verb = "was" if len(fine) == 1 else "were"
            texts.append(f"{component} shown outage for {_span(s)} while {', '.join(fine)} {verb} fine")
        not_judged = f"no slice with a status sample and {rules.min_requests}+ requests on a path using it"
        checks.append(
            _check("status_truth_over", component, stretches, texts, judged, bounds, tolerance_s, windows, not_judged)
        )

    slices = tuple(
        TruthSlice(
            start_s=bounds[i],
            end_s=bounds[i + 1],
            paths=tuple(health[p][i] for p in paths),
            components=tuple(
                ComponentSlice(
                    component=c,
                    expected=expected[c][i],
                    shown_best=_extreme(shown[c][i], worst=False),
                    shown_worst=_extreme(shown[c][i], worst=True),
                )
                for c in components
            ),
            unreported=tuple(p for p in paths if under[p][i]),
            overreported=tuple(c for c in components if over[c][i]),
        )
        for i in range(n)
    )
    return StatusTruth(checks=tuple(checks), slices=slices, tolerance_s=tolerance_s)


def _slice_bounds(start_s: float, end_s: float, slice_s: float) -> list[float]:
    """Slice boundaries from start to end; the last slice may be shorter, never empty."""
    count = max(1, math.ceil((end_s - start_s) / slice_s - _EPS_S))
    bounds = [start_s + i * slice_s for i in range(count)]
    bounds.append(end_s)
    return bounds


def _slice_index(bounds: Sequence[float], t_s: float) -> int | None:
    """The slice holding time t (half-open), None outside the run."""
    if t_s < bounds[0] or t_s >= bounds[-1]:
        return None
    return bisect.bisect_right(bounds, t_s) - 1


def _path_health(
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
        p: [PathSlice(p, counts[p][i], good[p][i], rules.health(counts[p][i], good[p][i])) for i in range(n)]
        for p in paths
    }


def _component_order(samples: Sequence[StatusSample]) -> list[str]:
    """Every component the page reported, in order of first appearance."""
    order: dict[str, None] = {}
    for _, states in samples:
        for name in states:
            order.setdefault(name, None)
    return list(order)


def _shown_states(
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
            until_s = t_s + _EPS_S  # two samples at the same time: each still stands for an instant
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


def _worst_health(healths: Iterable[PathSlice]) -> Health:
    """The most severe known health, unknown when none is known."""
    worst: Health = "unknown"
    for ps in healths:
        if _SEVERITY[ps.health] > _SEVERITY[worst]:
            worst = ps.health
    return worst


def _extreme(states: set[str], *, worst: bool) -> State | None:
    """The most (or least) severe state of a set, None when empty."""
    ranked = [s for s in STATES if s in states]
    if not ranked:
        return None
    return ranked[-1] if worst else ranked[0]


def _stretches(bounds: Sequence[float], flags: Sequence[bool]) -> list[_Stretch]:
    """Maximal runs of consecutive flagged slices."""
    out: list[_Stretch] = []
    first: int | None = None
    for i, on in enumerate([*flags, False]):
        if on and first is None:
            first = i
        elif not on and first is not None:
            out.append(_Stretch(bounds[first], bounds[i], first, i - 1))
            first = None
    return out


def _span(stretch: _Stretch) -> str:
    """`6.0 s [12.0 s..18.0 s]`."""
    return f"{stretch.duration_s:.1f} s [{stretch.start_s:.1f} s..{stretch.end_s:.1f} s]"


@dataclass(frozen=True)
class _WindowNamer:
    """Names the window a stretch starts in, after the fault window."""

    fault_start_s: float
    fault_end_s: float
    run_start_s: float
    run_end_s: float
    slice_s: float = 1.0

    def name(self, start_s: float) -> str:
        # By the middle of the stretch's first slice: slices are aligned to the run's start,
        # so the slice the fault lands in mostly lies after the fault's start.
        mid_s = start_s + self.slice_s / 2
        if mid_s < self.fault_start_s:
            return "before"
        if mid_s < self.fault_end_s:
            return "during"
        return "after"


def _check(
    name: str,
    subject: str,
    stretches: Sequence[_Stretch],
    texts: Sequence[str],
    judged: Sequence[int],
    bounds: Sequence[float],
    tolerance_s: float,
    windows: _WindowNamer,
    not_judged: str,
) -> Check:
    """One check of a path or component: fails when its longest stretch exceeds the tolerance."""
    path = f"status.{subject}"
    if not judged:
        message = f"status: {subject} not judged: {not_judged}"
        return Check(name, path, "run", windows.run_start_s, windows.run_end_s, None, tolerance_s, True, message)
    if not stretches:
        judged_s = sum(bounds[i + 1] - bounds[i] for i in judged)
        message = f"status: {subject} no mismatch over {judged_s:.1f} s judged"
        return Check(name, path, "run", windows.run_start_s, windows.run_end_s, 0.0, tolerance_s, True, message)
    # The longest stretch; the earliest of equally long ones.
    k = max(range(len(stretches)), key=lambda j: (stretches[j].duration_s, -j))
    worst = stretches[k]
    over = [s for s in stretches if s.duration_s > tolerance_s + _EPS_S]
    passed = not over
    message = f"status: {texts[k]}"
    if passed:
        message += f", within the {tolerance_s:.1f} s tolerance"
    elif len(over) > 1:
        message += f" ({len(over)} stretches over the {tolerance_s:.1f} s tolerance)"
    window = windows.name(worst.start_s)
    return Check(name, path, window, worst.start_s, worst.end_s, worst.duration_s, tolerance_s, passed, message)
