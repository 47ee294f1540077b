"""The load agent: lag sampling, the weight it maps to, and the agent protocol on a real socket."""

from __future__ import annotations

import asyncio
import socket
import time
from concurrent import futures

import pytest

from services.app.load_agent import FLOOR_PCT, GOOD_LAG_MS, LagMonitor, LoadAgent, weight_percent


@pytest.mark.parametrize(
    ("lag_ms", "pct"),
    [(0.0, 100), (GOOD_LAG_MS, 100), (100.0, 50), (200.0, 25), (500.0, 10), (1000.0, FLOOR_PCT), (60000.0, FLOOR_PCT)],
)
def test_weight_falls_with_lag_but_never_to_zero(lag_ms: float, pct: int) -> None:
    assert weight_percent(lag_ms) == pct


def test_weight_is_monotonic() -> None:
    weights = [weight_percent(float(ms)) for ms in range(0, 3000, 7)]
    assert weights == sorted(weights, reverse=True)
    assert min(weights) == FLOOR_PCT and max(weights) == 100


def test_monitor_jumps_to_a_stall_and_forgets_it_gradually() -> None:
    monitor = LagMonitor(decay=0.5)
    monitor.observe(400.0)
    assert monitor.lag_ms == 400.0
    monitor.observe(1.0)
    assert monitor.lag_ms == 200.0
    monitor.observe(300.0)
    assert monitor.lag_ms == 300.0
    for _ in range(10):
        monitor.observe(0.0)
    assert monitor.lag_ms == 300.0 * 0.5**10


def test_monitor_measures_a_blocked_event_loop() -> None:
    async def scenario() -> float:
        monitor = LagMonitor(sample_s=0.02)
        task = asyncio.get_running_loop().create_task(monitor.run())
        await asyncio.sleep(0.1)
        idle = monitor.lag_ms
        time.sleep(0.3)  # a CPU-bound handler holds the loop
        await asyncio.sleep(0.005)
        task.cancel()
        assert idle < 200.0, idle  # generous: the test host may be busy
        return monitor.lag_ms

    assert asyncio.run(scenario()) >= 250.0


def _ask(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        return sock.makefile("rb").read()  # one line, then EOF: the agent closes


def test_agent_answers_each_connection_with_one_weight_line() -> None:
    monitor = LagMonitor()
    agent = LoadAgent(monitor, "127.0.0.1", 0).start()
    try:
        answers = []
        for lag in (0.0, 200.0):
            monitor.lag_ms = lag
            answers.append(_ask(agent.port))
    finally:
        agent.close()
    assert answers == [b"100%\n", b"25%\n"]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", agent.port)) != 0, "the agent still listens after close()"


def test_agent_answers_while_the_event_loop_is_blocked() -> None:
    """The answer must not queue behind the work that makes the lag: HAProxy waits only its check timeout."""

    async def scenario() -> bytes:
        monitor = LagMonitor(sample_s=0.02)
        task = asyncio.get_running_loop().create_task(monitor.run())
        agent = LoadAgent(monitor, "127.0.0.1", 0).start()
        try:
            await asyncio.sleep(0.05)
            time.sleep(0.3)  # a handler holds the loop
            await asyncio.sleep(0.03)  # the monitor wakes up late and records the lag
            with futures.ThreadPoolExecutor(1) as pool:
                # The LB asks while the loop is held again: an agent served by this loop could not answer.
                return pool.submit(_ask, agent.port).result(timeout=3.0)
        finally:
            agent.close()
            task.cancel()

    answer = asyncio.run(scenario())
    assert answer.endswith(b"%\n") and int(answer[:-2]) <= 35, answer  # lag about 230 ms: 22%
