"""What the scenario engine needs of a live stack (`LiveStack`), so it runs on a fake one in unit tests.

`failover_tests.stack.DrillStack` is the real one; the narrower views `steady.SteadyStack` and
`lb_detection.LBView` are parts of it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from failover_tests.faults import Fault
from failover_tests.lb_detection import LBView
from failover_tests.steady import SteadyStack
from failover_tests.traffic import PathSpec, Probe
from infra.outputs import Container, StackOutputs
from infra.topology import Topology


class LiveStack(SteadyStack, LBView, Protocol):
    """A deployed stack as scenarios drive it: its outputs, its faults, traffic, LB and status views."""

    name: str
    seed: int
    outputs: StackOutputs
    topology: Topology

    @property
    def edges(self) -> list[str]:
        """Both edge endpoints (`http://127.0.0.1:port`)."""
        ...

    def containers(self, tier: str | None = None) -> list[Container]:
        """Container entries of the outputs, optionally of one tier."""
        ...

    def fault(
        self, name: str, target: str, params: Mapping[str, Any] | None = None, rng: random.Random | None = None
    ) -> Fault:
        """A fault on this stack (not yet applied)."""
        ...

    def probe(
        self,
        *,
        rate_per_s: float = 20,
        duration_s: float = 20,
        paths: Sequence[PathSpec] | None = None,
        name: str = "probe",
    ) -> Probe:
        """An open-loop probe against both edges."""
        ...

    def status_page(self) -> dict[str, Any]:
        """The status service's /status.json."""
        ...

    def store_contents(self) -> str:
        """Each Redis node's role, key count, AOF state and offset, on one line (lost-writes detail)."""
        ...
