"""Benchmark of a Toxiproxy edge with no toxic: the p50/p99 it adds over a direct request.

Starts a trivial aiohttp server in a separate process and the kit's toxiproxy-server as a
subprocess, both on 127.0.0.1, creates one proxy with no toxics in front of the server, and
runs one open-loop probe whose two endpoints are the server itself and the proxy. The probe
round-robins its endpoints, so requests alternate direct, proxied, direct, ... on one
schedule, one event loop and one connection pool: machine noise hits both sides equally.
Each side gets --rate-per-s (the probe runs at twice that). The first --warmup-s seconds
(connection set-up) are sent but not counted. Latency is measured from each request's
scheduled start and summarised with the kit's HdrHistogram.
Goal: the proxy adds at most 1 ms at p50.

    .venv/bin/python bench/proxy_overhead.py [--rate-per-s 200] [--duration-s 10]
        [--warmup-s 1] [--json] [--strict]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

import requests

from failover_tests.toxiproxy import ToxiproxyClient
from failover_tests.traffic import HDR_HIGHEST_US, HDR_LOWEST_US, PathSpec, Probe, Record, latency_histogram
from infra.errors import FaultError, StackdrillError, ToolchainError
from infra.toolchain import toxiproxy_binary
from infra.wait import GiveUp, wait_until

GOAL_ADDED_P50_MS = 1.0
PROXY_NAME = "bench_edge"
PATH = PathSpec("bench.get", "GET", "/", timeout_s=3.0)
DIRECT = "direct"
PROXIED = "proxied"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 5.0


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """Child process: answer GET / at once with a small JSON body; report the port."""
    import asyncio

    from aiohttp import web

    # Ctrl-C reaches the whole process group; the parent tears this process down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def home(request: web.Request) -> web.Response:
        return web.Response(body=b'{"page": "home"}', content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", home)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        conn.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


# -- pure helpers (unit-tested) -------------------------------------------------------------


@dataclass(frozen=True)
class TargetFigures:
    """Latency of the answered requests to one target, from their scheduled start."""

    target: str
    requests: int
    failed: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


@dataclass(frozen=True)
class Overhead:
    """What the proxy added over the direct path, and whether that meets the goal."""

    added_p50_ms: float
    added_p99_ms: float
    ratio_p50: float | None  # proxied / direct; None when direct is 0
    ratio_p99: float | None
    goal_added_p50_ms: float
    goal_met: bool
    reason: str


def target_figures(target: str, latencies_ms: Sequence[float], failed: int = 0) -> TargetFigures:
    """Percentiles of one target's latencies from the kit's HdrHistogram, clamped to min/max."""
    if not latencies_ms:
        return TargetFigures(target, 0, failed, 0.0, 0.0, 0.0, 0.0)
    hist = latency_histogram()
    for value_ms in latencies_ms:
        hist.record_value(min(HDR_HIGHEST_US, max(HDR_LOWEST_US, round(value_ms * 1000.0))))
    lo_ms = min(latencies_ms)
    hi_ms = max(latencies_ms)

    def pct(q: float) -> float:
        # As traffic.summarize: a bucket's highest equivalent value may exceed the exact max.
        return min(hi_ms, max(lo_ms, hist.get_value_at_percentile(q) / 1000.0))

    return TargetFigures(target, len(latencies_ms), failed, pct(50.0), pct(99.0), pct(99.9), hi_ms)


def overhead(direct: TargetFigures, proxied: TargetFigures, goal_added_p50_ms: float) -> Overhead:
    """Proxy minus direct at p50 and p99, their ratios, and the goal verdict with its reason."""
    added_p50_ms = proxied.p50_ms - direct.p50_ms
    added_p99_ms = proxied.p99_ms - direct.p99_ms
    ratio_p50 = proxied.p50_ms / direct.p50_ms if direct.p50_ms > 0 else None
    ratio_p99 = proxied.p99_ms / direct.p99_ms if direct.p99_ms > 0 else None
    if not direct.requests or not proxied.requests:
        met, reason = False, "no answered requests on one side: nothing to compare"
    elif direct.failed or proxied.failed:
        met, reason = False, f"{direct.failed} direct and {proxied.failed} proxied requests failed"
    elif added_p50_ms <= goal_added_p50_ms:
        met, reason = True, f"added p50 {added_p50_ms:.3f} ms <= {goal_added_p50_ms:g} ms"
    else:
        met, reason = False, f"added p50 {added_p50_ms:.3f} ms > {goal_added_p50_ms:g} ms"
    return Overhead(added_p50_ms, added_p99_ms, ratio_p50, ratio_p99, goal_added_p50_ms, met, reason)


def split_by_target(records: Iterable[Record], endpoints: dict[str, str], warmup_s: float) -> dict[str, TargetFigures]:
    """Figures per target name ({name: base URL}), leaving out requests due before `warmup_s`.

    A request counts for the endpoint that answered it. One that failed, was not sent, or
    moved to the other endpoint after a connect error (``attempts != 1``) counts as failed
    for the endpoint it last tried, so a rerouted request never lends its latency to the
    wrong side.
    """
    by_url = {url: name for name, url in endpoints.items()}
    latencies: dict[str, list[float]] = {name: [] for name in endpoints}
    failed: dict[str, int] = dict.fromkeys(endpoints, 0)
    for rec in records:
        if rec.scheduled_s < warmup_s:
            continue
        name = by_url.get(rec.endpoint or "")
        if name is None:
            # Not sent (max_in_flight reached): no endpoint to charge; count it on both.
            for key in failed:
                failed[key] += 1
        elif rec.ok and rec.attempts == 1:
            latencies[name].append(rec.latency_ms)
        else:
            failed[name] += 1
    return {name: target_figures(name, latencies[name], failed[name]) for name in endpoints}


# -- processes ------------------------------------------------------------------------------


def _free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _bench_server() -> Iterator[int]:
    """Run the trivial server in a spawned process; yield its port; stop it on exit."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child,), daemon=True, name="bench-server")
    server.start()
    try:
        if not parent.poll(_START_TIMEOUT_S):
            raise GiveUp(f"bench server did not report its port within {_START_TIMEOUT_S:g} s")
        yield int(parent.recv())
    finally:
        server.terminate()
        server.join(_STOP_TIMEOUT_S)
        if server.is_alive():
            server.kill()
            server.join(_STOP_TIMEOUT_S)


@contextlib.contextmanager
def _toxiproxy_server(binary: Path) -> Iterator[str]:
    """Run toxiproxy-server on a free 127.0.0.1 port; yield its API URL; stop it on exit."""
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("w+", prefix="toxiproxy-bench-", suffix=".log") as log_file:
        # Its own session: Ctrl-C reaches only this process, whose finally stops the server.
        proc = subprocess.Popen(
            [str(binary), "-host", "127.0.0.1", "-port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            client = ToxiproxyClient(api_url, timeout_s=2.0)

            def answers() -> tuple[bool, str]:
                if proc.poll() is not None:
                    log_file.seek(0)
                    raise GiveUp(f"toxiproxy-server exited with {proc.returncode}: {log_file.read()[-400:]}")
                return True, f"{len(client.proxies())} proxies"

            wait_until(
                answers,
                what=f"toxiproxy-server API at {api_url}",
                timeout_s=_START_TIMEOUT_S,
                interval_s=0.05,
                hint=f"run {binary} -host 127.0.0.1 -port {port} by hand to see why",
            )
            yield api_url
        finally:
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_TIMEOUT_S)


def _create_proxy(api_url: str, upstream_port: int) -> str:
    """Create the one proxy in front of the server, check it has no toxic; return its URL."""
    listen = f"127.0.0.1:{_free_port()}"
    body = {"name": PROXY_NAME, "listen": listen, "upstream": f"127.0.0.1:{upstream_port}", "enabled": True}
    # ToxiproxyClient has no create call (the stack creates proxies from a config file).
    try:
        resp = requests.post(f"{api_url}/proxies", json=body, timeout=5.0)
    except requests.RequestException as exc:
        raise FaultError(f"Toxiproxy at {api_url} unreachable: {exc.__class__.__name__}") from exc
    if resp.status_code != 201:
        raise FaultError(f"Toxiproxy POST /proxies {body} -> {resp.status_code}: {resp.text.strip()[:200]}")
    toxics = ToxiproxyClient(api_url).toxics(PROXY_NAME)
    if toxics:
        raise FaultError(f"proxy {PROXY_NAME} was created with toxics {[t.name for t in toxics]}; expected none")
    return f"http://{resp.json().get('listen', listen)}"


def _stop_probe(probe: Probe) -> None:
    """Stop a probe still running (Ctrl-C mid-run) before its targets go away."""
    if probe.running:
        probe.stop()
        probe.join(_STOP_TIMEOUT_S)


# -- run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What one benchmark run measured."""

    rate_per_s: float
    duration_s: float
    warmup_s: float
    direct: TargetFigures
    proxied: TargetFigures
    overhead: Overhead
    lag_p99_ms: float
    wall_s: float
    cpu_count: int
    load_1m: float


def run(rate_per_s: float, duration_s: float, warmup_s: float) -> Figures:
    """Start the server and Toxiproxy, drive both targets interleaved, and collect the figures."""
    binary = toxiproxy_binary()
    if not binary.exists():
        raise ToolchainError(f"toxiproxy-server not found at {binary}; fix: make setup (builds Toxiproxy)")
    with contextlib.ExitStack() as stack:
        server_port = stack.enter_context(_bench_server())
        api_url = stack.enter_context(_toxiproxy_server(binary))
        endpoints = {DIRECT: f"http://127.0.0.1:{server_port}", PROXIED: _create_proxy(api_url, server_port)}
        # Round robin over two endpoints: each gets half the probe's rate.
        probe = Probe(
            [endpoints[DIRECT], endpoints[PROXIED]],
            [PATH],
            rate_per_s=2 * rate_per_s,
            duration_s=warmup_s + duration_s,
            name="proxy-overhead",
        )
        stack.callback(_stop_probe, probe)
        started_s = time.perf_counter()
        records = probe.run()
        wall_s = time.perf_counter() - started_s
    per_target = split_by_target(records, endpoints, warmup_s)
    direct, proxied = per_target[DIRECT], per_target[PROXIED]
    return Figures(
        rate_per_s=rate_per_s,
        duration_s=duration_s,
        warmup_s=warmup_s,
        direct=direct,
        proxied=proxied,
        overhead=overhead(direct, proxied, GOAL_ADDED_P50_MS),
        lag_p99_ms=probe.schedule_lag.p99_ms,
        wall_s=wall_s,
        cpu_count=os.cpu_count() or 0,
        load_1m=os.getloadavg()[0],
    )


def _times(ratio: float | None) -> str:
    """A ratio as 'x1.23', or 'x-' when undefined."""
    return "x-" if ratio is None else f"x{ratio:.2f}"


def _print_table(fig: Figures) -> None:
    """The human-readable report."""
    print(
        f"proxy overhead benchmark: {fig.rate_per_s:g} req/s per target for {fig.duration_s:g} s "
        f"(+{fig.warmup_s:g} s warm-up), requests alternating direct/proxied"
    )
    print(
        f"server: aiohttp, separate process; proxy: toxiproxy-server, no toxics; "
        f"{fig.cpu_count} cores, load {fig.load_1m:.1f}; probe schedule lag p99 {fig.lag_p99_ms:.3f} ms"
    )
    print(f"{'target':<8} {'requests':>8} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8}")
    for t in (fig.direct, fig.proxied):
        print(
            f"{t.target:<8} {t.requests:>8} {t.failed:>6} {t.p50_ms:>8.3f} {t.p99_ms:>8.3f} "
            f"{t.p999_ms:>9.3f} {t.max_ms:>8.3f}"
        )
    o = fig.overhead
    print(
        f"added    : p50 {o.added_p50_ms:+.3f} ms ({_times(o.ratio_p50)}), "
        f"p99 {o.added_p99_ms:+.3f} ms ({_times(o.ratio_p99)})"
    )
    print(f"goal     : added p50 <= {o.goal_added_p50_ms:g} ms {'PASS' if o.goal_met else 'MISS'} ({o.reason})")


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt so every finally block stops its process."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures; with --strict, exit 1 if the goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-per-s", type=float, default=200.0, help="per target (default 200)")
    parser.add_argument("--duration-s", type=float, default=10.0, help="measured time (default 10)")
    parser.add_argument("--warmup-s", type=float, default=1.0, help="sent first, not counted (default 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args(argv)
    if args.warmup_s < 0:
        parser.error(f"--warmup-s {args.warmup_s:g} must be >= 0")

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        fig = run(args.rate_per_s, args.duration_s, args.warmup_s)
    except StackdrillError as exc:
        print(f"proxy overhead benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; server and toxiproxy stopped", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(asdict(fig), indent=2))
    else:
        _print_table(fig)
    return 0 if fig.overhead.goal_met or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
