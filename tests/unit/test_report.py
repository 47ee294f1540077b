"""Unit tests of report.json and the self-contained report.html, from synthetic results."""

from __future__ import annotations

import html
import json
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from failover_tests.outcomes import Outcome
from failover_tests.report import ScenarioResult, compact_records, write_report
from failover_tests.slo import SLO, evaluate, windows_around
from failover_tests.traffic import Event, LagStats, Record

PATHS = ("api.complete", "api.sessions", "api.sessions_read", "web.home")
FAULT = "kill(api-2)"
CHROMIUM = "/usr/bin/chromium"


def synthetic_run(
    *, seed: int, fault_start_s: float, fault_end_s: float, duration_s: float, broken: bool
) -> list[Record]:
    """Records of four paths at 20/s: api-2 dies during the fault; `broken` adds an outage."""
    rng = random.Random(seed)
    records = []
    step_s = 0.05
    for i, path in enumerate(PATHS):
        prefix = "web" if path.startswith("web") else "api"
        for seq in range(int(duration_s / step_s)):
            t = round(seq * step_s + i * step_s / len(PATHS), 6)
            live = ["1", "2", "3"] if not fault_start_s <= t < fault_end_s else ["1", "3"]
            latency = rng.lognormvariate(2.3, 0.35)  # about 10 ms
            ok, status, error, replica, fallback = True, 200, None, None, False
            replica = f"{prefix}-{rng.choice(live)}"
            if fault_start_s <= t < fault_start_s + 1.2:
                latency += rng.uniform(200.0, 1500.0)  # LB still sends to the dead replica
            if broken and path == "api.complete" and fault_start_s <= t < fault_end_s + 2.4:
                if rng.random() < 0.7:
                    ok, status, error, replica = False, 503, "HTTP 503", None
                    latency = rng.uniform(1.0, 4.0)
                elif rng.random() < 0.3:
                    ok, status, error, replica = False, 0, "timeout: no answer", None
                    latency = 3000.0
            if path == "api.complete" and not broken and fault_start_s <= t < fault_end_s:
                fallback = rng.random() < 0.2
            records.append(
                Record(
                    path=path,
                    seq=seq,
                    scheduled_s=t,
                    latency_ms=latency,
                    status=status,
                    ok=ok,
                    replica=replica,
                    endpoint="edge-a" if seq % 2 else "edge-b",
                    error=error,
                    fallback=fallback,
                    completed_s=t + latency / 1000.0,
                )
            )
    return records


def status_samples(
    fault_start_s: float, fault_end_s: float, duration_s: float, worst: str
) -> list[tuple[float, Mapping[str, str]]]:
    """One status-page sample a second; the API degrades during the fault."""
    samples: list[tuple[float, Mapping[str, str]]] = []
    for t in range(int(duration_s)):
        api = worst if fault_start_s + 1 <= t < fault_end_s + 2 else "operational"
        samples.append(
            (
                float(t),
                {
                    "api": api,
                    "web": "operational",
                    "model": "operational",
                    "sessions": "operational",
                },
            )
        )
    return samples


def make_results() -> list[ScenarioResult]:
    """A failing scenario, a passing one and one that crashed."""
    duration_s, start_s, end_s = 30.0, 12.0, 22.0
    windows = windows_around(start_s, end_s, duration_s)
    slos = [SLO(p, min_success=0.999, max_p99_ms=500, max_consecutive_failures=3, max_recovery_s=5) for p in PATHS]
    events = [Event(start_s, f"apply {FAULT}"), Event(end_s, f"revert {FAULT}")]
    failing_records = synthetic_run(
        seed=1, fault_start_s=start_s, fault_end_s=end_s, duration_s=duration_s, broken=True
    )
    failing = ScenarioResult(
        name="api replica killed (naive profile)",
        description="Kill one API replica while traffic flows; the naive profile has no fallback.",
        fault_label=FAULT,
        targets=("stackdrill-default-api-2",),
        seed=42,
        fault_start_s=start_s,
        fault_end_s=end_s,
        windows=windows,
        verdict=evaluate(failing_records, slos, windows, FAULT),
        records=failing_records,
        events=events,
        status_samples=status_samples(start_s, end_s, duration_s, "major_outage"),
        spof=["session store: a single Redis primary without Sentinel in the minimal topology"],
        duration_s=duration_s,
        schedule_lag=LagStats(2400, 0.6, 0.9, 1.4, 3.2, 0.62),
        paths=PATHS,
    )
    lenient = [SLO(p, min_success=0.99, max_p99_ms=2000, max_recovery_s=5) for p in PATHS]
    passing_records = synthetic_run(
        seed=2, fault_start_s=start_s, fault_end_s=end_s, duration_s=duration_s, broken=False
    )
    passing = ScenarioResult(
        name="api replica killed (protected profile)",
        description="Same fault; timeouts, breaker and fallback keep users served.",
        fault_label=FAULT,
        targets=("stackdrill-default-api-2",),
        seed=42,
        fault_start_s=start_s,
        fault_end_s=end_s,
        windows=windows,
        verdict=evaluate(passing_records, lenient, windows, FAULT),
        records=passing_records,
        events=events,
        status_samples=status_samples(start_s, end_s, duration_s, "degraded"),
        duration_s=duration_s,
        paths=PATHS,
    )
    crashed = ScenarioResult(
        name="redis primary paused <script>",
        fault_label="pause(redis-primary)",
        error="FaultError: container stackdrill-default-redis-0 not found",
        duration_s=0.0,
    )
    return [failing, passing, crashed]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[ScenarioResult]]:
    results = make_results()
    out = tmp_path_factory.mktemp("report")
    json_path, html_path = write_report(results, out, {"topology": "default", "stack": "drill-ci", "seed": 42})
    return json_path, html_path, results


def test_paths_are_returned_and_written(written: tuple[Path, Path, list[ScenarioResult]]) -> None:
    json_path, html_path, _ = written
    assert json_path.name == "report.json" and json_path.is_file()
    assert html_path.name == "report.html" and html_path.is_file()
    assert json_path.parent == html_path.parent


def test_json_structure(written: tuple[Path, Path, list[ScenarioResult]]) -> None:
    json_path, _, results = written
    doc = json.loads(json_path.read_text())
    assert doc["schema"] == "stackdrill.report/1"
    assert doc["meta"] == {"topology": "default", "stack": "drill-ci", "seed": 42}
    # Without test outcomes, each scenario stands for one test.
    assert (doc["verdict"], doc["exit_code"]) == ("failed", 1)
    assert doc["summary"] == {
        "tests": 3,
        "passed": 1,
        "failed": 1,
        "errors": 1,
        "skipped": 0,
        "interrupted": 0,
        "scenarios": 3,
        "scenario_status": {"pass": 1, "caught": 0, "fail": 1, "error": 1, "unjudged": 0},
    }
    assert [(t["name"], t["outcome"]) for t in doc["tests"]] == [
        ("api replica killed (naive profile)", "failed"),
        ("api replica killed (protected profile)", "passed"),
        ("redis primary paused <script>", "error"),
    ]
    assert doc["spof"] == [results[0].spof[0]]
    failing, passing, crashed = doc["scenarios"]
    assert [s["status"] for s in doc["scenarios"]] == ["fail", "pass", "error"]
    assert failing["fault"] == FAULT and failing["seed"] == 42
    assert (failing["fault_start_s"], failing["fault_end_s"]) == (12.0, 22.0)
    assert [w["name"] for w in failing["windows"]] == ["before", "during", "after"]
    assert failing["verdict"]["passed"] is False
    assert failing["verdict"]["failures"] == [c.message for c in results[0].verdict.failures]  # type: ignore[union-attr]
    assert failing["worst"]["success_ratio"] < 0.5
    assert failing["schedule_lag"]["p99_ms"] == 1.4
    assert len(failing["status_samples"]) == 30
    assert failing["status_samples"][15]["components"]["api"] == "major_outage"
    assert crashed["error"].startswith("FaultError") and crashed["verdict"] is None
    assert crashed["paths"] == {}

    # Records compacted into 250 ms buckets per path; nothing lost, nothing invented.
    assert failing["bucket_s"] == 0.25
    assert set(failing["paths"]) == set(PATHS)
    for path in PATHS:
        entry = failing["paths"][path]
        buckets = entry["buckets"]
        assert len(buckets) == 120
        assert sum(b["count"] for b in buckets) == entry["total"]["count"] == 600
        assert sum(b["ok"] for b in buckets) == entry["total"]["ok_count"]
        for b in buckets:
            assert set(b) == {
                "t_s",
                "count",
                "ok",
                "errors",
                "fallback",
                "p50_ms",
                "p99_ms",
                "max_ms",
                "replicas",
                "errors_by_kind",
            }
            assert b["p50_ms"] <= b["p99_ms"] <= b["max_ms"]
            assert b["errors"] == b["count"] - b["ok"] == sum(b["errors_by_kind"].values())
    during = [b for b in failing["paths"]["web.home"]["buckets"] if 12.0 <= b["t_s"] < 22.0]
    assert all("web-2" not in b["replicas"] for b in during)
    before = [b for b in failing["paths"]["web.home"]["buckets"] if b["t_s"] < 12.0]
    assert sum(b["replicas"].get("web-2", 0) for b in before) > 0
    kinds = {k for b in failing["paths"]["api.complete"]["buckets"] for k in b["errors_by_kind"]}
    assert kinds == {"HTTP 503", "timeout"}


def test_compact_records_uses_scheduled_time() -> None:
    rec = Record(
        path="p",
        seq=0,
        scheduled_s=0.24,
        latency_ms=900.0,
        status=200,
        ok=True,
        replica="api-1",
        endpoint="e",
        error=None,
        fallback=False,
        completed_s=1.14,
    )
    (bucket,) = compact_records([rec], 0.25)["p"]
    assert bucket.t_s == 0.0 and bucket.count == 1 and dict(bucket.replicas) == {"api-1": 1}


def test_html_draws_every_chart(written: tuple[Path, Path, list[ScenarioResult]]) -> None:
    _, html_path, _ = written
    page = html_path.read_text()
    charts = re.findall(r"<svg [^>]*>.*?</svg>", page, flags=re.S)
    kinds = [re.search(r'data-chart="([a-z]+)"', c).group(1) for c in charts]  # type: ignore[union-attr]
    assert kinds.count("latency") == 8  # four paths in each of the two scenarios with traffic
    assert kinds.count("replicas") == 2
    assert kinds.count("status") == 2
    for chart in charts:
        assert 'class="chart"' in chart
        assert "<rect" in chart
    for chart in (c for c in charts if 'data-chart="latency"' in c):
        assert re.search(r'<path class="series p99"[^>]* d="M[\d.]+ [\d.]+L', chart)
        assert re.search(r'<path class="series p50"', chart)
        assert 'data-role="fault-window"' in chart
        assert "time since probe start (s)" in chart and "latency (log)" in chart
    failing_latency = [c for c in charts if 'data-path="api.complete"' in c][0]
    assert 'class="error-mark"' in failing_latency
    replicas = [c for c in charts if 'data-chart="replicas"' in c][0]
    for name in ("api-1", "api-2", "api-3", "web-1", "no answer"):
        assert f">{name}</text>" in replicas
    status = [c for c in charts if 'data-chart="status"' in c][0]
    assert ">api</text>" in status and 'fill="#dc2626"' in status
    assert 'data-role="fault-window"' in status


def test_html_shows_verdicts_messages_and_summary(
    written: tuple[Path, Path, list[ScenarioResult]],
) -> None:
    _, html_path, results = written
    page = html_path.read_text()
    verdict = results[0].verdict
    assert verdict is not None and verdict.failures
    for check in verdict.failures:
        assert f"<code>{html.escape(check.message)}</code>" in page
    assert "api.complete: success" in page and "&lt; 99.9% during kill(api-2) [12.0 s..22.0 s]" in page
    assert '<table class="summary">' in page
    # the run's verdict, then per scenario: summary row and header
    assert '<span class="badge failed" data-verdict="failed">FAILED</span>' in page
    assert page.count('<span class="badge fail">FAIL</span>') == 2
    assert page.count('<span class="badge pass">PASS</span>') == 2
    assert "<h2>Single points of failure</h2>" in page
    assert html.escape(results[0].spof[0]) in page
    assert "FaultError: container stackdrill-default-redis-0 not found" in page
    # Names are escaped, never markup.
    assert "<script>" not in page and "redis primary paused &lt;script&gt;" in page


def test_html_is_self_contained(written: tuple[Path, Path, list[ScenarioResult]]) -> None:
    _, html_path, _ = written
    page = html_path.read_text()
    assert "http://" not in page and "https://" not in page
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page, flags=re.I)
    assert links, "the summary links to each scenario"
    assert all(link.startswith("#") for link in links), links
    assert not re.search(r"<(?:script|link|img|iframe|object|embed)\b", page, flags=re.I)
    assert "@import" not in page and "url(" not in page


def test_report_with_no_scenarios(tmp_path: Path) -> None:
    json_path, html_path = write_report([], tmp_path / "nested" / "out", {})
    doc = json.loads(json_path.read_text())
    assert doc["summary"]["scenarios"] == 0
    assert (doc["verdict"], doc["exit_code"]) == ("error", 3), "nothing was judged"
    assert "No scenarios ran." in html_path.read_text()


PREFLIGHT = "failover_tests/suites/test_preflight.py::test_sentinel_sees_one_primary_and_its_replica"


def test_every_test_is_reported_and_the_verdict_counts_them(tmp_path: Path) -> None:
    # A failed preflight check is not a scenario: it must still count, and decide the verdict.
    results = make_results()[1:2]  # the passing scenario
    tests = [
        Outcome(PREFLIGHT, "failed", 0.1, "sentinel-0 sees no primary"),
        Outcome("suites/test_outages.py::test_slow_dependency_is_contained", "passed", 21.0, "", (results[0].name,)),
    ]
    json_path, html_path = write_report(results, tmp_path, {}, tests=tests)
    doc = json.loads(json_path.read_text())
    assert (doc["verdict"], doc["exit_code"]) == ("failed", 1)
    assert {k: doc["summary"][k] for k in ("tests", "passed", "failed", "errors")} == {
        "tests": 2,
        "passed": 1,
        "failed": 1,
        "errors": 0,
    }
    assert doc["tests"][0] == {
        "name": "test_sentinel_sees_one_primary_and_its_replica",
        "nodeid": PREFLIGHT,
        "outcome": "failed",
        "duration_s": 0.1,
        "message": "sentinel-0 sees no primary",
        "scenarios": [],
    }
    assert doc["tests"][1]["name"] == results[0].name
    page = html_path.read_text()
    assert '<span class="badge failed" data-verdict="failed">FAILED</span>' in page
    assert '<tr class="bad" data-outcome="failed">' in page
    assert "test_sentinel_sees_one_primary_and_its_replica" in page
    assert '<code class="message">sentinel-0 sees no primary</code>' in page
    assert f'<a href="#api-replica-killed-protected-profile">{results[0].name}</a>' in page


def test_errors_of_the_run_are_apart_from_failed_verdicts(tmp_path: Path) -> None:
    tests = [
        Outcome("t::test_a", "passed", 1.0),
        Outcome("t::test_b", "error", 45.0, "ScenarioError: stack drill1 is not steady", ("pause-one-api",)),
    ]
    json_path, html_path = write_report([], tmp_path, {}, tests=tests)
    doc = json.loads(json_path.read_text())
    assert (doc["verdict"], doc["exit_code"]) == ("error", 3)
    assert (doc["summary"]["failed"], doc["summary"]["errors"]) == (0, 1)
    assert doc["tests"][1]["name"] == "pause-one-api"
    page = html_path.read_text()
    assert '<span class="badge error" data-verdict="error">ERROR</span>' in page
    assert '<span class="badge error">ERROR</span>' in page and "badge failed" not in page


def test_an_interrupted_run_says_so(tmp_path: Path) -> None:
    tests = [Outcome("t::test_a", "passed", 1.0), Outcome("t::test_b", "interrupted", 3.0, "interrupted")]
    json_path, html_path = write_report([], tmp_path, {}, tests=tests, interrupted=True)
    doc = json.loads(json_path.read_text())
    assert (doc["verdict"], doc["exit_code"]) == ("interrupted", 130)
    assert doc["summary"]["interrupted"] == 1
    page = html_path.read_text()
    assert '<span class="badge interrupted" data-verdict="interrupted">INTERRUPTED</span>' in page
    assert '<span class="badge passed">PASSED</span>' in page  # test_a did finish
    assert page.count("PASSED") == 1


def test_windows_show_fallback_answers_apart_from_real_ones(tmp_path: Path) -> None:
    # 10 requests during the fault, 8 of them fallback answers; 10 after, 4 of them fallbacks.
    records = [rec_at(12.0 + i * 0.5, fallback=i < 8) for i in range(10)]
    records += [rec_at(22.0 + i * 0.5, fallback=i < 4) for i in range(10)]
    windows = windows_around(12.0, 22.0, 30.0)
    slo = SLO("api.complete", ("during", "after"), min_success=0.5)
    result = ScenarioResult(
        name="slow model",
        fault_label="latency(api_model)",
        fault_start_s=12.0,
        fault_end_s=22.0,
        windows=windows,
        verdict=evaluate(records, [slo], windows, "latency(api_model)"),
        records=records,
        duration_s=30.0,
    )
    json_path, html_path = write_report([result], tmp_path, {})
    (scenario,) = json.loads(json_path.read_text())["scenarios"]
    during, after = scenario["stats"]
    assert (during["window"], during["count"], during["real_count"], during["fallback_count"]) == ("during", 10, 2, 8)
    assert during["fallback_share"] == 0.8 and during["success_ratio"] == 1.0
    assert during["fallback_is_failure"] is False
    # After the fault only real answers count: 6 of 10.
    assert (after["real_count"], after["fallback_count"], after["success_ratio"]) == (6, 4, 0.6)
    assert after["fallback_is_failure"] is True
    worst = scenario["worst"]
    assert (worst["fallback_share"], worst["fallback_where"]) == (0.8, "api.complete during")
    assert worst["requests_by_window"] == {"during": 10, "after": 10}
    assert worst["longest_failure_run"] == 4
    page = html_path.read_text()
    assert '<td class="num">2</td><td class="num">8</td>' in page
    assert '<td class="num">80.0%</td>' in page
    assert '<td class="num">40.0%<span class="where">counted as failures</span></td>' in page


def rec_at(t_s: float, *, fallback: bool = False) -> Record:
    """An ok api.complete answer scheduled at t_s."""
    return Record(
        path="api.complete",
        seq=round(t_s * 10),
        scheduled_s=t_s,
        latency_ms=20.0,
        status=200,
        ok=True,
        replica="api-1",
        endpoint="e",
        error=None,
        fallback=fallback,
        completed_s=t_s + 0.02,
    )


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, from its IHDR chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.browser
def test_report_renders_in_headless_chromium(written: tuple[Path, Path, list[ScenarioResult]], tmp_path: Path) -> None:
    if os.environ.get("STACKDRILL_NO_BROWSER") == "1":
        pytest.skip("STACKDRILL_NO_BROWSER=1")
    chromium = shutil.which("chromium") or CHROMIUM
    if not Path(chromium).exists():
        pytest.fail(
            "chromium is not installed: `apt-get install -y chromium`, or set STACKDRILL_NO_BROWSER=1 to skip this test"
        )
    _, html_path, _ = written
    shot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory(prefix="stackdrill-chromium-") as profile:
        proc = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                "--window-size=1400,2000",
                html_path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.is_file(), proc.stderr[-2000:]
    assert png_size(shot) == (1400, 2000)
    assert shot.stat().st_size > 30_000, "screenshot is nearly empty"
    keep = os.environ.get("STACKDRILL_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
