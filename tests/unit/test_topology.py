"""Topology validation: one test per rule, each checking the one-line message."""

from __future__ import annotations

import pytest

from infra import topology
from infra.errors import TopologyError


def _error(data: object) -> str:
    with pytest.raises(TopologyError) as info:
        topology.parse(data, source="t.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_shipped_topologies_are_valid() -> None:
    assert set(topology.builtin_names()) >= {"default", "minimal", "ha"}
    default = topology.load("default")
    assert (default.edge.replicas, default.web.replicas, default.api.replicas) == (2, 2, 3)
    assert default.api.resilience.profile == "protected"
    minimal = topology.load("minimal")
    assert minimal.api.replicas == minimal.web.replicas == minimal.edge.replicas == 1


def test_unknown_key_names_key_and_allowed_keys() -> None:
    msg = _error({"api": {"replica": 3}})
    assert "unknown key 'api.replica'" in msg and "replicas" in msg


def test_zero_replicas() -> None:
    assert _error({"api": {"replicas": 0}}) == "t.yaml: api.replicas = 0 is out of range; it must be >= 1"


def test_negative_timeout() -> None:
    msg = _error({"edge": {"timeout_server_ms": -5}})
    assert msg == "t.yaml: edge.timeout_server_ms = -5 is out of range; it must be > 0"


def test_unknown_profile() -> None:
    msg = _error({"api": {"resilience": {"profile": "yolo"}}})
    assert "api.resilience.profile = 'yolo' is not allowed" in msg and "'protected' or 'naive'" in msg


def test_non_integer_port() -> None:
    assert _error({"service_port": "http"}) == "t.yaml: service_port = 'http' is not an integer; give a whole number"


def test_privileged_port_refused() -> None:
    assert "service_port = 80 is out of range; it must be >= 1024" in _error({"service_port": 80})


def test_quorum_above_sentinels() -> None:
    assert "store.quorum 4 > store.sentinels 3" in _error({"store": {"quorum": 4}})


def test_not_a_mapping() -> None:
    assert "must be a mapping" in _error(["api"])


def test_unknown_topology_name_lists_the_shipped_ones() -> None:
    with pytest.raises(TopologyError, match="unknown topology 'nope'; use one of default, ha, minimal"):
        topology.load("nope")


def test_zones_round_robin() -> None:
    topo = topology.parse({"zones": ["a", "b"]})
    assert [topo.zone_of(i) for i in range(3)] == ["a", "b", "a"]


def test_slowstart_ramps_a_returning_server_on_the_default_topology_only() -> None:
    from infra.components.common import render

    def cfg(name: str) -> str:
        lb = topology.load(name).api_lb
        return render(
            "haproxy/haproxy.cfg.j2",
            lb=lb,
            port=8080,
            agent_port=9902,
            routes=(),
            default_backend="api",
            backends=[{"name": "api", "servers": ["api-0", "api-1"]}],
        )

    default_server = next(line for line in cfg("default").splitlines() if "default-server" in line)
    assert "slowstart 5000ms" in default_server
    assert "slowstart" not in cfg("naive")
    # A server in transition is checked again 100 ms later, not a whole `inter` later.
    assert "check inter 500 fastinter 100 fall 2" in default_server
    assert "fastinter" not in cfg("naive")


def test_agent_checks_weigh_servers_on_the_good_topologies_only() -> None:
    from infra.components.common import render

    def default_server(name: str, lb: str) -> str:
        cfg = render(
            "haproxy/haproxy.cfg.j2",
            lb=getattr(topology.load(name), lb),
            port=8080,
            agent_port=9902,
            routes=(),
            default_backend="api",
            backends=[{"name": "api", "servers": ["api-0"]}],
        )
        return next(line for line in cfg.splitlines() if "default-server" in line)

    for name in ("default", "ha"):
        for lb in ("edge", "api_lb", "model_lb"):
            # weight 100: a percentage of HAProxy's default weight 1 leaves no share between all and nothing
            assert "weight 100 agent-check agent-port 9902 agent-inter 500ms" in default_server(name, lb), (name, lb)
    for name in ("naive", "minimal"):
        assert "agent-check" not in default_server(name, "api_lb")


def test_a_failed_up_names_the_resources_errors() -> None:
    from types import SimpleNamespace

    from infra.lifecycle import _event_sink

    errors: list[str] = []
    sink = _event_sink(None, errors)
    assert sink is not None
    urn = "urn:pulumi:s::stackdrill::pulumi-python:dynamic:Container::sd-x-api-0"
    for severity, text in (("info", "pulling"), ("error", "Conflict.  The container name\n is in use")):
        diag = SimpleNamespace(severity=severity, message=text, urn=urn)
        sink(SimpleNamespace(diagnostic_event=diag, resource_pre_event=None, res_outputs_event=None))  # type: ignore[arg-type]
    assert errors == ["sd-x-api-0: Conflict. The container name is in use"]
