"""The fault catalog: importing this package registers every fault under its snake_case name."""

from __future__ import annotations

from failover_tests.faults import app, edge, network, process, resources  # noqa: F401  (registration)
from failover_tests.faults.base import REGISTRY, Fault, FaultEnv, Param, fault_class, validate_params

__all__ = ["REGISTRY", "Fault", "FaultEnv", "Param", "fault_class", "validate_params"]
