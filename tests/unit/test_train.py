"""Training mode without Docker: the live feed and its lying rule, lessons, the fault panel,
rolling-update waves, the map's container view."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from failover_tests.journal import Journal
from failover_tests.rolling import waves
from failover_tests.traffic import Record
from failover_tests.train import lesson as lesson_mod
from failover_tests.train.control import FaultPanel
from failover_tests.train.feed import LiveFeed
from failover_tests.train.map_state import container_view
from infra.errors import FaultError, ScenarioError, StackError
from infra.lifecycle import PlannedStep
from tests import fakes


def record(
    path: str, completed_s: float, *, ok: bool = True, fallback: bool = False, latency_ms: float = 20.0
) -> Record:
    return Record(
        path=path,
        seq=0,
        scheduled_s=completed_s - latency_ms / 1000,
        latency_ms=latency_ms,
        status=200 if ok else 503,
        ok=ok,
        replica=None,
        endpoint=None,
        error=None if ok else "HTTP 503",
        fallback=fallback,
        completed_s=completed_s,
    )


class FakeProbe:
    """A probe whose records the test appends; its time zero is the feed's."""

    def __init__(self, origin: float, name: str = "p") -> None:
        self.name = name
        self.origin_monotonic_s: float | None = origin
        self.running = True
        self.recs: list[Record] = []

    def records_from(self, index: int) -> tuple[list[Record], int]:
        new = self.recs[index:]
        return new, index + len(new)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed_with(clock: Clock) -> tuple[LiveFeed, FakeProbe]:
    feed = LiveFeed(["api.complete", "web.home"], origin_s=clock.now, clock=clock, poll_interval_s=1.0)
    probe = FakeProbe(clock.now)
    feed.add(probe)
    return feed, probe


def test_feed_points_summarise_the_last_window_per_path() -> None:
    clock = Clock()
    feed, probe = feed_with(clock)
    clock.now += 5
    probe.recs += [record("api.complete", 4.0 + i / 10, latency_ms=10 + i) for i in range(9)]
    probe.recs += [record("api.complete", 4.95, ok=True, fallback=True, latency_ms=500)]
    probe.recs += [record("web.home", 1.0)]  # older than the 2 s window
    points = feed.tick()
    complete = points["api.complete"]
    assert complete.n == 10
    assert complete.success == 1.0
    assert complete.fallback == pytest.approx(0.1)
    assert complete.p99_ms == pytest.approx(500, rel=0.01)
    assert points["web.home"].n == 0 and points["web.home"].success is None


def test_feed_reads_each_record_once_and_adds_probes() -> None:
    clock = Clock()
    feed, probe = feed_with(clock)
    second = FakeProbe(clock.now + 1.0, "step")  # started a second later: its clock is shifted
    feed.add(second)
    clock.now += 3
    probe.recs.append(record("api.complete", 2.5))
    second.recs.append(record("api.complete", 1.5))  # = 2.5 on the session clock
    assert feed.tick()["api.complete"].n == 2
    clock.now += 0.5
    assert feed.tick()["api.complete"].n == 2  # still in the window, not counted twice
    series = feed.series()["api.complete"]
    assert [p["n"] for p in series] == [2, 2]


def test_feed_keeps_two_minutes_of_points() -> None:
    clock = Clock()
    feed, _ = feed_with(clock)
    for _ in range(300):
        clock.now += 0.5
        feed.tick()
    series = feed.series()["web.home"]
    assert series[-1]["t_s"] - series[0]["t_s"] <= 120.0
    assert len(series) == 241


def impaired(feed: LiveFeed, probe: FakeProbe, clock: Clock, seconds: float, *, ok: bool = False) -> None:
    """Every web.home request fails (or succeeds) for `seconds`, ticking twice a second."""
    t_end = clock.now + seconds
    while clock.now < t_end:
        clock.now += 0.5
        t = clock.now - feed.origin_s
        probe.recs += [record("web.home", t - 0.1 * i, ok=ok) for i in range(5)]
        feed.tick()


ALL_FINE = {"edge": "operational", "web": "operational", "api": "operational", "model": "operational"}


def test_page_that_says_operational_while_clients_fail_is_lying_after_the_tolerance() -> None:
    clock = Clock()
    feed, probe = feed_with(clock)
    feed.set_page(ALL_FINE)
    impaired(feed, probe, clock, 2.0)
    early = feed.truth()
    assert early["measured"]["web.home"] == "outage"
    assert not early["lying"]  # one poll interval (1 s) + the 2 s grace not yet spent
    impaired(feed, probe, clock, 2.0)
    late = feed.truth()
    assert late["lying"]
    assert late["message"] == "web.home: 0% real success for 4 s while the page says edge, web, api, model operational"


def test_fallback_answers_are_degraded_for_the_room_and_impaired_for_the_rule() -> None:
    clock = Clock()
    feed, probe = feed_with(clock)
    feed.set_page(ALL_FINE)
    t_end = clock.now + 5
    while clock.now < t_end:
        clock.now += 0.5
        t = clock.now - feed.origin_s
        probe.recs += [record("web.home", t - 0.1 * i, fallback=True) for i in range(5)]
        feed.tick()
    truth = feed.truth()
    assert truth["measured"]["web.home"] == "degraded"
    assert truth["lying"]


def test_page_that_shows_the_impairment_is_not_lying() -> None:
    clock = Clock()
    feed, probe = feed_with(clock)
    feed.set_page({**ALL_FINE, "web": "degraded"})
    impaired(feed, probe, clock, 6.0)
    assert not feed.truth()["lying"]


def test_the_mismatch_counts_from_when_the_page_turned_operational_not_from_the_impairment() -> None:
    """Live on the protected stack: the page shows the model degraded for the whole fault and
    turns operational at its end while completions still fall back for a second or two."""
    clock = Clock()
    feed, probe = feed_with(clock)
    feed.set_page({**ALL_FINE, "model": "degraded"})
    impaired(feed, probe, clock, 15.0)
    assert not feed.truth()["lying"]
    feed.set_page(ALL_FINE)
    impaired(feed, probe, clock, 2.0)
    assert not feed.truth()["lying"]
    impaired(feed, probe, clock, 2.0)
    assert feed.truth()["lying"]


def test_a_recovered_path_stops_the_lie() -> None:
    clock = Clock()
    feed, probe = feed_with(clock)
    feed.set_page(ALL_FINE)
    impaired(feed, probe, clock, 5.0)
    assert feed.truth()["lying"]
    impaired(feed, probe, clock, 3.0, ok=True)
    truth = feed.truth()
    assert not truth["lying"] and truth["measured"]["web.home"] == "operational"


def test_an_unreadable_page_is_not_called_a_liar() -> None:
    clock = Clock()
    feed, probe = feed_with(clock)
    feed.set_page({})
    impaired(feed, probe, clock, 6.0)
    assert not feed.truth()["lying"]


# -- lessons ------------------------------------------------------------------------------


def test_every_shipped_lesson_loads() -> None:
    names = lesson_mod.shipped()
    assert {"outage-story", "zone-loss", "surge-on-slow-dependency"} <= set(names)
    story = lesson_mod.load("outage-story")
    assert story.topology == "naive"
    assert [s.update for s in story.steps].count("default") == 1
    cascade = next(s for s in story.steps if s.scenario.fault is not None)
    assert cascade.scenario.expect == "fail" and cascade.question and cascade.answer


LESSON = {
    "name": "t",
    "title": "T",
    "steps": [
        {
            "title": "one",
            "narrative": "n",
            "scenario": {"name": "s1", "fault": {"name": "kill", "target": "api-0"}},
        }
    ],
}


def write(tmp_path: Path, doc: Any) -> str:
    import yaml

    path = tmp_path / "lesson.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_a_lesson_file_by_path_loads(tmp_path: Path) -> None:
    assert lesson_mod.load(write(tmp_path, LESSON)).steps[0].scenario.name == "s1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["steps"][0].pop("narrative"), "lesson.yaml: missing key 'steps.0.narrative'"),
        (lambda d: d["steps"][0].update(colour="red"), "lesson.yaml: unknown key 'steps.0.colour'"),
        (
            lambda d: d["steps"][0]["scenario"]["fault"].update(name="melt"),
            "unknown fault 'melt'",
        ),
        (lambda d: d["steps"][0].update(update="default"), "give a fault or an update, not both"),
        (lambda d: d["steps"][0].update(answer="42"), "an answer needs its question"),
        (lambda d: d.update(steps=[]), "steps"),
        (lambda d: d["steps"].append(d["steps"][0]), "repeated: s1"),
    ],
)
def test_bad_lessons_fail_with_one_line(tmp_path: Path, change: Any, message: str) -> None:
    import copy

    doc = copy.deepcopy(LESSON)
    change(doc)
    with pytest.raises(ScenarioError) as err:
        lesson_mod.load(write(tmp_path, doc))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_lesson_names_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match=r"unknown lesson 'nope'; shipped lessons: .*outage-story"):
        lesson_mod.load("nope")


# -- fault panel ----------------------------------------------------------------------------


class FakeFault:
    def __init__(self, name: str, target: str, params: Mapping[str, Any], log: list[str]) -> None:
        self.name, self.selector, self.values, self.log = name, target, dict(params), log
        self.id = f"{name}-{len(log)}"
        self.label = f"{name}({target})"

    def apply(self) -> None:
        if self.selector == "nowhere":
            raise ScenarioError("unknown target 'nowhere'")
        self.log.append(f"apply {self.label}")

    def revert(self) -> None:
        self.log.append(f"revert {self.label}")


class PanelStack:
    name = "t"

    def __init__(self) -> None:
        self.log: list[str] = []

    def fault(
        self, name: str, target: str, params: Mapping[str, Any] | None = None, rng: random.Random | None = None
    ) -> FakeFault:
        return FakeFault(name, target, params or {}, self.log)


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now


def test_panel_applies_reverts_and_expires_faults() -> None:
    from infra.wait import wait_until

    stack = PanelStack()
    clock = ManualClock()
    panel = FaultPanel(stack, clock=clock, origin_s=0.0)  # type: ignore[arg-type]
    first = panel.apply("pause", "api-0", {}, 30)
    panel.apply("kill", "web-1", {}, 5)
    assert [a["target"] for a in panel.active()] == ["api-0", "web-1"]
    clock.now = 6.0  # web-1's 5 s are up
    wait_until(lambda: (len(panel.ids()) == 1, panel.ids()), what="the kill to expire", timeout_s=5, interval_s=0.05)
    assert stack.log == ["apply pause(api-0)", "apply kill(web-1)", "revert kill(web-1)"]
    panel.revert(first)
    assert stack.log[-1] == "revert pause(api-0)"
    with pytest.raises(FaultError, match="no active fault"):
        panel.revert(first)
    panel.apply("pause", "api-1", {}, 30)
    assert panel.close() == 1
    assert stack.log[-1] == "revert pause(api-1)" and not panel.ids()


@pytest.mark.parametrize(
    ("name", "params", "duration_s", "message"),
    [
        ("pause", {}, 0, "duration_s = 0: give 1 to 600 seconds"),
        ("pause", {}, 601, "duration_s = 601"),
        ("melt", {}, 10, "unknown fault 'melt'"),
        ("latency", {"latency_ms": "slow"}, 10, "fault latency: latency_ms = 'slow' is not a valid int"),
        ("pause", {"colour": 1}, 10, "fault pause: unknown parameter 'colour'"),
    ],
)
def test_panel_rejects_bad_input_before_touching_the_stack(
    name: str, params: dict[str, Any], duration_s: float, message: str
) -> None:
    stack = PanelStack()
    panel = FaultPanel(stack)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError) as err:
        panel.apply(name, "api-0", params, duration_s)
    assert message in str(err.value)
    assert stack.log == [] and panel.close() == 0


# -- rolling update waves -----------------------------------------------------------------


def step(resource: str, op: str, kind: str = "Container") -> PlannedStep:
    return PlannedStep(urn=f"urn:x::{resource}", op=op, resource=resource, type=f"pulumi-python:dynamic/docker:{kind}")


def test_waves_put_in_place_changes_first_then_replacements_by_replica_index() -> None:
    first, rest = waves([
        step("sd-t-api-1", "replace"),
        step("sd-t-edge-0", "update"),
        step("sd-t-api-0", "replace"),
        step("sd-t-web-0", "replace"),
        step("sd-t-integration-0", "create"),
        step("sd-t-status", "replace"),
    ])  # fmt: skip
    assert [s.resource for s in first] == ["sd-t-edge-0", "sd-t-integration-0"]
    assert [[s.resource for s in wave] for wave in rest] == [
        ["sd-t-api-0", "sd-t-web-0", "sd-t-status"],
        ["sd-t-api-1"],
    ]


def test_a_replaced_network_is_refused() -> None:
    with pytest.raises(StackError, match="replaces network sd-t-back"):
        waves([step("sd-t-back", "replace", "Network")])


# -- map ----------------------------------------------------------------------------------


def test_container_view_marks_state_faults_throttling_and_the_primary(tmp_path: Path) -> None:
    found = fakes.containers([("api", 2), ("redis", 2)])
    outs = fakes.outputs(found)
    health = {"sd-t-api-0": "paused", "sd-t-api-1": "healthy", "sd-t-redis-0": "exited", "sd-t-redis-1": "healthy"}
    faults = {"sd-t-api-0": ["pause"], "sd-t-api-1": ["cpu_throttle"], "sd-t-redis-0": ["kill"]}
    view = {c["name"]: c for c in container_view(outs, health, faults, "sd-t-redis-1")}
    assert view["sd-t-api-0"]["state"] == "paused" and view["sd-t-api-0"]["faults"] == ["pause"]
    assert view["sd-t-api-1"]["throttled"] and view["sd-t-api-1"]["health"] == "healthy"
    assert view["sd-t-redis-0"]["state"] == "killed"
    assert view["sd-t-redis-1"]["primary"] and not view["sd-t-redis-0"]["primary"]
    assert view["sd-t-api-0"]["short"] == "api-0" and view["sd-t-api-0"]["zone"] == "a"
    assert Journal("t", root=tmp_path).entries() == []


def test_a_taken_dashboard_port_is_bad_input_before_anything_is_created(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "stackdrill.cli", "train", "surge-on-slow-dependency", "--port", str(port)],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "STACKDRILL_STATE": str(tmp_path / "state")},
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port} is taken" in lines[0], lines
    assert "bringing up" not in done.stdout
