"""Drills in child processes (`stackdrill drill`), for the commands that run several: compare and mutate.

A child drill is a whole `stackdrill drill`: its own stack, its own report directory, its own
revert and teardown on every exit path. Its progress lines come back tagged (`[base 1] ...`);
its summary table goes to `drill.txt` and its log to `drill.log` in its report directory. On an
interrupt every child still running gets SIGINT and time to tear its stack down.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from failover_tests.compare.document import RunRecord

# A child drill gets this long to revert its faults and tear its stack down after an interrupt.
CHILD_STOP_S = 240.0


@dataclass
class DrillJob:
    """One child drill to run: which side it stands for, on which topology file, where it reports."""

    side: str
    index: int
    topology: Path
    report_dir: Path
    stack_name: str
    scenarios: tuple[str, ...]
    seed: int
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    ended: float = 0.0

    @property
    def tag(self) -> str:
        return f"{self.side} {self.index}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "stackdrill.cli", "drill", *self.scenarios,
            "--topology", str(self.topology),
            "--stack-name", self.stack_name,
            "--report-dir", str(self.report_dir),
            "--seed", str(self.seed),
        ]  # fmt: skip


def _start(job: DrillJob, say: Callable[[str], None]) -> threading.Thread:
    """Start the child drill; a thread relays its progress lines, tagged with its side."""
    job.report_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "report.html"):  # a report left in the directory is not this run's
        (job.report_dir / stale).unlink(missing_ok=True)
    env = {**os.environ, "COLUMNS": "160"}
    job.started = time.monotonic()
    with (job.report_dir / "drill.txt").open("w", encoding="utf-8") as table:
        job.proc = subprocess.Popen(job.command(), stdout=table, stderr=subprocess.PIPE, text=True, env=env, bufsize=1)

    def relay() -> None:
        assert job.proc is not None and job.proc.stderr is not None
        with (job.report_dir / "drill.log").open("w", encoding="utf-8") as log:
            for line in job.proc.stderr:
                log.write(line)
                if line.strip():
                    say(f"[{job.tag}] {line.rstrip()}")

    thread = threading.Thread(target=relay, name=f"relay-{job.tag}", daemon=True)
    thread.start()
    return thread


def stop(jobs: Sequence[DrillJob]) -> None:
    """Interrupt the children still running; each reverts its faults and tears its stack down."""
    live = [j for j in jobs if j.proc is not None and j.proc.poll() is None]
    for job in live:
        assert job.proc is not None
        with contextlib.suppress(ProcessLookupError):
            job.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + CHILD_STOP_S
    for job in live:
        assert job.proc is not None
        try:
            job.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            job.proc.kill()  # its stack is an orphan now: the next command's reap removes it


def _record(job: DrillJob) -> RunRecord:
    assert job.proc is not None
    path = job.report_dir / "report.json"
    report: dict[str, Any] = {}
    if path.exists():
        with contextlib.suppress(OSError, ValueError):
            report = dict(json.loads(path.read_text()))
    return RunRecord(job.side, job.index, job.report_dir, int(job.proc.returncode), job.ended - job.started, report)


def run_batch(batch: Sequence[DrillJob], say: Callable[[str], None]) -> list[RunRecord]:
    """Run the batch's drills at the same time; their records once all have ended.

    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it) stops every child before it propagates.
    """
    relays = []
    try:
        for job in batch:
            say(f"[{job.tag}] drill {job.topology.name} on stack {job.stack_name} -> {job.report_dir}")
            relays.append(_start(job, say))
        for job, relay in zip(batch, relays, strict=True):
            assert job.proc is not None
            job.proc.wait()
            job.ended = time.monotonic()
            relay.join(timeout=5)
    except BaseException:
        stop(batch)
        raise
    return [_record(job) for job in batch]
