"""The commands: `stackdrill` (CLI) and the drill runner.

This package sits above the two others and is the only one that imports both: `infra` (the
stack: topology, Pulumi program, lifecycle) and `failover_tests` (the scenario and fault
engines, the pytest plugin, the report). Neither of those imports this one.
"""
