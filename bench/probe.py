"""Benchmark of the open-loop probe: can it hold its schedule at a few hundred requests/s?

Starts a trivial aiohttp server in a separate process (so it shares neither the probe's
event loop nor its GIL), runs the probe against it and prints the target rate, the rate the
server actually received per path, the probe's schedule lag and the latency it measured.
Goal on 2 cores: schedule lag p99 < 5 ms, achieved rate within 1% of target.

    .venv/bin/python bench/probe.py [--rate-per-s 200] [--duration-s 10] [--strict]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import resource
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from failover_tests.traffic import PathSpec, Probe, latency_histogram

LAG_GOAL_P99_MS = 5.0
RATE_GOAL_RATIO = 0.01
PATHS = (
    PathSpec("api.complete", "POST", "/v1/complete", {"prompt": "drill"}),
    PathSpec("api.sessions", "PUT", "/v1/sessions/drill-{n}", lambda n: {"n": n}),
    PathSpec("web.home", "GET", "/"),
)


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """Child process: answer every request at once and count arrivals per path."""
    import asyncio

    from aiohttp import web

    first: dict[str, float] = {}
    last: dict[str, float] = {}
    counts: dict[str, int] = {}

    def counted(name: str, body: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            now = time.monotonic()
            await request.read()
            counts[name] = counts.get(name, 0) + 1
            first.setdefault(name, now)
            last[name] = now
            return web.Response(body=body, content_type="application/json", headers={"X-Served-By": "bench-1"})

        return handle

    async def stats(request: web.Request) -> web.Response:
        doc = {n: {"count": counts[n], "first": first[n], "last": last[n]} for n in counts}
        return web.json_response(doc)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/complete", counted("api.complete", b'{"text": "ok"}'))
        app.router.add_put("/v1/sessions/{key}", counted("api.sessions", b'{"ok": true}'))
        app.router.add_get("/", counted("web.home", b'{"page": "home"}'))
        app.router.add_get("/_stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        conn.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass(frozen=True)
class Figures:
    """What one benchmark run measured."""

    target_per_path: float
    achieved: dict[str, float]
    arrived: dict[str, float]
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    latency_p50_ms: float
    latency_p99_ms: float
    ok: int
    total: int
    wall_s: float
    cpu_s: float


def run(rate_per_s: float, duration_s: float) -> Figures:
    """Start the server process, run the probe against it and collect the figures."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(30.0):
            raise RuntimeError("bench server did not report its port within 30 s")
        port = parent.recv()
        base = f"http://127.0.0.1:{port}"
        probe = Probe([base], list(PATHS), rate_per_s=rate_per_s, duration_s=duration_s)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        records = probe.run()
        wall_s = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        with urllib.request.urlopen(f"{base}/_stats", timeout=5.0) as resp:
            seen = json.load(resp)
    finally:
        server.terminate()
        server.join(5.0)

    # n events span n - 1 intervals: rate = (n - 1) / (last - first).
    achieved = {}
    arrived = {}
    for spec in PATHS:
        sends = sorted(r.scheduled_s + r.lag_ms / 1000.0 for r in records if r.path == spec.name)
        span_s = sends[-1] - sends[0] if len(sends) > 1 else 0.0
        achieved[spec.name] = (len(sends) - 1) / span_s if span_s > 0 else 0.0
        entry = seen.get(spec.name)
        span_s = entry["last"] - entry["first"] if entry else 0.0
        arrived[spec.name] = (entry["count"] - 1) / span_s if entry and span_s > 0 else 0.0
    hist = latency_histogram()
    for rec in records:
        hist.record_value(max(1, min(120_000_000, round(rec.latency_ms * 1000))))
    lag = probe.schedule_lag
    return Figures(
        target_per_path=rate_per_s,
        achieved=achieved,
        arrived=arrived,
        lag_p50_ms=lag.p50_ms,
        lag_p99_ms=lag.p99_ms,
        lag_max_ms=lag.max_ms,
        latency_p50_ms=hist.get_value_at_percentile(50.0) / 1000.0,
        latency_p99_ms=hist.get_value_at_percentile(99.0) / 1000.0,
        ok=sum(r.ok for r in records),
        total=len(records),
        wall_s=wall_s,
        cpu_s=cpu_s,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures; with --strict, exit 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-per-s", type=float, default=200.0, help="per path")
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    fig = run(args.rate_per_s, args.duration_s)
    n = len(PATHS)
    total_target = fig.target_per_path * n
    total_achieved = sum(fig.achieved.values())
    ratios = {p: r / fig.target_per_path for p, r in fig.achieved.items()}
    worst = max(ratios.values(), key=lambda r: abs(r - 1.0), default=0.0)
    lag_ok = fig.lag_p99_ms < LAG_GOAL_P99_MS
    rate_ok = bool(ratios) and all(abs(r - 1.0) <= RATE_GOAL_RATIO for r in ratios.values())

    print(f"probe benchmark: {n} paths x {fig.target_per_path:g} req/s for {args.duration_s:g} s")
    print("server: aiohttp on 127.0.0.1, separate process")
    print(f"target rate      : {fig.target_per_path:.1f} req/s per path, {total_target:.1f} total")
    per_path = ", ".join(f"{p} {r:.1f}" for p, r in fig.achieved.items())
    print(f"achieved (sends) : {per_path}; total {total_achieved:.1f} req/s")
    ratio_text = ", ".join(f"{p} {r:.4f}" for p, r in ratios.items())
    print(f"achieved/target  : {ratio_text}; total {total_achieved / total_target:.4f}")
    per_path = ", ".join(f"{p} {r:.1f}" for p, r in fig.arrived.items())
    total_arrived = sum(fig.arrived.values())
    print(f"server arrivals  : {per_path}; total {total_arrived:.1f} req/s (ratio {total_arrived / total_target:.4f})")
    print(f"requests ok      : {fig.ok}/{fig.total} in {fig.wall_s:.2f} s wall")
    per_request_us = fig.cpu_s / max(fig.total, 1) * 1e6
    print(
        f"probe cpu        : {fig.cpu_s:.2f} s user+sys, {per_request_us:.0f} us/request, "
        f"{fig.cpu_s / fig.wall_s:.0%} of one core ({os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f})"
    )
    print(f"schedule lag     : p50 {fig.lag_p50_ms:.3f} ms, p99 {fig.lag_p99_ms:.3f} ms, max {fig.lag_max_ms:.3f} ms")
    print(f"latency          : p50 {fig.latency_p50_ms:.3f} ms, p99 {fig.latency_p99_ms:.3f} ms")
    print(
        f"goals            : lag p99 < {LAG_GOAL_P99_MS:g} ms {'PASS' if lag_ok else 'MISS'}; "
        f"rate within {RATE_GOAL_RATIO:.0%} {'PASS' if rate_ok else 'MISS'} "
        f"(worst path ratio {worst:.4f})"
    )
    return 0 if (lag_ok and rate_ok) or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
