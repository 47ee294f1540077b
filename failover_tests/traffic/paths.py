"""What a probe sends: one `PathSpec` per kind of request, and the default set of them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from infra.errors import ScenarioError

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"
BodyFactory: TypeAlias = Callable[[int], JSONValue]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class PathSpec:
    """One kind of request the probe sends, at the probe's rate."""

    name: str
    method: str
    path: str
    body: JSONValue | BodyFactory = None
    timeout_s: float = 3.0
    ok_statuses: frozenset[int] | None = None
    setup: PathSpec | None = None

    def __post_init__(self) -> None:
        """Reject a spec that could not be sent, naming the field and the fix."""
        if not self.name:
            raise ScenarioError("PathSpec.name is empty: give the path a name like 'api.complete'")
        if self.method not in _METHODS:
            raise ScenarioError(
                f"PathSpec {self.name!r}: method {self.method!r} is not one of {sorted(_METHODS)} (use upper case)"
            )
        if not self.path.startswith("/"):
            raise ScenarioError(f"PathSpec {self.name!r}: path {self.path!r} must start with '/'")
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise ScenarioError(f"PathSpec {self.name!r}: timeout_s={self.timeout_s!r} must be a positive number")
        if self.ok_statuses is not None and (
            not self.ok_statuses or any(not 100 <= s <= 599 for s in self.ok_statuses)
        ):
            raise ScenarioError(
                f"PathSpec {self.name!r}: ok_statuses={sorted(self.ok_statuses)} must be a "
                "non-empty set of HTTP statuses (100..599)"
            )

    def url_path(self, seq: int) -> str:
        """The request path for sequence number `seq` (`{n}` replaced)."""
        return self.path.replace("{n}", str(seq))

    def body_for(self, seq: int) -> JSONValue:
        """The JSON body for sequence number `seq`, or None for no body."""
        return self.body(seq) if callable(self.body) else self.body

    def is_ok(self, status: int) -> bool:
        """Whether an HTTP status counts as success for this path (default: 2xx)."""
        if self.ok_statuses is None:
            return 200 <= status <= 299
        return status in self.ok_statuses


def default_paths(*, timeout_s: float = 3.0) -> list[PathSpec]:
    """The four paths of the replica stack: completion, session write and read, home page."""
    steady_key = "/v1/sessions/drill-steady"
    return [
        PathSpec("api.complete", "POST", "/v1/complete", {"prompt": "drill"}, timeout_s),
        PathSpec("api.sessions", "PUT", "/v1/sessions/drill-{n}", _session_body, timeout_s),
        PathSpec(
            "api.sessions_read",
            "GET",
            steady_key,
            timeout_s=timeout_s,
            ok_statuses=frozenset({200}),
            setup=PathSpec("api.sessions_read.setup", "PUT", steady_key, {"n": -1}, timeout_s=timeout_s),
        ),
        PathSpec("web.home", "GET", "/", timeout_s=timeout_s),
    ]


def _session_body(seq: int) -> JSONValue:
    """Body of the session write for sequence number `seq`."""
    return {"n": seq}
