"""Names of the Docker labels on every object the kit creates, defined once.

Kept apart from `infra.outputs` (which re-exports them) so that the dynamic-provider host,
which needs only these names, does not import pydantic before its first resource call. The
check of a stack name (it prefixes the name of every object and is their `stackdrill.stack`
label) is here too, so that a `stackdrill down` can validate its input before it imports the
Docker SDK.
"""

from __future__ import annotations

from infra.errors import StackError

LABEL_STACK = "stackdrill.stack"
LABEL_TIER = "stackdrill.tier"
LABEL_REPLICA = "stackdrill.replica"
LABEL_ZONE = "stackdrill.zone"
LABEL_OWNER_PID = "stackdrill.owner_pid"
LABEL_KIT = "stackdrill.kit"


def check_name(name: str) -> None:
    """StackError unless `name` can name a stack (and prefix its containers and networks)."""
    if not name or not all(c.isalnum() or c == "-" for c in name) or not name[0].isalpha() or len(name) > 24:
        raise StackError(f"invalid stack name {name!r}: use 1-24 letters, digits and '-', starting with a letter")
