"""SLO specs, time windows around a fault, and the verdict a run earns against them.

A request belongs to the window containing its *scheduled* time (windows are half-open,
``[start_s, end_s)``), so a request sent just before a fault but answered during it counts
as "before": it is the load the client offered then.

Checks and their rules (a value exactly equal to its limit passes):

- ``requests``: the window holds at least ``min_requests`` (default 1) requests of the
  path; an empty window fails with ``no requests`` instead of passing every other check
  vacuously, and the other checks of that window are skipped. With ``min_requests=0`` an
  empty window is accepted and nothing else is checked in it.
- ``success``: ok requests / all requests >= ``min_success``. A fallback answer (cached
  completion, degraded page) counts as ok only where fallbacks are allowed: never in a window
  that starts at or after the fault's end (normally ``after``: the fault is over, so a
  fallback means the stack has not recovered), nor anywhere with ``allow_fallback=False``.
  The message then says how many fallback answers counted as failures.
- ``fallback``: fallback answers / all requests <= ``max_fallback_share``, in every window of
  the SLO (a degraded answer is a cost even where it is allowed).
- ``p50`` / ``p90`` / ``p99``: HdrHistogram percentiles over every request, failed ones included.
- ``consecutive_failures``: the longest run of failures in scheduled order (not completion
  order) <= ``max_consecutive_failures``.
- ``recovery``: let R be the path's requests scheduled at or after the fault's end, up to
  the end of the run, in scheduled order, and call a request *good* when it is a real answer
  (ok and not a fallback answer, whatever ``allow_fallback`` says) and, when ``max_p99_ms``
  is set, no slower than ``max_p99_ms``. The recovery point is the earliest time t >= fault end such that
  every request of R scheduled at or after t is good: the fault end itself when all of R is
  good, otherwise the scheduled time of the request right after the last bad one. Recovery
  time = recovery point - fault end. When the last request of R is bad, recovery never
  came (``None``) and the check fails. Recovery is checked once per SLO, against the
  window that starts at the fault's end (normally ``after``), whatever the SLO's windows.

The ``after`` window of an SLO with a recovery budget is judged from the end of that budget
on: the recovery check owns the transition (a circuit breaker still open, a replica rejoining),
and the other checks ask that the path then stays within its SLO. Without a budget the whole
window is judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from failover_tests.traffic import JSONValue, Record, WindowStats, summarize
from failover_tests.verdict import Check, Verdict
from infra.errors import ScenarioError

__all__ = [
    "SLO",
    "Window",
    "evaluate",
    "pair_text",
    "recovery_time_s",
    "windows_around",
]

DEFAULT_WINDOWS: tuple[str, ...] = ("before", "during", "after")


@dataclass(frozen=True)
class Window:
    """A named half-open interval [start_s, end_s) of scheduled times on the probe clock."""

    name: str
    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        """Reject an unnamed or backwards window."""
        if not self.name:
            raise ScenarioError("Window.name is empty: use before, during, after or a label")
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)):
            raise ScenarioError(f"window {self.name!r}: bounds [{self.start_s}, {self.end_s}] must be finite")
        if self.end_s < self.start_s:
            raise ScenarioError(
                f"window {self.name!r} ends before it starts: [{self.start_s:.3f} s, {self.end_s:.3f} s]"
            )

    @property
    def duration_s(self) -> float:
        """Length of the window in seconds."""
        return self.end_s - self.start_s

    def contains(self, t_s: float) -> bool:
        """Whether a scheduled time falls in the window."""
        return self.start_s <= t_s < self.end_s

    def describe(self, fault_label: str) -> str:
        """`during kill(api-2) [12.0 s..22.0 s]`, as used in check messages."""
        label = f" {fault_label}" if fault_label else ""
        return f"{self.name}{label} [{self.start_s:.1f} s..{self.end_s:.1f} s]"

    def to_dict(self) -> dict[str, JSONValue]:
        """The window as a JSON-ready dict."""
        return {"name": self.name, "start_s": self.start_s, "end_s": self.end_s}


def windows_around(
    fault_start_s: float,
    fault_end_s: float,
    probe_end_s: float,
    *,
    probe_start_s: float = 0.0,
) -> tuple[Window, Window, Window]:
    """The before, during and after windows of a fault on the probe clock."""
    if not probe_start_s <= fault_start_s <= fault_end_s <= probe_end_s:
        raise ScenarioError(
            "windows need probe start <= fault start <= fault end <= probe end; got "
            f"{probe_start_s:.3f} s, {fault_start_s:.3f} s, {fault_end_s:.3f} s, "
            f"{probe_end_s:.3f} s"
        )
    return (
        Window("before", probe_start_s, fault_start_s),
        Window("during", fault_start_s, fault_end_s),
        Window("after", fault_end_s, probe_end_s),
    )


@dataclass(frozen=True)
class SLO:
    """What one path must achieve in the windows it applies to; None disables a check."""

    path: str
    window: str | tuple[str, ...] = DEFAULT_WINDOWS
    min_success: float | None = None
    max_p50_ms: float | None = None
    max_p99_ms: float | None = None
    max_consecutive_failures: int | None = None
    max_recovery_s: float | None = None
    min_requests: int = 1
    allow_fallback: bool = True
    max_fallback_share: float | None = None
    max_p90_ms: float | None = None

    def __post_init__(self) -> None:
        """Normalise `window` to a tuple and reject impossible limits."""
        names = (self.window,) if isinstance(self.window, str) else tuple(self.window)
        object.__setattr__(self, "window", names)
        where = f"SLO for {self.path!r}"
        if not self.path:
            raise ScenarioError("SLO.path is empty: name a probe path like 'api.complete'")
        if not names or any(not n for n in names):
            raise ScenarioError(f"{where}: window must name at least one window")
        if self.min_success is not None and not 0.0 <= self.min_success <= 1.0:
            raise ScenarioError(f"{where}: min_success={self.min_success} is a ratio in 0..1 (e.g. 0.999)")
        if self.max_fallback_share is not None and not 0.0 <= self.max_fallback_share <= 1.0:
            raise ScenarioError(f"{where}: max_fallback_share={self.max_fallback_share} is a ratio in 0..1 (e.g. 0.5)")
        for key in ("max_p50_ms", "max_p90_ms", "max_p99_ms", "max_recovery_s"):
            value = getattr(self, key)
            if value is not None and not value >= 0:
                raise ScenarioError(f"{where}: {key}={value} must be >= 0")
        if self.max_consecutive_failures is not None and self.max_consecutive_failures < 0:
            raise ScenarioError(f"{where}: max_consecutive_failures={self.max_consecutive_failures} must be >= 0")
        if self.min_requests < 0:
            raise ScenarioError(f"{where}: min_requests={self.min_requests} must be >= 0")

    @property
    def window_names(self) -> tuple[str, ...]:
        """The names of the windows this SLO applies to."""
        return (self.window,) if isinstance(self.window, str) else self.window

    def is_good(self, record: Record, *, after_fault: bool = False) -> bool:
        """Whether a request counts as a success under this SLO (fallbacks per the SLO; never after the fault)."""
        return record.ok and (not record.fallback or (self.allow_fallback and not after_fault))

    def to_dict(self) -> dict[str, JSONValue]:
        """The SLO as a JSON-ready dict."""
        return {
            "path": self.path,
            "window": list(self.window_names),
            "min_success": self.min_success,
            "max_p50_ms": self.max_p50_ms,
            "max_p99_ms": self.max_p99_ms,
            "max_consecutive_failures": self.max_consecutive_failures,
            "max_recovery_s": self.max_recovery_s,
            "min_requests": self.min_requests,
            "allow_fallback": self.allow_fallback,
            "max_fallback_share": self.max_fallback_share,
            "max_p90_ms": self.max_p90_ms,
        }


def pair_text(observed: float, limit: float, decimals: int, max_decimals: int = 6) -> tuple[str, str]:
    """Format observed and limit with the fewest decimals (>= `decimals`) that tell them apart."""
    while True:
        obs, lim = f"{observed:.{decimals}f}", f"{limit:.{decimals}f}"
        if obs != lim or observed == limit or decimals >= max_decimals:
            return obs, lim
        decimals += 1


def recovery_time_s(
    records: Iterable[Record],
    path: str,
    fault_end_s: float,
    *,
    max_latency_ms: float | None = None,
) -> float | None:
    """Seconds from the fault's end until every later request of `path` is a real answer; None if never.

    See the module docstring for the precise definition: a fallback answer is not a recovery.
    With no request after the fault's end there is nothing to recover to, so the result is
    None as well.
    """
    after = sorted(
        (r for r in records if r.path == path and r.scheduled_s >= fault_end_s),
        key=lambda r: (r.scheduled_s, r.seq),
    )
    if not after:
        return None

    def good(rec: Record) -> bool:
        if not rec.ok or rec.fallback:
            return False
        return max_latency_ms is None or rec.latency_ms <= max_latency_ms

    last_bad = -1
    for i, rec in enumerate(after):
        if not good(rec):
            last_bad = i
    if last_bad == -1:
        return 0.0
    if last_bad == len(after) - 1:
        return None
    return after[last_bad + 1].scheduled_s - fault_end_s


def evaluate(
    records: Sequence[Record],
    slos: Sequence[SLO],
    windows: Sequence[Window],
    fault_label: str,
    *,
    fault_end_s: float | None = None,
) -> Verdict:
    """Judge the records against every SLO in every window it applies to.

    `fault_end_s` anchors the recovery checks; by default it is the end of the window named
    ``during``. The window reported with a recovery check is the one starting at the fault
    end (normally ``after``), or one from the fault end to the last request if none does.
    """
    by_name: dict[str, Window] = {}
    for window in windows:
        if window.name in by_name:
            raise ScenarioError(f"window name {window.name!r} is used twice; names must be unique")
        by_name[window.name] = window
    for slo in slos:
        unknown = [n for n in slo.window_names if n not in by_name]
        if unknown:
            raise ScenarioError(
                f"SLO for {slo.path!r} names unknown window(s) {unknown}; known windows: {sorted(by_name)}"
            )
    if fault_end_s is None and "during" in by_name:
        fault_end_s = by_name["during"].end_s
    if fault_end_s is None and any(s.max_recovery_s is not None for s in slos):
        raise ScenarioError("max_recovery_s needs the fault's end: pass fault_end_s= or a window named 'during'")

    checks: list[Check] = []
    stats: dict[tuple[str, str, bool], WindowStats] = {}
    for slo in slos:
        for name in slo.window_names:
            window = by_name[name]
            strict = not slo.allow_fallback or _after_fault(window, fault_end_s)
            if slo.max_recovery_s is not None and fault_end_s is not None and _after_fault(window, fault_end_s):
                start = min(window.end_s, max(window.start_s, fault_end_s + slo.max_recovery_s))
                window = Window(window.name, start, window.end_s)
            key = (slo.path, name, strict)
            if key not in stats:
                stats[key] = summarize(records, slo.path, window, fallback_is_failure=strict)
            checks.extend(_window_checks(slo, window, stats[key], fault_label))
        if slo.max_recovery_s is not None:
            assert fault_end_s is not None
            checks.append(_recovery_check(records, slo, windows, fault_end_s, fault_label))
    # One stats entry per (path, window): prefer the plain view (fallbacks as successes) where
    # one was judged; windows after the fault are only ever judged on real answers.
    unique: dict[tuple[str, str], WindowStats] = {}
    for (path, name, strict), st in stats.items():
        if (path, name) not in unique or not strict:
            unique[(path, name)] = st
    order = {w.name: i for i, w in enumerate(windows)}
    ordered = sorted(unique.values(), key=lambda s: (s.path, order[s.window]))
    return Verdict(fault_label=fault_label, checks=tuple(checks), stats=tuple(ordered))


def _after_fault(window: Window, fault_end_s: float | None) -> bool:
    """Whether a window lies after the fault, where only real answers count as successes."""
    return fault_end_s is not None and window.name != "during" and window.start_s >= fault_end_s


def _window_checks(slo: SLO, window: Window, stats: WindowStats, fault_label: str) -> list[Check]:
    """The request-count, success, fallback, latency and failure-run checks of one window."""
    where = window.describe(fault_label)
    path = slo.path

    def check(name: str, observed: float | None, limit: float, passed: bool, msg: str) -> Check:
        return Check(
            name=name,
            path=path,
            window=window.name,
            window_start_s=window.start_s,
            window_end_s=window.end_s,
            observed=observed,
            limit=limit,
            passed=passed,
            message=f"{path}: {msg} {where}",
        )

    count = stats.count
    if count < slo.min_requests:
        text = "no requests" if count == 0 else f"{count} requests < {slo.min_requests}"
        return [check("requests", float(count), float(slo.min_requests), False, text)]
    if count == 0:  # min_requests=0: an empty window is explicitly acceptable
        return []
    out = []
    if slo.min_requests > 1:
        text = f"{count} requests >= {slo.min_requests}"
        out.append(check("requests", float(count), float(slo.min_requests), True, text))
    if slo.min_success is not None and stats.success_ratio is not None:
        ratio = stats.success_ratio
        passed = ratio >= slo.min_success
        obs, lim = pair_text(ratio * 100.0, slo.min_success * 100.0, 1)
        text = f"success {obs}% {'>=' if passed else '<'} {lim}%"
        if stats.fallback_is_failure and stats.fallback_count:
            text += f" ({stats.fallback_count} fallback answers counted as failures)"
        out.append(check("success", ratio, slo.min_success, passed, text))
    if slo.max_fallback_share is not None and stats.fallback_share is not None:
        share = stats.fallback_share
        passed = share <= slo.max_fallback_share
        obs, lim = pair_text(share * 100.0, slo.max_fallback_share * 100.0, 1)
        text = f"fallback {obs}% {'<=' if passed else '>'} {lim}%"
        out.append(check("fallback", share, slo.max_fallback_share, passed, text))
    for name, value, limit in (
        ("p50", stats.p50_ms, slo.max_p50_ms),
        ("p90", stats.p90_ms, slo.max_p90_ms),
        ("p99", stats.p99_ms, slo.max_p99_ms),
    ):
        if limit is None or value is None:
            continue
        passed = value <= limit
        obs, lim = pair_text(value, limit, 0)
        text = f"{name} {obs} ms {'<=' if passed else '>'} {lim} ms"
        out.append(check(name, value, limit, passed, text))
    if slo.max_consecutive_failures is not None:
        run = stats.longest_failure_run
        passed = run <= slo.max_consecutive_failures
        text = f"{run} consecutive failures {'<=' if passed else '>'} {slo.max_consecutive_failures}"
        out.append(check("consecutive_failures", float(run), slo.max_consecutive_failures, passed, text))
    return out


def _recovery_check(
    records: Sequence[Record],
    slo: SLO,
    windows: Sequence[Window],
    fault_end_s: float,
    fault_label: str,
) -> Check:
    """The time-to-recover check of one SLO, reported against the post-fault window."""
    assert slo.max_recovery_s is not None
    window = next((w for w in windows if w.start_s == fault_end_s and w.name != "during"), None)
    if window is None:
        last_s = max((r.scheduled_s for r in records if r.path == slo.path), default=fault_end_s)
        window = Window("after", fault_end_s, max(fault_end_s, last_s))
    where = window.describe(fault_label)
    has_requests = any(r.path == slo.path and r.scheduled_s >= fault_end_s for r in records)
    recovery = recovery_time_s(
        records,
        slo.path,
        fault_end_s,
        max_latency_ms=slo.max_p99_ms,
    )
    if recovery is None:
        passed = False
        text = "no recovery" if has_requests else "no requests to measure recovery"
    else:
        passed = recovery <= slo.max_recovery_s
        obs, lim = pair_text(recovery, slo.max_recovery_s, 1)
        text = f"recovery {obs} s {'<=' if passed else '>'} {lim} s"
    return Check(
        name="recovery",
        path=slo.path,
        window=window.name,
        window_start_s=window.start_s,
        window_end_s=window.end_s,
        observed=recovery,
        limit=slo.max_recovery_s,
        passed=passed,
        message=f"{slo.path}: {text} {where}",
    )
