"""The shared service behaviour: health endpoints, error bodies, X-Served-By, faults, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from services.app.common import Fault, Readiness, ReadinessCheck, create_app
from services.app.settings import CommonSettings
from services.app.testing import serving, serving_with_admin, wait_until

REPLICA = "sd-test-x-1"
REPO = Path(__file__).resolve().parents[2]


def common(**overrides: Any) -> CommonSettings:
    """Common settings for tests."""
    return CommonSettings(**{"role": "testrole", "replica": REPLICA, "version": "9.9.9", **overrides})


async def boom(request: web.Request) -> web.Response:
    """A handler with a bug."""
    raise RuntimeError("secret detail")


async def hello(request: web.Request) -> web.Response:
    """A plain handler."""
    return web.json_response({"hello": True})


def app_with_routes(readiness: Readiness | None = None) -> web.Application:
    """A common app plus a healthy and a broken route."""
    app = create_app(common(), readiness=readiness)
    app.router.add_get("/v1/hello", hello)
    app.router.add_get("/v1/boom", boom)
    return app


async def fetch(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any, str | None]:
    """Make a request; return (status, JSON body, X-Served-By)."""
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json(), response.headers.get("X-Served-By")


def test_healthz_version_and_empty_readyz() -> None:
    async def scenario() -> None:
        async with serving(app_with_routes()) as url, aiohttp.ClientSession() as http:
            assert await fetch(http, "GET", f"{url}/healthz") == (
                200,
                {"status": "ok", "replica": REPLICA},
                REPLICA,
            )
            assert await fetch(http, "GET", f"{url}/version") == (
                200,
                {"version": "9.9.9", "role": "testrole", "replica": REPLICA},
                REPLICA,
            )
            assert await fetch(http, "GET", f"{url}/readyz") == (
                200,
                {"status": "ready", "checks": {}, "degraded": []},
                REPLICA,
            )

    asyncio.run(scenario())


def test_errors_have_one_shape_and_name_the_replica() -> None:
    async def scenario() -> None:
        async with serving(app_with_routes()) as url, aiohttp.ClientSession() as http:
            assert await fetch(http, "GET", f"{url}/no/such/route") == (
                404,
                {"error": "not found", "status": 404},
                REPLICA,
            )
            assert await fetch(http, "GET", f"{url}/v1/boom") == (
                500,
                {"error": "internal error", "status": 500},
                REPLICA,
            )
            status, body, served_by = await fetch(http, "POST", f"{url}/v1/hello")
            assert (status, body["status"], served_by) == (405, 405, REPLICA)

    asyncio.run(scenario())


def test_readyz_required_checks_decide_and_optional_ones_degrade() -> None:
    async def ok() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError("nobody home")

    async def hangs() -> None:
        await asyncio.sleep(5)

    async def scenario() -> None:
        degraded_only = Readiness(checks=[ReadinessCheck("a", ok), ReadinessCheck("b", broken, required=False)])
        not_ready = Readiness(checks=[ReadinessCheck("a", hangs)], timeout_ms=100)
        async with serving(app_with_routes(degraded_only)) as url, aiohttp.ClientSession() as http:
            status, body, _ = await fetch(http, "GET", f"{url}/readyz")
            assert (status, body["status"], body["degraded"]) == (200, "ready", ["b"])
            assert body["checks"]["b"]["error"] == "ConnectionRefusedError: nobody home"
        async with serving(app_with_routes(not_ready)) as url, aiohttp.ClientSession() as http:
            status, body, _ = await fetch(http, "GET", f"{url}/readyz")
            assert (status, body["status"]) == (503, "not_ready")
            assert body["checks"]["a"]["error"] == "timed out after 100 ms"
            assert body["checks"]["a"]["latency_ms"] >= 100

    asyncio.run(scenario())


def test_http_error_fault_then_delete_restores() -> None:
    async def scenario() -> None:
        app = app_with_routes()
        async with serving_with_admin(app) as (url, admin), aiohttp.ClientSession() as http:
            status, body, served_by = await fetch(
                http, "PUT", f"{admin}/fault", json={"kind": "http_error", "status": 503}
            )
            assert (status, body["fault"]["kind"], served_by) == (200, "http_error", REPLICA)
            for path in ("/v1/hello", "/healthz", "/readyz"):
                assert await fetch(http, "GET", f"{url}{path}") == (
                    503,
                    {"error": "injected fault", "status": 503},
                    REPLICA,
                )
            # The admin server itself is never faulted.
            status, body, _ = await fetch(http, "GET", f"{admin}/fault")
            assert (status, body["injected"]) == (200, 3)
            status, body, _ = await fetch(http, "DELETE", f"{admin}/fault")
            assert (status, body["cleared"], body["fault"]) == (200, True, None)
            assert (await fetch(http, "GET", f"{url}/v1/hello"))[0] == 200

    asyncio.run(scenario())


def test_fault_rate_uses_random_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([0.1, 0.9, 0.4, 0.6])
    monkeypatch.setattr("services.app.common.random.random", lambda: next(draws))

    async def scenario() -> list[int]:
        async with (
            serving_with_admin(app_with_routes()) as (url, admin),
            aiohttp.ClientSession() as http,
        ):
            fault = {"kind": "http_error", "status": 500, "rate": 0.5}
            await fetch(http, "PUT", f"{admin}/fault", json=fault)
            return [(await fetch(http, "GET", f"{url}/v1/hello"))[0] for _ in range(4)]

    assert asyncio.run(scenario()) == [500, 200, 500, 200]


def test_abort_fault_closes_the_connection_without_a_response() -> None:
    async def scenario() -> None:
        async with (
            serving_with_admin(app_with_routes()) as (url, admin),
            aiohttp.ClientSession() as http,
        ):
            await fetch(http, "PUT", f"{admin}/fault", json={"kind": "abort"})
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await fetch(http, "GET", f"{url}/v1/hello")
            await fetch(http, "DELETE", f"{admin}/fault")
            assert (await fetch(http, "GET", f"{url}/v1/hello"))[0] == 200

    asyncio.run(scenario())


def test_delay_fault_honours_the_path_filter() -> None:
    async def scenario() -> None:
        async with (
            serving_with_admin(app_with_routes()) as (url, admin),
            aiohttp.ClientSession() as http,
        ):
            fault = {"kind": "delay", "delay_ms": 300, "paths": ["/v1/"]}
            await fetch(http, "PUT", f"{admin}/fault", json=fault)
            started = time.perf_counter()
            assert (await fetch(http, "GET", f"{url}/v1/hello"))[0] == 200
            assert time.perf_counter() - started >= 0.3
            started = time.perf_counter()
            assert (await fetch(http, "GET", f"{url}/healthz"))[0] == 200
            assert time.perf_counter() - started < 0.2

    asyncio.run(scenario())


def test_put_fault_replaces_the_active_one() -> None:
    async def scenario() -> None:
        async with (
            serving_with_admin(app_with_routes()) as (url, admin),
            aiohttp.ClientSession() as http,
        ):
            await fetch(http, "PUT", f"{admin}/fault", json={"kind": "http_error"})
            await fetch(http, "PUT", f"{admin}/fault", json={"kind": "delay", "delay_ms": 1})
            _, body, _ = await fetch(http, "GET", f"{admin}/fault")
            assert body["fault"]["kind"] == "delay"
            assert (await fetch(http, "GET", f"{url}/v1/hello"))[0] == 200

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "explode"}, "kind='explode' is not one of http_error, abort, delay"),
        ({"kind": "abort", "rate": 2}, "rate=2 must be a number in [0, 1]"),
        ({"kind": "http_error", "status": 200}, "status=200 must be an integer in [400, 599]"),
        ({"kind": "delay"}, "kind='delay' needs delay_ms"),
        ({"kind": "delay", "delay_ms": -1}, "delay_ms=-1 must be a number >= 0"),
        ({"kind": "abort", "paths": ["v1"]}, "paths=['v1'] must be a list of path prefixes"),
        ({"kind": "abort", "ratio": 1}, "unknown fields: ratio"),
        (["abort"], "body must be a JSON object with a 'kind'"),
    ],
)
def test_fault_validation_names_the_bad_field(body: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        Fault.from_json(body)
    assert str(excinfo.value).startswith(message)


def test_bad_fault_body_is_a_400_from_the_admin_server() -> None:
    async def scenario() -> None:
        async with (
            serving_with_admin(app_with_routes()) as (_, admin),
            aiohttp.ClientSession() as http,
        ):
            status, body, served_by = await fetch(http, "PUT", f"{admin}/fault", json={"kind": "explode"})
            assert (status, body["status"], served_by) == (400, 400, REPLICA)
            async with http.put(f"{admin}/fault", data=b"not json") as response:
                assert response.status == 400

    asyncio.run(scenario())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def test_module_serves_admin_on_loopback_and_exits_cleanly_on_sigterm() -> None:
    port, admin_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "SD_REPLICA": "sd-test-integration-1",
        "SD_PORT": str(port),
        "SD_ADMIN_PORT": str(admin_port),
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
                        return (await fetch(http, "GET", f"http://127.0.0.1:{port}/healthz"))[0] == 200
                    except aiohttp.ClientConnectionError:
                        return False

                await wait_until(up, timeout_s=4.0, what="the integration process to listen")
                status, _, served_by = await fetch(http, "GET", f"http://127.0.0.1:{admin_port}/fault")
                assert (status, served_by) == (200, "sd-test-integration-1")
                # 127.0.0.2 is loopback too, but only a 0.0.0.0 listener accepts on it.
                assert _accepts("127.0.0.2", port)
                assert not _accepts("127.0.0.2", admin_port)
                proc.send_signal(signal.SIGTERM)
                # While draining, the process still answers but says it is not ready.

                async def draining() -> bool:
                    url = f"http://127.0.0.1:{port}/readyz"
                    status, body, _ = await fetch(http, "GET", url)
                    return (status, body.get("draining")) == (503, True)

                await wait_until(draining, timeout_s=1.0, what="/readyz to report draining")

        asyncio.run(scenario())
        assert proc.wait(timeout=4.0) == 0
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", admin_port)) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output = proc.communicate()[0].decode()
    assert "stopped" in output
