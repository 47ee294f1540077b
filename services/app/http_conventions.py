"""How every handler speaks HTTP: the one error body, JSON request bodies, HTML pages, the settings key.

* one error body shape, ``{"error": ..., "status": ...}``, built by :func:`error_response` and
  answered by :func:`error_middleware` for a :class:`RequestError`, an HTTP exception (unknown
  route, wrong method) or an unhandled error;
* :func:`json_body` parses a request body or refuses it with a 400;
* :func:`render_html` renders an autoescaped template with the replica and zone filled in;
* :data:`COMMON_KEY` is where every app keeps its role's :class:`CommonSettings`.

The module is the base of the services' layers: the fault switch, readiness and the server build
on it, and it imports none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from services.app.settings import CommonSettings

log = logging.getLogger(__name__)

COMMON_KEY = web.AppKey("common", CommonSettings)


def error_response(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    """Build the one error body shape, ``{"error": message, "status": status}``."""
    return web.json_response({"error": message, "status": status}, status=status, headers=headers)


class RequestError(Exception):
    """A request the service refuses; the error middleware answers ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def json_body(request: web.Request) -> object:
    """Parse the request body as JSON or raise a 400 :class:`RequestError`."""
    try:
        return await request.json()
    except ValueError:
        raise RequestError(400, "body is not valid JSON") from None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn HTTP exceptions and unhandled errors into the one JSON error body."""
    try:
        return await handler(request)
    except RequestError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "not found" if exc.status == 404 else exc.reason.lower()
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, message, headers=headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error")


TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Render a template (autoescaped) with the replica and zone added to ``context``."""
    common = request.app[COMMON_KEY]
    text = TEMPLATES.get_template(template).render({"replica": common.replica, "zone": common.zone, **context})
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)
