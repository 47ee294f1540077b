"""Compaction: a scenario's requests as per-path time buckets, and its JSON document."""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from failover_tests.outcomes import REPORT_SCHEMA as REPORT_SCHEMA  # defined with the verdict it versions
from failover_tests.results import ScenarioResult
from failover_tests.traffic import (
    JSONValue,
    Record,
    WindowStats,
    percentiles,
    summarize,
)

log = logging.getLogger(__name__)

DEFAULT_BUCKET_S = 0.25


# -- compaction ----------------------------------------------------------------------------


def _error_kind(error: str) -> str:
    """A short class of error: `HTTP 503`, `timeout`, `ClientConnectorError`, `not sent`."""
    return error.split(":", 1)[0].strip() or "error"


@dataclass(frozen=True)
class Bucket:
    """One path's requests scheduled in one time bucket, compacted."""

    t_s: float
    count: int
    ok: int
    fallback: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    replicas: Mapping[str, int]
    errors_by_kind: Mapping[str, int]

    @property
    def errors(self) -> int:
        """Requests that failed."""
        return self.count - self.ok

    def to_dict(self) -> dict[str, JSONValue]:
        """The bucket as a JSON-ready dict."""
        return {
            "t_s": self.t_s,
            "count": self.count,
            "ok": self.ok,
            "errors": self.errors,
            "fallback": self.fallback,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "replicas": dict(self.replicas),
            "errors_by_kind": dict(self.errors_by_kind),
        }


def compact_records(records: Iterable[Record], bucket_s: float = DEFAULT_BUCKET_S) -> dict[str, list[Bucket]]:
    """Per path, the non-empty time buckets of requests (by scheduled time), in order."""
    grouped: dict[str, dict[int, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        grouped[rec.path][math.floor(rec.scheduled_s / bucket_s)].append(rec)
    out: dict[str, list[Bucket]] = {}
    for path, buckets in grouped.items():
        rows: list[Bucket] = []
        for index in sorted(buckets):
            recs = buckets[index]
            latencies = [r.latency_ms for r in recs]
            p50, p99 = percentiles(latencies, 50.0, 99.0)
            replicas = Counter(r.replica for r in recs if r.replica is not None)
            kinds = Counter(_error_kind(r.error) for r in recs if not r.ok and r.error)
            rows.append(
                Bucket(
                    t_s=round(index * bucket_s, 6),
                    count=len(recs),
                    ok=sum(r.ok for r in recs),
                    fallback=sum(r.fallback for r in recs),
                    p50_ms=round(p50, 3),
                    p99_ms=round(p99, 3),
                    max_ms=round(max(latencies), 3),
                    replicas=dict(sorted(replicas.items())),
                    errors_by_kind=dict(kinds.most_common()),
                )
            )
        out[path] = rows
    return out


def scenario_stats(result: ScenarioResult) -> list[WindowStats]:
    """Per path and window statistics: the verdict's, or computed from the records."""
    if result.verdict is not None and result.verdict.stats:
        return list(result.verdict.stats)
    stats: list[WindowStats] = []
    for path in result.path_names:
        if result.windows:
            stats.extend(summarize(result.records, path, w) for w in result.windows)
        else:
            stats.append(summarize(result.records, path))
    return stats


@dataclass(frozen=True)
class Worst:
    """The worst figures of a scenario, for the summary table."""

    requests: int
    success_ratio: float | None
    success_where: str
    p99_ms: float | None
    p99_where: str
    failure_run: int
    recovery_s: float | None
    recovery_checked: bool
    fallback_share: float | None = None
    fallback_where: str = ""
    requests_by_window: Mapping[str, int] | None = None

    def to_dict(self) -> dict[str, JSONValue]:
        """The worst figures as a JSON-ready dict."""
        return {
            "requests": self.requests,
            "requests_by_window": dict(self.requests_by_window or {}),
            "success_ratio": self.success_ratio,
            "success_where": self.success_where,
            "p99_ms": self.p99_ms,
            "p99_where": self.p99_where,
            "longest_failure_run": self.failure_run,
            "recovery_s": self.recovery_s,
            "recovery_checked": self.recovery_checked,
            "fallback_share": self.fallback_share,
            "fallback_where": self.fallback_where,
        }


def worst_of(result: ScenarioResult, stats: Sequence[WindowStats]) -> Worst:
    """Lowest success, highest p99 and fallback share, longest failure run, slowest recovery."""
    judged = [s for s in stats if s.count]
    low = min(judged, key=lambda s: s.success_ratio or 0.0, default=None)
    high = max(judged, key=lambda s: s.p99_ms or 0.0, default=None)
    degraded = max(judged, key=lambda s: s.fallback_share or 0.0, default=None)
    if degraded is not None and not degraded.fallback_count:
        degraded = None
    by_window: dict[str, int] = {}
    for st in stats:
        by_window[st.window] = by_window.get(st.window, 0) + st.count
    recoveries = [c for c in result.verdict.checks if c.name == "recovery"] if result.verdict else []
    recovery: float | None = None
    if recoveries:
        observed = [c.observed for c in recoveries]
        recovery = None if any(o is None for o in observed) else max(o or 0.0 for o in observed)
    return Worst(
        requests=len(result.records),
        success_ratio=low.success_ratio if low else None,
        success_where=f"{low.path} {low.window}" if low else "",
        p99_ms=high.p99_ms if high else None,
        p99_where=f"{high.path} {high.window}" if high else "",
        failure_run=max((s.longest_failure_run for s in judged), default=0),
        recovery_s=recovery,
        recovery_checked=bool(recoveries),
        fallback_share=degraded.fallback_share if degraded else None,
        fallback_where=f"{degraded.path} {degraded.window}" if degraded else "",
        requests_by_window=by_window,
    )


def scenario_json(
    result: ScenarioResult,
    stats: Sequence[WindowStats],
    buckets: Mapping[str, Sequence[Bucket]],
    bucket_s: float,
) -> dict[str, JSONValue]:
    """One scenario's part of report.json."""
    totals = {p: summarize(result.records, p).to_dict() for p in result.path_names}
    return {
        "name": result.name,
        "description": result.description,
        "status": result.status,
        "fault": result.fault_label,
        "targets": list(result.targets),
        "seed": result.seed,
        "fault_start_s": result.fault_start_s,
        "fault_end_s": result.fault_end_s,
        "duration_s": result.duration_s,
        "error": result.error,
        "windows": [w.to_dict() for w in result.windows],
        "verdict": result.verdict.to_dict(include_stats=False) if result.verdict else None,
        "stats": [s.to_dict() for s in stats],
        "worst": worst_of(result, stats).to_dict(),
        "events": [e.to_dict() for e in result.events],
        "status_samples": [{"t_s": t, "components": dict(states)} for t, states in result.status_samples],
        "spof": list(result.spof),
        "schedule_lag": result.schedule_lag.to_dict() if result.schedule_lag else None,
        "request_count": len(result.records),
        "bucket_s": bucket_s,
        "paths": {
            p: {"total": totals[p], "buckets": [b.to_dict() for b in buckets.get(p, [])]} for p in result.path_names
        },
    }
