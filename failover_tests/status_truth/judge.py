"""The status-truth judgement: under- and over-reporting stretches, each turned into a `Check`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from failover_tests.status_truth.rules import DEFAULT_RULES, StatusSample, StatusTruthRules
from failover_tests.status_truth.timeline import (
    EPS_S,
    ComponentSlice,
    TruthSlice,
    component_order,
    extreme,
    path_health,
    shown_states,
    slice_bounds,
    worst_health,
)
from failover_tests.traffic import JSONValue, Record
from failover_tests.verdict import Check, Judged
from infra.errors import ScenarioError


@dataclass(frozen=True)
class StatusTruth(Judged):
    """The status-truth checks of a run and the per-slice timeline they were judged on."""

    checks: tuple[Check, ...]
    slices: tuple[TruthSlice, ...]
    tolerance_s: float  # checks: paths first, then components

    def to_dict(self) -> dict[str, JSONValue]:
        """The judgement as a JSON-ready dict."""
        return {
            "passed": self.passed,
            "tolerance_s": self.tolerance_s,
            "checks": [c.to_dict() for c in self.checks],
            "slices": [s.to_dict() for s in self.slices],
        }


@dataclass(frozen=True, kw_only=True)
class _Stretch:
    """A maximal run of flagged slices."""

    start_s: float
    end_s: float
    first: int  # index of its first slice
    last: int  # index of its last slice

    @property
    def duration_s(self) -> float:
        """The stretch's length in seconds."""
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
    without a stretch reports the window ``run``. See the `failover_tests.status_truth`
    docstring for the rules.
    """
    if not (math.isfinite(poll_interval_s) and poll_interval_s > 0):
        raise ScenarioError(f"status truth: poll_interval_s={poll_interval_s} must be a finite number > 0 (seconds)")
    if not run_start_s <= fault_start_s <= fault_end_s <= run_end_s:
        raise ScenarioError(
            "status truth needs run start <= fault start <= fault end <= run end; got "
            f"{run_start_s:.3f} s, {fault_start_s:.3f} s, {fault_end_s:.3f} s, {run_end_s:.3f} s"
        )
    tolerance_s = rules.tolerance_s(poll_interval_s)
    bounds = slice_bounds(run_start_s, run_end_s, rules.slice_s)
    deps = rules.dependencies
    seen_paths = {r.path for r in records}
    paths = [p for p in deps if p in seen_paths]
    samples = sorted(status_samples, key=lambda s: s[0])
    components = component_order(samples)

    health = path_health(records, paths, bounds, rules)
    shown = shown_states(samples, components, bounds, rules.sample_hold_s)
    users = {c: [p for p in paths if c in deps[p]] for c in components}
    expected = {c: [worst_health(health[p][i] for p in users[c]) for i in range(len(bounds) - 1)] for c in components}

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

    windows = _WindowNamer(
        fault_start_s=fault_start_s,
        fault_end_s=fault_end_s,
        run_start_s=run_start_s,
        run_end_s=run_end_s,
        slice_s=rules.slice_s,
    )
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
            _check(
                "status_truth_under",
                path,
                stretches=stretches,
                texts=texts,
                judged=judged,
                bounds=bounds,
                tolerance_s=tolerance_s,
                windows=windows,
                not_judged=not_judged,
            )
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
            _check(
                "status_truth_over",
                component,
                stretches=stretches,
                texts=texts,
                judged=judged,
                bounds=bounds,
                tolerance_s=tolerance_s,
                windows=windows,
                not_judged=not_judged,
            )
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
                    shown_best=extreme(shown[c][i], worst=False),
                    shown_worst=extreme(shown[c][i], worst=True),
                )
                for c in components
            ),
            unreported=tuple(p for p in paths if under[p][i]),
            overreported=tuple(c for c in components if over[c][i]),
        )
        for i in range(n)
    )
    return StatusTruth(checks=tuple(checks), slices=slices, tolerance_s=tolerance_s)


def _stretches(bounds: Sequence[float], flags: Sequence[bool]) -> list[_Stretch]:
    """Maximal runs of consecutive flagged slices."""
    out: list[_Stretch] = []
    first: int | None = None
    for i, on in enumerate([*flags, False]):
        if on and first is None:
            first = i
        elif not on and first is not None:
            out.append(_Stretch(start_s=bounds[first], end_s=bounds[i], first=first, last=i - 1))
            first = None
    return out


def _span(stretch: _Stretch) -> str:
    """`6.0 s [12.0 s..18.0 s]`."""
    return f"{stretch.duration_s:.1f} s [{stretch.start_s:.1f} s..{stretch.end_s:.1f} s]"


@dataclass(frozen=True, kw_only=True)
class _WindowNamer:
    """Names the window a stretch starts in, after the fault window."""

    fault_start_s: float
    fault_end_s: float
    run_start_s: float
    run_end_s: float
    slice_s: float = 1.0

    def name(self, start_s: float) -> str:
        """`before`, `during` or `after`: where a stretch starting at `start_s` lies."""
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
    *,
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
        return Check(
            name=name,
            path=path,
            window="run",
            window_start_s=windows.run_start_s,
            window_end_s=windows.run_end_s,
            observed=None,
            limit=tolerance_s,
            passed=True,
            message=message,
        )
    if not stretches:
        judged_s = sum(bounds[i + 1] - bounds[i] for i in judged)
        message = f"status: {subject} no mismatch over {judged_s:.1f} s judged"
        return Check(
            name=name,
            path=path,
            window="run",
            window_start_s=windows.run_start_s,
            window_end_s=windows.run_end_s,
            observed=0.0,
            limit=tolerance_s,
            passed=True,
            message=message,
        )
    # The longest stretch; the earliest of equally long ones.
    k = max(range(len(stretches)), key=lambda j: (stretches[j].duration_s, -j))
    worst = stretches[k]
    over = [s for s in stretches if s.duration_s > tolerance_s + EPS_S]
    passed = not over
    message = f"status: {texts[k]}"
    if passed:
        message += f", within the {tolerance_s:.1f} s tolerance"
    elif len(over) > 1:
        message += f" ({len(over)} stretches over the {tolerance_s:.1f} s tolerance)"
    window = windows.name(worst.start_s)
    return Check(
        name=name,
        path=path,
        window=window,
        window_start_s=worst.start_s,
        window_end_s=worst.end_s,
        observed=worst.duration_s,
        limit=tolerance_s,
        passed=passed,
        message=message,
    )
