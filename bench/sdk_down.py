"""The SDK floor of removal: every container of a stack from 8 threads, then its networks.

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


def remove_stack(stack: str) -> None:
    """Remove the stack's containers with the SDK from 8 threads, then its networks."""
    containers, networks = docker_resources.kit_objects(f"{LABEL_STACK}={stack}")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: docker_resources.remove_container(c["Id"]), containers))
    for n in networks:
        docker_resources.remove_network(n["Name"])


if __name__ == "__main__":
    remove_stack(sys.argv[1])
