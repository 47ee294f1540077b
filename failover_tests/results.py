"""The result of one scenario: what the engine produced and every view of it reads.

The scenario engine builds it; the report renders it. It lives apart from the renderer so
that the engine does not depend on Jinja or the HTML view.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from failover_tests.slo import Window
from failover_tests.status_truth.rules import StatusSample
from failover_tests.traffic import Event, LagStats, Record
from failover_tests.verdict import Verdict

__all__ = ["ScenarioResult", "StatusSample"]


@dataclass(frozen=True)
class ScenarioResult:
    """Everything one scenario produced, as the report needs it."""

    name: str
    description: str = ""
    fault_label: str = ""
    targets: Sequence[str] = ()
    seed: int | None = None
    fault_start_s: float | None = None
    fault_end_s: float | None = None
    windows: Sequence[Window] = ()
    verdict: Verdict | None = None
    records: Sequence[Record] = ()
    events: Sequence[Event] = ()
    status_samples: Sequence[StatusSample] = ()
    spof: Sequence[str] = ()
    duration_s: float = 0.0
    error: str | None = None
    schedule_lag: LagStats | None = None
    paths: Sequence[str] = ()
    expect_failure: bool = False

    @property
    def status(self) -> str:
        """`error` if the scenario crashed, else `pass`/`fail` by verdict, else `unjudged`.

        A scenario that is meant to fail (a broken topology, the naive cascade) is `caught`
        when its verdict fails, and `fail` when every SLO held: the drill missed the failure.
        """
        if self.error is not None:
            return "error"
        if self.verdict is None:
            return "unjudged"
        if self.expect_failure:
            return "fail" if self.verdict.passed else "caught"
        return "pass" if self.verdict.passed else "fail"

    @property
    def path_names(self) -> list[str]:
        """The probe paths, in the given order or in order of first appearance."""
        names = list(self.paths)
        for rec in self.records:
            if rec.path not in names:
                names.append(rec.path)
        return names

    @property
    def timeline_end_s(self) -> float:
        """The end of the time axis: the run's duration or its last request or event."""
        ends = [self.duration_s, self.fault_end_s or 0.0]
        ends.extend(r.completed_s for r in self.records)
        ends.extend(e.t_s for e in self.events)
        ends.extend(t for t, _ in self.status_samples)
        return max([e for e in ends if math.isfinite(e)] + [1.0])
