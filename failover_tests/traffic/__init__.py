"""Open-loop traffic probes: what the clients of the stack saw, request by request.

- `paths`: what a probe sends (`PathSpec`, `default_paths`);
- `plan`: where and how it sends (loopback-only endpoints, each path compiled for the hot loop);
- `records`: what it keeps (`Record`, `Event`, `LagStats`);
- `answers`: how an HTTP outcome becomes a `Record` (headers and body read, error text);
- `send`: one request with endpoint failover, and the client session it goes through;
- `stats`: figures over a window of records (`summarize`, `WindowStats`, one HdrHistogram
  definition of every percentile) and the probe's own lateness (`LagMeter`);
- `probe`: the engine (`Probe`), its schedule, thread and bounds.
"""

from __future__ import annotations

from failover_tests.traffic.answers import FALLBACK_STATES, SERVED_BY_HEADER
from failover_tests.traffic.paths import BodyFactory, JSONValue, PathSpec, default_paths
from failover_tests.traffic.probe import Probe
from failover_tests.traffic.records import Event, LagStats, Record, TimeSpan
from failover_tests.traffic.stats import (
    HDR_HIGHEST_US,
    HDR_LOWEST_US,
    HDR_SIGNIFICANT_DIGITS,
    WindowStats,
    error_kind,
    latency_histogram,
    percentiles,
    summarize,
)

__all__ = [
    "FALLBACK_STATES",
    "HDR_HIGHEST_US",
    "HDR_LOWEST_US",
    "HDR_SIGNIFICANT_DIGITS",
    "SERVED_BY_HEADER",
    "BodyFactory",
    "Event",
    "JSONValue",
    "LagStats",
    "PathSpec",
    "Probe",
    "Record",
    "TimeSpan",
    "WindowStats",
    "default_paths",
    "error_kind",
    "latency_histogram",
    "percentiles",
    "summarize",
]
