"""Stack lifecycle on a real Docker engine: up, status, two stacks side by side, scale in place, down."""

from __future__ import annotations

import json
import os
from typing import Any

import requests

from infra import docker_resources, teardown, topology
from infra import outputs as O
from infra.lifecycle import StackManager
from tests.integration.conftest import cli, complete

LABELS = (O.LABEL_STACK, O.LABEL_TIER, O.LABEL_REPLICA, O.LABEL_ZONE)


def test_every_container_healthy_and_every_path_answers_on_both_edges(stack: Any) -> None:
    health = docker_resources.health_of(stack.name)
    names = {c.name for c in stack.containers()}
    t = stack.topology
    expected = (
        t.edge.replicas + t.web.replicas + t.api_lb.replicas + t.api.replicas + t.model_lb.replicas
        + t.model.replicas + t.integration.replicas + 1 + 1 + t.store.replicas + t.store.sentinels + 1
    )  # fmt: skip
    assert len(names) == expected  # ... + status + redis primary + chaos proxy
    assert {health[n] for n in names} == {"healthy"}, health
    assert len(set(stack.edges)) == 2
    for edge in stack.edges:
        assert edge.startswith("http://127.0.0.1:")
        resp = complete(edge)
        assert resp.status_code == 200 and resp.json()["fallback"] is False, resp.text
        assert resp.headers["X-Served-By"].startswith(f"sd-{stack.name}-api-")
        key = f"{edge}/v1/sessions/lifecycle-{edge[-5:]}"
        assert requests.put(key, json={"edge": edge}, timeout=5).status_code == 200
        read = requests.get(key, timeout=5)
        assert read.status_code == 200 and read.json()["data"] == {"edge": edge}
        home = requests.get(f"{edge}/", timeout=5)
        assert home.status_code == 200 and 'data-api-state="ok"' in home.text


def test_labels_names_and_loopback_ports(stack: Any) -> None:
    containers, networks = docker_resources.kit_objects(f"{O.LABEL_STACK}={stack.name}")
    assert len(containers) == len(stack.containers()) and len(networks) == 2
    for c in containers:
        assert all(label in c["Labels"] for label in LABELS), c["Names"]
        assert c["Names"][0].startswith(f"/sd-{stack.name}-")
        for port in c.get("Ports", []):
            if port.get("PublicPort"):
                assert port["IP"] == "127.0.0.1", (c["Names"], port)
    for n in networks:
        assert n["Name"].startswith(f"sd-{stack.name}-") and n["Labels"][O.LABEL_STACK] == stack.name


def test_status_command_lists_every_container(stack: Any) -> None:
    result = cli("status", "--stack-name", stack.name, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["edges"] == stack.edges and doc["status_url"] == stack.status_url
    assert {c["health"] for c in doc["containers"]} == {"healthy"}
    assert {c["tier"] for c in doc["containers"]} >= {"edge", "web", "api", "model", "redis", "sentinel"}


def test_redis_password_never_in_pulumi_state(stack: Any) -> None:
    api = stack.containers("api")[0].name
    password = docker_resources.client().api.inspect_container(api)["Config"]["Env"]
    secret = next(e.split("=", 1)[1] for e in password if e.startswith("SD_REDIS_PASSWORD="))
    backend = StackManager(stack.name).backend_dir
    for path in backend.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="ignore"), f"password in plain text in {path}"


def test_second_stack_side_by_side_then_down_removes_everything(stack: Any, monkeypatch: Any) -> None:
    """Also: a new stack in a backend that holds one already is recorded by the kit, not by
    `pulumi stack init` (infra.teardown.init_in_backend), and the CLI deploys it, encrypts its
    secret and destroys it."""
    from pulumi import automation as auto

    from infra import images

    def no_init(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("pulumi stack init ran for a stack the kit can record itself")

    monkeypatch.setattr(auto.Stack, "create", no_init)
    name = f"side{os.getpid()}"
    manager = StackManager(name, owner_pid=os.getpid())
    try:
        info = manager.up(topology.load("minimal"), images.app_image())
        state = json.loads(teardown.state_file(name).read_text())["checkpoint"]["latest"]
        assert state["secrets_providers"]["type"] == "passphrase"  # made by `up` on demand
        assert len(state["resources"]) > 10
        assert set(info.edges).isdisjoint(stack.edges)
        assert all(c.name.startswith(f"sd-{name}-") for c in info.containers)
        for edge in info.edges + stack.edges:  # both stacks serve at the same time
            assert complete(edge).status_code == 200
    finally:
        manager.down()
    containers, networks = docker_resources.kit_objects(f"{O.LABEL_STACK}={name}")
    volumes = docker_resources.client().volumes.list(filters={"label": f"{O.LABEL_STACK}={name}"})
    assert (containers, networks, volumes) == ([], [], []), "down left objects behind"
    on_disk = sorted(manager.backend_dir.rglob(f"*{name}*"))
    assert not on_disk and not manager.workdir.exists(), f"down left the stack's files behind: {on_disk}"
    assert complete(stack.edges[0]).status_code == 200  # the other stack is untouched


def test_scale_api_from_3_to_4_in_place(stack: Any) -> None:
    api = docker_resources.client().api
    before = {c.name: api.inspect_container(c.name)["Id"] for c in stack.containers()}
    topo = stack.topology
    grown = topo.model_copy(update={"api": topo.api.model_copy(update={"replicas": 4})})
    image = stack.image
    new = f"sd-{stack.name}-api-3"
    try:
        stack.update(grown, image)
        after = {c.name: api.inspect_container(c.name)["Id"] for c in stack.containers()}
        assert set(after) - set(before) == {new}
        # Every serving container is kept (LBs reload their config in place); only the status page,
        # whose check list names every replica, is re-created.
        replaced = sorted(n for n in before if after[n] != before[n])
        assert replaced == [f"sd-{stack.name}-status-0"], f"replaced instead of updated in place: {replaced}"
        served = {complete(stack.edges[i % 2]).headers["X-Served-By"] for i in range(40)}
        assert new in served, f"the new replica never served traffic: {sorted(served)}"
    finally:
        stack.update(topo, image)
    assert new not in {c.name for c in stack.containers()}
    assert not docker_resources.container_exists(new)


def test_invalid_topology_fails_in_one_line_and_creates_nothing(tmp_path: Any) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  stackdrill:topology:\n    api: {replicas: 0}\n")
    result = cli("up", "--topology", str(bad), "--stack-name", "badtopo")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: Pulumi.bad.yaml: api.replicas = 0 is out of range; it must be >= 1"
    assert docker_resources.kit_objects(f"{O.LABEL_STACK}=badtopo") == ([], [])


def test_doctor_reports_ok_and_says_how_to_fix_a_stopped_engine() -> None:
    ok = cli("doctor")
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.count("OK") == 6
    down = cli("doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert down.returncode == 3
    line = next(x for x in down.stdout.splitlines() if "docker engine" in x)
    assert "MISSING" in line and "dockerd stopped?" in line and "fix: make setup" in line
    assert "Traceback" not in down.stdout + down.stderr


def test_exit_codes_tell_bad_input_from_a_kit_that_cannot_run() -> None:
    unknown = cli("status", "--stack-name", "nosuchstack")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    assert "stack nosuchstack is not deployed" in unknown.stderr and "Traceback" not in unknown.stderr
    no_engine = cli("up", "--stack-name", "noengine", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert no_engine.returncode == 3, no_engine.stdout + no_engine.stderr
    assert "docker engine: not reachable" in no_engine.stderr and "Traceback" not in no_engine.stderr
