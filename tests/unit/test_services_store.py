"""The Redis-through-Sentinel store, with stub Sentinels in place of real ones (no Redis needed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from services.app.settings import ApiSettings, CommonSettings
from services.app.store import RedisSentinelStore, is_transient_store_error
from services.app.testing import wait_until


class StubSentinel:
    """Answers SENTINEL MASTERS like a real Sentinel with announce-hostnames on."""

    def __init__(self, primary: tuple[str, int] | None, epoch: int = 0, hang: bool = False) -> None:
        self.primary = primary
        self.epoch = epoch
        self.hang = hang
        self.calls = 0

    async def sentinel_masters(self) -> dict[str, Any]:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(3600)
        if self.primary is None:
            raise RedisConnectionError("sentinel down")
        host, port = self.primary
        return {
            "sessions": {
                "ip": host,
                "port": port,
                "is_master": True,
                "is_sdown": False,
                "is_odown": False,
                "num-other-sentinels": 2,
                "config-epoch": self.epoch,
            }
        }

    async def aclose(self) -> None:
        return None


def store_settings(**overrides: Any) -> ApiSettings:
    """API settings pointing at three sentinels and two mapped data nodes."""
    values: dict[str, Any] = {
        "common": CommonSettings(role="api", replica="api-1"),
        "model_url": "http://model",
        "sentinels": (("s0", 26379), ("s1", 26379), ("s2", 26379)),
        "redis_password": "s3cret",
        "redis_addr_map": (
            (("redishost0", 6379), ("chaoshost", 18100)),
            (("redishost1", 6379), ("chaoshost", 18101)),
        ),
    }
    values.update(overrides)
    return ApiSettings(**values)


def test_primary_is_discovered_through_sentinel_and_mapped() -> None:
    async def scenario() -> None:
        store = RedisSentinelStore(store_settings())
        down, up = StubSentinel(None), StubSentinel(("redishost0", 6379))
        store._sentinel.sentinels = [down, up, StubSentinel(("redishost0", 6379))]  # type: ignore[list-item]
        pool: Any = store._client.connection_pool
        assert await pool.get_master_address() == ("chaoshost", 18100)
        assert down.calls == 1

        # Failover: the Sentinels now name the other node, at a newer epoch; new connections follow it.
        for sentinel in store._sentinel.sentinels[1:]:
            sentinel.primary, sentinel.epoch = ("redishost1", 6379), 1  # type: ignore[attr-defined]
        assert await pool.get_master_address() == ("chaoshost", 18101)
        assert pool.master_address == ("chaoshost", 18101)
        await store.close()

    asyncio.run(scenario())


def test_a_stale_sentinel_loses_to_the_newest_epoch_and_a_hung_one_does_not_block() -> None:
    async def scenario() -> None:
        store = RedisSentinelStore(store_settings())
        # A Sentinel restored after a zone loss still names the old primary at epoch 3; a dead
        # one never answers. The majority that did answer names the new primary at epoch 4.
        stale, hung, fresh = (
            StubSentinel(("redishost0", 6379), 3),
            StubSentinel(None, hang=True),
            StubSentinel(("redishost1", 6379), 4),
        )
        store._sentinel.sentinels = [stale, hung, fresh]  # type: ignore[list-item]
        pool: Any = store._client.connection_pool
        async with asyncio.timeout(2):
            assert await pool.get_master_address() == ("chaoshost", 18101)
        assert (stale.calls, hung.calls, fresh.calls) == (1, 1, 1)
        await store.close()

    asyncio.run(scenario())


def test_no_sentinel_naming_a_primary_is_an_error_naming_each_failure() -> None:
    async def scenario() -> None:
        store = RedisSentinelStore(store_settings())
        store._sentinel.sentinels = [StubSentinel(None), StubSentinel(None), StubSentinel(None)]  # type: ignore[list-item]
        with pytest.raises(RedisConnectionError, match=r"No master found for 'sessions' : .*sentinel down"):
            await store._client.connection_pool.get_master_address()  # type: ignore[attr-defined]
        await store.close()

    asyncio.run(scenario())


def test_unmapped_primary_is_dialled_as_reported() -> None:
    async def scenario() -> None:
        store = RedisSentinelStore(store_settings(redis_addr_map=()))
        store._sentinel.sentinels = [StubSentinel(("redishost1", 6379))]  # type: ignore[list-item]
        assert await store._client.connection_pool.get_master_address() == ("redishost1", 6379)  # type: ignore[attr-defined]
        await store.close()

    asyncio.run(scenario())


def test_only_data_connections_carry_the_password_and_nothing_retries_behind_our_back() -> None:
    async def scenario() -> None:
        store = RedisSentinelStore(store_settings(store_timeout_ms=300, sentinel_timeout_ms=100))
        data = store._client.connection_pool.connection_kwargs
        assert data["password"] == "s3cret"
        assert data["retry"].get_retries() == 0
        assert (data["socket_timeout"], data["socket_connect_timeout"]) == (0.3, 0.15)
        for sentinel in store._sentinel.sentinels:
            kwargs = sentinel.connection_pool.connection_kwargs
            assert kwargs.get("password") is None
            assert kwargs["socket_timeout"] == 0.1
            assert sentinel.get_connection_kwargs()["retry"].get_retries() == 0
        await store.close()

    asyncio.run(scenario())


def test_naive_store_has_no_timeouts() -> None:
    async def scenario() -> None:
        store = RedisSentinelStore(store_settings(profile="naive"))
        data = store._client.connection_pool.connection_kwargs
        assert (data["socket_timeout"], data["socket_connect_timeout"]) == (None, None)
        await store.close()

    asyncio.run(scenario())


def test_watcher_follows_a_graceful_failover_without_any_error() -> None:
    async def scenario() -> None:
        store = RedisSentinelStore(store_settings(sentinel_watch_ms=20))
        sentinel = StubSentinel(("redishost0", 6379))
        store._sentinel.sentinels = [sentinel]  # type: ignore[list-item]
        await store.start()
        await wait_until(
            lambda: store.pool.master_address == ("chaoshost", 18100),
            timeout_s=2.0,
            what="the first primary",
        )
        # The old primary is still up and writable; only Sentinel knows it is not primary.
        sentinel.primary = ("redishost1", 6379)
        await wait_until(
            lambda: store.pool.master_address == ("chaoshost", 18101),
            timeout_s=2.0,
            what="the watcher to notice the new primary",
        )
        await store.close()

    asyncio.run(scenario())


def test_a_connection_to_a_former_primary_is_closed_on_release() -> None:
    async def scenario() -> None:
        store = RedisSentinelStore(store_settings())
        pool = store.pool
        pool.master_address = ("chaoshost", 18101)
        closed: list[tuple[str, int]] = []
        for address in (("chaoshost", 18100), ("chaoshost", 18101)):
            connection: Any = pool.get_available_connection()
            connection.host, connection.port = address

            async def disconnect(*args: Any, _address: Any = address, **kwargs: Any) -> None:
                closed.append(_address)

            connection.disconnect = disconnect
            await pool.release(connection)
        assert closed == [("chaoshost", 18100)]
        await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (RedisConnectionError("refused"), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (ValueError("bad json"), False),
    ],
)
def test_transient_store_errors(error: BaseException, transient: bool) -> None:
    assert is_transient_store_error(error) is transient
