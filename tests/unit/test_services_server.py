"""Serving a role: X-Served-By, /version, the admin app's routes, bad settings, SIGTERM in a real process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from services.app.fault_switch import FaultSwitch, SwitchState
from services.app.http_conventions import RequestError
from services.app.server import create_app, load_settings
from services.app.settings import SettingsError
from services.app.testing import DEMO_SETTINGS, demo_app, fetch_json, serving, serving_with_admin, wait_until

REPLICA = DEMO_SETTINGS.replica
REPO = Path(__file__).resolve().parents[2]


def test_version_names_role_and_replica() -> None:
    async def scenario() -> None:
        async with serving(demo_app()) as url, aiohttp.ClientSession() as http:
            assert await fetch_json(http, "GET", f"{url}/version") == (
                200,
                {"version": "9.9.9", "role": "testrole", "replica": REPLICA},
                REPLICA,
            )

    asyncio.run(scenario())


def test_admin_app_serves_health_and_the_fault_switch_only() -> None:
    async def scenario() -> None:
        async with serving_with_admin(demo_app()) as (_, admin), aiohttp.ClientSession() as http:
            assert await fetch_json(http, "GET", f"{admin}/healthz") == (
                200,
                {"status": "ok", "replica": REPLICA},
                REPLICA,
            )
            assert await fetch_json(http, "GET", f"{admin}/fault") == (
                200,
                {"fault": None, "injected": 0},
                REPLICA,
            )
            for path in ("/readyz", "/version", "/v1/hello"):
                assert await fetch_json(http, "GET", f"{admin}{path}") == (
                    404,
                    {"error": "not found", "status": 404},
                    REPLICA,
                )

    asyncio.run(scenario())


def test_role_middlewares_sit_inside_the_error_middleware_and_outside_the_fault_switch() -> None:
    seen: list[str] = []

    @web.middleware
    async def role(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(request.path)
        if request.path == "/v1/refused":
            raise RequestError(429, "busy")
        return await handler(request)

    switch = SwitchState()
    app = create_app(DEMO_SETTINGS, switch=switch, middlewares=[role])

    async def scenario() -> None:
        async with serving(app) as url, aiohttp.ClientSession() as http:
            assert await fetch_json(http, "GET", f"{url}/v1/refused") == (
                429,
                {"error": "busy", "status": 429},
                REPLICA,
            )
            switch.set(FaultSwitch(kind="http_error", status=502))
            assert (await fetch_json(http, "GET", f"{url}/healthz"))[0] == 502

    asyncio.run(scenario())
    assert seen == ["/v1/refused", "/healthz"]


def test_bad_settings_exit_with_status_2_and_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    def loader() -> None:
        raise SettingsError("SD_PORT='x' is not an integer")

    with pytest.raises(SystemExit) as excinfo:
        load_settings(loader)
    assert excinfo.value.code == 2
    assert capsys.readouterr().err == "configuration error: SD_PORT='x' is not an integer\n"
    assert load_settings(lambda: 42) == 42


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _agent_says(port: int) -> bytes:
    with socket.create_connection(("127.0.0.2", port), timeout=2.0) as sock:
        return sock.makefile("rb").read()


def test_module_serves_admin_on_loopback_and_exits_cleanly_on_sigterm() -> None:
    port, admin_port, agent_port = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "SD_REPLICA": "sd-test-integration-1",
        "SD_PORT": str(port),
        "SD_ADMIN_PORT": str(admin_port),
        "SD_AGENT_PORT": str(agent_port),
        "SD_DRAIN_MS": "200",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.app.integration"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        async def scenario() -> None:
            async with aiohttp.ClientSession() as http:

                async def up() -> bool:
                    try:
                        return (await fetch_json(http, "GET", f"http://127.0.0.1:{port}/healthz"))[0] == 200
                    except aiohttp.ClientConnectionError:
                        return False

                await wait_until(up, timeout_s=4.0, what="the integration process to listen")
                status, _, served_by = await fetch_json(http, "GET", f"http://127.0.0.1:{admin_port}/fault")
                assert (status, served_by) == (200, "sd-test-integration-1")
                # 127.0.0.2 is loopback too, but only a 0.0.0.0 listener accepts on it.
                assert _accepts("127.0.0.2", port)
                assert not _accepts("127.0.0.2", admin_port)
                # The load agent listens on every address (the LBs dial it) and says one weight.
                said = _agent_says(agent_port)
                assert re.fullmatch(rb"\d{1,3}%\n", said) and 5 <= int(said[:-2]) <= 100, said
                proc.send_signal(signal.SIGTERM)
                # While draining, the process still answers but says it is not ready.

                async def draining() -> bool:
                    url = f"http://127.0.0.1:{port}/readyz"
                    status, body, _ = await fetch_json(http, "GET", url)
                    return (status, body.get("draining")) == (503, True)

                await wait_until(draining, timeout_s=1.0, what="/readyz to report draining")

        asyncio.run(scenario())
        assert proc.wait(timeout=4.0) == 0
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", admin_port)) != 0
        assert not _accepts("127.0.0.1", agent_port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output = proc.communicate()[0].decode()
    assert "stopped" in output
