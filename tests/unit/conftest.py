"""Fixtures of the probe tests: local HTTP servers that answer, stall or drop requests (no Docker)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fakes import DroppingServer, FakeServer


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


@pytest.fixture
def dropping_server(request: pytest.FixtureRequest) -> Iterator[DroppingServer]:
    srv = DroppingServer(reset=getattr(request, "param", False)).start()
    yield srv
    srv.close()
