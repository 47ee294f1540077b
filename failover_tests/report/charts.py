"""The report's charts as inline SVG: latency and errors per path with the fault window shaded,
replicas serving traffic over time, the status page's view over time. Every chart is an
``<svg class="chart" data-chart=...>``.

This module lays the charts out (coordinates, colours, titles); the Jinja macros in
``templates/charts.svg.j2`` draw them, autoescaped.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
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


@functools.cache
def _macros() -> Any:
    """The chart macros of templates/charts.svg.j2 (autoescaped: titles and labels are text)."""
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("charts.svg.j2").module


def _rect(x0: float, y0: float, x1: float, y1: float) -> dict[str, str]:
    return {"x": _num(x0), "y": _num(y0), "w": _num(x1 - x0), "h": _num(y1 - y0)}


class _TimeAxis:
    """Maps probe time to x; lays out the shared parts of a chart: grid, fault, events."""

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

    def grid(self, top: float, bottom: float) -> list[dict[str, Any]]:
        """Vertical grid lines with their tick labels under `bottom`."""
        return [
            {
                "x": _num(self.x(t)),
                "y1": _num(top),
                "y2": _num(bottom),
                "label": _fmt_s(t),
                "label_y": _num(bottom + 14),
            }
            for t in self.ticks()
        ]

    def fault(self, result: ScenarioResult, top: float, bottom: float) -> dict[str, str] | None:
        """The shaded fault window between `top` and `bottom`."""
        if result.fault_start_s is None:
            return None
        end = result.fault_end_s if result.fault_end_s is not None else self.end_s
        x0, x1 = self.x(result.fault_start_s), self.x(end)
        label = result.fault_label or "fault"
        return _rect(x0, top, x0 + max(x1 - x0, 1.0), bottom) | {
            "title": f"fault {label}: {result.fault_start_s:.1f} s..{end:.1f} s"
        }

    def events(self, events: Sequence[Event], top: float, bottom: float, *, labels: bool) -> list[dict[str, Any]]:
        """A dashed vertical line per event, labelled at the top if asked."""
        return [
            {
                "x": _num(self.x(ev.t_s)),
                "y1": _num(top),
                "y2": _num(bottom),
                "title": f"{ev.t_s:.2f} s: {ev.label}",
                "text": ev.label,
                "label_y": _num(top - 4) if labels else None,
            }
            for ev in events
        ]


def _frame(kind: str, label: str, height: float, axis: _TimeAxis, top: float, bottom: float) -> dict[str, Any]:
    """What every chart has: size, plot area, colours, the x axis title."""
    return {
        "kind": kind,
        "label": label,
        "path": "",
        "width": _CHART_W,
        "height": _num(height),
        "colors": COLORS,
        "plot": _rect(_LEFT, top, _LEFT + _PLOT_W, bottom) | {"right": _num(_LEFT + _PLOT_W), "label_x": _LEFT - 6},
        "x_title": {"x": _num(_LEFT + _PLOT_W / 2), "y": _num(height - 6)},
    }


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

    series = []
    for name in ("max", "p99", "p50"):
        d = []
        previous: float | None = None
        for b in buckets:
            cmd = "L" if previous is not None and b.t_s - previous <= bucket_s * 1.5 else "M"
            value = {"max": b.max_ms, "p99": b.p99_ms, "p50": b.p50_ms}[name]
            d.append(f"{cmd}{_num(axis.x(b.t_s + bucket_s / 2))} {_num(y(value))}")
            previous = b.t_s
        if d:
            series.append(
                {"name": name, "d": "".join(d), "color": COLORS[name], "width": 1 if name == "max" else 2,
                 "dashed": name == "max"}
            )  # fmt: skip
    width = max(_PLOT_W * bucket_s / axis.end_s, 1.5)
    marks = []
    for b in buckets:
        x = axis.x(b.t_s)
        if b.errors:
            kinds = ", ".join(f"{k} x{n}" for k, n in b.errors_by_kind.items())
            marks.append(
                _rect(x, strip_top, x + width, strip_bottom)
                | {"cls": "error-mark", "fill": COLORS["error"], "opacity": _num(0.35 + 0.65 * b.errors / b.count),
                   "title": f"{b.t_s:.2f} s: {b.errors}/{b.count} failed ({kinds})"}
            )  # fmt: skip
        elif b.fallback:
            marks.append(
                _rect(x, strip_top + 4, x + width, strip_bottom - 4)
                | {"cls": "fallback-mark", "fill": COLORS["fallback"], "opacity": "0.6",
                   "title": f"{b.t_s:.2f} s: {b.fallback}/{b.count} fallback answers"}
            )  # fmt: skip
    chart = _frame("latency", f"latency and errors of {path} over time", height, axis, top, bottom) | {
        "path": path,
        "fault": axis.fault(result, top, strip_bottom),
        "ticks": axis.grid(top, strip_bottom),
        "decades": [{"y": _num(y(10.0**e)), "label": _fmt_decade(10.0**e)} for e in range(lo, hi + 1)],
        "series": series,
        "strip": {"y": _num(strip_top), "h": _num(strip_bottom - strip_top), "label_y": _num(strip_bottom - 3)},
        "marks": marks,
        "events": axis.events(result.events, top, strip_bottom, labels=True),
        "y_title_y": _num((top + bottom) / 2),
    }
    return Markup(_macros().latency(chart))


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
    chart = _frame(kind, label, height, axis, top, bottom) | {
        "fault": axis.fault(result, top, bottom),
        "ticks": axis.grid(top, bottom),
        "rows": [{"name": name, "y": _num(top + i * row_h + row_h / 2)} for i, name in enumerate(rows)],
        "cells": [
            _rect(
                axis.x(t0),
                top + row * row_h + 2,
                axis.x(t0) + max(axis.x(t1) - axis.x(t0), 1.0),
                top + row * row_h + row_h - 2,
            )
            | {"fill": fill, "opacity": _num(opacity), "title": title}
            for row, t0, t1, fill, opacity, title in cells
        ],  # fmt: skip
        "events": axis.events(result.events, top, bottom, labels=False),
    }
    return Markup(_macros().rows(chart))


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
