"""The fault switch: http_error, abort and delay injected through the admin server, and its validation."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from services.app.fault_switch import FaultSwitch, SwitchState
from services.app.testing import DEMO_SETTINGS, demo_app, fetch_json, serving_with_admin

REPLICA = DEMO_SETTINGS.replica


def test_http_error_fault_then_delete_restores() -> None:
    async def scenario() -> None:
        async with serving_with_admin(demo_app()) as (url, admin), aiohttp.ClientSession() as http:
            status, body, served_by = await fetch_json(
                http, "PUT", f"{admin}/fault", json={"kind": "http_error", "status": 503}
            )
            assert (status, body["fault"]["kind"], served_by) == (200, "http_error", REPLICA)
            for path in ("/v1/hello", "/healthz", "/readyz"):
                assert await fetch_json(http, "GET", f"{url}{path}") == (
                    503,
                    {"error": "injected fault", "status": 503},
                    REPLICA,
                )
            # The admin server itself is never faulted.
            status, body, _ = await fetch_json(http, "GET", f"{admin}/fault")
            assert (status, body["injected"]) == (200, 3)
            status, body, _ = await fetch_json(http, "DELETE", f"{admin}/fault")
            assert (status, body["cleared"], body["fault"]) == (200, True, None)
            assert (await fetch_json(http, "GET", f"{url}/v1/hello"))[0] == 200

    asyncio.run(scenario())


@pytest.mark.parametrize("key", ["fraction", "rate"])
def test_fault_fraction_uses_random_draws(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    draws = iter([0.1, 0.9, 0.4, 0.6])
    monkeypatch.setattr("services.app.fault_switch.random.random", lambda: next(draws))

    async def scenario() -> tuple[list[int], float]:
        async with serving_with_admin(demo_app()) as (url, admin), aiohttp.ClientSession() as http:
            fault = {"kind": "http_error", "status": 500, key: 0.5}
            _, body, _ = await fetch_json(http, "PUT", f"{admin}/fault", json=fault)
            return [(await fetch_json(http, "GET", f"{url}/v1/hello"))[0] for _ in range(4)], body["fault"]["fraction"]

    assert asyncio.run(scenario()) == ([500, 200, 500, 200], 0.5)


def test_abort_fault_closes_the_connection_without_a_response() -> None:
    async def scenario() -> None:
        async with serving_with_admin(demo_app()) as (url, admin), aiohttp.ClientSession() as http:
            await fetch_json(http, "PUT", f"{admin}/fault", json={"kind": "abort"})
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await fetch_json(http, "GET", f"{url}/v1/hello")
            await fetch_json(http, "DELETE", f"{admin}/fault")
            assert (await fetch_json(http, "GET", f"{url}/v1/hello"))[0] == 200

    asyncio.run(scenario())


def test_delay_fault_honours_the_path_filter() -> None:
    async def scenario() -> None:
        async with serving_with_admin(demo_app()) as (url, admin), aiohttp.ClientSession() as http:
            fault = {"kind": "delay", "delay_ms": 300, "paths": ["/v1/"]}
            await fetch_json(http, "PUT", f"{admin}/fault", json=fault)
            started = time.perf_counter()
            assert (await fetch_json(http, "GET", f"{url}/v1/hello"))[0] == 200
            assert time.perf_counter() - started >= 0.3
            started = time.perf_counter()
            assert (await fetch_json(http, "GET", f"{url}/healthz"))[0] == 200
            assert time.perf_counter() - started < 0.2

    asyncio.run(scenario())


def test_put_fault_replaces_the_active_one() -> None:
    async def scenario() -> None:
        async with serving_with_admin(demo_app()) as (url, admin), aiohttp.ClientSession() as http:
            await fetch_json(http, "PUT", f"{admin}/fault", json={"kind": "http_error"})
            await fetch_json(http, "PUT", f"{admin}/fault", json={"kind": "delay", "delay_ms": 1})
            _, body, _ = await fetch_json(http, "GET", f"{admin}/fault")
            assert body["fault"]["kind"] == "delay"
            assert (await fetch_json(http, "GET", f"{url}/v1/hello"))[0] == 200

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "explode"}, "kind='explode' is not one of http_error, abort, delay"),
        ({"kind": "abort", "fraction": 2}, "fraction=2 must be a number in [0, 1]"),
        ({"kind": "abort", "rate": 2}, "rate=2 must be a number in [0, 1]"),
        ({"kind": "abort", "fraction": 0.5, "rate": 0.5}, "fraction and rate are the same field; give only fraction"),
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
        FaultSwitch.from_json(body)
    assert str(excinfo.value).startswith(message)


def test_rate_is_the_old_name_of_fraction() -> None:
    new = FaultSwitch.from_json({"kind": "abort", "fraction": 0.25, "paths": ["/v1/"]})
    old = FaultSwitch.from_json({"kind": "abort", "rate": 0.25, "paths": ["/v1/"]})
    assert new == old == FaultSwitch(kind="abort", fraction=0.25, paths=("/v1/",))
    assert old.as_dict() == {"kind": "abort", "fraction": 0.25, "status": 503, "delay_ms": 0.0, "paths": ["/v1/"]}
    assert FaultSwitch.from_json({"kind": "abort"}).fraction == 1.0


def test_a_fault_matches_its_path_prefixes_or_every_path() -> None:
    assert FaultSwitch(kind="abort").matches("/anything")
    scoped = FaultSwitch(kind="abort", paths=("/v1/", "/api/"))
    assert [scoped.matches(p) for p in ("/v1/x", "/api/", "/healthz")] == [True, True, False]


def test_setting_the_switch_resets_the_hit_count() -> None:
    switch = SwitchState()
    switch.set(FaultSwitch(kind="abort"))
    switch.injected = 7
    switch.set(None)
    assert switch.as_dict() == {"fault": None, "injected": 0}


def test_bad_fault_body_is_a_400_from_the_admin_server() -> None:
    async def scenario() -> None:
        async with serving_with_admin(demo_app()) as (_, admin), aiohttp.ClientSession() as http:
            status, body, served_by = await fetch_json(http, "PUT", f"{admin}/fault", json={"kind": "explode"})
            assert (status, body["status"], served_by) == (400, 400, REPLICA)
            async with http.put(f"{admin}/fault", data=b"not json") as response:
                assert response.status == 400

    asyncio.run(scenario())
