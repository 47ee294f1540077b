"""Our Toxiproxy build (tools/toxiproxy-concurrent-dial.patch): an upstream that swallows SYNs
holds up only the clients dialled to it, for at most the dial timeout, never the proxy's accept
loop. Stock v2.12.0 dials in the accept loop without a timeout: one dead upstream address (a
container killed a moment ago, still in DNS) stalled every new client of that edge until the
container came back (make drill here: lose-one-api_lb, 34% of web pages degraded for the whole
7 s fault while the status page said operational).

Loopback only: the server, the swallowing upstream and the clients all live on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from infra.toolchain import toxiproxy_binary
from infra.wait import wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def toxiproxy() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [str(toxiproxy_binary()), "-host", "127.0.0.1", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: (requests.get(f"{api}/version", timeout=1).ok, None), what="toxiproxy", timeout_s=10)
        yield api
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def swallower() -> Iterator[int]:
    """A listener that never accepts, with its accept queue full: further SYNs are dropped."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(2):
        c = socket.socket()
        c.settimeout(0.5)
        with contextlib.suppress(OSError):
            c.connect(("127.0.0.1", port))
        fillers.append(c)
    try:
        yield port
    finally:
        for c in fillers:
            c.close()
        server.close()


def _closed_after_s(port: int) -> float:
    """Connect to the proxy and wait until it closes us (it could not reach the upstream)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.settimeout(20)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            c.recv(1)
    return time.monotonic() - t0


def test_a_swallowing_upstream_holds_each_client_at_most_the_dial_timeout(toxiproxy: str, swallower: int) -> None:
    listen = _free_port()
    created = requests.post(
        f"{toxiproxy}/proxies",
        json={"name": "dead", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{swallower}"},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    with ThreadPoolExecutor(6) as pool:
        waits = sorted(pool.map(lambda _: _closed_after_s(listen), range(6)))
    # Each client waited about the 1 s dial timeout, all at once: not 6 x the timeout one after
    # another, and not the kernel's SYN retries (over a minute) as with the stock server.
    assert waits[-1] < 4.0, f"clients were closed after {[round(w, 1) for w in waits]} s"
    assert waits[0] >= 0.5, f"closed before any dial could have timed out: {waits}"
