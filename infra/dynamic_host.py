"""The dynamic-provider host the Pulumi engine runs for our Docker resources.

It is Pulumi's own `python -m pulumi.dynamic` with one change: that host serves at most 4
calls at once (a fixed `ThreadPoolExecutor(max_workers=4)`), which turns a 21-container
`up` into batches of 4. Creating a container is mostly waiting on the Docker engine, so
the host here serves up to WORKERS calls at once.
"""

from __future__ import annotations

import os
from concurrent import futures

WORKERS = int(os.environ.get("STACKDRILL_PROVIDER_WORKERS", "32"))
_Base = futures.ThreadPoolExecutor


class _WidePool(_Base):
    """A thread pool that never has fewer than WORKERS threads."""

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "") -> None:
        super().__init__(max(max_workers or 0, WORKERS), thread_name_prefix)


def main() -> None:
    """Serve the dynamic provider (the module runs its server when imported)."""
    futures.ThreadPoolExecutor = _WidePool  # type: ignore[misc,assignment]
    import pulumi.dynamic.__main__  # noqa: F401  (starts the gRPC server and blocks)


if __name__ == "__main__":
    main()
