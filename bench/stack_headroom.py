"""Benchmark: how much probe traffic can the replica stack carry on this machine, fault-free?

Runs the drills' own open-loop probe (every path, both edges) against a live stack at each rate
in turn, side by side in one run, and prints per rate: requests, success, p50/p99 per path, the
probe's schedule lag, and how busy the host's CPUs were. The drills' default rate must sit where
p99 stays flat and the CPUs keep headroom for the faults' own work (restarts, failovers).

    .venv/bin/python bench/stack_headroom.py -s STACK [--rates 10,20,40,60] [--duration-s 15]

With no `-s`, a default stack is brought up for the run and torn down after it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from failover_tests.stack import provision
from failover_tests.traffic import HDR_HIGHEST_US, default_paths, latency_histogram
from infra import topology


@dataclass(frozen=True)
class RateFigures:
    """What one rate cost."""

    rate_per_s: float
    requests: int
    success: float
    p50_ms: dict[str, float]
    p99_ms: dict[str, float]
    lag_p99_ms: float
    cpu_busy: float  # share of all cores busy during the run, 0..1


def _cpu_times() -> tuple[float, float]:
    with open("/proc/stat") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def _hist(values_ms: Iterable[float]) -> HdrHistogram:
    hist = latency_histogram()
    for v in values_ms:
        hist.record_value(min(HDR_HIGHEST_US, max(1, round(v * 1000.0))))
    return hist


def measure(stack: object, rate_per_s: float, duration_s: float) -> RateFigures:
    """One fault-free probe run at `rate_per_s` per path."""
    paths = [p for p in default_paths() if p.name != "api.sessions_read"]
    total0, idle0 = _cpu_times()
    probe = stack.probe(rate_per_s=rate_per_s, duration_s=duration_s, paths=paths, name=f"headroom-{rate_per_s:g}")  # type: ignore[attr-defined]
    with probe:
        probe.join()
    total1, idle1 = _cpu_times()
    records = probe.records
    p50: dict[str, float] = {}
    p99: dict[str, float] = {}
    for spec in paths:
        hist = _hist(r.latency_ms for r in records if r.path == spec.name)
        p50[spec.name] = hist.get_value_at_percentile(50) / 1000.0
        p99[spec.name] = hist.get_value_at_percentile(99) / 1000.0
    lag = _hist(r.lag_ms for r in records)
    ok = sum(r.ok and not r.fallback for r in records)
    busy = 1.0 - (idle1 - idle0) / max(total1 - total0, 1e-9)
    return RateFigures(
        rate_per_s, len(records), ok / max(len(records), 1), p50, p99, lag.get_value_at_percentile(99) / 1000.0, busy
    )


def main(argv: list[str] | None = None) -> int:
    """Measure every rate and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--stack-name", default="")
    parser.add_argument("--rates", default="10,20,40,60")
    parser.add_argument("--duration-s", type=float, default=15.0)
    args = parser.parse_args(argv)
    name = args.stack_name or f"headroom{os.getpid()}"
    stack = provision(topology.load("default"), name, keep=bool(args.stack_name))
    try:
        rows = [measure(stack, float(r), args.duration_s) for r in args.rates.split(",")]
    finally:
        if not args.stack_name:
            stack.manager.down()
    paths = list(rows[0].p99_ms)
    head = f"{'rate/s/path':>11} {'requests':>8} {'real ok':>8} {'lag p99':>8} {'cpu busy':>8}  " + "  ".join(
        f"{p} p50/p99 ms" for p in paths
    )
    print(head)
    for r in rows:
        lat = "  ".join(f"{r.p50_ms[p]:>7.1f}/{r.p99_ms[p]:<7.1f}".ljust(len(p) + 12) for p in paths)
        print(
            f"{r.rate_per_s:>11g} {r.requests:>8} {100 * r.success:>7.2f}% {r.lag_p99_ms:>6.1f}ms "
            f"{100 * r.cpu_busy:>7.1f}%  {lat}"
        )
    base = rows[0]
    for r in rows[1:]:
        worst = max(r.p99_ms[p] / max(base.p99_ms[p], 1e-9) for p in paths)
        print(f"{r.rate_per_s:g}/s vs {base.rate_per_s:g}/s: worst p99 ratio {worst:.2f}")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    sys.exit(code)
