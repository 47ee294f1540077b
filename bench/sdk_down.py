"""The SDK floor of removal: every container of a stack from 8 threads, then its networks.

Each container goes through `docker_resources.remove_container`, as the kit's own removal does:
paused, off its networks one endpoint at a time, removed (Docker 20.10 can otherwise keep a
network with a stale endpoint). `plain=True` force-removes from 8 threads without that, the
fastest removal and the one that engine bug hits.

Imported by bench/provision.py, and run as its own command (`python bench/sdk_down.py STACK`) to
time a removal the way a separate `stackdrill down` runs: a new interpreter, its imports included.
Imports only the Docker SDK side of the kit, as a hand-written teardown script would.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra import docker_resources  # noqa: E402
from infra.labels import LABEL_STACK  # noqa: E402


def remove_stack(stack: str, *, plain: bool = False) -> None:
    """Remove the stack's containers with the SDK from 8 threads, then its networks."""
    containers, networks = docker_resources.kit_objects(f"{LABEL_STACK}={stack}")
    api = docker_resources.client().api

    def remove(c: dict[str, str]) -> None:
        if plain:
            api.remove_container(c["Id"], force=True, v=True)
        else:
            docker_resources.remove_container(c["Id"])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(remove, containers))
    for n in networks:
        docker_resources.remove_network(n["Name"])


if __name__ == "__main__":
    remove_stack(sys.argv[1])
