"""Benchmark of the training dashboard on a live stack: what it costs and how fast it shows a fault.

One run, side by side on the same stack:
  - CPU of the session's traffic alone (a probe at the session's rate on every path), then of
    the whole dashboard (that traffic + the live feed + the map poller + the SSE server) with a
    headless Chromium showing the page; each over --window-s seconds, as a share of one core,
    and the browser's own CPU beside it;
    (the map's `docker exec` into the Sentinels runs in the engine's processes, not counted here);
  - update latency, --rounds times: `pause` on an API replica clicked in the fault panel ->
    the replica shown paused on the map, -> shown DOWN in an LB; then revert all.

Run: .venv/bin/python bench/train_dashboard.py [--rounds 5] [--window-s 30] [--stack-name NAME]
(without --stack-name it brings the default topology up and takes it down afterwards)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from failover_tests.stack import DrillStack, provision  # noqa: E402
from failover_tests.traffic import default_paths  # noqa: E402
from failover_tests.train.server import TrainServer  # noqa: E402
from failover_tests.train.session import SESSION_RATE_PER_S, TrainSession  # noqa: E402
from infra import outputs as O  # noqa: E402
from infra import topology  # noqa: E402
from infra.lifecycle import StackManager  # noqa: E402

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def chromium_cpu_s() -> float:
    """CPU seconds of every chromium process on the machine (the benchmark's browser)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"chromium" not in cmd:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / TICKS_PER_S


def traffic_only(stack: DrillStack, window_s: float) -> float:
    probe = stack.probe(rate_per_s=SESSION_RATE_PER_S, duration_s=window_s + 5, name="bench-traffic")
    probe.start()
    time.sleep(2)
    c0 = own_cpu_s()
    time.sleep(window_s)
    used = own_cpu_s() - c0
    probe.stop()
    probe.join()
    return used / window_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window-s", type=float, default=30.0)
    parser.add_argument("--stack-name", default="")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    name = args.stack_name or f"bench{os.getpid() % 10000}"
    attached = bool(args.stack_name) and StackManager(name).exists()
    stack = provision(topology.load("default"), name, keep=attached)
    try:
        paths = len(default_paths())
        print(f"stack {name}; session traffic {SESSION_RATE_PER_S:g} req/s x {paths} paths; 2 cores", flush=True)
        alone = traffic_only(stack, args.window_s)
        session = TrainSession(stack, topology_name="default").start()
        server = TrainServer(session, session).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                page.goto(server.url)
                page.locator('svg[data-chart="api.complete"]').wait_for(timeout=15_000)
                time.sleep(2)
                c0, b0 = own_cpu_s(), chromium_cpu_s()
                time.sleep(args.window_s)
                dashboard = (own_cpu_s() - c0) / args.window_s
                browser_share = (chromium_cpu_s() - b0) / args.window_s
                seen_paused: list[float] = []
                seen_down: list[float] = []
                answered: list[float] = []
                replicas = [c.name for c in stack.containers(O.TIER_API)]
                for i in range(args.rounds):
                    victim = replicas[i % len(replicas)]
                    page.select_option("#fault-name", "pause")
                    page.select_option("#fault-target", victim.removeprefix(f"sd-{name}-"))
                    page.fill("#fault-duration", "60")
                    t0 = time.monotonic()
                    with page.expect_response(lambda r: r.url.endswith("/api/faults")):
                        page.click("#fault-apply")
                    answered.append(time.monotonic() - t0)
                    page.locator(f'[data-container="{victim}"][data-state="paused"]').wait_for(timeout=20_000)
                    seen_paused.append(time.monotonic() - t0)
                    page.locator(f'[data-lb-server="{victim}"][data-lb-state^="DOWN"]').first.wait_for(timeout=20_000)
                    seen_down.append(time.monotonic() - t0)
                    page.click("#revert-all")
                    page.locator(f'[data-container="{victim}"][data-state="running"]').wait_for(timeout=20_000)
                    page.locator(f'[data-lb-server="{victim}"][data-lb-state^="DOWN"]').first.wait_for(
                        state="detached", timeout=40_000
                    )
                browser.close()
        finally:
            server.stop()
            session.close()
    finally:
        if not attached:
            stack.manager.down()
    print(f"CPU, share of one core over {args.window_s:g} s:")
    print(f"  session traffic alone       {100 * alone:5.1f} %")
    extra = 100 * (dashboard - alone)
    print(f"  dashboard (traffic + feed + map + SSE)  {100 * dashboard:5.1f} %  (+{extra:.1f} % for the dashboard)")
    print(f"  headless Chromium showing the page      {100 * browser_share:5.1f} %")
    print(f"update latency over {args.rounds} rounds (click Apply -> seen on the page):")
    rows = (
        ("fault applied (the POST answered)", answered),
        ("replica shown paused on the map", seen_paused),
        ("replica shown DOWN in an LB", seen_down),
    )
    for label, values in rows:
        print(
            f"  {label:34s} median {statistics.median(values):.2f} s, min {min(values):.2f} s, max {max(values):.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
