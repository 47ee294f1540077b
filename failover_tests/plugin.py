"""The stackdrill pytest plugin: options, fixtures, markers and hooks only (the library lives beside it).

Options (each with an ini form `stackdrill_<name>`; the command line wins):
--topology, --stack-name, --keep-stack, --report-dir, --seed.

Every test that uses the stack (`stack`, `stack_factory`, `drill_report`; under `stackdrill
drill`, every test) is recorded in the session's report with its outcome, scenario or not;
the report is written when the session ends, interrupted or not.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from failover_tests.interrupts import restore_sigterm, sigterm_as_interrupt
from infra.errors import StackdrillError

if TYPE_CHECKING:
    from types import ModuleType

    from failover_tests.runner import FaultSet, ReportCollector, ScenarioRunner, TrafficSet
    from failover_tests.stack import DrillStack

# Fixtures that make a test part of the drill (recorded in the report).
DRILL_FIXTURES = frozenset({"stack", "stack_factory", "drill_report"})
COLLECTOR_KEY = pytest.StashKey["ReportCollector"]()
RECORD_ALL_KEY = pytest.StashKey[bool]()  # set by `stackdrill drill`: every test is a drill test
_SIGTERM_KEY = pytest.StashKey[Any]()

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
    config.addinivalue_line(
        "markers",
        "failover(name, fault, target, description): failover scenario metadata; `name` (a scenario name "
        "or a list of them) is what the report shows and `stackdrill drill NAME` selects",
    )
    config.addinivalue_line("markers", "destructive: the scenario breaks containers (select with -m destructive)")
    config.addinivalue_line("markers", "docker: needs a live Docker engine (make test sets one up)")
    config.addinivalue_line("markers", "browser: renders a page in headless Chromium")
    config.addinivalue_line("markers", "preflight: checks of the live stack that run before any fault")
    # The CLI installs the same handler for every command; this covers bare `pytest` runs, and
    # is removed again at unconfigure when this plugin installed it.
    if sigterm_as_interrupt():
        config.stash[_SIGTERM_KEY] = True
    config.pluginmanager.register(_InterruptWatcher(config), "stackdrill-interrupts")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put SIGTERM back as it was, if this plugin changed it."""
    if config.stash.get(_SIGTERM_KEY, False):
        restore_sigterm()


def scenario_names(item: pytest.Item) -> tuple[str, ...]:
    """The scenario names a test declares at collection: a YAML scenario's name, or the `name`
    of its `@pytest.mark.failover(name=...)` markers (a string or a list of strings)."""
    names: list[str] = []
    yaml_name = getattr(getattr(item, "scenario", None), "name", None)
    if isinstance(yaml_name, str) and yaml_name:
        names.append(yaml_name)
    for mark in item.iter_markers("failover"):
        value = mark.kwargs.get("name")
        for name in [value] if isinstance(value, str) else list(value or []):
            if isinstance(name, str) and name and name not in names:
                names.append(name)
    return tuple(names)


def collector_of(config: pytest.Config) -> ReportCollector:
    """The session's report collector (made on first use)."""
    collector = config.stash.get(COLLECTOR_KEY, None)
    if collector is None:
        from failover_tests.runner import ReportCollector

        collector = ReportCollector(Path(option(config, "report-dir")))
        config.stash[COLLECTOR_KEY] = collector
    return collector


def _is_drill_test(item: pytest.Item) -> bool:
    if item.config.stash.get(RECORD_ALL_KEY, False):
        return True
    return bool(DRILL_FIXTURES.intersection(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """A drill test starts: it is in the report from now on, as `interrupted` until it finishes."""
    if _is_drill_test(item):
        collector_of(item.config).tests.start(item.nodeid, scenario_names(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Record each phase of a drill test, telling a verdict (an assertion) from an error of the run."""
    report = yield
    if _is_drill_test(item):
        exc = call.excinfo.value if call.excinfo is not None else None
        collector_of(item.config).tests.phase(
            item.nodeid,
            when=report.when,
            outcome=report.outcome,
            duration_s=report.duration,
            message=_message(exc, report) if report.outcome != "passed" else "",
            kit_error=exc is not None and not isinstance(exc, (AssertionError, pytest.fail.Exception)),
        )
    return report


def _message(exc: BaseException | None, report: pytest.TestReport) -> str:
    """A failure's or skip's message: the assertion's text, or `ErrorType: text` for an error."""
    if isinstance(exc, (AssertionError, pytest.fail.Exception, pytest.skip.Exception)):
        text = str(exc).strip()
        return text or type(exc).__name__
    if exc is not None:
        return f"{type(exc).__name__}: {exc}".strip()
    lines = [line for line in str(report.longrepr).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class _InterruptWatcher:
    """Marks the session's report interrupted on Ctrl-C or SIGTERM (the hook gets no config)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest stops a session on collection errors or -x by raising Session.Interrupted, a
        # KeyboardInterrupt too: that is not the user interrupting the run.
        if not isinstance(excinfo.value, pytest.Session.Interrupted):
            collector_of(self.config).tests.interrupted = True


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the report before the session's fixtures are torn down (a second Ctrl-C may cut that short)."""
    collector = session.config.stash.get(COLLECTOR_KEY, None)
    if collector is None or (not collector.results and not len(collector.tests)):
        return
    if not collector.spof:
        collector.spof, collector.meta["instrumentation"] = _spof(session.config)
    collector.write()


def _spof(config: pytest.Config) -> tuple[list[str], list[str]]:
    """The topology's single points of failure: (the user's, the kit's instrumentation)."""
    from infra import spof, topology

    try:
        every = spof.find(topology.load(option(config, "topology")))
    except StackdrillError:
        every = []
    return [str(s) for s in every if not s.instrumentation], [str(s) for s in every if s.instrumentation]


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
def stack(pytestconfig: pytest.Config, stackdrill_seed: int) -> Iterator[DrillStack]:
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
            _teardown(drill_stack)


def _teardown(drill_stack: DrillStack) -> None:
    """Take a session's stack down; a Ctrl-C during teardown skips it and says how to reap."""
    try:
        drill_stack.manager.down()
    except KeyboardInterrupt:
        sys.stderr.write(
            f"teardown of stack {drill_stack.name} skipped (interrupted); remove it with: stackdrill reap --remove\n"
        )
        raise


@pytest.fixture
def stack_factory(stackdrill_seed: int) -> Iterator[Callable[[str], DrillStack]]:
    """Bring up extra stacks by topology (name or path) for one test; torn down when it ends.

    Per test on purpose: a second stack left running competes for the machine's cores with
    every drill after it (seen here: the pause drills that followed the naive cascade failed).
    """
    from failover_tests.stack import provision
    from infra import topology

    made: dict[str, DrillStack] = {}

    def make(topology_name: str) -> DrillStack:
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
            _teardown(extra)


@pytest.fixture
def faults(stack: DrillStack) -> Iterator[FaultSet]:
    """Make faults on the stack; every one still active is reverted when the test ends."""
    from failover_tests.runner import FaultSet

    fault_set = FaultSet(stack)
    try:
        yield fault_set
    finally:
        fault_set.revert_all()


@pytest.fixture
def traffic(stack: DrillStack) -> Iterator[TrafficSet]:
    """Make open-loop probes against both edges; any still running is stopped at the end."""
    from failover_tests.runner import TrafficSet

    traffic_set = TrafficSet(stack)
    try:
        yield traffic_set
    finally:
        traffic_set.stop_all()


@pytest.fixture
def slo() -> ModuleType:
    """The SLO module: `slo.SLO(...)`, `slo.evaluate(...)`."""
    from failover_tests import slo as slo_module

    return slo_module


@pytest.fixture(scope="session")
def drill_report(pytestconfig: pytest.Config) -> ReportCollector:
    """The session's report: scenario results and every drill test's outcome; written when the session ends."""
    return collector_of(pytestconfig)


@pytest.fixture
def scenario_runner(stack: DrillStack, drill_report: ReportCollector, request: pytest.FixtureRequest) -> ScenarioRunner:
    """Run a Scenario against the stack, record it in the report, and assert its verdict."""
    from failover_tests.runner import ScenarioRunner

    return ScenarioRunner(stack, drill_report, request.node.nodeid, scenario_names(request.node))


@pytest.fixture
def runner_for(drill_report: ReportCollector, request: pytest.FixtureRequest) -> Callable[[DrillStack], ScenarioRunner]:
    """A ScenarioRunner for another stack (from `stack_factory`), reporting into the same report."""
    from failover_tests.runner import ScenarioRunner

    return lambda other: ScenarioRunner(other, drill_report, request.node.nodeid, scenario_names(request.node))
