"""The JSON API: completions through the model tier, sessions in Redis, webhook notifications.

Two resilience profiles (``SD_PROFILE``):

* ``protected``: each dependency behind a :class:`~services.app.resilience.Guard` (bulkhead,
  retries within a time budget that bounds the whole call, circuit breaker); a model failure
  becomes a cached fallback answer; a store failure a 503; integration notifications are
  fire-and-forget.
* ``naive``: no timeouts, no retries, no breaker, no fallback; notifications are awaited inline;
  and every request except ``/healthz`` runs in one small shared worker pool
  (``SD_NAIVE_WORKERS``), so a slow model starves session requests too.

Routes: ``POST /v1/complete``, ``PUT|GET /v1/sessions/{id}``, plus the common ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.app.http_conventions import RequestError, error_response, json_body
from services.app.readiness import Readiness, ReadinessCheck
from services.app.resilience import (
    Bulkhead,
    DependencyError,
    Guard,
    Policy,
    breaker_factory,
)
from services.app.server import create_app, load_settings, run
from services.app.settings import ApiSettings
from services.app.store import RedisSentinelStore, SessionStore, is_transient_store_error

log = logging.getLogger(__name__)

FALLBACK_COMPLETION = "The model is busy; here is a cached answer."
SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Below typical LB idle timeouts, so a pooled connection is not reused just as the LB drops it.
KEEPALIVE_S = 4.0


@dataclass(frozen=True)
class Completion:
    """The answer of ``POST /v1/complete``."""

    completion: str
    model_replica: str | None
    fallback: bool


FALLBACK = Completion(completion=FALLBACK_COMPLETION, model_replica=None, fallback=True)


class StoreUnavailable(Exception):
    """The session store could not serve a request."""


def is_transient_http_error(exc: BaseException) -> bool:
    """True for HTTP errors worth another attempt: connection problems and timeouts."""
    return isinstance(exc, aiohttp.ClientConnectionError | TimeoutError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DependencyError):
        return exc.reason
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


class Api:
    """The API's dependencies and operations; handlers only parse, call and serialise."""

    def __init__(self, settings: ApiSettings, store: SessionStore | None = None) -> None:
        self.settings = settings
        self._store = store
        self._owns_store = store is None
        self._model_http: aiohttp.ClientSession | None = None
        self._integration_http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.notifications_dropped = 0
        if settings.protected:
            breakers = breaker_factory(settings.breaker_failures, settings.breaker_reset_s)
            self.model = Guard(
                "model",
                Policy(budget_ms=settings.model_timeout_ms, attempts=settings.retry_attempts),
                retryable=is_transient_http_error,
                bulkhead=Bulkhead("model", settings.bulkhead_model, settings.bulkhead_wait_ms),
                breakers=breakers,
            )
            self.store_guard = Guard(
                "store",
                Policy(budget_ms=settings.store_timeout_ms, attempts=settings.retry_attempts),
                retryable=is_transient_store_error,
                bulkhead=Bulkhead("store", settings.bulkhead_store, settings.bulkhead_wait_ms),
            )
            # A webhook POST is not idempotent: one attempt, but bounded and behind a breaker.
            self.integration = Guard(
                "integration",
                Policy(budget_ms=settings.integration_timeout_ms, attempts=1),
                retryable=lambda exc: False,
                breakers=breakers,
            )
        else:
            self.model = Guard.unguarded("model")
            self.store_guard = Guard.unguarded("store")
            self.integration = Guard.unguarded("integration")

    # -- lifecycle ---------------------------------------------------------------------------

    def _client(self, budget_ms: float, attempts: int) -> aiohttp.ClientSession:
        if self.settings.protected:
            # The Guard bounds the whole call; a connect that hangs is cut short enough to leave
            # room for another attempt.
            budget_s = budget_ms / 1000.0
            timeout = aiohttp.ClientTimeout(total=budget_s, sock_connect=budget_s / attempts)
        else:
            timeout = aiohttp.ClientTimeout(total=None)  # aiohttp's default would be 5 minutes
        connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S)
        return aiohttp.ClientSession(timeout=timeout, connector=connector)

    async def start(self) -> None:
        """Open one HTTP session per dependency and the store."""
        settings = self.settings
        self._model_http = self._client(settings.model_timeout_ms, settings.retry_attempts)
        self._integration_http = self._client(settings.integration_timeout_ms, 1)
        if self._store is None:
            store = RedisSentinelStore(self.settings)
            await store.start()
            self._store = store

    async def stop(self) -> None:
        """Cancel pending notifications and close every connection."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in (self._model_http, self._integration_http):
            if session is not None:
                await session.close()
        if self._store is not None and self._owns_store:
            await self._store.close()

    @property
    def store(self) -> SessionStore:
        """The session store (available after :meth:`start`)."""
        if self._store is None:
            raise RuntimeError("Api.start() has not run")
        return self._store

    @property
    def model_http(self) -> aiohttp.ClientSession:
        """The HTTP session to the model tier (available after :meth:`start`)."""
        if self._model_http is None:
            raise RuntimeError("Api.start() has not run")
        return self._model_http

    @property
    def integration_http(self) -> aiohttp.ClientSession:
        """The HTTP session to the integration (available after :meth:`start`)."""
        if self._integration_http is None:
            raise RuntimeError("Api.start() has not run")
        return self._integration_http

    # -- completions -------------------------------------------------------------------------

    async def _infer(self, prompt: str) -> Completion:
        url = f"{self.settings.model_url}/v1/infer"
        async with self.model_http.post(url, json={"prompt": prompt}) as response:
            if response.status != 200:
                raise DependencyError("model", f"http_{response.status}")
            try:
                body = await response.json(content_type=None)
            except ValueError:
                raise DependencyError("model", "bad_response", "not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise DependencyError("model", "bad_response", "no 'text'")
        replica = body.get("replica")
        return Completion(
            completion=body["text"],
            model_replica=replica if isinstance(replica, str) else None,
            fallback=False,
        )

    async def complete(self, prompt: str) -> Completion:
        """Answer a prompt through the model (protected: fallback on any failure)."""
        try:
            result = await self.model.call(lambda: self._infer(prompt))
        except Exception as exc:
            if not self.settings.protected:
                raise DependencyError("model", _describe(exc), str(exc)) from exc
            log.info("model call failed (%s); answering with the fallback", _describe(exc))
            result = FALLBACK
        await self._notify({"event": "completion", "fallback": result.fallback})
        return result

    # -- notifications -----------------------------------------------------------------------

    async def _post_hook(self, event: dict[str, Any]) -> None:
        url = f"{self.settings.integration_url}/hook"
        async with self.integration_http.post(url, json=event) as response:
            await response.read()
            if response.status >= 400:
                raise DependencyError("integration", f"http_{response.status}")

    async def _notify(self, event: dict[str, Any]) -> None:
        if not self.settings.integration_url:
            return
        if not self.settings.protected:
            try:
                await self.integration.call(lambda: self._post_hook(event))
            except Exception as exc:
                raise DependencyError("integration", _describe(exc), str(exc)) from exc
            return
        if len(self._tasks) >= self.settings.bulkhead_integration:
            self.notifications_dropped += 1
            return
        self._spawn(self._notify_in_background(event))

    async def _notify_in_background(self, event: dict[str, Any]) -> None:
        try:
            await self.integration.call(lambda: self._post_hook(event))
        except Exception as exc:
            log.info("notification dropped: %s", _describe(exc))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def notifications_pending(self) -> int:
        """Background notifications still in flight."""
        return len(self._tasks)

    # -- sessions ----------------------------------------------------------------------------

    async def _store_call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await self.store_guard.call(fn)
        except Exception as exc:
            log.info("session store call failed: %s", _describe(exc))
            raise StoreUnavailable(_describe(exc)) from exc

    async def put_session(self, session_id: str, data: dict[str, Any]) -> None:
        """Store a session as JSON under ``session:<id>``."""
        value = json.dumps(data, separators=(",", ":"))
        await self._store_call(lambda: self.store.set(f"session:{session_id}", value))

    async def get_session(self, session_id: str) -> Any | None:
        """Return a stored session, or None when there is none."""
        raw = await self._store_call(lambda: self.store.get(f"session:{session_id}"))
        return None if raw is None else json.loads(raw)

    # -- readiness ---------------------------------------------------------------------------

    async def check_model(self) -> None:
        """Raise unless the model tier's ``/healthz`` answers 2xx."""
        async with self.model_http.get(f"{self.settings.model_url}/healthz") as response:
            await response.read()
            response.raise_for_status()

    async def check_store(self) -> None:
        """Raise unless the store answers PING."""
        await self.store.ping()

    async def check_integration(self) -> None:
        """Raise unless the integration's ``/healthz`` answers 2xx."""
        url = f"{self.settings.integration_url}/healthz"
        async with self.integration_http.get(url) as response:
            await response.read()
            response.raise_for_status()

    async def resilience_state(self) -> dict[str, Any]:
        """Breaker and bulkhead state, shown in ``/readyz`` for drills."""
        guards = (self.model, self.store_guard, self.integration)
        return {
            "profile": self.settings.profile,
            "breakers": {g.name: await g.breaker_state() for g in guards if g.breakers},
            "bulkheads": {
                g.bulkhead.name: {"in_use": g.bulkhead.in_use, "rejected": g.bulkhead.rejected}
                for g in guards
                if g.bulkhead is not None
            },
            "notifications_pending": self.notifications_pending,
            "notifications_dropped": self.notifications_dropped,
        }


API_KEY = web.AppKey("api", Api)


# -- handlers ----------------------------------------------------------------------------------


def _session_id(request: web.Request) -> str:
    session_id = request.match_info["id"]
    if not SESSION_ID.fullmatch(session_id):
        raise RequestError(400, "session id must match [A-Za-z0-9._:-]{1,128}")
    return session_id


async def complete(request: web.Request) -> web.Response:
    """``POST /v1/complete``: answer a prompt."""
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
        raise RequestError(400, "body must be a JSON object with a string 'prompt'")
    try:
        result = await request.app[API_KEY].complete(body["prompt"])
    except DependencyError as exc:
        return error_response(502, f"{exc.dependency} call failed: {exc.reason}")
    return web.json_response(asdict(result))


async def put_session(request: web.Request) -> web.Response:
    """``PUT /v1/sessions/{id}``: store a session object."""
    session_id = _session_id(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise RequestError(400, "session body must be a JSON object")
    try:
        await request.app[API_KEY].put_session(session_id, body)
    except StoreUnavailable as exc:
        return error_response(503, f"session store unavailable: {exc}")
    return web.json_response({"id": session_id, "stored": True})


async def get_session(request: web.Request) -> web.Response:
    """``GET /v1/sessions/{id}``: read a session object."""
    session_id = _session_id(request)
    try:
        data = await request.app[API_KEY].get_session(session_id)
    except StoreUnavailable as exc:
        return error_response(503, f"session store unavailable: {exc}")
    if data is None:
        return error_response(404, "no such session")
    return web.json_response({"id": session_id, "data": data})


def naive_worker_pool(workers: int) -> Middleware:
    """One shared semaphore around every request except ``/healthz``: the naive worker pool."""
    pool = asyncio.Semaphore(workers)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        async with pool:
            return await handler(request)

    return middleware


def create_api_app(settings: ApiSettings, *, store: SessionStore | None = None) -> web.Application:
    """Build the API app; ``store`` replaces the Redis store (tests inject a stub)."""
    api = Api(settings, store)
    checks = [
        ReadinessCheck("model", api.check_model),
        ReadinessCheck("store", api.check_store),
    ]
    if settings.integration_url:
        checks.append(ReadinessCheck("integration", api.check_integration, required=False))
    readiness = Readiness(checks=checks, timeout_ms=settings.ready_timeout_ms, extra=api.resilience_state)
    middlewares = [] if settings.protected else [naive_worker_pool(settings.naive_workers)]
    app = create_app(settings.common, readiness=readiness, middlewares=middlewares)
    app[API_KEY] = api

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await api.start()
        yield
        await api.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/v1/complete", complete)
    app.router.add_put("/v1/sessions/{id}", put_session)
    app.router.add_get("/v1/sessions/{id}", get_session)
    return app


def main() -> None:
    """Run the API role until SIGTERM."""
    run(create_api_app(load_settings(ApiSettings.from_env)))


if __name__ == "__main__":
    main()
