"""Fixtures of the probe tests: local HTTP servers that answer, stall or drop requests (no Docker)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from failover_tests.traffic import (
    Record,
)
from tests.fakes import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer().start()
    yield srv
    srv.close()


@pytest.fixture
def make_server() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def make(**settings: object) -> FakeServer:
        srv = FakeServer(**settings).start()  # type: ignore[arg-type]
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.close()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class DroppingServer:
    """Accepts a connection, reads one whole request, then drops it without an answer.

    The request reached the server, so a client must count it as lost, not try another
    edge with it. With `reset`, the drop is a TCP reset (SO_LINGER 0) instead of a close.
    """

    def __init__(self, *, reset: bool = False) -> None:
        self.reset = reset
        self.requests_read = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> DroppingServer:
        """Serve until close()."""
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2.0)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if b"\r\n\r\n" in data:
                    self.requests_read += 1
                if self.reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self._stop.set()
        self._thread.join(5.0)
        self._sock.close()


@pytest.fixture
def dropping_server(request: pytest.FixtureRequest) -> Iterator[DroppingServer]:
    srv = DroppingServer(reset=getattr(request, "param", False)).start()
    yield srv
    srv.close()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll until predicate() is true, or fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


def by_path(records: list[Record], path: str) -> list[Record]:
    """The records of one path, in scheduled order."""
    return [r for r in records if r.path == path]
