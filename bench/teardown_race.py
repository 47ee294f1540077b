"""How often a parallel teardown leaves a network the engine can no longer remove.

Docker 20.10 sometimes keeps a network's endpoint count one too high when many of its containers
exit at once; the empty network then refuses removal ("has active endpoints") until dockerd
restarts (moby/moby#43286). Each cycle starts N containers (`sleep infinity`, the kit's base
image) on two labelled networks, removes them from 64 threads, then removes the networks, and
counts the cycles that left one behind:

  - plain: `remove_container(force=True)` from every thread at once
  - kit:   `docker_resources.remove_container` (paused, off its networks one endpoint at a time)

Prints the count and the median removal time of each mode. A stale network stays until dockerd
restarts (`pkill -x dockerd; scripts/setup.sh docker`); the script names them at the end.

Run: .venv/bin/python bench/teardown_race.py [--cycles 20] [--containers 21] [--modes plain,kit]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra import docker_resources  # noqa: E402
from infra.errors import StaleNetwork  # noqa: E402
from infra.labels import LABEL_KIT, LABEL_OWNER_PID, LABEL_STACK  # noqa: E402
from infra.toolchain import base_image_tag  # noqa: E402


def cycle(mode: str, stack: str, count: int) -> tuple[float, list[str]]:
    """One teardown: seconds from the first removal to the networks gone, and the networks left."""
    c = docker_resources.client()
    labels = {LABEL_KIT: "1", LABEL_STACK: stack, LABEL_OWNER_PID: str(os.getpid())}
    front = c.networks.create(f"sd-{stack}-front", labels=labels)
    back = c.networks.create(f"sd-{stack}-back", labels=labels)

    def make(i: int) -> str:
        cont = c.containers.create(
            base_image_tag(), ["sleep", "infinity"], name=f"sd-{stack}-c{i}", labels=labels, network=back.name
        )
        if i % 3 == 0:
            front.connect(cont)
        cont.start()
        return str(cont.id)

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(make, range(count)))
    t0 = time.perf_counter()

    def remove(cid: str) -> None:
        if mode == "plain":
            c.api.remove_container(cid, force=True, v=True)
        else:
            docker_resources.remove_container(cid)

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(remove, ids))
    left = []
    for net in (front, back):
        try:
            docker_resources.remove_network(str(net.name))  # retries a lingering endpoint for 10 s
        except StaleNetwork:
            left.append(str(net.name))
    return time.perf_counter() - t0, left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--containers", type=int, default=21)
    parser.add_argument("--modes", default="plain,kit")
    args = parser.parse_args()
    stale: list[str] = []
    for mode in args.modes.split(","):
        times, bad = [], 0
        for k in range(args.cycles):
            seconds, left = cycle(mode, f"race{os.getpid()}{mode[0]}{k}", args.containers)
            stale += left
            bad += bool(left)
            if not left:
                times.append(seconds)
            print(f"{mode} cycle {k + 1}: {seconds:.2f} s{'; stale: ' + ', '.join(left) if left else ''}", flush=True)
        median = f"{statistics.median(times):.2f} s" if times else "-"
        print(f"{mode}: {bad} of {args.cycles} teardowns left a stale network; median removal {median}", flush=True)
    if stale:
        print(f"stale networks left (restart dockerd to remove them): {' '.join(stale)}")


if __name__ == "__main__":
    main()
