"""The HTTP conventions every service follows: one error body shape, JSON bodies, RequestError."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from services.app.http_conventions import RequestError, error_middleware, error_response, json_body
from services.app.testing import DEMO_SETTINGS, demo_app, fetch_json, serving

REPLICA = DEMO_SETTINGS.replica


def test_error_response_is_the_one_body_shape() -> None:
    response = error_response(418, "short and stout", headers={"Allow": "GET"})
    assert (response.status, response.text, response.headers["Allow"]) == (
        418,
        '{"error": "short and stout", "status": 418}',
        "GET",
    )


def test_errors_have_one_shape_and_name_the_replica() -> None:
    async def scenario() -> None:
        async with serving(demo_app()) as url, aiohttp.ClientSession() as http:
            assert await fetch_json(http, "GET", f"{url}/no/such/route") == (
                404,
                {"error": "not found", "status": 404},
                REPLICA,
            )
            assert await fetch_json(http, "GET", f"{url}/v1/boom") == (
                500,
                {"error": "internal error", "status": 500},
                REPLICA,
            )
            status, body, served_by = await fetch_json(http, "POST", f"{url}/v1/hello")
            assert (status, body["status"], served_by) == (405, 405, REPLICA)

    asyncio.run(scenario())


def test_request_error_and_bad_json_become_error_bodies() -> None:
    async def echo(request: web.Request) -> web.Response:
        body = await json_body(request)
        if body == "refuse":
            raise RequestError(422, "refused on purpose")
        return web.json_response({"echo": body})

    async def scenario() -> None:
        app = web.Application(middlewares=[error_middleware])
        app.router.add_post("/echo", echo)
        async with serving(app) as url, aiohttp.ClientSession() as http:
            assert (await fetch_json(http, "POST", f"{url}/echo", json=[1]))[:2] == (200, {"echo": [1]})
            assert (await fetch_json(http, "POST", f"{url}/echo", json="refuse"))[:2] == (
                422,
                {"error": "refused on purpose", "status": 422},
            )
            async with http.post(f"{url}/echo", data=b"not json") as response:
                assert (response.status, await response.json()) == (
                    400,
                    {"error": "body is not valid JSON", "status": 400},
                )
            async with http.get(f"{url}/echo") as response:
                assert (response.status, response.headers["Allow"]) == (405, "POST")

    asyncio.run(scenario())
