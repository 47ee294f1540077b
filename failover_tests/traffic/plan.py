"""Where and how a probe sends: loopback-only endpoints, and each `PathSpec` compiled into a `Plan`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from yarl import URL

from failover_tests.traffic.paths import PathSpec
from infra.errors import ScenarioError

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


def check_endpoint(endpoint: str) -> str:
    """Return the endpoint without a trailing slash, or refuse anything but a loopback port."""
    hint = "use http://127.0.0.1:<port> or http://localhost:<port>, a port the stack publishes"
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as exc:
        raise ScenarioError(f"endpoint {endpoint!r} is not a valid URL: {exc}; {hint}") from exc
    if (
        parts.scheme != "http"
        or parts.hostname not in _LOOPBACK_HOSTS
        or port is None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ScenarioError(f"endpoint {endpoint!r} refused: traffic may only go to loopback ports; {hint}")
    return f"http://{parts.hostname}:{port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A PathSpec compiled for the hot loop: static URLs and body bytes precomputed."""

    spec: PathSpec
    templated: bool
    static_urls: tuple[URL, ...]
    static_body: bytes | None
    headers: Mapping[str, str]

    def url(self, endpoint_index: int, endpoint: str, seq: int) -> URL:
        """The URL of request `seq` on one endpoint."""
        if self.templated:
            return URL(endpoint + self.spec.url_path(seq))
        return self.static_urls[endpoint_index]

    def body(self, seq: int) -> bytes | None:
        """The encoded body of request `seq`."""
        if not callable(self.spec.body):
            return self.static_body
        value = self.spec.body(seq)
        return None if value is None else json.dumps(value).encode()


def compile_plan(spec: PathSpec, endpoints: Sequence[str]) -> Plan:
    """Precompute what does not change between requests of a path."""
    templated = "{n}" in spec.path
    static_urls = () if templated else tuple(URL(e + spec.path) for e in endpoints)
    static_body = None
    if not callable(spec.body) and spec.body is not None:
        static_body = json.dumps(spec.body).encode()
    has_body = callable(spec.body) or spec.body is not None
    headers = {"Content-Type": "application/json"} if has_body else {}
    return Plan(
        spec=spec,
        templated=templated,
        static_urls=static_urls,
        static_body=static_body,
        headers=MappingProxyType(headers),
    )
