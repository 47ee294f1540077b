"""Synthetic client records and status pages for the status-truth tests, and ways to read a judgement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from failover_tests.status_truth import (
    DEFAULT_RULES,
    StatusTruth,
    StatusTruthRules,
    judge_status,
)
from failover_tests.traffic import Record
from failover_tests.verdict import Check

COMPONENTS = ("web", "api", "model", "edge", "store", "integration")
PATHS = ("api.complete", "api.sessions", "api.sessions_read", "web.home")
RUN_END_S = 30.0
FAULT = (10.0, 20.0)
STEP_S = 0.125  # 8 requests a second, on exact binary fractions so slice edges are exact
Span = tuple[float, float]
Override = tuple[str, str, float, float]
Sample = tuple[float, dict[str, str]]


def flow(
    path: str,
    start_s: float = 0.0,
    end_s: float = RUN_END_S,
    *,
    step_s: float = STEP_S,
    bad: Sequence[Span] = (),
    fallback: Sequence[Span] = (),
    every_nth_bad: int = 0,
) -> list[Record]:
    """Requests of one path every `step_s`: failed inside `bad`, fallback answers inside `fallback`."""
    out = []
    n = 0
    t = start_s
    while t < end_s:
        failed = any(a <= t < b for a, b in bad) or (every_nth_bad > 0 and n % every_nth_bad == 0)
        cached = any(a <= t < b for a, b in fallback)
        out.append(
            Record(
                path=path,
                seq=n,
                scheduled_s=t,
                latency_ms=10.0,
                status=503 if failed else 200,
                ok=not failed,
                replica=None if failed else "api-0",
                endpoint="http://127.0.0.1:8080",
                error="HTTP 503" if failed else None,
                fallback=cached and not failed,
                completed_s=t + 0.01,
            )
        )
        n += 1
        t = start_s + n * step_s
    return out


def traffic(bad: Mapping[str, Sequence[Span]] | None = None, **fallback: Sequence[Span]) -> list[Record]:
    """All four default paths; `bad` maps a path to its failing spans, keywords give fallback spans."""
    bad = bad or {}
    out: list[Record] = []
    for path in PATHS:
        out += flow(path, bad=bad.get(path, ()), fallback=fallback.get(path.replace(".", "_"), ()))
    return out


def page(*overrides: Override, start_s: float = 0.0, end_s: float = RUN_END_S, step_s: float = 0.5) -> list[Sample]:
    """Status samples every `step_s`: everything operational except (component, state, from_s, to_s)."""
    samples: list[Sample] = []
    t = start_s
    while t < end_s:
        states = dict.fromkeys(COMPONENTS, "operational")
        for component, state, a, b in overrides:
            if a <= t < b:
                states[component] = state
        samples.append((t, states))
        t += step_s
    return samples


def judge(
    records: Sequence[Record],
    samples: Sequence[tuple[float, Mapping[str, str]]],
    *,
    poll_interval_s: float = 1.0,
    rules: StatusTruthRules = DEFAULT_RULES,
) -> StatusTruth:
    """Judge with the default fault window and run end."""
    return judge_status(
        records,
        samples,
        poll_interval_s=poll_interval_s,
        fault_start_s=FAULT[0],
        fault_end_s=FAULT[1],
        run_end_s=RUN_END_S,
        rules=rules,
    )


def check(truth: StatusTruth, name: str, subject: str) -> Check:
    """The one check of a name and subject (`api.sessions`, `store`)."""
    found = [c for c in truth.checks if c.name == name and c.path == f"status.{subject}"]
    assert len(found) == 1, [c.path for c in truth.checks]
    return found[0]


def under(truth: StatusTruth, path: str) -> Check:
    """The under-reporting check of a path."""
    return check(truth, "status_truth_under", path)


def over(truth: StatusTruth, component: str) -> Check:
    """The over-reporting check of a component."""
    return check(truth, "status_truth_over", component)
