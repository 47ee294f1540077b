"""What a probe keeps: one `Record` per request, its marks (`Event`) and its own lateness (`LagStats`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from failover_tests.traffic.paths import JSONValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One request as the client saw it; times are seconds since the probe's start."""

    path: str  # the PathSpec's name
    seq: int  # the path's sequence number, also its `{n}`
    scheduled_s: float  # when the request was due
    latency_ms: float  # from the scheduled start, not the send: no coordinated omission
    status: int  # HTTP status, 0 when no answer came (transport error, timeout, not sent)
    ok: bool  # the status is one of the path's ok statuses and no transport error occurred
    replica: str | None  # the X-Served-By header of the answer
    endpoint: str | None  # base URL of the last attempt: the one that answered or failed last
    error: str | None  # why it failed (`HTTP 503`, `timeout: ...`), None when ok
    fallback: bool  # a `"fallback": true` body or an X-Api-State of fallback/degraded
    completed_s: float  # when the answer (or the failure) came
    attempts: int = 1  # endpoints tried; 0 when not sent
    lag_ms: float = 0.0  # how late the probe sent it (already included in latency_ms)

    def to_dict(self) -> dict[str, JSONValue]:
        """The record as a JSON-ready dict (every field, in declaration order)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Event:
    """A labelled moment on the probe's clock, e.g. a fault applied or reverted."""

    t_s: float
    label: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The event as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class LagStats:
    """How late requests were sent compared with their schedule."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def to_dict(self) -> dict[str, JSONValue]:
        """The stats as a JSON-ready dict (every field, in declaration order)."""
        return dataclasses.asdict(self)


class TimeSpan(Protocol):
    """A named half-open interval [start_s, end_s) of scheduled times (e.g. slo.Window)."""

    @property
    def name(self) -> str:
        """The window's name."""
        ...

    @property
    def start_s(self) -> float:
        """Inclusive start, seconds since probe start."""
        ...

    @property
    def end_s(self) -> float:
        """Exclusive end, seconds since probe start."""
        ...
