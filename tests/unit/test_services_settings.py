"""Settings of the replica-stack services: read from the environment once, bad values named."""

from __future__ import annotations

import pytest

from services.app.settings import (
    ApiSettings,
    CommonSettings,
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
    assert (common.role, common.replica, common.port, common.admin_port) == (
        "model",
        "m-1",
        8080,
        9901,
    )
    assert common.version == "0.1.0"


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
