"""The warm dynamic-provider host: the engine can attach to it, one engine at a time, and it never
outlives the kit process that started it. A real host process, spoken to over gRPC as the engine does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2_grpc

from infra import provider_host

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def host() -> Iterator[provider_host._Host]:
    h = provider_host._Host()
    h.start()
    yield h
    h.stop()


WAIT_S = 30.0  # for the host to listen (a cold start takes about a second here)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent has not reaped it yet).
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _port(env: dict[str, str]) -> int:
    package, port = env[provider_host.ATTACH_VAR].split(":")
    assert package == "pulumi-python"
    return int(port)


def test_the_engine_attaches_to_the_warm_host(host: provider_host._Host) -> None:
    with host.attached(WAIT_S) as env:
        port = _port(env)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            assert stub.GetPluginInfo(empty_pb2.Empty(), timeout=10).version
            # The call the engine makes first on a host it did not start; Pulumi's own host fails it.
            stub.Attach(plugin_pb2.PluginAttach(address="127.0.0.1:1"), timeout=10)
    # The host stays up for the process's next operation, on the same port.
    with host.attached(WAIT_S) as again:
        assert _port(again) == port


def test_one_engine_at_a_time(host: provider_host._Host) -> None:
    with host.attached(WAIT_S) as first:
        assert first
        with host.attached(WAIT_S) as second:
            assert second == {}  # a second engine starts its own plugin, as without a warm host
    with host.attached(WAIT_S) as third:
        assert third == first


def test_a_new_docker_host_gets_a_new_provider_host(host: provider_host._Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host started under one DOCKER_HOST never serves an engine deploying to another."""
    with host.attached(WAIT_S):
        first = host._proc
    assert first is not None
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/another-engine.sock")
    with host.attached(WAIT_S) as env:
        assert env == {}  # the host serves the old engine: not this operation
    host.start()
    with host.attached(WAIT_S) as env:
        assert env and host._proc is not first
    assert first.poll() is not None


def test_it_can_be_turned_off(host: provider_host._Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKDRILL_NO_WARM_HOST", "1")
    with host.attached(WAIT_S) as env:
        assert env == {}


def test_no_host_started_means_the_engine_starts_its_own() -> None:
    """`attached` never starts a host (a lone `stackdrill down` gains nothing from one)."""
    cold = provider_host._Host()
    with cold.attached(WAIT_S) as env:
        assert env == {} and cold._proc is None


def test_the_host_dies_with_a_killed_owner() -> None:
    """SIGKILL leaves no chance to clean up: the host sees its stdin close and exits by itself."""
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from infra import provider_host\n"
            "provider_host.start()\n"
            "with provider_host.attached(30) as env:\n"
            "    print(provider_host._HOST._proc.pid, env, flush=True)\n"
            "    time.sleep(120)\n",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        host_pid = int(line.split()[0])
        assert "pulumi-python:" in line and _alive(host_pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(host_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(host_pid), "the provider host outlived the process that started it"
    finally:
        owner.kill()
        owner.wait()


def test_stop_ends_the_host(host: provider_host._Host) -> None:
    with host.attached(WAIT_S):
        proc = host._proc
    assert proc is not None and proc.poll() is None
    host.stop()
    assert proc.poll() is not None


def test_an_early_engine_gets_the_port_the_host_will_listen_on() -> None:
    """`up` points its engine at a host still importing: the port is reserved before the host
    starts, the host serves on exactly that port, and nothing else can take it meanwhile."""
    h = provider_host._Host()
    h.start()
    try:
        with h.attached(early=True) as env:
            port = _port(env)  # at once: the host has not printed its port yet
        probe = socket.socket()
        with pytest.raises(OSError):  # held for the host against every other program
            probe.bind(("127.0.0.1", port))
        probe.close()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=WAIT_S)
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            assert stub.GetPluginInfo(empty_pb2.Empty(), timeout=10).version
        with h.attached(WAIT_S) as again:
            assert _port(again) == port  # the host said it listens there
        assert h._reserved is None  # the reservation is gone once the host listens
    finally:
        h.stop()


def test_without_early_a_starting_host_is_not_handed_out() -> None:
    h = provider_host._Host()
    h.start()
    try:
        with h.attached() as env:
            assert env == {}  # still importing: a destroy or a preview starts its own plugin
    finally:
        h.stop()
