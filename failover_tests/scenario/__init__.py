"""Scenarios: data (`spec`), the engine that runs one on a live stack (`engine`), the steady-state
gate (`gate`) and the checks it adds to the SLO verdict (`checks`). Bad scenarios fail on load,
before any stack is touched."""

from failover_tests.scenario.checks import WriteGap, write_gap
from failover_tests.scenario.engine import run
from failover_tests.scenario.spec import (
    PATHS,
    FaultSpec,
    LBExpectation,
    Scenario,
    SLOSpec,
    StatusExpectation,
    TrafficSpec,
    load_file,
    parse,
)

__all__ = [
    "PATHS",
    "FaultSpec",
    "LBExpectation",
    "SLOSpec",
    "Scenario",
    "StatusExpectation",
    "TrafficSpec",
    "WriteGap",
    "load_file",
    "parse",
    "run",
    "write_gap",
]
