"""The training dashboard's server and page against a fake state source and control (no Docker)."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from failover_tests.train.server import TrainServer
from infra.errors import FaultError, ScenarioError, StackdrillError, ToolchainError
from infra.wait import wait_until

CHROMIUM = "/usr/bin/chromium"
NAME = "train"  # the stack; its containers are sd-<stack>-<tier>-<n>, as the kit names them
STACK = f"sd-{NAME}"
ZONES = ["a", "b", "c"]
PATHS = ["api.complete", "api.sessions", "api.integration", "web.home", "status.json"]


def _containers() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"name": f"{STACK}-edge-0", "tier": "edge", "zone": "a"}]
    for tier, count in [("web", 3), ("api_lb", 1), ("api", 4), ("model", 3), ("redis", 3), ("sentinel", 3)]:
        out += [
            {"name": f"{STACK}-{tier.replace('_', '-')}-{i}", "tier": tier, "zone": ZONES[i % 3]} for i in range(count)
        ]
    out += [{"name": f"{STACK}-status-0", "tier": "status", "zone": "b"}, {"name": f"{STACK}-chaos", "tier": "chaos"}]
    out += [{"name": f"{STACK}-integration-0", "tier": "integration", "zone": "a"}]
    for c in out:
        c.update(state="running", health="healthy", throttled=False, primary=c["name"] == f"{STACK}-redis-0", faults=[])
    return out


class FakeSource:
    """A stack that advances 0.5 s per snapshot; tests edit `state` under `lock`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.fail = False
        self.t_s = 120.0
        api = {f"{STACK}-api-{i}": "UP" for i in range(4)}
        self.state: dict[str, Any] = {
            "stack": NAME,
            "topology": "naive",
            "series": {},
            "map": {
                "zones": ZONES,
                "tiers": [
                    "edge",
                    "web",
                    "api_lb",
                    "api",
                    "model_lb",
                    "model",
                    "integration",
                    "redis",
                    "sentinel",
                    "status",
                    "chaos",
                ],
                "containers": _containers(),
                "lbs": [
                    {
                        "lb": f"{STACK}-edge-0",
                        "tier": "edge",
                        "backends": {"be_web": {f"{STACK}-web-{i}": "UP" for i in range(3)}, "be_api": dict(api)},
                    },
                    {"lb": f"{STACK}-api-lb-0", "tier": "api_lb", "backends": {"be_api": dict(api)}},
                ],
            },
            "status": {
                "page": {"api": "operational", "web": "operational"},
                "measured": {"api": "operational", "web": "operational"},
                "lying": False,
                "message": "",
            },
            "faults": {"active": []},
            "lesson": {
                "name": "outage-story",
                "title": "The outage nobody saw",
                "index": 1,
                "waiting": True,
                "finished": False,
                "verdict": None,
                "steps": [
                    {"title": "Steady state", "narrative": "", "question": "", "answer": "yes", "state": "passed"},
                    {
                        "title": "Pause one API replica",
                        "narrative": "We pause sd-train-api-0. The edge keeps sending it requests until its health "
                        "check fails three times.",
                        "question": "How long until clients stop seeing errors?",
                        "answer": None,
                        "state": "running",
                    },
                    {"title": "Revert", "narrative": "", "question": "", "answer": None, "state": "pending"},
                ],
            },
            "log": [{"t_s": 3.0, "text": "stack sd-train is steady"}],
        }

    def _point(self, path: str, t_s: float) -> dict[str, Any]:
        dip = 0.35 if path.startswith("api") and 60 < t_s % 120 < 75 else 0.0
        wave = math.sin(t_s / 9 + len(path))
        return {
            "t_s": t_s,
            "n": 12,
            "success": 1.0 - dip,
            "fallback": dip / 2,
            "p50_ms": 30 + 6 * wave,
            "p99_ms": 90 + 40 * wave + 900 * dip,
        }

    def snapshot(self) -> dict[str, Any]:
        """Advance the clock and return a copy; raises while `fail` is set."""
        with self.lock:
            self.calls += 1
            if self.fail:
                raise RuntimeError("state source broke")
            self.t_s += 0.5
            self.state["t_s"] = self.t_s
            self.state["series"] = {p: [self._point(p, self.t_s - 120 + i) for i in range(121)] for p in PATHS}
            return copy.deepcopy(self.state)

    def container(self, name: str) -> dict[str, Any]:
        """The map entry of one container (edit under `lock`)."""
        return next(c for c in self.state["map"]["containers"] if c["name"] == name)


class FakeControl:
    """Records every call; `error` makes apply and next_step raise it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.error: StackdrillError | None = None

    def catalog(self) -> dict[str, Any]:
        """Two faults and every container as a target."""
        return {
            "faults": [
                {"name": "pause", "description": "SIGSTOP every process", "params": {}},
                {"name": "latency", "description": "add latency", "params": {"latency_ms": 200, "jitter_ms": None}},
            ],
            "targets": [c["name"] for c in _containers()],
        }

    def apply(self, name: str, target: str, params: dict[str, Any], duration_s: float) -> str:
        """Record and return an id."""
        self.calls.append(("apply", name, target, params, duration_s))
        if self.error is not None:
            raise self.error
        return f"f{len(self.calls)}"

    def revert(self, fault_id: str) -> None:
        """Record."""
        self.calls.append(("revert", fault_id))

    def revert_all(self) -> int:
        """Record; two were active."""
        self.calls.append(("revert_all",))
        return 2

    def next_step(self) -> None:
        """Record."""
        self.calls.append(("next_step",))
        if self.error is not None:
            raise self.error


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def control() -> FakeControl:
    return FakeControl()


@pytest.fixture
def server(source: FakeSource, control: FakeControl) -> Iterator[TrainServer]:
    with TrainServer(source, control, interval_s=0.2) as srv:
        yield srv


def _messages(lines: Iterator[str], count: int, timeout_s: float = 3.0) -> list[dict[str, Any]]:
    """Read `count` SSE data messages (pings skipped) within the deadline.

    `lines` is one `resp.iter_lines()` kept for the whole stream: urllib3 closes a chunked response
    when an abandoned line iterator is collected.
    """
    deadline = time.monotonic() + timeout_s
    out: list[dict[str, Any]] = []
    for line in lines:
        if line.startswith("data: "):
            out.append(json.loads(line[len("data: ") :]))
        if len(out) >= count:
            return out
        assert time.monotonic() < deadline, f"only {len(out)} of {count} SSE messages within {timeout_s} s"
    raise AssertionError(f"stream ended after {len(out)} of {count} messages")


def test_binds_loopback_only_on_an_allocated_port(server: TrainServer) -> None:
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
    port = int(server.url.rsplit(":", 1)[1].rstrip("/"))
    assert port > 0
    assert requests.get(server.url, timeout=5).status_code == 200
    # 127.0.0.2 is loopback too: a listener on 0.0.0.0 would answer there, one on 127.0.0.1 does not
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.2", port)) != 0


def test_page_is_self_contained(server: TrainServer) -> None:
    page = requests.get(server.url, timeout=5).text
    assert "<title>stackdrill train</title>" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page


def test_events_stream_snapshots(server: TrainServer) -> None:
    with requests.get(server.url + "events", stream=True, timeout=3) as resp:
        lines = resp.iter_lines(decode_unicode=True)
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first, second = _messages(lines, 2)
    assert first["stack"] == NAME and set(first["series"]) == set(PATHS)
    assert second["t_s"] > first["t_s"]


def test_state_and_catalog(server: TrainServer) -> None:
    assert requests.get(server.url + "api/state", timeout=5).json()["topology"] == "naive"
    assert [f["name"] for f in requests.get(server.url + "api/catalog", timeout=5).json()["faults"]] == [
        "pause",
        "latency",
    ]


def test_apply_fault_calls_control_with_parsed_args(server: TrainServer, control: FakeControl) -> None:
    body = {"name": "latency", "target": f"{STACK}-api-0", "params": {"latency_ms": 300}, "duration_s": 45}
    resp = requests.post(server.url + "api/faults", json=body, timeout=5)
    assert resp.status_code == 200 and resp.json() == {"id": "f1"}
    assert control.calls == [("apply", "latency", f"{STACK}-api-0", {"latency_ms": 300}, 45.0)]


def test_stackdrill_error_is_a_one_line_400(server: TrainServer, control: FakeControl) -> None:
    control.error = FaultError(
        "unknown target sd-train-nope: pick one of the catalog's targets\ntraceback...",
        fault="pause",
        target="sd-train-nope",
    )
    body = {"name": "pause", "target": "sd-train-nope", "params": {}, "duration_s": 30}
    resp = requests.post(server.url + "api/faults", json=body, timeout=5)
    assert resp.status_code == 400
    assert resp.json() == {"error": "unknown target sd-train-nope: pick one of the catalog's targets", "status": 400}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "body is not JSON"),
        (b"[1, 2]", "body must be a JSON object with name, target, params, duration_s"),
        (b'{"target": "x", "duration_s": 5}', "name must be a fault name, got None"),
        (b'{"name": "pause", "duration_s": 5}', "target must be a container name, got None"),
        (b'{"name": "pause", "target": "x", "params": [], "duration_s": 5}', "params must be an object, got []"),
        (
            b'{"name": "pause", "target": "x", "duration_s": "5"}',
            "duration_s must be a positive number of seconds, got '5'",
        ),
        (
            b'{"name": "pause", "target": "x", "duration_s": 0}',
            "duration_s must be a positive number of seconds, got 0",
        ),
    ],
)
def test_malformed_fault_body_is_a_400(server: TrainServer, control: FakeControl, body: bytes, error: str) -> None:
    resp = requests.post(server.url + "api/faults", data=body, headers={"Content-Type": "application/json"}, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["status"] == 400 and resp.json()["error"].startswith(error)
    assert "\n" not in resp.json()["error"]
    assert control.calls == []


def test_revert_one_revert_all_and_lesson_next(server: TrainServer, control: FakeControl) -> None:
    assert requests.post(server.url + "api/faults/f7/revert", timeout=5).json() == {"reverted": "f7"}
    assert requests.post(server.url + "api/revert-all", timeout=5).json() == {"reverted": 2}
    assert requests.post(server.url + "api/lesson/next", timeout=5).json() == {"ok": True}
    control.error = ScenarioError("no lesson is waiting for the instructor")
    resp = requests.post(server.url + "api/lesson/next", timeout=5)
    assert resp.status_code == 400 and resp.json()["error"] == "no lesson is waiting for the instructor"
    assert control.calls == [("revert", "f7"), ("revert_all",), ("next_step",), ("next_step",)]


def test_a_slow_control_call_does_not_stall_the_stream(source: FakeSource) -> None:
    release = threading.Event()

    class SlowControl(FakeControl):
        def revert_all(self) -> int:
            release.wait(10)
            return 0

    with TrainServer(source, SlowControl(), interval_s=0.2) as srv:
        pending = threading.Thread(target=requests.post, args=(srv.url + "api/revert-all",), kwargs={"timeout": 15})
        pending.start()
        try:
            with requests.get(srv.url + "events", stream=True, timeout=3) as resp:
                lines = resp.iter_lines(decode_unicode=True)
                assert len(_messages(lines, 3)) == 3
        finally:
            release.set()
            pending.join(15)


def test_idle_s_counts_from_the_last_disconnect(server: TrainServer) -> None:
    assert server.clients() == 0 and server.idle_s() > 0.0
    with requests.get(server.url + "events", stream=True, timeout=3) as resp:
        lines = resp.iter_lines(decode_unicode=True)
        _messages(lines, 1)
        wait_until(lambda: (server.clients() == 1, server.clients()), what="one SSE client", timeout_s=2)
        assert server.idle_s() == 0.0
    wait_until(lambda: (server.clients() == 0, server.clients()), what="the SSE client to be gone", timeout_s=3)
    first = server.idle_s()
    assert first < 2.0
    wait_until(
        lambda: (server.idle_s() > first + 0.2, server.idle_s()), what="idle_s to grow", timeout_s=3, interval_s=0.05
    )


def test_stop_is_quick_with_a_client_connected(source: FakeSource, control: FakeControl) -> None:
    srv = TrainServer(source, control, interval_s=0.2).start()
    with requests.get(srv.url + "events", stream=True, timeout=3) as resp:
        lines = resp.iter_lines(decode_unicode=True)
        _messages(lines, 1)
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 2.0
        assert srv.clients() == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(srv.url + "api/state", timeout=2)


def test_port_in_use_is_a_one_line_error(source: FakeSource, control: FakeControl) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ToolchainError) as caught:
            TrainServer(source, control, port=port).start()
    assert str(caught.value) == f"port {port} is in use; pick another with --port"


def test_given_port_is_used(source: FakeSource, control: FakeControl) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with TrainServer(source, control, port=port) as srv:
        assert srv.url == f"http://127.0.0.1:{port}/"


def test_a_failing_snapshot_keeps_the_stream_going(server: TrainServer, source: FakeSource) -> None:
    with requests.get(server.url + "events", stream=True, timeout=3) as resp:
        lines = resp.iter_lines(decode_unicode=True)
        (before,) = _messages(lines, 1)
        with source.lock:
            source.fail = True
            failed_from = source.calls
        during = _messages(lines, 6)
        assert source.calls > failed_from + 2  # snapshot() was called and raised
        assert during[-1]["t_s"] >= before["t_s"]
        assert during[-1] == during[-2] == during[-3]  # the previous state, again
        with source.lock:
            source.fail = False
        wait_until(
            lambda: (_messages(lines, 1)[0]["t_s"] > during[-1]["t_s"], "stale"), what="fresh state", timeout_s=3
        )


@pytest.mark.browser
def test_page_in_headless_chromium(
    server: TrainServer, source: FakeSource, control: FakeControl, tmp_path: Path
) -> None:
    if os.environ.get("STACKDRILL_NO_BROWSER") == "1":
        pytest.skip("STACKDRILL_NO_BROWSER=1")
    chromium = shutil.which("chromium") or CHROMIUM
    if not Path(chromium).exists():
        pytest.fail("chromium is not installed: `apt-get install -y chromium`, or set STACKDRILL_NO_BROWSER=1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed ({exc}): pip install -e '.[dev]'")
    api0, lb = f"{STACK}-api-0", f"{STACK}-api-lb-0"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url)
            chart = page.locator('svg[data-chart="api.complete"]')
            updates = {chart.get_attribute("data-updated")}
            for _ in range(2):
                page.wait_for_function(
                    "seen => !seen.includes(document.querySelector('svg[data-chart=\"api.complete\"]')"
                    ".getAttribute('data-updated'))",
                    arg=sorted(u or "" for u in updates),
                    timeout=5000,
                )
                updates.add(chart.get_attribute("data-updated"))
            assert page.locator(f'[data-container="{api0}"][data-state="running"]').count() == 1
            assert page.locator("#lying-banner").is_hidden()
            # The room reads every box: its name without the stack's prefix, never cut short, even
            # with two API replicas in one zone and a long tier name.
            assert page.locator(f'[data-container="{api0}"] .box-name').inner_text() == "api-0"
            cut = page.evaluate(
                "() => [...document.querySelectorAll('.box-name')]"
                ".filter(e => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight + 1)"
                ".map(e => e.textContent)"
            )
            assert cut == [], f"names cut short on the map: {cut}"

            page.select_option("#fault-name", "pause")
            page.select_option("#fault-target", api0)
            page.fill("#fault-duration", "20")
            page.click("#fault-apply")
            wait_until(
                lambda: (("apply", "pause", api0, {}, 20.0) in control.calls, control.calls),
                what="Control.apply from the page",
                timeout_s=5,
            )
            page.select_option("#fault-name", "latency")
            assert page.locator('input[data-param="latency_ms"]').input_value() == "200"

            with source.lock:
                source.container(api0).update(state="paused", faults=["pause"])
                source.state["map"]["lbs"][1]["backends"]["be_api"][api0] = "DOWN"
                source.state["faults"]["active"] = [
                    {
                        "id": "f1",
                        "name": "pause",
                        "target": api0,
                        "params": {},
                        "started_s": source.t_s,
                        "ends_s": source.t_s + 20,
                    }
                ]
                source.state["status"].update(
                    measured={"api": "outage", "web": "operational"},
                    lying=True,
                    message="api: page says operational, clients saw 62% success for 6 s",
                )
                source.state["log"].append({"t_s": source.t_s, "text": f"applied pause on {api0}"})
            page.wait_for_selector(f'[data-container="{api0}"][data-state="paused"]', timeout=5000)
            page.wait_for_selector(f'[data-lb="{lb}"][data-lb-server="{api0}"][data-lb-state="DOWN"]', timeout=5000)
            page.wait_for_selector("#lying-banner", state="visible", timeout=5000)
            assert "62% success" in page.inner_text("#lying-banner")
            page.wait_for_selector('[data-revert="f1"]', timeout=5000)
            page.screenshot(path=str(tmp_path / "train.png"))
            page.screenshot(path="/tmp/train-fake.png")

            page.click("#revert-all")
            wait_until(
                lambda: (("revert_all",) in control.calls, control.calls), what="Control.revert_all", timeout_s=5
            )
            page.click("#lesson-next")
            wait_until(lambda: (("next_step",) in control.calls, control.calls), what="Control.next_step", timeout_s=5)
            with source.lock:
                source.state["status"]["lying"] = False
            page.wait_for_selector("#lying-banner", state="hidden", timeout=5000)
            assert errors == []
        finally:
            browser.close()
