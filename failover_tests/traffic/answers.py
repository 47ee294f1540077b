"""How a request's outcome becomes a `Record`: the headers and body read, the error text kept."""

from __future__ import annotations

import dataclasses
import json

from failover_tests.traffic.paths import PathSpec
from failover_tests.traffic.records import Record

SERVED_BY_HEADER = "X-Served-By"
API_STATE_HEADER = "X-Api-State"
FALLBACK_STATES = frozenset({"fallback", "degraded"})


def is_fallback(state: str | None, payload: bytes) -> bool:
    """Whether an answer is a fallback one: an X-Api-State of fallback/degraded or a `"fallback": true` body."""
    return (state is not None and state.lower() in FALLBACK_STATES) or body_says_fallback(payload)


def body_error(payload: bytes) -> str:
    """The `error` of a JSON error body (`{"error": ..., "status": ...}`), shortened; '' if none."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return ""
    text = doc.get("error") if isinstance(doc, dict) else None
    return str(text)[:120] if text else ""


def body_says_fallback(payload: bytes) -> bool:
    """Whether a JSON body carries a top-level `"fallback": true`."""
    if b'"fallback"' not in payload:
        return False
    try:
        doc = json.loads(payload)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("fallback") is True


def describe_error(exc: BaseException) -> str:
    """A short, single-line description of a transport error."""
    text = str(exc).strip().replace("\n", " ")
    name = type(exc).__name__
    return f"{name}: {text[:160]}" if text else name


def make_record(
    spec: PathSpec,
    *,
    seq: int,
    scheduled_s: float,
    elapsed_s: float,
    status: int,
    error: str | None,
    replica: str | None,
    endpoint: str | None,
    fallback: bool,
    attempts: int,
    lag_s: float,
    detail: str = "",
) -> Record:
    """Build the Record of a finished request; a non-ok status becomes its error (with the body's)."""
    ok = error is None and spec.is_ok(status)
    if error is None and not ok:
        error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    return Record(
        path=spec.name,
        seq=seq,
        scheduled_s=scheduled_s,
        latency_ms=elapsed_s * 1000.0,
        status=status,
        ok=ok,
        replica=replica,
        endpoint=endpoint,
        error=error,
        fallback=fallback,
        completed_s=scheduled_s + elapsed_s,
        attempts=attempts,
        lag_ms=max(lag_s, 0.0) * 1000.0,
    )


def not_sent_record(spec: PathSpec, *, seq: int, scheduled_s: float, max_in_flight: int) -> Record:
    """The Record of a request that was due while `max_in_flight` requests were in flight: a failure."""
    return Record(
        path=spec.name,
        seq=seq,
        scheduled_s=scheduled_s,
        latency_ms=0.0,
        status=0,
        ok=False,
        replica=None,
        endpoint=None,
        error=f"not sent: max_in_flight={max_in_flight} requests in flight",
        fallback=False,
        completed_s=scheduled_s,
        attempts=0,
    )


def shifted(rec: Record, offset_s: float) -> Record:
    """The same record with its times moved by `offset_s`."""
    return dataclasses.replace(rec, scheduled_s=rec.scheduled_s + offset_s, completed_s=rec.completed_s + offset_s)
