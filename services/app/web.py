"""The web tier: server-rendered pages that call the API through an internal load balancer.

* ``GET /``: asks the API (``POST /v1/complete``) a fixed prompt and shows the answer.
* ``GET /sessions/{id}``: shows a session (``GET /v1/sessions/{id}``); an API 404 is a normal
  "no such session" page.

Every page says how the API call went, in the ``X-Api-State`` header and the HTML marker
``data-api-state``: ``ok``, ``fallback`` (the API answered with its cached fallback) or
``degraded`` (protected profile: the API failed or timed out, the page still renders, 200).
In the ``naive`` profile the API call has no timeout and a failure is a 502 error page
(state ``error``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from aiohttp import web

from services.app.http_conventions import render_html
from services.app.readiness import Readiness, ReadinessCheck
from services.app.server import create_app, load_settings, run
from services.app.settings import WebSettings

log = logging.getLogger(__name__)

ApiState = Literal["ok", "fallback", "degraded", "error"]

HOME_PROMPT = "What should I check first when the pager goes off?"
API_STATE_HEADER = "X-Api-State"
KEEPALIVE_S = 4.0


class ApiFailure(Exception):
    """The API call failed: transport error, timeout, bad status or bad body."""


@dataclass(frozen=True)
class ApiReply:
    """A usable answer from the API."""

    status: int
    body: Any
    replica: str | None


class ApiClient:
    """The web tier's one HTTP session to the API, with the profile's timeout."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session."""
        total_s = self.settings.api_timeout_ms / 1000.0 if self.settings.protected else None
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=total_s),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
        )

    async def stop(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()

    async def call(
        self, method: str, path: str, *, body: Any = None, ok_statuses: tuple[int, ...] = (200,)
    ) -> ApiReply:
        """Call the API; raise :class:`ApiFailure` unless the status is in ``ok_statuses``."""
        if self._http is None:
            raise RuntimeError("ApiClient.start() has not run")
        url = f"{self.settings.api_url}{path}"
        try:
            async with self._http.request(method, url, json=body) as response:
                if response.status not in ok_statuses:
                    raise ApiFailure(f"HTTP {response.status}")
                payload = await response.json(content_type=None)
                replica = response.headers.get("X-Served-By")
                return ApiReply(status=response.status, body=payload, replica=replica)
        except TimeoutError:
            raise ApiFailure("timed out") from None
        except aiohttp.ClientError as exc:
            raise ApiFailure(type(exc).__name__) from exc
        except ValueError:
            raise ApiFailure("answer was not JSON") from None

    async def check(self) -> None:
        """Raise unless the API's ``/healthz`` answers 2xx."""
        await self.call("GET", "/healthz")


CLIENT_KEY = web.AppKey("api_client", ApiClient)
SETTINGS_KEY = web.AppKey("web_settings", WebSettings)


def _page(request: web.Request, template: str, state: ApiState, context: dict[str, Any]) -> web.Response:
    return render_html(request, template, {"api_state": state, **context}, headers={API_STATE_HEADER: state})


def _failure_page(request: web.Request, failure: ApiFailure) -> web.Response:
    log.info("API call failed: %s", failure)
    return render_html(
        request,
        "error.html.j2",
        {"api_state": "error", "status": 502, "message": f"The API failed: {failure}"},
        status=502,
        headers={API_STATE_HEADER: "error"},
    )


async def home(request: web.Request) -> web.Response:
    """``GET /``: the assistant page."""
    client = request.app[CLIENT_KEY]
    context: dict[str, Any] = {
        "prompt": HOME_PROMPT,
        "completion": None,
        "model_replica": None,
        "api_replica": None,
        "api_error": None,
    }
    try:
        reply = await client.call("POST", "/v1/complete", body={"prompt": HOME_PROMPT})
        if not isinstance(reply.body, dict) or not isinstance(reply.body.get("completion"), str):
            raise ApiFailure("answer had no completion")
    except ApiFailure as failure:
        if not request.app[SETTINGS_KEY].protected:
            return _failure_page(request, failure)
        return _page(request, "home.html.j2", "degraded", {**context, "api_error": str(failure)})
    state: ApiState = "fallback" if reply.body.get("fallback") else "ok"
    context.update(
        completion=reply.body["completion"],
        model_replica=reply.body.get("model_replica"),
        api_replica=reply.replica,
    )
    return _page(request, "home.html.j2", state, context)


async def session(request: web.Request) -> web.Response:
    """``GET /sessions/{id}``: one session's page."""
    session_id = request.match_info["id"]
    client = request.app[CLIENT_KEY]
    context: dict[str, Any] = {
        "session_id": session_id,
        "found": False,
        "data_json": None,
        "api_replica": None,
        "api_error": None,
    }
    path = f"/v1/sessions/{quote(session_id, safe='')}"
    try:
        reply = await client.call("GET", path, ok_statuses=(200, 404))
    except ApiFailure as failure:
        if not request.app[SETTINGS_KEY].protected:
            return _failure_page(request, failure)
        return _page(request, "session.html.j2", "degraded", {**context, "api_error": str(failure)})
    context["api_replica"] = reply.replica
    if reply.status == 200 and isinstance(reply.body, dict):
        context.update(found=True, data_json=json.dumps(reply.body.get("data"), indent=2))
    return _page(request, "session.html.j2", "ok", context)


def create_web_app(settings: WebSettings) -> web.Application:
    """Build the web app."""
    client = ApiClient(settings)
    readiness = Readiness(
        # The API being down degrades pages but must not take the web tier out of its LB.
        checks=[ReadinessCheck("api", client.check, required=False)],
        timeout_ms=min(settings.api_timeout_ms, 1000.0),
    )
    app = create_app(settings.common, readiness=readiness)
    app[CLIENT_KEY] = client
    app[SETTINGS_KEY] = settings

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await client.start()
        yield
        await client.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/", home)
    app.router.add_get("/sessions/{id}", session)
    return app


def main() -> None:
    """Run the web role until SIGTERM."""
    run(create_web_app(load_settings(WebSettings.from_env)))


if __name__ == "__main__":
    main()
