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
* :class:`LoadAgent` serves the agent protocol, one line and then close, from a thread of its
  own: a starved event loop with work queued would answer late, and HAProxy waits only its check
  timeout, so the answer must not queue behind the requests that make the lag. A failed agent
  connection is not a failed health check for HAProxy: an agent that cannot answer leaves the
  weight as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import socketserver
import threading
import time
from collections.abc import Callable

GOOD_LAG_MS = 50.0  # at or under this lag a replica takes its full share
FLOOR_PCT = 5  # the lowest weight the agent reports
SAMPLE_S = 0.1  # how often the monitor wakes up
DECAY = 0.95  # per sample: a 500 ms stall still reads over 50 ms about 4.5 s later


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
        self.lag_ms = max(late_ms, self.lag_ms * self.decay)

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            start = self.clock()
            await asyncio.sleep(self.sample_s)
            self.observe((self.clock() - start - self.sample_s) * 1000.0)


class _Server(socketserver.TCPServer):
    allow_reuse_address = True
    monitor: LagMonitor


class _Answer(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        # An OSError: the LB gave up waiting (its check timed out), nothing to tell it any more.
        with contextlib.suppress(OSError):
            self.request.sendall(f"{weight_percent(self.server.monitor.lag_ms)}%\n".encode())


class LoadAgent:
    """Answers HAProxy's agent checks with ``<weight>%`` from ``monitor``, from its own thread."""

    def __init__(self, monitor: LagMonitor, host: str, port: int) -> None:
        self._server = _Server((host, port), _Answer)
        self._server.monitor = monitor
        self._thread = threading.Thread(target=self._server.serve_forever, name="load-agent", daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for, or the one picked for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> LoadAgent:
        """Answer from a daemon thread from now on; returns the agent."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop answering and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
