"""Preflight: testinfra against the live containers, before any fault.

Expected processes run as non-root, ports listen, every LB backend has a health check,
every container has a Docker health check, Sentinel sees one primary and its replica.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra

from failover_tests import drill_docker as dk
from failover_tests.lbstats import server_states
from failover_tests.stack import DrillStack

pytestmark = pytest.mark.preflight

# tier -> (main process, ports that must listen)
EXPECTED = {
    "edge": ("haproxy", [8080, 8404]),
    "api_lb": ("haproxy", [8080, 8404]),
    "model_lb": ("haproxy", [8080, 8404]),
    "web": ("python3", [8080, 9902]),
    "api": ("python3", [8080, 9902]),
    "model": ("python3", [8080, 9902]),
    "integration": ("python3", [8080, 9902]),
    "status": ("python3", [8080, 9902]),
    "redis": ("redis-server", [6379]),
    "sentinel": ("redis-sentinel", [26379]),
    "chaos": ("toxiproxy-server", [8474]),
}


@pytest.fixture(scope="module")
def hosts(stack: DrillStack) -> dict[str, Any]:
    return {c.name: testinfra.get_host(f"docker://{c.name}") for c in stack.containers()}


def test_processes_run_as_non_root(stack: DrillStack, hosts: dict[str, Any]) -> None:
    problems = []
    for c in stack.containers():
        host = hosts[c.name]
        proc, _ = EXPECTED[c.tier]
        table = [line.split(None, 1) for line in host.check_output("ps -eo user:20,comm --no-headers").splitlines()]
        # `ps` itself and runc's exec helper are the probe, not the service.
        rows = [(user, comm.strip()) for user, comm in table if comm.strip() != "ps" and not comm.startswith("runc")]
        if not any(comm == proc[:15] for _, comm in rows):
            problems.append(f"{c.name}: no {proc} process (saw {sorted({comm for _, comm in rows})})")
        problems += [f"{c.name}: {comm} runs as {user}" for user, comm in rows if user != "app"]
    assert not problems, "; ".join(problems)


def test_ports_listen(stack: DrillStack, hosts: dict[str, Any]) -> None:
    missing = []
    for c in stack.containers():
        # One `ss` per container (testinfra's socket module runs one per port and address).
        listening = hosts[c.name].check_output("ss -ltnH")
        ports = {line.split()[3].rsplit(":", 1)[-1] for line in listening.splitlines() if line.strip()}
        missing += [f"{c.name}:{p}" for p in EXPECTED[c.tier][1] if str(p) not in ports]
    assert not missing, f"not listening: {', '.join(missing)}"


def test_admin_endpoints_are_loopback_only(stack: DrillStack, hosts: dict[str, Any]) -> None:
    for c in stack.containers("api") + stack.containers("web"):
        listening = hosts[c.name].check_output("ss -ltnH")
        admin = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(":9901")]
        assert admin == ["127.0.0.1:9901"], f"{c.name}: admin endpoint bound to {admin}"
        # The load agent is the opposite: the LBs on the back network dial it.
        agent = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(":9902")]
        assert agent == ["0.0.0.0:9902"], f"{c.name}: load agent bound to {agent}"


def test_every_lb_backend_has_a_health_check(stack: DrillStack, hosts: dict[str, Any]) -> None:
    for tier in ("edge", "api_lb", "model_lb"):
        for lb in stack.lbs(tier):
            config = hosts[lb].file("/etc/stackdrill/haproxy.cfg").content_string
            for line in (x.strip() for x in config.splitlines()):
                if line.startswith("default-server"):
                    assert " check " in f" {line} ", f"{lb}: backend without health check: {line}"
            for backend, servers in server_states(stack.outputs.lb_stats[lb]).items():
                for server, status in servers.items():
                    assert status.startswith("UP"), f"{lb}: {backend}/{server} is {status}"


def test_every_container_has_a_docker_health_check(stack: DrillStack) -> None:
    for c in stack.containers():
        info = dk.inspect(c.name)
        assert info["Config"].get("Healthcheck"), f"{c.name} has no Docker health check"
        assert info["State"]["Health"]["Status"] == "healthy", f"{c.name} is {info['State']['Health']['Status']}"


def test_sentinel_sees_one_primary_and_its_replica(stack: DrillStack, hosts: dict[str, Any]) -> None:
    sentinel = stack.containers("sentinel")[0].name
    out = hosts[sentinel].check_output("redis-cli -p 26379 SENTINEL replicas sessions").splitlines()
    replicas = [out[i + 1] for i, key in enumerate(out[:-1]) if key == "name"]
    assert len(replicas) == stack.topology.store.replicas, f"Sentinel lists replicas {replicas}"
    primary = hosts[sentinel].check_output("redis-cli -p 26379 SENTINEL get-master-addr-by-name sessions").split()[0]
    assert primary in {c.name for c in stack.containers("redis")}
    sentinels = hosts[sentinel].check_output("redis-cli -p 26379 SENTINEL sentinels sessions")
    assert sentinels.count("sd-") >= stack.topology.store.sentinels - 1, sentinels
