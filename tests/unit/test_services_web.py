"""The web role against a fake API over real HTTP: ok, fallback, degraded and naive error pages."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from services.app.settings import CommonSettings, WebSettings
from services.app.testing import FakeDependency, serving
from services.app.web import create_web_app

REPLICA = "sd-test-web-1"
API_ANSWER = {"completion": "echo: hi", "model_replica": "sd-test-model-2", "fallback": False}


def settings(api_url: str, **overrides: Any) -> WebSettings:
    """Web settings for tests."""
    values: dict[str, Any] = {
        "common": CommonSettings(role="web", replica=REPLICA),
        "api_url": api_url,
        "api_timeout_ms": 300.0,
    }
    values.update(overrides)
    return WebSettings(**values)


async def get_page(url: str, *, timeout_s: float = 5.0) -> tuple[int, str, dict[str, str]]:
    """GET a page; return (status, HTML, headers)."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http,
        http.get(url) as response,
    ):
        return response.status, await response.text(), dict(response.headers)


def test_home_shows_the_answer_when_the_api_is_healthy() -> None:
    async def scenario() -> tuple[int, str, dict[str, str]]:
        api = FakeDependency(body=API_ANSWER)
        async with serving(api.app()) as api_url, serving(create_web_app(settings(api_url))) as url:
            return await get_page(f"{url}/")

    status, html, headers = asyncio.run(scenario())
    assert status == 200
    assert headers["X-Api-State"] == "ok"
    assert headers["X-Served-By"] == REPLICA
    assert 'data-api-state="ok"' in html
    assert "echo: hi" in html
    assert "sd-test-model-2" in html
    assert "Degraded" not in html


def test_home_says_fallback_when_the_api_answers_from_its_cache() -> None:
    async def scenario() -> tuple[int, str, dict[str, str]]:
        api = FakeDependency(body={"completion": "cached", "model_replica": None, "fallback": True})
        async with serving(api.app()) as api_url, serving(create_web_app(settings(api_url))) as url:
            return await get_page(f"{url}/")

    status, html, headers = asyncio.run(scenario())
    assert (status, headers["X-Api-State"]) == (200, "fallback")
    assert 'data-api-state="fallback"' in html
    assert "cached answer" in html


def test_home_shows_a_degraded_banner_when_the_api_is_down() -> None:
    async def scenario() -> tuple[int, str, dict[str, str]]:
        app = create_web_app(settings("http://127.0.0.1:1"))
        async with serving(app) as url:
            return await get_page(f"{url}/")

    status, html, headers = asyncio.run(scenario())
    assert (status, headers["X-Api-State"]) == (200, "degraded")
    assert 'data-api-state="degraded"' in html
    assert 'class="banner degraded"' in html


def test_home_degrades_within_the_api_timeout_when_the_api_hangs() -> None:
    async def scenario() -> tuple[int, str, dict[str, str], float]:
        api = FakeDependency(body=API_ANSWER, delay_s=3.0)
        async with serving(api.app()) as api_url, serving(create_web_app(settings(api_url))) as url:
            started = time.perf_counter()
            status, html, headers = await get_page(f"{url}/")
            return status, html, headers, time.perf_counter() - started

    status, html, headers, elapsed = asyncio.run(scenario())
    assert (status, headers["X-Api-State"]) == (200, "degraded")
    assert "timed out" in html
    assert elapsed < 0.3 + 0.2


def test_naive_home_is_a_502_error_page_when_the_api_fails() -> None:
    async def scenario() -> tuple[int, str, dict[str, str]]:
        api = FakeDependency(status=503, body={"error": "x", "status": 503})
        async with (
            serving(api.app()) as api_url,
            serving(create_web_app(settings(api_url, profile="naive"))) as url,
        ):
            return await get_page(f"{url}/")

    status, html, headers = asyncio.run(scenario())
    assert (status, headers["X-Api-State"]) == (502, "error")
    assert "The API failed: HTTP 503" in html
    assert headers["X-Served-By"] == REPLICA


def test_session_page_shows_data_escaped_and_missing_sessions_plainly() -> None:
    async def scenario() -> list[tuple[int, str, dict[str, str]]]:
        api = FakeDependency(body={"id": "s-1", "data": {"note": "<script>alert(1)</script>"}})
        pages = []
        async with serving(api.app()) as api_url, serving(create_web_app(settings(api_url))) as url:
            pages.append(await get_page(f"{url}/sessions/s-1"))
            api.status, api.body = 404, {"error": "no such session", "status": 404}
            pages.append(await get_page(f"{url}/sessions/ghost"))
        return pages

    (status, html, headers), (missing_status, missing_html, missing_headers) = asyncio.run(scenario())
    assert (status, headers["X-Api-State"]) == (200, "ok")
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    assert (missing_status, missing_headers["X-Api-State"]) == (200, "ok")
    assert "No such session" in missing_html


def test_session_page_degrades_when_the_api_fails() -> None:
    async def scenario() -> tuple[int, str, dict[str, str]]:
        api = FakeDependency(status=500, body={"error": "internal error", "status": 500})
        async with serving(api.app()) as api_url, serving(create_web_app(settings(api_url))) as url:
            return await get_page(f"{url}/sessions/s-1")

    status, html, headers = asyncio.run(scenario())
    assert (status, headers["X-Api-State"]) == (200, "degraded")
    assert "unavailable right now" in html


def test_unknown_web_route_is_the_json_404() -> None:
    async def scenario() -> tuple[int, str, dict[str, str]]:
        async with serving(create_web_app(settings("http://127.0.0.1:1"))) as url:
            return await get_page(f"{url}/nope")

    status, body, headers = asyncio.run(scenario())
    assert (status, body) == (404, '{"error": "not found", "status": 404}')
    assert headers["X-Served-By"] == REPLICA


def test_web_stays_ready_when_the_api_is_down() -> None:
    async def scenario() -> tuple[int, str, dict[str, str]]:
        async with serving(create_web_app(settings("http://127.0.0.1:1"))) as url:
            return await get_page(f"{url}/readyz")

    status, body, _ = asyncio.run(scenario())
    assert status == 200
    assert '"degraded": ["api"]' in body
