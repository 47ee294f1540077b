"""Training mode on real stacks: the dashboard driven in headless Chromium, and a lesson played by
`stackdrill train --auto` end to end."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from failover_tests import drill_docker as dk
from failover_tests.train.server import TrainServer
from failover_tests.train.session import TrainSession
from infra import outputs as O
from infra.docker_resources import kit_objects
from tests.integration.conftest import cli

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.destructive
def test_dashboard_in_a_real_browser(stack: Any, steady: Any, tmp_path: Path) -> None:
    """Open the dashboard, see the charts move, pause one API replica from the fault panel, see
    it paused on the map and DOWN in the LBs, revert everything, and nothing is left paused."""
    from playwright.sync_api import sync_playwright

    victim = stack.containers(O.TIER_API)[0].name
    short = victim.removeprefix(f"sd-{stack.name}-")
    session = TrainSession(stack, topology_name="default").start()
    server = TrainServer(session, session).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url)
            chart = page.locator('svg[data-chart="api.complete"]')
            chart.wait_for(timeout=15_000)
            first = chart.get_attribute("data-updated")
            page.wait_for_function(
                f"document.querySelector('svg[data-chart=\"api.complete\"]').getAttribute('data-updated') != '{first}'",
                timeout=10_000,
            )
            page.locator(f'[data-container="{victim}"][data-state="running"]').wait_for(timeout=15_000)
            page.screenshot(path=str(tmp_path / "1-steady.png"))

            t0 = time.monotonic()
            page.select_option("#fault-name", "pause")
            page.select_option("#fault-target", short)
            page.fill("#fault-duration", "60")
            page.click("#fault-apply")
            page.locator(f'[data-container="{victim}"][data-state="paused"]').wait_for(timeout=15_000)
            seen_paused_s = time.monotonic() - t0
            assert dk.state(victim) == "paused"
            down = page.locator(f'[data-lb-server="{victim}"][data-lb-state^="DOWN"]')
            down.first.wait_for(timeout=15_000)
            seen_down_s = time.monotonic() - t0
            page.screenshot(path=str(tmp_path / "2-paused.png"))

            page.click("#revert-all")
            page.locator(f'[data-container="{victim}"][data-state="running"]').wait_for(timeout=15_000)
            page.locator(f'[data-lb-server="{victim}"][data-lb-state^="DOWN"]').first.wait_for(
                state="detached", timeout=30_000
            )
            page.screenshot(path=str(tmp_path / "3-reverted.png"))
            browser.close()
        assert not errors, f"the page raised: {errors}"
        print(f"dashboard: pause seen on the map after {seen_paused_s:.2f} s, LB DOWN after {seen_down_s:.2f} s")
    finally:
        server.stop()
        problems = session.close()
    assert problems == []
    paused = [c.name for c in stack.containers() if dk.state(c.name) == "paused"]
    assert paused == [], f"left paused: {paused}"
    assert session.panel.ids() == []


@pytest.mark.destructive
def test_a_lesson_plays_by_itself_and_ends_with_the_drill_verdict(stack: Any, steady: Any, tmp_path: Path) -> None:
    """`stackdrill train --auto surge-on-slow-dependency -s <the session stack>`: both steps judged
    like a drill and green, the verdict table, the session saved as a drill report, and the
    attached stack left up and whole.

    It attaches to the session stack rather than making its own: on 2 cores a second stack (this
    one idling at 42% of a core, 31% of it Docker's exec health checks) starved the lesson's
    stack into ~1 s stalls of every path and it went red in 1 of 4 runs (sessions p99 1116 ms >
    1000 ms); attached to one stack it was green 6 of 6, sessions max 84-273 ms. Making and
    tearing down a stack of its own is the Ctrl-C test's part.
    """
    out = tmp_path / "train"
    proc = cli("train", "--auto", "surge-on-slow-dependency", "-s", stack.name, "--report-dir", str(out), timeout_s=600)
    text = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "dashboard: http://127.0.0.1:" in proc.stdout
    assert "lesson surge-on-slow-dependency" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["scenarios"]] == ["surge-slow-model", "surge-tripled"]
    red = [s["name"] for s in report["scenarios"] if s["status"] != "pass"]
    assert report["exit_code"] == proc.returncode, (report["exit_code"], proc.returncode)
    assert not red and proc.returncode == 0, text
    assert "2 passed, 0 failed, 0 errors" in proc.stdout
    assert (out / "report.html").read_text().count("surge-tripled") >= 1
    assert "tearing down" not in proc.stdout + proc.stderr, "an attached stack was torn down"
    names = {c["Names"][0].lstrip("/") for c in kit_objects(f"{O.LABEL_STACK}={stack.name}")[0]}
    assert names == {c.name for c in stack.containers()}, "the attached stack lost containers"


@pytest.mark.destructive
def test_ctrl_c_reverts_the_panels_faults_and_tears_the_stack_down(tmp_path: Path) -> None:
    """Free play: a fault applied from the dashboard's API, then SIGINT: exit 130, the fault was
    reverted before the stack went down, and nothing of the stack is left."""
    import signal
    import subprocess

    import requests

    from tests.integration.conftest import ROOT, STACKDRILL

    proc = subprocess.Popen(
        [STACKDRILL, "train", "-t", "minimal", "--report-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        url = ""
        deadline = time.monotonic() + 240
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else ""
        assert url, "".join(lines)
        stack_name = re.search(r"bringing up stack (\S+)", "".join(lines))
        assert stack_name
        victim = f"sd-{stack_name.group(1)}-api-0"
        answer = requests.post(
            f"{url}api/faults", json={"name": "pause", "target": "api-0", "params": {}, "duration_s": 120}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert dk.state(victim) == "paused"
        bad = requests.post(f"{url}api/faults", json={"name": "melt", "target": "api-0", "duration_s": 5}, timeout=10)
        assert bad.status_code == 400 and "unknown fault 'melt'" in bad.json()["error"]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + out
    assert proc.returncode == 130, text[-3000:]
    assert "reverted 1 fault(s) of the dashboard" in text, text[-3000:]
    containers, networks = kit_objects(f"{O.LABEL_STACK}={stack_name.group(1)}")
    assert not containers and not networks, "the session's stack was left behind"
