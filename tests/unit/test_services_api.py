"""The API role against fake model/integration servers and an in-memory store, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from services.app.api import API_KEY, FALLBACK_COMPLETION, create_api_app
from services.app.settings import ApiSettings, CommonSettings
from services.app.testing import FakeDependency, MemoryStore, serving, wait_until

REPLICA = "sd-test-api-1"
MODEL_OK = {"text": "echo: hi", "replica": "sd-test-model-1", "latency_ms": 1.0}


def settings(model_url: str, **overrides: Any) -> ApiSettings:
    """API settings for tests: a fake model, no integration, a dummy sentinel list."""
    values: dict[str, Any] = {
        "common": CommonSettings(role="api", replica=REPLICA),
        "model_url": model_url,
        "sentinels": (("127.0.0.1", 1),),
    }
    values.update(overrides)
    return ApiSettings(**values)


async def post_json(
    http: aiohttp.ClientSession, url: str, body: Any, *, timeout_s: float | None = 5.0
) -> tuple[int, Any, str | None]:
    """POST JSON; return (status, JSON body, X-Served-By)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with http.post(url, json=body, timeout=timeout) as response:
        return response.status, await response.json(), response.headers.get("X-Served-By")


async def get_json(
    http: aiohttp.ClientSession, url: str, *, timeout_s: float | None = 5.0
) -> tuple[int, Any, str | None]:
    """GET; return (status, JSON body, X-Served-By)."""
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
        return response.status, await response.json(), response.headers.get("X-Served-By")


def test_protected_complete_answers_from_the_model() -> None:
    async def scenario() -> None:
        model = FakeDependency(body=MODEL_OK)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                status, body, served_by = await post_json(http, f"{url}/v1/complete", {"prompt": "hi"})
        assert status == 200
        assert body == {
            "completion": "echo: hi",
            "model_replica": "sd-test-model-1",
            "fallback": False,
        }
        assert served_by == REPLICA
        assert json.loads(model.bodies[0]) == {"prompt": "hi"}

    asyncio.run(scenario())


def test_protected_complete_falls_back_within_the_budget_when_the_model_hangs() -> None:
    async def scenario() -> float:
        model = FakeDependency(delay_s=3.0, body=MODEL_OK)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, model_timeout_ms=300), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                started = time.perf_counter()
                status, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "hi"})
                elapsed = time.perf_counter() - started
        assert status == 200
        assert body == {"completion": FALLBACK_COMPLETION, "model_replica": None, "fallback": True}
        return elapsed

    elapsed = asyncio.run(scenario())
    assert elapsed < 0.3 + 0.2, f"fallback took {elapsed:.3f} s, budget 0.3 s"


def test_naive_complete_hangs_as_long_as_the_model() -> None:
    async def scenario() -> float:
        model = FakeDependency(delay_s=3.0, body=MODEL_OK)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, profile="naive", model_timeout_ms=300), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                started = time.perf_counter()
                with pytest.raises(asyncio.TimeoutError):
                    await post_json(http, f"{url}/v1/complete", {"prompt": "hi"}, timeout_s=1.0)
                return time.perf_counter() - started

    # The protected profile answers in ~0.3 s; naive is still waiting when the client gives up.
    assert asyncio.run(scenario()) >= 1.0


def test_naive_model_failure_is_a_502_error_body() -> None:
    async def scenario() -> None:
        model = FakeDependency(status=500)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, profile="naive"), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                status, body, served_by = await post_json(http, f"{url}/v1/complete", {"prompt": "hi"})
        assert status == 502
        assert body == {"error": "model call failed: http_500", "status": 502}
        assert served_by == REPLICA

    asyncio.run(scenario())


def test_naive_shared_pool_starves_sessions_while_completes_hang() -> None:
    async def scenario() -> None:
        model = FakeDependency(delay_s=3.0, body=MODEL_OK)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, profile="naive", naive_workers=4), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                hung = [
                    asyncio.create_task(post_json(http, f"{url}/v1/complete", {"prompt": "x"}, timeout_s=None))
                    for _ in range(4)
                ]
                await wait_until(lambda: model.in_flight == 4, timeout_s=2.0, what="4 model calls")
                with pytest.raises(asyncio.TimeoutError):
                    await get_json(http, f"{url}/v1/sessions/abc", timeout_s=0.5)
                # /healthz stays outside the pool: the process is alive, just starved.
                status, _, _ = await get_json(http, f"{url}/healthz", timeout_s=0.5)
                assert status == 200
                for task in hung:
                    task.cancel()
                await asyncio.gather(*hung, return_exceptions=True)

    asyncio.run(scenario())


def test_protected_sessions_are_not_starved_by_a_slow_model() -> None:
    async def scenario() -> None:
        model = FakeDependency(delay_s=3.0, body=MODEL_OK)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, model_timeout_ms=2000), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                slow = [asyncio.create_task(post_json(http, f"{url}/v1/complete", {"prompt": "x"})) for _ in range(8)]
                await wait_until(lambda: model.in_flight == 8, timeout_s=2.0, what="8 model calls")
                started = time.perf_counter()
                status, _, _ = await get_json(http, f"{url}/v1/sessions/abc", timeout_s=0.5)
                assert status == 404
                assert time.perf_counter() - started < 0.3
                for task in slow:
                    task.cancel()
                await asyncio.gather(*slow, return_exceptions=True)

    asyncio.run(scenario())


def test_breaker_opens_after_consecutive_failures_and_recovers() -> None:
    async def scenario() -> None:
        model = FakeDependency(status=500)
        async with serving(model.app()) as model_url:
            app = create_api_app(
                settings(model_url, breaker_failures=3, breaker_reset_s=0.3),
                store=MemoryStore(),
            )
            async with serving(app) as url, aiohttp.ClientSession() as http:
                for _ in range(6):
                    status, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
                    assert (status, body["fallback"]) == (200, True)
                assert model.hits == 3, "the open breaker must stop calls to the model"
                _, ready, _ = await get_json(http, f"{url}/readyz")
                assert ready["breakers"]["model"] == "opened"

                model.status, model.body = 200, MODEL_OK

                async def answered_by_model() -> bool:
                    _, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
                    return body["fallback"] is False

                await wait_until(answered_by_model, timeout_s=3.0, what="breaker to close")
                _, ready, _ = await get_json(http, f"{url}/readyz")
                assert ready["breakers"]["model"] == "closed"

    asyncio.run(scenario())


def test_bulkhead_rejects_to_the_fallback_when_full() -> None:
    async def scenario() -> None:
        model = FakeDependency(delay_s=1.0, body=MODEL_OK)
        async with serving(model.app()) as model_url:
            app = create_api_app(
                settings(model_url, bulkhead_model=2, bulkhead_wait_ms=20, model_timeout_ms=2000),
                store=MemoryStore(),
            )
            async with serving(app) as url, aiohttp.ClientSession() as http:
                busy = [asyncio.create_task(post_json(http, f"{url}/v1/complete", {"prompt": "x"})) for _ in range(2)]
                await wait_until(lambda: model.in_flight == 2, timeout_s=2.0, what="2 model calls")
                started = time.perf_counter()
                status, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
                assert (status, body["fallback"]) == (200, True)
                assert time.perf_counter() - started < 0.3
                assert model.hits == 2
                _, ready, _ = await get_json(http, f"{url}/readyz")
                assert ready["bulkheads"]["model"] == {"in_use": 2, "rejected": 1}
                results = await asyncio.gather(*busy)
                assert [r[1]["fallback"] for r in results] == [False, False]

    asyncio.run(scenario())


def test_retry_recovers_from_a_dropped_connection() -> None:
    async def scenario() -> None:
        model = FakeDependency(body=MODEL_OK, abort_next=1)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, retry_attempts=2), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                status, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
        assert (status, body["fallback"]) == (200, False)
        assert model.hits == 2

    asyncio.run(scenario())


def test_no_retry_on_http_errors() -> None:
    async def scenario() -> None:
        model = FakeDependency(status=503)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, retry_attempts=3), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                _, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
        assert body["fallback"] is True
        assert model.hits == 1

    asyncio.run(scenario())


def test_bad_complete_bodies_are_400() -> None:
    async def scenario() -> None:
        app = create_api_app(settings("http://127.0.0.1:1"), store=MemoryStore())
        async with serving(app) as url, aiohttp.ClientSession() as http:
            status, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": 3})
            assert (status, body["status"]) == (400, 400)
            async with http.post(f"{url}/v1/complete", data=b"{nope") as response:
                assert response.status == 400
                assert await response.json() == {"error": "body is not valid JSON", "status": 400}

    asyncio.run(scenario())


def test_sessions_round_trip_through_the_store() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        app = create_api_app(settings("http://127.0.0.1:1"), store=store)
        async with (
            serving(app) as url,
            aiohttp.ClientSession() as http,
            http.put(f"{url}/v1/sessions/s-1", json={"user": "ada", "n": 1}) as r,
        ):
            assert (r.status, await r.json()) == (200, {"id": "s-1", "stored": True})
            status, body, served_by = await get_json(http, f"{url}/v1/sessions/s-1")
            assert (status, body) == (200, {"id": "s-1", "data": {"user": "ada", "n": 1}})
            assert served_by == REPLICA
            status, body, _ = await get_json(http, f"{url}/v1/sessions/nobody")
            assert (status, body) == (404, {"error": "no such session", "status": 404})
            async with http.put(f"{url}/v1/sessions/s-2", json=[1, 2]) as r:
                assert r.status == 400
            async with http.get(f"{url}/v1/sessions/bad%20id") as r:
                assert r.status == 400
        assert json.loads(store.data["session:s-1"]) == {"user": "ada", "n": 1}

    asyncio.run(scenario())


def test_store_retry_recovers_from_one_connection_error() -> None:
    async def scenario() -> None:
        store = MemoryStore(fail_next=1)
        app = create_api_app(settings("http://127.0.0.1:1", retry_attempts=2), store=store)
        async with (
            serving(app) as url,
            aiohttp.ClientSession() as http,
            http.put(f"{url}/v1/sessions/s-1", json={"a": 1}) as r,
        ):
            assert r.status == 200
        assert store.calls == 2

    asyncio.run(scenario())


def test_store_down_or_slow_is_a_503_within_the_budget() -> None:
    async def scenario() -> None:
        store = MemoryStore(fail_always=True)
        app = create_api_app(settings("http://127.0.0.1:1", store_timeout_ms=200), store=store)
        async with serving(app) as url, aiohttp.ClientSession() as http:
            status, body, served_by = await get_json(http, f"{url}/v1/sessions/s-1")
            assert (status, body["status"], served_by) == (503, 503, REPLICA)
            assert body["error"].startswith("session store unavailable")
            store.fail_always, store.delay_s = False, 3.0
            started = time.perf_counter()
            status, body, _ = await get_json(http, f"{url}/v1/sessions/s-1")
            assert (status, body["error"]) == (503, "session store unavailable: timeout")
            assert time.perf_counter() - started < 0.2 + 0.15

    asyncio.run(scenario())


def test_protected_notification_never_delays_the_answer() -> None:
    async def scenario() -> None:
        model = FakeDependency(body=MODEL_OK)
        integration = FakeDependency(status=202, delay_s=0.5, body={"accepted": True})
        async with serving(model.app()) as model_url, serving(integration.app()) as hook_url:
            app = create_api_app(
                settings(model_url, integration_url=hook_url, integration_timeout_ms=1000),
                store=MemoryStore(),
            )
            async with serving(app) as url, aiohttp.ClientSession() as http:
                started = time.perf_counter()
                _, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
                assert body["fallback"] is False
                assert time.perf_counter() - started < 0.3
                await wait_until(lambda: integration.hits == 1, timeout_s=2.0, what="the hook")
                api = app[API_KEY]
                await wait_until(lambda: api.notifications_pending == 0, timeout_s=2.0, what="hook to finish")
                # A hanging integration costs the caller nothing either.
                integration.delay_s = 3.0
                started = time.perf_counter()
                _, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
                assert time.perf_counter() - started < 0.3
        assert json.loads(integration.bodies[0]) == {"event": "completion", "fallback": False}

    asyncio.run(scenario())


def test_naive_notification_is_inline_and_its_failure_fails_the_request() -> None:
    async def scenario() -> None:
        model = FakeDependency(body=MODEL_OK)
        integration = FakeDependency(status=202, delay_s=0.3, body={"accepted": True})
        async with serving(model.app()) as model_url, serving(integration.app()) as hook_url:
            app = create_api_app(
                settings(model_url, profile="naive", integration_url=hook_url),
                store=MemoryStore(),
            )
            async with serving(app) as url, aiohttp.ClientSession() as http:
                started = time.perf_counter()
                status, _, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
                assert status == 200
                assert time.perf_counter() - started >= 0.3
                assert integration.hits == 1
                integration.status, integration.delay_s = 500, 0.0
                status, body, _ = await post_json(http, f"{url}/v1/complete", {"prompt": "x"})
                assert (status, body["error"]) == (502, "integration call failed: http_500")

    asyncio.run(scenario())


def test_readyz_requires_model_and_store_and_only_degrades_on_integration() -> None:
    async def scenario() -> None:
        model = FakeDependency(body=MODEL_OK)
        store = MemoryStore()
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, integration_url="http://127.0.0.1:1"), store=store)
            async with serving(app) as url, aiohttp.ClientSession() as http:
                status, body, _ = await get_json(http, f"{url}/readyz")
                assert status == 200
                assert body["status"] == "ready"
                assert body["degraded"] == ["integration"]
                assert set(body["checks"]) == {"model", "store", "integration"}
                assert body["checks"]["model"]["ok"] is True
                assert body["checks"]["integration"]["error"]
                assert isinstance(body["checks"]["store"]["latency_ms"], float)

                store.fail_always = True
                status, body, _ = await get_json(http, f"{url}/readyz")
                assert (status, body["status"]) == (503, "not_ready")
                assert body["checks"]["store"]["ok"] is False

    asyncio.run(scenario())


def test_naive_readyz_does_not_hang_on_a_hanging_model() -> None:
    async def scenario() -> None:
        model = FakeDependency(health_delay_s=3.0)
        async with serving(model.app()) as model_url:
            app = create_api_app(settings(model_url, profile="naive", ready_timeout_ms=300), store=MemoryStore())
            async with serving(app) as url, aiohttp.ClientSession() as http:
                started = time.perf_counter()
                status, body, _ = await get_json(http, f"{url}/readyz", timeout_s=2.0)
                assert time.perf_counter() - started < 0.6
        assert status == 503
        assert body["checks"]["model"] == {
            "ok": False,
            "latency_ms": body["checks"]["model"]["latency_ms"],
            "error": "timed out after 300 ms",
        }

    asyncio.run(scenario())
