"""Statistics over records: one window's success, fallback share and latency percentiles (HdrHistogram)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from hdrh.histogram import HdrHistogram

from failover_tests.traffic.paths import JSONValue
from failover_tests.traffic.records import LagStats, Record, TimeSpan

# HdrHistogram range and precision used for every latency figure: 1 us .. 120 s, 3 digits.
HDR_LOWEST_US = 1
HDR_HIGHEST_US = 120_000_000
HDR_SIGNIFICANT_DIGITS = 3


def latency_histogram() -> HdrHistogram:
    """A fresh HdrHistogram in microseconds (1 us..120 s, 3 significant digits)."""
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_SIGNIFICANT_DIGITS)


class LagMeter:
    """How late a probe sends its requests (send time minus scheduled time), in an HdrHistogram."""

    def __init__(self) -> None:
        """Start with no request counted."""
        self._hist = latency_histogram()
        self._sum_us = 0

    def record(self, lag_s: float) -> None:
        """Count one request sent `lag_s` late (clamped to the histogram's range)."""
        lag_us = max(HDR_LOWEST_US, min(HDR_HIGHEST_US, int(lag_s * 1e6)))
        self._hist.record_value(lag_us)
        self._sum_us += lag_us

    def stats(self) -> LagStats:
        """The lag figures of every request counted so far; all zero before the first."""
        hist = self._hist
        count = hist.get_total_count()
        if not count:
            return LagStats(count=0, p50_ms=0.0, p90_ms=0.0, p99_ms=0.0, max_ms=0.0, mean_ms=0.0)
        return LagStats(
            count=count,
            p50_ms=hist.get_value_at_percentile(50.0) / 1000.0,
            p90_ms=hist.get_value_at_percentile(90.0) / 1000.0,
            p99_ms=hist.get_value_at_percentile(99.0) / 1000.0,
            max_ms=hist.get_max_value() / 1000.0,
            mean_ms=self._sum_us / count / 1000.0,
        )


def _to_us(value_ms: float) -> int:
    """Clamp a latency in ms to the histogram's trackable range, in whole microseconds."""
    return min(HDR_HIGHEST_US, max(HDR_LOWEST_US, round(value_ms * 1000.0)))


@dataclass(frozen=True, kw_only=True)
class WindowStats:
    """What one path saw in one window; requests belong to the window of their schedule.

    Every request is one of: a *real* answer (ok, not a fallback), a *fallback* answer (ok, but a
    cached or degraded one: ``fallback_count``), or a failure. ``ok_count`` and
    ``success_ratio`` count fallback answers as successes unless ``fallback_is_failure``.
    """

    path: str
    window: str
    start_s: float
    end_s: float
    count: int
    ok_count: int
    success_ratio: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    longest_failure_run: int
    replicas: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    fallback_count: int = 0
    statuses: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    real_count: int = 0
    fallback_is_failure: bool = False
    retried_count: int = 0  # requests sent to a second edge after a connect error (attempts > 1)
    errors: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # failure kind -> count

    @property
    def fallback_share(self) -> float | None:
        """Fallback answers / all requests of the window; None when it is empty."""
        return self.fallback_count / self.count if self.count else None

    def to_dict(self) -> dict[str, JSONValue]:
        """The stats as a JSON-ready dict."""
        return {
            "path": self.path,
            "window": self.window,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "count": self.count,
            "ok_count": self.ok_count,
            "success_ratio": self.success_ratio,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "longest_failure_run": self.longest_failure_run,
            "replicas": dict(self.replicas),
            "real_count": self.real_count,
            "fallback_count": self.fallback_count,
            "fallback_share": self.fallback_share,
            "fallback_is_failure": self.fallback_is_failure,
            "retried_count": self.retried_count,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
        }


def percentiles(latencies_ms: Sequence[float], *qs: float) -> tuple[float, ...]:
    """The q-th percentiles (0..100) of latencies in ms: the one definition every figure uses.

    From an HdrHistogram (1 us..120 s, 3 significant digits), which reports a bucket's highest
    equivalent value (up to 0.1% high), clamped so a percentile never lies outside the exact
    minimum and maximum.
    """
    if not latencies_ms:
        raise ValueError("percentiles of no latencies")
    hist = latency_histogram()
    for value in latencies_ms:
        hist.record_value(_to_us(value))
    lo_ms, hi_ms = min(latencies_ms), max(latencies_ms)
    return tuple(min(hi_ms, max(lo_ms, hist.get_value_at_percentile(q) / 1000.0)) for q in qs)


def error_kind(error: str) -> str:
    """The kind of a failure: `HTTP 503: <what the server said>`, `timeout`, `ServerDisconnectedError`."""
    if error.startswith("HTTP "):
        # `HTTP 503: session store unavailable: ...`: the status and what the server said.
        return error[:60]
    head = error.split(":", 1)[0].strip()
    return head[:40] or "error"


def summarize(
    records: Iterable[Record],
    path: str,
    window: TimeSpan | None = None,
    *,
    fallback_is_failure: bool = False,
) -> WindowStats:
    """Summarise one path's records scheduled in `window` (all records when None).

    Latency percentiles cover every request, failed ones included (the user waited that
    long either way), and come from an HdrHistogram (1 us..120 s, 3 significant digits:
    within 0.1%, clamped to the exact minimum and maximum); `max_ms` is exact. The
    longest failure run follows scheduled order, not completion order. Fallback answers
    (ok, flagged as fallback) are counted apart from real answers; with `fallback_is_failure`
    they also count as failures. A failed request is a failure, never a fallback answer.
    Requests that failed over to another edge after a connect error are `retried_count`.
    """
    selected = [r for r in records if r.path == path]
    if window is not None:
        selected = [r for r in selected if window.start_s <= r.scheduled_s < window.end_s]
        name, start_s, end_s = window.name, window.start_s, window.end_s
    else:
        name = "all"
        start_s = 0.0
        end_s = max((r.scheduled_s for r in selected), default=0.0)
    selected.sort(key=lambda r: (r.scheduled_s, r.seq))

    ok_count = 0
    run = longest = 0
    replicas: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    fallback_count = real_count = retried_count = 0
    for rec in selected:
        if rec.attempts > 1:
            retried_count += 1
        good = rec.ok and not (fallback_is_failure and rec.fallback)
        if good:
            ok_count += 1
            run = 0
        else:
            run += 1
            longest = max(longest, run)
        if rec.replica is not None:
            replicas[rec.replica] += 1
        if rec.ok and rec.fallback:
            fallback_count += 1
        elif rec.ok:
            real_count += 1
        statuses[str(rec.status)] += 1
        if rec.error:
            errors[error_kind(rec.error)] += 1

    count = len(selected)
    if count:
        max_ms: float | None = max(r.latency_ms for r in selected)
        p50: float | None
        p90: float | None
        p99: float | None
        p50, p90, p99 = percentiles([r.latency_ms for r in selected], 50.0, 90.0, 99.0)
        ratio: float | None = ok_count / count
    else:
        p50 = p90 = p99 = max_ms = ratio = None
    return WindowStats(
        path=path,
        window=name,
        start_s=start_s,
        end_s=end_s,
        count=count,
        ok_count=ok_count,
        success_ratio=ratio,
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        max_ms=max_ms,
        longest_failure_run=longest,
        replicas=MappingProxyType(dict(replicas.most_common())),
        fallback_count=fallback_count,
        statuses=MappingProxyType(dict(sorted(statuses.items()))),
        real_count=real_count,
        fallback_is_failure=fallback_is_failure,
        retried_count=retried_count,
        errors=MappingProxyType(dict(sorted(errors.items()))),
    )
