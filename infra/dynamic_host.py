"""The dynamic-provider host the Pulumi engine runs (or attaches to) for our Docker resources.

It is Pulumi's own `python -m pulumi.dynamic` with two changes:
- that host serves at most 4 calls at once (a fixed `ThreadPoolExecutor(max_workers=4)`), which
  turns a 21-container `up` into batches of 4; creating a container is mostly waiting on the
  Docker engine, so the host here serves up to WORKERS calls at once;
- once it listens, it imports the Docker SDK and the kit's modules the resource calls use (0.5 s
  here), instead of inside the first call;
- it answers the engine's `Attach`, so an engine can be pointed at a host it did not start;
- it serves on the port in STACKDRILL_HOST_PORT if set (the kit reserved it, so it can point an
  engine at the host before it listens), instead of one of its own choosing.
Started by the kit ahead of the engine (`infra.provider_host`, STACKDRILL_WARM_HOST set), it
exits when its stdin closes: the kit process that owns it is gone.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent import futures
from typing import Any

WORKERS = int(os.environ.get("STACKDRILL_PROVIDER_WORKERS", "32"))
_Base = futures.ThreadPoolExecutor


class _WidePool(_Base):
    """A thread pool that never has fewer than WORKERS threads."""

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "") -> None:
        super().__init__(max(max_workers or 0, WORKERS), thread_name_prefix)


def _warm() -> None:
    """Import what the first resource call needs, while the engine connects."""
    from infra import (
        docker_resources,  # noqa: F401
        dynamic,  # noqa: F401
    )


def _exit_with_owner() -> None:
    """Exit when stdin closes: the kit process that started this host has ended."""
    sys.stdin.buffer.read()
    os._exit(0)


def _serve(hook: Any, port: str | None) -> None:
    """Have Pulumi's server listen on `port` (if given), and run `hook` in a thread once it has
    started (it prints its port right after)."""
    import grpc

    real = grpc.server

    def server(*args: Any, **kwargs: Any) -> Any:
        srv = real(*args, **kwargs)
        start, add_port = srv.start, srv.add_insecure_port

        def on_port(address: str) -> int:
            return int(add_port(f"127.0.0.1:{port}" if port else address))

        srv.add_insecure_port = on_port

        def started() -> None:
            start()
            threading.Thread(target=hook, daemon=True).start()

        srv.start = started
        return srv

    grpc.server = server


def _accept_attach() -> None:
    """Answer the engine's `Attach` (its address, sent to a host it did not start).

    Pulumi's dynamic provider leaves it unimplemented, and the engine fails the provider on that.
    The host needs nothing from the engine's address: every call brings what it needs.
    """
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import ResourceProviderServicer

    ResourceProviderServicer.Attach = lambda _self, _request, _context: empty_pb2.Empty()  # type: ignore[method-assign,assignment]


def main() -> None:
    """Serve the dynamic provider (the module runs its server when imported)."""
    futures.ThreadPoolExecutor = _WidePool  # type: ignore[misc,assignment]
    _accept_attach()
    _serve(_warm, os.environ.get("STACKDRILL_HOST_PORT"))
    if os.environ.get("STACKDRILL_WARM_HOST"):
        threading.Thread(target=_exit_with_owner, daemon=True).start()
    import pulumi.dynamic.__main__  # noqa: F401  (starts the gRPC server and blocks)


if __name__ == "__main__":
    main()
