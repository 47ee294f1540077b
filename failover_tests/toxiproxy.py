"""The one Toxiproxy HTTP API client: proxies, toxics, reset (the panic button)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from infra.errors import FaultError


@dataclass(frozen=True)
class Toxic:
    """A toxic as Toxiproxy lists it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]


class ToxiproxyClient:
    """Talks to one Toxiproxy API at a 127.0.0.1 URL the stack publishes."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = requests.Session()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            resp = self._http.request(method, f"{self.base_url}{path}", json=body, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise FaultError(f"Toxiproxy at {self.base_url} unreachable: {exc.__class__.__name__}") from exc
        if resp.status_code >= 400:
            raise FaultError(f"Toxiproxy {method} {path} -> {resp.status_code}: {resp.text.strip()[:200]}")
        return resp.json() if resp.content else None

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy by name."""
        return dict(self._call("GET", "/proxies"))

    def toxics(self, proxy: str) -> list[Toxic]:
        """Toxics active on a proxy."""
        return [
            Toxic(t["name"], t["type"], t["stream"], float(t.get("toxicity", 1.0)), t.get("attributes", {}))
            for t in self._call("GET", f"/proxies/{proxy}/toxics")
        ]

    def add_toxic(
        self, proxy: str, name: str, kind: str, stream: str, toxicity: float, attributes: dict[str, Any]
    ) -> None:
        """Add a toxic to a proxy."""
        body = {"name": name, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        self._call("POST", f"/proxies/{proxy}/toxics", body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; missing is fine."""
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        except FaultError as exc:
            if "404" not in str(exc):
                raise

    def reset(self) -> None:
        """Remove every toxic and re-enable every proxy."""
        self._call("POST", "/reset")
