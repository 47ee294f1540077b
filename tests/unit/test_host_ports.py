"""Host port choice for published ports: never a port Docker holds, and a clash at start retried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from infra import docker_resources
from infra.errors import StackError


class _FakeSocket:
    """Hands out the ports of a script, one per bind, as the kernel would for port 0."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._port = 0

    def __call__(self, *_args: Any) -> _FakeSocket:
        return self

    def __enter__(self) -> _FakeSocket:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def bind(self, _addr: tuple[str, int]) -> None:
        self._port = self._ports.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self._port)


def test_free_port_skips_ports_docker_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_resources.socket, "socket", _FakeSocket([40001, 40002, 40003]))
    assert docker_resources.free_port(avoid={40001, 40002}) == 40003


def test_free_port_gives_up_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_resources.socket, "socket", _FakeSocket([40001] * 64))
    with pytest.raises(StackError, match="no free host port"):
        docker_resources.free_port(avoid={40001})


def _props() -> dict[str, Any]:
    return {"name": "sd-t-edge-0", "publish": [8080.0], "health": None}


def _patch(monkeypatch: pytest.MonkeyPatch, errors: list[str]) -> list[str]:
    """create_container on a fake engine whose starts fail with `errors`, in order, then succeed."""
    removed: list[str] = []
    monkeypatch.setattr(docker_resources, "client", lambda: object())
    monkeypatch.setattr(docker_resources, "remove_container", removed.append)
    monkeypatch.setattr(docker_resources, "host_ports", lambda cid, ports: {"8080": 40001})

    def create_and_start(*_args: Any) -> str:
        if errors:
            raise docker.errors.APIError("start failed", explanation=errors.pop(0))
        return "cid-1"

    monkeypatch.setattr(docker_resources, "_create_and_start", create_and_start)
    return removed


def test_a_port_clash_is_retried_with_fresh_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    removed = _patch(monkeypatch, ["Bind for 127.0.0.1:47071 failed: port is already allocated"])
    out = docker_resources.create_container(_props())
    assert out == {"container_id": "cid-1", "host_ports": {"8080": 40001}}
    assert removed == ["sd-t-edge-0", "sd-t-edge-0"]  # the leftover sweep, then the failed try


def test_another_start_error_is_the_stacks_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch(monkeypatch, ["invalid mount config", "never reached"])
    with pytest.raises(StackError, match="creating container sd-t-edge-0 failed: invalid mount config"):
        docker_resources.create_container(_props())


def test_a_clash_that_keeps_coming_back_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch(monkeypatch, ["port is already allocated"] * 5)
    with pytest.raises(StackError, match="port is already allocated"):
        docker_resources.create_container(_props())


def test_host_routes_reads_the_kernel_routing_table(tmp_path: Path) -> None:
    from infra.docker_resources import host_routes

    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"  # the default route: no subnet
        "br-1\t0004D50A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  # 10.213.4.0/24
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"  # 172.17.0.0/16
    )
    assert host_routes(table) == {"10.213.4.0/24", "172.17.0.0/16"}
    assert host_routes(tmp_path / "absent") == set()
