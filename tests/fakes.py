"""Fakes for unit tests: stack outputs with every field filled, a tiny HTTP stand-in for the edges."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import socket
import struct
import textwrap
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from infra.outputs import Container, StackOutputs


def containers(tiers: Iterable[tuple[str, int]], stack: str = "t", network: str = "sd-t-back") -> list[Container]:
    """`n` containers per tier, named like the kit names them, alternating zones a and b."""
    return [
        Container(name=f"sd-{stack}-{tier}-{i}", tier=tier, replica=i, zone="ab"[i % 2], role=tier, networks=(network,))
        for tier, n in tiers
        for i in range(n)
    ]


def outputs(
    found: Sequence[Container],
    *,
    stack: str = "t",
    edges_proxied: Mapping[str, Sequence[str]] | None = None,
    **overrides: Any,
) -> StackOutputs:
    """A StackOutputs holding `found`; every URL points at a port nothing listens on."""
    fields: dict[str, Any] = {
        "stack": stack,
        "edges": ("http://127.0.0.1:9", "http://127.0.0.1:9"),
        "status_url": "http://127.0.0.1:9",
        "toxiproxy_url": "http://127.0.0.1:9",
        "lb_stats": {},
        "networks": {"front": f"sd-{stack}-front", "back": f"sd-{stack}-back"},
        "containers": tuple(found),
        "edges_proxied": {k: tuple(v) for k, v in (edges_proxied or {}).items()},
        "topology": {},
        "image": "stackdrill/app:test",
        "backend": "docker",
        "admin_port": 9901,
    }
    fields.update(overrides)
    return StackOutputs.model_validate(fields)


@dataclass
class Arrival:
    """A request as the fake server saw it."""

    t_monotonic: float
    method: str
    path: str
    body: bytes


@dataclass
class FakeServer:
    """A tiny stand-in for the stack's edge, served from its own thread and event loop."""

    replica: str = "api-1"
    status: int = 200
    delay_s: float = 0.0
    fallback: bool = False
    api_state: str | None = None
    stall_from: float = float("inf")
    stall_until: float = float("-inf")
    arrivals: list[Arrival] = field(default_factory=list)
    sessions: dict[str, bytes] = field(default_factory=dict)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _stopped: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def stall(self, from_monotonic: float, until_monotonic: float) -> None:
        """Hold every request arriving in [from, until) until `until`."""
        self.stall_from, self.stall_until = from_monotonic, until_monotonic

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        body = await request.read()
        self.arrivals.append(Arrival(now, request.method, request.path, body))
        if self.stall_from <= now < self.stall_until:
            await asyncio.sleep(self.stall_until - now)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        headers = {"X-Served-By": self.replica}
        if self.api_state:
            headers["X-Api-State"] = self.api_state
        if request.path.startswith("/v1/sessions/") and self.status == 200:
            key = request.path.rsplit("/", 1)[1]
            if request.method == "PUT":
                self.sessions[key] = body
            elif key not in self.sessions:
                return web.json_response({"error": "no such session", "status": 404}, status=404)
        doc = {"ok": True, "fallback": True} if self.fallback else {"ok": True}
        return web.json_response(doc, status=self.status, headers=headers)

    def start(self) -> FakeServer:
        """Serve on an ephemeral loopback port; returns once it accepts connections."""
        ready = threading.Event()

        async def main() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            ready.set()
            await self._stopped.wait()
            await runner.cleanup()

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        self._thread.start()
        assert ready.wait(5.0), "fake server did not start within 5 s"
        return self

    def close(self) -> None:
        """Stop serving."""
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(5.0)


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


# -- `stackdrill drill` in-process, on a throwaway suite ------------------------------------------

_SUITES = itertools.count()


@dataclass
class DrillRun:
    """What one in-process drill gave: exit code, both consoles, report.json (or {}), its directory."""

    code: int
    out: str
    err: str
    report: dict[str, Any]
    reports: Path

    @property
    def junit(self) -> Path:
        return self.reports / "junit.xml"


def drill_in_process(
    tmp_path: Path,
    suite: str,
    *names: str,
    stem: str = "drill_suite",
    as_json: bool = False,
    baseline: Any = None,
) -> DrillRun:
    """`stackdrill drill` in-process on one file holding `suite` (its tests selected by `names`)."""
    from rich.console import Console

    from stackdrill.drill import run_drill

    n = next(_SUITES)  # a new module name each time: pytest imports test files by basename
    path = tmp_path / f"s{n}" / f"test_{stem}_{n}.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(suite))
    reports = tmp_path / f"reports{n}"
    out, err = io.StringIO(), io.StringIO()
    code = run_drill(
        [str(path), *names],
        topology="default",
        stack_name="",
        keep_stack=False,
        report_dir=str(reports),
        seed=1,
        as_json=as_json,
        console=Console(file=err, width=200),
        out=Console(file=out, width=200),
        junit=reports / "junit.xml",
        baseline=baseline,
    )
    report_json = reports / "report.json"
    report = json.loads(report_json.read_text()) if report_json.exists() else {}
    return DrillRun(code, out.getvalue(), err.getvalue(), report, reports)
