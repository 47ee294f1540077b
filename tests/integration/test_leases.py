"""Stacks never outlive a dead job: a SIGKILLed runner's stack is removed by the next command,
while a live runner's stack (and the session's) is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

from infra import docker_resources, leases
from infra import outputs as O
from tests.integration.conftest import ROOT, cli

RUNNER = textwrap.dedent(
    """
    import sys, threading
    from failover_tests.stack import provision
    from infra import topology

    stack = provision(topology.load("minimal"), sys.argv[1], keep=False)
    print("up", flush=True)
    threading.Event().wait(600)  # a job that hangs until it is killed
    """
)


def _objects(name: str) -> int:
    containers, networks = docker_resources.kit_objects(f"{O.LABEL_STACK}={name}")
    return len(containers) + len(networks)


def test_a_sigkilled_runners_stack_is_reaped_by_the_next_command_and_a_live_one_is_not(stack: Any) -> None:
    name = f"runner{os.getpid()}"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, name], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "up", f"runner failed: {line}{proc.stderr.read() if proc.poll() is not None else ''}"
        lease = leases.get(name)
        assert lease is not None and lease.owner_pid == proc.pid and lease.expires_at is not None
        assert _objects(name) > 0
        # The runner lives: a reap by another command leaves its stack, and the session's, alone.
        live = cli("reap", "--remove")
        assert live.returncode == 0, live.stderr
        assert name not in live.stdout and _objects(name) > 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # The next command that works on stacks removes it, saying why.
        after = cli("status", "--stack-name", stack.name)
        assert after.returncode == 0, after.stderr
        assert f"reaped stack {name} (its owner (pid {proc.pid}) is gone)" in after.stderr + after.stdout
        assert _objects(name) == 0 and leases.get(name) is None
        assert _objects(stack.name) > 0, "the session's live stack was touched"
    finally:
        if proc.poll() is None:
            proc.kill()
        cli("reap", "--stack-name", name, "--remove")
