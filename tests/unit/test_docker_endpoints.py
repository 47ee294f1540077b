"""Teardown takes containers off their networks one endpoint at a time (Docker 20.10's stale endpoint count)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker.errors
import pytest

from infra import docker_resources


class _Api:
    """The engine calls `remove_container` makes, recording their order and overlap."""

    def __init__(self, running: bool = True, paused: bool = False) -> None:
        self.running = running
        self.paused = paused
        self.calls: list[tuple[str, str]] = []
        self.inside = 0
        self.most_inside = 0
        self.lock = threading.Lock()

    def inspect_container(self, name: str) -> dict[str, Any]:
        if name == "gone":
            raise docker.errors.NotFound("no such container")
        networks = {"sd-t-back": {}, "sd-t-front": {}}
        return {"State": {"Running": self.running, "Paused": self.paused}, "NetworkSettings": {"Networks": networks}}

    def pause(self, name: str) -> None:
        with self.lock:
            self.calls.append(("pause", name))

    def disconnect_container_from_network(self, name: str, network: str, force: bool) -> None:
        assert force
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.01)
        with self.lock:
            self.inside -= 1
            self.calls.append(("disconnect", f"{name}/{network}"))

    def remove_container(self, name: str, force: bool, v: bool) -> None:
        if name == "gone":
            raise docker.errors.NotFound("no such container")
        with self.lock:
            self.calls.append(("remove", name))


def _patch(monkeypatch: pytest.MonkeyPatch, api: _Api) -> None:
    class _Client:
        pass

    fake = _Client()
    fake.api = api  # type: ignore[attr-defined]
    monkeypatch.setattr(docker_resources, "client", lambda: fake)


def test_a_running_container_is_paused_and_leaves_each_network_before_it_is_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = _Api()
    _patch(monkeypatch, api)
    docker_resources.remove_container("c1")
    assert api.calls == [
        ("pause", "c1"),
        ("disconnect", "c1/sd-t-back"),
        ("disconnect", "c1/sd-t-front"),
        ("remove", "c1"),
    ]


def test_a_paused_container_is_not_paused_again(monkeypatch: pytest.MonkeyPatch) -> None:
    api = _Api(paused=True)
    _patch(monkeypatch, api)
    docker_resources.remove_container("c1")
    assert [op for op, _ in api.calls] == ["disconnect", "disconnect", "remove"]


def test_parallel_removals_never_delete_two_endpoints_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    api = _Api()
    _patch(monkeypatch, api)
    names = [f"c{i}" for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(docker_resources.remove_container, names))
    assert api.most_inside == 1
    for name in names:
        mine = [i for i, (_op, what) in enumerate(api.calls) if what.startswith(f"{name}/") or what == name]
        assert [api.calls[i][0] for i in mine] == ["pause", "disconnect", "disconnect", "remove"]


def test_a_stopped_or_missing_container_is_just_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    api = _Api(running=False)
    _patch(monkeypatch, api)
    docker_resources.remove_container("c1")
    docker_resources.remove_container("gone")
    assert api.calls == [("remove", "c1")]
