"""How busy a replica is, told to HAProxy: event-loop lag turned into an agent-check weight.

A replica starved of CPU (a noisy neighbour, a cgroup quota) still answers its cheap `/healthz`
in time, so active health checks keep it in rotation, while every real request it takes waits
behind the throttled event loop and can miss its budget. Health checks are the wrong question:
the replica is up, just slow. HAProxy's agent check asks the right one. Every few hundred
milliseconds it opens a TCP connection to the agent port and reads a line such as ``40%``; it
sets the server's weight to that share of its configured weight, so the LB sends a slow replica
less traffic without ever taking it out (which health checks still decide alone).

* :class:`LagMonitor` measures how late a short sleep on the event loop wakes up: a decaying
  maximum, so one stall is remembered for a few samples and a busy loop reads high at once.
* :func:`weight_percent` maps that lag to a weight: 100% up to ``good_ms``, then falling as
  ``good_ms / lag``, never below ``floor_pct`` (a replica is never starved of all traffic, so its
  weight can recover once the lag is gone).
* :func:`start_agent` serves the agent protocol: one line, then close. A failed agent connection
  is not a failed health check for HAProxy, so an agent that cannot answer leaves the weight as it
  was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

GOOD_LAG_MS = 50.0  # at or under this lag a replica takes its full share
FLOOR_PCT = 5  # the lowest weight the agent reports
SAMPLE_S = 0.1  # how often the monitor wakes up
DECAY = 0.8  # per sample: a 500 ms stall still reads over 50 ms about 1 s later


def weight_percent(lag_ms: float, *, good_ms: float = GOOD_LAG_MS, floor_pct: int = FLOOR_PCT) -> int:
    """The share of its weight a replica whose event loop lags ``lag_ms`` should get (percent)."""
    if lag_ms <= good_ms:
        return 100
    return max(floor_pct, min(100, round(100 * good_ms / lag_ms)))


class LagMonitor:
    """The event loop's lag: how late a ``SAMPLE_S`` sleep wakes up, as a decaying maximum (ms)."""

    def __init__(
        self,
        *,
        sample_s: float = SAMPLE_S,
        decay: float = DECAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sample_s = sample_s
        self.decay = decay
        self.clock = clock
        self.lag_ms = 0.0

    def observe(self, late_ms: float) -> None:
        """Record one sample: the lag jumps to a larger sample at once and decays otherwise."""
        self.lag_ms = max(late_ms, 0.0, self.lag_ms * self.decay)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            start = self.clock()
            await asyncio.sleep(self.sample_s)
            self.observe((self.clock() - start - self.sample_s) * 1000.0)


async def start_agent(monitor: LagMonitor, host: str, port: int) -> asyncio.Server:
    """Listen for HAProxy's agent checks; answer each with ``<weight>%`` from ``monitor``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(f"{weight_percent(monitor.lag_ms)}%\n".encode())
            await writer.drain()
        except ConnectionError:
            pass  # the LB gave up waiting (its check timed out): nothing to tell it any more
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port)
