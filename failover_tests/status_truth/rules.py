"""What status truth is judged by: the health and state vocabularies, the dependency map, `StatusTruthRules`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from failover_tests.traffic import JSONValue
from infra.errors import ScenarioError

Health = Literal["fine", "marginal", "impaired", "unknown"]
State = Literal["operational", "degraded", "outage"]
StatusSample = tuple[float, Mapping[str, str]]

# Which status components can impair each probe path (see services/app/web.py, api.py and the
# edge routes in infra/program.py). The edge routes /v1/ to the API and everything else to the
# web tier; the web tier reaches the API through the internal API LB, which has no component.
# Both the home page and completions need the model: without it the protected API answers with
# its cached fallback (and the page says so), the naive one fails. The integration is left out:
# the protected API notifies it fire-and-forget. (The naive API awaits it inline on completions
# and runs every request in one shared worker pool; pass your own map to judge that coupling.)
DEPENDENCIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "api.complete": ("edge", "api", "model"),
        "api.sessions": ("edge", "api", "store"),
        "api.sessions_read": ("edge", "api", "store"),
        "web.home": ("edge", "web", "api", "model"),
    }
)

STATES: tuple[State, ...] = ("operational", "degraded", "outage")


@dataclass(frozen=True)
class StatusTruthRules:
    """How client impact is measured and how much lag the status page is allowed."""

    grace_s: float = 2.0
    slice_s: float = 1.0
    impaired_below: float = 0.9
    fine_at_least: float = 0.99
    min_requests: int = 3
    sample_hold_s: float = 1.0
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEPENDENCIES, hash=False)

    def __post_init__(self) -> None:
        """Reject impossible thresholds and an empty dependency; freeze the map."""
        where = "status truth rules"
        for key in ("slice_s", "sample_hold_s"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ScenarioError(f"{where}: {key}={value} must be a finite number > 0 (seconds)")
        if not (math.isfinite(self.grace_s) and self.grace_s >= 0):
            raise ScenarioError(f"{where}: grace_s={self.grace_s} must be a finite number >= 0 (seconds)")
        if not 0.0 < self.impaired_below <= 1.0:
            raise ScenarioError(f"{where}: impaired_below={self.impaired_below} is a ratio in (0, 1] (e.g. 0.9)")
        if not self.impaired_below <= self.fine_at_least <= 1.0:
            raise ScenarioError(
                f"{where}: fine_at_least={self.fine_at_least} must be in [impaired_below={self.impaired_below}, 1]"
            )
        if self.min_requests < 1:
            raise ScenarioError(f"{where}: min_requests={self.min_requests} must be >= 1")
        frozen: dict[str, tuple[str, ...]] = {}
        for path, components in self.dependencies.items():
            names = tuple(components)
            if not path or not names or any(not c for c in names):
                raise ScenarioError(
                    f"{where}: dependencies[{path!r}]={list(names)} must name a path and at least one component"
                )
            frozen[path] = names
        object.__setattr__(self, "dependencies", MappingProxyType(frozen))

    def tolerance_s(self, poll_interval_s: float) -> float:
        """How long a mismatch may last: one poll interval plus the grace."""
        return poll_interval_s + self.grace_s

    def health(self, requests: int, real_successes: int) -> Health:
        """A path's health in one slice, from its request count and real successes."""
        if requests < self.min_requests:
            return "unknown"
        share = real_successes / requests
        if share < self.impaired_below:
            return "impaired"
        if share >= self.fine_at_least:
            return "fine"
        return "marginal"

    def to_dict(self) -> dict[str, JSONValue]:
        """The rules as a JSON-ready dict."""
        return {
            "grace_s": self.grace_s,
            "slice_s": self.slice_s,
            "impaired_below": self.impaired_below,
            "fine_at_least": self.fine_at_least,
            "min_requests": self.min_requests,
            "sample_hold_s": self.sample_hold_s,
            "dependencies": {p: list(c) for p, c in self.dependencies.items()},
        }


DEFAULT_RULES = StatusTruthRules()
