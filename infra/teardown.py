"""Tearing a stack down: `pulumi destroy --remove` run by the CLI itself, then a sweep by label.

A destroy runs no program: the engine deletes what the stack's state holds (a null source). So
this module runs the CLI directly, with the command line the Automation API would build for
`stack.destroy(remove=True)`, and never imports the Pulumi SDK: a separate `stackdrill down`
pays for its own small imports instead of the Automation API's (1.7-1.9 s of CPU with the
CLI's), and a destroy needs no in-process language server, event-log watcher or read-back of
the summary.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

from infra import docker_resources, leases, provider_host
from infra.errors import StackError, StaleNetwork
from infra.host import ROOT, state_dir
from infra.labels import LABEL_STACK, check_name
from infra.toolchain import engine_env, pulumi_binary
from infra.wait import wait_until

log = logging.getLogger(__name__)
PROJECT = "stackdrill"
PARALLEL = 64
DESTROY_TIMEOUT_S = 600.0
# How long a destroy waits for a provider host this process started and that is still starting.
# A separate `stackdrill down` starts one as it begins (the CLI); attaching to it once it listens
# beat letting the engine start its own plugin: 4.8-5.8 s against 5.5-6.4 s (5 alternating pairs).
# A host that is warm already (a drill's down) answers at once; no host started: no wait.
HOST_WAIT_S = 3.0


def workdir(stack: str) -> Path:
    """The stack's Pulumi workspace folder (its Pulumi.yaml, the Redis password)."""
    return state_dir() / "workspaces" / stack


def backend_dir() -> Path:
    """The local file backend that holds every stack's state."""
    path = state_dir() / "backend"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file(stack: str) -> Path:
    """The stack's record in the file backend (Pulumi's project-scoped layout, format version 3)."""
    return backend_dir() / ".pulumi" / "stacks" / PROJECT / f"{stack}.json"


def in_backend(stack: str) -> bool:
    """Whether the file backend holds this stack (created, not yet removed)."""
    return state_file(stack).exists()


def init_in_backend(stack: str) -> bool:
    """Record a new, empty stack in the file backend, as `pulumi stack init` would; False if this
    backend has never held a stack (then `pulumi stack init` lays it out first).

    `pulumi stack init` (0.35-0.43 s here: the CLI's start and the passphrase's key derivation,
    PBKDF2 with 10^6 rounds) writes this record and the stack's encryption salt. The record alone
    is a stack to the CLI (`pulumi stack ls` lists it); the first operation that needs the
    secrets manager makes the salt (`pulumi up` derives the key anyway). Every drill makes a new
    stack, so every drill paid for it. The layout is the pinned CLI's (tools/pulumi-cli/go.mod);
    tests/integration/test_lifecycle.py checks a stack made this way deploys, keeps its secret
    encrypted and is destroyed.
    """
    root = backend_dir() / ".pulumi"
    if not (root / "meta.yaml").exists():  # a fresh backend: the CLI writes its layout version
        return False
    path = state_file(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.dumps({"version": 3, "checkpoint": {"stack": f"organization/{PROJECT}/{stack}"}})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(record)
    try:
        os.link(tmp, path)  # never over an existing stack's state, even one made meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return True


def project_file(stack: str) -> Path:
    """The workspace's Pulumi.yaml: the one the Automation API wrote, or the same settings written here."""
    folder = workdir(stack)
    path = folder / "Pulumi.yaml"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"name: {PROJECT}\nruntime: python\nmain: {ROOT}\nbackend:\n  url: file://{backend_dir()}\n")
    return path


def destroy_command(stack: str, binary: Path) -> list[str]:
    """What the Automation API runs for `destroy(remove=True, parallel=64)`, in one CLI call."""
    return [
        str(binary),
        "--non-interactive",
        "destroy",
        "--yes",
        "--skip-preview",
        "--remove",  # the SDK would run `pulumi stack rm` afterwards (0.31 s here)
        "--parallel",
        str(PARALLEL),
        "--color",
        "never",
        "--suppress-progress",
        "--stack",
        stack,
    ]


def pulumi_destroy(stack: str) -> None:
    """Destroy the stack's resources and remove it from the backend; StackError if the engine fails."""
    binary = pulumi_binary()
    if binary is None:
        raise StackError("Pulumi CLI not found; fix: make setup (builds it offline)")
    project_file(stack)
    with provider_host.attached(HOST_WAIT_S) as attach:
        env = {**os.environ, **engine_env(), **attach}
        try:
            done = subprocess.run(
                destroy_command(stack, binary),
                cwd=workdir(stack),
                env=env,
                capture_output=True,
                text=True,
                timeout=DESTROY_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"pulumi destroy of {stack} took over {DESTROY_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()]
        raise StackError(f"pulumi destroy of {stack} failed ({done.returncode}): {' | '.join(lines[-4:])[-600:]}")


def destroy(stack: str) -> None:
    """Destroy the stack (if Pulumi holds it), sweep what is labelled with it, forget it on disk."""
    if in_backend(stack):
        try:
            pulumi_destroy(stack)
            (workdir(stack) / ".redis-password").unlink(missing_ok=True)
        except StackError as exc:
            log.warning("%s; sweeping by label", exc)
    sweep_until_gone(stack)
    if not in_backend(stack):
        forget_on_disk(stack)
    leases.release(stack)


def forget_on_disk(stack: str) -> None:
    """Remove what a removed stack leaves in the file backend and its workspace.

    `pulumi destroy --remove` drops the stack's state file but keeps its checkpoint backups,
    update history, lock folder and the `.bak` of its state: about 0.5 MB per drill, every
    drill on a new stack, growing without end on a laptop or a kept CI runner.
    """
    root = backend_dir() / ".pulumi"
    for folder in (
        root / "backups" / PROJECT / stack,
        root / "history" / PROJECT / stack,
        root / "locks" / "organization" / PROJECT / stack,
        workdir(stack),
    ):
        shutil.rmtree(folder, ignore_errors=True)
    for leftover in state_file(stack).parent.glob(f"{stack}.json*"):
        leftover.unlink(missing_ok=True)


def sweep_until_gone(stack: str, timeout_s: float = 15.0) -> None:
    """Sweep until nothing labelled with the stack is left: an object the provider was still
    creating when the destroy began shows up after a first sweep (make test here once left a
    stack's back network behind with nothing attached and no error from the engine)."""

    def gone() -> tuple[bool, str]:
        sweep_stack(stack)
        left_c, left_n = docker_resources.kit_objects(f"{LABEL_STACK}={stack}")
        return not left_c and not left_n, f"{len(left_c)} containers, {len(left_n)} networks left"

    try:
        wait_until(gone, what=f"every object of stack {stack} to be removed", timeout_s=timeout_s, interval_s=1.0)
    except StackError as exc:
        log.warning("%s; run: stackdrill reap --stack-name %s --remove", exc, stack)


def sweep_stack(stack: str) -> tuple[int, int]:
    """Remove every container and network labelled with this stack; return the counts."""
    containers, networks = docker_resources.kit_objects(f"{LABEL_STACK}={stack}")
    for c in containers:
        docker_resources.remove_container(c["Id"])
    for n in networks:
        try:
            docker_resources.remove_network(n["Name"])
        except StaleNetwork as exc:
            log.warning("%s", exc)
    return len(containers), len(networks)


__all__ = ["check_name", "destroy", "in_backend", "sweep_stack", "workdir"]
