"""Synthetic records for the SLO tests."""

from __future__ import annotations

from collections.abc import Iterable

from failover_tests.slo import (
    windows_around,
)
from failover_tests.traffic import Record
from failover_tests.verdict import Verdict

FAULT = "kill(api-2)"
WINDOWS = windows_around(12.0, 22.0, 30.0)


def rec(
    path: str,
    seq: int,
    scheduled_s: float,
    *,
    ok: bool = True,
    latency_ms: float = 10.0,
    fallback: bool = False,
    replica: str | None = "api-1",
    completed_s: float | None = None,
) -> Record:
    """A synthetic record."""
    return Record(
        path=path,
        seq=seq,
        scheduled_s=scheduled_s,
        latency_ms=latency_ms,
        status=200 if ok else 503,
        ok=ok,
        replica=replica,
        endpoint="http://127.0.0.1:8080",
        error=None if ok else "HTTP 503",
        fallback=fallback,
        completed_s=scheduled_s + latency_ms / 1000.0 if completed_s is None else completed_s,
    )


def steady(
    path: str,
    start_s: float,
    end_s: float,
    *,
    step_s: float = 0.1,
    bad: Iterable[float] = (),
    latency_ms: float = 10.0,
    first_seq: int = 0,
) -> list[Record]:
    """One record every step_s in [start_s, end_s); those whose time is in `bad` fail."""
    bad_set = {round(b, 6) for b in bad}
    out = []
    n = round((end_s - start_s) / step_s)
    for i in range(n):
        t = round(start_s + i * step_s, 6)
        out.append(rec(path, first_seq + i, t, ok=t not in bad_set, latency_ms=latency_ms))
    return out


def only_failures(verdict: Verdict) -> list[str]:
    """The failure messages of a verdict."""
    return [c.message for c in verdict.failures]
