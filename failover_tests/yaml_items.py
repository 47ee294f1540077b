"""pytest items for declarative scenarios: every `scenario_*.yaml` file becomes tests run by the engine.

Invalid files fail at collection with one line, before the stack is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from failover_tests.scenario import Scenario, load_file
from infra.errors import ScenarioError, SLOViolation


class ScenarioFile(pytest.File):
    """A YAML file of one or more scenarios."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenarios = load_file(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for sc in scenarios:
            item = ScenarioItem.from_parent(self, name=sc.name, scenario=sc)
            item.add_marker(pytest.mark.docker)
            if sc.destructive:
                item.add_marker(pytest.mark.destructive)
            item.add_marker(
                pytest.mark.failover(
                    fault=sc.fault.name if sc.fault else None,
                    target=sc.fault.target if sc.fault else None,
                    description=sc.description,
                )
            )
            yield item

    class CollectError(Exception):
        """A scenario file that does not validate."""


class ScenarioItem(pytest.Item):
    """One YAML scenario, run through the `scenario_runner` fixture."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        # Resolve fixtures as a test function would: `scenario` (and so `stack`) by name.
        self.add_marker(pytest.mark.usefixtures("scenario_runner"))
        self._fixtureinfo = self.session._fixturemanager.getfixtureinfo(node=self, func=None, cls=None)
        self.fixturenames = self._fixtureinfo.names_closure
        self.funcargs: dict[str, Any] = {}

    def setup(self) -> None:
        from _pytest.fixtures import TopRequest

        self._request = TopRequest(self, _ispytest=True)  # type: ignore[arg-type]
        self._request._fillfixtures()

    def runtest(self) -> None:
        runner = self.funcargs["scenario_runner"]
        runner.run(self.scenario)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (SLOViolation, AssertionError, ScenarioError)):
            return f"{self.scenario.name}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"scenario: {self.scenario.name}"
