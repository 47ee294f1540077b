"""The stack outputs contract: the program's keys are the typed model's fields, parsed once."""

from __future__ import annotations

import pytest

from infra import outputs as O
from infra.errors import StackError
from infra.outputs import StackOutputs
from tests import fakes


def test_every_exported_key_is_a_field_of_the_typed_outputs() -> None:
    assert set(O.OUTPUT_KEYS) == set(StackOutputs.model_fields)


def test_outputs_parse_into_frozen_typed_values() -> None:
    raw = fakes.outputs(fakes.containers([("api", 2), ("redis", 1)])).to_dict()
    parsed = StackOutputs.parse(raw)
    assert parsed.containers[1].name == "sd-t-api-1" and parsed.containers[1].zone == "b"
    assert [c.name for c in parsed.of_tier("redis")] == ["sd-t-redis-0"]
    assert parsed.container("sd-t-api-0").tier == "api"
    with pytest.raises(Exception, match="frozen"):
        parsed.stack = "other"  # type: ignore[misc]
    assert StackOutputs.parse(parsed.to_dict()) == parsed


def test_outputs_of_another_kit_version_are_one_clear_error() -> None:
    raw = fakes.outputs(fakes.containers([("api", 1)])).to_dict()
    del raw[O.TOXIPROXY_URL]
    with pytest.raises(
        StackError, match=r"^stack t has outputs this kit cannot read \(toxiproxy_url: Field required\)"
    ):
        StackOutputs.parse(raw)
