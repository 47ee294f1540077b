"""Settings of every replica-stack role, read once from the environment into frozen dataclasses.

Each role calls its ``*Settings.from_env()`` once at start; nothing else reads ``os.environ``.
A bad value raises :class:`SettingsError` naming the variable, the bad value and what is allowed.

One contract, both directions: every field names its variable once (``var(...)``), and
``to_env()`` renders a settings object back into those variables. The Pulumi program builds
settings objects and deploys their ``to_env()``; it never spells an ``SD_*`` name itself.

Variables and defaults, by role:

    every role   SD_ROLE (the module's role), SD_REPLICA (hostname), SD_ZONE (""),
                 SD_PORT (8080, on 0.0.0.0), SD_ADMIN_PORT (9901, on 127.0.0.1 only),
                 SD_AGENT_PORT (9902, on 0.0.0.0; 0 = off: the load agent LBs read weights from),
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

Profile = Literal["protected", "naive"]
StatusMode = Literal["live", "static"]
Address = tuple[str, int]

PROFILES: tuple[Profile, ...] = ("protected", "naive")
DEFAULT_ADMIN_PORT = 9901  # the admin listener (fault injection), on 127.0.0.1 only
DEFAULT_AGENT_PORT = 9902  # the load agent HAProxy's agent checks read weights from; 0 = off
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


Parse = Callable[[Mapping[str, str], str, Any], Any]  # (env, variable, default) -> value


@dataclass(frozen=True)
class Var:
    """How one settings field travels as an environment variable."""

    name: str
    parse: Parse
    render: Callable[[Any], str] = str
    secret: bool = False


def var(name: str, default: Any, parse: Parse, render: Callable[[Any], str] = str, *, secret: bool = False) -> Any:
    """A settings field read from (and rendered to) the variable ``name``."""
    return field(default=default, repr=not secret, metadata={"var": Var(name, parse, render, secret)})


def _text(env: Mapping[str, str], name: str, default: Any) -> str:
    return _raw(env, name, str(default))


def _secret(env: Mapping[str, str], name: str, default: Any) -> str:
    return env.get(name, default)


def _upper(env: Mapping[str, str], name: str, default: Any) -> str:
    return _raw(env, name, str(default)).upper()


def _int_min(minimum: int) -> Parse:
    return lambda env, name, default: _int(env, name, default, minimum=minimum)


def _float_min(minimum: float) -> Parse:
    return lambda env, name, default: _float(env, name, default, minimum=minimum)


def _flag(env: Mapping[str, str], name: str, default: Any) -> bool:
    return _bool(env, name, bool(default))


def _choice(choices: tuple[str, ...]) -> Parse:
    def parse(env: Mapping[str, str], name: str, default: Any) -> str:
        raw = _raw(env, name, str(default)).lower()
        if raw not in choices:
            raise SettingsError(f"{name}={raw!r} is not one of {', '.join(choices)}")
        return raw

    return parse


def _url_of(*, required: bool) -> Parse:
    return lambda env, name, default: _url(env, name, required=required)


def _sentinel_list(env: Mapping[str, str], name: str, default: Any) -> tuple[Address, ...]:
    sentinels = parse_sentinels(_raw(env, name, ""))
    if not sentinels:
        raise SettingsError(f"{name} is required: host:port,host:port,host:port")
    return sentinels


def _addr_map(env: Mapping[str, str], name: str, default: Any) -> tuple[tuple[Address, Address], ...]:
    return parse_addr_map(_raw(env, name, ""))


def _components(env: Mapping[str, str], name: str, default: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return parse_components(env.get(name, ""))


def _render_flag(value: bool) -> str:
    return "1" if value else "0"


def _render_address(address: Address) -> str:
    return f"{address[0]}:{address[1]}"


def _render_sentinels(sentinels: tuple[Address, ...]) -> str:
    return ",".join(_render_address(a) for a in sentinels)


def _render_addr_map(pairs: tuple[tuple[Address, Address], ...]) -> str:
    return ",".join(f"{_render_address(a)}={_render_address(b)}" for a, b in pairs)


def _render_components(components: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    return json.dumps({name: list(urls) for name, urls in components})


S = TypeVar("S", bound="_Settings")


class _Settings:
    """Reading and rendering through the fields' ``Var``s (a ``common`` field nests)."""

    @classmethod
    def _read(cls: type[S], env: Mapping[str, str], **defaults: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            spec = f.metadata.get("var")
            if spec is not None:
                values[f.name] = spec.parse(env, spec.name, defaults.get(f.name, f.default))
        return values

    @classmethod
    def env_name(cls, field_name: str) -> str:
        """The variable that carries ``field_name``."""
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name == field_name and "var" in f.metadata:
                return str(f.metadata["var"].name)
        raise KeyError(f"{cls.__name__} has no variable for {field_name!r}")

    def to_env(self, *, secrets: bool = False) -> dict[str, str]:
        """Every variable of these settings (and of ``common``), as ``from_env`` reads them back.

        Secret fields are left out unless asked for: they travel as secrets of their own.
        """
        out: dict[str, str] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            spec = f.metadata.get("var")
            if spec is None:
                if isinstance(value, _Settings):
                    out |= value.to_env(secrets=secrets)
            elif secrets or not spec.secret:
                out[spec.name] = spec.render(value)
        return out


@dataclass(frozen=True, kw_only=True)
class CommonSettings(_Settings):
    """Settings every role shares: identity, ports, shutdown behaviour, logging."""

    role: str = var("SD_ROLE", "", _text)
    replica: str = var("SD_REPLICA", "", _text)
    zone: str = var("SD_ZONE", "", _text)
    port: int = var("SD_PORT", 8080, _int_min(0))
    admin_port: int = var("SD_ADMIN_PORT", DEFAULT_ADMIN_PORT, _int_min(0))
    agent_port: int = var("SD_AGENT_PORT", DEFAULT_AGENT_PORT, _int_min(0))
    version: str = var("SD_VERSION", "0.1.0", _text)
    drain_ms: int = var("SD_DRAIN_MS", 0, _int_min(0))
    shutdown_timeout_s: float = var("SD_SHUTDOWN_TIMEOUT_S", 5.0, _float_min(0.0))
    log_level: str = var("SD_LOG_LEVEL", "INFO", _upper)
    access_log: bool = var("SD_ACCESS_LOG", False, _flag, _render_flag)

    def __post_init__(self) -> None:
        ports = {"SD_PORT": self.port, "SD_ADMIN_PORT": self.admin_port, "SD_AGENT_PORT": self.agent_port}
        taken: dict[int, str] = {}
        for name, port in ports.items():
            if port and port in taken:
                raise SettingsError(f"{name}={port} is {taken[port]} already; give each listener its own port")
            taken[port] = name

    @classmethod
    def from_env(cls, role: str, env: Mapping[str, str] | None = None) -> CommonSettings:
        """Read the common variables; ``role`` is the default for ``SD_ROLE``."""
        env = os.environ if env is None else env
        return cls(**cls._read(env, role=role, replica=socket.gethostname()))


@dataclass(frozen=True, kw_only=True)
class ModelSettings(_Settings):
    """Settings of the simulated model tier."""

    common: CommonSettings
    latency_ms: float = var("SD_LATENCY_MS", 50.0, _float_min(0.0))
    jitter_ms: float = var("SD_JITTER_MS", 10.0, _float_min(0.0))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ModelSettings:
        """Read ``SD_LATENCY_MS`` and ``SD_JITTER_MS`` plus the common variables."""
        env = os.environ if env is None else env
        return cls(common=CommonSettings.from_env("model", env), **cls._read(env))


@dataclass(frozen=True, kw_only=True)
class IntegrationSettings(_Settings):
    """Settings of the stand-in third-party webhook sink."""

    common: CommonSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IntegrationSettings:
        """Read the common variables."""
        env = os.environ if env is None else env
        return cls(common=CommonSettings.from_env("integration", env))


@dataclass(frozen=True, kw_only=True)
class ApiSettings(_Settings):
    """Settings of the JSON API: dependencies, the store, and the resilience profile."""

    common: CommonSettings
    profile: Profile = var("SD_PROFILE", "protected", _choice(PROFILES))
    model_url: str = var("SD_MODEL_URL", "", _url_of(required=True))
    integration_url: str = var("SD_INTEGRATION_URL", "", _url_of(required=False))
    sentinels: tuple[Address, ...] = var("SD_SENTINELS", (), _sentinel_list, _render_sentinels)
    sentinel_master: str = var("SD_SENTINEL_MASTER", "sessions", _text)
    redis_password: str = var("SD_REDIS_PASSWORD", "", _secret, secret=True)
    redis_addr_map: tuple[tuple[Address, Address], ...] = var("SD_REDIS_ADDR_MAP", (), _addr_map, _render_addr_map)
    model_timeout_ms: float = var("SD_MODEL_TIMEOUT_MS", 1000.0, _float_min(1.0))
    store_timeout_ms: float = var("SD_STORE_TIMEOUT_MS", 300.0, _float_min(1.0))
    integration_timeout_ms: float = var("SD_INTEGRATION_TIMEOUT_MS", 300.0, _float_min(1.0))
    sentinel_timeout_ms: float = var("SD_SENTINEL_TIMEOUT_MS", 100.0, _float_min(1.0))
    sentinel_watch_ms: float = var("SD_SENTINEL_WATCH_MS", 500.0, _float_min(0.0))
    ready_timeout_ms: float = var("SD_READY_TIMEOUT_MS", 1000.0, _float_min(1.0))
    retry_attempts: int = var("SD_RETRY_ATTEMPTS", 2, _int_min(1))
    breaker_failures: int = var("SD_BREAKER_FAILURES", 5, _int_min(1))
    breaker_reset_s: float = var("SD_BREAKER_RESET_S", 5.0, _float_min(0.0))
    bulkhead_model: int = var("SD_BULKHEAD_MODEL", 16, _int_min(1))
    bulkhead_store: int = var("SD_BULKHEAD_STORE", 32, _int_min(1))
    bulkhead_integration: int = var("SD_BULKHEAD_INTEGRATION", 64, _int_min(1))
    bulkhead_wait_ms: float = var("SD_BULKHEAD_WAIT_MS", 50.0, _float_min(0.0))
    naive_workers: int = var("SD_NAIVE_WORKERS", 4, _int_min(1))

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
        return cls(common=CommonSettings.from_env("api", env), **cls._read(env))


@dataclass(frozen=True, kw_only=True)
class WebSettings(_Settings):
    """Settings of the server-rendered web tier."""

    common: CommonSettings
    api_url: str = var("SD_API_URL", "", _url_of(required=True))
    api_timeout_ms: float = var("SD_API_TIMEOUT_MS", 1500.0, _float_min(1.0))
    profile: Profile = var("SD_PROFILE", "protected", _choice(PROFILES))

    @property
    def protected(self) -> bool:
        """True when the protected profile (API timeout, degraded pages) is on."""
        return self.profile == "protected"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        """Read ``SD_API_URL``, ``SD_API_TIMEOUT_MS`` and ``SD_PROFILE`` plus the common ones."""
        env = os.environ if env is None else env
        return cls(common=CommonSettings.from_env("web", env), **cls._read(env))


@dataclass(frozen=True, kw_only=True)
class StatusSettings(_Settings):
    """Settings of the public status page."""

    common: CommonSettings
    components: tuple[tuple[str, tuple[str, ...]], ...] = var("SD_COMPONENTS", (), _components, _render_components)
    poll_interval_s: float = var("SD_POLL_INTERVAL_S", 2.0, _float_min(0.01))
    check_timeout_ms: float = var("SD_CHECK_TIMEOUT_MS", 1000.0, _float_min(1.0))
    mode: StatusMode = var("SD_STATUS_MODE", "live", _choice(STATUS_MODES))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StatusSettings:
        """Read the status page variables (``SD_COMPONENTS`` and friends) plus the common ones."""
        env = os.environ if env is None else env
        return cls(common=CommonSettings.from_env("status", env), **cls._read(env))


ServiceSettings = ModelSettings | IntegrationSettings | ApiSettings | WebSettings | StatusSettings
