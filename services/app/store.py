"""The session store seam: a small protocol and its Redis-through-Sentinel implementation.

The API finds the Redis primary through Sentinel on every new connection, so it follows a
failover. Sentinels announce hostnames; ``SD_REDIS_ADDR_MAP`` maps the reported primary to the
address actually dialled (the chaos proxy's listener for that node), so the data path can be
broken on purpose while discovery stays direct.

How redis-py's Sentinel support handles a failover (verified in redis 6.4.0):

* every new data connection asks Sentinel for the primary (``SentinelManagedConnection``);
* when the primary changes, idle pooled connections to the old one are dropped;
* a ``READONLY`` reply (the old primary was demoted) disconnects and raises ``ConnectionError``;
* connection errors and timeouts disconnect the connection, so the next attempt reconnects and
  rediscovers. The API's retries (``resilience.Guard``) make that next attempt.

What it does not handle, and this module adds: after a *graceful* ``SENTINEL FAILOVER`` the old
primary stays up and writable until Sentinel gets round to demoting it (about 8 s with Redis 7),
so a client with open connections keeps writing to it and those writes are lost. Here a watcher
asks Sentinel every ``SD_SENTINEL_WATCH_MS`` which node is primary; when it changes, idle
connections are dropped, and a connection released while pointing at a former primary is closed
instead of being pooled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.app.settings import Address, ApiSettings

log = logging.getLogger(__name__)


class SessionStore(Protocol):
    """What the API needs from its session store."""

    async def get(self, key: str) -> str | None:
        """Return the value at ``key`` or None."""
        ...

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` at ``key``."""
        ...

    async def ping(self) -> None:
        """Raise unless the store answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def is_transient_store_error(exc: BaseException) -> bool:
    """True for store errors worth another attempt: connection problems and timeouts."""
    return isinstance(exc, RedisConnectionError | RedisTimeoutError | TimeoutError | OSError)


class MappedSentinel(Sentinel):
    """A Sentinel client that maps the primary's reported address to the address to dial."""

    def __init__(
        self,
        sentinels: list[Address],
        *,
        dial: Callable[[Address], Address],
        sentinel_kwargs: dict[str, Any],
        **connection_kwargs: Any,
    ) -> None:
        super().__init__(sentinels, sentinel_kwargs=sentinel_kwargs, **connection_kwargs)
        self._dial = dial
        self._last: tuple[Address, Address] | None = None

    async def discover_master(self, service_name: str) -> Address:
        """Ask every Sentinel at once for the primary; return the mapped address to connect to.

        redis-py asks the Sentinels one after another and believes the first that answers. After a
        zone loss that is wrong twice over: a dead Sentinel first in the list costs a full timeout
        on every lookup, and a Sentinel restored with a stale view (it names the old primary, at
        an older config epoch) misleads clients into writing to a node about to be demoted, whose
        writes are then lost. Here all Sentinels are asked concurrently; once a majority has
        answered (or every Sentinel has answered or failed), the answer with the highest config
        epoch wins.
        """
        reported = await self._quorum_read(service_name)
        dialled = self._dial(reported)
        if self._last != (reported, dialled):
            log.warning("primary of %s is %s:%d (dialling %s:%d)", service_name, *reported, *dialled)
            self._last = (reported, dialled)
        return dialled

    async def _quorum_read(self, service_name: str) -> Address:
        majority = len(self.sentinels) // 2 + 1
        answers: list[tuple[int, Address]] = []
        errors: list[str] = []
        pending = {asyncio.ensure_future(s.sentinel_masters()): s for s in self.sentinels}
        try:
            while pending and len(answers) < majority:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    sentinel = pending.pop(task)
                    try:
                        state = task.result().get(service_name)
                    except Exception as exc:  # noqa: BLE001 - a dead Sentinel is one missing vote
                        errors.append(f"{sentinel!r} - {exc!r}")
                        continue
                    if state and self.check_master_state(state, service_name):
                        epoch = int(state.get("config-epoch", 0) or 0)
                        answers.append((epoch, (str(state["ip"]), int(state["port"]))))
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if not answers:
            detail = f" : {', '.join(errors)}" if errors else ""
            raise MasterNotFoundError(f"No master found for {service_name!r}{detail}")
        return max(answers, key=lambda a: a[0])[1]


class FollowingPool(SentinelConnectionPool):
    """A Sentinel pool that never pools a connection to a node that is no longer primary."""

    async def release(self, connection: AbstractConnection) -> None:
        """Close the connection first if it points anywhere but the current primary."""
        current = self.master_address
        address = (getattr(connection, "host", None), getattr(connection, "port", None))
        if self.is_master and current is not None and address != tuple(current):
            await connection.disconnect()
        await super().release(connection)


class RedisSentinelStore:
    """Session store on the Redis primary that Sentinel names, with no hidden retries."""

    def __init__(self, settings: ApiSettings) -> None:
        protected = settings.protected
        no_retry = Retry(NoBackoff(), 0)  # retries are the Guard's job, within its budget
        data_timeout_s = settings.store_timeout_ms / 1000.0 if protected else None
        # A hanging connect is cut short enough to leave room for another attempt.
        connect_timeout_s = None if data_timeout_s is None else data_timeout_s / settings.retry_attempts
        sentinel_timeout_s = settings.sentinel_timeout_ms / 1000.0 if protected else None
        self._sentinel = MappedSentinel(
            list(settings.sentinels),
            dial=settings.dial_address,
            sentinel_kwargs={
                "socket_timeout": sentinel_timeout_s,
                "socket_connect_timeout": sentinel_timeout_s,
                "retry": no_retry,
            },
        )
        self._client: Redis = self._sentinel.master_for(
            settings.sentinel_master,
            connection_pool_class=FollowingPool,
            password=settings.redis_password or None,
            socket_timeout=data_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            retry=no_retry,
            decode_responses=True,
        )

        self._watch_s = settings.sentinel_watch_ms / 1000.0
        self._watch_timeout_s = max(settings.sentinel_timeout_ms / 1000.0, 1.0)
        self._watcher: asyncio.Task[None] | None = None

    @property
    def pool(self) -> FollowingPool:
        """The data connection pool (its ``master_address`` is the primary being dialled)."""
        pool = self._client.connection_pool
        assert isinstance(pool, FollowingPool)
        return pool

    async def start(self, warm_s: float = 5.0) -> None:
        """Connect to the primary before the API listens, then watch Sentinel for a new primary.

        A replica that starts listening before it has found the primary answers its first
        session requests with 503: a rolling restart would show them to clients. The warm-up
        is bounded, so a store outage delays start-up by at most ``warm_s``.
        """
        deadline = asyncio.get_running_loop().time() + warm_s
        while True:
            try:
                async with asyncio.timeout(1.0):
                    await self.ping()
                break
            except Exception as exc:  # not reachable yet: retry until the deadline
                if asyncio.get_running_loop().time() >= deadline:
                    log.warning("store not reachable at start-up, serving anyway: %r", exc)
                    break
                await asyncio.sleep(0.2)
        if self._watch_s > 0 and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._watch_s)
            try:
                async with asyncio.timeout(self._watch_timeout_s):
                    # Drops idle connections when the primary changed.
                    await self.pool.get_master_address()
            except Exception as exc:  # no primary right now: the next round asks again
                log.debug("sentinel watch: %r", exc)

    async def get(self, key: str) -> str | None:
        """Return the value at ``key`` or None."""
        value = await self._client.get(key)
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` at ``key``."""
        await self._client.set(key, value)

    async def ping(self) -> None:
        """Raise unless the primary answers PING."""
        await self._client.ping()

    async def close(self) -> None:
        """Stop the watcher; close the data pool and the Sentinel connections."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._client.aclose()
        for sentinel in self._sentinel.sentinels:
            await sentinel.aclose()
