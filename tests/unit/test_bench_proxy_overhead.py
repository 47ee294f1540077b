"""Unit tests of the proxy-overhead benchmark's pure helpers on synthetic records (no processes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from failover_tests.traffic import Record

# bench/ holds scripts, not a package: load the benchmark module from its file.
_PATH = Path(__file__).resolve().parents[2] / "bench" / "proxy_overhead.py"
_SPEC = importlib.util.spec_from_file_location("proxy_overhead", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
proxy_overhead = importlib.util.module_from_spec(_SPEC)
sys.modules["proxy_overhead"] = proxy_overhead
_SPEC.loader.exec_module(proxy_overhead)
TargetFigures = proxy_overhead.TargetFigures
overhead = proxy_overhead.overhead
split_by_target = proxy_overhead.split_by_target
target_figures = proxy_overhead.target_figures

DIRECT_URL = "http://127.0.0.1:1001"
PROXY_URL = "http://127.0.0.1:1002"
ENDPOINTS = {"direct": DIRECT_URL, "proxied": PROXY_URL}


def rec(
    seq: int,
    endpoint: str | None,
    latency_ms: float,
    *,
    scheduled_s: float = 5.0,
    ok: bool = True,
    attempts: int = 1,
) -> Record:
    """A synthetic record of the benchmark's one path."""
    return Record(
        path="bench.get",
        seq=seq,
        scheduled_s=scheduled_s,
        latency_ms=latency_ms,
        status=200 if ok else 0,
        ok=ok,
        replica=None,
        endpoint=endpoint,
        error=None if ok else "boom",
        fallback=False,
        completed_s=scheduled_s + latency_ms / 1000.0,
        attempts=attempts,
    )


def figures(target: str, p50_ms: float, p99_ms: float, *, requests: int = 100, failed: int = 0) -> TargetFigures:
    """Figures with the given percentiles."""
    return TargetFigures(target, requests, failed, p50_ms, p99_ms, p99_ms, p99_ms)


def test_target_figures_percentiles_of_1_to_1000_ms() -> None:
    fig = target_figures("direct", [float(v) for v in range(1, 1001)])
    assert fig.requests == 1000
    assert fig.p50_ms == pytest.approx(500.0, rel=1e-3)
    assert fig.p99_ms == pytest.approx(990.0, rel=1e-3)
    assert fig.p999_ms == pytest.approx(999.0, rel=1e-3)
    assert fig.max_ms == 1000.0


def test_target_figures_never_exceed_the_exact_max() -> None:
    fig = target_figures("direct", [1.2345] * 10)
    assert fig.p50_ms == fig.p99_ms == fig.p999_ms == fig.max_ms == 1.2345


def test_target_figures_with_no_latencies_are_zero_and_keep_failures() -> None:
    assert target_figures("proxied", [], failed=3) == TargetFigures("proxied", 0, 3, 0.0, 0.0, 0.0, 0.0)


def test_split_by_target_drops_warmup_and_charges_failures_to_their_endpoint() -> None:
    records = [
        rec(0, DIRECT_URL, 50.0, scheduled_s=0.5),  # warm-up: not counted
        rec(1, PROXY_URL, 60.0, scheduled_s=0.9),  # warm-up: not counted
        rec(2, DIRECT_URL, 1.0, scheduled_s=1.0),  # due exactly at the end of warm-up: counted
        rec(3, PROXY_URL, 2.0),
        rec(4, PROXY_URL, 3000.0, ok=False),
        rec(5, DIRECT_URL, 1.5, attempts=2),  # failed over from the proxy: not a direct latency
        rec(6, None, 0.0, ok=False, attempts=0),  # not sent: charged to both
    ]
    split = split_by_target(records, ENDPOINTS, warmup_s=1.0)
    assert split["direct"] == TargetFigures("direct", 1, 2, 1.0, 1.0, 1.0, 1.0)
    assert split["proxied"] == TargetFigures("proxied", 1, 2, 2.0, 2.0, 2.0, 2.0)


def test_overhead_at_the_goal_boundary_is_met() -> None:
    result = overhead(figures("direct", 1.0, 4.0), figures("proxied", 2.0, 6.0), goal_added_p50_ms=1.0)
    assert result.added_p50_ms == 1.0
    assert result.added_p99_ms == 2.0
    assert result.ratio_p50 == 2.0
    assert result.ratio_p99 == 1.5
    assert result.goal_met
    assert result.reason == "added p50 1.000 ms <= 1 ms"


def test_overhead_just_above_the_goal_is_missed() -> None:
    result = overhead(figures("direct", 1.0, 4.0), figures("proxied", 2.001, 4.0), goal_added_p50_ms=1.0)
    assert not result.goal_met
    assert result.reason == "added p50 1.001 ms > 1 ms"


def test_overhead_with_failed_requests_is_missed() -> None:
    result = overhead(figures("direct", 1.0, 4.0), figures("proxied", 1.1, 4.0, failed=2), goal_added_p50_ms=1.0)
    assert not result.goal_met
    assert result.reason == "0 direct and 2 proxied requests failed"


def test_overhead_with_an_empty_side_is_missed_and_has_no_ratio() -> None:
    empty = TargetFigures("direct", 0, 0, 0.0, 0.0, 0.0, 0.0)
    result = overhead(empty, figures("proxied", 1.0, 2.0), goal_added_p50_ms=1.0)
    assert not result.goal_met
    assert result.ratio_p50 is None
    assert result.reason == "no answered requests on one side: nothing to compare"
