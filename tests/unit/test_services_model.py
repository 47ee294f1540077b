"""The model and integration roles over real HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from services.app.integration import create_integration_app
from services.app.model import create_model_app, simulated_latency_ms
from services.app.settings import CommonSettings, IntegrationSettings, ModelSettings
from services.app.testing import serving


def model_settings(latency_ms: float, jitter_ms: float) -> ModelSettings:
    """Model settings for tests."""
    return ModelSettings(
        common=CommonSettings(role="model", replica="sd-test-model-1"),
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
    )


def test_model_echoes_after_the_configured_latency() -> None:
    async def scenario() -> tuple[int, Any, str | None, float]:
        async with (
            serving(create_model_app(model_settings(200, 0))) as url,
            aiohttp.ClientSession() as http,
        ):
            started = time.perf_counter()
            async with http.post(f"{url}/v1/infer", json={"prompt": "x" * 300}) as response:
                body = await response.json()
                elapsed = time.perf_counter() - started
                return response.status, body, response.headers.get("X-Served-By"), elapsed

    status, body, served_by, elapsed = asyncio.run(scenario())
    assert status == 200
    assert body["text"] == "echo: " + "x" * 200
    assert body["replica"] == served_by == "sd-test-model-1"
    assert 200 <= body["latency_ms"] < 400
    assert elapsed >= 0.2


def test_model_latency_is_never_negative() -> None:
    settings = model_settings(latency_ms=5, jitter_ms=50)
    draws = [simulated_latency_ms(settings) for _ in range(500)]
    assert min(draws) >= 0.0
    assert max(draws) <= 55.0


def test_model_rejects_a_body_without_a_prompt() -> None:
    async def scenario() -> tuple[int, Any]:
        async with (
            serving(create_model_app(model_settings(0, 0))) as url,
            aiohttp.ClientSession() as http,
            http.post(f"{url}/v1/infer", json={"text": "x"}) as response,
        ):
            return response.status, await response.json()

    assert asyncio.run(scenario()) == (
        400,
        {"error": "body must be a JSON object with a string 'prompt'", "status": 400},
    )


def test_integration_accepts_and_counts_hooks() -> None:
    async def scenario() -> None:
        settings = IntegrationSettings(common=CommonSettings(role="integration", replica="i-1"))
        async with (
            serving(create_integration_app(settings)) as url,
            aiohttp.ClientSession() as http,
        ):
            for _ in range(3):
                async with http.post(f"{url}/hook", json={"event": "x"}) as response:
                    assert response.status == 202
                    assert await response.json() == {"accepted": True}
            async with http.get(f"{url}/received") as response:
                assert await response.json() == {"count": 3}
                assert response.headers["X-Served-By"] == "i-1"

    asyncio.run(scenario())
