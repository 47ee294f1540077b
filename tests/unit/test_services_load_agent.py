"""The load agent: lag sampling, the weight it maps to, and the agent protocol on a real socket."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.app.load_agent import FLOOR_PCT, GOOD_LAG_MS, LagMonitor, start_agent, weight_percent


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
    assert monitor.lag_ms < 1.0
    monitor.observe(-5.0)  # a clock that woke early is no lag
    assert monitor.lag_ms >= 0.0


def test_monitor_measures_a_blocked_event_loop() -> None:
    async def scenario() -> float:
        monitor = LagMonitor(sample_s=0.02)
        task = asyncio.get_running_loop().create_task(monitor.run())
        await asyncio.sleep(0.1)
        idle = monitor.lag_ms
        time.sleep(0.3)  # a CPU-bound handler holds the loop
        await asyncio.sleep(0.005)
        task.cancel()
        assert idle < 50.0, idle
        return monitor.lag_ms

    assert asyncio.run(scenario()) >= 250.0


def test_agent_answers_each_connection_with_one_weight_line() -> None:
    async def scenario() -> list[bytes]:
        monitor = LagMonitor()
        server = await start_agent(monitor, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        answers = []
        for lag in (0.0, 200.0):
            monitor.lag_ms = lag
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answers.append(await asyncio.wait_for(reader.read(), timeout=2.0))  # then EOF: the agent closes
            writer.close()
        server.close()
        await server.wait_closed()
        return answers

    assert asyncio.run(scenario()) == [b"100%\n", b"25%\n"]
