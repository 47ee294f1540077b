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


def test_a_stack_whose_containers_are_gone_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """A destroy that failed on a stale network leaves the stack in Pulumi's state with no
    containers: reusing its name must say so, not fail later on the first missing container."""
    from failover_tests import stack as stack_mod
    from infra import docker_resources

    outs = fakes.outputs(fakes.containers([("api", 2), ("edge", 1)]))
    present: list[str] = [c.name for c in outs.containers]
    monkeypatch.setattr(docker_resources, "health_of", lambda stack: dict.fromkeys(present, "healthy"))
    stack_mod._refuse_half_removed("t", outs)  # all there: a kept stack to reuse
    present.clear()
    with pytest.raises(StackError, match=r"stack t is in Pulumi's state but 3 of its 3 containers are gone .*"
                       r"fix: stackdrill down -s t"):  # fmt: skip
        stack_mod._refuse_half_removed("t", outs)
