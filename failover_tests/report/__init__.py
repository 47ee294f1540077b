"""Run reports: `report.json` with every number, and a self-contained `report.html`.

The JSON opens with the run's verdict and exit code (`failover_tests.outcomes`) and lists every
test the run started, scenario or not, with its outcome, time and failure message. It keeps
each scenario's verdict, windows (real answers, fallback answers and their share apart),
events and status-page samples, and compacts its requests into per-path time buckets (count,
ok, errors by kind, fallbacks, latency p50/p99/max, requests per replica). Every percentile, of a
bucket or of a window, is `failover_tests.traffic.percentiles` (HdrHistogram).

Modules: `compact` (buckets, worst figures, the JSON of a scenario), `charts` (inline SVG),
`view` (the document, `build_report`; the HTML, `render_html`; both, `write_report`).

The HTML needs nothing but itself: inline CSS, and charts drawn here as inline SVG (latency
and errors per path with the fault window shaded, replicas serving traffic over time, the
status page's view over time). Every chart is an ``<svg class="chart" data-chart=...>``.
"""

from __future__ import annotations

from failover_tests.report.compact import DEFAULT_BUCKET_S, REPORT_SCHEMA, Bucket, compact_records
from failover_tests.report.view import (
    TEMPLATE_NAME,
    TEMPLATES_DIR,
    build_report,
    render_html,
    write_report,
    write_report_json,
)
from failover_tests.results import ScenarioResult, StatusSample

__all__ = [
    "DEFAULT_BUCKET_S",
    "REPORT_SCHEMA",
    "TEMPLATES_DIR",
    "TEMPLATE_NAME",
    "Bucket",
    "ScenarioResult",
    "StatusSample",
    "build_report",
    "compact_records",
    "render_html",
    "write_report",
    "write_report_json",
]
