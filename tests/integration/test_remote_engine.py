"""DOCKER_HOST pointing at another engine: a second dockerd on its own socket and data root takes a
whole stack (images, up, a drill, down) while the first engine holds nothing of it.

The second engine shares this host's kernel, so it runs without touching iptables (two engines
must not both rewrite Docker's chains) on an address pool of its own (the kit's own stack subnets
avoid every subnet the host routes: `docker_resources.used_subnets`). With bridge netfilter on,
the first engine's FORWARD policy (DROP) would drop traffic between containers on one of the
second engine's bridges, so the test accepts bridged traffic (`physdev --physdev-is-bridged`,
which the first engine accepts on its own bridges anyway) in DOCKER-USER, Docker's chain for user
rules, and removes the rule afterwards. Its published ports go through docker-proxy on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from infra import outputs as O
from infra.wait import wait_until
from tests.integration.conftest import ROOT, STACKDRILL, light_drill

POOL = "10.231.0.0/16"  # apart from the first engine's pools (172.17-31.x, 192.168.x) and the kit's 10.213.x
RULES = (["-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"],)

SCENARIO = light_drill("remote-latency", ", on a stack of the second engine")


def _iptables(action: str, rule: list[str]) -> None:
    subprocess.run(["iptables", action, "DOCKER-USER", *rule], check=True, capture_output=True)


@pytest.fixture
def second_engine() -> Iterator[str]:
    """A second dockerd on its own socket, data root and address pool; its DOCKER_HOST."""
    dockerd = shutil.which("dockerd")
    assert dockerd, "dockerd not found: make setup installs docker.io"
    root = Path(tempfile.mkdtemp(prefix="sd2-", dir="/tmp"))  # short: a unix socket path has 108 bytes
    host = f"unix://{root / 'docker.sock'}"
    for rule in RULES:
        _iptables("-I", rule)
    log = (root / "dockerd.log").open("w")
    proc = subprocess.Popen(
        [
            dockerd, "--host", host, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "docker.pid"), "--bridge", "none", "--iptables=false",
            "--default-address-pool", f"base={POOL},size=24",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(
            lambda: (docker.DockerClient(base_url=host, timeout=5).ping(), None),
            what=f"a second dockerd to answer on {host}",
            timeout_s=60,
            interval_s=0.5,
            hint=f"see {root / 'dockerd.log'}",
        )
        yield host
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        for rule in RULES:
            _iptables("-D", rule)
        subprocess.run(["umount", "-R", str(root / "data")], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _ours(client: docker.DockerClient, stack: str) -> list[str]:
    """Names of the stack's containers and networks on one engine, each list read in one call
    (`containers.list` inspects every container it lists, and one removed in between raised
    NotFound here in CI while the stack was coming up)."""
    flt = {"label": f"{O.LABEL_STACK}={stack}"}
    return [c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=flt)] + [
        n["Name"] for n in client.api.networks(filters=flt)
    ]


def test_a_stack_on_the_engine_docker_host_names_leaves_the_first_untouched(second_engine: str, tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": second_engine}
    # The images, on the second engine: the base image from the tarball set-up saved (or built
    # again), the service image built there (or loaded from STACKDRILL_CACHE).
    for step in (["scripts/setup.sh", "base-image"], [str(ROOT / ".venv/bin/python"), "-m", "infra.images"]):
        done = subprocess.run(step, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{step}: {done.stdout[-1500:]}\n{done.stderr[-1500:]}"
    scenario = tmp_path / "scenario_remote.yaml"
    scenario.write_text(SCENARIO)
    stack = f"remote{os.getpid()}"
    first = docker.from_env(environment={k: v for k, v in os.environ.items() if k != "DOCKER_HOST"})
    second = docker.DockerClient(base_url=second_engine)
    proc = subprocess.Popen(
        [STACKDRILL, "drill", str(scenario), "-t", "minimal", "--stack-name", stack,
         "--report-dir", str(tmp_path / "reports"), "--seed", "7"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen_on_second: list[str] = []
    try:
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            assert _ours(first, stack) == [], "the stack showed up on the first engine"
            seen_on_second = seen_on_second or _ours(second, stack)
            time.sleep(1.0)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # the drill reverts and tears down
            proc.wait(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["verdict"] == "passed" and report["meta"]["stack"] == stack
    assert any(name.startswith(f"sd-{stack}-") for name in seen_on_second), seen_on_second
    assert _ours(second, stack) == [] and _ours(first, stack) == []  # torn down, where it lived
