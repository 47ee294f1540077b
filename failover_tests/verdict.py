"""What a run earns: checks (observed value, limit, outcome) and the verdict that holds them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from failover_tests.traffic import JSONValue, WindowStats
from infra.errors import SLOViolation

__all__ = ["Check", "Judged", "Verdict"]


@dataclass(frozen=True, kw_only=True)
class Check:
    """One SLO check of one path in one window: observed value, limit and outcome."""

    name: str
    path: str
    window: str
    window_start_s: float
    window_end_s: float
    observed: float | None
    limit: float | None
    passed: bool
    message: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The check as a JSON-ready dict (its fields, in order)."""
        return asdict(self)


class Judged:
    """A set of checks: passed when all passed; the failed ones in their order."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed, in their order."""
        return tuple(c for c in self.checks if not c.passed)


@dataclass(frozen=True)
class Verdict(Judged):
    """Every check of a run, and the window statistics they were judged on."""

    fault_label: str
    checks: tuple[Check, ...]
    stats: tuple[WindowStats, ...] = ()

    def failure_message(self) -> str:
        """Every failed check's message, one per line."""
        return "\n".join(c.message for c in self.failures)

    def raise_if_failed(self) -> None:
        """Raise SLOViolation listing every failed check, one per line."""
        if not self.passed:
            raise SLOViolation(self.failure_message())

    def stats_for(self, path: str, window: str) -> WindowStats | None:
        """The statistics of one path in one window, if evaluated."""
        for stats in self.stats:
            if stats.path == path and stats.window == window:
                return stats
        return None

    def to_dict(self, *, include_stats: bool = True) -> dict[str, JSONValue]:
        """The verdict as a JSON-ready dict."""
        doc: dict[str, JSONValue] = {
            "fault": self.fault_label,
            "passed": self.passed,
            "failures": [c.message for c in self.failures],
            "checks": [c.to_dict() for c in self.checks],
        }
        if include_stats:
            doc["stats"] = [s.to_dict() for s in self.stats]
        return doc
