"""The model tier: simulated inference with configurable latency and jitter.

``POST /v1/infer`` with ``{"prompt": str}`` sleeps ``SD_LATENCY_MS`` +/- uniform ``SD_JITTER_MS``
(never negative), then answers
``{"text": "echo: <prompt[:200]>", "replica": SD_REPLICA, "latency_ms": float}``.
"""

from __future__ import annotations

import asyncio
import random
import time

from aiohttp import web

from services.app.http_conventions import RequestError, json_body
from services.app.server import create_app, load_settings, run
from services.app.settings import ModelSettings

SETTINGS_KEY = web.AppKey("model_settings", ModelSettings)

PROMPT_ECHO_CHARS = 200


def simulated_latency_ms(settings: ModelSettings) -> float:
    """Draw one latency: the base plus uniform jitter, clamped at zero."""
    jitter = random.uniform(-settings.jitter_ms, settings.jitter_ms)
    return max(0.0, settings.latency_ms + jitter)


async def infer(request: web.Request) -> web.Response:
    """Sleep for the simulated latency, then echo the prompt."""
    started = time.perf_counter()
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
        raise RequestError(400, "body must be a JSON object with a string 'prompt'")
    settings = request.app[SETTINGS_KEY]
    await asyncio.sleep(simulated_latency_ms(settings) / 1000.0)
    return web.json_response(
        {
            "text": f"echo: {body['prompt'][:PROMPT_ECHO_CHARS]}",
            "replica": settings.common.replica,
            "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
        }
    )


def create_model_app(settings: ModelSettings) -> web.Application:
    """Build the model app."""
    app = create_app(settings.common)
    app[SETTINGS_KEY] = settings
    app.router.add_post("/v1/infer", infer)
    return app


def main() -> None:
    """Run the model role until SIGTERM."""
    run(create_model_app(load_settings(ModelSettings.from_env)))


if __name__ == "__main__":
    main()
