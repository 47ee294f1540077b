"""Names of the Docker labels on every object the kit creates, defined once.

Kept apart from `infra.outputs` (which re-exports them) so that the dynamic-provider host,
which needs only these names, does not import pydantic before its first resource call.
"""

from __future__ import annotations

LABEL_STACK = "stackdrill.stack"
LABEL_TIER = "stackdrill.tier"
LABEL_REPLICA = "stackdrill.replica"
LABEL_ZONE = "stackdrill.zone"
LABEL_OWNER_PID = "stackdrill.owner_pid"
LABEL_KIT = "stackdrill.kit"
