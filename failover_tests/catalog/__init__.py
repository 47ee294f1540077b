"""Scenario building blocks, in one place: SLO presets and the `scenario`/`slo` builders
(`presets`), the named drills the suites and the broken-topology proofs share (`named`), and the
failover matrix generated from a topology's redundancy (`matrix`)."""

from failover_tests.catalog.matrix import entries, spof_message
from failover_tests.catalog.named import (
    datastore_failover,
    lose_api_replica,
    primary_restart,
    primary_zone_loss,
    replica_loss,
    slow_model,
)
from failover_tests.catalog.presets import responsive, scenario, slo

__all__ = [
    "datastore_failover",
    "entries",
    "lose_api_replica",
    "primary_restart",
    "primary_zone_loss",
    "replica_loss",
    "responsive",
    "scenario",
    "slo",
    "slow_model",
    "spof_message",
]
