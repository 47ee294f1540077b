"""Settings of the replica-stack services: read from the environment once, bad values named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.app.settings import (
    ApiSettings,
    CommonSettings,
    IntegrationSettings,
    ModelSettings,
    SettingsError,
    StatusSettings,
    WebSettings,
    parse_addr_map,
    parse_components,
    parse_sentinels,
)

API_ENV = {
    "SD_REPLICA": "sd-default-api-2",
    "SD_ZONE": "a",
    "SD_MODEL_URL": "http://sd-default-chaos:18001/",
    "SD_INTEGRATION_URL": "http://sd-default-chaos:18003",
    "SD_SENTINELS": "sentinel-0:26379, sentinel-1:26379,sentinel-2:26379",
    "SD_REDIS_PASSWORD": "s3cret",
    "SD_REDIS_ADDR_MAP": "redishost0:6379=chaoshost:18100,redishost1:6379=chaoshost:18101",
}


def test_common_defaults() -> None:
    common = CommonSettings.from_env("model", {"SD_REPLICA": "m-1"})
    assert (common.role, common.replica, common.port, common.admin_port, common.agent_port) == (
        "model",
        "m-1",
        8080,
        9901,
        9902,
    )
    assert common.version == "0.1.0"


def test_two_listeners_on_one_port_are_refused() -> None:
    with pytest.raises(SettingsError, match="SD_AGENT_PORT=8080 is SD_PORT already"):
        CommonSettings.from_env("api", {"SD_AGENT_PORT": "8080"})
    with pytest.raises(SettingsError, match="SD_AGENT_PORT='x' is not an integer"):
        CommonSettings.from_env("api", {"SD_AGENT_PORT": "x"})
    assert CommonSettings.from_env("api", {"SD_AGENT_PORT": "0", "SD_ADMIN_PORT": "0"}).agent_port == 0


def test_api_settings_from_env() -> None:
    api = ApiSettings.from_env(API_ENV)
    assert api.profile == "protected"
    assert api.model_url == "http://sd-default-chaos:18001"
    assert api.sentinels[1] == ("sentinel-1", 26379)
    assert api.sentinel_master == "sessions"
    assert (api.model_timeout_ms, api.store_timeout_ms, api.integration_timeout_ms) == (
        1000.0,
        300.0,
        300.0,
    )
    assert (api.retry_attempts, api.breaker_failures, api.breaker_reset_s) == (2, 5, 5.0)
    assert (api.bulkhead_model, api.bulkhead_store, api.naive_workers) == (16, 32, 4)
    assert "s3cret" not in repr(api)


def test_addr_map_maps_the_reported_primary_and_passes_others_through() -> None:
    api = ApiSettings.from_env(API_ENV)
    assert api.dial_address(("redishost1", 6379)) == ("chaoshost", 18101)
    assert api.dial_address(("REDISHOST0", 6379)) == ("chaoshost", 18100)
    assert api.dial_address(("redishost2", 6379)) == ("redishost2", 6379)
    assert parse_addr_map("") == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SD_SENTINELS": ""}, "SD_SENTINELS is required"),
        (
            {"SD_SENTINELS": "host-without-port"},
            "SD_SENTINELS: 'host-without-port' is not host:port",
        ),
        ({"SD_MODEL_URL": ""}, "SD_MODEL_URL is required"),
        ({"SD_MODEL_URL": "sd-model:8080"}, "SD_MODEL_URL='sd-model:8080' is not an http(s) URL"),
        ({"SD_PROFILE": "yolo"}, "SD_PROFILE='yolo' is not one of protected, naive"),
        ({"SD_RETRY_ATTEMPTS": "0"}, "SD_RETRY_ATTEMPTS=0 is below the minimum 1"),
        ({"SD_MODEL_TIMEOUT_MS": "soon"}, "SD_MODEL_TIMEOUT_MS='soon' is not a number"),
        ({"SD_REDIS_ADDR_MAP": "a:1"}, "SD_REDIS_ADDR_MAP: 'a:1' is not host:port=host:port"),
    ],
)
def test_bad_api_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        ApiSettings.from_env({**API_ENV, **env})
    assert str(excinfo.value).startswith(message)


def test_model_web_and_status_settings() -> None:
    model = ModelSettings.from_env({"SD_LATENCY_MS": "200", "SD_JITTER_MS": "0"})
    assert (model.latency_ms, model.jitter_ms) == (200.0, 0.0)
    web = WebSettings.from_env({"SD_API_URL": "http://lb:8080", "SD_PROFILE": "naive"})
    assert (web.api_url, web.api_timeout_ms, web.protected) == ("http://lb:8080", 1500.0, False)
    status = StatusSettings.from_env(
        {"SD_COMPONENTS": '{"api": ["http://a:8080/healthz"]}', "SD_STATUS_MODE": "static"}
    )
    assert status.components == (("api", ("http://a:8080/healthz",)),)
    assert (status.mode, status.poll_interval_s, status.check_timeout_ms) == ("static", 2.0, 1000.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "SD_COMPONENTS must be a JSON object"),
        ('{"api": []}', "SD_COMPONENTS['api'] must be a non-empty list of URLs"),
        ('{"api": ["ftp://x"]}', "SD_COMPONENTS['api']: 'ftp://x' is not an http(s) URL"),
        ("{", "SD_COMPONENTS is not valid JSON"),
    ],
)
def test_bad_components_are_named(text: str, message: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        parse_components(text)
    assert str(excinfo.value).startswith(message)


def test_sentinel_list_parsing() -> None:
    assert parse_sentinels("a:1,b:2,") == (("a", 1), ("b", 2))


def _common(role: str) -> CommonSettings:
    return CommonSettings(role=role, replica=f"sd-x-{role}-1", zone="b", port=8081, drain_ms=250, access_log=True)


ROUND_TRIPS = [
    ModelSettings(common=_common("model"), latency_ms=75.5, jitter_ms=0.0),
    IntegrationSettings(common=_common("integration")),
    ApiSettings(
        common=_common("api"),
        profile="naive",
        model_url="http://chaos:18001",
        integration_url="http://chaos:18003",
        sentinels=(("s-0", 26379), ("s-1", 26379)),
        redis_password="pw",
        redis_addr_map=((("r-0", 6379), ("chaos", 18100)), (("r-1", 6379), ("chaos", 18101))),
        model_timeout_ms=600.0,
        store_timeout_ms=800.0,
        retry_attempts=3,
        bulkhead_store=7,
        naive_workers=2,
    ),
    WebSettings(common=_common("web"), api_url="http://chaos:18000", api_timeout_ms=800.0, profile="naive"),
    StatusSettings(
        common=_common("status"),
        components=(("api", ("http://a:8080/healthz", "http://lb:8080/readyz#store")),),
        poll_interval_s=1.0,
        mode="static",
    ),
]


@pytest.mark.parametrize("settings", ROUND_TRIPS, ids=lambda s: type(s).__name__)
def test_settings_render_the_environment_they_are_read_from(settings: Any) -> None:
    """One contract both ways: what the Pulumi program deploys is what the service reads."""
    env = settings.to_env(secrets=True)
    assert all(name.startswith("SD_") for name in env)
    assert type(settings).from_env(env) == settings


def test_secrets_are_not_rendered_unless_asked() -> None:
    api = next(s for s in ROUND_TRIPS if isinstance(s, ApiSettings))
    assert ApiSettings.env_name("redis_password") == "SD_REDIS_PASSWORD"
    assert "SD_REDIS_PASSWORD" not in api.to_env()
    assert api.to_env(secrets=True)["SD_REDIS_PASSWORD"] == "pw"


def test_the_program_spells_no_variable_name_itself() -> None:
    """Every SD_* name lives in services/app/settings.py; infra builds settings objects."""
    root = Path(__file__).resolve().parents[2] / "infra"
    spelled = [
        f"{path.name}: {line.strip()}"
        for path in root.rglob("*.py")
        for line in path.read_text().splitlines()
        if '"SD_' in line
    ]
    assert not spelled, spelled
