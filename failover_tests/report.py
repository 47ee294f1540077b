"""Run reports: `report.json` with every number, and a self-contained `report.html`.

The JSON opens with the run's verdict and exit code (`failover_tests.outcomes`) and lists every
test the run started, scenario or not, with its outcome, time and failure message. It keeps
each scenario's verdict, windows (real answers, fallback answers and their share apart),
events and status-page samples, and compacts its requests into per-path time buckets (count,
ok, errors by kind, fallbacks, latency p50/p99/max, requests per replica). Bucket percentiles are exact (nearest rank);
window percentiles come from the verdict's HdrHistogram statistics.

The HTML needs nothing but itself: inline CSS, and charts drawn here as inline SVG (latency
and errors per path with the fault window shaded, replicas serving traffic over time, the
status page's view over time). Every chart is an ``<svg class="chart" data-chart=...>``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from failover_tests.outcomes import ERROR, FAILED, PASSED, SKIPPED, Outcome, run_verdict
from failover_tests.results import ScenarioResult, StatusSample
from failover_tests.traffic import (
    Event,
    JSONValue,
    Record,
    WindowStats,
    summarize,
)

__all__ = [
    "REPORT_SCHEMA",
    "Bucket",
    "ScenarioResult",
    "StatusSample",
    "compact_records",
    "write_report",
]

log = logging.getLogger(__name__)

REPORT_SCHEMA = "stackdrill.report/1"
DEFAULT_BUCKET_S = 0.25
TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "report.html.j2"

# -- compaction ----------------------------------------------------------------------------


def _nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values by nearest rank."""
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


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
            latencies = sorted(r.latency_ms for r in recs)
            replicas = Counter(r.replica for r in recs if r.replica is not None)
            kinds = Counter(_error_kind(r.error) for r in recs if not r.ok and r.error)
            rows.append(
                Bucket(
                    t_s=round(index * bucket_s, 6),
                    count=len(recs),
                    ok=sum(r.ok for r in recs),
                    fallback=sum(r.fallback for r in recs),
                    p50_ms=round(_nearest_rank(latencies, 50.0), 3),
                    p99_ms=round(_nearest_rank(latencies, 99.0), 3),
                    max_ms=round(latencies[-1], 3),
                    replicas=dict(sorted(replicas.items())),
                    errors_by_kind=dict(kinds.most_common()),
                )
            )
        out[path] = rows
    return out


def _scenario_stats(result: ScenarioResult) -> list[WindowStats]:
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
class _Worst:
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


def _worst(result: ScenarioResult, stats: Sequence[WindowStats]) -> _Worst:
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
    return _Worst(
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


def _scenario_json(
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
        "worst": _worst(result, stats).to_dict(),
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


# -- SVG charts ----------------------------------------------------------------------------

_CHART_W = 1000
_LEFT = 118
_RIGHT = 18
_PLOT_W = _CHART_W - _LEFT - _RIGHT
_COLORS = {
    "p50": "#2563eb",
    "p99": "#ea580c",
    "max": "#94a3b8",
    "error": "#dc2626",
    "fallback": "#9333ea",
    "grid": "#e5e7eb",
    "axis": "#6b7280",
    "text": "#374151",
}
_REPLICA_PALETTE = (
    "#2563eb",
    "#059669",
    "#d97706",
    "#7c3aed",
    "#db2777",
    "#0891b2",
    "#65a30d",
    "#b45309",
    "#4f46e5",
    "#0d9488",
)
_STATE_COLORS = {
    "operational": "#22c55e",
    "ok": "#22c55e",
    "up": "#22c55e",
    "healthy": "#22c55e",
    "degraded": "#facc15",
    "degraded_performance": "#facc15",
    "partial_outage": "#f97316",
    "partial": "#f97316",
    "major_outage": "#dc2626",
    "outage": "#dc2626",
    "down": "#dc2626",
    "maintenance": "#60a5fa",
}
_UNKNOWN_STATE_COLOR = "#cbd5e1"


def _attr(value: object) -> str:
    """An escaped attribute value."""
    return html.escape(str(value), quote=True)


def _num(value: float) -> str:
    """A coordinate with at most two decimals."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _fmt_ms(value_ms: float) -> str:
    """`0.8 ms`, `12 ms`, `1.83 s`."""
    if value_ms >= 1000.0:
        return f"{value_ms / 1000.0:.2f} s"
    if value_ms >= 10.0:
        return f"{value_ms:.0f} ms"
    return f"{value_ms:.1f} ms"


def _fmt_decade(value_ms: float) -> str:
    """A power-of-ten latency as an axis label: `0.1 ms`, `10 ms`, `1 s`, `10 s`."""
    if value_ms >= 1000.0:
        return f"{value_ms / 1000.0:g} s"
    return f"{value_ms:g} ms"


def _fmt_s(value_s: float) -> str:
    """A tick label in seconds."""
    return f"{value_s:g}"


class _TimeAxis:
    """Maps probe time to x and draws the shared parts of a chart: grid, fault, events."""

    def __init__(self, end_s: float) -> None:
        self.end_s = max(end_s, 1e-3)

    def x(self, t_s: float) -> float:
        """The x coordinate of a time."""
        t = min(max(t_s, 0.0), self.end_s)
        return _LEFT + t / self.end_s * _PLOT_W

    def ticks(self) -> list[float]:
        """Round tick times, at most about twelve."""
        steps = (0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 3600)
        step = next((s for s in steps if self.end_s / s <= 12), steps[-1])
        return [i * step for i in range(int(self.end_s / step) + 1)]

    def grid(self, top: float, bottom: float, *, labels: bool) -> list[str]:
        """Vertical grid lines, and tick labels under `bottom` if asked."""
        out = []
        for t in self.ticks():
            x = _num(self.x(t))
            out.append(
                f'<line class="grid" x1="{x}" x2="{x}" y1="{_num(top)}" y2="{_num(bottom)}" '
                f'stroke="{_COLORS["grid"]}" stroke-width="1"/>'
            )
            if labels:
                out.append(
                    f'<text x="{x}" y="{_num(bottom + 14)}" text-anchor="middle" class="tick">{_fmt_s(t)}</text>'
                )
        return out

    def fault(self, result: ScenarioResult, top: float, bottom: float) -> list[str]:
        """The shaded fault window between `top` and `bottom`."""
        if result.fault_start_s is None:
            return []
        end = result.fault_end_s if result.fault_end_s is not None else self.end_s
        x0, x1 = self.x(result.fault_start_s), self.x(end)
        label = html.escape(result.fault_label or "fault")
        return [
            f'<rect class="fault-window" data-role="fault-window" x="{_num(x0)}" '
            f'y="{_num(top)}" width="{_num(max(x1 - x0, 1.0))}" height="{_num(bottom - top)}" '
            f'fill="#fee2e2" fill-opacity="0.55" stroke="#fca5a5" stroke-dasharray="4 3">'
            f"<title>fault {label}: {result.fault_start_s:.1f} s..{end:.1f} s</title></rect>"
        ]

    def events(self, events: Sequence[Event], top: float, bottom: float, *, labels: bool) -> list[str]:
        """A dashed vertical line per event, labelled at the top if asked."""
        out = []
        for ev in events:
            x = _num(self.x(ev.t_s))
            text = html.escape(ev.label)
            out.append(
                f'<line class="event" x1="{x}" x2="{x}" y1="{_num(top)}" y2="{_num(bottom)}" '
                f'stroke="#7f1d1d" stroke-width="1" stroke-dasharray="2 3">'
                f"<title>{ev.t_s:.2f} s: {text}</title></line>"
            )
            if labels:
                out.append(f'<text class="event-label" x="{x}" y="{_num(top - 4)}" text-anchor="middle">{text}</text>')
        return out


def _svg(kind: str, height: float, body: list[str], label: str, extra: str = "") -> Markup:
    """Wrap chart elements in an inline `<svg class="chart">`."""
    return Markup(
        f'<svg class="chart" data-chart="{kind}"{extra} viewBox="0 0 {_CHART_W} {_num(height)}" '
        f'width="100%" role="img" aria-label="{_attr(label)}" '
        f'preserveAspectRatio="xMidYMid meet">' + "".join(body) + "</svg>"
    )


def _latency_chart(result: ScenarioResult, path: str, buckets: Sequence[Bucket], bucket_s: float) -> Markup:
    """Latency (p50, p99, max per bucket, log scale) and errors of one path over time."""
    axis = _TimeAxis(result.timeline_end_s)
    top, bottom = 22.0, 190.0
    strip_top, strip_bottom = 198.0, 212.0
    height = 252.0
    values = [b.p50_ms for b in buckets] + [b.max_ms for b in buckets]
    lo = math.floor(math.log10(max(min(values, default=1.0), 0.01)))
    hi = math.ceil(math.log10(max(max(values, default=10.0), 0.01)))
    if hi - lo < 2:
        hi = lo + 2

    def y(value_ms: float) -> float:
        v = math.log10(max(value_ms, 10.0**lo))
        return bottom - (min(v, hi) - lo) / (hi - lo) * (bottom - top)

    body = [
        f'<rect class="plot" x="{_LEFT}" y="{_num(top)}" width="{_PLOT_W}" '
        f'height="{_num(bottom - top)}" fill="#ffffff" stroke="{_COLORS["grid"]}"/>'
    ]
    body += axis.fault(result, top, strip_bottom)
    body += axis.grid(top, strip_bottom, labels=True)
    for exp in range(lo, hi + 1):
        yy = _num(y(10.0**exp))
        body.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + _PLOT_W}" y1="{yy}" y2="{yy}" '
            f'stroke="{_COLORS["grid"]}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{yy}" dy="4" text-anchor="end">'
            f"{_fmt_decade(10.0**exp)}</text>"
        )
    for series in ("max", "p99", "p50"):
        d = []
        previous: float | None = None
        for b in buckets:
            cmd = "L" if previous is not None and b.t_s - previous <= bucket_s * 1.5 else "M"
            value = {"max": b.max_ms, "p99": b.p99_ms, "p50": b.p50_ms}[series]
            d.append(f"{cmd}{_num(axis.x(b.t_s + bucket_s / 2))} {_num(y(value))}")
            previous = b.t_s
        if d:
            dash = ' stroke-dasharray="3 3"' if series == "max" else ""
            stroke_w = "1" if series == "max" else "2"
            body.append(
                f'<path class="series {series}" data-series="{series}" d="{"".join(d)}" '
                f'fill="none" stroke="{_COLORS[series]}" stroke-width="{stroke_w}"'
                f' stroke-linejoin="round"{dash}/>'
            )
    body.append(
        f'<text class="strip-label" x="{_LEFT - 6}" y="{_num(strip_bottom - 3)}" '
        f'text-anchor="end">errors</text>'
        f'<rect x="{_LEFT}" y="{_num(strip_top)}" width="{_PLOT_W}" '
        f'height="{_num(strip_bottom - strip_top)}" fill="#f9fafb"/>'
    )
    width = max(_PLOT_W * bucket_s / axis.end_s, 1.5)
    for b in buckets:
        t, count, errors, fallback = b.t_s, b.count, b.errors, b.fallback
        x = _num(axis.x(t))
        if errors:
            kinds = ", ".join(f"{k} x{n}" for k, n in b.errors_by_kind.items())
            body.append(
                f'<rect class="error-mark" x="{x}" y="{_num(strip_top)}" width="{_num(width)}" '
                f'height="{_num(strip_bottom - strip_top)}" fill="{_COLORS["error"]}" '
                f'fill-opacity="{_num(0.35 + 0.65 * errors / count)}">'
                f"<title>{t:.2f} s: {errors}/{count} failed ({html.escape(kinds)})</title></rect>"
            )
        elif fallback:
            body.append(
                f'<rect class="fallback-mark" x="{x}" y="{_num(strip_top + 4)}" '
                f'width="{_num(width)}" height="{_num(strip_bottom - strip_top - 8)}" '
                f'fill="{_COLORS["fallback"]}" fill-opacity="0.6">'
                f"<title>{t:.2f} s: {fallback}/{count} fallback answers</title></rect>"
            )
    body += axis.events(result.events, top, strip_bottom, labels=True)
    body.append(
        f'<text class="axis-title" x="{_num(_LEFT + _PLOT_W / 2)}" y="{_num(height - 6)}" '
        f'text-anchor="middle">time since probe start (s)</text>'
        f'<text class="axis-title" transform="translate(16 {_num((top + bottom) / 2)}) '
        f'rotate(-90)" text-anchor="middle">latency (log)</text>'
    )
    return _svg(
        "latency",
        height,
        body,
        f"latency and errors of {path} over time",
        f' data-path="{_attr(path)}"',
    )


def _rows_chart(
    kind: str,
    result: ScenarioResult,
    rows: Sequence[str],
    cells: Sequence[tuple[int, float, float, str, float, str]],
    label: str,
) -> Markup:
    """A chart with one labelled row per item and coloured cells (row, t0, t1, fill, opacity)."""
    axis = _TimeAxis(result.timeline_end_s)
    row_h, top = 20.0, 8.0
    bottom = top + row_h * max(len(rows), 1)
    height = bottom + 40.0
    body = [
        f'<rect class="plot" x="{_LEFT}" y="{_num(top)}" width="{_PLOT_W}" '
        f'height="{_num(bottom - top)}" fill="#ffffff" stroke="{_COLORS["grid"]}"/>'
    ]
    body += axis.fault(result, top, bottom)
    body += axis.grid(top, bottom, labels=True)
    for i, name in enumerate(rows):
        yy = top + i * row_h
        body.append(
            f'<text class="row-label" x="{_LEFT - 6}" y="{_num(yy + row_h / 2)}" dy="4" '
            f'text-anchor="end">{html.escape(name)}</text>'
        )
    for row, t0, t1, fill, opacity, title in cells:
        x0, x1 = axis.x(t0), axis.x(t1)
        body.append(
            f'<rect class="cell" x="{_num(x0)}" y="{_num(top + row * row_h + 2)}" '
            f'width="{_num(max(x1 - x0, 1.0))}" height="{_num(row_h - 4)}" fill="{fill}" '
            f'fill-opacity="{_num(opacity)}"><title>{html.escape(title)}</title></rect>'
        )
    body += axis.events(result.events, top, bottom, labels=False)
    body.append(
        f'<text class="axis-title" x="{_num(_LEFT + _PLOT_W / 2)}" y="{_num(height - 6)}" '
        f'text-anchor="middle">time since probe start (s)</text>'
    )
    return _svg(kind, height, body, label)


def _replicas_chart(result: ScenarioResult, bucket_s: float) -> tuple[Markup | None, list[tuple[str, str]]]:
    """Which replicas answered, over time, all paths together; plus the legend entries."""
    per_bucket: dict[int, Counter[str]] = defaultdict(Counter)
    failed: Counter[int] = Counter()
    for rec in result.records:
        index = math.floor(rec.scheduled_s / bucket_s)
        if rec.replica is not None:
            per_bucket[index][rec.replica] += 1
        elif not rec.ok:
            failed[index] += 1
    replicas = sorted({r for counts in per_bucket.values() for r in counts})
    if not replicas and not failed:
        return None, []
    rows = replicas + (["no answer"] if failed else [])
    colors = {r: _REPLICA_PALETTE[i % len(_REPLICA_PALETTE)] for i, r in enumerate(replicas)}
    peak = max([n for counts in per_bucket.values() for n in counts.values()] + [1])
    cells = []
    for index, counts in sorted(per_bucket.items()):
        t0 = index * bucket_s
        for replica, n in counts.items():
            title = f"{replica}: {n} requests at {t0:.2f}..{t0 + bucket_s:.2f} s"
            cells.append(
                (
                    rows.index(replica),
                    t0,
                    t0 + bucket_s,
                    colors[replica],
                    0.2 + 0.8 * n / peak,
                    title,
                )
            )
    fail_peak = max(list(failed.values()) + [1])
    for index, n in sorted(failed.items()):
        t0 = index * bucket_s
        title = f"no answer: {n} requests at {t0:.2f}..{t0 + bucket_s:.2f} s"
        cells.append((len(rows) - 1, t0, t0 + bucket_s, _COLORS["error"], 0.3 + 0.7 * n / fail_peak, title))
    legend = [(r, colors[r]) for r in replicas]
    if failed:
        legend.append(("no answer", _COLORS["error"]))
    chart = _rows_chart("replicas", result, rows, cells, "replicas serving traffic over time")
    return chart, legend


def _status_chart(result: ScenarioResult) -> tuple[Markup | None, list[tuple[str, str]]]:
    """The status page's state per component over time; plus the legend entries."""
    samples = sorted(result.status_samples, key=lambda s: s[0])
    if not samples:
        return None, []
    components: list[str] = []
    for _, states in samples:
        components.extend(c for c in states if c not in components)
    end_s = result.timeline_end_s
    # One cell per run of equal states: (component, state, start, end).
    runs: list[tuple[str, str, float, float]] = []
    open_runs: dict[str, int] = {}
    seen_states: list[str] = []
    for i, (t0, states) in enumerate(samples):
        t1 = samples[i + 1][0] if i + 1 < len(samples) else end_s
        for component, state in states.items():
            if state not in seen_states:
                seen_states.append(state)
            index = open_runs.get(component)
            if index is not None and runs[index][1] == state and runs[index][3] == t0:
                runs[index] = (component, state, runs[index][2], t1)
            else:
                open_runs[component] = len(runs)
                runs.append((component, state, t0, t1))
    cells = []
    for component, state, t0, t1 in runs:
        color = _STATE_COLORS.get(state.lower(), _UNKNOWN_STATE_COLOR)
        title = f"{component}: {state} at {t0:.1f}..{t1:.1f} s"
        cells.append((components.index(component), t0, t1, color, 1.0, title))
    legend = [(s, _STATE_COLORS.get(s.lower(), _UNKNOWN_STATE_COLOR)) for s in seen_states]
    chart = _rows_chart("status", result, components, cells, "status page view over time")
    return chart, legend


# -- HTML ----------------------------------------------------------------------------------


def _pct(ratio: float | None) -> str:
    """A success ratio as a percentage, never rounded up to 100%."""
    if ratio is None:
        return "–"
    if ratio >= 1.0:
        return "100%"
    return f"{math.floor(ratio * 1000.0) / 10.0:.1f}%"


def _share(ratio: float | None) -> str:
    """A share (fallbacks) as a percentage, never rounded down to 0% or up to 100%."""
    if ratio is None:
        return "–"
    if ratio <= 0.0 or ratio >= 1.0:
        return f"{ratio * 100.0:.0f}%"
    return f"{min(max(ratio * 100.0, 0.1), 99.9):.1f}%"


def _ms(value: float | None) -> str:
    """A latency for tables."""
    return "–" if value is None else _fmt_ms(value)


def _slug(name: str, taken: set[str]) -> str:
    """A unique HTML id for a scenario."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "scenario"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _scenario_view(
    result: ScenarioResult,
    buckets_by_path: Mapping[str, Sequence[Bucket]],
    stats: Sequence[WindowStats],
    worst: _Worst,
    bucket_s: float,
    slug: str,
) -> dict[str, object]:
    """What the template shows for one scenario, formatted."""
    charts = []
    for path in result.path_names:
        buckets = buckets_by_path.get(path, [])
        total = summarize(result.records, path)
        charts.append(
            {
                "path": path,
                "svg": _latency_chart(result, path, buckets, bucket_s) if buckets else None,
                "requests": total.count,
                "success": _pct(total.success_ratio),
                "p50": _ms(total.p50_ms),
                "p99": _ms(total.p99_ms),
                "max": _ms(total.max_ms),
            }
        )
    replicas_svg, replicas_legend = _replicas_chart(result, bucket_s)
    status_svg, status_legend = _status_chart(result)
    verdict = result.verdict
    recovery = "–"
    if worst.recovery_checked:
        recovery = "never" if worst.recovery_s is None else f"{worst.recovery_s:.1f} s"
    return {
        "slug": slug,
        "name": result.name,
        "description": result.description,
        "status": result.status,
        "fault": result.fault_label or "–",
        "targets": ", ".join(result.targets) or "–",
        "seed": "–" if result.seed is None else str(result.seed),
        "fault_window": (
            f"{result.fault_start_s:.1f} s..{result.fault_end_s:.1f} s"
            if result.fault_start_s is not None and result.fault_end_s is not None
            else "–"
        ),
        "duration": f"{result.duration_s:.1f} s",
        "error": result.error,
        "failures": [c.message for c in verdict.failures] if verdict else [],
        "checks": [{"passed": c.passed, "message": c.message, "name": c.name} for c in verdict.checks]
        if verdict
        else [],
        "stats": [
            {
                "path": s.path,
                "window": s.window,
                "span": f"{s.start_s:.1f}..{s.end_s:.1f} s",
                "count": s.count,
                "success": _pct(s.success_ratio),
                "p50": _ms(s.p50_ms),
                "p99": _ms(s.p99_ms),
                "max": _ms(s.max_ms),
                "run": s.longest_failure_run,
                "real": s.real_count,
                "fallback": s.fallback_count,
                "fallback_share": _share(s.fallback_share),
                "strict": s.fallback_is_failure,
                "bad": s.count > 0 and (s.success_ratio or 0.0) < 1.0,
            }
            for s in stats
        ],
        "charts": charts,
        "replicas_svg": replicas_svg,
        "replicas_legend": replicas_legend,
        "status_svg": status_svg,
        "status_legend": status_legend,
        "events": [{"t": f"{e.t_s:.2f} s", "label": e.label} for e in result.events],
        "spof": list(result.spof),
        "lag": (
            f"p50 {result.schedule_lag.p50_ms:.2f} ms, p99 {result.schedule_lag.p99_ms:.2f} ms, "
            f"max {result.schedule_lag.max_ms:.2f} ms"
            if result.schedule_lag
            else None
        ),
        "worst": {
            "requests": worst.requests,
            "success": _pct(worst.success_ratio),
            "success_where": worst.success_where,
            "p99": _ms(worst.p99_ms),
            "p99_where": worst.p99_where,
            "run": worst.failure_run,
            "recovery": recovery,
            "fallback": _share(worst.fallback_share) if worst.fallback_share is not None else "–",
            "fallback_where": worst.fallback_where,
        },
    }


def _environment() -> Environment:
    """The Jinja2 environment of the report template (autoescaped, strict)."""
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_SCENARIO_OUTCOME = {"pass": PASSED, "caught": PASSED, "fail": FAILED, "error": ERROR, "unjudged": SKIPPED}


def _outcomes_of(results: Sequence[ScenarioResult]) -> list[Outcome]:
    """Outcomes standing in for tests when the caller has none: one per scenario, by status."""
    return [
        Outcome(
            nodeid=r.name,
            outcome=_SCENARIO_OUTCOME[r.status],
            duration_s=r.duration_s,
            message=r.error or (r.verdict.failure_message() if r.verdict and r.status == "fail" else ""),
            scenarios=(r.name,),
        )
        for r in results
    ]


def write_report(
    results: Sequence[ScenarioResult],
    out_dir: Path | str,
    meta: Mapping[str, JSONValue],
    *,
    tests: Sequence[Outcome] | None = None,
    interrupted: bool = False,
    spof: Sequence[str] = (),
    bucket_s: float = DEFAULT_BUCKET_S,
) -> tuple[Path, Path]:
    """Write `report.json` and `report.html` into `out_dir`; return their paths.

    `tests` are the outcomes of every test the run started (see `failover_tests.outcomes`);
    the run's verdict is theirs. Without them, each scenario stands for one test.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    all_spof: list[str] = [s for s in dict.fromkeys(spof)]
    for result in results:
        all_spof.extend(s for s in result.spof if s not in all_spof)
    outcomes = list(tests) if tests is not None else _outcomes_of(results)
    run = run_verdict(outcomes, interrupted=interrupted)

    scenario_docs: list[dict[str, JSONValue]] = []
    views: list[dict[str, object]] = []
    taken: set[str] = set()
    slugs: dict[str, str] = {}
    for result in results:
        stats = _scenario_stats(result)
        worst = _worst(result, stats)
        buckets = compact_records(result.records, bucket_s)
        scenario_docs.append(_scenario_json(result, stats, buckets, bucket_s))
        slug = _slug(result.name, taken)
        slugs.setdefault(result.name, slug)
        views.append(_scenario_view(result, buckets, stats, worst, bucket_s, slug))

    counts = Counter(r.status for r in results)
    summary: dict[str, JSONValue] = {
        **{k: v for k, v in run.to_dict().items() if k not in ("verdict", "exit_code")},
        "scenarios": len(results),
        "scenario_status": {
            "pass": counts["pass"],
            "caught": counts["caught"],
            "fail": counts["fail"],
            "error": counts["error"],
            "unjudged": counts["unjudged"],
        },
    }
    report: dict[str, JSONValue] = {
        "schema": REPORT_SCHEMA,
        "generated_at": generated_at,
        "verdict": run.verdict,
        "exit_code": run.exit_code,
        "meta": dict(meta),
        "summary": summary,
        "tests": [o.to_dict() for o in outcomes],
        "spof": list(all_spof),
        "scenarios": list(scenario_docs),
    }
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")

    test_views = [
        {
            "name": o.name,
            "test": o.test,
            "outcome": o.outcome,
            "duration": f"{o.duration_s:.1f} s",
            "message": o.message,
            "slug": next((slugs[n] for n in o.scenarios if n in slugs), None),
        }
        for o in outcomes
    ]
    html_text = (
        _environment()
        .get_template(TEMPLATE_NAME)
        .render(
            title="stackdrill report",
            generated_at=generated_at,
            # Structured meta (topology, node map) stays in report.json; the header shows scalars.
            meta=[(str(k), _meta_value(v)) for k, v in meta.items() if not isinstance(v, (dict, list))],
            run=run,
            tests=test_views,
            summary=summary,
            spof=all_spof,
            scenarios=views,
            colors=_COLORS,
            bucket_s=bucket_s,
        )
    )
    html_path = out / "report.html"
    html_path.write_text(html_text, encoding="utf-8")
    log.info(
        "report written: %s and %s (%d tests, %d scenarios, %s)",
        json_path,
        html_path,
        len(outcomes),
        len(results),
        run.verdict,
    )
    return json_path, html_path


def _meta_value(value: JSONValue) -> str:
    """A metadata value as display text."""
    if isinstance(value, str):
        return value
    return json.dumps(value)
