"""Settings of every replica-stack role, read once from the environment into frozen dataclasses.

Each role calls its ``*Settings.from_env()`` once at start; nothing else reads ``os.environ``.
A bad value raises :class:`SettingsError` naming the variable, the bad value and what is allowed.

Variables and defaults, by role:

    every role   SD_ROLE (the module's role), SD_REPLICA (hostname), SD_ZONE (""),
                 SD_PORT (8080, on 0.0.0.0), SD_ADMIN_PORT (9901, on 127.0.0.1 only),
                 SD_VERSION ("0.1.0"), SD_DRAIN_MS (0), SD_SHUTDOWN_TIMEOUT_S (5),
                 SD_LOG_LEVEL ("INFO"), SD_ACCESS_LOG (0)
    model        SD_LATENCY_MS (50), SD_JITTER_MS (10)
    api          SD_PROFILE (protected|naive), SD_MODEL_URL (required), SD_INTEGRATION_URL (""),
                 SD_SENTINELS (required), SD_SENTINEL_MASTER ("sessions"), SD_REDIS_PASSWORD,
                 SD_REDIS_ADDR_MAP (""), SD_MODEL_TIMEOUT_MS (1000), SD_STORE_TIMEOUT_MS (300),
                 SD_INTEGRATION_TIMEOUT_MS (300), SD_SENTINEL_TIMEOUT_MS (100),
                 SD_SENTINEL_WATCH_MS (500), SD_READY_TIMEOUT_MS (1000), SD_RETRY_ATTEMPTS (2),
                 SD_BREAKER_FAILURES (5), SD_BREAKER_RESET_S (5), SD_BULKHEAD_MODEL (16),
                 SD_BULKHEAD_STORE (32), SD_BULKHEAD_INTEGRATION (64), SD_BULKHEAD_WAIT_MS (50),
                 SD_NAIVE_WORKERS (4)
    web          SD_API_URL (required), SD_API_TIMEOUT_MS (1500), SD_PROFILE (protected|naive)
    status       SD_COMPONENTS (JSON), SD_POLL_INTERVAL_S (2), SD_CHECK_TIMEOUT_MS (1000),
                 SD_STATUS_MODE (live|static)
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Profile = Literal["protected", "naive"]
StatusMode = Literal["live", "static"]
Address = tuple[str, int]

PROFILES: tuple[Profile, ...] = ("protected", "naive")
STATUS_MODES: tuple[StatusMode, ...] = ("live", "static")


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _raw(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = _raw(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below the minimum {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = _raw(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below the minimum {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _raw(env, name, "1" if default else "0").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no")


def _profile(env: Mapping[str, str]) -> Profile:
    raw = _raw(env, "SD_PROFILE", "protected").lower()
    for profile in PROFILES:
        if raw == profile:
            return profile
    raise SettingsError(f"SD_PROFILE={raw!r} is not one of {', '.join(PROFILES)}")


def _url(env: Mapping[str, str], name: str, *, required: bool) -> str:
    raw = _raw(env, name, "")
    if not raw:
        if required:
            raise SettingsError(f"{name} is required (a base URL such as http://host:8080)")
        return ""
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{name}={raw!r} is not an http(s) URL")
    return raw.rstrip("/")


def parse_address(text: str, *, name: str) -> Address:
    """Parse ``host:port`` into a pair; ``name`` is the variable quoted in errors."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"{name}: {text!r} is not host:port")
    return host, int(port)


def parse_sentinels(text: str) -> tuple[Address, ...]:
    """Parse ``SD_SENTINELS`` (``host:port,host:port,...``)."""
    return tuple(parse_address(item, name="SD_SENTINELS") for item in text.split(",") if item.strip())


def parse_addr_map(text: str) -> tuple[tuple[Address, Address], ...]:
    """Parse ``SD_REDIS_ADDR_MAP`` (``host:port=host:port,...``) into (reported, dial) pairs."""
    pairs: list[tuple[Address, Address]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        reported, sep, dial = item.partition("=")
        if not sep:
            raise SettingsError(f"SD_REDIS_ADDR_MAP: {item!r} is not host:port=host:port")
        pairs.append(
            (
                parse_address(reported, name="SD_REDIS_ADDR_MAP"),
                parse_address(dial, name="SD_REDIS_ADDR_MAP"),
            )
        )
    return tuple(pairs)


def parse_components(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Parse ``SD_COMPONENTS`` (JSON object of component name -> list of check URLs)."""
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise SettingsError(f"SD_COMPONENTS is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError("SD_COMPONENTS must be a JSON object of name -> list of URLs")
    components: list[tuple[str, tuple[str, ...]]] = []
    for name, urls in raw.items():
        if not isinstance(urls, list) or not urls:
            raise SettingsError(f"SD_COMPONENTS[{name!r}] must be a non-empty list of URLs")
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise SettingsError(f"SD_COMPONENTS[{name!r}]: {url!r} is not an http(s) URL")
        components.append((str(name), tuple(urls)))
    return tuple(components)


@dataclass(frozen=True, kw_only=True)
class CommonSettings:
    """Settings every role shares: identity, ports, shutdown behaviour, logging."""

    role: str
    replica: str
    zone: str = ""
    port: int = 8080
    admin_port: int = 9901
    version: str = "0.1.0"
    drain_ms: int = 0
    shutdown_timeout_s: float = 5.0
    log_level: str = "INFO"
    access_log: bool = False

    @classmethod
    def from_env(cls, role: str, env: Mapping[str, str] | None = None) -> CommonSettings:
        """Read the common variables; ``role`` is the default for ``SD_ROLE``."""
        env = os.environ if env is None else env
        return cls(
            role=_raw(env, "SD_ROLE", role),
            replica=_raw(env, "SD_REPLICA", socket.gethostname()),
            zone=_raw(env, "SD_ZONE", ""),
            port=_int(env, "SD_PORT", 8080),
            admin_port=_int(env, "SD_ADMIN_PORT", 9901),
            version=_raw(env, "SD_VERSION", "0.1.0"),
            drain_ms=_int(env, "SD_DRAIN_MS", 0),
            shutdown_timeout_s=_float(env, "SD_SHUTDOWN_TIMEOUT_S", 5.0),
            log_level=_raw(env, "SD_LOG_LEVEL", "INFO").upper(),
            access_log=_bool(env, "SD_ACCESS_LOG", False),
        )


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Settings of the simulated model tier."""

    common: CommonSettings
    latency_ms: float = 50.0
    jitter_ms: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ModelSettings:
        """Read ``SD_LATENCY_MS`` and ``SD_JITTER_MS`` plus the common variables."""
        env = os.environ if env is None else env
        return cls(
            common=CommonSettings.from_env("model", env),
            latency_ms=_float(env, "SD_LATENCY_MS", 50.0),
            jitter_ms=_float(env, "SD_JITTER_MS", 10.0),
        )


@dataclass(frozen=True, kw_only=True)
class IntegrationSettings:
    """Settings of the stand-in third-party webhook sink."""

    common: CommonSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IntegrationSettings:
        """Read the common variables."""
        env = os.environ if env is None else env
        return cls(common=CommonSettings.from_env("integration", env))


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """Settings of the JSON API: dependencies, the store, and the resilience profile."""

    common: CommonSettings
    profile: Profile = "protected"
    model_url: str = ""
    integration_url: str = ""
    sentinels: tuple[Address, ...] = ()
    sentinel_master: str = "sessions"
    redis_password: str = field(default="", repr=False)
    redis_addr_map: tuple[tuple[Address, Address], ...] = ()
    model_timeout_ms: float = 1000.0
    store_timeout_ms: float = 300.0
    integration_timeout_ms: float = 300.0
    sentinel_timeout_ms: float = 100.0
    sentinel_watch_ms: float = 500.0
    ready_timeout_ms: float = 1000.0
    retry_attempts: int = 2
    breaker_failures: int = 5
    breaker_reset_s: float = 5.0
    bulkhead_model: int = 16
    bulkhead_store: int = 32
    bulkhead_integration: int = 64
    bulkhead_wait_ms: float = 50.0
    naive_workers: int = 4

    @property
    def protected(self) -> bool:
        """True when the protected resilience profile is on."""
        return self.profile == "protected"

    def dial_address(self, reported: Address) -> Address:
        """Map a primary address reported by Sentinel to the address to connect to."""
        host, port = reported
        for (from_host, from_port), dial in self.redis_addr_map:
            if from_host.lower() == str(host).lower() and from_port == int(port):
                return dial
        return reported

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        """Read the API variables plus the common ones."""
        env = os.environ if env is None else env
        sentinels = parse_sentinels(_raw(env, "SD_SENTINELS", ""))
        if not sentinels:
            raise SettingsError("SD_SENTINELS is required: host:port,host:port,host:port")
        return cls(
            common=CommonSettings.from_env("api", env),
            profile=_profile(env),
            model_url=_url(env, "SD_MODEL_URL", required=True),
            integration_url=_url(env, "SD_INTEGRATION_URL", required=False),
            sentinels=sentinels,
            sentinel_master=_raw(env, "SD_SENTINEL_MASTER", "sessions"),
            redis_password=env.get("SD_REDIS_PASSWORD", ""),
            redis_addr_map=parse_addr_map(_raw(env, "SD_REDIS_ADDR_MAP", "")),
            model_timeout_ms=_float(env, "SD_MODEL_TIMEOUT_MS", 1000.0, minimum=1.0),
            store_timeout_ms=_float(env, "SD_STORE_TIMEOUT_MS", 300.0, minimum=1.0),
            integration_timeout_ms=_float(env, "SD_INTEGRATION_TIMEOUT_MS", 300.0, minimum=1.0),
            sentinel_timeout_ms=_float(env, "SD_SENTINEL_TIMEOUT_MS", 100.0, minimum=1.0),
            sentinel_watch_ms=_float(env, "SD_SENTINEL_WATCH_MS", 500.0),
            ready_timeout_ms=_float(env, "SD_READY_TIMEOUT_MS", 1000.0, minimum=1.0),
            retry_attempts=_int(env, "SD_RETRY_ATTEMPTS", 2, minimum=1),
            breaker_failures=_int(env, "SD_BREAKER_FAILURES", 5, minimum=1),
            breaker_reset_s=_float(env, "SD_BREAKER_RESET_S", 5.0),
            bulkhead_model=_int(env, "SD_BULKHEAD_MODEL", 16, minimum=1),
            bulkhead_store=_int(env, "SD_BULKHEAD_STORE", 32, minimum=1),
            bulkhead_integration=_int(env, "SD_BULKHEAD_INTEGRATION", 64, minimum=1),
            bulkhead_wait_ms=_float(env, "SD_BULKHEAD_WAIT_MS", 50.0),
            naive_workers=_int(env, "SD_NAIVE_WORKERS", 4, minimum=1),
        )


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    """Settings of the server-rendered web tier."""

    common: CommonSettings
    api_url: str = ""
    api_timeout_ms: float = 1500.0
    profile: Profile = "protected"

    @property
    def protected(self) -> bool:
        """True when the protected profile (API timeout, degraded pages) is on."""
        return self.profile == "protected"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        """Read ``SD_API_URL``, ``SD_API_TIMEOUT_MS`` and ``SD_PROFILE`` plus the common ones."""
        env = os.environ if env is None else env
        return cls(
            common=CommonSettings.from_env("web", env),
            api_url=_url(env, "SD_API_URL", required=True),
            api_timeout_ms=_float(env, "SD_API_TIMEOUT_MS", 1500.0, minimum=1.0),
            profile=_profile(env),
        )


@dataclass(frozen=True, kw_only=True)
class StatusSettings:
    """Settings of the public status page."""

    common: CommonSettings
    components: tuple[tuple[str, tuple[str, ...]], ...] = ()
    poll_interval_s: float = 2.0
    check_timeout_ms: float = 1000.0
    mode: StatusMode = "live"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StatusSettings:
        """Read the status page variables (``SD_COMPONENTS`` and friends) plus the common ones."""
        env = os.environ if env is None else env
        raw_mode = _raw(env, "SD_STATUS_MODE", "live").lower()
        mode: StatusMode
        if raw_mode == "live":
            mode = "live"
        elif raw_mode == "static":
            mode = "static"
        else:
            raise SettingsError(f"SD_STATUS_MODE={raw_mode!r} is not one of live, static")
        return cls(
            common=CommonSettings.from_env("status", env),
            components=parse_components(env.get("SD_COMPONENTS", "")),
            poll_interval_s=_float(env, "SD_POLL_INTERVAL_S", 2.0, minimum=0.01),
            check_timeout_ms=_float(env, "SD_CHECK_TIMEOUT_MS", 1000.0, minimum=1.0),
            mode=mode,
        )
