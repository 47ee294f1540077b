"""Provisioning benchmark: `stackdrill up`/`down` against the Docker SDK floor, side by side in one run.

Prints, for the default topology:
  - up: `stackdrill up` (Pulumi engine, dynamic resources, wait for health and both edges)
  - floor: the same containers on the same networks created directly with the Docker SDK from
    8 threads, waiting for the same health (and the same edge check)
  - their ratio (goal <= 1.2)
  - down: `stackdrill down` against removing the same containers with the SDK from 8 threads (the
    kit's safe removal, bench/sdk_down.py; also without it, the plain parallel removal)
    and their ratio (goal <= 1.5); `down` as a drill runs it (in the process that went up, its
    provider host warm), and `stackdrill down` as a separate command against the SDK removal as
    a separate command (`bench/sdk_down.py`), both timed from the shell, interpreter start included

With --trace, also where each `up` went, from the engine's container events (seconds after the
call): first create, last create, last start, last container healthy, and the call's end.

Run: .venv/bin/python bench/provision.py [--rounds N] [--trace]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402
from sdk_down import remove_stack  # noqa: E402  (bench/ is this script's folder)

from infra import docker_resources, images, provider_host, topology  # noqa: E402
from infra import outputs as O  # noqa: E402
from infra.errors import StaleNetwork  # noqa: E402
from infra.lifecycle import StackInfo, StackManager  # noqa: E402
from infra.outputs import StackOutputs  # noqa: E402
from infra.program import ProgramArgs, build  # noqa: E402
from infra.resources import DynamicBackend  # noqa: E402

BENCH = Path(__file__).resolve().parent


class Trace:
    """The Docker engine's container events of one stack while a block runs: where an `up` goes."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.events: list[tuple[float, str]] = []
        self.t0 = self.t1 = 0.0

    def __enter__(self) -> Trace:
        self.t0 = time.time()
        self._stream = docker_resources.client().api.events(
            decode=True, since=int(self.t0) - 1, filters={"type": "container", "label": f"{O.LABEL_STACK}={self.stack}"}
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        for event in self._stream:
            self.events.append((event["timeNano"] / 1e9, str(event.get("status", ""))))

    def __exit__(self, *exc: object) -> None:
        self.t1 = time.time()  # the block's end: what follows is not timed
        time.sleep(0.3)  # the engine's last events arrive
        self._stream.close()

    def summary(self) -> str:
        def at(status: str, last: bool = True) -> str:
            times = sorted(t - self.t0 for t, s in self.events if s == status and t >= self.t0)
            return f"{times[-1 if last else 0]:4.1f}" if times else "   -"

        return (f"first create {at('create', last=False)}, last create {at('create')}, "
                f"last start {at('start')}, last healthy {at('health_status: healthy')}, "
                f"done {self.t1 - self.t0:4.1f}")  # fmt: skip


STACKDRILL = Path(sys.executable).parent / "stackdrill"


class _Capture(pulumi.runtime.Mocks):
    """Records the inputs the program gives every container and network."""

    def __init__(self) -> None:
        self.networks: list[dict[str, Any]] = []
        self.containers: list[dict[str, Any]] = []
        self.outputs: StackOutputs | None = None  # the program's, resolved (host ports are the mocks')

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outs = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic/docker:Network":
            self.networks.append(outs)
        elif args.typ == "pulumi-python:dynamic/docker:Container":
            self.containers.append(outs)
            outs["host_ports"] = {str(int(p)): 1 for p in outs.get("publish", [])}
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def specs(stack: str, image: str) -> _Capture:
    """The exact container and network inputs `stackdrill up` would create, via Pulumi mocks."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    capture = _Capture()
    pulumi.runtime.set_mocks(capture, preview=False)
    topo = topology.load("default")

    @pulumi.runtime.test
    def run() -> Any:
        args = ProgramArgs(stack=stack, image=image, owner_pid=str(os.getpid()), backend=DynamicBackend())
        outs = build(topo, args, pulumi.Output.secret("bench-password"))
        return pulumi.Output.all(**outs).apply(lambda v: setattr(capture, "outputs", StackOutputs.parse(v)))

    run()
    return capture


def sdk_up(capture: _Capture, stack: str) -> float:
    """Create everything with the SDK from 8 threads; wait for health and both edges; seconds."""
    t0 = time.perf_counter()
    for net in capture.networks:
        docker_resources.create_network(net["name"], net["labels"])
    ports: dict[str, dict[str, int]] = {}

    def make(props: dict[str, Any]) -> None:
        spec = {
            k: v for k, v in props.items() if k not in ("secret_env", "container_id", "host_ports", "secret_env_sha")
        }
        secret = props.get("secret_env") or {}
        if "value" in secret and len(secret) == 2:  # Pulumi's secret wrapper, as the mocks hand it over
            secret = secret["value"]
        spec["env"] = {**spec["env"], **secret}
        ports[props["name"]] = docker_resources.create_container(spec)["host_ports"]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, capture.containers))
    edges = [f"http://127.0.0.1:{ports[c['name']]['8080']}" for c in capture.containers
             if c["labels"][O.LABEL_TIER] == O.TIER_EDGE]  # fmt: skip
    assert capture.outputs is not None, "the program's outputs were not captured"
    info = StackInfo(stack, capture.outputs.model_copy(update={"edges": tuple(edges)}))
    StackManager(stack).wait_ready(info)
    return time.perf_counter() - t0


def sdk_down(stack: str, *, plain: bool = False) -> float:
    """Remove the stack's containers with the SDK from 8 threads, then its networks; seconds.

    A plain removal that leaves a network with a stale endpoint (the Docker 20.10 bug the kit's
    removal avoids) is timed up to that point, and said so."""
    t0 = time.perf_counter()
    try:
        remove_stack(stack, plain=plain)
    except StaleNetwork as exc:
        print(f"  (plain removal: {exc})", flush=True)
    return time.perf_counter() - t0


def sdk_down_command(stack: str) -> float:
    """The same removal as a separate command (`bench/sdk_down.py`); seconds, interpreter included."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(BENCH / "sdk_down.py"), stack], check=True, timeout=300)
    return time.perf_counter() - t0


def kit_round(stack: str, image: str, *, warm_down: bool = True, trace: bool = False) -> tuple[float, float]:
    """`up` as a new process runs it (no provider host yet), then `down`: in the same process, as
    `stackdrill drill` runs it (the host `up` started is warm), or as a separate `stackdrill down`
    command (its own interpreter and imports, no warm host to inherit), timed from the shell."""
    manager = StackManager(stack, owner_pid=os.getpid())
    provider_host.stop()
    with Trace(stack) as where:
        manager.up(topology.load("default"), image)
    up_s = where.t1 - where.t0
    if trace:
        print(f"  kit up: {where.summary()}", flush=True)
    if warm_down:
        t0 = time.perf_counter()
        manager.down()
        return up_s, time.perf_counter() - t0
    provider_host.stop()
    t0 = time.perf_counter()
    done = subprocess.run([str(STACKDRILL), "down", "-s", stack], capture_output=True, text=True, timeout=300)
    down_s = time.perf_counter() - t0
    if done.returncode != 0:
        manager.down()  # leave nothing behind, then say why the figure is missing
        raise SystemExit(f"stackdrill down -s {stack} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return up_s, down_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trace", action="store_true", help="where each up went (Docker events)")
    args = parser.parse_args()
    rounds, trace = args.rounds, args.trace
    image = images.app_image()
    pid = os.getpid()
    kit_up, kit_down, cold_down, floor_up, floor_down, floor_cmd, plain_down = [], [], [], [], [], [], []
    for i in range(rounds):
        up_s, down_s = kit_round(f"benchkit{pid}x{i}", image, trace=trace)
        kit_up.append(up_s)
        kit_down.append(down_s)
        cold_down.append(kit_round(f"benchcold{pid}x{i}", image, warm_down=False)[1])
        name = f"benchsdk{pid}x{i}"
        capture = specs(name, image)
        try:
            with Trace(name) as where:
                floor_up.append(sdk_up(capture, name))
            if trace:
                print(f"  SDK up: {where.summary()}", flush=True)
        finally:
            floor_down.append(sdk_down(name))
        try:
            sdk_up(capture, name)
        finally:
            floor_cmd.append(sdk_down_command(name))
        try:
            sdk_up(capture, name)
        finally:
            plain_down.append(sdk_down(name, plain=True))
        print(f"round {i + 1}: up {up_s:.1f} s vs SDK {floor_up[-1]:.1f} s; down {down_s:.1f} s vs SDK "
              f"{floor_down[-1]:.1f} s (plain {plain_down[-1]:.1f} s); as commands {cold_down[-1]:.1f} s "
              f"vs {floor_cmd[-1]:.1f} s", flush=True)  # fmt: skip
    n = len(capture.containers)
    up, floor, down, alone, sdk_rm, sdk_cmd, plain = (
        statistics.median(x) for x in (kit_up, floor_up, kit_down, cold_down, floor_down, floor_cmd, plain_down)
    )
    print(f"\ndefault topology: {n} containers, 2 networks, median of {rounds} rounds")
    print("(both sides wait for every container healthy and both edges serving)")
    print(f"  stackdrill up           {up:6.1f} s")
    print(f"  SDK floor (8 threads)   {floor:6.1f} s")
    print(f"  ratio up / floor        {up / floor:6.2f}   (goal <= 1.20)")
    print(f"  stackdrill down         {down:6.1f} s   (goal <= 10 s; in the process that went up, as a drill)")
    print(f"  SDK removal (8 threads) {sdk_rm:6.1f} s")
    print(f"  ratio down / SDK        {down / sdk_rm:6.2f}   (goal <= 1.50)")
    print(f"  plain SDK removal       {plain:6.1f} s   (8 threads, no pause or serial disconnects: what Docker 20.10")
    print(f"  ratio down / plain      {down / plain:6.2f}    can leave a stale network after)")
    print(f"  `stackdrill down`       {alone:6.1f} s   (a separate command: interpreter, imports, provider host)")
    print(f"  SDK removal command     {sdk_cmd:6.1f} s   (bench/sdk_down.py: interpreter, Docker SDK import)")
    print(f"  ratio as commands       {alone / sdk_cmd:6.2f}")


if __name__ == "__main__":
    main()
