"""Every fault of the catalog on a live stack: it takes effect, and revert restores the steady state."""

from __future__ import annotations

import contextlib
import json
import signal
import statistics
import subprocess
import threading
import time
from concurrent import futures
from typing import Any

import pytest
import requests

from failover_tests import drill_docker as dk
from failover_tests.faults import REGISTRY
from failover_tests.journal import Journal
from failover_tests.toxiproxy import ToxiproxyClient
from infra import outputs as O
from infra.wait import wait_until
from tests.integration.conftest import STACKDRILL, complete

COVERED: set[str] = set()


def _name(stack: Any, short: str) -> str:
    return f"sd-{stack.name}-{short}"


def _chaos(stack: Any) -> str:
    return _name(stack, "chaos-0")


def _timed_curl(
    stack: Any, url: str, *, inside: str = "api-0", max_s: int = 8, post: bool = True
) -> tuple[int, float, str]:
    """curl from inside a container of the stack (container-to-container traffic): exit, seconds, body."""
    body = ["-X", "POST", "-H", "Content-Type: application/json", "-d", '{"prompt":"x"}'] if post else []
    code, out = dk.exec_run(
        _name(stack, inside),
        ["curl", "-sS", "-m", str(max_s), "-o", "/dev/stdout", "-w", "\\n%{time_total}", *body, url],
        timeout_s=max_s + 2,
    )
    lines = out.rstrip().splitlines()
    seconds = float(lines[-1]) if lines and lines[-1].replace(".", "", 1).isdigit() else float(max_s)
    return code, seconds, "\n".join(lines[:-1])


def _model_url(stack: Any) -> str:
    return f"http://{_chaos(stack)}:18001/v1/infer"


def _edge_lb_down_then_up(stack: Any, server: str, fault: Any) -> None:
    for lb in stack.lbs("edge"):
        stack.wait_lb(lb, O.BE_API, server, up=False, timeout_s=5)
    fault.revert()
    for lb in stack.lbs("edge"):
        stack.wait_lb(lb, O.BE_API, server, up=True, timeout_s=20)


def test_kill_exits_and_lb_marks_down(steady: Any) -> None:
    target = _name(steady, "api-1")
    with steady.fault("kill", "api-1") as fault:
        assert dk.state(target) == "exited"
        _edge_lb_down_then_up(steady, target, fault)
    assert dk.state(target) == "running"
    COVERED.add("kill")


def test_stop_is_graceful(steady: Any) -> None:
    target = _name(steady, "web-1")
    with steady.fault("stop", "web-1", {"grace_s": 10}):
        info = dk.inspect(target)["State"]
        assert info["Status"] == "exited" and info["ExitCode"] in (0, 143), info  # SIGTERM handled, not SIGKILLed
    assert dk.state(target) == "running"
    COVERED.add("stop")


def test_restart_gives_a_new_start_time(steady: Any) -> None:
    target = _name(steady, "model-1")
    started = dk.inspect(target)["State"]["StartedAt"]
    with steady.fault("restart", "model-1", {"grace_s": 5}):
        assert dk.inspect(target)["State"]["StartedAt"] != started
    assert dk.state(target) == "running"
    COVERED.add("restart")


def test_pause_hangs_the_replica_while_others_serve(steady: Any) -> None:
    target = _name(steady, "api-2")
    with steady.fault("pause", "api-2") as fault:
        assert dk.state(target) == "paused"
        # Connections to it are accepted by the kernel and never answered.
        code, seconds, _ = _timed_curl(steady, f"http://{target}:8080/healthz", inside="api-0", max_s=2)
        assert code != 0 and seconds >= 1.9
        _edge_lb_down_then_up(steady, target, fault)
        fault.apply()  # back on, to check the edges still serve with it hung
        for lb in steady.lbs("edge"):
            steady.wait_lb(lb, O.BE_API, target, up=False, timeout_s=5)
        served = [complete(steady.edges[i % 2]) for i in range(12)]
        assert all(r.status_code == 200 for r in served)
        assert target not in {r.headers["X-Served-By"] for r in served}
    assert dk.state(target) == "running"
    COVERED.add("pause")


def test_cpu_throttle_quota_read_back(steady: Any) -> None:
    target = _name(steady, "api-1")
    with steady.fault("cpu_throttle", "api-1", {"cpus": 0.05}):
        hc = dk.inspect(target)["HostConfig"]
        assert (hc["CpuQuota"], hc["CpuPeriod"]) == (5000, 100000)
    assert dk.inspect(target)["HostConfig"]["CpuQuota"] <= 0
    COVERED.add("cpu_throttle")


def test_cpu_starved_replica_gets_a_smaller_share_then_its_full_one(steady: Any) -> None:
    """The load agent lowers a starved replica's weight under load, and gives it back once the
    starvation ends while the load goes on (without agent checks every weight stays equal)."""
    target = _name(steady, "api-1")
    edges = steady.lbs("edge")
    stop = threading.Event()

    def load() -> None:  # each of the 4 workers: at most 600 requests and 60 s
        deadline = time.monotonic() + 60.0
        for i in range(600):
            if stop.is_set() or time.monotonic() > deadline:
                return
            with contextlib.suppress(requests.RequestException):
                complete(steady.edges[i % len(steady.edges)], timeout_s=3)

    def weights() -> list[dict[str, int]]:
        return [steady.lb_weights(lb, O.BE_API) for lb in edges]

    def even() -> tuple[bool, list[dict[str, int]]]:
        seen = weights()
        return len({v for w in seen for v in w.values()}) == 1, seen

    # An earlier test may have left a replica ramping up (slow start) or its weight still lowered.
    full = wait_until(even, what="every edge to weigh every API replica alike", timeout_s=30)[0][target]

    def lowered() -> tuple[bool, list[dict[str, int]]]:
        seen = weights()
        return any(w[target] < min(v for k, v in w.items() if k != target) for w in seen), seen

    def restored() -> tuple[bool, list[dict[str, int]]]:
        seen = weights()
        return all(w[target] == full for w in seen), seen

    with steady.fault("cpu_throttle", "api-1", {"cpus": 0.05}) as fault, futures.ThreadPoolExecutor(4) as pool:
        workers = [pool.submit(load) for _ in range(4)]
        try:
            wait_until(lowered, what=f"an edge to weigh {target} below its peers", timeout_s=30)
            fault.revert()  # the load goes on: the weight comes back because the lag is gone
            wait_until(restored, what=f"the edges to give {target} its full weight back", timeout_s=20)
        finally:
            stop.set()
            for w in workers:
                w.result()


def test_memory_limit_read_back(steady: Any) -> None:
    target = _name(steady, "model-0")
    with steady.fault("memory_limit", "model-0", {"mb": 96}):
        assert dk.inspect(target)["HostConfig"]["Memory"] == 96 << 20
        code, out = dk.exec_run(target, ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
        assert code == 0 and int(out.strip()) == 96 << 20
    assert dk.inspect(target)["HostConfig"]["Memory"] > 1 << 30
    COVERED.add("memory_limit")


def test_partition_detaches_and_lb_routes_around(steady: Any) -> None:
    target = _name(steady, "api-0")
    back = f"sd-{steady.name}-back"
    with steady.fault("partition", "api-0", {"network": "back"}) as fault:
        assert back not in dk.networks_of(target)
        _edge_lb_down_then_up(steady, target, fault)
    assert back in dk.networks_of(target)
    assert f"sd-{steady.name}-api" in dk.networks_of(target)[back]  # the tier alias is restored
    # Docker drops extra hosts from /etc/hosts on a reconnect: the Sentinels must resolve again.
    assert dk.inspect(target)["HostConfig"].get("ExtraHosts"), "the API replica has no fixed store addresses"
    assert dk.missing_extra_hosts(target) == []
    COVERED.add("partition")


def test_blackhole_edge_turns_completions_into_fallbacks(steady: Any) -> None:
    with steady.fault("blackhole", "api_model"):
        answers = [complete(steady.edges[i % 2]).json() for i in range(4)]
        assert all(a["fallback"] for a in answers), answers
    wait_until(lambda: (not complete(steady.edges[0]).json()["fallback"], None), what="fallback to stop", timeout_s=20)
    COVERED.add("blackhole")


def _edge_delay_s(stack: Any) -> float:
    """Time spent on the api->model edge for one call: curl's total minus the model's own sleep
    (the model jitters by +/-10 ms, which would blur a 500 ms step)."""
    code, seconds, body = _timed_curl(stack, _model_url(stack))
    assert code == 0, body
    return seconds - json.loads(body)["latency_ms"] / 1000


def test_latency_raises_model_call_latency_by_at_least_its_value(steady: Any) -> None:
    base = statistics.median(_edge_delay_s(steady) for _ in range(5))
    with steady.fault("latency", "api_model", {"latency_ms": 500, "jitter_ms": 0}):
        slow = statistics.median(_edge_delay_s(steady) for _ in range(5))
    after = statistics.median(_edge_delay_s(steady) for _ in range(5))
    assert slow - base >= 0.5 - 0.005, (base, slow)  # 5 ms for timer granularity
    assert after < base + 0.2, (base, after)
    COVERED.add("latency")


def test_bandwidth_slows_the_edge(steady: Any) -> None:
    base = min(_timed_curl(steady, _model_url(steady))[1] for _ in range(3))
    with steady.fault("bandwidth", "api_model", {"rate_kbps": 1}):
        slow = _timed_curl(steady, _model_url(steady))[1]
    assert slow - base >= 0.1, (base, slow)
    COVERED.add("bandwidth")


def test_timeout_toxic_cuts_the_integration_edge(steady: Any) -> None:
    url = f"http://{_chaos(steady)}:18003/healthz"
    with steady.fault("timeout", "api_integration", {"timeout_ms": 500}):
        code, seconds, body = _timed_curl(steady, url, max_s=4, post=False)
        assert code != 0 and "ok" not in body, (code, body)
    code, _, body = _timed_curl(steady, url, post=False)
    assert code == 0 and "ok" in body
    COVERED.add("timeout")


def test_reset_peer_resets_connections(steady: Any) -> None:
    with steady.fault("reset_peer", "api_model", {"timeout_ms": 0}):
        code, _, _ = _timed_curl(steady, _model_url(steady), max_s=4)
        assert code in (52, 56), code  # empty reply / connection reset
        assert complete(steady.edges[0]).json()["fallback"] is True
    assert _timed_curl(steady, _model_url(steady))[0] == 0
    COVERED.add("reset_peer")


def test_slicer_delivers_in_slices(steady: Any) -> None:
    with steady.fault("slicer", "api_model", {"average_size": 8, "size_variation": 0, "delay_us": 20000}):
        code, seconds, body = _timed_curl(steady, _model_url(steady))
        assert code == 0 and "echo: x" in body  # intact, but slow: ~20 slices of 8 bytes at 20 ms
        assert seconds >= 0.2
    COVERED.add("slicer")


def test_slow_close_is_listed_and_harmless_to_answers(steady: Any) -> None:
    client = ToxiproxyClient(steady.outputs.toxiproxy_url)
    with steady.fault("slow_close", "api_model", {"delay_ms": 1000}) as fault:
        assert [t.type for t in client.toxics("api_model")] == ["slow_close"]
        assert _timed_curl(steady, _model_url(steady))[0] == 0
        name = fault.target_names[0]
    assert client.toxics(name) == []
    COVERED.add("slow_close")


def test_limit_data_truncates(steady: Any) -> None:
    with steady.fault("limit_data", "api_model", {"bytes": 10}):
        code, _, body = _timed_curl(steady, _model_url(steady), max_s=4)
        assert code != 0 or "echo" not in body
    assert _timed_curl(steady, _model_url(steady))[0] == 0
    COVERED.add("limit_data")


def _direct(stack: Any, short: str, n: int, path: str = "/healthz") -> list[int]:
    """Status codes of n direct calls made inside the container to its own port."""
    script = (
        f'for i in $(seq {n}); do curl -s -o /dev/null -w "%{{http_code}}\\n" -m 3 http://127.0.0.1:8080{path}; done'
    )
    code, out = dk.exec_run(_name(stack, short), ["sh", "-c", script], timeout_s=60)
    return [int(x) for x in out.split()]


def test_http_error_fails_about_half(steady: Any) -> None:
    with steady.fault("http_error", "api-0", {"status": 503, "fraction": 0.5}):
        codes = _direct(steady, "api-0", 60)
        failed = codes.count(503)
        assert 15 <= failed <= 45 and set(codes) <= {200, 503}, codes
    assert set(_direct(steady, "api-0", 10)) == {200}
    COVERED.add("http_error")


def test_abort_closes_without_answer(steady: Any) -> None:
    with steady.fault("abort", "model-0", {"fraction": 1.0}):
        assert set(_direct(steady, "model-0", 5)) == {0}  # curl prints 000: no response
    assert set(_direct(steady, "model-0", 5)) == {200}
    COVERED.add("abort")


def test_delay_slows_requests_inside_the_service(steady: Any) -> None:
    target = _name(steady, "web-0")
    timing = 'curl -s -o /dev/null -w "%{time_total}" -m 5 http://127.0.0.1:8080/healthz'
    with steady.fault("delay", "web-0", {"delay_ms": 800}):
        _, out = dk.exec_run(target, ["sh", "-c", timing])
        assert float(out) >= 0.8
    _, out = dk.exec_run(target, ["sh", "-c", timing])
    assert float(out) < 0.5
    COVERED.add("delay")


def test_every_fault_of_the_catalog_was_exercised() -> None:
    assert set(REGISTRY) == COVERED, f"no live test for: {sorted(set(REGISTRY) - COVERED)}"


def _start_fault_cli(stack: Any, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [STACKDRILL, "fault", *args, "--stack-name", stack.name, "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the CLI says the fault is in effect
        if "in effect" in line:
            return proc
    pytest.fail(f"stackdrill fault exited early ({proc.wait()})")


def test_sigint_reverts_a_running_cli_fault(steady: Any) -> None:
    target = _name(steady, "api-1")
    proc = _start_fault_cli(steady, "pause", "--target", "api-1")
    assert dk.state(target) == "paused"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert dk.state(target) == "running"
    assert Journal(steady.name).entries() == []


def test_sigkill_then_reap_restores_the_stack(steady: Any) -> None:
    target = _name(steady, "api-1")
    proc = _start_fault_cli(steady, "pause", "--target", "api-1")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert dk.state(target) == "paused"  # a killed run leaves its fault behind...
    entries = Journal(steady.name).entries()
    assert [e.fault for e in entries] == ["pause"] and entries[0].pid == proc.pid  # ...and its journal entry
    reaped = subprocess.run([STACKDRILL, "reap", "--stack-name", steady.name], capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert reaped.returncode == 0, reaped.stderr
    assert "reverted pause(api-1)" in reaped.stdout
    assert dk.state(target) == "running"
    assert Journal(steady.name).entries() == []


def test_reap_sweeps_faults_left_outside_the_journal(steady: Any) -> None:
    """A crash between the action and the journal is still caught: paused containers, quotas, toxics."""
    dk.pause(_name(steady, "model-1"))
    dk.update_resources(_name(steady, "web-1"), cpu_period=100000, cpu_quota=2000)
    ToxiproxyClient(steady.outputs.toxiproxy_url).add_toxic(
        "api_model", "sd-orphan", "latency", "downstream", 1.0, {"latency": 900}
    )
    lines = steady.reap()
    assert dk.state(_name(steady, "model-1")) == "running"
    assert dk.inspect(_name(steady, "web-1"))["HostConfig"]["CpuQuota"] <= 0
    assert ToxiproxyClient(steady.outputs.toxiproxy_url).toxics("api_model") == []
    assert len(lines) >= 3, lines
