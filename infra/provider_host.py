"""A warm dynamic-provider host per kit process, which the Pulumi engine attaches to.

Left to itself, every `pulumi up`/`destroy` starts the dynamic-provider host (`python -m
infra.dynamic_host`) and waits for it: the interpreter, `import pulumi` (0.6 s here) and, at the
first resource call, the Docker SDK and the kit's modules (0.5 s), on the critical path of every
operation. The kit starts one host in the background when it first deploys (`up`, a preview) and
at the start of a `stackdrill down` (which waits for it to listen), and
points the engine of every later operation of the process at it with
`PULUMI_DEBUG_PROVIDERS=pulumi-python:<port>` (the engine's attach mode,
`GetProviderAttachPort` in the Pulumi SDK): the engine dials the host instead of starting one.
The host stays warm for the process's next operation: a drill's `down` after its `up`, the steps
of a rolling update.

- The port is known before the host listens: the kit reserves it (a socket bound with
  SO_REUSEPORT, never listening, which keeps every other program off it) and the host's gRPC
  server binds it too (gRPC sets SO_REUSEPORT on Linux). So an `up` can point its engine at a
  host that is still importing (`attached(early=True)`): the engine dials the provider only once
  the program registers its first resource, 0.7 s or more after it starts, and a host listens
  0.5 s after its own start; a dial refused before that is retried by gRPC after about 1 s.
  Without it, the first `up` of a process launched a second, cold plugin next to the warm host
  and waited 0.6 s for it before creating anything.
- One engine at a time: an operation that finds the host busy, dead, not started or (past its
  `wait_s`, unless `early`) still starting lets the engine start its own plugin as before
  (`attached()` yields no variables); the host goes on warming for the next operation.
- The host inherits the process's environment when it starts; it is started again when
  `DOCKER_HOST` (or the TLS settings) change, so it never serves one engine's stack on another.
- It dies with the process: it exits when its stdin (a pipe from this process) closes, which a
  SIGKILLed kit closes too, and `stop()` ends it at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import select
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pulumi-python"  # the engine's package name for Python dynamic providers
ATTACH_VAR = "PULUMI_DEBUG_PROVIDERS"
WARM_VAR = "STACKDRILL_WARM_HOST"  # tells infra.dynamic_host to watch its stdin
PORT_VAR = "STACKDRILL_HOST_PORT"  # the port infra.dynamic_host serves on (reserved here)
_KEY_VARS = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")


class _Host:
    """The process's one host: started on demand, lent to one engine at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the fields below
        self._busy = threading.Lock()  # held while an engine is attached
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None  # the port the host said it listens on
        self._reserved: socket.socket | None = None  # holds the host's port until it listens
        self._key: tuple[str, ...] = ()

    @staticmethod
    def _env_key() -> tuple[str, ...]:
        return tuple(os.environ.get(v, "") for v in _KEY_VARS)

    def _running_locked(self) -> bool:
        """A host is up and was started for this environment."""
        return self._proc is not None and self._proc.poll() is None and self._key == self._env_key()

    def start(self, nice: int = 0) -> None:
        """Start the host in the background unless one for this environment runs; never blocks on it."""
        with self._lock:
            if self._running_locked():
                return
            self._stop_locked()
            from infra.toolchain import dynamic_plugin, engine_env

            try:
                self._reserved = _reserve_port()
            except OSError as exc:
                log.debug("provider host not started: no port to reserve: %s", exc)
                return
            port = self._reserved.getsockname()[1]
            env = {**os.environ, **engine_env(), WARM_VAR: "1", PORT_VAR: str(port), "PULUMI_PROJECT": "stackdrill"}
            env.pop(ATTACH_VAR, None)
            try:
                self._proc = subprocess.Popen(
                    [str(dynamic_plugin())],  # what the engine would run
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as exc:
                log.debug("provider host not started: %s", exc)
                self._stop_locked()
                return
            with contextlib.suppress(OSError):  # the engine's priority (no preexec_fn: the kit runs threads)
                os.setpriority(os.PRIO_PROCESS, self._proc.pid, nice)
            self._port = None
            self._key = self._env_key()

    def _ready_port(self, timeout_s: float) -> int | None:
        """The host's port once it listens (it prints it first thing), or None."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            return None
        if self._port is None:
            ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
            if not ready:
                return None  # still starting
            line = proc.stdout.readline().strip()
            if not line.isdigit() or int(line) != self._planned_port():
                log.debug("provider host gave no port or another one (%r); the engine starts its own", line)
                self._stop_locked()
                return None
            self._port = int(line)
            self._release_reservation()  # the host listens on it now
        return self._port if proc.poll() is None else None

    def _planned_port(self) -> int | None:
        return self._reserved.getsockname()[1] if self._reserved is not None else self._port

    def _release_reservation(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    @contextlib.contextmanager
    def attached(self, wait_s: float = 0.0, *, early: bool = False) -> Iterator[dict[str, str]]:
        """The variables that attach one engine run to the host if it is up and listening within
        `wait_s` (with `early`, if it is up at all: the engine dials it later); {} lets the engine
        start its own plugin, as without a warm host.

        `up` and previews attach early: their engine starts at once and needs the provider 0.7 s
        or more later, when the program registers its first resource (the first container create
        came 0.9-1.4 s into an `up`, against 1.5-2.2 s with the engine starting its own plugin). A
        `down` that runs the CLI itself imports little and its engine needs the provider sooner:
        it waits for the host it started to listen (infra.teardown.HOST_WAIT_S) rather than risk
        gRPC's 1 s retry of a refused dial. A warm host starts the first delete 0.4 s sooner and
        saves the plugin's imports.
        """
        if os.environ.get("STACKDRILL_NO_WARM_HOST") or not self._busy.acquire(blocking=False):
            yield {}
            return
        try:
            with self._lock:
                port = self._ready_port(wait_s) if self._running_locked() else None
                if port is None and early and self._running_locked():
                    port = self._planned_port()
            yield {ATTACH_VAR: f"{PACKAGE}:{port}"} if port else {}
        finally:
            self._busy.release()

    def _stop_locked(self) -> None:
        proc, self._proc, self._port = self._proc, None, None
        self._release_reservation()
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()  # the host exits on EOF
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def stop(self) -> None:
        """End the host (at exit, or when its environment changed)."""
        with self._lock:
            self._stop_locked()


def _reserve_port() -> socket.socket:
    """A 127.0.0.1 port chosen by the kernel and held, not listening, by a socket that lets the
    host's gRPC server (which sets SO_REUSEPORT) bind it too, and nothing else."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
    except OSError:
        sock.close()
        raise
    return sock


_HOST = _Host()
start = _HOST.start
attached = _HOST.attached
stop = _HOST.stop
atexit.register(stop)

__all__ = ["attached", "start", "stop"]
