"""The stackdrill pytest plugin: options, fixtures, markers and hooks only (the library lives beside it).

Options (each with an ini form `stackdrill_<name>`; the command line wins):
--topology, --stack-name, --keep-stack, --report-dir, --seed.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.errors import StackdrillError

OPTIONS = (
    ("topology", "default", "topology name or Pulumi.<name>.yaml path"),
    ("stack-name", "", "stack name (default: drill<pid>)"),
    ("report-dir", "reports", "where report.json and report.html go"),
    ("seed", "", "seed for random target choice (default: random, reported)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the kit's options, each with an ini form."""
    group = parser.getgroup("stackdrill")
    for name, default, help_text in OPTIONS:
        ini = f"stackdrill_{name.replace('-', '_')}"
        group.addoption(f"--{name}", dest=ini, default=None, help=f"{help_text} (ini: {ini})")
        parser.addini(ini, help_text, default=default)
    group.addoption(
        "--keep-stack",
        dest="stackdrill_keep_stack",
        action="store_true",
        default=None,
        help="leave the stack up after the session; the next run reuses it",
    )
    parser.addini("stackdrill_keep_stack", "leave the stack up after the session", type="bool", default=False)


def option(config: pytest.Config, name: str) -> Any:
    """An option's value: command line first, then ini, then the default."""
    key = f"stackdrill_{name.replace('-', '_')}"
    value = config.getoption(key)
    return value if value is not None else config.getini(key)


def pytest_configure(config: pytest.Config) -> None:
    """Register markers; turn SIGTERM into KeyboardInterrupt so faults revert and stacks go down."""
    config.addinivalue_line("markers", "failover(fault, target, description): failover scenario metadata")
    config.addinivalue_line("markers", "destructive: the scenario breaks containers (select with -m destructive)")
    config.addinivalue_line("markers", "docker: needs a live Docker engine (make test sets one up)")
    config.addinivalue_line("markers", "browser: renders a page in headless Chromium")
    config.addinivalue_line("markers", "preflight: checks of the live stack that run before any fault")
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def _term(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _term)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Preflight checks run first: they describe the stack before any fault touched it."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("preflight") else 1)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect declarative scenarios from `scenario_*.yaml` files."""
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("scenario_"):
        from failover_tests.yaml_items import ScenarioFile

        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def stackdrill_seed(pytestconfig: pytest.Config) -> int:
    """The session's seed for random targets (reported in the header and the report)."""
    raw = option(pytestconfig, "seed")
    return int(raw) if str(raw).strip() else random.randrange(1 << 30)


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config, stackdrill_seed: int) -> Iterator[Any]:
    """The stack under test: brought up once per session and torn down at the end unless kept."""
    from failover_tests.stack import provision
    from infra import topology

    keep = bool(option(pytestconfig, "keep-stack"))
    name = option(pytestconfig, "stack-name") or f"drill{os.getpid()}"
    try:
        topo = topology.load(option(pytestconfig, "topology"))
        drill_stack = provision(topo, name, keep=keep)
    except StackdrillError as exc:
        pytest.fail(f"stack {name} could not be brought up: {exc}", pytrace=False)
    drill_stack.seed = stackdrill_seed
    try:
        yield drill_stack
    finally:
        if not keep:
            drill_stack.manager.down()


@pytest.fixture(scope="session")
def stack_factory(stackdrill_seed: int) -> Iterator[Any]:
    """Bring up extra stacks by topology (name or path), once per session; all torn down at the end."""
    from failover_tests.stack import provision
    from infra import topology

    made: dict[str, Any] = {}

    def make(topology_name: str) -> Any:
        if topology_name not in made:
            label = Path(topology_name).name.removeprefix("Pulumi.").removesuffix(".yaml")
            name = f"{label[:10]}{os.getpid()}".replace("_", "-").replace(".", "-")
            try:
                made[topology_name] = provision(topology.load(topology_name), name, keep=False)
            except StackdrillError as exc:
                pytest.fail(f"stack for topology {topology_name} could not be brought up: {exc}", pytrace=False)
            made[topology_name].seed = stackdrill_seed
        return made[topology_name]

    try:
        yield make
    finally:
        for extra in made.values():
            extra.manager.down()


@pytest.fixture
def faults(stack: Any) -> Iterator[Any]:
    """Make faults on the stack; every one still active is reverted when the test ends."""
    from failover_tests.session import FaultSet

    fault_set = FaultSet(stack)
    try:
        yield fault_set
    finally:
        fault_set.revert_all()


@pytest.fixture
def traffic(stack: Any) -> Iterator[Any]:
    """Make open-loop probes against both edges; any still running is stopped at the end."""
    from failover_tests.session import TrafficSet

    traffic_set = TrafficSet(stack)
    try:
        yield traffic_set
    finally:
        traffic_set.stop_all()


@pytest.fixture
def slo() -> Any:
    """The SLO module: `slo.SLO(...)`, `slo.evaluate(...)`."""
    from failover_tests import slo as slo_module

    return slo_module


@pytest.fixture(scope="session")
def drill_report(pytestconfig: pytest.Config) -> Iterator[Any]:
    """Collects scenario results; writes report.json and report.html at the end of the session."""
    from failover_tests.session import ReportCollector
    from infra import spof, topology

    try:
        every = spof.find(topology.load(option(pytestconfig, "topology")))
    except StackdrillError:
        every = []
    found = [str(s) for s in every if not s.instrumentation]
    collector = ReportCollector(Path(option(pytestconfig, "report-dir")), spof=found)
    collector.meta["instrumentation"] = [str(s) for s in every if s.instrumentation]
    try:
        yield collector
    finally:
        collector.write()


@pytest.fixture
def scenario_runner(stack: Any, drill_report: Any, request: pytest.FixtureRequest) -> Any:
    """Run a Scenario against the stack, record it in the report, and assert its verdict."""
    from failover_tests.session import ScenarioRunner

    return ScenarioRunner(stack, drill_report, request.node.nodeid)


@pytest.fixture
def runner_for(drill_report: Any, request: pytest.FixtureRequest) -> Any:
    """A ScenarioRunner for another stack (from `stack_factory`), reporting into the same report."""
    from failover_tests.session import ScenarioRunner

    return lambda other: ScenarioRunner(other, drill_report, request.node.nodeid)
