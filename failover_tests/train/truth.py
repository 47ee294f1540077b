"""The "status page is lying" flag of a live session: the kit's under-reporting rule on a moving window.

The rule is the drills' `status_truth_under` (see `failover_tests.status_truth`), judged as the
session runs instead of after it: a path is *impaired* when its real-success share (ok answers
that are not a fallback) over the latest settled slice is below the rules' ``impaired_below``
(90% by default; fewer than ``min_requests`` requests: unknown, never judged), and the page
*disagrees* when, at the same time, every component on that path that the page reports says
``operational``. The page is *lying* once such a stretch lasts longer than the rules' tolerance
(the status service's poll interval plus the grace, 3 s by default), as a drill would fail it.

The slice is the last ``slice_s`` of the session that has settled (ends ``settle_s`` ago), so
every request in it has answered or timed out: a slow failure counts as a failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from failover_tests.status_truth import DEFAULT_RULES, Health, StatusTruthRules
from failover_tests.traffic import JSONValue
from failover_tests.train.live import SETTLE_S, LiveAggregator


@dataclass(frozen=True, kw_only=True)
class PathTruth:
    """One path in the latest settled slice: what clients saw and what the page said about it."""

    path: str
    requests: int
    real_successes: int
    health: Health
    components: tuple[str, ...]  # the path's components the page reports
    said_operational: bool  # every one of them said operational
    mismatch_since_s: float | None  # start of the current stretch of disagreement
    lying: bool  # the stretch is longer than the tolerance

    @property
    def real_success_share(self) -> float | None:
        """Real successes / requests, None without requests."""
        return self.real_successes / self.requests if self.requests else None

    def to_dict(self) -> dict[str, JSONValue]:
        """The path's truth as a JSON-ready dict."""
        doc = dataclasses.asdict(self)
        doc["components"] = list(self.components)
        doc["real_success_share"] = self.real_success_share
        return doc


@dataclass(frozen=True, kw_only=True)
class TruthView:
    """The flag at one moment: each judged path, and whether the page is lying about any."""

    t_s: float
    slice_start_s: float
    slice_end_s: float
    tolerance_s: float
    paths: tuple[PathTruth, ...]

    @property
    def lying(self) -> bool:
        """Whether the page has said operational for longer than the tolerance while a path failed."""
        return any(p.lying for p in self.paths)

    @property
    def lying_paths(self) -> list[str]:
        """The paths the page is lying about."""
        return [p.path for p in self.paths if p.lying]

    def headline(self) -> str:
        """One line for the banner ('' when the page tells the truth)."""
        if not self.lying:
            return ""
        parts = []
        for p in self.paths:
            if p.lying and p.mismatch_since_s is not None:
                share = p.real_success_share or 0.0
                parts.append(
                    f"{p.path} {100 * share:.0f}% real successes for {self.slice_end_s - p.mismatch_since_s:.0f} s "
                    f"while the page says {', '.join(p.components)} operational"
                )
        return "the status page is lying: " + "; ".join(parts)

    def to_dict(self) -> dict[str, JSONValue]:
        """The view as a JSON-ready dict."""
        return {
            "t_s": self.t_s,
            "slice_start_s": self.slice_start_s,
            "slice_end_s": self.slice_end_s,
            "tolerance_s": self.tolerance_s,
            "lying": self.lying,
            "headline": self.headline(),
            "paths": [p.to_dict() for p in self.paths],
        }


class LiveTruth:
    """Judges the status page against the live traffic, one settled slice at a time."""

    def __init__(
        self,
        aggregator: LiveAggregator,
        *,
        poll_interval_s: float = 1.0,
        rules: StatusTruthRules = DEFAULT_RULES,
        settle_s: float = SETTLE_S,
    ) -> None:
        """A judge with no stretch open yet."""
        self.aggregator = aggregator
        self.rules = rules
        self.settle_s = settle_s
        self.tolerance_s = rules.tolerance_s(poll_interval_s)
        self._since: dict[str, float] = {}
        self.latest = TruthView(t_s=0.0, slice_start_s=0.0, slice_end_s=0.0, tolerance_s=self.tolerance_s, paths=())

    def update(self, now_s: float, components: Mapping[str, str] | None) -> TruthView:
        """Judge the latest settled slice against the page's current states (None: the page did not answer)."""
        end_s = now_s - self.settle_s
        start_s = end_s - self.rules.slice_s
        judged: list[PathTruth] = []
        for path, deps in self.rules.dependencies.items():
            counts = self.aggregator.counts(path, start_s, end_s)
            health = self.rules.health(counts.requests, counts.real)
            on_page = tuple(c for c in deps if components is not None and c in components)
            said_ok = bool(on_page) and all(components is not None and components[c] == "operational" for c in on_page)
            if health == "impaired" and said_ok:
                since = self._since.setdefault(path, start_s)
            else:
                self._since.pop(path, None)
                since = None
            if counts.requests == 0 and path not in self.aggregator.paths:
                continue  # a path this session does not send
            judged.append(
                PathTruth(
                    path=path,
                    requests=counts.requests,
                    real_successes=counts.real,
                    health=health,
                    components=on_page,
                    said_operational=said_ok,
                    mismatch_since_s=since,
                    lying=since is not None and end_s - since > self.tolerance_s + 1e-9,
                )
            )
        self.latest = TruthView(
            t_s=now_s, slice_start_s=start_s, slice_end_s=end_s, tolerance_s=self.tolerance_s, paths=tuple(judged)
        )
        return self.latest
