"""The report's charts, drawn as inline SVG: latency and errors per path with the fault window
shaded, replicas serving traffic over time, the status page's view over time. Every chart is an
``<svg class="chart" data-chart=...>``.
"""

from __future__ import annotations

import html
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from markupsafe import Markup

from failover_tests.report.compact import Bucket
from failover_tests.results import ScenarioResult
from failover_tests.traffic import (
    Event,
)

log = logging.getLogger(__name__)


# -- SVG charts ----------------------------------------------------------------------------

_CHART_W = 1000
_LEFT = 118
_RIGHT = 18
_PLOT_W = _CHART_W - _LEFT - _RIGHT
COLORS = {
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


def fmt_ms(value_ms: float) -> str:
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
                f'stroke="{COLORS["grid"]}" stroke-width="1"/>'
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


def latency_chart(result: ScenarioResult, path: str, buckets: Sequence[Bucket], bucket_s: float) -> Markup:
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
        f'height="{_num(bottom - top)}" fill="#ffffff" stroke="{COLORS["grid"]}"/>'
    ]
    body += axis.fault(result, top, strip_bottom)
    body += axis.grid(top, strip_bottom, labels=True)
    for exp in range(lo, hi + 1):
        yy = _num(y(10.0**exp))
        body.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + _PLOT_W}" y1="{yy}" y2="{yy}" '
            f'stroke="{COLORS["grid"]}"/>'
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
                f'fill="none" stroke="{COLORS[series]}" stroke-width="{stroke_w}"'
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
                f'height="{_num(strip_bottom - strip_top)}" fill="{COLORS["error"]}" '
                f'fill-opacity="{_num(0.35 + 0.65 * errors / count)}">'
                f"<title>{t:.2f} s: {errors}/{count} failed ({html.escape(kinds)})</title></rect>"
            )
        elif fallback:
            body.append(
                f'<rect class="fallback-mark" x="{x}" y="{_num(strip_top + 4)}" '
                f'width="{_num(width)}" height="{_num(strip_bottom - strip_top - 8)}" '
                f'fill="{COLORS["fallback"]}" fill-opacity="0.6">'
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
        f'height="{_num(bottom - top)}" fill="#ffffff" stroke="{COLORS["grid"]}"/>'
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


def replicas_chart(result: ScenarioResult, bucket_s: float) -> tuple[Markup | None, list[tuple[str, str]]]:
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
        cells.append((len(rows) - 1, t0, t0 + bucket_s, COLORS["error"], 0.3 + 0.7 * n / fail_peak, title))
    legend = [(r, colors[r]) for r in replicas]
    if failed:
        legend.append(("no answer", COLORS["error"]))
    chart = _rows_chart("replicas", result, rows, cells, "replicas serving traffic over time")
    return chart, legend


def status_chart(result: ScenarioResult) -> tuple[Markup | None, list[tuple[str, str]]]:
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
