"""The `stackdrill` command line: up, down, status, doctor, reap (and the drill commands).

The CLI owns the terminal: rich progress on long work, a table at the end, `--json` for machines.
User mistakes print one line and exit 2; nothing is created before input is validated.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.errors import EXIT_KIT_ERROR, ScenarioError, StackdrillError, exit_code_of

if TYPE_CHECKING:
    from failover_tests.baseline import GateSettings
    from infra.outputs import StackOutputs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Prove a service topology survives failure.",
)
console = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 160)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)

TopologyOpt = Annotated[
    str, typer.Option("--topology", "-t", help="topology name (default, minimal, ha) or Pulumi.<name>.yaml path")
]
StackOpt = Annotated[str, typer.Option("--stack-name", "-s", help="stack name; containers are prefixed sd-<name>-")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _reap_orphans() -> None:
    """Every command that works on stacks first removes the expired and orphaned ones."""
    from infra.orphans import reap as reap_orphans

    for line in reap_orphans():
        console.print(line)


@app.command()
def up(
    topology: TopologyOpt = "default",
    stack_name: StackOpt = "default",
    ttl: Annotated[
        str, typer.Option("--ttl", help="remove the stack after this long (30m, 2h); default: keep until down")
    ] = "none",
    rolling: Annotated[
        bool,
        typer.Option(
            "--rolling", help="updating a deployed stack: replace containers one replica at a time, drained first"
        ),
    ] = False,
) -> None:
    """Bring a stack up (or update it in place); returns when every container is healthy."""
    from infra import images
    from infra import topology as topo_mod
    from infra.leases import parse_ttl
    from infra.lifecycle import StackManager
    from infra.toolchain import require_ready

    topo = topo_mod.load(topology)  # validation first: nothing exists yet
    ttl_s = parse_ttl(ttl)
    require_ready()
    _reap_orphans()
    started = time.monotonic()
    with console.status("building the service image"):
        image = images.app_image()
    manager = StackManager(stack_name, ttl_s=ttl_s)
    with _progress() as progress:
        task = progress.add_task(f"pulumi up {stack_name}", total=None)
        seen: set[str] = set()

        def on_progress(op: str, name: str, done: bool) -> None:
            if done and op != "same":
                seen.add(name)
                progress.update(task, completed=len(seen), description=f"{op} {name}")

        if rolling and manager.exists():
            from failover_tests.rolling import rolling_update

            rolling_update(manager, manager.info().outputs, topo, image, on_progress)
        info = manager.up(topo, image, on_progress)
        progress.update(task, total=len(seen) or 1, completed=len(seen) or 1, description="healthy")
    console.print(f"[green]stack {stack_name} up[/] in {time.monotonic() - started:.1f} s")
    _print_status(stack_name, info.outputs, as_json=False)


@app.command()
def down(stack_name: StackOpt = "default") -> None:
    """Tear a stack down; removes every container and network labelled with it."""
    from infra import labels, provider_host

    labels.check_name(stack_name)
    started = time.monotonic()
    # The provider host starts first; the destroy waits for it to listen and the engine attaches
    # to it instead of starting its own plugin (infra.teardown.HOST_WAIT_S). Not niced as `up`
    # starts it (ENGINE_NICE, so a drill's traffic keeps the CPU): no traffic waits on a `down`.
    # The Docker SDK's import (0.25 s) comes after, alongside the host's start.
    provider_host.start()
    from infra import teardown

    with console.status(f"destroying {stack_name}"):
        teardown.destroy(stack_name)
    console.print(f"[green]stack {stack_name} down[/] in {time.monotonic() - started:.1f} s")


@app.command()
def status(stack_name: StackOpt = "default", as_json: JsonOpt = False) -> None:
    """Edge endpoints, status page URL, and every container with tier, replica, zone and health."""
    from infra.lifecycle import StackManager

    _reap_orphans()
    info = StackManager(stack_name).info()
    _print_status(stack_name, info.outputs, as_json=as_json)


def _print_status(stack_name: str, outputs: StackOutputs, *, as_json: bool) -> None:
    from infra import docker_resources

    health = docker_resources.health_of(stack_name)
    containers = [dict(c.model_dump(mode="json"), health=health.get(c.name, "missing")) for c in outputs.containers]
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "stack": stack_name,
                    "edges": list(outputs.edges),
                    "status_url": outputs.status_url,
                    "toxiproxy_url": outputs.toxiproxy_url,
                    "containers": containers,
                }
            )
        )
        return
    out.print(f"edges:      {', '.join(outputs.edges)}")
    out.print(f"status:     {outputs.status_url}/")
    out.print(f"toxiproxy:  {outputs.toxiproxy_url}")
    table = Table(title=f"stack {stack_name}")
    for col in ("container", "tier", "replica", "zone", "role", "health"):
        table.add_column(col)
    for c in containers:
        colour = "green" if c["health"] == "healthy" else "red"
        table.add_row(c["name"], c["tier"], str(c["replica"]), c["zone"], c["role"], f"[{colour}]{c['health']}[/]")
    out.print(table)


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check every component the kit needs; exit 1 if anything is missing."""
    from infra.toolchain import doctor as run_doctor

    checks = run_doctor()
    if as_json:
        out.print_json(json.dumps([c.__dict__ for c in checks]))
    else:
        for c in checks:
            if c.ok:
                out.print(f"[green]OK[/]       {c.component:<17} {c.detail}")
            else:
                out.print(f"[red]MISSING[/]  {c.component:<17} {c.detail}; fix: {c.fix}")
    if not all(c.ok for c in checks):
        raise typer.Exit(EXIT_KIT_ERROR)


@app.command()
def reap(
    stack_name: Annotated[str, typer.Option("--stack-name", "-s", help="only this stack (reverts its faults)")] = "",
    remove: Annotated[bool, typer.Option("--remove", help="with --stack-name: also tear that stack down")] = False,
) -> None:
    """Panic button: revert faults left by dead runs, remove stacks whose owning process is gone."""
    from infra.orphans import reap as run_reap

    report: list[str] = []
    if stack_name and not remove:
        from failover_tests.fault_sweep import reap_faults
        from infra.lifecycle import StackManager

        report += reap_faults(StackManager(stack_name).info().outputs)
    report += run_reap(stack_name if remove else None)
    for line in report:
        out.print(line)
    if not report:
        out.print("nothing to reap")


@app.command("fault")
def fault_cmd(
    name: Annotated[str, typer.Argument(help="fault name, or `list` for the catalog")],
    target: Annotated[str, typer.Option("--target", help="tier, replica (api-2), selector (zone=a) or edge")] = "",
    stack_name: StackOpt = "default",
    duration: Annotated[float, typer.Option("--duration", help="seconds to hold the fault")] = 10.0,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="K=V, repeatable")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="seed for random targets")] = None,
) -> None:
    """Apply one fault for a duration, then revert it (Ctrl-C or SIGTERM reverts early)."""
    import random
    import threading

    from failover_tests.faults import REGISTRY, fault_class

    if name == "list":
        table = Table(title="fault catalog")
        for col in ("fault", "family", "on", "parameters", "what it does"):
            table.add_column(col)
        for fname, cls in sorted(REGISTRY.items()):
            params = ", ".join(
                f"{p.name}"
                + ("" if p.default is not None and p.default.__class__ is not object else "*")
                + (f"={p.default}" if p.default.__class__ is not object else "")
                for p in cls.params
            )
            table.add_row(fname, cls.family, cls.on, params or "-", cls.summary)
        out.print(table)
        return
    values: dict[str, str] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ScenarioError(f"--param {item!r}: use K=V, e.g. --param latency_ms=500")
        values[key] = value
    cls = fault_class(name)
    from failover_tests.faults.base import validate_params

    validate_params(name, values)  # bad input fails before the stack is touched
    if not target:
        raise ScenarioError(f"fault {name}: --target is required (a tier, a replica such as api-2, zone=a, or an edge)")
    from failover_tests.fault_env import fault_env
    from failover_tests.fault_sweep import reap_faults
    from infra.lifecycle import StackManager

    _reap_orphans()
    outputs = StackManager(stack_name).info().outputs
    seed = seed if seed is not None else random.randrange(1 << 30)
    fault = cls(fault_env(outputs), target, values, rng=random.Random(seed))  # resolves the target
    for line in reap_faults(outputs):
        console.print(f"reap: {line}")
    stop = threading.Event()
    console.print(f"applying {fault.label} for {duration:.0f} s via {fault.mechanism} (seed {seed})")
    with fault:
        console.print(f"[yellow]{fault.label} in effect[/]; Ctrl-C reverts early")
        stop.wait(duration)
    console.print(f"[green]{fault.label} reverted[/]")


@app.command()
def spof(topology: TopologyOpt = "default", as_json: JsonOpt = False) -> None:
    """List the single points of failure of a topology, before anything is deployed."""
    from infra import spof as spof_mod
    from infra import topology as topo_mod

    found = spof_mod.find(topo_mod.load(topology))
    if as_json:
        out.print_json(json.dumps([s.__dict__ for s in found]))
        return
    user = [s for s in found if not s.instrumentation]
    out.print(f"[bold]{len(user)} single point(s) of failure in topology {topology}[/]")
    for s in user:
        out.print(f"  [red]SPOF[/]  {s}")
    for s in found:
        if s.instrumentation:
            out.print(f"  [dim]instrumentation[/]  {s}")


@app.command()
def drill(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="scenario names or files (default: every suite)")
    ] = None,
    topology: TopologyOpt = "default",
    stack_name: Annotated[str, typer.Option("--stack-name", "-s", help="stack name (default: drill<pid>)")] = "",
    keep_stack: Annotated[bool, typer.Option("--keep-stack", help="leave the stack up afterwards")] = False,
    report_dir: Annotated[str, typer.Option("--report-dir", help="where the report goes")] = "reports",
    seed: Annotated[int | None, typer.Option("--seed", help="seed for random targets")] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="also write JUnit XML there (one testcase per test)")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            metavar="DIR",
            help="drift gate: also judge the run against the newest green report.json files in DIR",
        ),
    ] = None,
    baseline_runs: Annotated[
        int | None, typer.Option("--baseline-runs", help="how many of the newest green runs to compare with (3)")
    ] = None,
    baseline_tolerance: Annotated[
        float | None,
        typer.Option("--baseline-tolerance", help="how far above the median a figure may go, a fraction (0.10)"),
    ] = None,
    baseline_save: Annotated[
        bool, typer.Option("--baseline-save", help="after a green run, copy its report.json into the --baseline DIR")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Up, run the failover suites with traffic, write the report, down.

    Exit 0 when every test passed, 1 when a verdict failed (or a figure regressed against the
    --baseline runs), 2 on bad input, 3 when the kit could not run a test (setup failed, stack
    not steady), 130 when interrupted (Ctrl-C, SIGTERM).
    """
    from infra import topology as topo_mod
    from stackdrill.drill import run_drill

    topo_mod.load(topology)  # bad input fails here, before anything is created
    gate = _gate_settings(baseline, runs=baseline_runs, tolerance=baseline_tolerance, save=baseline_save)
    try:
        code = run_drill(
            scenarios or [],
            topology=topology,
            stack_name=stack_name,
            keep_stack=keep_stack,
            report_dir=report_dir,
            seed=seed,
            as_json=as_json,
            console=console,
            out=out,
            junit=junit,
            baseline=gate,
        )
    except KeyboardInterrupt:  # outside pytest's own handling (e.g. during the final teardown)
        console.print("interrupted")
        raise typer.Exit(130) from None
    raise typer.Exit(code)


@app.command()
def compare(
    base: Annotated[
        str, typer.Argument(help="the topology as it is: a name, a Pulumi.<name>.yaml path or git:REV:PATH")
    ],
    candidate: Annotated[str, typer.Argument(help="the changed topology, in the same forms")],
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="scenario names or files (default: every suite, on both sides)")
    ] = None,
    repeat: Annotated[int, typer.Option("--repeat", help="runs per side; the noise band comes from their spread")] = 1,
    parallel: Annotated[bool, typer.Option("--parallel", help="run both sides' stacks at the same time")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="seed for random targets, the same on both sides")] = None,
    tolerance: Annotated[
        float | None,
        typer.Option("--tolerance", help="how much worse a figure may get beyond the noise band, a fraction (0.25)"),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="where compare.json, compare.html and each run's report go")
    ] = Path("reports/compare"),
    junit: Annotated[
        Path | None, typer.Option("--junit", help="also write JUnit XML there (one testcase per scenario)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the same drills on two topologies and say what regressed.

    Exit 0 when nothing regressed, 1 on a regression (a verdict that got worse, or a figure worse
    by more than the noise band), 2 on bad input, 3 when the kit could not judge a run, 130 when
    interrupted.
    """
    from failover_tests.compare import sources
    from failover_tests.compare.judge import DEFAULT_TOLERANCE
    from stackdrill.compare import CompareSettings, new_seed, run_compare

    settings = CompareSettings(
        base=sources.resolve(base),  # bad input fails here, before anything is created
        candidate=sources.resolve(candidate),
        scenarios=tuple(scenarios or ()),
        repeat=repeat,
        parallel=parallel,
        seed=new_seed() if seed is None else seed,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
        out_dir=out_dir,
        junit=junit,
    )
    from infra.toolchain import require_ready

    require_ready()
    outcome = run_compare(settings, console=console, out=out, as_json=as_json)
    raise typer.Exit(outcome.code)


@app.command()
def mutate(
    topology: Annotated[str, typer.Argument(help="topology name, Pulumi.<name>.yaml path or git:REV:PATH")] = "default",
    keys: Annotated[
        list[str] | None, typer.Option("--keys", help="only mutants whose name contains K or whose family is K")
    ] = None,
    budget: Annotated[float, typer.Option("--budget", help="minutes the whole run may take")] = 30.0,
    list_only: Annotated[
        bool, typer.Option("--list", help="list the mutants and their scenarios, run nothing")
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="seed for random targets")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="where mutate.json, mutate.html and the reports go")] = Path(
        "reports/mutate"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Mutation testing for the failover suite: weaken the topology one key at a time, see what is caught.

    Exit 0 when the run finished (the score is the result), 2 on bad input, 3 when the kit could
    not judge the base or a mutant, 130 when interrupted.
    """
    from failover_tests.compare import sources
    from failover_tests.compare.mutants import generate
    from stackdrill.compare import new_seed
    from stackdrill.mutate import run_mutate

    source = sources.resolve(topology)
    if list_only:
        found, notes = generate(source.topology, tuple(keys or ()))
        if as_json:
            out.print_json(json.dumps({"mutants": [m.to_dict() for m in found], "notes": notes}))
            return
        table = Table(title=f"mutants of {topology}")
        for col in ("mutant", "family", "weakening", "scenarios that could see it"):
            table.add_column(col)
        for m in found:
            table.add_row(m.name, m.family, m.description, ", ".join(m.scenarios))
        out.print(table)
        for note in notes:
            out.print(f"note: {note}")
        return
    from infra.toolchain import require_ready

    if budget <= 0:
        raise ScenarioError(f"--budget {budget:g}: give the minutes the whole run may take, e.g. 30")
    require_ready()
    code = run_mutate(
        source,
        keys=tuple(keys or ()),
        budget_min=budget,
        seed=new_seed() if seed is None else seed,
        out_dir=out_dir,
        console=console,
        out=out,
        as_json=as_json,
    )
    raise typer.Exit(code)


@app.command()
def train(
    lesson: Annotated[str | None, typer.Argument(help="a lesson name (see --list) or a lesson YAML file")] = None,
    topology: Annotated[
        str | None, typer.Option("--topology", "-t", help="topology (default: the lesson's, else default)")
    ] = None,
    stack_name: Annotated[
        str, typer.Option("--stack-name", "-s", help="attach to this deployed stack (kept afterwards)")
    ] = "",
    port: Annotated[int, typer.Option("--port", help="dashboard port on 127.0.0.1 (default: any free one)")] = 0,
    auto: Annotated[
        bool, typer.Option("--auto", help="play the lesson without a person; end with its verdict")
    ] = False,
    minutes: Annotated[float, typer.Option("--minutes", help="the session ends by itself after this long")] = 120.0,
    list_only: Annotated[bool, typer.Option("--list", help="list the shipped lessons")] = False,
    report_dir: Annotated[Path, typer.Option("--report-dir", help="where the session's report goes")] = Path(
        "reports/train"
    ),
) -> None:
    """A live game day: dashboard, fault panel and guided lessons on a real stack.

    Exit codes as for drill with --auto (0 every step as expected, 1 a step's verdict failed);
    otherwise 0 when the session ended, 130 on Ctrl-C (every fault reverted either way).
    """
    from stackdrill.train import list_lessons, run_train

    if list_only:
        list_lessons(out)
        return
    if not 0 <= port <= 65535:
        raise ScenarioError(f"--port {port}: give 1-65535, or 0 for any free port")
    if port:
        _check_port_free(port)
    code = run_train(
        lesson,
        topology=topology,
        stack_name=stack_name,
        port=port,
        auto=auto,
        minutes=minutes,
        report_dir=report_dir,
        console=console,
        out=out,
    )
    raise typer.Exit(code)


def _check_port_free(port: int) -> None:
    """Bad input before anything is created: the dashboard port is already taken on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ScenarioError(
                f"--port {port}: 127.0.0.1:{port} is taken ({exc.strerror}); give another, or 0 for any free port"
            ) from exc


def _gate_settings(
    directory: Path | None, *, runs: int | None, tolerance: float | None, save: bool
) -> GateSettings | None:
    """The drift gate's options, validated (bad input: ScenarioError, exit 2); None without --baseline."""
    from failover_tests.baseline import DEFAULT_RUNS, DEFAULT_TOLERANCE, GateSettings

    if directory is None:
        options = (("--baseline-runs", runs), ("--baseline-tolerance", tolerance), ("--baseline-save", save or None))
        given = [name for name, value in options if value is not None]
        if given:
            raise ScenarioError(f"{given[0]} needs --baseline DIR, the directory that keeps green report.json files")
        return None
    return GateSettings(
        dir=directory,
        runs=DEFAULT_RUNS if runs is None else runs,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
        save=save,
    )


def main() -> None:
    """Entry point: run the CLI, turning kit errors into one line and exit code 2."""
    from failover_tests.interrupts import sigint_as_interrupt, sigterm_as_interrupt

    sigint_as_interrupt()
    sigterm_as_interrupt()
    logging.basicConfig(level=os.environ.get("STACKDRILL_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except StackdrillError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(exit_code_of(exc))
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
