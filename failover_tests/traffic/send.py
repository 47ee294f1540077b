"""One request of a probe, with client-side endpoint failover, kept as a `Record` whatever happens;
and the client session every request goes through (one connection per request, no hidden retry).

Endpoint failover models a population of clients that resolve one name to several edge
load balancers, as a client with several DNS records would: request ``k`` starts at
endpoint ``k mod len(endpoints)`` (round robin, so every edge carries traffic and a fault on
any of them is visible) and, only when the connection could not be made (refused, reset
while connecting, no connection within ``connect_timeout_s``, 1 s by default: longer than
a starved event loop's hiccup, as long as the kernel's first SYN retransmit), so that nothing
was sent, tries the next endpoint while
its budget lasts, each endpoint at most once. A request that was sent and then lost (the
connection reset or closed after sending, no answer within the budget) is a failure, and an
HTTP answer, 5xx included, is never retried on another endpoint: that is the load
balancer's job. A request that needed more than one endpoint keeps ``attempts > 1`` and is
counted per window (``WindowStats.retried_count``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp

from failover_tests.traffic.answers import (
    API_STATE_HEADER,
    SERVED_BY_HEADER,
    body_error,
    describe_error,
    is_fallback,
    make_record,
)
from failover_tests.traffic.plan import Plan
from failover_tests.traffic.records import Record

# Errors after which a client with several DNS records would try the next address: the
# connection was never made (refused, reset or timed out while connecting), so the request
# was not sent. aiohttp raises these two only from its connector, before writing anything;
# a reset or disconnect after the request was written is another error and is not retried.
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)


def open_session(*, max_in_flight: int, connect_timeout_s: float) -> aiohttp.ClientSession:
    """The probe's client session (call it on the loop thread): a fresh connection per request, no retry."""
    # One connection per request (no keep-alive): a pooled connection the server closed
    # while idle (an LB reload, a keep-alive timeout) would fail a request the server never
    # saw, and a real client would quietly resend it. Without a pool every request connects
    # first, so "could not connect" (retried on the other edge) and "sent, then lost" (a
    # failure) are told apart exactly. A loopback connect costs well under a millisecond.
    connector = aiohttp.TCPConnector(limit=max_in_flight, limit_per_host=0, force_close=True)
    session = aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s),
        headers={"User-Agent": "stackdrill-probe"},
        auto_decompress=False,
    )
    # aiohttp silently resends an idempotent request (GET, PUT) once on a new connection
    # when the first was reset or closed after sending (RFC 9112 9.3.1.1). A probe must
    # see that loss, not hide it behind an uncounted retry on the same edge. There is no
    # public switch; aiohttp's own test client turns it off the same way, and
    # test_a_request_sent_and_then_lost_is_a_failure_not_retried guards it.
    session._retry_connection = False
    return session


async def send_request(
    session: aiohttp.ClientSession,
    plan: Plan,
    *,
    endpoints: Sequence[str],
    first_endpoint: int,
    seq: int,
    due: float,
    scheduled_s: float,
    lag_s: float,
    sink: list[Record],
) -> None:
    """Send one request, on the next endpoint only if it could not connect, and append its Record to `sink`.

    The request must end by ``due + timeout_s`` (loop time); its Record is appended even when
    it is cancelled, so a stopped probe still accounts for every request it sent.
    """
    loop = asyncio.get_running_loop()
    spec = plan.spec
    n_endpoints = len(endpoints)
    body = plan.body(seq)
    status = 0
    error: str | None = None
    replica: str | None = None
    endpoint: str | None = None
    fallback = False
    detail = ""
    attempts = 0
    connect_failures = 0
    try:
        async with asyncio.timeout_at(due + spec.timeout_s):
            for i in range(n_endpoints):
                index = (first_endpoint + i) % n_endpoints
                endpoint = endpoints[index]
                attempts += 1
                try:
                    async with session.request(
                        spec.method,
                        plan.url(index, endpoint, seq),
                        data=body,
                        headers=plan.headers,
                        allow_redirects=False,
                    ) as resp:
                        payload = await resp.read()
                        status = resp.status
                        replica = resp.headers.get(SERVED_BY_HEADER)
                        state = resp.headers.get(API_STATE_HEADER)
                except _CONNECT_ERRORS as exc:
                    # Nothing was sent: a client with another address tries that one.
                    error = describe_error(exc)
                    connect_failures += 1
                    continue
                error = None
                fallback = is_fallback(state, payload)
                detail = body_error(payload) if status >= 400 else ""
                break
    except TimeoutError:
        error = f"timeout: no answer within the {spec.timeout_s:g} s budget" + (
            f" ({attempts} attempts; {connect_failures} could not connect, last: {error})"
            if connect_failures and error
            else ""
        )
    except (aiohttp.ClientError, OSError) as exc:
        # Sent, then lost (reset, closed before an answer, bad payload): a failure the
        # client saw, never retried elsewhere, since the edge may have acted on it.
        error = describe_error(exc)
    except asyncio.CancelledError:
        error = "cancelled: the probe stopped before an answer"
        raise
    finally:
        if error is not None:
            status = 0
            if connect_failures == n_endpoints > 1:
                error = f"{error} (all {n_endpoints} endpoints failed)"
        elapsed_s = loop.time() - due
        sink.append(
            make_record(
                spec,
                seq=seq,
                scheduled_s=scheduled_s,
                elapsed_s=elapsed_s,
                status=status,
                error=error,
                replica=replica,
                endpoint=endpoint,
                fallback=fallback,
                attempts=attempts,
                lag_s=lag_s,
                detail=detail,
            )
        )
